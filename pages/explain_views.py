"""Views of a trained network from the inside, shared by the Inside, Evaluate and Classify pages:
filters and feature maps as tiled images, dense activations, Grad-CAM overlays.

Not a page itself (app.py lists the pages). The numbers come from ``dlcore.results.explain``; here
they are only laid out: tiles side by side, enlarged, labelled with the layer's name and shape.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from dlcore import LayerLabError
from dlcore.results import charts as result_charts
from pages import common, grid

MAX_MAPS = 16  # feature maps (and filters of a deeper layer) shown per layer
MAX_CHANNELS = 16  # input channels shown per filter of a deeper layer
FRAME = 150  # grey of the line around each tile
HEAT_SIDE = 200  # pixels of an overlay shown beside its image
HEAT_LINE = {
    "grad-cam": "Where the network looked: the red areas are where its last convolution layer "
    "found the features that made it answer **{label}**. On the object: it decided for the "
    "right reason. On the background: it may have learned a shortcut.",
    "saliency": "Where the network looked: this network has no convolution layer, so this is a "
    "saliency map: the red pixels are those that change its score for **{label}** the most.",
}
HEAT_NOTE = (
    "Red: where the network looked when it decided (Grad-CAM; a saliency map for a network "
    "without convolutions). A mistake made while looking at the background, or at only one "
    "stroke, shows what it learned wrongly. The first {count} mistakes are shown."
)
HEAT_HELP = (
    "Grad-CAM: red where the last convolution layer found what made the network answer as it "
    "did (a saliency map for a network without convolutions). The Inside page explains more."
)

NO_FILTERS = (
    "This network has no convolution layer, so it has no filters: each unit of its first dense "
    "layer weighs every pixel of the image. Try LeNet or cnn3 on the Model page."
)

DENSE = "each bar is one unit's output for this image (after its activation)"


def shape_text(shape) -> str:
    """(24, 24, 20) as 24 x 24 x 20: the way the layer table writes it."""
    return " x ".join(str(int(size)) for size in shape)


def mosaic(tiles: np.ndarray, columns: int, side: int = 48) -> np.ndarray:
    """uint8 tiles (N, h, w[, 3]) in one picture, ``columns`` per row, each tile enlarged by a
    whole factor to about ``side`` pixels (crisp pixels) in a thin grey frame, so that a white
    filter stays apart from its white neighbour."""
    from dlcore.results.explain_images import image_grid

    tiles = np.asarray(tiles, np.uint8)
    scale = max(1, side // max(tiles.shape[1:3]))
    tiles = tiles.repeat(scale, axis=1).repeat(scale, axis=2)
    frame = [(0, 0), (1, 1), (1, 1)] + [(0, 0)] * (tiles.ndim - 3)
    return image_grid(np.pad(tiles, frame, constant_values=FRAME), columns=columns, gap=4)


def feature_maps(view) -> None:
    """One conv or pooling layer's maps for the image, labelled with its name and shape."""
    from dlcore.results import explain_images

    shown = min(MAX_MAPS, len(view.values))
    note = (
        f" · the first {shown} of its {len(view.values)} maps" if shown < len(view.values) else ""
    )
    st.markdown(f"**{common.md(view.name)}** · {shape_text(view.shape)}{note}")
    tiles = explain_images.feature_image(view.values[:shown])
    st.image(mosaic(tiles, columns=8, side=64), width="stretch")


def dense_activations(view) -> None:
    """One dense layer's outputs for the image as bars."""
    frame = pd.DataFrame({"unit": np.arange(1, len(view.values) + 1), "activation": view.values})
    st.markdown(f"**{common.md(view.name)}** · {len(view.values)} units: {DENSE}")
    st.altair_chart(result_charts.activations_chart(frame))


def filters(images: np.ndarray, first: bool) -> None:
    """A layer's filters: the first layer's as small images, a deeper layer's as one row per
    filter and one column per input channel it looks at."""
    if first:
        st.image(mosaic(images, columns=min(len(images), 12), side=48))
        return
    num_filters, num_channels = images.shape[:2]
    rows, columns = min(MAX_MAPS, num_filters), min(MAX_CHANNELS, num_channels)
    st.caption(
        f"One row per filter ({rows} of {num_filters} shown), one column per input channel "
        f"({columns} of {num_channels}): a deeper filter looks at every map of the layer before."
    )
    tiles = images[:rows, :columns].reshape(rows * columns, *images.shape[2:])
    st.image(mosaic(tiles, columns=columns, side=28))


def heat_overlay(model, image: np.ndarray, side: int = HEAT_SIDE):
    """(overlay uint8 RGB enlarged, method) of the image's Grad-CAM or saliency map; None (with
    a caption) when it cannot be computed."""
    from dlcore.results import explain, explain_images

    try:
        heat, method = explain.heat_map(model, image)
    except LayerLabError as error:
        st.caption(f"No heat map: {common.md(error)}")
        return None
    return grid.enlarge(explain_images.overlay(image, heat), side), method


def heat_gallery(model, images, captions, columns: int = 6) -> None:
    """Each image's heat map overlay, in a grid with its caption (Evaluate's mistakes)."""
    overlays = [heat_overlay(model, image, 128) for image in images]
    shown = [(o[0], c) for o, c in zip(overlays, captions, strict=True) if o is not None]
    if shown:
        grid.image_grid([o for o, _ in shown], [c for _, c in shown], columns=columns)


def filters_and_history(run_id: str, model) -> None:
    """The Filters tab: a conv layer's learned filters, then the first layer's over time."""
    from dlcore.results import explain

    names = explain.conv_layer_names(model)
    if not names:
        st.info(NO_FILTERS)
        return
    name = st.selectbox("Convolution layer", names, key="inside_filters_layer")
    images = explain.filter_images(model, name)
    size = images.shape[2]  # (filters, k, k[, 3]) or (filters, channels, k, k)
    st.caption(
        f"Each square is one {size}×{size} filter of {common.md(name)}: bright where its weights "
        "are highest, dark where lowest (each filter scaled on its own)."
    )
    filters(images, first=name == names[0])
    st.subheader("Filters over time")
    try:
        history = explain.filter_history(run_id)
    except LayerLabError as error:
        st.info(common.md(error))
        return
    first = common.md(names[0])
    st.caption(f"The filters of {first} before training and after each epoch: training turns "
               "random noise into the edges and blobs the network needs.")  # fmt: skip
    last = len(history) - 1
    if last < 1:
        st.info("The filters were saved before training only: no epoch has finished yet.")
        return
    names_of = {0: "0 · random noise", last: f"{last} · edges and blobs"}
    epoch = st.select_slider(
        "After epoch", range(last + 1), last, format_func=lambda e: names_of.get(e, str(e))
    )
    filters(history[epoch], first=True)
