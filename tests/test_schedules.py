"""Learning-rate schedules: each one's shape, Keras computing the same rates, the spec's
fields, and the rate logged with a run's metrics."""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest
from pages_support import tiny_experiment

from dlcore import charts
from dlcore.model.schedules import keras_schedule, learning_rate_at, logged_rates, schedule_frame
from dlcore.results.scriptgen import schedule_lines
from dlcore.spec import Experiment, TrainSpec
from dlcore.train import jobs, worker
from dlcore.train.runs import record_worker, run_path

STEPS = 10  # iterations per epoch
BASE = 0.01


def _rates(training: TrainSpec) -> np.ndarray:
    total = training.epochs * STEPS
    return np.array([learning_rate_at(training, s, STEPS) for s in range(total)])


def _spec(kind: str, **settings) -> TrainSpec:
    return TrainSpec(epochs=6, learning_rate=BASE, lr_schedule=kind, **settings)


def test_constant_is_flat():
    assert np.all(_rates(_spec("constant")) == BASE)


def test_step_drops_by_the_factor_at_each_boundary():
    rates = _rates(_spec("step", decay_every_epochs=2.0, decay_factor=0.1))
    assert np.allclose(rates[:20], BASE)
    assert np.allclose(rates[20:40], BASE * 0.1)
    assert np.allclose(rates[40:], BASE * 0.01)


def test_exponential_decreases_geometrically():
    rates = _rates(_spec("exponential", decay_every_epochs=1.0, decay_factor=0.5))
    assert rates[0] == pytest.approx(BASE)
    assert np.allclose(rates[1:] / rates[:-1], 0.5 ** (1 / STEPS))  # the same ratio each step
    assert rates[STEPS] == pytest.approx(BASE / 2)


def test_cosine_warms_up_linearly_then_decays_to_about_zero():
    rates = _rates(_spec("cosine", warmup_epochs=1.0))
    warmup = rates[: STEPS + 1]
    assert np.allclose(np.diff(warmup), BASE / STEPS)  # a straight line up ...
    assert rates[STEPS] == pytest.approx(BASE)  # ... to the base rate
    assert np.all(np.diff(rates[STEPS:]) < 0)
    assert rates[-1] < BASE * 0.01


def test_cosine_without_warm_up_starts_at_the_base_rate():
    assert _rates(_spec("cosine", warmup_epochs=0.0))[0] == pytest.approx(BASE)


def test_one_cycle_rises_then_falls_with_its_peak_in_the_first_half():
    rates = _rates(_spec("one_cycle"))
    peak = int(np.argmax(rates))
    assert 0 < peak < len(rates) / 2 and rates[peak] == pytest.approx(BASE)
    assert rates[0] < BASE / 10
    assert np.all(np.diff(rates[: peak + 1]) > 0) and np.all(np.diff(rates[peak:]) < 0)
    assert rates[-1] < BASE * 0.01


@pytest.mark.parametrize("kind", ["constant", "step", "exponential", "cosine", "one_cycle"])
def test_keras_schedule_gives_the_same_rates(kind):
    keras = pytest.importorskip("keras")
    training = _spec(kind, warmup_epochs=1.5, decay_every_epochs=2.0, decay_factor=0.3)
    schedule = keras_schedule(training, STEPS)
    for step in (0, 1, 7, 14, 15, 20, 33, 59, 60, 80):
        expected = learning_rate_at(training, step, STEPS)
        got = schedule if isinstance(schedule, float) else schedule(step)
        value = float(keras.ops.convert_to_numpy(got))
        assert value == pytest.approx(expected, rel=1e-5, abs=1e-9), step


@pytest.mark.parametrize("kind", ["step", "exponential", "cosine", "one_cycle"])
def test_the_exported_scripts_schedule_gives_the_same_rates(kind):
    keras = pytest.importorskip("keras")
    training = _spec(kind, batch_size=32, warmup_epochs=0.5, decay_factor=0.7)
    namespace = {
        "keras": keras,
        "x_train": np.zeros((300, 1)),  # 10 batches of 32
        "EPOCHS": training.epochs,
        "BATCH_SIZE": training.batch_size,
        "LEARNING_RATE": training.learning_rate,
    }
    exec("\n".join(schedule_lines(training)), namespace)
    for step in (0, 3, 9, 10, 31, 59):
        value = float(keras.ops.convert_to_numpy(namespace["learning_rate"](step)))
        expected = learning_rate_at(training, step, STEPS)
        assert value == pytest.approx(expected, rel=1e-5, abs=1e-8)


def test_compile_model_needs_the_steps_for_a_schedule():
    pytest.importorskip("keras")
    from dlcore.model.build import build_model, compile_model
    from dlcore.spec import preset_model

    model = build_model(preset_model("mlp"), (8, 8, 1), 2)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        compile_model(model, _spec("cosine"))
    compile_model(model, _spec("cosine"), steps_per_epoch=STEPS)
    rate = model.optimizer.learning_rate  # the schedule's rate at iteration 0: 0 (warm-up)
    assert float(np.asarray(rate)) == pytest.approx(0.0)


def test_schedule_fields_round_trip_and_old_specs_load():
    training = _spec("step", decay_every_epochs=3.0, decay_factor=0.2)
    experiment = Experiment(training=training)
    assert Experiment.from_json(experiment.to_json()) == experiment
    old = experiment.to_dict()
    for name in ("lr_schedule", "warmup_epochs", "decay_every_epochs", "decay_factor"):
        del old["training"][name]
    assert Experiment.from_json(json.dumps(old)).training.lr_schedule == "constant"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"lr_schedule": "linear"}, "choose one of constant, step"),
        ({"warmup_epochs": -1.0}, "Warm-up epochs"),
        ({"decay_every_epochs": 0.0}, "Decay every"),
        ({"decay_factor": 1.5}, "Decay factor"),
        ({"decay_factor": 0.0}, "Decay factor"),
    ],
)
def test_bad_schedule_settings_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(TrainSpec(), **changes)


def test_preview_frame_covers_the_run_and_the_chart_draws_it():
    training = _spec("step", decay_every_epochs=2.0, decay_factor=0.1)
    frame = schedule_frame(training, STEPS)
    assert list(frame.columns) == ["iteration", "epoch", "learning_rate"]
    assert frame["iteration"].iloc[0] == 0 and frame["iteration"].iloc[-1] == 59
    assert {19, 20} <= set(frame["iteration"])  # both sides of the drop
    big = schedule_frame(dataclasses.replace(training, epochs=100), 1000)
    assert len(big) < 1000  # thinned for a long run
    spec = charts.learning_rate_chart(frame).to_dict()
    assert spec["encoding"]["x"]["field"] == "iteration"
    assert spec["encoding"]["y"]["field"] == "learning_rate"


def test_a_run_logs_the_rate_of_its_schedule_with_its_metrics():
    pytest.importorskip("keras")
    experiment = tiny_experiment()
    training = dataclasses.replace(
        experiment.training, epochs=2, lr_schedule="step", decay_every_epochs=1.0, decay_factor=0.1
    )
    run_id = jobs.create_run(dataclasses.replace(experiment, training=training))
    path = run_path(run_id)
    record_worker(path, os.getpid())  # this process is the run's worker
    assert worker.main([str(path)]) == 0
    metrics = jobs.read_metrics(run_id)
    assert "learning_rate" in metrics.columns
    epochs = metrics[metrics["kind"] == "epoch"]
    assert epochs["learning_rate"].tolist() == pytest.approx([0.001, 0.0001])
    batches = metrics[metrics["kind"] == "batch"]
    assert batches["learning_rate"].notna().all()
    rates = logged_rates(metrics)
    steps = 200 // 32 + 1  # 7 iterations per epoch
    expected = [learning_rate_at(training, int(i), steps) for i in rates["iteration"]]
    assert rates["learning_rate"].tolist() == pytest.approx(expected)
