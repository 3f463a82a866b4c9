"""The run directory's one owner: named files, typed records, and reads that never write."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time

import pytest

from dlcore import storage
from dlcore.spec import DataSpec, Experiment
from dlcore.train import job_queue, jobs, run_comments, runs
from dlcore.train.records import MetricRow, RunStatus, WorkerInfo


def _run(owner: str = "a-1", **status) -> str:
    run_id = jobs.create_run(Experiment(data=DataSpec("digits"), owner=owner), owner_label="Ada")
    if status:
        runs.write_status(runs.run_path(run_id), **status)
    return run_id


def _dead_worker(run_id: str) -> None:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    runs.record_worker(runs.run_path(run_id), process.pid)
    process.wait()


def _snapshot(path) -> dict:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in path.iterdir()}


def test_records_round_trip_through_json():
    status = RunStatus(status="running", owner="a-1", owner_label="Ada", created_ts=1.5, pid=42)
    assert RunStatus.from_dict(json.loads(json.dumps(status.to_dict()))) == status
    assert "run_id" not in status.to_file()
    row = MetricRow("epoch", 1, 10, 0.5, val_loss=0.7, eta=None, extra={"learning_rate": 0.001})
    back = MetricRow.from_dict(json.loads(json.dumps(row.to_dict())))
    assert back == row and "eta" not in row.to_dict() and row.to_dict()["learning_rate"] == 0.001
    assert WorkerInfo.from_dict(WorkerInfo(7, "123").to_dict()) == WorkerInfo(7, "123")


@pytest.mark.parametrize(
    ("record", "payload", "message"),
    [
        (RunStatus, [1, 2], "not a JSON object"),
        (RunStatus, {"status": 5}, "field 'status'"),
        (RunStatus, {"status": ""}, "status is empty"),
        (RunStatus, {"created_ts": "yesterday"}, "field 'created_ts'"),
        (RunStatus, {"pid": True}, "field 'pid'"),
        (MetricRow, {"kind": "epoch", "epoch": 1, "step": 1}, "lacks"),
        (MetricRow, {"kind": "other", "epoch": 1, "step": 1, "loss": 1.0}, "kind"),
        (MetricRow, {"kind": "batch", "epoch": -1, "step": 1, "loss": 1.0}, ">= 0"),
        (MetricRow, {"kind": "batch", "epoch": 1, "step": 1, "loss": "x"}, "field 'loss'"),
        (WorkerInfo, {"pid": "abc"}, "field 'pid'"),
        (WorkerInfo, {"pid": 0}, "not a process id"),
        (WorkerInfo, {"pid": -1}, "not a process id"),
        (WorkerInfo, {"pid": 10**12}, "not a process id"),
        (WorkerInfo, {}, "no pid"),
    ],
)
def test_records_refuse_what_they_are_not(record, payload, message):
    with pytest.raises(ValueError, match=message):
        record.from_dict(payload)


def test_unknown_status_fields_are_ignored_and_old_statuses_read():
    status = RunStatus.from_dict({"status": "completed", "owner": "ada", "future_field": [1]})
    assert status.status == "completed" and status.owner_label == ""


def test_write_status_refuses_a_misspelt_field():
    run_id = _run()
    with pytest.raises(ValueError, match="field 'val_accuracy'"):
        runs.write_status(runs.run_path(run_id), val_accuracy="high")


def test_file_names_are_the_constants():
    run_id = _run(status="running")
    names = {p.name for p in runs.run_path(run_id).iterdir()}
    assert names == {runs.SPEC, runs.STATUS}


def test_a_dead_worker_reads_interrupted_without_writing():
    run_id = _run(status="running", message="Training on CPU.")
    _dead_worker(run_id)
    path = runs.run_path(run_id)
    before = _snapshot(path)
    status = runs.read_status(run_id)
    assert status.status == "interrupted" and "stopped unexpectedly" in status.message
    assert status.ended and status.run_id == run_id and status.owner_label == "Ada"
    assert _snapshot(path) == before, "reading a run wrote to it"
    assert json.loads((path / runs.STATUS).read_text())["status"] == "running"


def test_reads_work_when_nothing_can_be_written(monkeypatch):
    """The disk filled up during training: status.json says running for ever, the worker is
    gone. Every page's reads still work, and none tries to write."""
    run_id = _run(status="running")
    _dead_worker(run_id)

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(storage, "atomic_write_bytes", disk_full)
    monkeypatch.setattr(runs, "atomic_write_json", disk_full)
    monkeypatch.setattr(os, "replace", disk_full)
    assert jobs.status(run_id)["status"] == "interrupted"
    assert [s["status"] for s in jobs.list_runs()] == ["interrupted"]
    assert jobs.read_metrics(run_id).empty
    assert job_queue.queue_order() == []


def test_reads_work_in_a_read_only_run_directory():
    run_id = _run(status="running")
    _dead_worker(run_id)
    path = runs.run_path(run_id)
    os.chmod(path, 0o555)
    try:
        assert jobs.status(run_id)["status"] == "interrupted"
    finally:
        os.chmod(path, 0o755)


def test_a_queued_run_waits_without_a_process_and_is_never_taken_for_dead(monkeypatch):
    run_id = _run()
    later = time.time() + runs.STARTUP_GRACE_S + 3600
    monkeypatch.setattr(runs.time, "time", lambda: later)
    assert runs.read_status(run_id).status == "queued"  # the scheduler's queue holds it


def test_a_running_run_without_its_worker_record_reads_interrupted_after_a_moment(monkeypatch):
    run_id = _run(status="running")
    assert runs.read_status(run_id).status == "running"  # just started: no worker.json yet
    later = time.time() + runs.STARTUP_GRACE_S + 1
    monkeypatch.setattr(runs.time, "time", lambda: later)
    assert runs.read_status(run_id).status == "interrupted"


def test_a_finished_run_ignores_its_worker_record():
    run_id = _run(status="completed", message="Finished.")
    (runs.run_path(run_id) / runs.WORKER).write_text('{"pid": "abc"}')
    assert runs.read_status(run_id).status == "completed"


def test_a_comment_round_trips_as_one_line_of_plain_text():
    run_id = _run(status="completed")
    assert run_comments.read_comment(run_id) == ""
    hostile = "**bold** [x](http://e) \u202eevil\u2066\n  second\tline\x00"
    stored = run_comments.write_comment(run_id, hostile)
    assert stored == "**bold** [x](http://e) evil second line"  # markdown is shown, not run
    assert run_comments.read_comment(run_id) == stored
    assert (runs.run_path(run_id) / runs.COMMENT).read_text() == stored
    assert run_comments.write_comment(run_id, "  ") == ""
    assert run_comments.read_comment(run_id) == ""
    assert not (runs.run_path(run_id) / runs.COMMENT).exists()


def test_a_comment_is_cut_at_the_limit():
    run_id = _run(status="completed")
    stored = run_comments.write_comment(run_id, "é" * (run_comments.MAX_COMMENT + 100))
    assert stored == "é" * run_comments.MAX_COMMENT and run_comments.read_comment(run_id) == stored


def test_a_damaged_or_missing_comment_reads_empty():
    run_id = _run(status="completed")
    path = runs.run_path(run_id) / runs.COMMENT
    path.write_bytes(b"\xff\xfe not utf-8")
    assert run_comments.read_comment(run_id) == ""
    path.unlink()
    path.mkdir()  # not even a file
    assert run_comments.read_comment(run_id) == ""
    assert run_comments.read_comment("no-such-run") == run_comments.read_comment("../etc") == ""
    with pytest.raises(runs.RunNotFound):
        run_comments.write_comment("no-such-run", "x")
