"""The Train page's live view of a run: its state in words, its progress and its curves.

Not a page itself (app.py lists the pages). The figures follow one rule, said where they show:
the saved network has the weights of one epoch (``dlcore.train.curves.kept_epoch``), marked on the
curves and named beside the validation accuracy.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dlcore import charts
from dlcore.results import summary
from dlcore.train import curves, jobs
from pages import common, schedule_views

BATCH_NOTE = (
    "The faint line joins the mean loss of each stretch of batches between two log rows (the "
    "log is written about twice a second); the solid line smooths it, as TensorBoard does. "
    "The loss differs a lot from batch to batch, so the faint line is noisy; watch the trend."
)


def queue_text(status: dict) -> str:
    """Where a waiting job stands: paused, jobs ahead of it, or next when a slot frees."""
    if jobs.queue_paused():
        return "the instructor has paused the queue; it starts when they resume it."
    ahead = status.get("ahead") or 0
    if ahead:
        jobs_ahead = "1 job" if ahead == 1 else f"{ahead} jobs"
        return f"{jobs_ahead} ahead of you (the queue takes one job per attendee in turn)."
    return "next to start, as soon as a running job finishes."


def status_box(status: dict, kept_note: str = "") -> None:
    """The run's state in one box: starting, queued (and why), training, or how it ended."""
    # the message can quote a dataset or file name: plain text, like the state itself
    state, message = common.md(status.get("status", "?")), common.md(status.get("message", ""))
    phase = status.get("phase")
    if phase == "starting":
        st.info("**starting** · loading the data and building the network; training follows.")
    elif state == "queued":
        st.info(f"**queued** · {queue_text(status)}")
    elif state == "running":
        device = common.md(status.get("device") or "the server")  # None until the worker says
        st.info(f"**running** on {device} · {message}")
    elif state == "completed":
        accuracy = status.get("val_accuracy")
        score = f" Validation accuracy {accuracy:.1%}." if accuracy is not None else ""
        st.success(f"**completed** · {message}{score} {kept_note}".rstrip())
        st.page_link("pages/evaluate.py", label="Evaluate it", icon=":material/analytics:")
    elif state == "failed":
        st.error(f"**failed** · {message}")
    else:
        st.warning(f"**{state}** · {message} {kept_note}".rstrip())


def progress(status: dict, metrics: pd.DataFrame) -> None:
    if metrics.empty:
        return
    last = metrics.iloc[-1]
    eta = last.get("eta")
    left = f" · about {summary.format_seconds(eta)} left" if status["status"] == "running" else ""
    st.progress(
        min(1.0, float(last.get("progress", 0.0))),
        text=f"Epoch {int(last['epoch'])} · {float(last.get('progress', 0)):.0%} done{left}",
    )
    a, b, c = st.columns(3)
    a.metric("Images per second", f"{float(last.get('images_per_second', 0)):,.0f}")
    b.metric("Iterations so far", f"{int(last['step']):,}")
    c.metric("Training time", summary.format_seconds(last.get("elapsed")))


def overfitting_text(epochs: pd.DataFrame) -> str:
    """The overfitting warning, or "": said by what the curves show (the validation loss
    rising since an epoch), never as a second "best" epoch beside the kept one."""
    since = summary.overfitting_epoch(epochs)
    if not since:
        return ""
    return (
        f"Overfitting: the validation loss has risen since epoch {since}, while the training "
        "loss keeps falling. Fewer epochs, early stopping, dropout or augmentation help."
    )


def curves_view(metrics: pd.DataFrame, kept: int | None) -> None:
    """The epoch curves (the kept epoch marked), the loss per batch and the learning rate."""
    epochs = summary.epoch_history(metrics)
    if len(epochs):
        st.altair_chart(charts.training_curves(epochs, kept_epoch=kept))
        warning = overfitting_text(epochs)
        if warning:
            st.warning(warning)
    batches = curves.batch_losses(metrics)
    if len(batches):
        st.altair_chart(charts.batch_loss_chart(batches))
        st.caption(BATCH_NOTE)
    schedule_views.logged_rate_chart(metrics)


def kept_weights(status: dict, epochs: pd.DataFrame) -> tuple[int | None, str]:
    """(the epoch whose weights a finished run saved, the sentence that says so); nothing
    while it trains, when the weights are still changing."""
    if status.get("status") in ("queued", "running"):
        return None, ""
    return curves.kept_epoch(status), curves.kept_epoch_note(status, epochs)
