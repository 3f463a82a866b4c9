"""The training process: ``python -m dlcore.worker RUN_DIR``.

It waits its turn in the queue, trains the run's Experiment and writes everything into the run
directory: status, metrics every few batches and every epoch, the best checkpoint, the final
model and its evaluation. Keras is imported only once the job holds a training slot, so queued
jobs cost almost no memory.
"""

from __future__ import annotations

import fcntl
import math
import os
import resource
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from dlcore import LayerLabError
from dlcore.limits import concurrent_job_slots, load_limits
from dlcore.runs import queued_runs, read_status, write_status
from dlcore.spec import Experiment
from dlcore.storage import append_jsonl, atomic_write_json, read_json, subdir


class Cancelled(Exception):
    """The attendee pressed Cancel."""


class Diverged(LayerLabError):
    """The loss became NaN or infinite."""


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


def acquire_slot(path: Path, poll: float = 0.3):
    """Wait first-come-first-served for a training slot; return its open lock file.

    Only the oldest queued job tries to take a slot, so jobs start in submission order. The lock
    is an flock: the kernel releases it when this process ends, even by SIGKILL.
    """
    slots = concurrent_job_slots(load_limits())
    locks = subdir("locks")
    while True:
        if (path / "cancel").exists():
            raise Cancelled
        queued = queued_runs()
        if queued and queued[0] == path.name:
            for index in range(slots):
                handle = open(locks / f"slot-{index}.lock", "w")  # noqa: SIM115
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    handle.close()
                    continue
                return handle
        time.sleep(poll)


def _subset(x: np.ndarray, y: np.ndarray, limit: int, seed: int):
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
    metrics_file = path / "metrics.jsonl"

    class Progress(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
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
                lr = training.learning_rate
                raise Diverged(
                    f"The loss became {loss} at epoch {self.epoch + 1}, batch {batch + 1}: the "
                    f"learning rate {lr:g} is too high for this network. Try {lr / 10:g}, or add "
                    "batch normalization."
                )
            if (path / "cancel").exists():
                raise Cancelled
            now = time.monotonic()
            if now - self.last_log >= 0.5 or batch + 1 == steps_per_epoch:
                self.last_log = now
                record = {"kind": "batch", "epoch": self.epoch + 1, "step": step, "loss": loss}
                record["accuracy"] = float(logs.get("accuracy", 0.0))
                record["progress"] = step / total_steps
                append_jsonl(metrics_file, record | self._timing(step))

        def on_epoch_end(self, epoch, logs=None):
            logs = {k: float(v) for k, v in (logs or {}).items()}
            step = (epoch + 1) * steps_per_epoch
            record = {"kind": "epoch", "epoch": epoch + 1, "step": step, **logs}
            record["progress"] = (epoch + 1) / training.epochs
            append_jsonl(metrics_file, record | self._timing(step))
            score = (logs.get("val_accuracy", 0.0), -logs.get("val_loss", 0.0))
            if score > (self.best[0], -self.best[1]):
                self.best = (score[0], -score[1])
                tmp = path / "best.tmp.keras"
                self.model.save(tmp)
                os.replace(tmp, path / "best.keras")
                write_status(path, best_epoch=epoch + 1)

    return Progress()


def train(path: Path) -> None:
    """Train the run in ``path`` (the slot is already held)."""
    from dlcore import backend
    from dlcore.builtin import load_dataset
    from dlcore.evaluate import evaluate_model
    from dlcore.images import PrepSettings
    from dlcore.model import build_model, compile_model

    experiment = Experiment.from_dict(read_json(path / "spec.json"))
    device = backend.configure(experiment.training.seed)
    write_status(path, status="running", message="Loading the dataset.", device=device)
    dataset = load_dataset(experiment.data.dataset)
    height, width, channels = dataset.image_shape
    settings = (
        dataset.manifest.get("settings")
        or PrepSettings(
            color_mode="grayscale" if channels == 1 else "color", width=width, height=height
        ).to_dict()
    )
    atomic_write_json(
        path / "dataset.json",
        {
            "name": dataset.name,
            "classes": dataset.classes,
            "image_shape": list(dataset.image_shape),
            "settings": settings,
            "digits": bool(dataset.manifest.get("digits", False)),
        },
    )
    x_train, y_train = _subset(
        dataset.x_train, dataset.y_train, experiment.data.max_train_images, experiment.training.seed
    )
    model = build_model(
        experiment.model, dataset.image_shape, dataset.num_classes, experiment.augment
    )
    compile_model(model, experiment.training)
    write_status(
        path,
        message=f"Training on {device}.",
        started=_now(),
        num_params=int(model.count_params()),
        num_train=len(y_train),
    )
    callbacks = [make_progress_callback(path, experiment, len(y_train))]
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
        model.fit(
            x_train,
            y_train,
            batch_size=experiment.training.batch_size,
            epochs=experiment.training.epochs,
            validation_data=(dataset.x_val, dataset.y_val),
            shuffle=True,
            callbacks=callbacks,
            verbose=0,
        )
    except Cancelled:
        cancelled = True
    _save_final_model(path, model, keep_best=cancelled or not patience)
    if cancelled:
        epochs = read_status(path.name).get("best_epoch")
        kept = f"the best weights (epoch {epochs}) are kept" if epochs else "no epoch finished"
        write_status(path, status="cancelled", message=f"Cancelled; {kept}.", ended=_now())
        return
    write_status(path, message="Evaluating on the validation and test images.")
    import keras

    final = keras.saving.load_model(path / "model.keras")
    evaluate_model(final, dataset, path)
    write_status(path, status="completed", message="Finished.", ended=_now())


def _save_final_model(path: Path, model, keep_best: bool) -> None:
    """model.keras holds the best epoch's weights (or the last ones when none was saved)."""
    if keep_best and (path / "best.keras").exists():
        shutil.copyfile(path / "best.keras", path / "model.tmp.keras")
    else:
        model.save(path / "model.tmp.keras")
    os.replace(path / "model.tmp.keras", path / "model.keras")


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


def main(argv: list[str] | None = None) -> int:
    """Process entry point: every failure ends up in status.json, never as a silent crash."""
    path = Path((argv or sys.argv[1:])[0]).resolve()
    write_status(path, pid=os.getpid())
    try:
        slot = acquire_slot(path)
    except Cancelled:
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
        slot.close()
        remove_temporary_files(path)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        _record(path, peak_memory_mb=round(peak_mb))
    return 0


if __name__ == "__main__":
    sys.exit(main())
