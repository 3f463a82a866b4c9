"""Training jobs: what they log, keep, cancel and refuse; and, in real OS processes, what only
processes can show: a job outlives the server that started it, SIGKILL reads as interrupted,
the queue starts jobs in its fair order, a waiting job has no process, an idle scheduler exits.

A job that needs no process boundary trains in this process (``train_now``). The process tests
share one data directory (``served``) and so one scheduler: Keras is imported once for them
all, and each of their jobs is a fork of that warm scheduler, as on a real server."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from training_support import train_now

from dlcore import LayerLabError
from dlcore.data.npz_import import import_npz
from dlcore.data.ownership import PrivateDataset
from dlcore.limits import Limits
from dlcore.results.evaluate import evaluate_run
from dlcore.spec import ConvBlock, DataSpec, DenseLayer, Experiment, ModelSpec, TrainSpec
from dlcore.train import job_queue, jobs
from dlcore.train.runs import run_path

ROOT = Path(__file__).resolve().parents[1]


def tiny(epochs: int = 2, owner: str = "ada", images: int = 0, **training) -> Experiment:
    """A small network on the 8x8 digits; ``images``: train on that many only (0: all)."""
    model = ModelSpec(
        preset="custom", conv_blocks=(ConvBlock(filters=8),), dense_layers=(DenseLayer(16),)
    )
    settings = {"epochs": epochs, "batch_size": 32, **training}
    return Experiment(
        data=DataSpec(dataset="digits", max_train_images=images),
        model=model,
        training=TrainSpec(**settings),
        owner=owner,
    )


def wait_until(predicate, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.2)


@contextlib.contextmanager
def data_home(home: Path):
    before = os.environ.get("LAYERLAB_HOME")
    os.environ["LAYERLAB_HOME"] = str(home)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("LAYERLAB_HOME", None)
        else:
            os.environ["LAYERLAB_HOME"] = before


STAND_IN_SERVER = textwrap.dedent(
    """
    import signal, sys, time
    from dlcore.train import jobs
    from dlcore.spec import Experiment

    # Ctrl+C stops it, as it stops Streamlit's server, even where the tests were started with
    # SIGINT ignored (a background job of a shell): the scheduler must survive it on its own.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    print(jobs.submit(Experiment.from_json(sys.argv[1])), flush=True)
    time.sleep(300)
    """
)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A data directory whose scheduler a stand-in for the Streamlit server started by
    submitting a job; then the server's whole process group got Ctrl+C (SIGINT), as when the
    server is stopped in its terminal. Yields (home, the job's final status, the server's exit
    code, the server's pid). The other process tests queue their jobs here too."""
    home = tmp_path_factory.mktemp("served")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAYERLAB_MAX_")}
    env["LAYERLAB_HOME"] = str(home)
    env["LAYERLAB_SCHEDULER_IDLE_S"] = "900"  # waits for the tests that share it; stopped after
    process = subprocess.Popen(
        [sys.executable, "-c", STAND_IN_SERVER, tiny(epochs=1).to_json()],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, like a server started in a terminal
    )
    run_id = process.stdout.readline().strip()
    os.killpg(process.pid, signal.SIGINT)
    code = process.wait(timeout=30)
    process.stdout.close()
    assert run_id, "the stand-in server printed no run id"
    with data_home(home):
        final = jobs.wait(run_id, timeout=180)
    yield home, final, code, process.pid
    with data_home(home):
        jobs.stop_scheduler()


@pytest.fixture
def on_served(served, monkeypatch):
    """This test works in the served data directory (its scheduler is warm); ``limits.toml``
    written there and a paused queue last only for the test."""
    home = served[0]
    monkeypatch.setenv("LAYERLAB_HOME", str(home))
    yield home
    (home / "limits.toml").unlink(missing_ok=True)
    if (home / "queue" / "paused").exists():
        jobs.resume_queue()


def test_job_outlives_the_web_server_that_started_it(served):
    _home, final, server_exit, server_pid = served
    assert server_exit != 0  # the "server" is gone
    assert final["status"] == "completed", final
    assert final["pid"] != server_pid


def test_same_spec_gives_same_result_in_any_process(served):
    """The same experiment, trained here, logs exactly the loss its worker process logged
    (the owner is no part of the result)."""
    here = train_now(tiny(epochs=1, owner="b"))
    with data_home(served[0]):
        there = jobs.read_metrics(served[1]["run_id"])
    loss = [m.query("kind == 'epoch'")["loss"].iloc[0] for m in (jobs.read_metrics(here), there)]
    assert loss[0] == loss[1]


def test_job_trains_logs_and_evaluates():
    run_id = train_now(tiny(epochs=3))
    final = jobs.status(run_id)
    assert final["status"] == "completed", final
    assert final["device"] == "CPU" and final["owner"] == "ada"
    path = run_path(run_id)
    for name in ("spec.json", "dataset.json", "metrics.jsonl", "best.keras", "model.keras"):
        assert (path / name).is_file(), name
    metrics = jobs.read_metrics(run_id)
    epochs = metrics[metrics["kind"] == "epoch"]
    assert list(epochs["epoch"]) == [1, 2, 3]
    assert epochs["loss"].iloc[-1] < epochs["loss"].iloc[0]
    assert {"val_loss", "val_accuracy", "images_per_second", "eta"} <= set(metrics.columns)
    assert (metrics["kind"] == "batch").any()
    evaluation = evaluate_run(run_id)
    assert evaluation["val"]["accuracy"] == pytest.approx(final["val_accuracy"])
    assert evaluation["val"]["accuracy"] > 0.5
    assert evaluation["test"]["accuracy"] == pytest.approx(final["test_accuracy"])
    assert not list(path.glob("*.tmp*")), "no temporary files left behind"


def test_cancel_keeps_best_weights_and_only_owner_may_cancel(on_served):
    run_id = jobs.submit(tiny(epochs=100, owner="c-ada"), owner_label="Ada L.")
    wait_until(lambda: jobs.status(run_id).get("best_epoch"))
    with pytest.raises(jobs.PermissionDenied, match="belongs to Ada L.") as refused:
        jobs.cancel(run_id, actor="mallory")
    assert "'c-ada'" not in str(refused.value)  # the label is shown, never the owner id
    jobs.cancel(run_id, actor="c-ada")
    final = jobs.wait(run_id, timeout=60)
    assert final["status"] == "cancelled"
    assert "best weights" in final["message"]
    assert (run_path(run_id) / "model.keras").is_file()
    assert evaluate_run(run_id)["val"]["num_images"] > 0
    jobs.delete(run_id, actor="c-ada")
    assert run_id not in [r["run_id"] for r in jobs.list_runs()]


def test_killed_worker_reads_interrupted_and_checkpoint_is_usable(on_served):
    run_id = jobs.submit(tiny(epochs=100, owner="k-ada"))
    wait_until(lambda: jobs.status(run_id).get("best_epoch"))
    os.kill(jobs.status(run_id)["pid"], signal.SIGKILL)
    wait_until(lambda: jobs.status(run_id)["status"] != "running", timeout=10)
    assert jobs.status(run_id)["status"] == "interrupted"
    assert evaluate_run(run_id)["val"]["accuracy"] > 0.2  # the best checkpoint has learned


def test_queue_is_round_robin_across_attendees(on_served):
    """One slot; ada submits two jobs before bob and cy submit theirs: every attendee's first
    job starts before anyone's second, and the order is visible while they wait."""
    (on_served / "limits.toml").write_text("max_concurrent_jobs = 1\nmax_jobs_per_owner = 5\n")
    jobs.pause_queue()
    ada = [jobs.submit(tiny(epochs=1, owner="q-ada", images=64)) for _ in range(2)]
    bob = jobs.submit(tiny(epochs=1, owner="q-bob", images=64))
    cy = jobs.submit(tiny(epochs=1, owner="q-cy", images=64))
    expected = [ada[0], bob, cy, ada[1]]
    assert job_queue.queue_order() == expected
    time.sleep(1.0)  # paused: nothing starts
    states = {s["run_id"]: s for s in jobs.list_runs()}
    assert all(states[r]["status"] == "queued" for r in expected)
    assert [states[r]["ahead"] for r in expected] == [0, 1, 2, 3]
    assert states[ada[0]]["phase"] == "queued"  # paused, so not starting
    jobs.resume_queue()
    for run_id in expected:
        assert jobs.wait(run_id, timeout=240)["status"] == "completed"
    started = [jobs.status(r)["started_ts"] for r in expected]
    assert started == sorted(started)


def test_a_queued_job_waits_without_a_process_and_cancels_at_once(on_served):
    (on_served / "limits.toml").write_text("max_concurrent_jobs = 1\n")
    first = jobs.submit(tiny(epochs=30, owner="w-ada"))
    second = jobs.submit(tiny(epochs=1, owner="w-bob"))
    wait_until(lambda: jobs.status(first)["status"] == "running")
    waiting = jobs.status(second)
    assert (waiting["status"], waiting["phase"], waiting["ahead"]) == ("queued", "queued", 0)
    assert waiting["pid"] is None and not (run_path(second) / "worker.json").exists()
    assert jobs.cancel(second, actor="w-bob")["status"] == "cancelled"
    assert jobs.cancel(first)["status"] in ("running", "cancelled")
    assert jobs.wait(first, timeout=120)["status"] == "cancelled"
    assert jobs.status(second)["started"] is None  # it never started


def test_nan_loss_stops_training_with_advice(tmp_path):
    from dlcore.train.worker import Diverged, make_progress_callback

    callback = make_progress_callback(tmp_path, tiny(learning_rate=0.5), num_train=64)
    callback.on_train_begin()
    callback.on_epoch_begin(0)
    callback.on_train_batch_end(0, {"loss": 2.3, "accuracy": 0.1})
    with pytest.raises(Diverged, match=r"learning rate 0.5 is too high.*Try 0.05"):
        callback.on_train_batch_end(1, {"loss": float("nan"), "accuracy": 0.1})


def test_limits_refuse_before_anything_starts():
    with pytest.raises(LayerLabError, match="epochs"):
        jobs.submit(tiny(epochs=50), limits=Limits(max_epochs=10))
    with pytest.raises(LayerLabError, match="parameters|params"):
        jobs.submit(tiny(), limits=Limits(max_model_params=100))
    with pytest.raises(LayerLabError, match="No dataset named"):
        jobs.submit(Experiment(data=DataSpec(dataset="nope")))
    assert jobs.list_runs() == []


def test_an_attendee_cannot_train_on_another_attendees_dataset():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, size=(40, 8, 8), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, x_train=x, y_train=np.repeat(np.arange(2), 20))
    import_npz(buffer.getvalue(), "adas-photos", owner="ada", owner_label="ada")
    spec = Experiment(data=DataSpec(dataset="adas-photos"), owner="bob")
    with pytest.raises(PrivateDataset, match="belongs to ada"):
        jobs.submit(spec)
    assert jobs.list_runs() == []


def test_listing_survives_a_run_deleted_while_it_reads(monkeypatch):
    from dlcore.train import runs

    kept, gone = (jobs.create_run(tiny(owner=name)) for name in ("a", "b"))
    real = runs.list_run_ids
    monkeypatch.setattr(runs, "list_run_ids", lambda: real() + ["20990101-000000-vanished"])
    assert {s["run_id"] for s in jobs.list_runs()} == {kept, gone}


def test_simultaneous_submits_never_pass_the_job_limits(monkeypatch):
    """Six clicks at the same instant by one attendee whose limit is 2: exactly 2 runs."""
    import threading

    monkeypatch.setattr(
        jobs, "ensure_scheduler", lambda **options: None
    )  # queued runs suffice here
    limits = Limits(max_jobs_per_owner=2)
    start, results = threading.Barrier(6), []

    def click() -> None:
        start.wait()
        try:
            results.append(jobs.submit(tiny(owner="a-ada"), limits=limits, owner_label="Ada"))
        except LayerLabError as error:
            results.append(error)

    threads = [threading.Thread(target=click) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    accepted = [r for r in results if isinstance(r, str)]
    refused = [r for r in results if not isinstance(r, str)]
    assert len(accepted) == 2 and len(refused) == 4
    assert all("limit 2 per attendee" in str(error) for error in refused)
    assert sorted(s["run_id"] for s in jobs.list_runs()) == sorted(accepted)
    assert {s["owner_label"] for s in jobs.list_runs()} == {"Ada"}


def test_simultaneous_submits_never_pass_the_server_limit(monkeypatch):
    import threading

    monkeypatch.setattr(jobs, "ensure_scheduler", lambda **options: None)
    limits = Limits(max_jobs_total=3)
    start, results = threading.Barrier(6), []

    def click(owner: str) -> None:
        start.wait()
        try:
            results.append(jobs.submit(tiny(owner=owner), limits=limits))
        except LayerLabError as error:
            results.append(error)

    threads = [threading.Thread(target=click, args=(f"a-{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(jobs.list_runs()) == 3
    assert sum(isinstance(r, str) for r in results) == 3


def test_an_idle_scheduler_exits_and_the_next_submit_starts_another(monkeypatch):
    from dlcore.train import executor

    monkeypatch.setenv("LAYERLAB_SCHEDULER_IDLE_S", "1")
    jobs.ensure_scheduler(wait=True)
    first = executor.read_state()["pid"]
    wait_until(lambda: not executor.poke(), timeout=60)  # idle: gone, its FIFO closed
    assert executor.read_state() == {}
    jobs.submit(tiny(epochs=1, images=64))
    # A new scheduler takes the job (that a scheduler trains its jobs is the tests above).
    wait_until(lambda: executor.read_state().get("pid") not in (None, first), timeout=60)


def test_only_the_owner_or_the_instructor_may_comment_a_run():
    run_id = jobs.create_run(Experiment(data=DataSpec("digits"), owner="a-ada"), owner_label="Ada")
    assert jobs.comment(run_id, "lr 0.01: faster", actor="a-ada") == "lr 0.01: faster"
    with pytest.raises(jobs.PermissionDenied, match="only its owner or the instructor"):
        jobs.comment(run_id, "mine now", actor="a-bob")
    assert jobs.comment(run_id, "checked", actor=None) == "checked"  # the instructor
    shared = jobs.create_run(Experiment(data=DataSpec("digits")))  # the instructor's own
    with pytest.raises(jobs.PermissionDenied):
        jobs.comment(shared, "x", actor="a-ada")
