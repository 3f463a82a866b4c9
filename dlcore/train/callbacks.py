"""The Keras callbacks of a training job (``dlcore.train.worker``): progress, the best checkpoint,
Cancel and divergence; the first convolution's filters over time; and, for a run that computes
in bfloat16, the float32 twin that is validated and saved in its place.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np

from dlcore import LayerLabError
from dlcore.model.schedules import learning_rate_at
from dlcore.spec import Experiment
from dlcore.train.records import MetricRow
from dlcore.train.run_outputs import append_metric, write_filter_history
from dlcore.train.runs import BEST, cancel_requested, write_status


class Cancelled(Exception):
    """The attendee pressed Cancel."""


class Diverged(LayerLabError):
    """The loss became NaN or infinite."""


class Float32Twin:
    """The float32 copy of a network that trains under Keras's mixed_bfloat16 policy: the same
    layers built under the float32 policy, given the trained weights (which Keras keeps in
    float32) whenever the run validates or saves. Saved models are therefore float32, so
    inference, export and heat maps never see bfloat16, and the validation figures are those of
    the network that is saved: the kept epoch's accuracy is its evaluation's."""

    def __init__(self, network: tuple, validation: tuple[np.ndarray, np.ndarray], batch: int):
        from dlcore.backend import precision_policy
        from dlcore.model.build import build_model

        with precision_policy("float32"):  # the weights come from training
            self.model = build_model(*network, pretrained=False)
        self.x_val, self.y_val = validation
        self.batch = batch

    def _take(self, model) -> None:
        self.model.set_weights(model.get_weights())

    def save(self, model, file: Path) -> None:
        self._take(model)
        self.model.save(file)

    def validate(self, model) -> dict[str, float]:
        """val_loss and val_accuracy of ``model``'s weights in float32, as Keras computes them
        (sparse categorical cross-entropy on probabilities clipped to 1e-7)."""
        if not len(self.y_val):
            return {}
        self._take(model)
        probabilities = self.model.predict(self.x_val, batch_size=self.batch, verbose=0)
        labels = np.asarray(self.y_val).astype(np.int64).ravel()
        picked = probabilities[np.arange(len(labels)), labels].astype(np.float64)
        loss = float(np.mean(-np.log(np.clip(picked, 1e-7, 1 - 1e-7))))
        accuracy = float(np.mean(np.argmax(probabilities, axis=1) == labels))
        return {"val_loss": loss, "val_accuracy": accuracy}


def make_progress_callback(
    path: Path, experiment: Experiment, num_train: int, twin: Float32Twin | None = None
):
    """A Keras callback that logs metrics, saves the best checkpoint, obeys Cancel and stops
    with a clear message when the loss diverges. The best epoch is the one with the highest
    validation accuracy (the lower validation loss on a tie): the one rule of the weights a
    run keeps. With a ``twin`` (a run in bfloat16) the float32 network that is saved is also
    the one validated, and its figures go into the epoch's logs for the callbacks after this
    one (early stopping)."""
    import keras

    save = twin.save if twin else (lambda model, file: model.save(file))

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
            if twin and logs is not None:
                logs.update(twin.validate(self.model))
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
                save(self.model, tmp)
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


def make_early_stopping(patience: int):
    """Keras's EarlyStopping on the rule of the kept weights: it ends the run once the
    validation accuracy has not risen for ``patience`` epochs, and restores nothing (the best
    checkpoint, the epoch with the highest validation accuracy, becomes the saved model)."""
    import keras

    return keras.callbacks.EarlyStopping(
        monitor="val_accuracy", mode="max", patience=patience, restore_best_weights=False
    )
