"""The charts' Vega-Lite specs: marks, typed encodings, the selection the pages rely on."""

from __future__ import annotations

import json

import altair as alt
import pandas as pd
import pytest

from dlcore import charts


def _long_metrics(epochs: int, validation: bool = True) -> pd.DataFrame:
    rows = []
    for epoch in range(1, epochs + 1):
        for split in ("train", "validation") if validation else ("train",):
            rows.append({"epoch": epoch, "metric": "loss", "split": split, "value": 1 / epoch})
            rows.append({"epoch": epoch, "metric": "accuracy", "split": split, "value": 0.5})
    return pd.DataFrame(rows)


def _encodings(spec: dict) -> dict:
    items = spec["encoding"].items()
    return {name: (enc.get("field"), enc.get("type")) for name, enc in items if name != "tooltip"}


def _find_params(spec) -> list[dict]:
    if isinstance(spec, dict):
        found = list(spec.get("params", []))
        return found + [p for value in spec.values() for p in _find_params(value)]
    if isinstance(spec, list):
        return [p for value in spec for p in _find_params(value)]
    return []


def test_training_curves_have_loss_and_accuracy_panels():
    chart = charts.training_curves(_long_metrics(3))
    assert isinstance(chart, alt.HConcatChart)
    spec = chart.to_dict()
    loss, accuracy = spec["hconcat"]
    assert loss["title"] == "Loss" and accuracy["title"] == "Accuracy"
    for panel in (loss, accuracy):
        assert panel["mark"] == {"type": "line", "point": True}
        encodings = _encodings(panel)
        assert encodings["x"] == ("epoch", "quantitative")
        assert encodings["y"] == ("value", "quantitative")
        assert encodings["color"] == ("split", "nominal")
        assert panel["encoding"]["color"]["scale"]["domain"] == ["train", "validation"]
        assert {t["field"] for t in panel["encoding"]["tooltip"]} == {"epoch", "split", "value"}
    assert "datum.metric === 'loss'" in loss["transform"][0]["filter"]


def test_training_curves_with_one_epoch_and_no_validation():
    spec = charts.training_curves(_long_metrics(1, validation=False)).to_dict()
    assert spec["hconcat"][0]["mark"]["point"] is True
    assert spec["hconcat"][0]["encoding"]["color"]["scale"]["domain"] == ["train"]
    (values,) = spec["datasets"].values()
    assert len(values) == 2


def test_training_curves_accept_a_wide_keras_history():
    history = pd.DataFrame(
        {"epoch": [1, 2], "loss": [0.9, 0.5], "accuracy": [0.6, 0.8], "val_loss": [1.0, 0.7]}
    )
    tidy = charts.tidy_history(history)
    assert set(tidy.columns) == {"epoch", "metric", "split", "value"}
    assert set(zip(tidy["metric"], tidy["split"], strict=True)) == {
        ("loss", "train"),
        ("accuracy", "train"),
        ("loss", "validation"),
    }
    spec = charts.training_curves(history).to_dict()
    assert spec["hconcat"][0]["encoding"]["color"]["scale"]["domain"] == ["train", "validation"]


def test_batch_loss_chart():
    spec = charts.batch_loss_chart(pd.DataFrame({"step": [1, 2, 3], "loss": [2.0, 1.5, 1.2]}))
    spec = spec.to_dict()
    assert spec["mark"]["type"] == "line"
    assert _encodings(spec)["x"] == ("step", "quantitative")
    assert _encodings(spec)["y"] == ("loss", "quantitative")


def test_confusion_heatmap_has_counts_and_a_cell_selection():
    cm = pd.DataFrame(
        {"true": ["cat", "cat", "dog", "dog"], "predicted": ["cat", "dog", "cat", "dog"]}
    ).assign(count=[8, 2, 1, 9])
    spec = charts.confusion_heatmap(cm, class_order=["dog", "cat"]).to_dict()
    rect, text = spec["layer"]
    assert rect["mark"]["type"] == "rect" and text["mark"]["type"] == "text"
    assert _encodings(rect)["x"] == ("predicted", "nominal")
    assert _encodings(rect)["y"] == ("true", "nominal")
    assert _encodings(rect)["color"] == ("count", "quantitative")
    assert rect["encoding"]["x"]["sort"] == ["dog", "cat"] == rect["encoding"]["y"]["sort"]
    assert _encodings(text)["text"] == ("count", "quantitative")
    (cell,) = [p for p in _find_params(spec) if p["name"] == "cell"]
    assert cell["select"] == {"type": "point", "fields": ["true", "predicted"]}


def test_confusion_heatmap_without_selection_and_default_order():
    cm = pd.DataFrame({"true": ["b", "a"], "predicted": ["a", "b"], "count": [1, 2]})
    spec = charts.confusion_heatmap(cm, selectable=False).to_dict()
    assert _find_params(spec) == []
    assert spec["layer"][0]["encoding"]["x"]["sort"] == ["b", "a"]


def test_class_counts_chart_groups_splits():
    counts = pd.DataFrame(
        {
            "class": ["0", "1", "0", "1"],
            "count": [5, 6, 1, 2],
            "split": ["validation"] * 2 + ["train"] * 2,
        }
    )
    spec = charts.class_counts_chart(counts, ["1", "0"]).to_dict()
    assert spec["mark"]["type"] == "bar"
    encodings = _encodings(spec)
    assert encodings["x"] == ("class", "nominal") and spec["encoding"]["x"]["sort"] == ["1", "0"]
    assert encodings["xOffset"] == ("split", "nominal")
    assert encodings["y"] == ("count", "quantitative")
    assert spec["encoding"]["color"]["scale"]["domain"] == ["train", "validation"]


def test_pixel_histogram_colours_channels():
    df = pd.DataFrame(
        {
            "intensity": [0, 128] * 3,
            "count": [3, 4, 5, 6, 7, 8],
            "channel": ["blue"] * 2 + ["red"] * 2 + ["green"] * 2,
        }
    )
    spec = charts.pixel_histogram(df).to_dict()
    assert spec["mark"]["type"] == "area"
    assert _encodings(spec)["x"] == ("intensity", "quantitative")
    assert _encodings(spec)["y"] == ("count", "quantitative")
    scale = spec["encoding"]["color"]["scale"]
    assert scale["domain"] == ["red", "green", "blue"]
    assert scale["range"][0] == "#d62728"


def test_topk_chart_labels_probabilities_as_percent():
    df = pd.DataFrame({"label": ["5", "3", "8"], "probability": [0.9, 0.07, 0.03]})
    spec = charts.topk_chart(df).to_dict()
    bars, labels = spec["layer"]
    assert bars["mark"]["type"] == "bar" and labels["mark"]["type"] == "text"
    assert _encodings(bars)["x"] == ("probability", "quantitative")
    assert _encodings(bars)["y"] == ("label", "nominal")
    assert labels["encoding"]["text"]["format"] == ".1%"


def test_activations_chart_draws_one_bar_per_unit():
    frame = pd.DataFrame({"unit": range(1, 501), "activation": [0.0, 1.5] * 250})
    spec = charts.activations_chart(frame, "dense1 · 500 units").to_dict()
    assert spec["mark"]["type"] == "bar"
    assert _encodings(spec) == {"x": ("unit", "quantitative"), "y": ("activation", "quantitative")}
    assert spec["title"] == "dense1 · 500 units"
    data = spec["datasets"][spec["data"]["name"]]
    assert len(data) == 500 and data[1] == {"unit": 2, "activation": 1.5}


@pytest.mark.parametrize("with_split", [False, True])
def test_runs_overlay_colours_runs_per_metric(with_split):
    df = pd.DataFrame(
        {
            "run": ["a", "a", "b", "b"],
            "epoch": [1, 2, 1, 2],
            "metric": ["accuracy"] * 4,
            "value": [0.5, 0.7, 0.6, 0.8],
        }
    )
    if with_split:
        df["split"] = "validation"
    spec = charts.runs_overlay(df).to_dict()
    assert spec["facet"]["column"]["field"] == "metric"
    inner = spec["spec"]
    assert inner["mark"]["type"] == "line"
    assert _encodings(inner)["color"] == ("run", "nominal")
    assert _encodings(inner)["x"] == ("epoch", "quantitative")
    assert ("strokeDash" in inner["encoding"]) is with_split


def test_names_people_chose_are_drawn_as_plain_text():
    """A class folder or run id with U+202E (right-to-left override) would draw reversed:
    every chart that labels names strips bidi controls, and keeps the rest of the name."""
    rlo, lri = "\u202e", "\u2066"
    cm = pd.DataFrame({"true": [f"cat{rlo}", "dog"], "predicted": ["dog", f"cat{rlo}"]})
    specs = [
        charts.confusion_heatmap(cm.assign(count=[1, 2]), class_order=[f"cat{rlo}", "dog"]),
        charts.class_counts_chart(
            pd.DataFrame({"class": [f"{lri}gpj.exe"], "count": [3], "split": ["train"]}),
            [f"{lri}gpj.exe"],
        ),
        charts.topk_chart(
            pd.DataFrame({"label": [f"![x](https://e.example/p.png){rlo}"], "probability": [0.9]})
        ),  # fmt: skip
        charts.runs_overlay(
            pd.DataFrame({"run": [f"r{rlo}1"], "epoch": [1], "metric": ["loss"], "value": [0.5]})
        ),
    ]
    for chart in specs:
        text = json.dumps(chart.to_dict(), ensure_ascii=False)
        assert rlo not in text and lri not in text
    heatmap = specs[0].to_dict()
    assert heatmap["layer"][0]["encoding"]["x"]["sort"] == ["cat", "dog"]
    assert "gpj.exe" in json.dumps(specs[1].to_dict())
    assert cm["true"][0] == f"cat{rlo}"  # the caller's frame is not changed
