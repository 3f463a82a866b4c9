"""Training jobs: submit, queue, watch, cancel and delete.

A submitted job is a queued run directory; the data directory's scheduler (``dlcore.scheduler``,
started on demand in its own session, so a restarted web server leaves it and its jobs running)
starts queued jobs in the fair queue's order (round robin across attendees) as the machine has
room, each in a process of its own forked from a parent with Keras already imported. Waiting
jobs are only files: nothing runs for them until they start. Where a waiting job stands (its
place in the queue, its phase) is ``dlcore.job_queue``.
"""

from __future__ import annotations

import os
import time

import pandas as pd

from dlcore import LayerLabError, attendees, executor, job_queue
from dlcore.executor import (  # the queue's controls are part of the jobs API
    ensure_scheduler,
    pause_queue,
    queue_paused,
    resume_queue,
    stop_scheduler,
    warm_up,
)
from dlcore.fairqueue import next_round
from dlcore.limits import Limits, load_limits
from dlcore.ownership import is_shared as dataset_is_shared
from dlcore.records import RunStatus
from dlcore.run_comments import write_comment
from dlcore.run_outputs import read_metric_rows
from dlcore.runs import (
    ACTIVE,
    DAMAGED,
    read_all_statuses,
    read_spec,
    read_status,
    remove_run,
    request_cancel,
    write_new_run,
)
from dlcore.spec import Experiment
from dlcore.storage import (
    data_home,
    dir_size,
    file_lock,
    runs_dir,
    staged_dir,
)

METRIC_COLUMNS = ["kind", "epoch", "step", "loss", "accuracy", "val_loss", "val_accuracy"]


class PermissionDenied(LayerLabError):
    """An attendee tried to change another attendee's run."""


def _new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + os.urandom(3).hex()


def check_submission(experiment: Experiment, limits: Limits, instructor: bool = False) -> float:
    """Refuse, before anything starts, a job the server cannot or should not run; return its
    estimated training memory (MB). The job counts are checked by ``submit``, under the lock
    that also creates the run."""
    from dlcore.ownership import check_access

    check_access(experiment.data.dataset, experiment.owner, instructor)
    info = dataset_shape(experiment.data.dataset)
    memory_mb = check_training_limits(experiment, info["image_shape"], info["num_classes"], limits)
    if experiment.training.from_run:  # a run its owner may use, whose layers fit this network
        from dlcore.transfer import check_source

        check_source(experiment, info["image_shape"], instructor)
    elif experiment.model.backbone:  # never a download while training: the cache or nothing
        from dlcore.transfer import missing_weights_message, weights_available

        if not weights_available(experiment.model.backbone):
            raise LayerLabError(missing_weights_message(experiment.model.backbone))
    used_gb = dir_size(data_home()) / 1e9
    if used_gb > limits.max_disk_gb:
        raise LayerLabError(
            f"The lab's data directory uses {used_gb:.1f} GB, over the limit of "
            f"{limits.max_disk_gb} GB; delete old runs or datasets first."
        )
    return memory_mb


def check_training_limits(
    experiment: Experiment, image_shape: tuple, num_classes: int, limits: Limits
) -> float:
    """Epochs, batch size, and the network's parameters and memory on images of
    ``image_shape``: checked at submission and again by the worker on the data it loads.
    Returns the estimated training memory in MB, which places the job on a GPU."""
    from dlcore.layer_table import check_model_size, estimate_training_memory_mb, layer_table

    if experiment.training.epochs > limits.max_epochs:
        raise LayerLabError(
            f"{experiment.training.epochs} epochs is over this server's limit of "
            f"{limits.max_epochs}; choose fewer epochs."
        )
    if experiment.training.batch_size > limits.max_batch_size:
        raise LayerLabError(
            f"Batch size {experiment.training.batch_size} is over the limit of "
            f"{limits.max_batch_size}; choose a smaller batch."
        )
    rows = layer_table(experiment.model, tuple(image_shape), int(num_classes))
    check_model_size(
        rows,
        limits,
        batch_size=experiment.training.batch_size,
        max_memory_mb=limits.max_training_memory_mb,
    )
    return estimate_training_memory_mb(rows, experiment.training.batch_size)


def _check_job_counts(
    owner: str, limits: Limits, statuses: list[RunStatus], sweep: str | None = None
) -> None:
    """Jobs queued or running, on the server and for ``owner``: call under the submit lock.
    The server's limit counts runs; the attendee's counts a sweep's runs as one job, so the
    next run of a sweep already counted (``sweep``) passes it."""
    active = [s for s in statuses if s.status in ACTIVE]
    if len(active) >= limits.max_jobs_total:
        raise LayerLabError(
            f"The server already has {len(active)} jobs queued or running (limit "
            f"{limits.max_jobs_total}); wait for some to finish."
        )
    mine = {s.sweep or s.run_id for s in active if s.owner == owner}  # a sweep is one job
    if sweep not in mine and len(mine) >= limits.max_jobs_per_owner:
        raise LayerLabError(
            f"You already have {len(mine)} job(s) queued or running (limit "
            f"{limits.max_jobs_per_owner} per attendee; a sweep counts as one); wait for one to "
            "finish or cancel it."
        )


def dataset_shape(name: str) -> dict:
    """Image shape and class count of a dataset, prepared or built-in, without loading it."""
    from dlcore.catalogue import describe_dataset

    entry = describe_dataset(name)
    if entry is None:
        raise LayerLabError(
            f"No dataset named {name!r}; choose one from `dlcore datasets` or import your own."
        )
    num_classes = len(entry["classes"]) if entry.get("classes") else entry["num_classes"]
    return {"image_shape": tuple(entry["image_shape"]), "num_classes": int(num_classes)}


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
    together. ``sweep`` and ``sweep_values`` tag a run of a sweep (``dlcore.sweep``)."""
    executor.check_executor()  # settings that cannot run a job: refused before the run exists
    limits = limits or load_limits()
    memory_mb = check_submission(experiment, limits, instructor)
    with file_lock("submit"):
        statuses = read_all_statuses()
        _check_job_counts(experiment.owner, limits, statuses, sweep)
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
