"""Explore page: samples per class with a class filter and pages, counts, histogram, warnings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pages_support import INSTRUCTOR_CODE, id_for, key_for
from streamlit.testing.v1 import AppTest

from dlcore.data.dataset import Dataset, save_dataset

ROOT = Path(__file__).resolve().parents[1]


def _explore(dataset: str | None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    if dataset:
        at.session_state["dataset"] = dataset
    return at.switch_page("pages/explore.py").run()


def _texts(elements) -> str:
    return " ".join(str(element.value) for element in elements)


def _class_headings(at: AppTest) -> list[str]:
    return [m.value.split("**")[1] for m in at.markdown if m.value.startswith("**")]


def test_explore_without_a_dataset_says_what_to_do():
    at = _explore(None)
    assert not at.exception and not at.error
    assert "dataset first" in at.info[0].value
    assert at.page_link[0].label.endswith("Data")


def test_explore_digits_shows_samples_charts_and_explanations():
    at = _explore("digits")
    assert not at.exception and not at.error
    assert _class_headings(at) == [str(digit) for digit in range(10)]
    assert len(at.main.get("image")) == 10 * 8 + 10  # 8 samples per class + 10 mean images
    assert len(at.main.get("vega_lite_chart")) == 2  # class counts and pixel histogram
    assert "never trains on" in _texts(at.markdown)
    assert not at.warning  # digits are balanced and plentiful


def test_class_filter_and_pages_choose_the_samples():
    at = _explore("digits")
    at.multiselect[0].set_value(["3", "7"]).run()
    assert _class_headings(at) == ["3", "7"]
    assert len(at.main.get("image")) == 2 * 8 + 10
    captions_page1 = [img.proto.imgs[0].caption for img in at.main.get("image")[:8]]
    at.number_input[0].set_value(2).run()
    captions_page2 = [img.proto.imgs[0].caption for img in at.main.get("image")[:8]]
    assert captions_page1 != captions_page2
    at.selectbox[0].set_value("test").run()
    assert not at.exception


def test_imbalanced_and_tiny_classes_are_warned_about():
    rng = np.random.default_rng(0)
    labels = np.array([0] * 30 + [1] * 10, dtype=np.int32)
    images = rng.integers(0, 255, (len(labels), 6, 6, 3), dtype=np.uint8)
    save_dataset(
        Dataset("lopsided", ["big", "small"], images, labels, images[:4], np.array([0, 1, 0, 1]))
    )
    at = _explore("lopsided")
    assert not at.exception and not at.error
    warnings = _texts(at.warning)
    assert "unbalanced" in warnings and "3.0x" in warnings
    assert "fewer than 20" in warnings and "small" in warnings


def test_another_attendee_s_imported_dataset_cannot_be_explored():
    images = np.zeros((8, 6, 6, 1), np.uint8)
    labels = np.array([0, 1] * 4)
    owner = {"owner": id_for("ann"), "owner_label": "ann"}
    save_dataset(Dataset("ann-set", ["a", "b"], images, labels, images, labels, manifest=owner))
    for viewer in ("bob", "", "ann"):  # even typing her name, in another browser
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        at.session_state["attendee"] = viewer
        at.query_params["who"] = "ann"
        at.session_state["dataset"] = "ann-set"
        at.switch_page("pages/explore.py").run()
        assert not at.exception
        assert "belongs to ann" in _texts(at.error) and not at.image
    for viewer, code in (("ann", ""), ("bob", INSTRUCTOR_CODE)):  # its owner, the instructor
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        at.secrets["instructor_code"] = INSTRUCTOR_CODE
        session = {"attendee": viewer, "dataset": "ann-set", "instructor_key": code}
        session["attendee_key"] = key_for(viewer)
        for key, value in session.items():
            at.session_state[key] = value
        at.switch_page("pages/explore.py").run()
        assert not at.exception and not at.error
        assert _class_headings(at) == ["a", "b"]
