"""Classify's pieces: the uploader (photos or a folder, with its limits said before the upload),
the results as a grid of cards, and the tally of right and wrong when the files' folder or file
names say their class (``dlcore.results.inference.class_from_name``)."""

from __future__ import annotations

from pathlib import PurePosixPath

import pandas as pd
import streamlit as st

from dlcore.data.folders import IMAGE_TYPES
from dlcore.data.unpack import is_ignored_path
from dlcore.limits import load_limits
from dlcore.results import charts as result_charts
from dlcore.results import inference
from pages import common, grid
from pages import explain_views as views

MB = 1024 * 1024
NOT_SURE = 0.6
GRID_COLUMNS = 3  # wide enough for a card's three pictures and their captions at 1366 px
SOURCES = ("Photos", "A folder of photos")
NAMING = (
    "To have right and wrong counted, name each file after its class (`7_photo.jpg`, "
    "`cat.12.jpg`) or upload a folder with one sub-folder per class (`my digits/7/a.jpg`)."
)


def _within_limits(files: list, most: int, total_mb: int) -> list:
    """The first files that fit in ``most`` images and ``total_mb`` MB together."""
    kept, size = [], 0
    for file in files:
        if len(kept) == most or size + file.size > total_mb * MB:
            break
        kept.append(file)
        size += file.size
    return kept


def image_inputs() -> list[tuple[str, bytes]]:
    """(name, bytes) of the images to classify. The limits are said before the upload; beyond
    them the first images are classified and the rest named as left out. The uploader gets a
    new key once they are classified, so Streamlit drops their bytes from the server's memory."""
    limits = load_limits()
    most, total_mb = limits.max_classify_files, limits.max_classify_upload_mb
    source = st.radio("Upload", SOURCES, horizontal=True, key="classify_source")
    folder = source == SOURCES[1]
    st.caption(
        f"Up to **{most} images** and {total_mb} MB at a time (PNG, JPEG, BMP, GIF or WebP), each "
        f"prepared like the training images. {NAMING}"
    )
    files = st.file_uploader(
        "Folder to classify" if folder else "Images to classify",
        type=IMAGE_TYPES,
        accept_multiple_files="directory" if folder else True,
        key=f"_classify_upload_{int(folder)}_{st.session_state.get('_classify_round', 0)}",
        max_upload_size=min(limits.max_upload_mb, total_mb),
    )
    files = [file for file in files or [] if not is_ignored_path(file.name)]
    if folder:
        files.sort(key=lambda file: file.name)
    kept = _within_limits(files, most, total_mb)
    if len(kept) < len(files):
        st.warning(
            f"{len(files)} images chosen: the first {len(kept)} are classified (at most {most} "
            f"images and {total_mb} MB at a time). Upload the other {len(files) - len(kept)} next."
        )
    inputs = [(file.name, file.getvalue()) for file in kept]
    if st.toggle("Use the camera", help="Your browser asks for permission first."):
        photo = st.camera_input("Take a photo")
        if photo is not None:
            inputs.append(("camera photo", photo.getvalue()))
    return inputs


def _verdict(prediction: inference.Prediction, truth: str | None) -> str:
    verdict = f"**{common.md(prediction.label)}** · {prediction.probability:.1%}"
    if prediction.probability < NOT_SURE:
        verdict += " · :orange[not sure]"
    if truth is not None:
        right = str(truth) == str(prediction.label)
        verdict += " · :green[right]" if right else f" · :red[**wrong**, it is {common.md(truth)}]"
    return verdict


def _card(name: str, preview, prediction, truth: str | None, model) -> None:
    """One image: the photo, what the network sees (and where it looked), its answer, top-k."""
    pictures = st.columns(3 if model is not None else 2)
    pictures[0].image(preview, caption=common.md(PurePosixPath(name).name))
    pictures[1].image(grid.enlarge(prediction.image, 112), caption="As the network sees it")
    if model is not None and (shown := views.heat_overlay(model, prediction.image, 112)):
        pictures[2].image(shown[0], caption="Where it looked")
    st.markdown(_verdict(prediction, truth))
    frame = pd.DataFrame(prediction.top, columns=["label", "probability"])
    # No probability axis in a small card: each bar is labelled with its percentage.
    bars = result_charts.topk_chart(frame, probability_axis=False).properties(
        height=22 * len(frame), autosize={"type": "fit-x", "contains": "padding"}
    )  # fit the width only: "fit" would squeeze the bars into the axes
    st.altair_chart(bars)


def _tally(truths: list, guesses: list) -> bool:
    """Say how many were right; True when some were wrong."""
    tally = inference.tally(truths, guesses)
    if not tally.counted:
        st.caption("Right and wrong are not counted: no file or folder name is a class.")
        return False
    others = (
        f" The other {tally.not_counted} have no class in their name and are not counted."
        if tally.not_counted
        else ""
    )
    st.subheader(f"{tally.right} of {tally.counted} right")
    st.caption(f"The true class of each image is read from its folder or file name.{others}")
    return tally.right < tally.counted


def results(shown: list, classes: list, model=None) -> None:
    """The classified images as a grid of cards, after the tally of right and wrong; with
    ``model``, each card also shows where the network looked."""
    truths = [inference.class_from_name(name, classes) for name, _, _ in shown]
    some_wrong = _tally(truths, [prediction.label for _, _, prediction in shown])
    items = list(zip(shown, truths, strict=True))
    if some_wrong and st.toggle("Only the wrong ones", key="classify_only_wrong"):
        items = [(item, truth) for item, truth in items if truth not in (None, item[2].label)]
    for start in range(0, len(items), GRID_COLUMNS):
        for cell, ((name, preview, prediction), truth) in zip(
            st.columns(GRID_COLUMNS), items[start : start + GRID_COLUMNS], strict=False
        ):
            with cell.container(border=True):
                _card(name, preview, prediction, truth, model)
