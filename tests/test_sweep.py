"""Sweeps: the Sweep value, expanding it into runs, the job limits (all or nothing), the
grouping and the grid of validation accuracy, the fair queue, and `dlcore sweep`'s JSON lines."""

from __future__ import annotations

import json
import math

import pytest

from dlcore import LayerLabError
from dlcore.limits import Limits
from dlcore.recipes import preset_experiment
from dlcore.results import sweep_results, trials
from dlcore.spec import ConvBlock, DataSpec, Experiment, ModelSpec
from dlcore.train import job_queue, jobs, sweep_jobs
from dlcore.train import sweep as sweeps
from dlcore.train.runs import run_path, write_status

LR_BATCH = {"learning_rate": [0.001, 0.01], "batch_size": [32, 128]}


@pytest.fixture
def no_scheduler(monkeypatch):
    """Submitted runs stay queued: nothing trains unless a test says so."""
    monkeypatch.setattr(jobs, "ensure_scheduler", lambda **options: None)


def _digits(owner: str = "a-ada", model: str = "mlp") -> Experiment:
    experiment = preset_experiment(model, "digits", epochs=1, batch_size=32)
    return Experiment(
        data=DataSpec("digits", max_train_images=200),
        model=experiment.model,
        training=experiment.training,
        owner=owner,
    )


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({}, "at least one setting"),
        ({"lr": [0.1, 0.2]}, "cannot vary 'lr'"),
        ({"epochs": [3]}, "1 value"),
        ({"epochs": [1, 2, 3, 4, 5]}, "5 value"),
        ({"epochs": [1, 1]}, "listed twice"),
        ({"epochs": [1, 2.5]}, "not a whole number"),
        ({"dropout": [0.1, "x"]}, "not a number"),
        ({"dropout": [0.1, True]}, "not a number"),
        ({"epochs": [1, 2], "batch_size": [8, 16], "dropout": [0, 0.5]}, "at most 2"),
        ({"filters_block_9": [8, 16]}, "cannot vary"),
    ],
)
def test_a_sweep_refuses_what_it_cannot_run(payload, message):
    with pytest.raises(LayerLabError, match=message):
        sweeps.Sweep.from_dict(payload)


def test_expand_gives_one_experiment_per_combination():
    sweep = sweeps.Sweep.from_dict(LR_BATCH)
    assert sweep.num_runs == 4 and sweep.to_dict() == LR_BATCH
    specs = sweeps.expand(_digits(), sweep)
    got = [(s.training.learning_rate, s.training.batch_size) for s in specs]
    assert got == [(0.001, 32), (0.001, 128), (0.01, 32), (0.01, 128)]
    assert specs[1].name == "lr 0.001 · batch 128"
    assert all(s.training.epochs == 1 and s.data.dataset == "digits" for s in specs)
    lenet = preset_experiment("lenet", "digits")
    specs = sweeps.expand(
        lenet, sweeps.Sweep.from_dict({"filters_block_2": [8, 16], "dropout": [0, 0.5]})
    )
    # settings in one fixed order, whatever order they were given in: dropout before filters
    assert [s.model.dense_layers[0].dropout_rate for s in specs] == [0, 0, 0.5, 0.5]
    assert [s.model.conv_blocks[1].filters for s in specs] == [8, 16, 8, 16]
    assert all(s.model.conv_blocks[0].filters == 20 for s in specs)  # block 1 untouched


def test_expand_refuses_values_the_network_cannot_take():
    mlp = preset_experiment("mlp", "digits")
    with pytest.raises(LayerLabError, match="no block 1"):
        sweeps.expand(mlp, sweeps.Sweep.from_dict({"filters_block_1": [8, 16]}))
    with pytest.raises(LayerLabError, match="Learning rate is 0.0"):
        sweeps.expand(mlp, sweeps.Sweep.from_dict({"learning_rate": [0, 0.1]}))
    no_dense = Experiment(model=ModelSpec(preset="custom", conv_blocks=(ConvBlock(8),)))
    with pytest.raises(LayerLabError, match="no dense layer"):
        sweeps.expand(no_dense, sweeps.Sweep.from_dict({"dropout": [0, 0.5]}))


def test_typed_values_sweep_several_and_fix_one():
    sweep, fixed = sweeps.from_options({"learning_rate": "0.001, 0.01", "epochs": "3"})
    assert sweep.settings == (("learning_rate", (0.001, 0.01)),) and fixed == {"epochs": 3}
    with pytest.raises(LayerLabError, match="'fast' is not a number"):
        sweeps.from_options({"learning_rate": "0.01,fast"})
    with pytest.raises(LayerLabError, match="Nothing to sweep"):
        sweeps.from_options({"epochs": "3"})


def test_a_sweep_queues_tagged_runs_that_count_as_one_job(no_scheduler):
    sweep_id, run_ids = sweep_jobs.submit_sweep(_digits(), sweeps.Sweep.from_dict(LR_BATCH))
    statuses = jobs.list_runs()
    assert len(run_ids) == 4 and {s["sweep"] for s in statuses} == {sweep_id}
    values = {s["run_id"]: s["sweep_values"] for s in statuses}
    assert values[run_ids[3]] == {"learning_rate": 0.01, "batch_size": 128}
    # the limit is 2 jobs per attendee: the sweep is one, so one more run is let in
    jobs.submit(_digits(), limits=Limits(max_jobs_per_owner=2))
    with pytest.raises(LayerLabError, match="a sweep counts as one"):
        jobs.submit(_digits(), limits=Limits(max_jobs_per_owner=2))
    with pytest.raises(LayerLabError, match="a sweep counts as one job"):
        sweep_jobs.submit_sweep(_digits(), sweeps.Sweep.from_dict(LR_BATCH))
    assert len(jobs.list_runs()) == 5


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        (Limits(max_sweep_runs=3), "4 runs; this server allows 3 per sweep"),
        (Limits(max_jobs_total=4), "4 more would pass its limit of 4"),
        (Limits(max_epochs=3), "5 epochs is over this server's limit of 3"),
    ],
)
def test_a_sweep_a_limit_would_stop_part_way_is_refused_whole(no_scheduler, limits, message):
    jobs.create_run(_digits(owner="a-bob"))  # someone else's queued run
    sweep = sweeps.Sweep.from_dict({"epochs": [1, 2, 3, 5]})
    with pytest.raises(LayerLabError, match=message):
        sweep_jobs.submit_sweep(_digits(), sweep, limits=limits)
    assert len(jobs.list_runs()) == 1  # not one run of the sweep was queued


def test_a_run_refused_part_way_withdraws_the_runs_already_queued(no_scheduler, monkeypatch):
    submit, calls = jobs.submit, []

    def full_after_two(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # someone else took the last place meanwhile
            raise LayerLabError("The server already has 50 jobs queued or running")
        return submit(*args, **kwargs)

    monkeypatch.setattr(jobs, "submit", full_after_two)
    with pytest.raises(LayerLabError, match="50 jobs"):
        sweep_jobs.submit_sweep(_digits(), sweeps.Sweep.from_dict(LR_BATCH))
    assert jobs.list_runs() == []


def test_a_sweep_takes_turns_with_other_attendees_in_the_queue(no_scheduler):
    _, ada = sweep_jobs.submit_sweep(_digits(), sweeps.Sweep.from_dict({"epochs": [1, 2, 3]}))
    bob = jobs.submit(_digits(owner="a-bob"))
    assert job_queue.queue_order() == [ada[0], bob, ada[1], ada[2]]


def _finished_sweep(accuracies: dict[tuple, float | None]) -> list[dict]:
    """A sweep of learning rate x batch size written straight to disk, with its scores."""
    sweep_id = sweep_jobs.new_sweep_id()
    for (rate, batch), accuracy in accuracies.items():
        values = {"learning_rate": rate, "batch_size": batch}
        run_id = jobs.create_run(_digits(), sweep=sweep_id, sweep_values=values)
        if accuracy is not None:
            write_status(run_path(run_id), status="completed", val_accuracy=accuracy)
    return [s for s in jobs.list_runs() if s["sweep"] == sweep_id]


def test_the_grid_of_validation_accuracy_by_the_two_settings():
    scores = {(0.01, 32): 0.9, (0.001, 32): 0.7, (0.001, 128): 0.6, (0.01, 128): None}
    statuses = _finished_sweep(scores)
    jobs.create_run(_digits())  # a plain run is no sweep's
    (group,) = sweep_results.sweeps(jobs.list_runs())
    assert group["runs"] == 4 and group["finished"] == 3
    assert group["settings"] == ["learning_rate", "batch_size"]
    grid = sweep_results.sweep_table(statuses)
    assert grid.columns.name == "learning rate" and grid.index.name == "batch size"
    assert list(grid.columns) == [0.001, 0.01] and list(grid.index) == [32, 128]
    assert grid.loc[32, 0.01] == 0.9 and grid.loc[128, 0.001] == 0.6
    assert math.isnan(grid.loc[128, 0.01])  # still queued
    best = sweep_results.best_run(statuses)
    assert best["sweep_values"] == {"learning_rate": 0.01, "batch_size": 32}
    cells = sweep_results.grid_cells(statuses)
    assert cells["x"].tolist() == ["0.001", "0.01", "0.001", "0.01"]
    assert cells["text"].tolist() == ["70.0%", "90.0%", "60.0%", "queued"]
    with pytest.raises(LayerLabError, match="one sweep"):
        sweep_results.sweep_table(statuses + _finished_sweep({(0.1, 8): 0.5}))


def test_the_table_of_trials_names_each_run_s_sweep_values():
    statuses = _finished_sweep({(0.001, 32): 0.7, (0.01, 32): 0.8})
    frame = trials.runs_frame(statuses)
    assert sorted(frame["sweep"]) == ["lr 0.001 · batch 32", "lr 0.01 · batch 32"]
    assert frame["batch size"].tolist() == [32, 32]


def test_the_heat_map_draws_every_cell_with_its_label():
    from dlcore.results import charts as result_charts

    statuses = _finished_sweep({(0.001, 32): 0.7, (0.01, 32): 0.9})
    spec = result_charts.sweep_heatmap(
        sweep_results.grid_cells(statuses), "learning rate", "batch size"
    )
    spec = spec.to_dict()
    rect, text = spec["layer"]
    assert rect["encoding"]["x"]["title"] == "learning rate"
    assert rect["encoding"]["color"]["legend"]["format"] == "%"
    assert text["encoding"]["text"]["field"] == "text"
    data = spec["datasets"][spec["data"]["name"]]
    assert [cell["text"] for cell in data] == ["70.0%", "90.0%"]


def test_the_cli_prints_one_json_line_per_run_then_the_best(monkeypatch, capsys):
    """Two real (tiny) runs, trained in this process as the scheduler would start them."""
    from dlcore.cli import main
    from dlcore.train.worker import run_job

    def train_queued(**options) -> None:
        for run_id in job_queue.queue_order():
            run_job(run_path(run_id))

    monkeypatch.setattr(jobs, "ensure_scheduler", train_queued)
    argv = ["sweep", "--dataset", "digits", "--model", "mlp", "--epochs", "1"]
    assert main([*argv, "--learning-rate", "0.001,0.01", "--batch-size", "64", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    *runs, last = lines
    assert len(runs) == 2 and {r["learning_rate"] for r in runs} == {0.001, 0.01}
    assert all(r["status"] == "completed" and 0 <= r["val_accuracy"] <= 1 for r in runs)
    assert len({r["sweep"] for r in runs}) == 1 and "batch_size" not in runs[0]
    best = max(runs, key=lambda r: r["val_accuracy"])
    assert last == {"best": best}
    assert {jobs.read_spec(r["run_id"]).training.batch_size for r in runs} == {64}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--epochs", "3"], "Nothing to sweep"),
        (["--learning-rate", "0.1,x"], "'x' is not a number"),
        (["--filters", "9:8,16"], "cannot vary 'filters_block_9'"),
        (["--model", "mlp", "--filters", "8,16"], "no block 1"),
        (["--epochs", "1,2", "--batch-size", "8,16", "--dropout", "0,0.5"], "at most 2"),
    ],
)
def test_the_cli_refuses_a_bad_sweep_in_one_line(argv, message, capsys, no_scheduler):
    from dlcore.cli import main

    assert main(["sweep", "--dataset", "digits", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert jobs.list_runs() == []


def test_the_train_page_shows_the_runs_of_a_sweep_then_queues_them(no_scheduler):
    from pages_support import OWNER, OWNER_ID, open_page, texts, tiny_experiment

    session = {"attendee": OWNER, "dataset": "digits", "experiment": tiny_experiment()}
    at = open_page("train", **session)
    assert not at.exception and not at.error
    at.multiselect(key="sweep_settings").set_value(["learning_rate", "batch_size"]).run()
    assert at.multiselect(key="sweep_values_learning_rate").value == [0.001, 0.003]
    at.multiselect(key="sweep_values_batch_size").set_value([16, 32, 64]).run()
    assert "**6 runs** (2 × 3)" in texts(at)
    at.multiselect(key="sweep_values_batch_size").set_value([16]).run()
    (warning,) = at.warning  # said before anything starts
    assert "of batch size" in warning.value and "a sweep needs 2 to 4 of each" in warning.value
    assert not [b for b in at.button if b.label.startswith("Start the sweep")]
    at.multiselect(key="sweep_values_batch_size").set_value([16, 64]).run()
    next(b for b in at.button if b.label == "Start the sweep (4 runs)").click().run()
    assert not at.exception and not at.error
    runs = jobs.list_runs()
    assert len(runs) == 4 and {s["owner"] for s in runs} == {OWNER_ID}
    assert len({s["sweep"] for s in runs}) == 1
    assert {s["sweep_values"]["batch_size"] for s in runs} == {16, 64}
    assert "Sweep queued: 4 runs" in texts(at)
    assert at.session_state["run_id"] in {s["run_id"] for s in runs}
