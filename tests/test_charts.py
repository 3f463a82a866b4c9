"""The charts' Vega-Lite specs: marks, typed encodings, the selection the pages rely on."""

from __future__ import annotations

import json

import altair as alt
import pandas as pd
import pytest

from dlcore import charts
from dlcore.data import charts as data_charts
from dlcore.results import charts as result_charts


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


def test_batch_loss_chart_draws_raw_values_faint_under_the_smoothed_line():
    frame = pd.DataFrame({"step": [1, 2, 3], "loss": [2.0, 1.5, 1.2], "smoothed": [2, 1.7, 1.4]})
    raw, smooth = charts.batch_loss_chart(frame).to_dict()["layer"]
    assert raw["mark"] == {"type": "line", "opacity": 0.3}
    assert _encodings(raw)["x"] == ("step", "quantitative")
    assert _encodings(raw)["y"] == ("loss", "quantitative")
    assert _encodings(smooth)["y"] == ("smoothed", "quantitative")
    assert smooth["mark"]["type"] == "line" and "opacity" not in smooth["mark"]


def test_batch_loss_chart_without_smoothing_draws_one_solid_line():
    frame = pd.DataFrame({"step": [1, 2, 3], "loss": [2.0, 1.5, 1.2]})
    (raw,) = charts.batch_loss_chart(frame).to_dict()["layer"]
    assert raw["mark"] == {"type": "line", "opacity": 1.0}


def test_training_curves_mark_the_kept_epoch_in_both_panels():
    spec = charts.training_curves(_long_metrics(3), kept_epoch=2).to_dict()
    for panel in spec["hconcat"]:
        line, rule, label = panel["layer"]
        assert rule["mark"]["type"] == "rule" and label["mark"]["type"] == "text"
        values = spec["datasets"][rule["data"]["name"]]
        assert values == [{"epoch": 2, "label": "kept: epoch 2"}]
    plain = charts.training_curves(_long_metrics(3)).to_dict()
    assert all("layer" not in panel for panel in plain["hconcat"])


def test_confusion_heatmap_has_counts_and_a_cell_selection():
    cm = pd.DataFrame(
        {"true": ["cat", "cat", "dog", "dog"], "predicted": ["cat", "dog", "cat", "dog"]}
    ).assign(count=[8, 2, 1, 9])
    spec = result_charts.confusion_heatmap(cm, class_order=["dog", "cat"]).to_dict()
    assert "title" not in spec  # the page's heading names it, once
    assert spec["width"] == spec["height"] >= 520  # readable when projected
    rect, text = spec["layer"]
    assert rect["encoding"]["x"]["axis"]["labelFontSize"] >= 14
    assert rect["encoding"]["x"]["axis"]["labelAngle"] == 0  # short names read upright
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
    spec = result_charts.confusion_heatmap(cm, selectable=False).to_dict()
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
    spec = data_charts.class_counts_chart(counts, ["1", "0"]).to_dict()
    assert spec["mark"]["type"] == "bar"
    encodings = _encodings(spec)
    assert encodings["x"] == ("class", "nominal") and spec["encoding"]["x"]["sort"] == ["1", "0"]
    assert encodings["xOffset"] == ("split", "nominal")
    assert encodings["y"] == ("count", "quantitative")
    assert spec["encoding"]["color"]["scale"]["domain"] == ["train", "validation"]
    assert spec["encoding"]["x"]["axis"]["labelAngle"] == 0  # digits read upright


def test_long_class_names_slant_on_the_class_counts_chart():
    names = ["golden retriever", "cat"]
    counts = pd.DataFrame({"class": names, "count": [3, 4], "split": ["train"] * 2})
    spec = data_charts.class_counts_chart(counts).to_dict()
    assert spec["encoding"]["x"]["axis"]["labelAngle"] == -40
    many = pd.DataFrame({"class": [f"c{i}" for i in range(30)], "count": 1, "split": "train"})
    spec = data_charts.class_counts_chart(many).to_dict()  # short, but too many side by side
    assert spec["encoding"]["x"]["axis"]["labelAngle"] == -40


def test_pixel_histogram_draws_each_channel_in_its_own_panel_on_a_linear_scale():
    df = pd.DataFrame(
        {
            "intensity": [0, 128] * 3,
            "count": [3, 1, 5, 15, 7, 1],
            "channel": ["blue"] * 2 + ["red"] * 2 + ["green"] * 2,
        }
    )
    spec = data_charts.pixel_histogram(df).to_dict()
    assert spec["facet"]["column"]["field"] == "channel"
    assert spec["facet"]["column"]["sort"] == ["red", "green", "blue"]
    inner = spec["spec"]
    assert inner["mark"]["type"] == "bar"
    assert _encodings(inner)["x"] == ("intensity", "quantitative")
    assert _encodings(inner)["y"] == ("share", "quantitative")
    assert "type" not in inner["encoding"]["y"].get("scale", {})  # linear, no log "0" tick
    assert inner["encoding"]["y2"] == {"datum": 0}  # bars stand on zero
    assert inner["encoding"]["y"]["axis"]["format"] == "%"
    scale = inner["encoding"]["color"]["scale"]
    assert scale["domain"] == ["red", "green", "blue"] and scale["range"][0] == "#d62728"
    rows = spec["datasets"][spec["data"]["name"]]
    shares = {(r["channel"], r["intensity"]): r["share"] for r in rows}
    assert shares[("red", 0)] == 0.25 and shares[("blue", 0)] == 0.75  # each channel sums to 1
    assert {r["end"] - r["intensity"] for r in rows} == {128}  # bars span their bin


def test_topk_chart_labels_probabilities_as_percent():
    df = pd.DataFrame({"label": ["5", "3", "8"], "probability": [0.9, 0.07, 0.03]})
    spec = result_charts.topk_chart(df).to_dict()
    bars, labels = spec["layer"]
    assert bars["mark"]["type"] == "bar" and labels["mark"]["type"] == "text"
    assert _encodings(spec)["x"] == ("probability", "quantitative")  # shared by both layers
    assert _encodings(spec)["y"] == ("label", "nominal")
    assert labels["encoding"]["text"]["format"] == ".1%"
    assert spec["encoding"]["x"]["axis"]["format"] == "%"
    card = result_charts.topk_chart(df, probability_axis=False).to_dict()
    assert card["encoding"]["x"]["axis"] is None  # a card: no title, ticks or labels below


def test_activations_chart_draws_one_bar_per_unit():
    frame = pd.DataFrame({"unit": range(1, 501), "activation": [0.0, 1.5] * 250})
    spec = result_charts.activations_chart(frame, "dense1 · 500 units").to_dict()
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
    df = pd.concat([df, df.assign(metric="loss", value=[1.0, 0.8, 0.9, 0.7])])
    spec = charts.runs_overlay(df).to_dict()
    accuracy, loss = spec["hconcat"]  # accuracy first, in percent as on every page
    assert accuracy["encoding"]["y"]["axis"]["format"] == "%"
    assert accuracy["title"] == "Accuracy" and loss["title"] == "Loss"
    inner = loss
    assert inner["mark"]["type"] == "line"
    assert _encodings(inner)["color"] == ("run", "nominal")
    assert inner["encoding"]["color"]["scale"]["scheme"] == "tableau10"  # distinct hues
    assert _encodings(inner)["x"] == ("epoch", "quantitative")
    assert ("strokeDash" in inner["encoding"]) is with_split
    if with_split:  # validation solid, training dashed, as the legend says
        dash = inner["encoding"]["strokeDash"]
        assert dash["title"] == "Images" and dash["scale"]["domain"] == ["validation"]
        assert dash["scale"]["range"] == [[1, 0]]


def test_names_people_chose_are_drawn_as_plain_text():
    """A class folder or run id with U+202E (right-to-left override) would draw reversed:
    every chart that labels names strips bidi controls, and keeps the rest of the name."""
    rlo, lri = "\u202e", "\u2066"
    cm = pd.DataFrame({"true": [f"cat{rlo}", "dog"], "predicted": ["dog", f"cat{rlo}"]})
    specs = [
        result_charts.confusion_heatmap(cm.assign(count=[1, 2]), class_order=[f"cat{rlo}", "dog"]),
        data_charts.class_counts_chart(
            pd.DataFrame({"class": [f"{lri}gpj.exe"], "count": [3], "split": ["train"]}),
            [f"{lri}gpj.exe"],
        ),
        result_charts.topk_chart(
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
