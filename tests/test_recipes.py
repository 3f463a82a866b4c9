"""Training recipes: each preset's fast default and its lesson's own settings, in the spec, the
CLI and the Train page."""

from __future__ import annotations

import dataclasses

import pytest
from pages_support import OWNER, open_page, texts

from dlcore import LayerLabError, cli
from dlcore.cli import train as cli_train
from dlcore.data.catalogue import train_size
from dlcore.model.schedules import learning_rate_at
from dlcore.recipes import (
    PRESET_TRAINING,
    RECIPES,
    describe_training,
    matching_recipe,
    preset_experiment,
    preset_training,
)
from dlcore.spec import PRESETS, DataSpec, Experiment, TrainSpec
from dlcore.train import jobs, worker
from dlcore.train.runs import run_path

LESSONS = {  # the lessons' material (shared LESSONS.md); batch sizes as the lab has always run them
    "mlp": {"optimizer": "rmsprop", "learning_rate": 0.001, "batch_size": 128, "epochs": 4},
    "lenet": {"optimizer": "adam", "learning_rate": 0.001, "batch_size": 32, "epochs": 5},
    "cnn3": {"optimizer": "rmsprop", "learning_rate": 0.001, "batch_size": 32, "epochs": 10},
    "vgg-bn": {"optimizer": "adam", "learning_rate": 0.001, "batch_size": 64, "epochs": 50},
}


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("recipe", RECIPES)
def test_every_preset_has_both_recipes_and_they_round_trip(preset, recipe):
    experiment = preset_experiment(preset, "digits", recipe=recipe)
    assert experiment.model.preset == preset and experiment.data.dataset == "digits"
    assert Experiment.from_json(experiment.to_json()) == experiment
    # the recipe is recognised in the settings ("fast" first, where a preset has one set)
    assert matching_recipe(preset, experiment.training) in (recipe, "fast")


@pytest.mark.parametrize("preset", sorted(LESSONS))
def test_the_lesson_recipe_is_the_lessons_settings_with_a_constant_rate(preset):
    training = preset_experiment(preset, "digits", recipe="lesson").training
    for name, value in LESSONS[preset].items():
        assert getattr(training, name) == value, name
    assert training.lr_schedule == "constant"
    assert matching_recipe(preset, training) == "lesson"


@pytest.mark.parametrize("preset", sorted(LESSONS))
def test_fast_warms_up_then_decays_in_no_more_epochs_and_no_smaller_batches(preset):
    fast = TrainSpec(**preset_training(preset, "fast"))
    lesson = TrainSpec(**preset_training(preset, "lesson"))
    assert fast.lr_schedule == "cosine" and 0 < fast.warmup_epochs < fast.epochs
    assert fast.epochs < lesson.epochs and fast.batch_size >= lesson.batch_size
    steps = 100  # iterations per epoch: the rate rises from 0, peaks, and ends near 0
    total = steps * fast.epochs
    peak = round(fast.warmup_epochs * steps)
    rates = [learning_rate_at(fast, step, steps) for step in (0, peak, total - 1)]
    assert rates[0] == 0 and rates[1] == pytest.approx(fast.learning_rate)
    assert rates[2] < fast.learning_rate / 100


def test_lenet_fast_is_two_epochs_of_batch_128_as_measured():
    fast = preset_experiment("lenet").training
    assert (fast.epochs, fast.batch_size, fast.optimizer) == (2, 128, "adam")
    assert describe_training(fast) == (
        f"2 epochs, batch 128, adam {fast.learning_rate:g}, cosine with "
        f"{fast.warmup_epochs:g} warm-up epochs"
    )


def test_fast_is_the_default_and_what_choosing_a_preset_fills_in():
    for preset in PRESETS:
        assert preset_experiment(preset) == preset_experiment(preset, recipe="fast")
        assert PRESET_TRAINING[preset] == preset_training(preset, "fast")
        training = dataclasses.replace(TrainSpec(), **PRESET_TRAINING[preset])
        assert matching_recipe(preset, training) == "fast"


def test_overrides_win_and_a_changed_setting_leaves_the_recipe():
    experiment = preset_experiment("lenet", "digits", recipe="lesson", epochs=1, seed=7)
    assert (experiment.training.epochs, experiment.training.batch_size) == (1, 32)
    assert matching_recipe("lenet", experiment.training) == ""
    reseeded = dataclasses.replace(preset_experiment("lenet").training, seed=3)
    assert matching_recipe("lenet", reseeded) == "fast"  # the seed is no part of a recipe


def test_an_unknown_recipe_or_preset_says_what_to_choose():
    with pytest.raises(LayerLabError, match="Recipe is 'slow'; choose one of fast, lesson"):
        preset_experiment("lenet", recipe="slow")
    with pytest.raises(LayerLabError, match="Model preset is 'alexnet'; choose one of"):
        preset_training("alexnet")


def _parsed(*argv: str) -> Experiment:
    return cli_train.train_experiment(cli.build_parser().parse_args(["train", *argv]))


def test_cli_recipe_and_schedule_options_become_the_spec():
    sized = preset_experiment("mlp", num_train=train_size("mnist-sample"))  # sized to the data
    assert _parsed("--model", "mlp").training == sized.training
    lesson = _parsed("--model", "lenet", "--recipe", "lesson", "--dataset", "digits")
    assert lesson == preset_experiment("lenet", "digits", recipe="lesson")
    stepped = _parsed(
        "--recipe", "lesson", "--lr-schedule", "step", "--decay-every-epochs", "2",
        "--decay-factor", "0.1", "--warmup-epochs", "0.5", "--epochs", "6",
    )  # fmt: skip
    training = stepped.training
    assert (training.lr_schedule, training.decay_every_epochs, training.decay_factor) == (
        "step",
        2.0,
        0.1,
    )
    assert (training.warmup_epochs, training.epochs, training.batch_size) == (0.5, 6, 32)
    assert Experiment.from_json(stepped.to_json()) == stepped


def test_cli_bad_schedule_options_give_one_clear_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--lr-schedule", "cos"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "--lr-schedule: invalid choice: 'cos'" in error and "cosine" in error
    assert "Traceback" not in error
    assert cli.main(["train", "--dataset", "digits", "--decay-factor", "2"]) == 2
    assert capsys.readouterr().err.strip() == (
        "dlcore: Decay factor is 2.0; use a number from 0.001 to 1.0."
    )
    assert cli.main(["train", "--recipe", "lesson", "--warmup-epochs", "-1"]) == 2
    assert "Warm-up epochs is -1.0" in capsys.readouterr().err
    assert jobs.list_runs() == []  # refused before anything was queued


def test_a_fast_recipe_trains_with_its_schedule():
    experiment = preset_experiment("mlp", "digits", epochs=1)
    images = 10 * experiment.training.batch_size  # 10 iterations, 2 of them warm-up
    experiment = dataclasses.replace(experiment, data=DataSpec("digits", max_train_images=images))
    run_id = jobs.create_run(experiment)
    assert worker.run_job(run_path(run_id)) == 0
    assert jobs.status(run_id)["status"] == "completed"
    rates = jobs.read_metrics(run_id).dropna(subset=["learning_rate"])["learning_rate"]
    fast = experiment.training
    assert rates.max() <= fast.learning_rate and rates.iloc[-1] < fast.learning_rate / 10


def test_the_train_page_fills_the_settings_from_the_chosen_recipe():
    fast = preset_experiment("lenet", "digits", num_train=train_size("digits"))  # sized to it
    session = {"attendee": OWNER, "dataset": "digits", "experiment": fast}
    at = open_page("train", **session)
    assert not at.exception and not at.error
    choice = at.radio(key="train_recipe")
    assert choice.value == "fast"
    assert "As in the lesson: 5 epochs, batch 32, adam 0.001, constant rate." in texts(at)
    choice.set_value("lesson").run()
    assert not at.exception and not at.error
    assert at.select_slider(key="train_batch").value == 32
    assert at.slider(key="train_epochs").value == 5
    assert at.selectbox(key="train_schedule").value == "constant"
    training = at.session_state["experiment"].training
    assert training == preset_experiment("lenet", recipe="lesson").training
    at.select_slider(key="train_batch").set_value(64).run()
    assert at.radio(key="train_recipe").value is None
    assert "Your settings below differ from both recipes." in texts(at)
    at.radio(key="train_recipe").set_value("fast").run()
    assert at.session_state["experiment"].training == fast.training
    assert at.selectbox(key="train_schedule").value == "cosine"


def test_the_fast_recipe_is_sized_to_a_small_training_set():
    full = preset_training("lenet", "fast", num_train=60_000)
    assert (full["batch_size"], full["epochs"]) == (128, 2)  # the full MNIST: as tuned
    sample = preset_training("lenet", "fast", num_train=4_000)  # the MNIST sample
    assert (sample["batch_size"], sample["epochs"]) == (64, 7)
    tiny = preset_training("lenet", "fast", num_train=100)
    assert tiny["batch_size"] == 16 and tiny["epochs"] == 50  # capped
    assert preset_training("lenet", "lesson", num_train=4_000) == preset_training("lenet", "lesson")


def test_a_sized_recipe_still_reads_as_the_fast_one():
    experiment = preset_experiment("lenet", "mnist-sample", num_train=4_000)
    assert experiment.training.batch_size == 64
    assert matching_recipe("lenet", experiment.training, 4_000) == "fast"
    assert matching_recipe("lenet", experiment.training, 60_000) == ""
