"""The Classify page: uploads are prepared like the training images and classified; a bad file
gets a warning naming it while the others are still classified."""

from __future__ import annotations

import io

import numpy as np
from pages_support import OWNER, open_page, texts
from PIL import Image


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


def test_digit_photo_mode(run_id):
    at = open_page("classify", attendee=OWNER)
    at.checkbox[0].check()
    at.file_uploader[0].set_value(("digit.png", png(), "image/png"))
    at.run()
    assert not at.exception and not at.warning
    assert len(at.get("vega_lite_chart")) == 1


def test_upload_limits_are_said_before_and_enforced(run_id, monkeypatch):
    monkeypatch.setenv("LAYERLAB_MAX_CLASSIFY_FILES", "1")
    at = open_page("classify", attendee=OWNER)
    assert "at most 1 images" in at.file_uploader[0].help
    at.file_uploader[0].set_value([("a.png", png(), "image/png"), ("b.png", png(), "image/png")])
    at.run()
    assert not at.exception and "upload at most 1 images" in at.error[0].value
    assert not at.get("vega_lite_chart")


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
