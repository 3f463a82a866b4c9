"""Classify: show a trained network new images (files or a camera photo) and read its guesses."""

import pandas as pd
import streamlit as st

from dlcore import LayerLabError, charts, inference
from dlcore.images import PrepSettings, preview_image
from dlcore.limits import load_limits
from pages import common
from pages import explain_views as views

IMAGE_TYPES = ["png", "jpg", "jpeg", "bmp", "gif", "webp"]
MB = 1024 * 1024
RESULTS = "_classify_results"  # (name, small preview, prediction): the uploads themselves go
NOT_SURE = 0.6
SOFTMAX = """
The last layer of the network gives one score per class. **Softmax** turns these scores into
**probabilities**: every number between 0 and 1, all of them adding up to 1 (100%). The guess is
the class with the highest probability. A network is always forced to pick one of the classes it
was trained on: shown a cat, a digit network still answers a digit, perhaps with a low
probability. Below 60% we flag the answer as *not sure*.
"""


def _image_inputs() -> list[tuple[str, bytes]]:
    """The uploaded images, within the limits said beside the uploader; the uploader gets a new
    key once they are classified, so Streamlit drops their bytes from the server's memory."""
    limits = load_limits()
    most, total_mb = limits.max_classify_files, limits.max_classify_upload_mb
    files = st.file_uploader(
        "Images to classify",
        type=IMAGE_TYPES,
        accept_multiple_files=True,
        key=f"_classify_upload_{st.session_state.get('_classify_round', 0)}",
        max_upload_size=min(limits.max_upload_mb, total_mb),
        help=f"PNG, JPEG, BMP, GIF or WebP photos: at most {most} images and {total_mb} MB "
        "together; each one is prepared like the training images.",
    )
    files = list(files or [])
    if len(files) > most or sum(f.size for f in files) > total_mb * MB:
        size = sum(f.size for f in files) / MB
        st.error(f"{len(files)} images of {size:,.1f} MB: upload at most {most} images and "
                 f"{total_mb} MB at a time.")  # fmt: skip
        return []
    inputs = [(file.name, file.getvalue()) for file in files]
    if st.toggle("Use the camera", help="Your browser asks for permission first."):
        photo = st.camera_input("Take a photo")
        if photo is not None:
            inputs.append(("camera photo", photo.getvalue()))
    return inputs[: most + 1]


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


def _show(name: str, preview, prediction: inference.Prediction, model=None) -> None:
    """One result; with ``model``, also the heat map of where the network looked."""
    widths = [1, 1, 1, 2] if model is not None else [1, 1, 2]
    original, seen, *heat, chart = st.columns(widths, vertical_alignment="center")
    original.image(preview, caption=common.md(name), width=160)
    seen.image(common.enlarge(prediction.image, 160), caption="As the network sees it")
    if heat and (shown := views.heat_overlay(model, prediction.image, 160)) is not None:
        heat[0].image(shown[0], caption="Where it looked", width=160)
    verdict = f"**{common.md(prediction.label)}** · {prediction.probability:.0%}"
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
inputs = _image_inputs()
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
for name, preview, prediction in shown:
    _show(name, preview, prediction, model if looked else None)
