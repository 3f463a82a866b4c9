"""Altair charts of a trained model's results: the confusion matrix, the most probable classes
of one image, a dense layer's outputs and a sweep's grid of accuracy. Conventions as in
``dlcore.charts``."""

from __future__ import annotations

import altair as alt
import pandas as pd

from dlcore.charts import ordered_values, plain_columns, plain_list
from dlcore.text import plain

BAR_STEP = 28  # px per bar of ``topk_chart``: room for each class label, whatever the count


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
    cm_df = plain_columns(cm_df, "true", "predicted")
    order = plain_list(class_order) or ordered_values(
        pd.concat([cm_df["true"], cm_df["predicted"]]), ()
    )
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


def topk_chart(df: pd.DataFrame, probability_axis: bool = True) -> alt.LayerChart:
    """The most probable classes for one image as bars with percent labels, highest first;
    without ``probability_axis`` (a small card) the bars' own labels carry the figures.

    ``df``: label (class name), probability (0-1). Every bar carries its class label: the
    chart is ``BAR_STEP`` px per bar tall (only its width fits the page) and no label is
    hidden for overlapping. The order is given once, as a list, for both layers: a "-x" sort
    in each layer made Vega-Lite warn of conflicting sorts and drop them."""
    df = plain_columns(df, "label")
    ranked = df.sort_values("probability", ascending=False, kind="stable")
    order = ordered_values(ranked["label"], ())
    bars = alt.Chart().mark_bar()
    labels = (
        alt.Chart()
        .mark_text(align="left", dx=4)
        .encode(text=alt.Text("probability:Q", format=".1%"))
    )
    return (
        alt.layer(bars, labels, data=df)
        .encode(
            y=alt.Y("label:N", title=None, sort=order, axis=alt.Axis(labelOverlap=False)),
            x=alt.X(
                "probability:Q",
                title="Probability",
                axis=alt.Axis(format="%") if probability_axis else None,
                scale=alt.Scale(domain=[0, 1]),
                stack=None,
            ),
            tooltip=["label:N", alt.Tooltip("probability:Q", format=".1%")],
        )
        .properties(
            height=BAR_STEP * max(1, len(order)),  # a step warns under Streamlit's autosize fit
            autosize=alt.AutoSizeParams(type="fit-x", contains="padding"),
        )
    )


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


def sweep_heatmap(cells: pd.DataFrame, x_title: str, y_title: str | None) -> alt.LayerChart:
    """A sweep's validation accuracy in a grid, each cell labelled.

    ``cells``: x and y (the two settings' values as text, in their order; y is "" for a sweep
    of one setting), val_accuracy (0-1, or null for a run without a figure yet), text (the
    cell's label: the accuracy in percent, or the run's state)."""
    x_order, y_order = ordered_values(cells["x"], ()), ordered_values(cells["y"], ())
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
