"""Training jobs: submit, queue, watch, cancel and delete.

A submitted job is a queued run directory; the data directory's scheduler
(``dlcore.train.scheduler``, started on demand in its own session, so a restarted web server leaves
it and its jobs running) starts queued jobs in the fair queue's order (round robin across
attendees) as the machine has room, each in a process of its own forked from a parent with Keras
already imported. Waiting jobs are only files: nothing runs for them until they start. Where a
waiting job stands (its place in the queue, its phase) is ``dlcore.train.job_queue``.
"""

from __future__ import annotations

import os
import time

import pandas as pd

from dlcore import LayerLabError, attendees
from dlcore.data.ownership import is_shared as dataset_is_shared
from dlcore.limits import Limits, load_limits
from dlcore.spec import Experiment
from dlcore.storage import (
    file_lock,
    runs_dir,
    staged_dir,
)
from dlcore.train import executor, job_queue
from dlcore.train.admission import check_job_counts, check_submission
from dlcore.train.executor import (  # the queue's controls are part of the jobs API
    ensure_scheduler,
    pause_queue,
    queue_paused,
    resume_queue,
    stop_scheduler,
    warm_up,
)
from dlcore.train.fairqueue import next_round
from dlcore.train.records import RunStatus
from dlcore.train.run_comments import write_comment
from dlcore.train.run_outputs import read_metric_rows
from dlcore.train.runs import (
    ACTIVE,
    DAMAGED,
    read_all_statuses,
    read_spec,
    read_status,
    remove_run,
    request_cancel,
    write_new_run,
)

METRIC_COLUMNS = ["kind", "epoch", "step", "loss", "accuracy", "val_loss", "val_accuracy"]


class PermissionDenied(LayerLabError):
    """An attendee tried to change another attendee's run."""


def _new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + os.urandom(3).hex()


def submit(
    experiment: Experiment,
    limits: Limits | None = None,
    instructor: bool = False,
    owner_label: str = "",
    sweep: str | None = None,
    sweep_values: dict | None = None,
) -> str:
    """Create the run directory, queue it and wake the scheduler; return the run id at once.

    ``instructor`` may train on any attendee's imported dataset (the CLI is the instructor's).
    ``owner_label`` is the name the owner typed, shown beside the run. The job counts are
    checked and the run created under one lock, so simultaneous clicks cannot pass the limit
    together. ``sweep`` and ``sweep_values`` tag a run of a sweep (``dlcore.train.sweep``)."""
    executor.check_executor()  # settings that cannot run a job: refused before the run exists
    limits = limits or load_limits()
    memory_mb = check_submission(experiment, limits, instructor)
    with file_lock("submit"):
        statuses = read_all_statuses()
        check_job_counts(experiment.owner, limits, statuses, sweep)
        queue_round = next_round(experiment.owner, statuses)
        tags = {"sweep": sweep, "sweep_values": sweep_values}
        run_id = create_run(experiment, owner_label, memory_mb, queue_round, **tags)
    ensure_scheduler()
    return run_id


def create_run(
    experiment: Experiment,
    owner_label: str = "",
    memory_mb: float = 0.0,
    queue_round: int = 0,
    sweep: str | None = None,
    sweep_values: dict | None = None,
) -> str:
    """Write a new queued run directory (atomically) and return its id."""
    run_id = _new_run_id()
    now = time.time()
    status = RunStatus(
        status="queued",
        message="Waiting in the queue.",
        owner=experiment.owner,
        owner_label=attendees.clean_label(owner_label),
        dataset=experiment.data.dataset,
        dataset_shared=dataset_is_shared(experiment.data.dataset),
        model=experiment.model.preset,
        created=time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now)),
        created_ts=now,
        memory_mb=round(float(memory_mb), 1),
        queue_round=queue_round,
        sweep=sweep,
        sweep_values=sweep_values,
    )
    with staged_dir(runs_dir() / run_id) as tmp:
        write_new_run(tmp, experiment, status)
    return run_id


def status(run_id: str) -> dict:
    """The run's status (``RunStatus.to_dict()``), with its place in the queue while it waits
    (``queue_position``, ``ahead``) and its ``phase``. A damaged run reads as status "damaged"
    with a message saying what to do. Only a queued run reads the other runs (the queue)."""
    own = read_status(run_id)
    if own.status != "queued":
        return job_queue.with_queue(own.to_dict(), [], free_slot=False)
    statuses = read_all_statuses()
    order, free = job_queue.fair_queue(statuses), job_queue.free_slot(statuses)
    return job_queue.with_queue(own.to_dict(), order, free)


def list_runs(owner: str | None = None) -> list[dict]:
    """Status of every run (newest first), optionally only one owner's, each with its queue
    position and phase; a damaged run lists as "damaged" beside the others."""
    statuses = read_all_statuses()
    order, free = job_queue.fair_queue(statuses), job_queue.free_slot(statuses)
    return [
        job_queue.with_queue(s.to_dict(), order, free)
        for s in reversed(statuses)
        if owner is None or s.owner == owner
    ]


def read_metrics(run_id: str) -> pd.DataFrame:
    """The run's metrics log: one row per record, ``kind`` is 'batch' or 'epoch'."""
    rows = [row.to_dict() for row in read_metric_rows(run_id)]
    return pd.DataFrame.from_records(rows) if rows else pd.DataFrame(columns=METRIC_COLUMNS)


def _check_owner(run_id: str, actor: str | None) -> RunStatus:
    current = read_status(run_id)
    if actor is not None and not attendees.may_change(current.owner, actor):
        holder = attendees.owner_label(current.to_dict())
        raise PermissionDenied(
            f"Run {run_id} belongs to {holder}; only its owner or the instructor can change it."
        )
    return current


def cancel(run_id: str, actor: str | None = None) -> dict:
    """Ask a queued or running job to stop; it keeps its best weights. ``actor`` None = admin."""
    current = _check_owner(run_id, actor)
    if current.status in ACTIVE or current.status == DAMAGED:
        request_cancel(run_id)  # a running job stops at its next batch, keeping its best weights
    if current.status == "queued":
        with file_lock("queue"):  # the scheduler starts queued jobs under the same lock
            if read_status(run_id).status == "queued":
                executor.cancel_queued(run_id)
        executor.poke()
    return status(run_id)


def comment(run_id: str, text: str, actor: str | None = None) -> str:
    """Set the run's comment (plain text, at most ``run_comments.MAX_COMMENT`` characters; "" clears
    it) and return it as stored. Only its owner or the instructor (``actor`` None) may."""
    _check_owner(run_id, actor)
    return write_comment(run_id, text)


def delete(run_id: str, actor: str | None = None) -> None:
    """Remove a finished (or damaged) run's directory; an active one must be cancelled first."""
    current = _check_owner(run_id, actor)
    if current.status in ACTIVE:
        raise LayerLabError(f"Run {run_id} is {current.status}; cancel it before deleting it.")
    remove_run(run_id)


def wait(run_id: str, timeout: float | None = None, poll: float = 0.5, on_update=None) -> dict:
    """Block until the run finishes (or ``timeout`` seconds); returns its final status."""
    start = time.monotonic()
    while True:
        current = status(run_id)
        if on_update is not None:
            on_update(current)
        if current["status"] not in ACTIVE:
            return current
        if timeout is not None and time.monotonic() - start > timeout:
            return current
        time.sleep(poll)


__all__ = [
    "PermissionDenied",
    "ensure_scheduler",
    "pause_queue",
    "queue_paused",
    "resume_queue",
    "stop_scheduler",
    "warm_up",
    "cancel",
    "comment",
    "delete",
    "list_runs",
    "read_metrics",
    "read_spec",
    "status",
    "submit",
    "wait",
]
