"""The Evaluate page: metrics, the clickable confusion matrix and the misclassified images."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest
from pages_support import OWNER, OWNER_ID, copy_of_tiny_run, id_for, open_page, texts

from dlcore import LayerLabError
from dlcore.data.catalogue import load_dataset
from dlcore.data.dataset import save_dataset
from dlcore.results.evaluate import (
    cell_examples,
    confused_pairs,
    confusion_frame,
    evaluate_run,
    misclassified,
    report_frame,
)
from dlcore.storage import atomic_write_json, read_json
from dlcore.text import escape_markdown as md
from dlcore.train import jobs
from dlcore.train.evaluation import summarize
from dlcore.train.runs import write_status


def _confusion_chart(at, run_id):
    key = f"confusion_{run_id}_val"
    charts = [c for c in at.get("vega_lite_chart") if c.proto.id.endswith(key)]
    assert len(charts) == 1
    return charts[0]


def test_opens_cold_and_asks_for_a_trained_model():
    at = open_page("evaluate")
    assert not at.exception
    assert "No finished run yet" in at.info[0].value
    assert at.get("page_link")[0].proto.page == "train"


def test_shows_metrics_confusion_matrix_and_mistakes(run_id):
    at = open_page("evaluate", attendee=OWNER)
    assert not at.exception and not at.error
    assert run_id in at.selectbox[0].value
    status = jobs.status(run_id)
    shown = {m.label: m.value for m in at.metric}
    assert shown["Validation accuracy"] == f"{status['val_accuracy']:.1%}"
    assert "Test accuracy" in shown
    spec = json.loads(_confusion_chart(at, run_id).proto.spec)
    assert "cell" in json.dumps(spec)  # the point selection that on_select reports
    captions = [c for image in at.image for c in image.captions]
    assert len(captions) == 12, "the 1-epoch network makes more than 12 mistakes"
    assert all(c.startswith("true ") and " · predicted " in c for c in captions)
    # one decimal, so 99.7% never reads 100% (captions are escaped markdown)
    assert all(re.search(r"\\\(\d+\\\.\d\\%\\\)$", c) for c in captions), captions
    assert len(at.dataframe) == 1  # per-class precision / recall / F1
    assert list(at.dataframe[0].value.columns) == ["Precision", "Recall", "F1", "Images"]
    assert at.dataframe[0].value.index.name == "Class"
    columns = json.loads(at.dataframe[0].proto.columns)
    for name in ("Precision", "Recall", "F1"):  # percents with one decimal, still sortable
        assert columns[name]["type_config"] == {
            "type": "number",
            "format": "percent",
            "step": 0.001,
        }
    assert columns["Images"]["type_config"]["format"] == "%d"
    assert len(at.get("vega_lite_chart")) == 2  # confusion matrix and training curves


def test_choosing_a_cell_shows_its_images(run_id):
    at = open_page("evaluate", attendee=OWNER)
    first = misclassified(run_id).iloc[0]
    at.session_state[f"confusion_{run_id}_val"] = {
        "selection": {"cell": [{"true": first["true"], "predicted": first["predicted"]}]}
    }
    at.run()
    assert not at.exception
    count = len(cell_examples(run_id, first["true"], first["predicted"]))
    images = "image" if count == 1 else "images"
    sentence = f"**{count} {images} of class {first['true']} predicted as {first['predicted']}**"
    assert sentence in texts(at)
    at.slider[0].set_value(1).run()
    assert not at.exception
    mistakes = len(misclassified(run_id))
    assert mistakes > 1  # so the gallery below shows fewer than there are, and says so
    assert f"Showing 1 of {mistakes}." in [c.value for c in at.caption]


def test_an_empty_cell_says_so_in_words(run_id):
    at = open_page("evaluate", attendee=OWNER)
    cells = confusion_frame(evaluate_run(run_id), "val")
    empty = cells[cells["count"] == 0].iloc[0]
    at.session_state[f"confusion_{run_id}_val"] = {
        "selection": {"cell": [{"true": empty["true"], "predicted": empty["predicted"]}]}
    }
    at.run()
    assert not at.exception
    shown = texts(at)
    assert (
        f"No validation image of class **{empty['true']}** was predicted as "
        f"**{empty['predicted']}**." in shown
    )
    assert "0 image" not in shown


def test_the_figures_name_the_epoch_whose_weights_they_are_of(run_id):
    at = open_page("evaluate", attendee=OWNER)
    # the sentence's wording after the epoch is dlcore.train.curves.kept_epoch_note's (tested there)
    assert (
        "These figures are of the saved network. The saved network has the weights of epoch 1"
        in texts(at)
    )
    assert "The dashed line marks the epoch" in texts(at)


def test_switching_to_the_test_split(run_id):
    at = open_page("evaluate", attendee=OWNER)
    at.radio[0].set_value("test").run()
    assert not at.exception
    assert any(c.proto.id.endswith(f"confusion_{run_id}_test") for c in at.get("vega_lite_chart"))


def test_a_run_on_another_attendee_s_own_dataset_stays_private(tmp_path_factory):
    """A run trained on ada's imported dataset: bob is not offered it (its class names and
    images are hers); she and the instructor see everything."""
    digits = load_dataset("digits")
    manifest = {"owner": OWNER_ID, "owner_label": OWNER}
    save_dataset(dataclasses.replace(digits, name="ada-photos", manifest=manifest))
    path = copy_of_tiny_run(tmp_path_factory.getbasetemp())
    spec = read_json(path / "spec.json")
    spec["data"]["dataset"] = "ada-photos"
    atomic_write_json(path / "spec.json", spec)
    write_status(path, dataset="ada-photos", dataset_shared=False)
    at = open_page("evaluate", attendee="bob")
    assert not at.exception and not at.metric and not at.image
    assert "No finished run yet" in texts(at)
    at = open_page("evaluate", attendee=OWNER)
    assert not at.exception and len(at.image) == 12 and "stay private" not in texts(at)
    at = open_page("evaluate", attendee="bob", instructor=True)
    assert not at.exception and len(at.image) == 12
    # a run of bob's (the instructor trained it for him) on her dataset: his figures, not her images
    write_status(path, owner=id_for("bob"), owner_label="bob")
    at = open_page("evaluate", attendee="bob")
    assert not at.exception and not at.error and not at.image
    assert "Validation accuracy" in {m.label for m in at.metric}
    assert "The images belong to ada's own dataset and stay private." in texts(at)
    # no slider and no heading left without its content: the mistakes as a table instead
    assert not at.slider and not [t for t in at.toggle if "Grad-CAM" in t.label]
    mistakes = at.dataframe[0].value
    assert list(mistakes.columns) == ["true class", "predicted class", "confidence"]
    assert len(mistakes) and not mistakes.isna().any().any()


# A thousand classes: once a 28,000 px chart and an 11 MB evaluation.json that froze every tab.
MANY = 1000
HOSTILE_CLASS = "![x](https://evil.example/p.png)"
LINK_CLASS = "[Instructor login](https:evil.example)"


def _many_class_names() -> list[str]:
    names = [f"class-{i:04d}" for i in range(MANY)]
    names[0], names[1] = HOSTILE_CLASS, LINK_CLASS + "\u202e"
    return names


def _many_class_predictions(num_images: int, seed: int = 0):
    """Probabilities and labels over MANY classes, mostly right, with class 0 often taken for
    class 1 (so the most confused pair is known)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, MANY, num_images)
    labels[: num_images // 4] = 0
    guesses = labels.copy()
    guesses[: num_images // 5] = 1
    wrong = rng.random(num_images) < 0.3
    guesses[wrong] = rng.integers(0, MANY, int(wrong.sum()))
    probabilities = rng.random((num_images, MANY)).astype(np.float32) * 0.5
    probabilities[np.arange(num_images), guesses] = 1.0
    return probabilities / probabilities.sum(axis=1, keepdims=True), labels


def test_many_classes_keep_evaluation_json_small_and_summarised():
    names = _many_class_names()
    probabilities, labels = _many_class_predictions(3000)
    summary = summarize(probabilities, labels, names)
    assert "confusion_matrix" not in summary  # a million cells, mostly zeros
    evaluation = {"classes": names, "val": summary}
    assert len(json.dumps(evaluation)) < 400_000  # was 11 MB
    pairs = confused_pairs(evaluation, "val", limit=50)
    assert len(pairs) == 50 and pairs["count"].is_monotonic_decreasing
    first = pairs.iloc[0]
    assert (first["true"], first["predicted"]) == (
        HOSTILE_CLASS,
        "[Instructor login](https:evil.example)",
    )
    assert 0 < first["share"] <= 1
    report = report_frame(evaluation, "val")
    assert len(report) == MANY and "\u202e" not in "".join(report.index)
    with pytest.raises(LayerLabError, match="too many for a confusion matrix"):
        confusion_frame(evaluation, "val")


def test_few_classes_keep_the_full_matrix_and_old_files_still_read():
    probabilities, labels = np.eye(3, dtype=np.float32)[[0, 1, 2, 2]], np.array([0, 1, 2, 1])
    summary = summarize(probabilities, labels, ["a", "b", "c"])
    assert summary["confusion_matrix"] == [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    evaluation = {"classes": ["a", "b", "c"], "val": summary}
    frame = confusion_frame(evaluation)
    assert len(frame) == 9 and frame["count"].sum() == 4
    assert confused_pairs(evaluation).to_dict("records") == [
        {"true": "b", "predicted": "c", "count": 1, "share": 0.5}
    ]


def _many_class_run(base) -> str:
    """A copy of the tiny run whose dataset info, evaluation and predictions have MANY classes."""
    path = copy_of_tiny_run(base)
    with np.load(path / "predictions.npz") as saved:
        arrays = dict(saved)
    names = _many_class_names()
    info = read_json(path / "dataset.json")
    atomic_write_json(path / "dataset.json", {**info, "classes": names})
    evaluation = {"classes": names}
    for split in ("val", "test"):
        if f"{split}_labels" in arrays:
            probabilities, labels = _many_class_predictions(len(arrays[f"{split}_labels"]))
            arrays[f"{split}_probabilities"], arrays[f"{split}_labels"] = probabilities, labels
            evaluation[split] = summarize(probabilities, labels, names)
    np.savez(path / "predictions.npz", **arrays)
    atomic_write_json(path / "evaluation.json", evaluation)
    return path.name


def test_a_thousand_classes_show_a_table_of_the_most_confused_pairs(tmp_path_factory):
    run_id = _many_class_run(tmp_path_factory.getbasetemp())
    at = open_page("evaluate", attendee=OWNER)
    assert not at.exception and not at.error
    assert not any("confusion_" in c.proto.id for c in at.get("vega_lite_chart"))
    assert "Most confused classes" in [s.value for s in at.subheader]
    pairs, report = at.dataframe[0].value, at.dataframe[1].value
    assert len(pairs) == 50 and list(pairs.columns[:3]) == ["true", "predicted", "count"]
    assert len(report) == MANY and report["Recall"].is_monotonic_increasing  # worst first
    at.session_state[f"confused_{run_id}_val"] = {
        "selection": {"rows": [0], "columns": [], "cells": []}
    }
    at.run()
    assert not at.exception
    shown = texts(at)
    assert f"images of class {md(HOSTILE_CLASS)} predicted as {md(LINK_CLASS)}" in shown
    assert md(HOSTILE_CLASS) == "\\!\\[x\\]\\(https\\:\u2060\\/\\/evil\\.example\\/p\\.png\\)"
    assert "![x](" not in shown and "](https" not in shown


def test_heat_maps_of_the_mistakes_on_request(run_id):
    at = open_page("evaluate", attendee=OWNER)
    before = len(at.image)
    at.toggle(key="evaluate_heat").set_value(True).run()
    assert not at.exception and not at.error
    assert len(at.image) - before == 12  # one overlay per mistake shown, at most 12
    assert "where the network looked" in texts(at)
