"""Classify: show a trained network new images (files or a camera photo) and read its guesses."""

import pandas as pd
import streamlit as st

from dlcore import LayerLabError, charts, inference
from dlcore.images import PrepSettings, open_image
from pages import common

IMAGE_TYPES = ["png", "jpg", "jpeg", "bmp", "gif", "webp"]
MAX_IMAGES = 24
NOT_SURE = 0.6
SOFTMAX = """
The last layer of the network gives one score per class. **Softmax** turns these scores into
**probabilities**: every number between 0 and 1, all of them adding up to 1 (100%). The guess is
the class with the highest probability. A network is always forced to pick one of the classes it
was trained on: shown a cat, a digit network still answers a digit, perhaps with a low
probability. Below 60% we flag the answer as *not sure*.
"""


def _image_inputs() -> list[tuple[str, bytes]]:
    files = st.file_uploader(
        "Images to classify",
        type=IMAGE_TYPES,
        accept_multiple_files=True,
        help="PNG, JPEG, BMP, GIF or WebP photos; each one is prepared like the training images.",
    )
    inputs = [(file.name, file.getvalue()) for file in files or []]
    if st.toggle("Use the camera", help="Your browser asks for permission first."):
        photo = st.camera_input("Take a photo")
        if photo is not None:
            inputs.append(("camera photo", photo.getvalue()))
    if len(inputs) > MAX_IMAGES:
        st.warning(f"Only the first {MAX_IMAGES} of {len(inputs)} images are classified.")
    return inputs[:MAX_IMAGES]


def _classify_each(model, info: dict, inputs, top_k: int, digit_mode: bool) -> list:
    """(name, data, prediction) for each usable image; a warning for each unusable one."""
    results = []
    for name, data in inputs:
        try:
            prediction = inference.classify(model, info, [data], top_k, digit_mode)[0]
        except LayerLabError as error:  # ImageError: not an image, damaged, too large...
            st.warning(f"**{name}** was not classified: {error}")
            continue
        results.append((name, data, prediction))
    return results


def _show(name: str, data: bytes, prediction: inference.Prediction) -> None:
    original, seen, chart = st.columns([1, 1, 2], vertical_alignment="center")
    original.image(open_image(data), caption=name, width=160)
    seen.image(common.enlarge(prediction.image, 160), caption="As the network sees it")
    verdict = f"**{prediction.label}** · {prediction.probability:.0%}"
    if prediction.probability < NOT_SURE:
        verdict += " · :orange[not sure]"
    chart.markdown(verdict)
    frame = pd.DataFrame(prediction.top, columns=["label", "probability"])
    bars = charts.topk_chart(frame).properties(autosize={"type": "fit-x", "contains": "padding"})
    chart.altair_chart(bars)  # fit the width only: "fit" would squeeze the bars into the axes


st.title("6 · Classify")
run_id = common.choose_finished_run("Trained network (run)", "classify_run")["run_id"]
try:
    info = inference.run_preparation(run_id)
    settings = PrepSettings.from_dict(info["settings"])
    model = common.cached_model(run_id)
except LayerLabError as error:
    common.stop_on_error(error)
classes = info["classes"]
more = " ..." if len(classes) > 20 else ""
st.caption(
    f"{len(classes)} classes: {', '.join(map(str, classes[:20]))}{more}. Images are prepared "
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
inputs = _image_inputs()
if not inputs:
    st.info("Upload one or more images, or take a photo, to see what the network thinks.")
    st.stop()
with st.spinner("Classifying..."):
    results = _classify_each(model, info, inputs, top_k, digit_mode)
for name, data, prediction in results:
    _show(name, data, prediction)
