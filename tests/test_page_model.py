"""Model page: presets fill the controls, sliders change the layer table, errors name the layer."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from dlcore.data.catalogue import train_size
from dlcore.model.layer_table import layer_table, table_totals
from dlcore.recipes import preset_training
from dlcore.spec import preset_model
from dlcore.train.runs import read_spec

ROOT = Path(__file__).resolve().parents[1]


def _model_page(dataset: str | None = "mnist-sample") -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    if dataset:
        at.session_state["dataset"] = dataset
    return at.switch_page("pages/model.py").run()


def _metric(at: AppTest, label: str) -> int:
    value = next(m.value for m in at.metric if m.label.startswith(label))
    return int(value.replace(",", ""))


def test_model_page_without_a_dataset_says_what_to_do():
    at = _model_page(None)
    assert not at.exception and not at.error
    assert "dataset first" in at.info[0].value


def test_lenet_totals_match_the_layer_table():
    at = _model_page()
    assert not at.exception and not at.error
    assert at.selectbox(key="_model_preset").value == "lenet"
    expected = table_totals(layer_table(preset_model("lenet"), (28, 28, 1), 10))
    assert _metric(at, "Parameters") == expected["params"]
    assert _metric(at, "Connections") == expected["connections"]
    table = at.dataframe[0].value
    assert table["Parameters"].sum() == expected["params"]
    assert "24 x 24 x 20" in list(table["Output shape"])
    assert at.main.get("graphviz_chart")
    assert at.session_state["experiment"].model == preset_model("lenet")


def test_moving_a_slider_changes_the_count_and_makes_it_custom():
    at = _model_page()
    before, training = _metric(at, "Parameters"), at.session_state["experiment"].training
    at.number_input(key="_model_b1_filters").set_value(23).run()  # typed: any count
    assert not at.exception and not at.error
    assert _metric(at, "Parameters") > before  # LeNet's first block has 20
    assert at.selectbox(key="_model_preset").value == "custom"
    experiment = at.session_state["experiment"]
    assert experiment.model.preset == "custom"
    assert experiment.model.conv_blocks[0].filters == 23
    assert experiment.training == training  # the training part is kept


def test_choosing_a_preset_fills_the_controls():
    at = _model_page()
    at.selectbox(key="_model_preset").set_value("cnn3").run()
    assert at.slider(key="_model_blocks").value == 3
    assert at.number_input(key="_model_b3_filters").value == 64
    assert at.session_state["experiment"].model == preset_model("cnn3")
    at.selectbox(key="_model_preset").set_value("mlp").run()
    assert at.slider(key="_model_blocks").value == 0
    assert at.session_state["experiment"].model == preset_model("mlp")


def test_adding_blocks_and_dense_layers_changes_the_table():
    at = _model_page()
    rows = len(at.dataframe[0].value)
    at.slider(key="_model_blocks").set_value(3).run()
    at.slider(key="_model_dense").set_value(2).run()
    assert not at.exception and not at.error
    assert len(at.dataframe[0].value) > rows
    model = at.session_state["experiment"].model
    assert len(model.conv_blocks) == 3 and len(model.dense_layers) == 2


def test_a_network_too_deep_for_8x8_digits_names_the_layer():
    at = _model_page("digits")
    assert not at.exception
    assert "conv2_1" in at.error[0].value
    assert not at.metric  # no table for a network that does not fit
    for block in (1, 2):
        at.selectbox(key=f"_model_b{block}_padding").set_value("same").run()
    assert not at.error
    assert at.session_state["experiment"].model.conv_blocks[1].padding == "same"


def test_weight_sharing_and_lecture_numbers_are_shown():
    at = _model_page()
    text = " ".join(m.value for m in at.markdown)
    assert "conv1_1" in text and "times more" in text
    lecture = at.dataframe[-1].value
    assert list(lecture["Parameters"][:3]) == [0, 0, 260]
    assert 203_840 in set(lecture["Connections"]) and 392_200 in set(lecture["Parameters"])


def test_choosing_a_lesson_network_brings_its_training_settings():
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=60)
    at.session_state["dataset"] = "digits"
    at.switch_page("pages/model.py")
    at.run()
    preset = next(box for box in at.selectbox if box.label == "Start from a lesson's network")
    preset.set_value("mlp").run()
    assert not at.exception
    training = at.session_state["experiment"].training
    fast = preset_training("mlp", "fast", num_train=train_size("digits"))  # sized to the data
    assert (training.optimizer, training.epochs, training.batch_size) == (
        fast["optimizer"],
        fast["epochs"],
        fast["batch_size"],
    )
    assert training.batch_size < 128  # 1,257 training images: smaller batches than on MNIST


def test_a_backbone_preset_without_cached_weights_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    at = _model_page()
    at.selectbox(key="_model_preset").set_value("mobilenet").run()
    assert not at.exception and not at.error
    warning = " ".join(w.value for w in at.warning)
    assert "dlcore fetch mobilenet" in warning and "no\\_top\\_v2" in warning
    table = at.dataframe[0].value
    assert list(table["Layer"][:4]) == ["input", "to_rgb", "resize", "MobileNetV3Small"]
    model = at.session_state["experiment"].model
    assert model.backbone == "mobilenet" and not model.conv_blocks
    assert at.session_state["experiment"].training.freeze_epochs == 2
    assert not [s for s in at.slider if s.key == "_model_blocks"]  # the backbone replaces them


def test_starting_from_an_earlier_run_copies_its_network(run_id):
    at = _model_page("digits")
    picker = at.selectbox(key="_transfer_from_run")
    assert any(run_id in option for option in picker.options)
    picker.set_value(run_id).run()
    assert not at.exception and not at.error
    experiment = at.session_state["experiment"]
    assert experiment.training.from_run == run_id
    assert experiment.model == read_spec(run_id).model  # every conv layer fits
    at.number_input(key="_transfer_freeze").set_value(1).run()
    assert at.session_state["experiment"].training.freeze_epochs == 1
    captions = " ".join(c.value for c in at.caption)
    assert "conv1_1" in captions and "frozen for the first 1 epoch" in captions
    at.number_input(key="_model_b1_filters").set_value(5).run()  # no longer fits the run
    assert "has 4 filters of 3x3 on 1 maps" in at.error[0].value  # conv1_1, escaped
