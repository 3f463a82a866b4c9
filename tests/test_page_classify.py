"""The Classify page: uploads are prepared like the training images and classified; a bad file
gets a warning naming it while the others are still classified; the limits are said before the
upload; results come as a grid, with right and wrong counted when names say the class."""

from __future__ import annotations

import io

import numpy as np
from pages_support import OWNER, open_page, texts
from PIL import Image

from dlcore.results.inference import Prediction
from pages.classify_views import GRID_COLUMNS, _verdict


def png(side: int = 64, mode: str = "RGB") -> bytes:
    """A dark stroke on white paper, like a photo of a handwritten 1."""
    pixels = np.full((side, side), 255, np.uint8)
    pixels[side // 5 : -side // 5, side // 2 - 3 : side // 2 + 3] = 20
    buffer = io.BytesIO()
    Image.fromarray(pixels).convert(mode).save(buffer, format="PNG")
    return buffer.getvalue()


def test_opens_cold_and_asks_for_a_trained_model():
    at = open_page("classify")
    assert not at.exception
    assert "No finished run yet" in at.info[0].value


def test_waits_for_images_without_asking_for_the_camera(run_id):
    at = open_page("classify", attendee=OWNER)
    assert not at.exception and not at.error
    assert run_id in at.selectbox[0].value
    assert len(at.file_uploader) == 1 and not at.camera_input
    assert at.checkbox[0].label == "Digit-photo mode"  # digits is a grayscale dataset
    at.toggle[0].set_value(True).run()
    assert len(at.camera_input) == 1


def test_classifies_uploads_and_warns_about_a_corrupt_one(run_id):
    at = open_page("classify", attendee=OWNER)
    at.file_uploader[0].set_value(
        [
            ("one.png", png(), "image/png"),
            ("broken.png", b"this is not a picture", "image/png"),
            ("gray.png", png(40, "L"), "image/png"),
        ]
    )
    at.slider[0].set_value(5)
    at.run()
    assert not at.exception and not at.error
    assert len(at.warning) == 1 and "broken\\.png" in at.warning[0].value  # plain text
    captions = [c for image in at.image for c in image.captions]
    assert captions.count("As the network sees it") == 2
    assert {"one\\.png", "gray\\.png"} <= set(captions)  # file names: escaped markdown
    assert len(at.get("vega_lite_chart")) == 2  # one top-k chart per classified image
    assert "%" in texts(at)
    shown = texts(at)  # no class in any name: nothing counted, the naming tip said once
    assert "Right and wrong are not counted: no file or folder name is a class." in shown
    assert shown.count("To have right and wrong counted") == 1


def test_a_verdict_near_certain_never_reads_100_percent():
    prediction = Prediction("2", 0.997, [("2", 0.997)], np.zeros((8, 8, 1), np.uint8))
    verdict = _verdict(prediction, "3")
    assert "99.7%" in verdict and "100%" not in verdict


def shown_results(at) -> list:
    """(name, preview, prediction) of each classified image, as the page keeps them."""
    return at.session_state["_classify_results"][1]


def test_digit_photo_mode_shows_the_network_an_mnist_like_digit(run_id):
    at = open_page("classify", attendee=OWNER)
    at.checkbox[0].check()
    at.file_uploader[0].set_value(("digit.png", png(), "image/png"))
    at.run()
    assert not at.exception and not at.warning
    assert len(at.get("vega_lite_chart")) == 1
    ((_, _, prediction),) = shown_results(at)
    seen = prediction.image[..., 0].astype(int)  # the dark bar on white paper, as it is seen:
    assert seen.shape == (8, 8) and seen[:, 3:5].max() > 100  # a bright upright stroke ...
    assert seen[:, [0, 1, 6, 7]].max() == 0  # ... on black, centred (MNIST's look)


def test_upload_limits_are_said_before_and_the_rest_left_out(run_id, monkeypatch):
    monkeypatch.setenv("LAYERLAB_MAX_CLASSIFY_FILES", "2")
    at = open_page("classify", attendee=OWNER)
    assert "Up to **2 images**" in texts(at)  # before any upload
    files = [(f"{name}.png", png(), "image/png") for name in ("a", "b", "c")]
    at.file_uploader[0].set_value(files)
    at.run()
    assert not at.exception and not at.error
    assert "3 images chosen: the first 2 are classified" in at.warning[0].value
    assert "other 1 next" in at.warning[0].value
    assert [name for name, _, _ in shown_results(at)] == ["a.png", "b.png"]


def test_results_in_a_grid_with_right_and_wrong_counted_from_names(run_id):
    at = open_page("classify", attendee=OWNER)
    names = ["1_first.png", "1.second.png", "7_third.png", "IMG_2041.png", "3-fifth.png"]
    at.file_uploader[0].set_value([(name, png(), "image/png") for name in names])
    at.run()
    assert not at.exception and not at.error
    guesses = [prediction.label for _, _, prediction in shown_results(at)]
    right = sum(guess == truth for guess, truth in zip(guesses, "1173", strict=False))
    assert at.subheader[0].value == f"{right} of 4 right"
    assert "The other 1 have no class in their name" in texts(at)
    marks = [m.value for m in at.markdown if "right" in m.value or "wrong" in m.value]
    assert sum(":green[right]" in m for m in marks) == right
    assert sum(":red[**wrong**" in m for m in marks) == 4 - right
    assert len(at.columns) >= GRID_COLUMNS  # cards side by side, not one per row
    if right < 4:  # the tiny network is bad: it has wrong ones to single out
        at.toggle(key="classify_only_wrong").set_value(True).run()
        assert len(at.get("vega_lite_chart")) == 4 - right


def test_folder_upload_reads_the_class_from_the_folder(run_id):
    at = open_page("classify", attendee=OWNER)
    at.radio(key="classify_source").set_value("A folder of photos").run()
    assert at.file_uploader[0].label == "Folder to classify"
    folder = [("mine/4/b.png", png(), "image/png"), ("mine/2/a.png", png(), "image/png"),
              ("mine/.hidden/c.png", png(), "image/png")]  # fmt: skip
    at.file_uploader[0].set_value(folder)
    at.run()
    assert not at.exception and not at.error and not at.warning
    shown = shown_results(at)
    assert [name for name, _, _ in shown] == ["mine/2/a.png", "mine/4/b.png"]  # sorted, no hidden
    right = sum(p.label == truth for (_, _, p), truth in zip(shown, "24", strict=True))
    assert at.subheader[0].value == f"{right} of 2 right"


def test_heat_map_of_each_classified_image_on_request(run_id):
    at = open_page("classify", attendee=OWNER)
    at.file_uploader[0].set_value(
        [("one.png", png(), "image/png"), ("two.png", png(48), "image/png")]
    )
    at.run()
    assert "Where it looked" not in [c for image in at.image for c in image.captions]
    at.toggle[-1].set_value(True).run()
    assert not at.exception and not at.error
    heat = [image for image in at.image if "Where it looked" in image.captions]
    assert len(heat) == 2  # one overlay per classified image, kept across the rerun
