"""Learning-rate schedules: how the rate changes over a run's iterations (one per batch).

``learning_rate_at`` is the pure-Python formula the preview chart, the metrics log and the tests
use; ``keras_schedule`` gives the same values as one of Keras's own schedules, so a saved model
loads in safe mode anywhere and the exported script needs nothing beyond Keras. Keras calls a
schedule with the optimizer's iteration count, 0 for the first batch, as ``step`` is here.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pandas as pd

from dlcore import LayerLabError
from dlcore.spec import TrainSpec

if TYPE_CHECKING:
    import keras

ONE_CYCLE_RISE = 0.3  # share of the run during which one-cycle rises to the base rate
ONE_CYCLE_START = 1 / 25  # one-cycle starts at this fraction of the base rate
SCHEDULE_LABELS = {
    "constant": "Constant",
    "step": "Step decay",
    "exponential": "Exponential decay",
    "cosine": "Cosine with warm-up",
    "one_cycle": "One-cycle",
}


def schedule_steps(training: TrainSpec, steps_per_epoch: int) -> dict[str, int | float]:
    """The schedule's lengths in iterations: ``total``, ``warmup`` (cosine, one-cycle: the
    rising part), ``decay_every`` (step, exponential). The exported script repeats these
    formulas, so change them together (dlcore.results.scriptgen)."""
    if isinstance(steps_per_epoch, bool) or not isinstance(steps_per_epoch, int):
        raise LayerLabError(f"steps_per_epoch is {steps_per_epoch!r}; pass a whole number.")
    if steps_per_epoch < 1:
        raise LayerLabError(f"steps_per_epoch is {steps_per_epoch}; a run has at least 1.")
    total = training.epochs * steps_per_epoch
    if training.lr_schedule == "one_cycle":
        warmup = max(round(ONE_CYCLE_RISE * total), 1)
    else:
        warmup = round(training.warmup_epochs * steps_per_epoch)
    return {
        "total": total,
        "warmup": warmup,
        "decay_every": training.decay_every_epochs * steps_per_epoch,
    }


def learning_rate_at(training: TrainSpec, step: int, steps_per_epoch: int) -> float:
    """The rate used for iteration ``step`` (0 = the first batch of the run)."""
    base = training.learning_rate
    kind = training.lr_schedule
    if kind == "constant":
        return float(base)
    steps = schedule_steps(training, steps_per_epoch)
    if kind in ("step", "exponential"):
        power = step / steps["decay_every"]
        return base * training.decay_factor ** (math.floor(power) if kind == "step" else power)
    warmup = steps["warmup"]
    start = 0.0 if kind == "cosine" else base * ONE_CYCLE_START
    if warmup and step < warmup:
        return start + (base - start) * step / warmup
    decay = max(steps["total"] - warmup, 1)
    done = min(step - warmup, decay) / decay
    return base * 0.5 * (1.0 + math.cos(math.pi * done))


def keras_arguments(training: TrainSpec, steps_per_epoch: int) -> tuple[str, dict]:
    """The Keras schedule class (in keras.optimizers.schedules) and its arguments that give
    ``learning_rate_at``'s values; ("", {}) for a constant rate."""
    kind = training.lr_schedule
    base = float(training.learning_rate)
    if kind == "constant":
        return "", {}
    steps = schedule_steps(training, steps_per_epoch)
    if kind in ("step", "exponential"):
        return "ExponentialDecay", {
            "initial_learning_rate": base,
            "decay_steps": float(steps["decay_every"]),
            "decay_rate": float(training.decay_factor),
            "staircase": kind == "step",
        }
    warmup = int(steps["warmup"])
    arguments = {"decay_steps": max(int(steps["total"]) - warmup, 1), "alpha": 0.0}
    if not warmup:
        return "CosineDecay", {"initial_learning_rate": base, **arguments}
    start = 0.0 if kind == "cosine" else base * ONE_CYCLE_START
    return "CosineDecay", {
        "initial_learning_rate": start,
        **arguments,
        "warmup_target": base,
        "warmup_steps": warmup,
    }


def keras_schedule(
    training: TrainSpec, steps_per_epoch: int
) -> keras.optimizers.schedules.LearningRateSchedule | float:
    """The optimizer's ``learning_rate``: a Keras schedule (keras.ops inside, so it runs on
    every backend) or, for a constant rate, the plain number."""
    name, arguments = keras_arguments(training, steps_per_epoch)
    if not name:
        return float(training.learning_rate)
    import keras

    return getattr(keras.optimizers.schedules, name)(**arguments)


def schedule_frame(
    training: TrainSpec, steps_per_epoch: int, max_points: int = 400
) -> pd.DataFrame:
    """A tidy frame (iteration, epoch, learning_rate) of the rate over the run, for the
    preview chart: every iteration, or ``max_points`` evenly spread plus each epoch's first."""
    total = schedule_steps(training, steps_per_epoch)["total"]
    stride = max(total // max_points, 1)
    picked = set(range(0, total, stride)) | set(range(0, total, steps_per_epoch)) | {total - 1}
    every = schedule_steps(training, steps_per_epoch)["decay_every"]
    if training.lr_schedule == "step" and total / every <= max_points:  # keep the drops sharp
        drops = (math.ceil(k * every) for k in range(1, int(total / every) + 1))
        picked |= {s for drop in drops for s in (drop - 1, drop)}
    steps = sorted(s for s in picked if 0 <= s < total)
    return pd.DataFrame(
        {
            "iteration": steps,
            "epoch": [s / steps_per_epoch for s in steps],
            "learning_rate": [learning_rate_at(training, s, steps_per_epoch) for s in steps],
        }
    )


def logged_rates(metrics: pd.DataFrame, max_points: int = 500) -> pd.DataFrame:
    """The rate each logged batch trained with (iteration, learning_rate), from a run's
    metrics log, thinned to at most ``max_points`` rows; empty for runs logged without it."""
    if metrics.empty or not {"kind", "learning_rate"} <= set(metrics.columns):
        return pd.DataFrame(columns=["iteration", "learning_rate"])
    rows = metrics.loc[metrics["kind"] == "batch", ["step", "learning_rate"]].dropna()
    rows = rows.iloc[:: max(1, -(-len(rows) // max_points))]
    # the rate logged with step N is the one its last batch, iteration N - 1, used
    return pd.DataFrame(
        {"iteration": rows["step"].to_numpy() - 1, "learning_rate": rows["learning_rate"]}
    ).reset_index(drop=True)
