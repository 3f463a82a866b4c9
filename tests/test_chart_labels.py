"""What the charts' labels, axes and captions say: every bar named, rates read as the settings
write them, one name for the iteration axis, captions that describe what is drawn."""

from __future__ import annotations

import json

import pandas as pd

from dlcore import charts
from dlcore.results import charts as result_charts
from pages import train_views

MIN_BAR_PX = 20  # a class label of 11-12 px type needs about this much room


def test_topk_chart_gives_every_class_its_label_in_one_order():
    # given out of order: the chart still ranks them, highest first
    df = pd.DataFrame(
        {"label": ["7", "9", "3", "4", "8"], "probability": [0.02, 0.938, 0.003, 0.033, 0.004]}
    )
    spec = result_charts.topk_chart(df).to_dict()
    y = spec["encoding"]["y"]
    assert y["axis"]["labelOverlap"] is False  # no label hidden for touching its neighbour
    assert spec["height"] >= len(df) * MIN_BAR_PX
    assert spec["autosize"]["type"] == "fit-x"  # the height is the bars' own, not shared
    assert y["sort"] == ["9", "4", "7", "8", "3"]
    # the sort is set once, for both layers: no layer sorts on its own
    assert json.dumps(spec).count('"sort"') == 1
    assert all("y" not in layer.get("encoding", {}) for layer in spec["layer"])


def test_topk_chart_grows_with_the_number_of_classes():
    heights = []
    for count in (3, 10):
        df = pd.DataFrame({"label": [str(i) for i in range(count)], "probability": 0.1})
        heights.append(result_charts.topk_chart(df).to_dict()["height"])
    assert heights[1] >= 10 * MIN_BAR_PX and heights[1] > heights[0]


def _rates(count: int) -> pd.DataFrame:
    return pd.DataFrame({"iteration": range(count), "learning_rate": [0.003] * count})


def test_learning_rate_axis_reads_plain_decimals_in_a_tall_enough_chart():
    spec = charts.learning_rate_chart(_rates(3)).to_dict()
    axis_format = spec["encoding"]["y"]["axis"]["format"]
    assert axis_format == "~g"  # d3: 0.003 -> "0.003", 0.0001 -> "0.0001"; ".1e" read 3.0e-3
    assert spec["height"] >= 160 and spec["autosize"]["type"] == "fit-x"
    assert spec["mark"] == {"type": "line", "interpolate": "linear"}  # a schedule: no points


def test_the_logged_rate_draws_its_samples_as_points_with_no_line_between():
    spec = charts.learning_rate_chart(_rates(4), title="Learning rate used", points=True)
    mark = spec.to_dict()["mark"]
    assert mark["type"] == "point" and mark["filled"] and mark["size"] > 0


def test_per_batch_charts_share_one_name_for_the_iteration_axis():
    batches = pd.DataFrame({"step": [1, 2], "loss": [2.0, 1.5], "smoothed": [2.0, 1.8]})
    loss = charts.batch_loss_chart(batches).to_dict()
    rate = charts.learning_rate_chart(_rates(2)).to_dict()
    titles = {layer["encoding"]["x"]["title"] for layer in loss["layer"]}
    assert titles == {rate["encoding"]["x"]["title"]} == {"Iteration (batch)"}


def test_the_batch_caption_describes_the_lines_the_chart_draws():
    batches = pd.DataFrame({"step": [1, 2], "loss": [2.0, 1.5], "smoothed": [2.0, 1.8]})
    raw, smoothed = charts.batch_loss_chart(batches).to_dict()["layer"]
    assert raw["mark"]["type"] == "line" and "point" not in raw["mark"]
    assert "faint line" in train_views.BATCH_NOTE and "solid line" in train_views.BATCH_NOTE
    assert "point" not in train_views.BATCH_NOTE
