"""Classify: show a trained network new images (files, a folder, a photo) and read its guesses."""

import streamlit as st

from dlcore import LayerLabError
from dlcore.data.images import PrepSettings, preview_image
from dlcore.results import inference
from pages import classify_views, common, guards
from pages import explain_views as views

RESULTS = "_classify_results"  # (name, small preview, prediction): the uploads themselves go
SOFTMAX = """
The last layer of the network gives one score per class. **Softmax** turns these scores into
**probabilities**: every number between 0 and 1, all of them adding up to 1 (100%). The guess is
the class with the highest probability. A network is always forced to pick one of the classes it
was trained on: shown a cat, a digit network still answers a digit, perhaps with a low
probability. Below 60% we flag the answer as *not sure*.
"""


def _classify_each(model, info: dict, inputs, top_k: int, digit_mode: bool) -> list:
    """(name, data, prediction) for each usable image; a warning for each unusable one."""
    results = []
    for name, data in inputs:
        try:
            prediction = inference.classify(model, info, [data], top_k, digit_mode)[0]
        except LayerLabError as error:  # ImageError: not an image, damaged, too large...
            st.warning(f"**{common.md(name)}** was not classified: {common.md(error)}")
            continue
        results.append((name, data, prediction))
    return results


st.title("Classify")
run_id = guards.choose_finished_run("Trained network (run)", "classify_run")["run_id"]
try:
    info = inference.run_preparation(run_id)
    settings = PrepSettings.from_dict(info["settings"])
    model = guards.cached_model(run_id)
except LayerLabError as error:
    common.stop_on_error(error)
classes = info["classes"]
more = f" and {len(classes) - 20:,} more" if len(classes) > 20 else ""
named = common.md(", ".join(map(str, classes[:20])))
st.caption(
    f"{len(classes)} classes: {named}{more}. Images are prepared "
    f"like its training images: {settings.color_mode}, {settings.width}x{settings.height} "
    f"pixels, resize mode {settings.resize_mode}."
)
with st.expander("Softmax: why the answers are probabilities"):
    st.markdown(SOFTMAX)

top_k = st.slider("Classes to show per image", 1, min(10, len(classes)), min(3, len(classes)))
digit_mode = settings.channels == 1 and st.checkbox(
    "Digit-photo mode",
    value=bool(info.get("digits")),
    help="For a photo of a digit written on paper: makes it look like an MNIST image (white "
    "digit on black, cropped and centred).",
)
inputs = classify_views.image_inputs()
if inputs:
    with st.spinner("Classifying..."):
        results = _classify_each(model, info, inputs, top_k, digit_mode)
    del inputs  # only small previews are kept; the uploader forgets the files on the next run
    st.session_state[RESULTS] = (run_id, [(n, preview_image(d, 160), p) for n, d, p in results])
    st.session_state["_classify_round"] = st.session_state.get("_classify_round", 0) + 1
kept_run, shown = st.session_state.get(RESULTS) or (None, [])
shown = shown if kept_run == run_id else []
if not shown:
    st.info("Upload one or more images, or take a photo, to see what the network thinks.")
    st.stop()
looked = st.toggle("Show where the network looked (heat map)", help=views.HEAT_HELP)
classify_views.results(shown, classes, model if looked else None)
