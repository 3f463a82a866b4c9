"""Altair charts for the pages, built from tidy long-form DataFrames with explicit field types.

Pages only place these charts (``st.altair_chart``); tests read them through ``to_dict()``.
Each function documents the columns it needs. Names people chose (class folders, run ids) are
drawn as plain text (``dlcore.text.plain``): no bidi control can reverse an axis label.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from dlcore.text import plain

SPLIT_ORDER = ("train", "validation", "test")
_PANEL = {"width": 320, "height": 240}
_CHANNEL_COLORS = {
    "red": "#d62728",
    "green": "#2ca02c",
    "blue": "#1f77b4",
    "gray": "#555555",
    "grey": "#555555",
    "luminance": "#555555",
}


def tidy_history(history: pd.DataFrame) -> pd.DataFrame:
    """Keras history columns (epoch, loss, accuracy, val_loss, val_accuracy) in long form:
    epoch, metric ("loss" or "accuracy"), split ("train" or "validation"), value."""
    value_columns = [c for c in history.columns if c != "epoch"]
    long = history.melt(id_vars=["epoch"], value_vars=value_columns, var_name="column")
    long["split"] = long["column"].map(lambda c: "validation" if c.startswith("val_") else "train")
    long["metric"] = long["column"].str.removeprefix("val_")
    return long.drop(columns="column").dropna(subset=["value"])


def training_curves(metrics_df: pd.DataFrame) -> alt.HConcatChart:
    """Loss and accuracy per epoch in two panels side by side, one line per split.

    ``metrics_df``: epoch, metric ("loss", "accuracy"), split ("train", "validation"), value.
    A wide Keras history is accepted too (see ``tidy_history``). Points mark each epoch, so a
    single epoch shows; without validation rows only the training lines are drawn.
    """
    df = metrics_df if {"metric", "split", "value"} <= set(metrics_df.columns) else None
    df = tidy_history(metrics_df) if df is None else df
    splits = _ordered(df["split"], SPLIT_ORDER)
    base = alt.Chart(df).mark_line(point=True)
    panels = []
    for metric, title in (("loss", "Loss"), ("accuracy", "Accuracy")):
        axis = alt.Axis(format="%") if metric == "accuracy" else alt.Axis()
        panel = base.transform_filter(alt.datum.metric == metric).encode(
            x=alt.X("epoch:Q", title="Epoch", axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y("value:Q", title=title, axis=axis, scale=alt.Scale(zero=metric == "loss")),
            color=alt.Color("split:N", title="Split", scale=alt.Scale(domain=splits)),
            tooltip=[
                alt.Tooltip("epoch:Q", title="Epoch"),
                alt.Tooltip("split:N", title="Split"),
                alt.Tooltip("value:Q", title=title, format=".4f"),
            ],
        )
        panels.append(panel.properties(title=title, **_PANEL))
    return alt.hconcat(*panels)


def batch_loss_chart(batch_df: pd.DataFrame) -> alt.Chart:
    """Training loss after each batch. ``batch_df``: step (batches so far), loss."""
    return (
        alt.Chart(batch_df)
        .mark_line()
        .encode(
            x=alt.X("step:Q", title="Batch (iteration)"),
            y=alt.Y("loss:Q", title="Training loss"),
            tooltip=[alt.Tooltip("step:Q", title="Batch"), alt.Tooltip("loss:Q", format=".4f")],
        )
        .properties(title="Loss per batch", height=240)
    )


def learning_rate_chart(frame: pd.DataFrame, title: str = "Learning rate") -> alt.Chart:
    """The learning rate over a run's iterations. ``frame``: iteration, learning_rate, and
    optionally epoch (shown in the tooltip)."""
    tooltip = [alt.Tooltip("iteration:Q", title="Iteration")]
    if "epoch" in frame.columns:
        tooltip.append(alt.Tooltip("epoch:Q", title="Epoch", format=".2f"))
    tooltip.append(alt.Tooltip("learning_rate:Q", title="Learning rate", format=".3g"))
    return (
        alt.Chart(frame)
        .mark_line(interpolate="linear")
        .encode(
            x=alt.X("iteration:Q", title="Iteration (batch)"),
            y=alt.Y("learning_rate:Q", title="Learning rate", axis=alt.Axis(format=".1e")),
            tooltip=tooltip,
        )
        .properties(title=title, height=180)
    )


def confusion_heatmap(
    cm_df: pd.DataFrame, selectable: bool = True, class_order: list[str] | None = None
) -> alt.LayerChart:
    """Confusion matrix: rows are true classes, columns predicted, each cell its count.

    ``cm_df``: true, predicted, count (one row per cell). Axes follow ``class_order`` (default:
    order of appearance). With ``selectable`` a click selects a cell through the point
    selection named "cell" on fields true and predicted, which
    ``st.altair_chart(on_select="rerun")`` reports.
    """
    cm_df = _plain_columns(cm_df, "true", "predicted")
    order = _plain_list(class_order) or _ordered(pd.concat([cm_df["true"], cm_df["predicted"]]), ())
    base = alt.Chart(cm_df).encode(
        x=alt.X("predicted:N", title="Predicted class", sort=order),
        y=alt.Y("true:N", title="True class", sort=order),
    )
    rect = base.mark_rect().encode(
        color=alt.Color("count:Q", title="Images", scale=alt.Scale(scheme="blues")),
        tooltip=[
            alt.Tooltip("true:N", title="True"),
            alt.Tooltip("predicted:N", title="Predicted"),
            alt.Tooltip("count:Q", title="Images"),
        ],
    )
    if selectable:
        cell = alt.selection_point(name="cell", fields=["true", "predicted"])
        picked = alt.when(cell, empty=False)
        rect = rect.add_params(cell).encode(
            stroke=picked.then(alt.value("#ff7f0e")).otherwise(alt.value(None)),
            strokeWidth=picked.then(alt.value(3)).otherwise(alt.value(0)),
        )
    half = float(cm_df["count"].max()) / 2 if len(cm_df) else 0.0
    text = base.mark_text(baseline="middle").encode(
        text=alt.Text("count:Q"),
        color=alt.when(alt.datum.count > half)
        .then(alt.value("white"))
        .otherwise(alt.value("black")),
    )
    side = max(240, 28 * len(order))
    return alt.layer(rect, text).properties(title="Confusion matrix", width=side, height=side)


def class_counts_chart(counts_df: pd.DataFrame, class_order: list[str] | None = None) -> alt.Chart:
    """Images per class, one bar per split side by side. ``counts_df``: class, count, split."""
    counts_df, class_order = _plain_columns(counts_df, "class"), _plain_list(class_order)
    splits = _ordered(counts_df["split"], SPLIT_ORDER)
    return (
        alt.Chart(counts_df)
        .mark_bar()
        .encode(
            x=alt.X("class:N", title="Class", sort=class_order or _ordered(counts_df["class"], ())),
            xOffset=alt.XOffset("split:N", sort=splits),
            y=alt.Y("count:Q", title="Images"),
            color=alt.Color("split:N", title="Split", scale=alt.Scale(domain=splits)),
            tooltip=["class:N", "split:N", alt.Tooltip("count:Q", title="Images")],
        )
        .properties(title="Images per class", height=260)
    )


def pixel_histogram(df: pd.DataFrame) -> alt.Chart:
    """Distribution of pixel intensities (0-255), one area per channel.

    ``df``: intensity (bin start), count, channel ("red", "green", "blue" or "gray")."""
    channels = _ordered(df["channel"], tuple(_CHANNEL_COLORS))
    colors = [_CHANNEL_COLORS.get(str(name), "#9467bd") for name in channels]
    return (
        alt.Chart(df)
        .mark_area(opacity=0.4, interpolate="step-after", line=True)
        .encode(
            x=alt.X("intensity:Q", title="Pixel value", scale=alt.Scale(domain=[0, 255])),
            # symlog: the black background of digit images would flatten every other bar
            y=alt.Y(
                "count:Q", title="Pixels (log scale)", stack=None, scale=alt.Scale(type="symlog")
            ),
            color=alt.Color(
                "channel:N", title="Channel", scale=alt.Scale(domain=channels, range=colors)
            ),
            tooltip=["channel:N", "intensity:Q", alt.Tooltip("count:Q", title="Pixels")],
        )
        .properties(title="Pixel values", height=220)
    )


def topk_chart(df: pd.DataFrame) -> alt.LayerChart:
    """The most probable classes for one image as bars with percent labels, highest first.

    ``df``: label (class name), probability (0-1)."""
    df = _plain_columns(df, "label")
    base = alt.Chart(df).encode(
        y=alt.Y("label:N", title=None, sort="-x"),
        x=alt.X(
            "probability:Q",
            title="Probability",
            axis=alt.Axis(format="%"),
            scale=alt.Scale(domain=[0, 1]),
        ),
        tooltip=["label:N", alt.Tooltip("probability:Q", format=".1%")],
    )
    bars = base.mark_bar()
    labels = base.mark_text(align="left", dx=4).encode(text=alt.Text("probability:Q", format=".1%"))
    return alt.layer(bars, labels).properties(height=max(60, 32 * len(df)))


def activations_chart(df: pd.DataFrame, title: str | None = None) -> alt.Chart:
    """The outputs of one dense layer for one image, one bar per unit (neuron), in unit order.

    ``df``: unit (1-based number), activation. Many units (500, 1024) fit: the bars are thin
    and the axis labels few."""
    chart = (
        alt.Chart(df)
        .mark_bar()
        .encode(
            x=alt.X(
                "unit:Q",
                title="Unit (neuron)",
                axis=alt.Axis(format="d", tickMinStep=1),
                scale=alt.Scale(domain=[0, int(df["unit"].max()) + 1], nice=False),
            ),
            y=alt.Y("activation:Q", title="Output"),
            tooltip=[
                alt.Tooltip("unit:Q", title="Unit"),
                alt.Tooltip("activation:Q", format=".3f"),
            ],
        )
        .properties(height=150)
    )
    return chart.properties(title=plain(title)) if title else chart


def runs_overlay(df: pd.DataFrame) -> alt.FacetChart:
    """Several runs on the same axes, one panel per metric, one colour per run.

    ``df``: run, epoch, metric (e.g. "val_accuracy"), value; an optional split column draws
    train and validation with different dashes."""
    df = _plain_columns(df, "run")
    encoding = {
        "x": alt.X("epoch:Q", title="Epoch", axis=alt.Axis(tickMinStep=1, format="d")),
        "y": alt.Y("value:Q", title=None, scale=alt.Scale(zero=False)),
        "color": alt.Color("run:N", title="Run"),
        "tooltip": ["run:N", "metric:N", "epoch:Q", alt.Tooltip("value:Q", format=".4f")],
    }
    if "split" in df.columns:
        encoding["strokeDash"] = alt.StrokeDash("split:N", title="Split")
    chart = alt.Chart(df).mark_line(point=True).encode(**encoding).properties(**_PANEL)
    return chart.facet(column=alt.Column("metric:N", title=None)).resolve_scale(y="independent")


def _plain_columns(df: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """A copy of ``df`` whose text ``columns`` (names people chose) are plain text."""
    present = [c for c in columns if c in df.columns and not pd.api.types.is_numeric_dtype(df[c])]
    return df.assign(**{c: df[c].map(_plain_str) for c in present}) if present else df


def _plain_list(names: list | None) -> list | None:
    return [_plain_str(name) for name in names] if names else names


def _plain_str(value):
    return plain(value) if isinstance(value, str) else value


def _ordered(values: pd.Series, preferred: tuple[str, ...]) -> list:
    """Distinct values: the preferred ones first in that order, then the rest as they appear."""
    present = list(dict.fromkeys(values.tolist()))
    return [v for v in preferred if v in present] + [v for v in present if v not in preferred]
