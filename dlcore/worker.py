"""The training process: ``python -m dlcore.worker RUN_DIR``.

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
from dlcore.records import MetricRow
from dlcore.runs import (
    BEST,
    MODEL,
    append_metric,
    cancel_requested,
    read_model,
    read_spec,
    read_status,
    write_dataset_info,
    write_filter_history,
    write_status,
)
from dlcore.schedules import learning_rate_at
from dlcore.spec import Experiment


class Cancelled(Exception):
    """The attendee pressed Cancel."""


class Diverged(LayerLabError):
    """The loss became NaN or infinite."""


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


def training_subset(x: np.ndarray, y: np.ndarray, limit: int, seed: int):
    """The training images a run uses: all of them, or ``limit`` picked with ``seed`` and kept
    in their original order (the exported script trains on exactly these)."""
    if not limit or limit >= len(y):
        return x, y
    keep = np.sort(np.random.default_rng(seed).permutation(len(y))[:limit])
    return x[keep], y[keep]


def make_progress_callback(path: Path, experiment: Experiment, num_train: int):
    """A Keras callback that logs metrics, saves the best checkpoint, obeys Cancel and stops
    with a clear message when the loss diverges."""
    import keras

    training = experiment.training
    steps_per_epoch = math.ceil(num_train / training.batch_size)
    total_steps = steps_per_epoch * training.epochs

    class Progress(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            if hasattr(self, "start"):  # the second phase of a run with frozen layers
                return
            self.start = time.monotonic()
            self.last_log = 0.0
            self.best = (-1.0, math.inf)
            self.epoch = 0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def _timing(self, done_steps: int) -> dict:
            elapsed = time.monotonic() - self.start
            rate = done_steps * training.batch_size / elapsed if elapsed else 0.0
            eta = elapsed / done_steps * (total_steps - done_steps) if done_steps else None
            return {"elapsed": round(elapsed, 2), "images_per_second": round(rate, 1), "eta": eta}

        def on_train_batch_end(self, batch, logs=None):
            logs = logs or {}
            loss = float(logs.get("loss", 0.0))
            step = self.epoch * steps_per_epoch + batch + 1
            if not math.isfinite(loss):
                lr = learning_rate_at(training, step - 1, steps_per_epoch)
                raise Diverged(
                    f"The loss became {loss} at epoch {self.epoch + 1}, batch {batch + 1}: the "
                    f"learning rate {lr:g} is too high for this network. Try {lr / 10:g}, or add "
                    "batch normalization."
                )
            if cancel_requested(path):
                raise Cancelled
            now = time.monotonic()
            if now - self.last_log >= 0.5 or batch + 1 == steps_per_epoch:
                self.last_log = now
                accuracy = float(logs.get("accuracy", 0.0))
                progress = step / total_steps
                row = {"epoch": self.epoch + 1, "step": step, "loss": loss, "accuracy": accuracy}
                rate = {"learning_rate": learning_rate_at(training, step - 1, steps_per_epoch)}
                append_metric(
                    path,
                    MetricRow("batch", **row, progress=progress, **self._timing(step), extra=rate),
                )

        def on_epoch_end(self, epoch, logs=None):
            logs = {k: float(v) for k, v in (logs or {}).items()}
            step = (epoch + 1) * steps_per_epoch
            record = {"kind": "epoch", "epoch": epoch + 1, "step": step, **logs}
            record["progress"] = (epoch + 1) / training.epochs
            # the rate of the epoch's last batch (Keras may log its own; this one is the spec's)
            record["learning_rate"] = learning_rate_at(training, step - 1, steps_per_epoch)
            append_metric(path, MetricRow.from_dict(record | self._timing(step)))
            score = (logs.get("val_accuracy", 0.0), -logs.get("val_loss", 0.0))
            if score > (self.best[0], -self.best[1]):
                self.best = (score[0], -score[1])
                tmp = path / "best.tmp.keras"
                self.model.save(tmp)
                os.replace(tmp, path / BEST)
                write_status(path, best_epoch=epoch + 1)

    return Progress()


def make_filter_callback(path: Path, layer_name: str):
    """A Keras callback that saves the kernels of ``layer_name`` (the first conv layer) before
    training and after each epoch, for the "filters over time" slider. Nothing else about the
    network's inside is computed while it trains."""
    import keras

    class FilterHistory(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            if hasattr(self, "kernels"):  # the second phase of a run with frozen layers
                return
            self.kernels = []
            self._save()

        def on_epoch_end(self, epoch, logs=None):
            self._save()

        def _save(self):
            kernel = self.model.get_layer(layer_name).kernel
            self.kernels.append(keras.ops.convert_to_numpy(kernel))
            write_filter_history(path, layer_name, np.stack(self.kernels))

    return FilterHistory()


def train(path: Path) -> None:
    """Train the run in ``path`` (the slot is already held)."""
    from dlcore import backend
    from dlcore.builtin import load_dataset
    from dlcore.evaluate import evaluate_model
    from dlcore.images import PrepSettings
    from dlcore.jobs import check_training_limits
    from dlcore.model import build_model, conv_layer_names
    from dlcore.transfer import backbone_layer_name, fit_in_phases, reuse_weights

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
    model = build_model(
        experiment.model,
        dataset.image_shape,
        dataset.num_classes,
        experiment.augment,
        pretrained=not training.from_run,  # a backbone's weights then come from that run
    )
    if training.from_run:
        reused = reuse_weights(model, training.from_run)
    else:
        reused = (
            [backbone_layer_name(experiment.model.backbone)] if experiment.model.backbone else []
        )
    write_status(
        path,
        message="Training: the curves below grow with every batch and epoch."
        + _reuse_note(reused, training.from_run, min(training.freeze_epochs, training.epochs)),
        started=_now(),
        num_params=int(model.count_params()),
        num_train=len(y_train),
    )
    callbacks = [make_progress_callback(path, experiment, len(y_train))]
    convolutions = conv_layer_names(model)
    if convolutions:
        callbacks.append(make_filter_callback(path, convolutions[0]))
    patience = experiment.training.early_stopping_patience
    if patience:
        import keras

        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=patience, restore_best_weights=True
            )
        )
    cancelled = False
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
            validation_data=(dataset.x_val, dataset.y_val),
            shuffle=True,
            verbose=0,
        )
    except Cancelled:
        cancelled = True
    _save_final_model(path, model, keep_best=cancelled or not patience)
    if cancelled:
        epochs = read_status(path.name).best_epoch
        kept = f"the best weights (epoch {epochs}) are kept" if epochs else "no epoch finished"
        write_status(path, status="cancelled", message=f"Cancelled; {kept}.", ended=_now())
        return
    write_status(path, message="Evaluating on the validation and test images.")
    final = read_model(path.name)
    evaluate_model(final, dataset, path)
    write_status(path, status="completed", message="Finished.", ended=_now())


def _reuse_note(reused: list[str], from_run: str, frozen: int) -> str:
    if not reused:
        return ""
    source = f"run {from_run}" if from_run else "ImageNet"
    layers = ", ".join(reused[:6]) + (", ..." if len(reused) > 6 else "")
    note = f" Reused from {source}: {layers}"
    return note + (f", frozen for the first {frozen} epoch(s)." if frozen else ".")


def _save_final_model(path: Path, model, keep_best: bool) -> None:
    """model.keras holds the best epoch's weights (or the last ones when none was saved)."""
    if keep_best and (path / BEST).exists():
        shutil.copyfile(path / BEST, path / "model.tmp.keras")
    else:
        model.save(path / "model.tmp.keras")
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
    """``python -m dlcore.worker RUN_DIR``: train one run now, outside the queue (debugging,
    tests). The scheduler is the way jobs normally start."""
    return run_job(Path((argv or sys.argv[1:])[0]).resolve())


if __name__ == "__main__":
    sys.exit(main())
