"""Training jobs: submit, queue, watch, cancel and delete.

Each job is one OS process (``python -m dlcore.worker RUN_DIR``) started in its own session, so
a web page can start it, reload and reattach, and a restarted web server leaves it running. Jobs
wait in a first-come queue for one of a few slots (file locks that the kernel releases if a worker
dies), one per GPU or one on a CPU-only machine by default.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from dlcore import LayerLabError
from dlcore.limits import Limits, load_limits
from dlcore.records import RunStatus
from dlcore.runs import (
    ACTIVE,
    LOG,
    queued_runs,
    read_all_statuses,
    read_metric_rows,
    read_spec,
    read_status,
    record_worker,
    remove_run,
    request_cancel,
    run_path,
    write_new_run,
)
from dlcore.spec import Experiment
from dlcore.storage import (
    NAME_PATTERN,
    cache_dir,
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


def check_submission(experiment: Experiment, limits: Limits, instructor: bool = False) -> None:
    """Refuse, before anything starts, a job the server cannot or should not run. The job
    counts are checked by ``submit``, under the lock that also creates the run."""
    from dlcore.builtin import check_access

    check_access(experiment.data.dataset, experiment.owner, instructor)
    info = dataset_shape(experiment.data.dataset)
    check_training_limits(experiment, info["image_shape"], info["num_classes"], limits)
    used_gb = dir_size(data_home()) / 1e9
    if used_gb > limits.max_disk_gb:
        raise LayerLabError(
            f"The lab's data directory uses {used_gb:.1f} GB, over the limit of "
            f"{limits.max_disk_gb} GB; delete old runs or datasets first."
        )


def check_training_limits(
    experiment: Experiment, image_shape: tuple, num_classes: int, limits: Limits
) -> None:
    """Epochs, batch size, and the network's parameters and memory on images of
    ``image_shape``: checked at submission and again by the worker on the data it loads."""
    from dlcore.model import check_model_size, layer_table

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


def _check_job_counts(owner: str, limits: Limits) -> None:
    """Jobs queued or running, on the server and for ``owner``: call under the submit lock."""
    active = [s for s in read_all_statuses() if s.status in ACTIVE]
    if len(active) >= limits.max_jobs_total:
        raise LayerLabError(
            f"The server already has {len(active)} jobs queued or running (limit "
            f"{limits.max_jobs_total}); wait for some to finish."
        )
    mine = [s for s in active if s.owner == owner]
    if len(mine) >= limits.max_jobs_per_owner:
        raise LayerLabError(
            f"You already have {len(mine)} job(s) queued or running (limit "
            f"{limits.max_jobs_per_owner} per attendee); wait for one to finish or cancel it."
        )


def dataset_shape(name: str) -> dict:
    """Image shape and class count of a dataset, prepared or built-in, without loading it."""
    from dlcore.builtin import BUILTINS
    from dlcore.dataset import read_manifest

    manifest = read_manifest(name) if NAME_PATTERN.match(name) else None
    entry = manifest or BUILTINS.get(name)
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
) -> str:
    """Create the run directory and start its worker process; return the run id at once.

    ``instructor`` may train on any attendee's imported dataset (the CLI is the instructor's).
    ``owner_label`` is the name the owner typed, shown beside the run. The job counts are
    checked and the run created under one lock, so simultaneous clicks cannot pass the limit
    together."""
    limits = limits or load_limits()
    check_submission(experiment, limits, instructor)
    with file_lock("submit"):
        _check_job_counts(experiment.owner, limits)
        run_id = create_run(experiment, owner_label)
    start_worker(run_id)
    return run_id


def create_run(experiment: Experiment, owner_label: str = "") -> str:
    """Write a new queued run directory (atomically) and return its id."""
    run_id = _new_run_id()
    now = time.time()
    status = RunStatus(
        status="queued",
        message="Waiting for a free training slot.",
        owner=experiment.owner,
        owner_label=str(owner_label)[:64],
        dataset=experiment.data.dataset,
        model=experiment.model.preset,
        created=time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now)),
        created_ts=now,
    )
    with staged_dir(runs_dir() / run_id) as tmp:
        write_new_run(tmp, experiment, status)
    return run_id


def start_worker(run_id: str) -> None:
    """Start the worker process of a created run, in its own session."""
    path = run_path(run_id)
    with open(path / LOG, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "dlcore.worker", str(path)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # survives a restart of the web server that started it
            env={
                **os.environ,
                "LAYERLAB_HOME": str(data_home()),
                # the worker imports dlcore from this checkout even where it is not pip-installed
                "PYTHONPATH": os.pathsep.join(
                    filter(
                        None,
                        [str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH")],
                    )
                ),
                # Keras and matplotlib write their caches here, not in $HOME
                "KERAS_HOME": str(cache_dir() / "keras"),
                "MPLCONFIGDIR": str(cache_dir() / "matplotlib"),
                "TF_CPP_MIN_LOG_LEVEL": "2",
                # JAX reserves most GPU memory at import unless told not to: jobs share the GPU
                "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
            },
        )
    record_worker(path, process.pid)


def queue_position(run_id: str) -> int | None:
    """1 for the next job to start, 2 after it...; None if the run is not queued."""
    queued = queued_runs()
    return queued.index(run_id) + 1 if run_id in queued else None


def status(run_id: str) -> dict:
    """The run's status (``RunStatus.to_dict()``), with its place in the queue while it waits.
    A damaged run reads as status "damaged" with a message saying what to do."""
    result = read_status(run_id).to_dict()
    if result["status"] == "queued":
        result["queue_position"] = queue_position(run_id)
    return result


def list_runs(owner: str | None = None) -> list[dict]:
    """Status of every run (newest first), optionally only one owner's; a damaged run lists
    as "damaged" beside the others."""
    statuses = reversed(read_all_statuses())
    return [s.to_dict() for s in statuses if owner is None or s.owner == owner]


def read_metrics(run_id: str) -> pd.DataFrame:
    """The run's metrics log: one row per record, ``kind`` is 'batch' or 'epoch'."""
    rows = [row.to_dict() for row in read_metric_rows(run_id)]
    return pd.DataFrame.from_records(rows) if rows else pd.DataFrame(columns=METRIC_COLUMNS)


def _check_owner(run_id: str, actor: str | None) -> RunStatus:
    current = read_status(run_id)
    if actor is not None and current.owner != actor:
        holder = current.owner_label or ("another attendee" if current.owner else "the instructor")
        raise PermissionDenied(
            f"Run {run_id} belongs to {holder}; only its owner or the instructor can change it."
        )
    return current


def cancel(run_id: str, actor: str | None = None) -> dict:
    """Ask a queued or running job to stop; it keeps its best weights. ``actor`` None = admin."""
    current = _check_owner(run_id, actor)
    if current.status in ACTIVE:
        request_cancel(run_id)
    return status(run_id)


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
    "cancel",
    "delete",
    "list_runs",
    "queue_position",
    "read_metrics",
    "read_spec",
    "status",
    "submit",
    "wait",
]
