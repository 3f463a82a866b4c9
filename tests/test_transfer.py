"""Transfer learning: a run started from an earlier run's layers, frozen for its first epochs;
ImageNet backbones built and loaded from the Keras cache (weights saved here, never downloaded)."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest

from dlcore import LayerLabError
from dlcore.cli import build_parser, main
from dlcore.cli.train import train_experiment
from dlcore.limits import load_limits
from dlcore.model import backbones
from dlcore.model.build import build_model
from dlcore.model.layer_table import layer_table, table_totals
from dlcore.spec import (
    ConvBlock,
    DataSpec,
    DenseLayer,
    Experiment,
    ModelSpec,
    TrainSpec,
    preset_model,
)
from dlcore.storage import runs_dir
from dlcore.train import admission, jobs, transfer
from dlcore.train.run_outputs import read_filter_history, read_metric_rows, read_model
from dlcore.train.runs import read_status, run_path
from dlcore.train.worker import run_job

keras = pytest.importorskip("keras")

ALICE, BOB = "a-" + "1" * 20, "a-" + "2" * 20
SOURCE_MODEL = ModelSpec(
    preset="custom",
    conv_blocks=(ConvBlock(6, batch_norm=True), ConvBlock(8)),
    dense_layers=(DenseLayer(16),),
)
REUSED = ["conv1_1", "bn1_1", "conv2_1"]


def _train(dataset: str, model: ModelSpec = SOURCE_MODEL, owner: str = "", **training) -> str:
    """Train a small network in this process; return the finished run's id."""
    settings = {"epochs": 1, "batch_size": 32} | training
    experiment = Experiment(
        data=DataSpec(dataset=dataset, max_train_images=256),
        model=model,
        training=TrainSpec(**settings),
        owner=owner,
    )
    run_id = jobs.create_run(experiment)
    assert run_job(run_path(run_id)) == 0, read_status(run_id).message
    return run_id


@pytest.fixture(scope="module")
def trained_source(tmp_path_factory):
    """A small network trained once on digits, in a data directory of its own."""
    home = tmp_path_factory.mktemp("source-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LAYERLAB_HOME", str(home))
        run_id = _train("digits")
        return run_path(run_id)


@pytest.fixture
def source(trained_source) -> str:
    """The trained source run, copied into this test's data directory; its id."""
    shutil.copytree(trained_source, runs_dir() / trained_source.name)
    return trained_source.name


def _import_three_digits(name: str, owner: str = "") -> None:
    """Digits 0-2 only, as an attendee's import: a new task with 3 classes."""
    from sklearn.datasets import load_digits

    from dlcore.data.dataset import Dataset, save_dataset

    digits = load_digits()
    keep = digits.target < 3
    x = (digits.images[keep] * 16).clip(0, 255).astype("uint8")[..., None]
    y = digits.target[keep].astype("int64")
    manifest = {"owner": owner} if owner else {}
    save_dataset(Dataset(name, ["zero", "one", "two"], x[:400], y[:400], x[400:], y[400:],
                         manifest=manifest))  # fmt: skip


def _weights(model, names):
    return {name: [np.array(w) for w in model.get_layer(name).get_weights()] for name in names}


def _equal(left: dict, right: dict) -> bool:
    return all(
        all(np.array_equal(a, b) for a, b in zip(left[n], right[n], strict=True)) for n in left
    )


def test_reused_layers_start_equal_to_the_source_and_the_head_is_rebuilt(source):
    _import_three_digits("three")
    target = build_model(SOURCE_MODEL, (8, 8, 1), 3)
    before = _weights(target, ["dense1"])
    assert transfer.reuse_weights(target, source) == REUSED
    assert _equal(_weights(target, REUSED), _weights(read_model(source), REUSED))
    assert _equal(_weights(target, ["dense1"]), before)  # the head stays new
    assert target.get_layer("predictions").units == 3  # ...for the new classes


def test_frozen_layers_stay_equal_while_the_head_learns(source):
    _import_three_digits("three")
    run_id = _train("three", from_run=source, freeze_epochs=1)
    trained, original = read_model(run_id), read_model(source)
    assert _equal(_weights(trained, REUSED), _weights(original, REUSED))  # BN statistics too
    assert read_status(run_id).status == "completed"


def test_after_the_frozen_epochs_every_layer_learns_and_the_log_is_one_run(source):
    run_id = _train("digits", from_run=source, freeze_epochs=1, epochs=2, lr_schedule="cosine")
    # the first convolution before training, after the frozen epoch, after the second one (the
    # saved model may hold epoch 1's weights: the kept epoch is the best validation accuracy's)
    layer, kernels = read_filter_history(run_id)
    assert layer == "conv1_1" and len(kernels) == 3
    np.testing.assert_array_equal(kernels[1], kernels[0])
    assert not np.array_equal(kernels[2], kernels[1])
    epochs = [row for row in read_metric_rows(run_id) if row.kind == "epoch"]
    assert [row.epoch for row in epochs] == [1, 2]
    assert [row.progress for row in epochs] == [0.5, 1.0]
    steps = [row.step for row in read_metric_rows(run_id) if row.kind == "batch"]
    assert steps == sorted(steps) and len(set(steps)) == len(steps)  # one run, not two
    # the schedule went on: the second epoch's rate is the cosine's, not a new warm-up's
    rates = [row.extra["learning_rate"] for row in epochs]
    assert rates[1] < rates[0]


def test_mismatched_input_channels_are_refused_with_what_to_do(source):
    experiment = Experiment(
        data=DataSpec(dataset="shapes"),
        model=SOURCE_MODEL,
        training=TrainSpec(from_run=source),
    )
    with pytest.raises(LayerLabError, match="1-channel .grayscale.*3-channel .colour"):
        admission.check_submission(experiment, load_limits())


def test_other_kernels_are_refused_naming_the_layer(source):
    blocks = (ConvBlock(6, batch_norm=True), ConvBlock(12, kernel_size=5))
    other = dataclasses.replace(SOURCE_MODEL, conv_blocks=blocks)
    experiment = Experiment(
        data=DataSpec(dataset="digits"), model=other, training=TrainSpec(from_run=source)
    )
    with pytest.raises(LayerLabError, match="conv2_1 has 8 filters of 3x3.*here 12 of 5x5"):
        admission.check_submission(experiment, load_limits())
    mlp = Experiment(data=DataSpec(dataset="digits"), model=preset_model("mlp"),
                     training=TrainSpec(from_run=source))  # fmt: skip
    with pytest.raises(LayerLabError, match="does not have"):
        admission.check_submission(mlp, load_limits())


def test_another_attendees_private_run_cannot_be_a_starting_point():
    _import_three_digits("alices", owner=ALICE)
    source = _train("alices", owner=ALICE)
    mine = Experiment(data=DataSpec(dataset="digits"), model=SOURCE_MODEL,
                      training=TrainSpec(from_run=source), owner=BOB)  # fmt: skip
    with pytest.raises(LayerLabError, match="their own images"):
        admission.check_submission(mine, load_limits())
    assert transfer.check_source(dataclasses.replace(mine, owner=ALICE), (8, 8, 1)) == REUSED


def test_spec_fields_round_trip_and_old_specs_load():
    experiment = Experiment(
        model=preset_model("mobilenet"), training=TrainSpec(from_run="run-1", freeze_epochs=2)
    )
    assert Experiment.from_json(experiment.to_json()) == experiment
    old = json.loads(Experiment().to_json())
    del old["training"]["from_run"], old["training"]["freeze_epochs"], old["model"]["backbone"]
    assert Experiment.from_dict(old).training.from_run == ""
    with pytest.raises(LayerLabError, match="run id"):
        TrainSpec(from_run="../etc")
    with pytest.raises(LayerLabError, match="replaces the conv blocks"):
        ModelSpec(backbone="mobilenet", conv_blocks=(ConvBlock(),))


def test_backbone_table_matches_the_keras_model():
    spec = preset_model("mobilenet")
    rows = layer_table(spec, (28, 28, 1), 3)
    assert [row.name for row in rows[:3]] == ["input", "to_rgb", "resize"]
    model = build_model(spec, (28, 28, 1), 3, pretrained=False)
    assert table_totals(rows)["params"] == model.count_params()
    for row in rows[1:]:
        assert tuple(model.get_layer(row.name).output.shape[1:]) == row.output_shape, row.name
    images = np.random.default_rng(0).uniform(0, 255, (2, 28, 28, 1)).astype("float32")
    assert model.predict(images, verbose=0).shape == (2, 3)


def test_backbone_loads_weights_from_the_keras_cache_and_says_what_to_do_without(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    with pytest.raises(LayerLabError, match="dlcore fetch mobilenet.*no_top_v2.h5 into"):
        build_model(preset_model("mobilenet"), (32, 32, 3), 2)
    saved = backbones.make_backbone("mobilenet", 64, 64, pretrained=False)
    backbones.weights_dir().mkdir(parents=True)
    keras.saving.save_model(saved, backbones.weights_path("mobilenet"))  # an .h5, as Keras's
    model = build_model(preset_model("mobilenet"), (32, 32, 3), 2)  # another input size
    loaded = model.get_layer("MobileNetV3Small").get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(loaded, saved.get_weights(), strict=True))


def test_efficientnet_from_the_cache_preprocesses_as_keras_imagenet(tmp_path, monkeypatch):
    from keras.src.utils import file_utils

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    backbones.weights_dir().mkdir(parents=True)
    saved = backbones.make_backbone("efficientnet", 32, 32, pretrained=False)
    norm = next(layer for layer in saved.layers if layer.name.startswith("normalization"))
    norm.adapt_mean.assign(np.array([0.485, 0.456, 0.406], "float32"))  # as ImageNet's file
    norm.adapt_variance.assign(np.array([0.229, 0.224, 0.225], "float32") ** 2)
    norm.finalize_state()
    keras.saving.save_model(saved, backbones.weights_path("efficientnet"))
    # Keras's own loading path, with its download replaced by the file saved here
    cached = str(backbones.weights_path("efficientnet"))
    monkeypatch.setattr(file_utils, "get_file", lambda *args, **kwargs: cached)
    reference = keras.applications.EfficientNetB0(input_shape=(32, 32, 3), include_top=False)
    model = build_model(preset_model("efficientnet"), (32, 32, 3), 2)
    ours = model.get_layer("efficientnetb0")
    images = np.random.default_rng(1).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    expected = reference.predict(images, verbose=0)
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(ours.predict(images, verbose=0), expected, atol=1e-3 * scale)
    # a later run that starts from this one divides by the same statistics
    later = build_model(preset_model("efficientnet"), (32, 32, 3), 5, pretrained=False)
    assert transfer.copy_layers(model, later, "earlier") == ["efficientnetb0"]
    copied = later.get_layer("efficientnetb0").predict(images, verbose=0)
    np.testing.assert_allclose(copied, expected, atol=1e-3 * scale)
    # the layer table's figures for it, without Keras
    assert ours.count_params() == backbones.BACKBONE_INFO["efficientnet"].params
    assert expected.shape[1:] == backbones.backbone_output_shape("efficientnet", 32, 32)
    row = layer_table(preset_model("efficientnet"), (20, 40, 3), 2)[2]
    assert (row.name, row.output_shape) == ("efficientnetb0", (1, 2, 1280))


def test_fetch_offline_says_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))

    def offline(name):
        raise Exception("URL fetch failure: [Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(backbones, "_download", offline)
    assert main(["fetch", "mobilenet"]) == 2
    error = capsys.readouterr().err
    assert "on a machine with internet" in error
    assert "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5" in error
    assert str(tmp_path / "keras" / "models") in error


def test_cli_train_from_a_run_takes_its_network(source):
    args = build_parser().parse_args(
        ["train", "--dataset", "digits", "--from-run", source, "--freeze-epochs", "2"]
    )
    experiment = train_experiment(args)
    assert experiment.model == SOURCE_MODEL
    assert (experiment.training.from_run, experiment.training.freeze_epochs) == (source, 2)
    mobilenet = train_experiment(build_parser().parse_args(["train", "--model", "mobilenet"]))
    assert mobilenet.model.backbone == "mobilenet"
