"""Altair charts of a dataset for the Explore page: images per class and split, the
distribution of pixel values per channel. Conventions as in ``dlcore.charts``."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from dlcore.charts import SPLIT_ORDER, ordered_values, plain_columns, plain_list

_CHANNEL_COLORS = {
    "red": "#d62728",
    "green": "#2ca02c",
    "blue": "#1f77b4",
    "gray": "#555555",
    "grey": "#555555",
    "luminance": "#555555",
}


def class_counts_chart(counts_df: pd.DataFrame, class_order: list[str] | None = None) -> alt.Chart:
    """Images per class, one bar per split side by side. ``counts_df``: class, count, split."""
    counts_df, class_order = plain_columns(counts_df, "class"), plain_list(class_order)
    splits = ordered_values(counts_df["split"], SPLIT_ORDER)
    names = [str(name) for name in counts_df["class"].unique()]
    # a few short names (digits, "cat") read upright; longer or many slant, not to collide
    short = max((len(name) for name in names), default=0) <= 4 and len(names) <= 20
    angle = 0 if short else -40
    return (
        alt.Chart(counts_df)
        .mark_bar()
        .encode(
            x=alt.X(
                "class:N",
                title="Class",
                sort=class_order or ordered_values(counts_df["class"], ()),
                axis=alt.Axis(labelAngle=angle),
            ),
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
    channels = ordered_values(df["channel"], tuple(_CHANNEL_COLORS))
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
