"""The Instructor page: locked without the code; with it, the room (every attendee's runs,
queue places, progress, best accuracy), the server's figures, pausing the queue, and cancelling
or deleting anyone's run."""

from __future__ import annotations

import json
import re

from pages_support import id_for, open_page, texts

from dlcore.spec import DataSpec, Experiment
from dlcore.train import jobs
from dlcore.train.runs import CANCEL, run_path, write_status


def _run(name: str, state: str = "completed", accuracy: float | None = None, label=None) -> str:
    """A run of ``name``'s browser written straight to disk (no worker): queued, or finished."""
    experiment = Experiment(data=DataSpec("digits"), owner=id_for(name))
    run_id = jobs.create_run(experiment, owner_label=name if label is None else label)
    if state != "queued":
        write_status(run_path(run_id), status=state, val_accuracy=accuracy)
    return run_id


def test_locked_without_the_code_and_shows_nobody_s_work():
    run_id = _run("ada", accuracy=0.8)
    for at in (
        open_page("instructor", attendee="bob"),
        open_page("instructor", attendee="bob", instructor_key="owl-lantern-paper-41"),
    ):
        assert not at.exception and not at.error
        assert "enter the instructor code on the Start page" in at.info[0].value
        assert not at.dataframe and not at.button and not at.selectbox and not at.metric
        assert run_id not in texts(at) and "ada" not in texts(at)


def test_unlocked_shows_every_attendee_s_runs_and_the_server():
    done = _run("ada", accuracy=0.8125)
    waiting = _run("bob", state="queued", label="\u202ebob [x](http://e)")
    at = open_page("instructor", attendee="carol", instructor=True)
    assert not at.exception and not at.error
    room = next(d.value for d in at.dataframe if "attendee" in d.value.columns)
    rows = room.set_index("run")
    assert rows.loc[done, "attendee"] == "ada" and rows.loc[done, "status"] == "completed"
    assert rows.loc[done, "best val accuracy"] == 0.812 and rows.loc[done, "progress"] == 1.0
    assert rows.loc[waiting, "attendee"] == "bob [x](http://e)"  # plain text in a dataframe
    assert rows.loc[waiting, "status"] == "starting"  # next, and a slot is free
    assert rows.loc[waiting, "queue"].strip() == "1" and rows.loc[done, "queue"] == ""  # no None
    accuracy = json.loads(
        next(d for d in at.dataframe if "attendee" in d.value.columns).proto.columns
    )
    assert accuracy["best val accuracy"]["type_config"]["step"] == 0.001  # "81.2%", not "81%"
    assert id_for("ada") not in room.to_string() and id_for("bob") not in room.to_string()
    labels = [metric.label for metric in at.metric]
    assert {"CPU", "Memory", "Data directory", "Queued", "Attendees with runs"} <= set(labels)
    shown = {metric.label: metric.value for metric in at.metric}
    assert re.fullmatch(r"[\d,]+%", shown["CPU"])  # "100%", not "100 %"
    # the test's data directory holds a few kB: MB, not "0.0 GB"
    assert re.fullmatch(r"(under 1|[\d,]+) MB of [\d,]+\.\d GB", shown["Data directory"])


def test_pause_and_resume_the_queue():
    at = open_page("instructor", instructor=True)
    assert not jobs.queue_paused()
    next(b for b in at.button if b.label == "Pause the queue").click().run()
    assert not at.exception and jobs.queue_paused()
    assert "The queue is paused" in at.warning[0].value
    next(b for b in at.button if b.label == "Resume the queue").click().run()
    assert not at.exception and not jobs.queue_paused()
    assert [b.label for b in at.button if "queue" in b.label] == ["Pause the queue"]


def test_the_instructor_cancels_and_deletes_another_attendee_s_runs():
    finished = _run("ada", accuracy=0.5)
    waiting = _run("ada", state="queued")
    at = open_page("instructor", attendee="carol", instructor=True)
    at.selectbox[0].set_value(waiting).run()
    next(b for b in at.button if b.label == "Cancel run").click().run()
    assert not at.exception and not at.error
    state = jobs.status(waiting)["status"]
    assert state == "cancelled" or (run_path(waiting) / CANCEL).exists()
    at.selectbox[0].set_value(finished).run()
    assert next(b for b in at.button if b.label == "Delete run").disabled
    at.checkbox[0].check().run()
    next(b for b in at.button if b.label == "Delete run").click().run()
    assert not at.exception and not at.error
    assert finished not in [s["run_id"] for s in jobs.list_runs()]
