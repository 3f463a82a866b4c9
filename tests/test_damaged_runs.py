"""Every damaged file of a run, as a hostile attendee or a full disk leaves it: that run reads
as a clear state or message saying which file and what to do, and every other run still lists.
Through the functions the pages and the CLI call."""

from __future__ import annotations

import json

import pytest
from pages_support import copy_of_tiny_run

from dlcore.cli import main
from dlcore.results import summary, trials
from dlcore.results.evaluate import evaluate_run, misclassified, predictions_frame
from dlcore.results.inference import classify_run, load_run_model, run_preparation
from dlcore.spec import DataSpec, Experiment
from dlcore.train import job_queue, jobs
from dlcore.train.runs import (
    BEST,
    DATASET,
    EVALUATION,
    METRICS,
    MODEL,
    PREDICTIONS,
    SPEC,
    STATUS,
    WORKER,
    RunDamaged,
    run_path,
    write_status,
)


@pytest.fixture
def finished(tmp_path_factory):
    """A copy of the shared tiny finished run (model, evaluation, predictions) to damage."""
    return copy_of_tiny_run(tmp_path_factory.getbasetemp())


def _queued(owner: str = "a-0001") -> str:
    return jobs.create_run(Experiment(data=DataSpec("digits"), owner=owner), owner_label="Bo")


def _listed() -> dict[str, dict]:
    return {s["run_id"]: s for s in jobs.list_runs()}


@pytest.mark.parametrize(
    "content",
    [b"[1, 2]", b'"running"', b"null", b'{"status": 5}', b'{"status": "compl', b"\xff\xfe"],
    ids=["list", "string", "null", "wrong-type", "half-written", "not-utf8"],
)
def test_a_damaged_status_lists_as_damaged_beside_the_others(finished, content):
    other = _queued()
    (finished / STATUS).write_bytes(content)
    listed = _listed()
    assert set(listed) == {finished.name, other}
    damaged = listed[finished.name]
    assert damaged["status"] == "damaged"
    assert "status.json is damaged" in damaged["message"] and "Delete the run" in damaged["message"]
    assert damaged["owner"] == jobs.read_spec(finished.name).owner  # from the spec
    assert listed[other]["status"] == "queued"
    # it keeps its model usable: it does not vanish from Evaluate and Classify
    assert [s["run_id"] for s in summary.usable_runs(jobs.list_runs())] == [finished.name]
    assert trials.runs_frame(jobs.list_runs())["status"].tolist().count("damaged") == 1
    assert (finished / STATUS).read_bytes() == content, "reading wrote to the damaged file"


def test_the_owner_deletes_a_damaged_run_and_no_one_else(finished):
    (finished / STATUS).write_text("{")
    owner = jobs.read_spec(finished.name).owner
    with pytest.raises(jobs.PermissionDenied):
        jobs.delete(finished.name, actor="a-someone-else")
    jobs.delete(finished.name, actor=owner)
    assert jobs.list_runs() == []


def test_a_worker_writes_on_over_a_damaged_status(finished):
    (finished / STATUS).write_text("[]")
    write_status(finished, status="completed", message="Finished.")
    assert jobs.status(finished.name)["status"] == "completed"
    assert jobs.status(finished.name)["owner"] == jobs.read_spec(finished.name).owner


@pytest.mark.parametrize(
    "record",
    ['{"pid": "abc"}', '{"pid": -1}', '{"pid": 0}', '{"pid": 99999999999}', "[]", "{", "7"],
)
def test_a_bad_worker_record_makes_that_run_damaged(record):
    run_id, other = _queued(), _queued()
    write_status(run_path(run_id), status="running")
    (run_path(run_id) / WORKER).write_text(record)
    listed = _listed()
    assert listed[run_id]["status"] == "damaged" and "worker.json" in listed[run_id]["message"]
    assert listed[other]["status"] == "queued"
    assert job_queue.queue_position(other) == 1
    jobs.cancel(run_id, actor="a-0001")  # no traceback; nothing to cancel
    assert main(["jobs"]) == 0


@pytest.mark.parametrize(
    "lines",
    [
        [b"\xff\xfe\xfa not utf-8"],
        [b"garbage", b"[1, 2, 3]", b'"text"', b"null", b"{}"],
        [b'{"kind": "epoch", "epoch": "one", "step": 1, "loss": 0.5}'],
        [b'{"kind": "epoch", "epoch": 1, "step": 3, "loss": 0.5, "accuracy": "high"}'],
        [b'{"kind": "epoch", "epoch": 1, "st'],  # cut by a crash
    ],
    ids=["not-utf8", "garbage", "bad-epoch", "bad-accuracy", "cut"],
)
def test_garbled_metrics_lines_are_skipped(finished, lines):
    good = (finished / METRICS).read_bytes()
    (finished / METRICS).write_bytes(good + b"\n".join(lines) + b"\n" + good)
    metrics = jobs.read_metrics(finished.name)
    clean = len(good.splitlines())
    assert len(metrics) == 2 * clean
    assert len(summary.epoch_history(metrics)) == 1


def test_metrics_that_are_all_garbage_read_as_no_metrics(finished):
    (finished / METRICS).write_bytes(b"\xff\n[]\n")
    assert jobs.read_metrics(finished.name).empty
    assert summary.epoch_history(jobs.read_metrics(finished.name)).empty


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda e: e.pop("val"), "its val split is missing"),
        (lambda e: e["val"].pop("confusion_matrix"), "no confusion matrix"),
        (lambda e: e["val"].update(accuracy="high"), "has no accuracy"),
        (lambda e: e.update(classes="0123"), "no list of classes"),
        (lambda e: e.update(test=[1]), "its test split is missing"),
    ],
)
def test_an_evaluation_without_its_split_says_so(finished, change, problem, capsys):
    evaluation = json.loads((finished / EVALUATION).read_text())
    change(evaluation)
    (finished / EVALUATION).write_text(json.dumps(evaluation))
    with pytest.raises(RunDamaged, match=f"evaluation.json is damaged.*{problem}"):
        evaluate_run(finished.name)
    assert main(["evaluate", finished.name]) == 2
    err = capsys.readouterr().err.strip()
    assert "evaluation.json is damaged" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("content", [b"[]", b"{", b"\xff"], ids=["list", "cut", "not-utf8"])
def test_an_evaluation_that_is_not_json_says_so(finished, content):
    (finished / EVALUATION).write_bytes(content)
    with pytest.raises(RunDamaged, match="evaluation.json is damaged"):
        evaluate_run(finished.name)


@pytest.mark.parametrize("cut", [0, 10, 0.5], ids=["empty", "head", "half"])
def test_truncated_predictions_say_so(finished, cut):
    data = (finished / PREDICTIONS).read_bytes()
    size = int(len(data) * cut) if isinstance(cut, float) else cut
    (finished / PREDICTIONS).write_bytes(data[:size])
    with pytest.raises(RunDamaged, match="predictions.npz is damaged"):
        misclassified(finished.name)
    with pytest.raises(RunDamaged, match="predictions.npz is damaged"):
        predictions_frame(finished.name, "test")


def test_predictions_that_do_not_match_the_classes_say_so(finished):
    import numpy as np

    np.savez(finished / PREDICTIONS, val_probabilities=np.ones((3, 2)), val_labels=[0, 1, 9])
    with pytest.raises(RunDamaged, match="do not match the 10 classes"):
        misclassified(finished.name)


@pytest.mark.parametrize("name", [MODEL, BEST])
@pytest.mark.parametrize(
    "content", [b"", b"PK\x03\x04 half a zip", b"not a model"], ids=["empty", "cut", "junk"]
)
def test_a_damaged_model_says_so(finished, name, content, tmp_path, capsys):
    if name == BEST:
        (finished / MODEL).unlink()
    (finished / name).write_bytes(content)
    (finished / EVALUATION).unlink()  # so that evaluating has to load the model
    with pytest.raises(RunDamaged, match=f"{name} is damaged.*Delete the run"):
        load_run_model(finished.name)
    with pytest.raises(RunDamaged, match=f"{name} is damaged"):
        evaluate_run(finished.name)
    from PIL import Image

    image = tmp_path / "digit.png"
    Image.new("L", (8, 8)).save(image)
    with pytest.raises(RunDamaged, match=name):
        classify_run(finished.name, [image])
    assert main(["predict", finished.name, str(image)]) == 2
    assert f"{name} is damaged" in capsys.readouterr().err


def test_a_full_disk_while_evaluating_says_what_to_do(finished, monkeypatch):
    import errno

    from dlcore import LayerLabError
    from dlcore.train import evaluation

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    (finished / EVALUATION).unlink()  # a cancelled run is evaluated when a page asks
    monkeypatch.setattr(evaluation, "atomic_write_bytes", disk_full)
    with pytest.raises(LayerLabError, match="disk is full while saving the run's evaluation"):
        evaluate_run(finished.name)
    assert jobs.status(finished.name)["status"] == "completed"


@pytest.mark.parametrize("content", [b"[]", b"{", b'{"classes": "abc", "settings": {}}'])
def test_a_damaged_dataset_record_says_so(finished, content):
    (finished / DATASET).write_bytes(content)
    with pytest.raises(RunDamaged, match="dataset.json is damaged"):
        run_preparation(finished.name)


def test_a_damaged_spec_lists_and_says_so(finished, capsys):
    other = _queued()
    (finished / SPEC).write_text('{"data": {"dataset": 5}}')
    assert set(_listed()) == {finished.name, other}
    assert trials.runs_frame(jobs.list_runs())["run"].tolist() == [other, finished.name]
    with pytest.raises(RunDamaged, match="spec.json is damaged"):
        jobs.read_spec(finished.name)
    assert main(["evaluate", finished.name]) == 0  # its evaluation is intact


def test_the_cli_lists_damaged_runs(finished, capsys):
    (finished / STATUS).write_text("{")
    assert main(["jobs"]) == 0
    out = capsys.readouterr().out
    assert finished.name in out and "damaged" in out


# --- the pages: a damaged run is a message for that run, never an exception -----------------


def _unescaped(element) -> str:
    """An element's text without the backslashes that escape markdown in it."""
    return element.value.replace("\\", "")


def test_experiments_lists_a_damaged_run_beside_a_good_one(finished, tmp_path_factory):
    from pages_support import OWNER, open_page

    other = _queued()
    (finished / STATUS).write_text('{"status": "compl')
    (run_path(other) / WORKER).write_text('{"pid": "abc"}')
    write_status(run_path(other), status="running")
    at = open_page("experiments", attendee=OWNER)
    assert not at.exception
    table = at.dataframe[0].value
    assert set(table["run"]) == {finished.name, other}
    assert set(table["status"]) == {"damaged"}


def test_evaluate_and_train_say_what_is_damaged(finished):
    from pages_support import OWNER, open_page

    evaluation = json.loads((finished / EVALUATION).read_text())
    del evaluation["val"]
    (finished / EVALUATION).write_text(json.dumps(evaluation))
    (finished / STATUS).write_bytes(b"\xff")
    at = open_page("evaluate", attendee=OWNER)
    assert not at.exception
    assert any("evaluation.json is damaged" in _unescaped(e) for e in at.error)
    at = open_page("train", attendee=OWNER, dataset="digits", run_id=finished.name)
    assert not at.exception
    assert any("status.json is damaged" in _unescaped(w) for w in at.warning)


def test_evaluate_opens_on_truncated_predictions(finished):
    """Regression: misclassified() read the cut predictions.npz outside any try."""
    from pages_support import OWNER, open_page

    data = (finished / PREDICTIONS).read_bytes()
    (finished / PREDICTIONS).write_bytes(data[: len(data) // 2])
    at = open_page("evaluate", attendee=OWNER, run_id=finished.name)
    assert not at.exception
    assert any("predictions.npz is damaged" in _unescaped(e) for e in at.error)
    assert at.metric  # the scores from evaluation.json still show


def test_evaluating_from_a_page_never_writes_the_status(finished):
    """Regression: evaluating a run without an evaluation rebuilt a damaged status.json as
    "running" and lost the damaged marker; only the worker writes a run's status."""
    (finished / EVALUATION).unlink()
    (finished / PREDICTIONS).unlink()
    (finished / STATUS).write_bytes(b'{"status": "compl')
    evaluation = evaluate_run(finished.name)
    assert "val" in evaluation and (finished / EVALUATION).is_file()
    assert (finished / STATUS).read_bytes() == b'{"status": "compl'
    assert jobs.status(finished.name)["status"] == "damaged"
