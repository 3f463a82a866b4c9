"""The learning-rate schedule on the Train page: its controls, the preview of the rate over the
run's iterations before training starts (as DIGITS shows it), and the rate the run logged.

Not a page itself (app.py lists the pages). The numbers come from ``dlcore.model.schedules``.
"""

from __future__ import annotations

import dataclasses
import math

import pandas as pd
import streamlit as st

from dlcore import charts
from dlcore.model.schedules import SCHEDULE_LABELS, logged_rates, schedule_frame
from dlcore.spec import LR_SCHEDULES, TrainSpec
from pages.state import widget

HELP = {
    "constant": "The same rate for every iteration.",
    "step": "The rate is multiplied by the decay factor every few epochs (DIGITS's step down).",
    "exponential": "The rate shrinks smoothly by the decay factor every few epochs.",
    "cosine": "The rate rises from 0 during the warm-up, then falls along a half cosine to 0.",
    "one_cycle": "The rate rises over the first 30% of the run, then falls to about 0.",
}


SCHEDULE_KEY = "train_schedule"


def schedule_expander(training: TrainSpec):
    """The closed expander that holds the schedule's controls (open, it pushed Start below a
    1366x900 screen), its label naming the schedule chosen in this very run: the label is
    drawn before the widget, so it is read from the widget's state."""
    key = widget("training", SCHEDULE_KEY, training.lr_schedule)
    name = SCHEDULE_LABELS[st.session_state[key]].lower()
    return st.expander(f"Learning-rate schedule: {name}", key="lr_schedule_expander")


def schedule_controls(training: TrainSpec) -> TrainSpec:
    """The schedule's widgets; ``training`` with the chosen schedule and its settings."""
    widget("training", SCHEDULE_KEY, training.lr_schedule)
    kind = st.selectbox(
        "Learning-rate schedule",
        LR_SCHEDULES,
        key=SCHEDULE_KEY,
        format_func=SCHEDULE_LABELS.get,
        help="How the learning rate changes while the network trains.",
    )
    st.caption(HELP[kind])
    changes: dict = {"lr_schedule": kind}
    columns = st.columns(2)
    if kind == "cosine":
        widget("training", "train_warmup", float(training.warmup_epochs))
        changes["warmup_epochs"] = columns[0].number_input(
            "Warm-up epochs", 0.0, 100.0, step=0.5, key="train_warmup"
        )
    elif kind in ("step", "exponential"):
        widget("training", "train_decay_every", float(training.decay_every_epochs))
        widget("training", "train_decay_factor", float(training.decay_factor))
        changes["decay_every_epochs"] = columns[0].number_input(
            "Decay every (epochs)", 0.1, 1000.0, step=0.5, key="train_decay_every"
        )
        changes["decay_factor"] = columns[1].number_input(
            "Decay factor", 0.001, 1.0, step=0.05, key="train_decay_factor"
        )
    return dataclasses.replace(training, **changes)


def schedule_preview(training: TrainSpec, num_train: int) -> None:
    """The rate over the run's iterations, drawn before training starts."""
    steps_per_epoch = max(math.ceil(num_train / training.batch_size), 1)
    frame = schedule_frame(training, steps_per_epoch)
    st.altair_chart(charts.learning_rate_chart(frame, title="Learning rate over the run"))
    st.caption(
        f"{num_train:,} training images in batches of {training.batch_size}: "
        f"{steps_per_epoch:,} iterations per epoch, {steps_per_epoch * training.epochs:,} in all."
    )


def logged_rate_chart(metrics: pd.DataFrame) -> None:
    """The rate each logged batch trained with, under the loss chart: nothing for a constant
    rate (a flat line) or a run logged without it."""
    rates = logged_rates(metrics)
    if rates["learning_rate"].nunique() > 1:
        st.altair_chart(charts.learning_rate_chart(rates, title="Learning rate used", points=True))
