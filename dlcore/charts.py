"""Altair charts for the pages, built from tidy long-form DataFrames with explicit field types.

Pages only place these charts (``st.altair_chart``); tests read them through ``to_dict()``.
Each function documents the columns it needs. Names people chose (class folders, run ids) are
drawn as plain text (``dlcore.text.plain``): no bidi control can reverse an axis label.
"""

from __future__ import annotations

import altair as alt
import numpy as np
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


def training_curves(metrics_df: pd.DataFrame, kept_epoch: int | None = None) -> alt.HConcatChart:
    """Loss and accuracy per epoch in two panels side by side, one line per split.

    ``metrics_df``: epoch, metric ("loss", "accuracy"), split ("train", "validation"), value.
    A wide Keras history is accepted too (see ``tidy_history``). Points mark each epoch, so a
    single epoch shows; without validation rows only the training lines are drawn.
    ``kept_epoch``: the epoch whose weights the run kept, marked by a dashed rule in both
    panels (``dlcore.curves.kept_epoch``).
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
        if kept_epoch is not None:  # labelled where the lines are not: loss falls, accuracy rises
            panel = alt.layer(panel, *_kept_marks(kept_epoch, top=metric == "loss"))
        panels.append(panel.properties(title=title, **_PANEL))
    return alt.hconcat(*panels)


def _kept_marks(epoch: int, top: bool) -> tuple[alt.Chart, alt.Chart]:
    """A dashed vertical rule at ``epoch`` labelled "kept" at the ``top`` or the bottom of the
    panel: the weights the run saved."""
    frame = pd.DataFrame({"epoch": [epoch], "label": [f"kept: epoch {epoch}"]})
    rule = (
        alt.Chart(frame)
        .mark_rule(strokeDash=[4, 3], color="#555555")
        .encode(x="epoch:Q", tooltip=[alt.Tooltip("label:N", title="Saved weights")])
    )
    label = (
        alt.Chart(frame)
        .mark_text(
            align="left",
            baseline="top" if top else "bottom",
            dx=3,
            y=2 if top else _PANEL["height"] - 2,
            color="#555555",
        )
        .encode(x="epoch:Q", text="label:N")
    )
    return rule, label


def batch_loss_chart(batch_df: pd.DataFrame) -> alt.LayerChart:
    """Training loss over the iterations, as TensorBoard draws it: the logged values faint,
    their smoothed curve on top. ``batch_df``: step (batches so far), loss, and optionally
    smoothed (``dlcore.curves.batch_losses`` gives all three; without it only loss is drawn)."""
    x = alt.X("step:Q", title="Batch (iteration)")
    tooltip = [alt.Tooltip("step:Q", title="Batch"), alt.Tooltip("loss:Q", format=".4f")]
    smoothed = "smoothed" in batch_df.columns
    raw = (
        alt.Chart(batch_df)
        .mark_line(opacity=0.3 if smoothed else 1.0)
        .encode(x=x, y=alt.Y("loss:Q", title="Training loss"), tooltip=tooltip)
    )
    layers = [raw]
    if smoothed:
        tooltip = [*tooltip, alt.Tooltip("smoothed:Q", title="smoothed", format=".4f")]
        layers.append(alt.Chart(batch_df).mark_line().encode(x=x, y="smoothed:Q", tooltip=tooltip))
    return alt.layer(*layers).properties(title="Loss per batch", height=240)


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
    cm_df: pd.DataFrame,
    selectable: bool = True,
    class_order: list[str] | None = None,
    title: str | None = None,
) -> alt.LayerChart:
    """Confusion matrix: rows are true classes, columns predicted, each cell its count.

    ``cm_df``: true, predicted, count (one row per cell). Axes follow ``class_order`` (default:
    order of appearance). With ``selectable`` a click selects a cell through the point
    selection named "cell" on fields true and predicted, which
    ``st.altair_chart(on_select="rerun")`` reports. Sized to be read on a projector: cells of
    at least 20 px, the whole matrix 520-720 px wide, counts and labels in large type. No
    title unless ``title`` is given (pages put a heading above it).
    """
    cm_df = _plain_columns(cm_df, "true", "predicted")
    order = _plain_list(class_order) or _ordered(pd.concat([cm_df["true"], cm_df["predicted"]]), ())
    # large type in the encoding itself: Streamlit's theme overrides a chart's axis config
    short = all(len(str(name)) <= 3 for name in order)  # digits read upright
    axis = {"labelFontSize": 14, "titleFontSize": 15, "labelLimit": 160}
    base = alt.Chart(cm_df).encode(
        x=alt.X(
            "predicted:N",
            title="Predicted class",
            sort=order,
            axis=alt.Axis(labelAngle=0 if short else -45, **axis),
        ),
        y=alt.Y("true:N", title="True class", sort=order, axis=alt.Axis(**axis)),
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
    side = min(720, max(520, 20 * len(order)))
    text = base.mark_text(
        baseline="middle", fontSize=max(9, min(16, side // len(order) // 3))
    ).encode(
        text=alt.Text("count:Q"),
        color=alt.when(alt.datum.count > half)
        .then(alt.value("white"))
        .otherwise(alt.value("black")),
    )
    chart = alt.layer(rect, text).properties(width=side, height=side)
    return chart.properties(title=plain(title)) if title else chart


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


def pixel_histogram(df: pd.DataFrame) -> alt.FacetChart:
    """Distribution of pixel intensities (0-255) as bars, one panel per channel side by side
    (a colour image's channels would hide one another in one panel). The y axis is the share
    of the channel's pixels on a linear scale: a digit set's black background shows as the
    tall bar it is.

    ``df``: intensity (bin start), count, channel ("red", "green", "blue" or "gray")."""
    channels = _ordered(df["channel"], tuple(_CHANNEL_COLORS))
    colors = [_CHANNEL_COLORS.get(str(name), "#9467bd") for name in channels]
    totals = df.groupby("channel")["count"].transform("sum").clip(lower=1)
    df = df.assign(share=df["count"] / totals)
    starts = np.unique(df["intensity"].to_numpy(dtype=float))
    width = float(np.diff(starts).min()) if len(starts) > 1 else 8.0  # the bins' width
    df = df.assign(end=df["intensity"] + width)
    return (
        alt.Chart(df)
        .mark_bar()
        .encode(
            x=alt.X(
                "intensity:Q",
                title="Pixel value",
                scale=alt.Scale(domain=[0, 256], nice=False),
                axis=alt.Axis(values=[0, 64, 128, 192, 255]),
            ),
            x2="end:Q",
            y=alt.Y("share:Q", title="Share of pixels", axis=alt.Axis(format="%")),
            y2=alt.datum(0),  # bars from zero (an x range alone would make them floating ticks)
            color=alt.Color(
                "channel:N",
                title="Channel",
                scale=alt.Scale(domain=channels, range=colors),
                legend=None,
            ),
            tooltip=[
                alt.Tooltip("channel:N", title="Channel"),
                alt.Tooltip("intensity:Q", title="From"),
                alt.Tooltip("share:Q", title="Share", format=".1%"),
                alt.Tooltip("count:Q", title="Pixels", format=","),
            ],
        )
        .properties(width=max(120, 330 // len(channels or [1])), height=200)
        .facet(column=alt.Column("channel:N", title=None, sort=channels))
        .properties(title="Pixel values")
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


_SPLIT_NAMES = {"train": "training", "validation": "validation", "test": "test"}
_DASHES = {"training": [6, 4], "validation": [1, 0], "test": [2, 2]}
_DASH_WORDS = (
    "datum.label == 'training' ? 'training: dashed lines' : "
    "datum.label == 'validation' ? 'validation: solid lines' : datum.label"
)


def runs_overlay(df: pd.DataFrame) -> alt.HConcatChart:
    """Several runs on the same axes: one panel per metric (accuracy first, in percent, then
    loss), one colour per run from a palette of distinct hues (never two shades of one).

    ``df``: run, epoch, metric ("accuracy", "loss"), value; an optional split column ("train",
    "validation") draws training lines dashed and validation lines solid, as the legend
    "Images" says."""
    df = _plain_columns(df, "run")
    runs = _ordered(df["run"], ())
    scheme = "tableau10" if len(runs) <= 10 else "tableau20"
    encoding = {
        "x": alt.X("epoch:Q", title="Epoch", axis=alt.Axis(tickMinStep=1, format="d")),
        "color": alt.Color(
            "run:N",
            title="Run",
            sort=runs,
            scale=alt.Scale(scheme=scheme),
            legend=alt.Legend(orient="bottom", columns=2, labelLimit=320),
        ),
    }
    tooltip = [alt.Tooltip("run:N", title="Run"), alt.Tooltip("epoch:Q", title="Epoch")]
    if "split" in df.columns:
        df = df.assign(split=df["split"].map(lambda s: _SPLIT_NAMES.get(s, s)))
        splits = _ordered(df["split"], tuple(_DASHES))
        dashes = [_DASHES.get(split, [2, 2]) for split in splits]
        encoding["strokeDash"] = alt.StrokeDash(
            "split:N",
            title="Images",
            scale=alt.Scale(domain=splits, range=dashes),
            # the legend says it in words: its symbols would be dots, whatever the dash
            legend=alt.Legend(orient="bottom", symbolOpacity=0, labelExpr=_DASH_WORDS),
        )
        tooltip.append(alt.Tooltip("split:N", title="Images"))
    panels = []
    for metric in _ordered(df["metric"], ("accuracy", "loss")):
        accuracy = metric.endswith("accuracy")
        title = str(metric).replace("_", " ").capitalize()
        axis = alt.Axis(format="%") if accuracy else alt.Axis()
        panel = (
            alt.Chart(df[df["metric"] == metric])
            .mark_line(point=True)
            .encode(
                y=alt.Y("value:Q", title=title, axis=axis, scale=alt.Scale(zero=False)),
                tooltip=[
                    *tooltip,
                    alt.Tooltip("value:Q", title=title, format=".1%" if accuracy else ".4f"),
                ],
                **encoding,
            )
        )
        panels.append(panel.properties(title=title, **_PANEL))
    return alt.hconcat(*panels)


def sweep_heatmap(cells: pd.DataFrame, x_title: str, y_title: str | None) -> alt.LayerChart:
    """A sweep's validation accuracy in a grid, each cell labelled.

    ``cells``: x and y (the two settings' values as text, in their order; y is "" for a sweep
    of one setting), val_accuracy (0-1, or null for a run without a figure yet), text (the
    cell's label: the accuracy in percent, or the run's state)."""
    x_order, y_order = _ordered(cells["x"], ()), _ordered(cells["y"], ())
    base = alt.Chart(cells).encode(
        x=alt.X("x:O", title=x_title, sort=x_order, axis=alt.Axis(labelAngle=0, orient="top")),
        y=alt.Y("y:O", title=y_title, sort=y_order),
    )
    rect = base.mark_rect(stroke="white", strokeWidth=2).encode(
        color=alt.Color(
            "val_accuracy:Q",
            title="Validation accuracy",
            scale=alt.Scale(scheme="greens"),
            legend=alt.Legend(format="%"),
        ),
        tooltip=[
            alt.Tooltip("x:O", title=x_title),
            *([alt.Tooltip("y:O", title=y_title)] if y_title else []),
            alt.Tooltip("text:N", title="Validation accuracy"),
        ],
    )
    known = cells["val_accuracy"].dropna()
    middle = float(known.min() + known.max()) / 2 if len(known) else 0.0
    text = base.mark_text(baseline="middle", fontSize=16).encode(
        text=alt.Text("text:N"),
        color=alt.when(alt.datum.val_accuracy > middle)
        .then(alt.value("white"))
        .otherwise(alt.value("black")),
    )
    return alt.layer(rect, text).properties(width=alt.Step(120), height=alt.Step(56))


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
