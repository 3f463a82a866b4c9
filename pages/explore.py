"""Explore: look at the images before training: samples per class, counts, mean images, pixels."""

import numpy as np
import pandas as pd
import streamlit as st

from dlcore import LayerLabError
from dlcore.data import charts as data_charts
from dlcore.text import plain
from pages.common import dataset_for, md, require_dataset, stop_on_error
from pages.grid import image_grid

SPLIT_TITLES = {"train": "train", "val": "validation", "test": "test"}
PER_ROW = 8
MEAN_SAMPLE = 300  # images per class averaged for the mean image
HISTOGRAM_SAMPLE = 2000
NAMED = 20  # class names listed in a warning; the rest are counted
MAX_MEANS = 64  # average images drawn: a thousand classes would be a thousand images


def _sample_controls(classes: list[str], splits: list[str]) -> tuple[str, list[str], int]:
    left, middle, right = st.columns([1, 3, 1])
    split = left.selectbox("Split", splits, format_func=SPLIT_TITLES.get)
    chosen = middle.multiselect("Classes", classes, default=classes[:10], format_func=plain)
    page = right.number_input("Page", min_value=1, value=1, step=1)
    return split, chosen or classes[:10], int(page)


def _sample_grid(x: np.ndarray, y: np.ndarray, classes: list[str], chosen, page: int) -> None:
    for name in chosen:
        indices = np.flatnonzero(y == classes.index(name))
        shown = indices[(page - 1) * PER_ROW : page * PER_ROW]
        st.markdown(f"**{md(name)}** · {len(indices):,} images")
        if len(shown):
            image_grid([x[i] for i in shown], [f"#{i}" for i in shown], columns=PER_ROW)
        else:
            st.caption(f"No images on page {page} for this class.")


def _counts_frame(counts: dict[str, dict[str, int]]) -> pd.DataFrame:
    rows = [
        {"class": name, "count": count, "split": SPLIT_TITLES[split]}
        for split, per_class in counts.items()
        for name, count in per_class.items()
    ]
    return pd.DataFrame(rows)


def _mean_images(x: np.ndarray, y: np.ndarray, num_classes: int) -> list[np.ndarray]:
    means = []
    for label in range(num_classes):
        members = np.flatnonzero(y == label)[:MEAN_SAMPLE]
        mean = x[members].mean(axis=0) if len(members) else np.zeros(x.shape[1:])
        means.append(mean.round().astype(np.uint8))
    return means


def _histogram_frame(x: np.ndarray) -> pd.DataFrame:
    sample = np.asarray(x[:HISTOGRAM_SAMPLE])
    names = ["gray"] if sample.shape[-1] == 1 else ["red", "green", "blue"]
    frames = []
    for channel, name in enumerate(names):
        counts, edges = np.histogram(sample[..., channel], bins=32, range=(0, 256))
        frames.append(pd.DataFrame({"intensity": edges[:-1], "count": counts, "channel": name}))
    return pd.concat(frames, ignore_index=True)


def _balance_warnings(train_counts: dict[str, int]) -> None:
    largest, smallest = max(train_counts.values()), min(train_counts.values())
    if smallest and largest / smallest > 1.5:
        st.warning(
            f"The classes are unbalanced: the largest has {largest:,} training images, the "
            f"smallest {smallest:,} ({largest / smallest:.1f}x). The network may learn to favour "
            "the big classes; add images to the small ones or watch per-class accuracy."
        )
    tiny = [name for name, count in train_counts.items() if count < 20]
    if tiny:
        more = f" and {len(tiny) - NAMED:,} more" if len(tiny) > NAMED else ""
        st.warning(
            f"Classes with fewer than 20 training images: {md(', '.join(tiny[:NAMED]))}{more}. "
            "That is very few examples to learn from; add more images if you can."
        )


st.title("Explore")
name = require_dataset()
try:
    dataset = dataset_for(name)
except LayerLabError as error:
    stop_on_error(error)
counts = dataset.counts()
height, width, channels = dataset.image_shape
st.caption(
    f"**{md(name)}**: {dataset.num_classes} classes, images of {width}x{height} pixels, "
    f"{'grayscale' if channels == 1 else 'colour'}; "
    + ", ".join(f"{sum(c.values()):,} {SPLIT_TITLES[s]}" for s, c in counts.items())
)

with st.expander("Supervised learning: images, labels and three splits", expanded=True):
    st.markdown(
        "This is **supervised learning**: every image comes with its **label**, the right answer "
        "(the class folder it came from). The network learns by guessing labels and being "
        "corrected.\n\n"
        "- **Train** images are the ones it learns from.\n"
        "- **Validation** images are checked after every epoch, to see how well it does on "
        "images it has not learned from (and to choose settings).\n"
        "- **Test** images are kept in a drawer until the very end. The network never trains on "
        "them and you never tune settings on them, so their score is an honest estimate of how "
        "the network will do on brand-new images. Training on them would be like seeing the "
        "exam questions before the exam."
    )

_balance_warnings(counts["train"])

left, right = st.columns(2)
with left:
    st.altair_chart(data_charts.class_counts_chart(_counts_frame(counts), dataset.classes))
    st.caption("How many images each class has in each split.")
with right:
    st.altair_chart(data_charts.pixel_histogram(_histogram_frame(dataset.x_train)))
    st.caption(
        "How bright the pixels are (0 = black, 255 = white), one panel per colour channel; each "
        "bar is the share of the pixels in a range of 8 values. The network first divides them "
        "by 255, so it sees numbers from 0 to 1."
    )

st.subheader("Samples")
split, chosen, page = _sample_controls(dataset.classes, list(counts))
x, y = dataset.split(split)
_sample_grid(x, y, dataset.classes, chosen, page)

st.subheader("The average image of each class")
st.caption(
    "Each pixel averaged over up to 300 training images of the class. A sharp average means the "
    "images are aligned and alike (digits); a blurry one means the class varies a lot (photos)."
)
means = _mean_images(dataset.x_train, dataset.y_train, min(dataset.num_classes, MAX_MEANS))
image_grid(means, dataset.classes[:MAX_MEANS], columns=min(PER_ROW, max(2, len(means))))
if dataset.num_classes > MAX_MEANS:
    st.caption(f"The first {MAX_MEANS} of {dataset.num_classes:,} classes.")
