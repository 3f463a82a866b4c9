"""Admission: what a training job must pass before it is queued, and again before it trains.
The dataset is one its owner may use; the network, its memory and the training settings are
within this server's limits; a transfer source or backbone is there; the data directory has room;
and the server and the attendee have fewer jobs than their limits. Policy, read from the limits
where it is enforced (``dlcore.train.jobs.submit`` and the worker call these)."""

from __future__ import annotations

from dlcore import LayerLabError
from dlcore.limits import Limits
from dlcore.spec import Experiment
from dlcore.storage import data_home, dir_size
from dlcore.train.records import RunStatus
from dlcore.train.runs import ACTIVE


def check_submission(experiment: Experiment, limits: Limits, instructor: bool = False) -> float:
    """Refuse, before anything starts, a job the server cannot or should not run; return its
    estimated training memory (MB). The job counts are checked by ``submit``, under the lock
    that also creates the run."""
    from dlcore.data.ownership import check_access

    check_access(experiment.data.dataset, experiment.owner, instructor)
    info = dataset_shape(experiment.data.dataset)
    memory_mb = check_training_limits(experiment, info["image_shape"], info["num_classes"], limits)
    if experiment.training.from_run:  # a run its owner may use, whose layers fit this network
        from dlcore.train.transfer import check_source

        check_source(experiment, info["image_shape"], instructor)
    elif experiment.model.backbone:  # never a download while training: the cache or nothing
        from dlcore.model.backbones import missing_weights_message, weights_available

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
    from dlcore.model.layer_table import check_model_size, estimate_training_memory_mb, layer_table

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


def check_job_counts(
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
    from dlcore.data.catalogue import describe_dataset

    entry = describe_dataset(name)
    if entry is None:
        raise LayerLabError(
            f"No dataset named {name!r}; choose one from `dlcore datasets` or import your own."
        )
    num_classes = len(entry["classes"]) if entry.get("classes") else entry["num_classes"]
    return {"image_shape": tuple(entry["image_shape"]), "num_classes": int(num_classes)}
