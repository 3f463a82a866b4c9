"""The Evaluate page: metrics, the clickable confusion matrix and the misclassified images."""

from __future__ import annotations

import dataclasses
import json

from pages_support import OWNER, copy_of_tiny_run, open_page, texts

from dlcore import jobs
from dlcore.builtin import load_dataset
from dlcore.dataset import save_dataset
from dlcore.evaluate import misclassified
from dlcore.runs import write_status
from dlcore.storage import atomic_write_json, read_json


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
    assert len(at.dataframe) == 1  # per-class precision / recall / F1
    assert set(at.dataframe[0].value.columns) >= {"precision", "recall", "f1-score"}
    assert len(at.get("vega_lite_chart")) == 2  # confusion matrix and training curves


def test_choosing_a_cell_shows_its_images(run_id):
    at = open_page("evaluate", attendee=OWNER)
    first = misclassified(run_id).iloc[0]
    at.session_state[f"confusion_{run_id}_val"] = {
        "selection": {"cell": [{"true": first["true"], "predicted": first["predicted"]}]}
    }
    at.run()
    assert not at.exception
    assert f"of {first['true']} predicted as {first['predicted']}" in texts(at)
    at.slider[0].set_value(1).run()
    assert not at.exception


def test_switching_to_the_test_split(run_id):
    at = open_page("evaluate", attendee=OWNER)
    at.radio[0].set_value("test").run()
    assert not at.exception
    assert any(c.proto.id.endswith(f"confusion_{run_id}_test") for c in at.get("vega_lite_chart"))


def test_images_of_another_attendee_s_own_dataset_stay_private(tmp_path_factory):
    """A run trained on ada's imported dataset: bob sees its figures but not her images."""
    digits = load_dataset("digits")
    private = dataclasses.replace(digits, name="ada-photos", manifest={"owner": OWNER})
    save_dataset(private)
    path = copy_of_tiny_run(tmp_path_factory.getbasetemp())
    spec = read_json(path / "spec.json")
    spec["data"]["dataset"] = "ada-photos"
    atomic_write_json(path / "spec.json", spec)
    write_status(path, dataset="ada-photos")
    at = open_page("evaluate", attendee="bob")
    assert not at.exception and not at.error
    assert "Validation accuracy" in {m.label for m in at.metric}
    assert any(c.proto.id.endswith(f"confusion_{path.name}_val") for c in at.get("vega_lite_chart"))
    assert "The images belong to ada's own dataset and stay private." in texts(at)
    assert not at.image
    at = open_page("evaluate", attendee=OWNER)
    assert not at.exception and len(at.image) == 12 and "stay private" not in texts(at)
    at = open_page("evaluate", attendee="bob", instructor=True)
    assert not at.exception and len(at.image) == 12
