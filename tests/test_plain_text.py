"""Plain text stays plain on every page: a name, a class folder, a file name or a ``?run=``
chosen by one attendee shows as literal text to everyone else, never as a link, an image, a
colour, LaTeX or reversed (issue 7's markdown injection cases)."""

from __future__ import annotations

import io
import json
import re

import numpy as np
from pages_support import APP, OWNER, copy_of_tiny_run, key_for, open_page, texts
from PIL import Image
from streamlit.testing.v1 import AppTest

from dlcore.data.dataset import Dataset, save_dataset
from dlcore.storage import atomic_write_json, read_json
from dlcore.text import escape_markdown as md
from dlcore.train.runs import write_status

LINK = "[Instructor login](https:evil.example)"
IMAGE = "![x](https://evil.example/p.png)"
COLOUR = ":red[Your session expired]"
LATEX = "$x^2$"
RLO = "\u202e"
REVERSED = f"gpj.{RLO}exe"  # shows as "gpj.exe" reversed: "exe.jpg"
HOSTILE = [IMAGE, LINK, COLOUR, LATEX, REVERSED, ":material/lock: admin", "# big", "- item"]


def _no_live_markup(text: str) -> None:
    """No link, image, colour directive, LaTeX or bidi control survives unescaped."""
    assert RLO not in text
    for live in ("](", "![", ":red[", ":material/"):
        assert live not in text, (live, text)
    for char in "[$":  # every one of these escaped (the pages' own text has none)
        assert not re.search(rf"(?<!\\)\{char}", text), (char, text)


def _sidebar(at) -> str:
    return "\n".join(str(child.value) for child in at.sidebar.children.values())


def _png(side: int = 16) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((side, side), 200, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _start(name: str = "") -> AppTest:
    """The app's default page (Start) through app.py, so the frame draws the sidebar (a
    switch_page after the first AppTest of a process runs the page without the frame)."""
    at = AppTest.from_file(APP, default_timeout=60)
    if name:
        at.session_state["attendee"] = name
        at.session_state["attendee_key"] = key_for(name)
    return at


def test_a_hostile_name_is_plain_text_in_the_sidebar_and_on_start():
    for name in (LINK, IMAGE, COLOUR, LATEX, f"{RLO}ada"):
        at = _start(name).run()
        assert not at.exception
        _no_live_markup(_sidebar(at) + texts(at))
        assert f"**Attendee:** {md(name)}" in _sidebar(at)
        assert f"Hello {md(name)}!" in at.success[0].value


def test_a_run_id_with_markdown_in_the_url_is_plain_text():
    at = _start()
    at.query_params["run"] = f"{LINK} {IMAGE}"
    at.run()
    assert not at.exception
    _no_live_markup(_sidebar(at))
    assert f"{md(LINK)} {md(IMAGE)} (not found)" in _sidebar(at)


def test_owner_labels_and_run_ids_on_experiments_are_plain(tmp_path_factory):
    path = copy_of_tiny_run(tmp_path_factory.getbasetemp())
    write_status(path, owner_label=f"{LINK}{RLO}")
    at = open_page("experiments", attendee=OWNER)
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert table["owner"].tolist() == [LINK]  # a dataframe cell is never markdown
    (option,) = at.selectbox[0].options  # a select box option is plain text
    assert RLO not in option and f" · {LINK} · " in option
    _no_live_markup(texts(at) + " ".join(c.label for c in at.checkbox))


def _hostile_class_run(base) -> str:
    """A copy of the tiny digits run whose classes 0-7 carry hostile names."""
    path = copy_of_tiny_run(base)
    info = read_json(path / "dataset.json")
    names = HOSTILE + info["classes"][len(HOSTILE) :]
    atomic_write_json(path / "dataset.json", {**info, "classes": names})
    evaluation = read_json(path / "evaluation.json")
    renamed = dict(zip(evaluation["classes"], names, strict=True))
    for split in ("val", "test"):
        if split in evaluation:
            report = evaluation[split]["report"]
            evaluation[split]["report"] = {renamed.get(k, k): v for k, v in report.items()}
    atomic_write_json(path / "evaluation.json", {**evaluation, "classes": names})
    return path.name


def test_hostile_class_names_on_evaluate(tmp_path_factory):
    run_id = _hostile_class_run(tmp_path_factory.getbasetemp())
    at = open_page("evaluate", attendee=OWNER)
    assert not at.exception and not at.error
    captions = [c for image in at.image for c in image.captions]
    assert captions and all(c.startswith("true ") for c in captions)
    _no_live_markup("\n".join(captions) + texts(at))
    assert any(md(name) in c for c in captions for name in HOSTILE)  # the mistakes name them
    (chart,) = [c for c in at.get("vega_lite_chart") if "confusion_" in c.proto.id]
    spec = json.loads(chart.proto.spec)
    assert RLO not in json.dumps(spec, ensure_ascii=False)  # chart labels: plain text
    report = at.dataframe[0].value
    assert "gpj.exe" in report.index and RLO not in "".join(report.index)
    at.session_state[f"confusion_{run_id}_val"] = {
        "selection": {"cell": [{"true": IMAGE, "predicted": LINK}]}
    }
    at.run()
    assert not at.exception
    (sentence,) = [line for line in texts(at).splitlines() if "predicted as" in line]
    assert sentence.index(md(IMAGE)) < sentence.index(md(LINK))  # "... of IMAGE predicted as LINK"
    _no_live_markup(texts(at))


def _hostile_dataset() -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(len(HOSTILE)), 3).astype(np.int32)
    images = rng.integers(0, 255, (len(labels), 6, 6, 1), dtype=np.uint8)
    save_dataset(Dataset("hostile", HOSTILE, images, labels, images, labels))


def test_hostile_class_names_on_explore():
    _hostile_dataset()
    at = open_page("explore", attendee=OWNER, dataset="hostile")
    assert not at.exception and not at.error
    shown = texts(at) + " ".join(c for image in at.image for c in image.captions)
    _no_live_markup(shown)
    assert f"**{md(IMAGE)}** · 3 images" in texts(at)  # a class heading
    assert md(LATEX) in " ".join(c for image in at.image for c in image.captions)  # mean image
    assert "fewer than 20" in texts(at) and md(LINK) in texts(at)  # the tiny-classes warning
    assert RLO not in " ".join(at.multiselect[0].options)


def test_hostile_class_and_dataset_names_on_data():
    _hostile_dataset()
    at = open_page("data", attendee=OWNER, dataset="hostile")
    assert not at.exception and not at.error
    _no_live_markup(texts(at) + " ".join(s.value for s in at.subheader))
    counts = at.dataframe[-1].value
    assert "gpj.exe" in counts.index and RLO not in "".join(map(str, counts.index))


def test_hostile_file_names_on_classify(run_id):
    """(A file's own name has no "/": one in an upload's name is a folder, as in a folder
    upload, so IMAGE, whose address has slashes, is not a file name here.)"""
    at = open_page("classify", attendee=OWNER)
    at.file_uploader[0].set_value(
        [
            (f"{COLOUR}{LATEX}.png", _png(), "image/png"),
            (f"{LINK}{RLO}.png", b"not a picture", "image/png"),
        ]
    )
    at.checkbox[0].uncheck()  # digit-photo mode would find no digit in a flat grey image
    at.run()
    assert not at.exception and not at.error
    assert len(at.warning) == 1 and md(f"{LINK}.png") in at.warning[0].value
    captions = [c for image in at.image for c in image.captions]
    assert md(f"{COLOUR}{LATEX}.png") in captions
    _no_live_markup(at.warning[0].value + " ".join(captions))  # (the verdict has :orange[...])
