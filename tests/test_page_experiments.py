"""The Experiments page: the table of trials, curves side by side, downloads and deleting."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pandas as pd
import pyarrow as pa
from pages_support import OWNER, copy_of_tiny_run, id_for, open_page, texts

from dlcore.data.catalogue import load_dataset
from dlcore.data.dataset import save_dataset
from dlcore.spec import DataSpec, Experiment, TrainSpec
from dlcore.text import escape_markdown
from dlcore.train import jobs
from dlcore.train.records import MetricRow
from dlcore.train.run_outputs import append_metric
from dlcore.train.runs import run_path, write_status


def test_opens_cold_and_asks_for_a_run():
    at = open_page("experiments")
    assert not at.exception
    assert "No run yet" in at.info[0].value


def test_lists_the_run_with_its_settings_and_accuracy(run_id):
    at = open_page("experiments", attendee=OWNER)
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    row = table[table["run"] == run_id].iloc[0]
    status = jobs.status(run_id)
    row = row.str.strip()  # numbers are padded to one width, to sort as numbers
    assert row["val accuracy"] == f"{status['val_accuracy']:.1%}"
    assert row["test accuracy"] == f"{status['test_accuracy']:.1%}"
    assert row["owner"] == OWNER and row["dataset"] == "digits" and row["status"] == "completed"
    assert row["architecture"] == "custom: conv 4" and row["activations"] == "relu / softmax"
    assert row["epochs"] == "1" and row["optimizer"] == "adam" and row["augmentation"] == "off"
    assert row["parameters"] == f"{status['num_params']:,}" and row["time (s)"].startswith("0:")
    assert len(at.get("vega_lite_chart")) == 1  # the newest finished runs' curves
    labels = [button.proto.label for button in at.get("download_button")]
    assert sorted(labels) == [
        "Download the table (CSV)",
        "Settings (spec JSON)",
        "Trained model (.keras)",
    ]


def test_selecting_rows_overlays_their_curves(run_id):
    at = open_page("experiments", attendee=OWNER)
    at.session_state["runs_table_False"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert not at.exception
    assert "Selected runs." in [c.value for c in at.caption]
    assert run_id in at.selectbox[0].value


def test_owner_deletes_a_finished_run_and_others_cannot(run_id):
    copy = run_id + "-copy"  # a second finished run, so the shared one stays for other tests
    shutil.copytree(run_path(run_id), run_path(run_id).parent / copy)
    at = open_page("experiments", attendee="someone else")
    assert at.selectbox[0].value == copy  # newest first
    assert not at.checkbox and "Only its owner" in at.caption[-1].value
    at = open_page("experiments", attendee=OWNER)
    delete = next(b for b in at.button if b.label == "Delete run")
    assert delete.disabled
    at.checkbox[0].check().run()
    next(b for b in at.button if b.label == "Delete run").click().run()
    assert not at.exception
    assert copy not in [s["run_id"] for s in jobs.list_runs()]
    assert run_id in [s["run_id"] for s in jobs.list_runs()]


def test_the_instructor_deletes_anyone_s_finished_run(tmp_path_factory):
    run_id = copy_of_tiny_run(tmp_path_factory.getbasetemp()).name  # owned by ada
    at = open_page("experiments", attendee="bob")
    assert at.dataframe[0].value["owner"].tolist() == [OWNER]  # everyone sees every run
    assert not at.checkbox, "an attendee cannot delete another's run"
    at = open_page("experiments", attendee="bob", instructor=True)
    at.checkbox[0].check().run()
    next(b for b in at.button if b.label == "Delete run").click().run()
    assert not at.exception and not at.error
    assert run_id not in [s["run_id"] for s in jobs.list_runs()]


def _scored_run(name: str, accuracy: float, dataset: str = "digits", label=None) -> str:
    """A finished run of ``name``'s browser written straight to disk, with its score."""
    experiment = Experiment(data=DataSpec(dataset), owner=id_for(name))
    run_id = jobs.create_run(experiment, owner_label=name if label is None else label)
    write_status(run_path(run_id), status="completed", val_accuracy=accuracy)
    return run_id


def _carols_own_dataset() -> None:
    digits = load_dataset("digits")
    manifest = {"owner": id_for("carol"), "owner_label": "carol"}
    save_dataset(dataclasses.replace(digits, name="carol-cats", manifest=manifest))


def test_the_class_leaderboard_of_the_dataset_with_your_place():
    hostile = "[win](http://evil) :red[x] <b>"
    _scored_run("ada", 0.8)
    _scored_run("ada", 0.7)
    _scored_run("bob", 0.9, label=hostile)
    _carols_own_dataset()
    carols = _scored_run("carol", 0.99, dataset="carol-cats")  # private: never on the board
    _scored_run("dan", 0.95, dataset="mnist-sample")  # another dataset
    at = open_page("experiments", attendee="ada", dataset="digits")
    assert not at.exception and not at.error
    board = at.table[0].value
    assert board["attendee"].tolist() == [escape_markdown(hostile), "ada"]  # shown as text
    assert board["best val accuracy"].tolist() == ["90.0%", "80.0%"]
    assert board["runs"].tolist() == [1, 2] and board["you"].tolist() == ["", "← you"]
    assert "carol" not in board.to_string() and carols not in texts(at)
    assert id_for("ada") not in board.to_string()


def test_no_leaderboard_for_a_private_dataset():
    _carols_own_dataset()
    _scored_run("carol", 0.99, dataset="carol-cats")
    for at in (
        open_page("experiments", attendee="carol", dataset="carol-cats"),
        open_page("experiments", attendee="eve", dataset="carol-cats", instructor=True),
    ):
        assert not at.exception and not at.error
        assert not at.table
        assert "shared datasets only" in texts(at)


def test_the_owner_comments_a_run_and_everyone_sees_it_in_the_table():
    run_id = _scored_run("ada", 0.8)
    hostile = "[win](http://evil) :red[x] =cmd()"
    at = open_page("experiments", attendee="ada")
    at.text_input(key=f"comment_text_{run_id}").input(hostile + "\u202e")
    next(b for b in at.button if b.label == "Save comment").click().run()
    assert not at.exception and not at.error
    assert at.dataframe[0].value["comment"].tolist() == [hostile]  # a plain-text cell
    assert at.text_input(key=f"comment_text_{run_id}").value == hostile  # as stored
    labels = [button.proto.label for button in at.get("download_button")]
    assert "Download the table (CSV)" in labels
    at = open_page("experiments", attendee="bob")
    assert not at.exception and at.dataframe[0].value["comment"].tolist() == [hostile]
    assert not at.text_input and "Save comment" not in [b.label for b in at.button]
    assert "Download the table (CSV)" in [b.proto.label for b in at.get("download_button")]
    at = open_page("experiments", attendee="bob", instructor=True)
    at.text_input(key=f"comment_text_{run_id}").input("checked by the instructor")
    next(b for b in at.button if b.label == "Save comment").click().run()
    assert not at.exception and at.dataframe[0].value["comment"][0] == "checked by the instructor"


def test_the_table_reads_like_the_rest_of_the_app():
    """Results and state on the first screen; epochs trained of those planned; accuracies as
    81.2% as on every page; times as 1:05; a dash, never "None", for a missing figure."""
    owner = id_for("ada")
    experiment = Experiment(data=DataSpec("digits"), training=TrainSpec(epochs=20), owner=owner)
    stopped = jobs.create_run(experiment, owner_label="ada")
    for epoch in range(1, 14):  # cancelled during its 14th epoch, keeping its 12th's weights
        accuracy = 0.8123 if epoch == 12 else 0.5
        row = MetricRow("epoch", epoch, 10 * epoch, loss=0.5, val_accuracy=accuracy)
        append_metric(run_path(stopped), row)
    times = {"started": "2026-01-01T10:00:00", "ended": "2026-01-01T10:01:05"}
    write_status(run_path(stopped), status="cancelled", best_epoch=12, **times)
    done = _scored_run("ada", 0.9)  # no test split, no times
    at = open_page("experiments", attendee="ada")
    assert not at.exception and not at.error
    assert list(at.dataframe[0].proto.column_order)[:2] == ["run", "status"]
    table = at.dataframe[0].value
    shown = table.set_index("run").map(str.strip)
    assert shown.loc[stopped, ["epochs", "val accuracy", "time (s)"]].tolist() == [
        "13 of 20",
        "81.2%",
        "1:05",
    ]
    assert shown.loc[done, ["epochs", "val accuracy", "test accuracy"]].tolist() == [
        "5",
        "90.0%",
        "—",
    ]
    assert "None" not in table.to_string() and "nan" not in table.to_string()
    # numbers padded to one width: sorted as text (the browser sorts a text column so), by value
    assert sorted(table["val accuracy"]) == [" 81.2%", " 90.0%"]
    assert sorted([*table["epochs"], "   9"]) == ["   5", "   9", "  13 of 20"]


def test_a_sweep_s_runs_are_grouped_in_a_grid_with_their_curves():
    owner, sweep_id = id_for("ada"), "sw-20261130-120000-abcdef"
    scores = {(0.001, 32): 0.7, (0.01, 32): 0.9, (0.001, 128): 0.6, (0.01, 128): 0.8}
    for (rate, batch), accuracy in scores.items():
        values = {"learning_rate": rate, "batch_size": batch}
        experiment = Experiment(data=DataSpec("digits"), owner=owner)
        run_id = jobs.create_run(experiment, "ada", sweep=sweep_id, sweep_values=values)
        for epoch in (1, 2):
            figures = {"val_accuracy": accuracy, "val_loss": 1.5 / epoch}
            row = MetricRow("epoch", epoch, epoch, loss=1.0 / epoch, **figures)
            append_metric(run_path(run_id), row)
        write_status(run_path(run_id), status="completed", val_accuracy=accuracy)
    at = open_page("experiments", attendee="ada")
    assert not at.exception and not at.error
    assert "Sweeps" in [header.value for header in at.subheader]
    assert sweep_id in at.selectbox[0].options[0]
    best = escape_markdown("lr 0.01 · batch 32")
    assert f"Best so far: **{best}**, validation accuracy 90.0%" in texts(at)
    assert "4 of 4 runs finished" in texts(at)
    charts = at.get("vega_lite_chart")
    specs = [json.loads(chart.proto.spec) for chart in charts]
    (heat,) = [chart for chart, spec in zip(charts, specs, strict=True) if "layer" in spec]
    (cells,) = [pa.ipc.open_stream(d.data.data).read_all().to_pandas() for d in heat.proto.datasets]
    assert sorted(cells["text"]) == ["60.0%", "70.0%", "80.0%", "90.0%"]
    (curves,) = [chart for chart, spec in zip(charts, specs, strict=True) if "hconcat" in spec]
    lines = pd.concat(
        pa.ipc.open_stream(d.data.data).read_all().to_pandas() for d in curves.proto.datasets
    )
    assert set(lines["run"]) == {
        "lr 0.001 · batch 32",
        "lr 0.01 · batch 32",
        "lr 0.001 · batch 128",
        "lr 0.01 · batch 128",
    }
    assert "split" not in lines and len(lines) == 16  # validation only: 4 runs, 2 epochs, 2
    assert sorted(at.dataframe[0].value["sweep"]) == [
        "lr 0.001 · batch 128",
        "lr 0.001 · batch 32",
        "lr 0.01 · batch 128",
        "lr 0.01 · batch 32",
    ]
