"""A run's training curves as a person should read them: the loss of each stretch of batches
(not Keras's running mean since the start of the epoch), smoothed the way TensorBoard smooths
it, and the epoch whose weights the run kept.

The worker logs a batch row about twice a second (and always the last batch of an epoch), each
with Keras's running mean of the loss since the epoch began. A fast run logs only a few rows
per epoch, so each point is the mean of a stretch of batches; single batches would need the
worker to log them. Two logged means give back the
mean of the batches between them exactly: with ``m1`` after ``b1`` batches of the epoch and
``m2`` after ``b2``, the batches ``b1 + 1 .. b2`` averaged ``(b2 * m2 - b1 * m1) / (b2 - b1)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SMOOTHING = 0.6  # TensorBoard's default weight of the exponential moving average
BATCH_COLUMNS = ["step", "epoch", "loss", "smoothed"]


def steps_per_epoch(metrics: pd.DataFrame) -> int | None:
    """Batches per epoch, read from the logged epoch rows (their ``step`` is epoch x steps);
    None before the first epoch ended."""
    if metrics.empty or "kind" not in metrics.columns:
        return None
    epochs = metrics[(metrics["kind"] == "epoch") & (metrics["epoch"] > 0)]
    if epochs.empty:
        return None
    first = epochs.iloc[0]
    return max(1, int(first["step"]) // int(first["epoch"]))


def batch_losses(metrics: pd.DataFrame, max_points: int = 500) -> pd.DataFrame:
    """The training loss of each logged stretch of batches: step (the middle of the stretch,
    in iterations), epoch, loss (the mean loss of the batches since the previous logged row of
    the same epoch, or since the epoch began) and
    smoothed (its exponential moving average, debiased as TensorBoard does). Thinned to at
    most ``max_points`` rows, the last one always kept."""
    if metrics.empty or "kind" not in metrics.columns:
        return pd.DataFrame(columns=BATCH_COLUMNS)
    rows = metrics.loc[metrics["kind"] == "batch", ["step", "epoch", "loss"]].dropna()
    rows = rows.drop_duplicates("step", keep="last").sort_values("step", kind="stable")
    if rows.empty:
        return pd.DataFrame(columns=BATCH_COLUMNS)
    per_epoch = steps_per_epoch(metrics)
    step = rows["step"].to_numpy(dtype=np.int64)
    epoch = rows["epoch"].to_numpy(dtype=np.int64)
    mean = rows["loss"].to_numpy(dtype=np.float64)
    # batches done within the row's epoch; before the first epoch row exists, epoch 1 runs
    start = (epoch - 1) * per_epoch if per_epoch else np.zeros_like(step)
    done = np.maximum(step - start, 1)
    same_epoch = np.r_[False, epoch[1:] == epoch[:-1]]
    before = np.where(same_epoch, np.r_[0, done[:-1]], 0)
    previous_mean = np.where(same_epoch, np.r_[0.0, mean[:-1]], 0.0)
    width = np.maximum(done - before, 1)
    loss = np.where(done > before, (done * mean - before * previous_mean) / width, mean)
    # a stretch's mean belongs at its middle: drawn at its end, the curve would lag behind
    middle = step - (done - np.minimum(before, done - 1) - 1) / 2
    frame = pd.DataFrame({"step": middle, "epoch": epoch, "loss": np.maximum(loss, 0.0)})
    frame["smoothed"] = smooth(frame["loss"].to_numpy())
    return _thin(frame, max_points)


def smooth(values: np.ndarray, weight: float = SMOOTHING) -> np.ndarray:
    """Exponential moving average with TensorBoard's debiasing, so the first points are not
    pulled towards zero."""
    result = np.empty(len(values), dtype=np.float64)
    last, debias = 0.0, 1.0
    for index, value in enumerate(values):
        last = last * weight + (1 - weight) * float(value)
        debias *= weight
        result[index] = last / (1 - debias) if debias < 1 else float(value)
    return result


def _thin(frame: pd.DataFrame, max_points: int) -> pd.DataFrame:
    every = max(1, -(-len(frame) // max(1, max_points)))
    thinned = frame.iloc[::every]
    if len(frame) and thinned.index[-1] != frame.index[-1]:
        thinned = pd.concat([thinned, frame.iloc[[-1]]])
    return thinned.reset_index(drop=True)


def kept_epoch(status: dict) -> int | None:
    """The epoch whose weights the run's saved model holds, by the worker's one rule
    (``dlcore.train.worker``): the epoch with the highest validation accuracy (the lower validation
    loss on a tie), whose checkpoint the status records as ``best_epoch``, whether the run
    completed, stopped early or was cancelled. None while no epoch has ended."""
    best = status.get("best_epoch")
    if isinstance(best, int) and not isinstance(best, bool) and best > 0:
        return best
    return None


def kept_epoch_note(status: dict, epochs: pd.DataFrame) -> str:
    """One sentence saying which epoch's weights the saved network (and every figure computed
    from it) has, and why, beside the last epoch's figure when that differs; a run of one
    epoch has no best to name. "" while no epoch has ended."""
    kept = kept_epoch(status)
    if kept is None or epochs.empty:
        return ""
    last = int(epochs["epoch"].iloc[-1])
    saved = f"The saved network has the weights of epoch {kept}"
    if kept >= last and len(epochs) == 1:  # no other epoch to be best among
        ended = "of the run" if status.get("status") == "completed" else "the run finished"
        return f"{saved}, the only epoch {ended}."
    if kept >= last:
        return f"{saved}, the last one, which had the highest validation accuracy."
    accuracy = epochs["val_accuracy"].iloc[-1]
    reached = f" (validation accuracy {accuracy:.1%})" if pd.notna(accuracy) else ""
    return (
        f"{saved}, the one with the highest validation accuracy; the curves go on to epoch "
        f"{last}{reached}, whose weights were not kept."
    )
