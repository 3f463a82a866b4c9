"""Training in the test's own process, as a job's worker process would train: the way tests get
a finished run without a scheduler and a worker process (each new scheduler costs a Keras
import, ~15 s on a busy 2-core machine). Keep real processes for what only they can show: a job
outliving the server that started it, SIGKILL reading as interrupted, the queue's order (see
test_jobs.py).

- ``train_now(experiment)``: a finished run, trained here.
- ``train_queued_here``: a stand-in for ``jobs.ensure_scheduler`` that trains every queued run
  here, at once, so ``jobs.submit`` (the CLI, a page's Start button) returns a finished run; the
  conftest's ``jobs_train_here`` fixture puts it in place."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from dlcore.spec import Experiment


def started_run(experiment: Experiment, owner_label: str = "") -> Path:
    """A new run of ``experiment`` in the current LAYERLAB_HOME, recorded as started with this
    process as its worker, as the scheduler records a job it starts; returns its directory."""
    from dlcore.train import jobs
    from dlcore.train.runs import run_path

    path = run_path(jobs.create_run(experiment, owner_label=owner_label))
    _record_start(path)
    return path


def _record_start(path: Path) -> None:
    from dlcore.train.runs import record_worker, write_status

    record_worker(path, os.getpid())  # this process is the run's worker, alive throughout
    now = time.time()
    write_status(
        path,
        status="running",
        message="Starting.",
        pid=os.getpid(),
        executor="local",
        node=socket.gethostname(),
        started=time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now)),
        started_ts=now,
    )


def train_now(experiment: Experiment, owner_label: str = "", expect: int = 0) -> str:
    """Create a run of ``experiment`` in the current LAYERLAB_HOME and train it here, now, as
    its worker would; return the run id. ``expect``: the worker's exit code (0: it completed,
    or was cancelled; 1: it failed, with the reason in its status)."""
    from dlcore.train import jobs, worker

    path = started_run(experiment, owner_label)
    code = worker.run_job(path)
    assert code == expect, jobs.status(path.name)
    return path.name


def train_queued_here(**_options: object) -> None:
    """Train every queued run of this data directory in this process, in the fair queue's
    order, now (a queued run with a cancel request is cancelled; a paused queue starts
    nothing): what the scheduler would do, without its process."""
    from dlcore.train import executor, job_queue, jobs, worker
    from dlcore.train.runs import cancel_requested, run_path

    if jobs.queue_paused():
        return
    for run_id in job_queue.queue_order():
        path = run_path(run_id)
        if cancel_requested(path):
            executor.cancel_queued(run_id)
            continue
        _record_start(path)
        worker.run_job(path)
