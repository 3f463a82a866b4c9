"""Inside: what a trained network learned, what it sees in one image, and the code behind it."""

import numpy as np
import pandas as pd
import streamlit as st

from dlcore import LayerLabError
from dlcore.data.folders import IMAGE_TYPES
from dlcore.data.ownership import PrivateDataset
from dlcore.limits import load_limits
from dlcore.results import charts as result_charts
from dlcore.results import explain, explain_images, inference
from pages import common, grid, guards, inside_code
from pages import explain_views as views

INTRO = (
    "A convolution layer slides small **filters** over the image; each filter gives one "
    "**feature map**, bright where it found its pattern. Pooling shrinks the maps, and each "
    "layer builds more abstract features from the maps of the one before."
)
LAYERS = (
    "Read it from left to right. Each picture is one feature map, bright where its filter found "
    "its pattern in the maps before; pooling keeps the strongest value of each small window, so "
    "the maps shrink. The dense layers then weigh all of them to choose a class."
)
DIGIT_HELP = "For a photo of a digit on paper: made to look like an MNIST image, as on Classify."


@st.cache_data(max_entries=32, show_spinner=False)
def _inside_of(run_id: str, model_time: float, key: str, _model, _image: np.ndarray):
    """A validation image's inside view, kept per run, model file and image."""
    return explain.inside(_model, _image)


def _model_time(run_id: str) -> float:
    from dlcore.train.run_outputs import model_file

    return model_file(run_id).stat().st_mtime


def _validation_image(dataset: str, classes: list) -> tuple[np.ndarray, str, str] | None:
    try:
        images, labels = common.dataset_for(dataset).split("val")
    except PrivateDataset as error:
        st.info(f"The images belong to {common.md(error.owner_label)}'s own dataset and stay "
                "private: upload an image instead.")  # fmt: skip
        return None
    except LayerLabError as error:
        st.info(f"The validation images cannot be shown ({common.md(error)}): upload an image.")
        return None
    number = st.slider("Validation image", 1, len(images), 1) if len(images) > 1 else 1
    true = common.md(classes[int(labels[number - 1])])
    return images[number - 1], f"validation image {number} · true class {true}", str(number)


def _chosen_image(run: dict, info: dict) -> tuple[np.ndarray, str, str | None]:
    """(prepared uint8 image, caption, cache key; None for an upload, which is never cached)."""
    own = st.radio("Image", ["A validation image", "Your own image"], horizontal=True)
    if own == "A validation image":
        chosen = _validation_image(run["dataset"], info["classes"])
        if chosen is not None:
            return chosen
    upload = st.file_uploader(
        "An image to look at", type=IMAGE_TYPES, max_upload_size=load_limits().max_upload_mb
    )
    if upload is None:
        st.info("Upload an image to look inside the network with it.")
        st.stop()
    digits = info["image_shape"][-1] == 1 and st.checkbox(
        "Digit-photo mode", value=bool(info.get("digits")), help=DIGIT_HELP
    )
    try:
        image = inference.prepare_for_run(upload.getvalue(), info, digit_mode=digits)
    except LayerLabError as error:
        common.stop_on_error(error)
    return image, common.md(upload.name), None


def _one_image(run: dict, info: dict, model) -> None:
    image, caption, key = _chosen_image(run, info)
    try:
        if key is None:
            seen = explain.inside(model, image)
        else:
            seen = _inside_of(run["run_id"], _model_time(run["run_id"]), key, model, image)
    except LayerLabError as error:
        common.stop_on_error(error)
    classes = info["classes"]
    label = common.md(classes[seen.predicted])
    picture, heat, chances = st.columns([1, 1, 2])
    picture.image(grid.enlarge(image, views.HEAT_SIDE), caption=caption)
    method = "Grad-CAM" if seen.heat_method == "grad-cam" else "saliency map"
    heat.image(
        grid.enlarge(explain_images.overlay(image, seen.heat), views.HEAT_SIDE),
        caption=f"Where it looked ({method})",
    )
    chances.markdown(f"The network answers **{label}** · {seen.probabilities[seen.predicted]:.1%}")
    order = np.argsort(seen.probabilities)[::-1][:5]
    top = {"label": [classes[i] for i in order], "probability": seen.probabilities[order]}
    chances.altair_chart(result_charts.topk_chart(pd.DataFrame(top)))
    st.markdown(views.HEAT_LINE[seen.heat_method].format(label=label))

    st.subheader("Layer by layer")
    flow = [f"image {views.shape_text(image.shape)}"]
    flow += [f"{common.md(v.name)} {views.shape_text(v.shape)}" for v in seen.layers]
    st.markdown(" → ".join(flow))
    st.caption(LAYERS)
    maps = [view for view in seen.layers if np.ndim(view.values) == 3]
    for start in range(0, len(maps), 2):
        for cell, view in zip(st.columns(2), maps[start : start + 2], strict=False):
            with cell:
                views.feature_maps(view)
    for view in seen.layers:
        if np.ndim(view.values) == 1 and view.kind != "output":
            views.dense_activations(view)


st.title("Inside")
run = guards.choose_finished_run("Run", "inside_run")
try:
    info = inference.run_preparation(run["run_id"])
    model = guards.cached_model(run["run_id"])
except LayerLabError as error:
    common.stop_on_error(error)
st.caption(INTRO)
image_tab, filters_tab, code_tab = st.tabs(["One image", "Filters", "The code behind this run"])
with filters_tab:
    views.filters_and_history(run["run_id"], model)
with code_tab:
    inside_code.code_and_exports(run["run_id"])
with image_tab:
    _one_image(run, info, model)
