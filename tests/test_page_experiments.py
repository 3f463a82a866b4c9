"""The Experiments page: the table of trials, curves side by side, downloads and deleting."""

from __future__ import annotations

import dataclasses
import shutil

import pytest
from pages_support import OWNER, copy_of_tiny_run, id_for, open_page, texts

from dlcore import jobs
from dlcore.builtin import load_dataset
from dlcore.dataset import save_dataset
from dlcore.runs import run_path, write_status
from dlcore.spec import DataSpec, Experiment
from dlcore.text import escape_markdown


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
    assert row["val accuracy"] == pytest.approx(status["val_accuracy"])
    assert row["test accuracy"] == pytest.approx(status["test_accuracy"])
    assert row["owner"] == OWNER and row["dataset"] == "digits" and row["status"] == "completed"
    assert row["architecture"] == "custom: conv 4" and row["activations"] == "relu / softmax"
    assert row["epochs"] == 1 and row["optimizer"] == "adam" and row["augmentation"] == "off"
    assert row["parameters"] == status["num_params"] and row["time (s)"] > 0
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
