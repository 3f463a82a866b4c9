"""The training process: ``python -m dlcore.train.worker RUN_DIR``.

The scheduler forks one process per job from its warm parent and calls ``run_job``: it trains
the run's Experiment and writes everything into the run directory: status, metrics every few
batches and every epoch, the best checkpoint, the final model and its evaluation.
"""

from __future__ import annotations

import math
import os
import resource
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from dlcore import LayerLabError
from dlcore.limits import load_limits
from dlcore.model.layer_table import layer_table, table_totals
from dlcore.spec import Experiment
from dlcore.train.callbacks import (  # noqa: F401 - Diverged: part of the worker's interface
    Cancelled,
    Diverged,
    Float32Twin,
    make_early_stopping,
    make_filter_callback,
    make_progress_callback,
)
from dlcore.train.run_outputs import read_model
from dlcore.train.runs import (
    BEST,
    MODEL,
    cancel_requested,
    read_spec,
    read_status,
    write_dataset_info,
    write_status,
)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


def training_subset(x: np.ndarray, y: np.ndarray, limit: int, seed: int):
    """The training images a run uses: all of them, or ``limit`` picked with ``seed`` and kept
    in their original order (the exported script trains on exactly these)."""
    if not limit or limit >= len(y):
        return x, y
    keep = np.sort(np.random.default_rng(seed).permutation(len(y))[:limit])
    return x[keep], y[keep]


def job_precision(experiment: Experiment, image_shape: tuple, num_classes: int) -> str:
    """The precision a job of ``experiment`` trains in here ("float32" or "bfloat16"): its
    spec's choice, "auto" resolved for this device and the network's arithmetic per image."""
    from dlcore import backend

    rows = layer_table(experiment.model, image_shape, num_classes, experiment.augment)
    return backend.training_precision(
        experiment.training.precision, table_totals(rows)["connections"]
    )


def train(path: Path) -> None:
    """Train the run in ``path`` (the slot is already held)."""
    from dlcore import backend
    from dlcore.data.catalogue import load_dataset
    from dlcore.data.images import PrepSettings
    from dlcore.model.backbones import backbone_layer_name
    from dlcore.model.build import build_model
    from dlcore.train.admission import check_training_limits
    from dlcore.train.evaluation import evaluate_model
    from dlcore.train.transfer import reuse_weights

    experiment = read_spec(path.name)
    device = backend.configure(experiment.training.seed)
    write_status(path, status="running", message="Loading the dataset.", device=device)
    dataset = load_dataset(experiment.data.dataset)
    # Again, on the data actually loaded: it may have been re-imported while the job waited.
    check_training_limits(experiment, dataset.image_shape, dataset.num_classes, load_limits())
    height, width, channels = dataset.image_shape
    settings = (
        dataset.manifest.get("settings")
        or PrepSettings(
            color_mode="grayscale" if channels == 1 else "color", width=width, height=height
        ).to_dict()
    )
    write_dataset_info(
        path,
        {
            "name": dataset.name,
            "classes": dataset.classes,
            "image_shape": list(dataset.image_shape),
            "settings": settings,
            "digits": bool(dataset.manifest.get("digits", False)),
        },
    )
    x_train, y_train = training_subset(
        dataset.x_train, dataset.y_train, experiment.data.max_train_images, experiment.training.seed
    )
    training = experiment.training
    network = (experiment.model, dataset.image_shape, dataset.num_classes, experiment.augment)
    precision = job_precision(experiment, dataset.image_shape, dataset.num_classes)
    # Saved models are float32 whatever the precision: a float32 twin takes the weights.
    validation = (dataset.x_val, dataset.y_val)
    twin = Float32Twin(network, validation, training.batch_size) if precision != "float32" else None
    with backend.precision_policy(precision):
        # a backbone's weights then come from that run
        model = build_model(*network, pretrained=not training.from_run)
        if training.from_run:
            reused = reuse_weights(model, training.from_run)
        else:
            backbone = experiment.model.backbone
            reused = [backbone_layer_name(backbone)] if backbone else []
        write_status(
            path,
            message="Training: the curves below grow with every batch and epoch."
            + _reuse_note(reused, training.from_run, min(training.freeze_epochs, training.epochs))
            + (f" It computes in {precision}; the saved network is float32." if twin else ""),
            started=_now(),
            num_params=int(model.count_params()),
            num_train=len(y_train),
        )
        cancelled = _fit(path, experiment, model, reused, (x_train, y_train), validation, twin)
        _save_final_model(path, model, twin)
    if cancelled:
        epochs = read_status(path.name).best_epoch
        kept = f"the best weights (epoch {epochs}) are kept" if epochs else "no epoch finished"
        write_status(path, status="cancelled", message=f"Cancelled; {kept}.", ended=_now())
        return
    write_status(path, message="Evaluating on the validation and test images.")
    final = read_model(path.name)
    evaluate_model(final, dataset, path)
    write_status(path, status="completed", message="Finished.", ended=_now())


def _fit(path: Path, experiment: Experiment, model, reused, train_data, validation, twin) -> bool:
    """Train ``model`` with the run's callbacks; True when the attendee cancelled. Early stopping
    watches the validation accuracy, as the best checkpoint does: it only decides when to stop,
    and the weights kept are always the best checkpoint's. With a float32 ``twin`` the twin
    validates, in place of Keras's validation in bfloat16."""
    from dlcore.model.build import conv_layer_names
    from dlcore.train.transfer import fit_in_phases

    training = experiment.training
    x_train, y_train = train_data
    callbacks = [make_progress_callback(path, experiment, len(y_train), twin)]
    convolutions = conv_layer_names(model)
    if convolutions:
        callbacks.append(make_filter_callback(path, convolutions[0]))
    if training.early_stopping_patience:
        callbacks.append(make_early_stopping(training.early_stopping_patience))
    try:
        fit_in_phases(
            model,
            reused,
            training,
            math.ceil(len(y_train) / training.batch_size),
            callbacks,
            x=x_train,
            y=y_train,
            batch_size=training.batch_size,
            validation_data=None if twin else validation,
            shuffle=True,
            verbose=0,
        )
    except Cancelled:
        return True
    return False


def _reuse_note(reused: list[str], from_run: str, frozen: int) -> str:
    if not reused:
        return ""
    source = f"run {from_run}" if from_run else "ImageNet"
    layers = ", ".join(reused[:6]) + (", ..." if len(reused) > 6 else "")
    note = f" Reused from {source}: {layers}"
    return note + (f", frozen for the first {frozen} epoch(s)." if frozen else ".")


def _save_final_model(path: Path, model, twin: Float32Twin | None = None) -> None:
    """model.keras holds the best checkpoint's weights, the epoch with the highest validation
    accuracy (or the last weights when no epoch ended with a checkpoint)."""
    if (path / BEST).exists():
        shutil.copyfile(path / BEST, path / "model.tmp.keras")
    else:
        (twin.save if twin else lambda network, file: network.save(file))(
            model, path / "model.tmp.keras"
        )
    os.replace(path / "model.tmp.keras", path / MODEL)


def remove_temporary_files(path: Path) -> None:
    """Delete half-written model files (``*.tmp.keras``) a failed save left in the run."""
    for leftover in path.glob("*.tmp.keras"):
        leftover.unlink(missing_ok=True)


def _record(path: Path, **changes: object) -> None:
    """Write the status; if even that fails (a full disk) say so in the log and go on: once
    this process has ended, the run reads as interrupted instead of running forever."""
    try:
        write_status(path, **changes)
    except OSError as error:
        print(f"could not write the run's status: {error}", file=sys.stderr, flush=True)


def run_job(path: Path) -> int:
    """Train the run in ``path`` in this process and record how it ended: every failure ends
    up in its status, never as a silent crash. The scheduler calls this in a forked child."""
    write_status(path, pid=os.getpid())
    if cancel_requested(path):
        write_status(path, status="cancelled", message="Cancelled before it started.", ended=_now())
        return 0
    try:
        train(path)
    except Exception as error:  # the process entry point: every failure is recorded
        from dlcore.backend import describe_error

        message = describe_error(error) or (
            str(error) if isinstance(error, LayerLabError) else f"{type(error).__name__}: {error}"
        )
        print(f"job failed: {message}", file=sys.stderr, flush=True)
        _record(path, status="failed", message=message, ended=_now())
        return 1
    finally:
        remove_temporary_files(path)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        _record(path, peak_memory_mb=round(peak_mb))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m dlcore.train.worker RUN_DIR``: train one run now, outside the queue (debugging,
    tests). The scheduler is the way jobs normally start."""
    return run_job(Path((argv or sys.argv[1:])[0]).resolve())


if __name__ == "__main__":
    sys.exit(main())
