"""The Experiments page: the table of trials, curves side by side, downloads and deleting."""

from __future__ import annotations

import shutil

import pytest
from pages_support import OWNER, copy_of_tiny_run, open_page

from dlcore import jobs
from dlcore.runs import run_path


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
    assert row["parameters"] == status["num_params"] and row["time (s)"] >= 0
    assert len(at.get("vega_lite_chart")) == 1  # the newest finished runs' curves
    labels = [button.proto.label for button in at.get("download_button")]
    assert sorted(labels) == ["Settings (spec JSON)", "Trained model (.keras)"]


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
