"""Altair charts for the pages, built from tidy long-form DataFrames with explicit field types.

Pages only place these charts (``st.altair_chart``); tests read them through ``to_dict()``.
Each function documents the columns it needs. Names people chose (class folders, run ids) are
drawn as plain text (``dlcore.text.plain``): no bidi control can reverse an axis label.

This module draws how runs learn (curves per epoch, loss per batch, the learning rate, runs
overlaid) and holds the helpers every chart module shares; a dataset's charts are in
``dlcore.data.charts``, a trained model's results in ``dlcore.results.charts``.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from dlcore.text import plain

SPLIT_ORDER = ("train", "validation", "test")
PANEL = {"width": 320, "height": 240}
ITERATION_TITLE = "Iteration (batch)"  # the one name of the x axis of every per-batch chart
RATE_FORMAT = "~g"  # 0.003, 0.0001: a learning rate as the settings write it, not 3.0e-3


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
    panels (``dlcore.train.curves.kept_epoch``).
    """
    df = metrics_df if {"metric", "split", "value"} <= set(metrics_df.columns) else None
    df = tidy_history(metrics_df) if df is None else df
    splits = ordered_values(df["split"], SPLIT_ORDER)
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
        panels.append(panel.properties(title=title, **PANEL))
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
            y=2 if top else PANEL["height"] - 2,
            color="#555555",
        )
        .encode(x="epoch:Q", text="label:N")
    )
    return rule, label


def batch_loss_chart(batch_df: pd.DataFrame) -> alt.LayerChart:
    """Training loss over the iterations, as TensorBoard draws it: the logged values faint,
    their smoothed curve on top. ``batch_df``: step (batches so far), loss, and optionally
    smoothed (``dlcore.train.curves.batch_losses`` gives all three; without it only loss is
    drawn)."""
    x = alt.X("step:Q", title=ITERATION_TITLE)
    tooltip = [alt.Tooltip("step:Q", title="Iteration"), alt.Tooltip("loss:Q", format=".4f")]
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


def learning_rate_chart(
    frame: pd.DataFrame, title: str = "Learning rate", points: bool = False
) -> alt.Chart:
    """The learning rate over a run's iterations. ``frame``: iteration, learning_rate, and
    optionally epoch (shown in the tooltip). The axis reads rates as plain decimals, as the
    settings do (0.003, 0.0001). ``points`` draws each row as a point, with no line between:
    a logged rate is a few samples of the schedule (a short run logs three or four), and a
    line through them would draw a shape the schedule does not have."""
    tooltip = [alt.Tooltip("iteration:Q", title="Iteration")]
    if "epoch" in frame.columns:
        tooltip.append(alt.Tooltip("epoch:Q", title="Epoch", format=".2f"))
    tooltip.append(alt.Tooltip("learning_rate:Q", title="Learning rate", format=".3~g"))
    chart = alt.Chart(frame)
    chart = (
        chart.mark_point(filled=True, size=36) if points else chart.mark_line(interpolate="linear")
    )
    return (
        chart.encode(
            x=alt.X("iteration:Q", title=ITERATION_TITLE),
            y=alt.Y("learning_rate:Q", title="Learning rate", axis=alt.Axis(format=RATE_FORMAT)),
            tooltip=tooltip,
        )
        # fit-x: the height is the plot's own, not shared with the title and the axes
        .properties(
            title=title,
            height=160,
            autosize=alt.AutoSizeParams(type="fit-x", contains="padding"),
        )
    )


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
    df = plain_columns(df, "run")
    runs = ordered_values(df["run"], ())
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
        splits = ordered_values(df["split"], tuple(_DASHES))
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
    for metric in ordered_values(df["metric"], ("accuracy", "loss")):
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
        panels.append(panel.properties(title=title, **PANEL))
    return alt.hconcat(*panels)


def plain_columns(df: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """A copy of ``df`` whose text ``columns`` (names people chose) are plain text."""
    present = [c for c in columns if c in df.columns and not pd.api.types.is_numeric_dtype(df[c])]
    return df.assign(**{c: df[c].map(_plain_str) for c in present}) if present else df


def plain_list(names: list | None) -> list | None:
    return [_plain_str(name) for name in names] if names else names


def _plain_str(value):
    return plain(value) if isinstance(value, str) else value


def ordered_values(values: pd.Series, preferred: tuple[str, ...]) -> list:
    """Distinct values: the preferred ones first in that order, then the rest as they appear."""
    present = list(dict.fromkeys(values.tolist()))
    return [v for v in preferred if v in present] + [v for v in present if v not in preferred]
