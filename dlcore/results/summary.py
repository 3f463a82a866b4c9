"""Plain-language summaries of runs for the pages: short labels (architecture, activations,
augmentation, time, owner), the curves of a run's metrics log, and the overfitting signal
(validation loss rising while training loss falls). The table of trials built from them is
``dlcore.results.trials``; the instructor's overview and the leaderboard,
``dlcore.results.classroom``.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from dlcore import LayerLabError, attendees
from dlcore.spec import AUGMENT_FACTORS, AugmentSpec, Experiment, ModelSpec
from dlcore.text import plain
from dlcore.train.run_outputs import model_file, read_metric_rows
from dlcore.train.runs import DAMAGED, FINISHED

EPOCH_COLUMNS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"]
_AUGMENT_WORDS = {"rotation": "rotate"}  # the others read as they are named


def architecture_summary(model: ModelSpec) -> str:
    """E.g. ``conv 20-50 / dense 500``; ``x2`` marks conv pairs and ``bn`` batch norm."""
    parts = [f"{model.backbone} (ImageNet)"] if model.backbone else []
    if model.conv_blocks:
        filters = "-".join(
            f"{b.filters}x{b.num_convs}" if b.num_convs > 1 else str(b.filters)
            for b in model.conv_blocks
        )
        norm = " bn" if any(b.batch_norm for b in model.conv_blocks) else ""
        head = "" if model.head == "flatten" else f" {model.head.replace('_', ' ')} pool"
        parts.append(f"conv {filters}{norm}{head}")
    if model.dense_layers:
        parts.append("dense " + "-".join(str(d.units) for d in model.dense_layers))
    return " / ".join(parts) or "softmax only"


def activations_summary(model: ModelSpec) -> str:
    """The hidden layers' activations in order of use, then the softmax output."""
    names = [b.activation for b in model.conv_blocks] + [d.activation for d in model.dense_layers]
    return " / ".join([*dict.fromkeys(names), "softmax"])


def augment_summary(augment: AugmentSpec) -> str:
    """``off``, or the random changes in use, e.g. ``flip horizontal, rotate 0.1``."""
    if not augment.enabled:
        return "off"
    parts = [f"flip {augment.flip}"] if augment.flip != "none" else []
    for name in AUGMENT_FACTORS:
        if getattr(augment, name) > 0:
            parts.append(f"{_AUGMENT_WORDS.get(name, name)} {getattr(augment, name):g}")
    return ", ".join(parts)


def duration_seconds(status: dict) -> float | None:
    """Seconds from the start of training to the end of the run, None if not both known."""
    started, ended = status.get("started"), status.get("ended")
    if started is None or ended is None:  # not started, or not finished yet
        return None
    try:
        start, end = datetime.fromisoformat(str(started)), datetime.fromisoformat(str(ended))
    except ValueError:  # a hand-edited or damaged time
        return None
    return max(0.0, (end - start).total_seconds())


def format_seconds(seconds: float | None) -> str:
    """``1:05`` or ``1:02:03``; an empty string when unknown."""
    if seconds is None or seconds != seconds:  # None or NaN
        return ""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def owner_label(status: dict) -> str:
    """The display name of a run's owner, as plain text. The owner id is never shown; a run
    written before ids existed has only "owner", which was then the typed name."""
    return attendees.owner_label(status)  # "anonymous" or "instructor" without a label


def run_label(status: dict) -> str:
    """One readable line (plain text): run id, owner, dataset, model and validation accuracy."""
    parts = [status.get("run_id", "?"), owner_label(status)]
    parts += [status.get("dataset", "?"), status.get("model", "?")]
    accuracy = status.get("val_accuracy")
    parts.append(
        f"val {accuracy:.1%}" if isinstance(accuracy, int | float) else status.get("status", "?")
    )
    return " · ".join(plain(part) for part in parts)


def has_model(run_id: str) -> bool:
    try:
        model_file(run_id)
    except LayerLabError:
        return False
    return True


def usable_runs(statuses: list[dict]) -> list[dict]:
    """Finished runs (completed, or stopped with a checkpoint) that have a saved model; a run
    whose status file is damaged keeps its model usable."""
    done = (*FINISHED, DAMAGED)
    return [s for s in statuses if s.get("status") in done and has_model(s["run_id"])]


def trained_so_far(status: dict, spec: Experiment | None) -> tuple[int | None, float | None]:
    """(epochs finished, validation accuracy of the weights kept). A run that completed all
    its planned epochs has both in its status; one that stopped or still trains says them in
    its metrics log: 13 for a run of 20 cancelled during its 14th, and the validation accuracy
    of its best epoch (the weights it keeps) when it was not evaluated."""
    state, accuracy = status.get("status"), status.get("val_accuracy")
    if state == "queued":
        return 0, accuracy
    if state == "completed" and spec is not None and not spec.training.early_stopping_patience:
        return spec.training.epochs, accuracy
    try:
        rows = [
            row for row in read_metric_rows(str(status.get("run_id", ""))) if row.kind == "epoch"
        ]
    except LayerLabError:
        return None, accuracy
    if accuracy is None and status.get("best_epoch"):
        kept = [row.val_accuracy for row in rows if row.epoch == status["best_epoch"]]
        accuracy = kept[-1] if kept else None
    return max((row.epoch for row in rows), default=0), accuracy


def epoch_history(metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per finished epoch: epoch, loss, accuracy, val_loss, val_accuracy."""
    if metrics.empty or "kind" not in metrics.columns:
        return pd.DataFrame(columns=EPOCH_COLUMNS)
    epochs = metrics[metrics["kind"] == "epoch"].drop_duplicates("epoch", keep="last")
    return epochs.reindex(columns=EPOCH_COLUMNS).reset_index(drop=True)


def batch_history(metrics: pd.DataFrame, max_points: int = 500) -> pd.DataFrame:
    """Training loss per logged batch (step, loss), thinned to at most ``max_points`` rows so
    a live chart stays light however long the run."""
    if metrics.empty or "kind" not in metrics.columns:
        return pd.DataFrame(columns=["step", "loss"])
    batches = metrics.loc[metrics["kind"] == "batch", ["step", "loss"]]
    every = max(1, -(-len(batches) // max_points))
    thinned = batches.iloc[::every]
    if len(batches) and thinned.index[-1] != batches.index[-1]:
        thinned = pd.concat([thinned, batches.iloc[[-1]]])
    return thinned.reset_index(drop=True)


def overfitting_epoch(epochs: pd.DataFrame, min_rise: float = 0.02) -> int | None:
    """The epoch with the lowest validation loss, when after it the validation loss has risen
    (by ``min_rise`` relative, for at least two epochs) while the training loss kept falling:
    the network is learning its training images by heart. None otherwise."""
    if len(epochs) < 3 or epochs["val_loss"].isna().any():
        return None
    best = int(epochs["val_loss"].to_numpy().argmin())
    last = len(epochs) - 1
    val, train = epochs["val_loss"].to_numpy(), epochs["loss"].to_numpy()
    rising = last - best >= 2 and val[last] > val[best] * (1 + min_rise)
    if rising and train[last] < train[best]:
        return int(epochs["epoch"].iloc[best])
    return None
