"""The experiment spec: defaults, presets, JSON round trip and people-friendly validation."""

from __future__ import annotations

import dataclasses

import pytest

from dlcore.recipes import preset_experiment
from dlcore.spec import (
    PRESETS,
    AugmentSpec,
    ConvBlock,
    DenseLayer,
    Experiment,
    ModelSpec,
    TrainSpec,
    preset_model,
)


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_round_trips_through_json(name):
    experiment = preset_experiment(name, dataset="digits")
    again = Experiment.from_json(experiment.to_json())
    assert again == experiment
    assert isinstance(again.model.conv_blocks, tuple)


def test_custom_experiment_round_trips():
    experiment = Experiment(
        model=ModelSpec(
            preset="custom",
            conv_blocks=(ConvBlock(8, 5, 2, "valid", "tanh", 2, True, "average", 3, 0.25),),
            head="global_max",
            dense_layers=(DenseLayer(10, "elu", 0.5),),
        ),
        augment=AugmentSpec(flip="both", rotation=0.1, noise=0.05),
        training=TrainSpec(epochs=3, optimizer="sgd", learning_rate=0.05),
        name="trial 3",
        owner="ada",
    )
    assert Experiment.from_dict(experiment.to_dict()) == experiment
    assert experiment.augment.enabled and not AugmentSpec().enabled


def test_specs_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TrainSpec().epochs = 3  # type: ignore[misc]


def test_lesson_presets_have_the_lesson_layers():
    lenet = preset_model("lenet")
    assert [b.filters for b in lenet.conv_blocks] == [20, 50]
    assert {b.kernel_size for b in lenet.conv_blocks} == {5}
    assert [d.units for d in lenet.dense_layers] == [500]
    assert [d.units for d in preset_model("mlp").dense_layers] == [16, 16]
    assert preset_experiment("mlp", recipe="lesson").training.optimizer == "rmsprop"
    vgg = preset_model("vgg-bn")
    assert [(b.filters, b.num_convs, b.batch_norm) for b in vgg.conv_blocks] == [
        (32, 2, True),
        (64, 2, True),
        (128, 2, True),
    ]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: TrainSpec(epochs=-1), "Epochs is -1; use a whole number from 1"),
        (lambda: TrainSpec(epochs=10**9), "Epochs"),
        (lambda: TrainSpec(learning_rate=-0.1), "Learning rate is -0.1"),
        (lambda: TrainSpec(optimizer="magic"), "choose one of adam"),
        (lambda: ConvBlock(filters=0), "Conv filters is 0"),
        (lambda: ConvBlock(filters=10**6), "Conv filters"),
        (lambda: ConvBlock(padding="full"), "padding is 'full'; choose one of valid, same"),
        (lambda: DenseLayer(dropout_rate=1.5), "dropout rate is 1.5"),
        (lambda: AugmentSpec(rotation=3.0), "rotation is 3.0"),
        (lambda: ModelSpec(head="global_max"), "Global pooling needs at least one conv block"),
        (lambda: TrainSpec(batch_size=True), "Batch size is True"),
    ],
)
def test_bad_values_say_what_to_do(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_from_json_rejects_unknown_fields_and_bad_json():
    with pytest.raises(ValueError, match="Unknown TrainSpec field"):
        Experiment.from_dict({"training": {"epochz": 3}})
    with pytest.raises(ValueError, match="not valid JSON"):
        Experiment.from_json("{")
    with pytest.raises(ValueError, match="Epochs"):
        Experiment.from_dict({"training": {"epochs": "5"}})
