"""The experiment spec: one frozen dataclass tree of plain types (data, model, augmentation,
training). Every field has a default, choices are strings, it round-trips through JSON, and
``__post_init__`` rejects bad values with a message that says what to change.

Presets reproduce the workshop lessons: ``mlp`` (the Keras MNIST class), ``lenet`` (DIGITS),
``cnn3`` (cats vs dogs in Keras) and ``vgg-bn`` (the CIFAR-10 notebook); ``mobilenet`` and
``efficientnet`` reuse an ImageNet network (the cats-vs-dogs lesson's transfer learning).
The settings each trains with, and the experiment of a preset, are ``dlcore.recipes``'s.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from typing import Any

from dlcore import LayerLabError

ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu")
PADDINGS = ("valid", "same")
POOLINGS = ("max", "average", "none")
HEADS = ("flatten", "global_average", "global_max")
OPTIMIZERS = ("adam", "rmsprop", "sgd", "adamw")
FLIPS = ("none", "horizontal", "vertical", "both")
# AugmentSpec's fields, in the order the model applies them
AUGMENTATIONS = ("flip", "rotation", "shift", "zoom", "contrast", "noise")
AUGMENT_FACTORS = AUGMENTATIONS[1:]  # those set by a strength (flip is set by a direction)
# "auto" trains in bfloat16 where the device computes in it natively, else float32
# (dlcore.backend.training_precision); saved models are float32 whatever the precision.
PRECISIONS = ("auto", "float32", "bfloat16")
# ImageNet networks from keras.applications used as the feature extractor (transfer learning):
# "mobilenet" is MobileNetV3Small, "efficientnet" EfficientNetB0 (dlcore.model.backbones).
BACKBONES = ("mobilenet", "efficientnet")
SCRATCH_PRESETS = ("mlp", "lenet", "cnn3", "vgg-bn")  # networks trained from random weights
PRESETS = (*SCRATCH_PRESETS, *BACKBONES, "custom")
# Batch norm's moving averages with Keras's default momentum (0.99) lag far behind the weights in
# a short workshop run, so validation reads near chance for the first epochs; 0.9 follows them
# within a few dozen batches (bench/cifar_bn.py measures it).
BATCH_NORM_MOMENTUM = 0.9
LR_SCHEDULES = ("constant", "step", "exponential", "cosine", "one_cycle")
# A run id as dlcore.train.runs checks it, or "":
_RUN_ID = re.compile(r"(?:[A-Za-z0-9][A-Za-z0-9_.-]{0,99})?")


def check_choice(what: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise LayerLabError(f"{what} is {value!r}; choose one of {', '.join(choices)}.")


def _check_range(what: str, value: Any, low: float, high: float, kind: type = int) -> None:
    ok_type = isinstance(value, int) if kind is int else isinstance(value, int | float)
    if isinstance(value, bool) or not ok_type or not low <= value <= high:
        noun = "a whole number" if kind is int else "a number"
        raise LayerLabError(f"{what} is {value!r}; use {noun} from {low} to {high}.")


@dataclass(frozen=True)
class DataSpec:
    dataset: str = "mnist-sample"
    max_train_images: int = 0  # 0 = all; a smaller number makes a quick demo run

    def __post_init__(self) -> None:
        if not isinstance(self.dataset, str) or not self.dataset:
            raise LayerLabError("The dataset name is empty; choose a dataset first.")
        _check_range("max_train_images", self.max_train_images, 0, 10_000_000)


@dataclass(frozen=True)
class ConvBlock:
    filters: int = 32
    kernel_size: int = 3
    strides: int = 1
    padding: str = "same"
    activation: str = "relu"
    num_convs: int = 1  # 2 makes a VGG-style conv pair
    batch_norm: bool = False
    pooling: str = "max"
    pool_size: int = 2
    dropout_rate: float = 0.0

    def __post_init__(self) -> None:
        _check_range("Conv filters", self.filters, 1, 1024)
        _check_range("Conv kernel size", self.kernel_size, 1, 15)
        _check_range("Conv stride", self.strides, 1, 8)
        check_choice("Conv padding", self.padding, PADDINGS)
        check_choice("Conv activation", self.activation, ACTIVATIONS)
        _check_range("Convolutions per block", self.num_convs, 1, 4)
        check_choice("Pooling", self.pooling, POOLINGS)
        _check_range("Pool size", self.pool_size, 1, 8)
        _check_range("Conv dropout rate", self.dropout_rate, 0.0, 0.9, float)
        if not isinstance(self.batch_norm, bool):
            raise LayerLabError(f"batch_norm is {self.batch_norm!r}; use true or false.")


@dataclass(frozen=True)
class DenseLayer:
    units: int = 128
    activation: str = "relu"
    dropout_rate: float = 0.0

    def __post_init__(self) -> None:
        _check_range("Dense units", self.units, 1, 8192)
        check_choice("Dense activation", self.activation, ACTIVATIONS)
        _check_range("Dense dropout rate", self.dropout_rate, 0.0, 0.9, float)


@dataclass(frozen=True)
class ModelSpec:
    preset: str = "lenet"
    conv_blocks: tuple[ConvBlock, ...] = ()
    head: str = "flatten"
    dense_layers: tuple[DenseLayer, ...] = ()
    backbone: str = ""  # "" = none; else one of BACKBONES, in place of the conv blocks

    def __post_init__(self) -> None:
        check_choice("Model preset", self.preset, PRESETS)
        check_choice("Head", self.head, HEADS)
        if self.backbone:
            check_choice("Backbone", self.backbone, BACKBONES)
            if self.conv_blocks:
                raise LayerLabError(
                    f"The {self.backbone} backbone replaces the conv blocks; use 0 conv blocks "
                    "with a backbone, or no backbone."
                )
        if len(self.conv_blocks) > 8:
            raise LayerLabError(f"{len(self.conv_blocks)} conv blocks; use at most 8.")
        if len(self.dense_layers) > 6:
            raise LayerLabError(f"{len(self.dense_layers)} dense layers; use at most 6.")
        if not self.conv_blocks and not self.backbone and self.head != "flatten":
            raise LayerLabError("Global pooling needs at least one conv block; use 'flatten'.")
        for item, kind in [(b, ConvBlock) for b in self.conv_blocks] + [
            (d, DenseLayer) for d in self.dense_layers
        ]:
            if not isinstance(item, kind):
                raise LayerLabError(f"Expected a {kind.__name__}, got {item!r}.")


@dataclass(frozen=True)
class AugmentSpec:
    """Random changes applied to training images only (layers inside the model that are
    inactive at inference). Factors are fractions: rotation 0.1 = up to 36 degrees."""

    flip: str = "none"
    rotation: float = 0.0
    shift: float = 0.0
    zoom: float = 0.0
    contrast: float = 0.0
    noise: float = 0.0  # standard deviation, in units of the 0-1 pixel scale

    def __post_init__(self) -> None:
        check_choice("Flip", self.flip, FLIPS)
        for name in AUGMENT_FACTORS:
            _check_range(f"Augmentation {name}", getattr(self, name), 0.0, 0.5, float)

    @property
    def enabled(self) -> bool:
        return self.flip != "none" or any(getattr(self, name) > 0 for name in AUGMENT_FACTORS)


@dataclass(frozen=True)
class TrainSpec:
    epochs: int = 5
    batch_size: int = 64
    optimizer: str = "adam"
    learning_rate: float = 0.001
    seed: int = 0
    early_stopping_patience: int = 0  # 0 = off; else stop after N epochs without improvement
    # How the rate changes over the run (dlcore.model.schedules): "step" multiplies it by
    # decay_factor every decay_every_epochs, "exponential" does so smoothly, "cosine" rises
    # linearly for warmup_epochs then falls to 0, "one_cycle" rises over the first 30% and falls.
    lr_schedule: str = "constant"
    warmup_epochs: float = 1.0
    decay_every_epochs: float = 1.0
    decay_factor: float = 0.5
    # Transfer learning (dlcore.train.transfer): start from the conv layers (or backbone) of an
    # earlier run ("" = start from random weights) and keep the reused layers frozen for the first
    # freeze_epochs epochs (more than epochs = frozen for the whole run).
    from_run: str = ""
    freeze_epochs: int = 0
    precision: str = "auto"  # one of PRECISIONS

    def __post_init__(self) -> None:
        _check_range("Epochs", self.epochs, 1, 1000)
        _check_range("Batch size", self.batch_size, 1, 8192)
        check_choice("Optimizer", self.optimizer, OPTIMIZERS)
        _check_range("Learning rate", self.learning_rate, 1e-7, 10.0, float)
        _check_range("Seed", self.seed, 0, 2**31 - 1)
        _check_range("Early stopping patience", self.early_stopping_patience, 0, 100)
        check_choice("Learning-rate schedule", self.lr_schedule, LR_SCHEDULES)
        _check_range("Warm-up epochs", self.warmup_epochs, 0.0, 100.0, float)
        _check_range("Decay every (epochs)", self.decay_every_epochs, 0.1, 1000.0, float)
        _check_range("Decay factor", self.decay_factor, 0.001, 1.0, float)
        if not isinstance(self.from_run, str) or not _RUN_ID.fullmatch(self.from_run):
            raise LayerLabError(
                f"from_run is {str(self.from_run)[:60]!r}; give a run id as `dlcore jobs` lists "
                "it, or leave it empty to start from random weights."
            )
        _check_range("Freeze epochs", self.freeze_epochs, 0, 1000)
        check_choice("Precision", self.precision, PRECISIONS)


@dataclass(frozen=True)
class Experiment:
    data: DataSpec = field(default_factory=DataSpec)
    model: ModelSpec = field(default_factory=lambda: preset_model("lenet"))
    augment: AugmentSpec = field(default_factory=AugmentSpec)
    training: TrainSpec = field(default_factory=TrainSpec)
    name: str = ""
    owner: str = ""

    def __post_init__(self) -> None:
        for name, kind in (
            ("data", DataSpec),
            ("model", ModelSpec),
            ("augment", AugmentSpec),
            ("training", TrainSpec),
        ):
            if not isinstance(getattr(self, name), kind):
                raise LayerLabError(f"Experiment.{name} must be a {kind.__name__}.")
        if not isinstance(self.name, str) or len(self.name) > 80:
            raise LayerLabError("The run name must be text of at most 80 characters.")
        if not isinstance(self.owner, str) or len(self.owner) > 64:
            raise LayerLabError("The owner name must be text of at most 64 characters.")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, payload: dict) -> Experiment:
        return _from_dict(cls, payload)

    @classmethod
    def from_json(cls, text: str) -> Experiment:
        try:
            payload = json.loads(text)
        except (ValueError, RecursionError) as error:  # bad JSON, bad bytes, absurd nesting
            raise LayerLabError(
                f"The spec is not valid JSON ({str(error)[:120]}); save it again from the app "
                "or with Experiment.to_json()."
            ) from None
        return cls.from_dict(payload)


_NESTED = {
    (Experiment, "data"): DataSpec,
    (Experiment, "model"): ModelSpec,
    (Experiment, "augment"): AugmentSpec,
    (Experiment, "training"): TrainSpec,
}
_TUPLES = {(ModelSpec, "conv_blocks"): ConvBlock, (ModelSpec, "dense_layers"): DenseLayer}


def _from_dict(cls: type, payload: Any) -> Any:
    if not isinstance(payload, dict):
        raise LayerLabError(
            f"Expected a JSON object for {cls.__name__}, got {str(payload)[:60]!r}; write it as "
            "Experiment.to_json() does."
        )
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(payload) - names)
    if unknown:
        raise LayerLabError(
            f"Unknown {cls.__name__} field(s) {unknown[:10]}; use only {sorted(names)}."
        )
    values = {}
    for name, value in payload.items():
        if (cls, name) in _NESTED:
            value = _from_dict(_NESTED[(cls, name)], value)
        elif (cls, name) in _TUPLES:
            if not isinstance(value, list | tuple):
                raise LayerLabError(f"{cls.__name__}.{name} must be a list; use [...] in JSON.")
            value = tuple(_from_dict(_TUPLES[(cls, name)], item) for item in value)
        values[name] = value
    return cls(**values)


def preset_model(name: str) -> ModelSpec:
    """The network of a lesson, as a ModelSpec."""
    check_choice("Model preset", name, PRESETS)
    if name == "mlp":  # Keras MNIST class: 784 -> 16 -> 16 -> 10
        return ModelSpec(preset="mlp", dense_layers=(DenseLayer(16), DenseLayer(16)))
    if name == "lenet":  # DIGITS LeNet
        blocks = (
            ConvBlock(filters=20, kernel_size=5, padding="valid"),
            ConvBlock(filters=50, kernel_size=5, padding="valid"),
        )
        return ModelSpec(preset="lenet", conv_blocks=blocks, dense_layers=(DenseLayer(500),))
    if name == "cnn3":  # cats vs dogs in Keras: three conv/ReLU/max-pool blocks
        blocks = (ConvBlock(32), ConvBlock(32), ConvBlock(64))
        return ModelSpec(
            preset="cnn3", conv_blocks=blocks, dense_layers=(DenseLayer(64, dropout_rate=0.5),)
        )
    if name == "vgg-bn":  # CIFAR-10 notebook: conv pairs with batch norm
        blocks = tuple(
            ConvBlock(filters=f, num_convs=2, batch_norm=True, dropout_rate=0.2)
            for f in (32, 64, 128)
        )
        return ModelSpec(
            preset="vgg-bn", conv_blocks=blocks, dense_layers=(DenseLayer(1024, dropout_rate=0.2),)
        )
    if name in BACKBONES:  # ImageNet features, pooled, and a small new head for these classes
        dense = (DenseLayer(64, dropout_rate=0.2),)
        return ModelSpec(preset=name, backbone=name, head="global_average", dense_layers=dense)
    return ModelSpec(
        preset="custom", conv_blocks=(ConvBlock(16), ConvBlock(32)), dense_layers=(DenseLayer(64),)
    )


PRESET_DESCRIPTIONS = {
    "mlp": "Multi-layer perceptron of the Keras MNIST class: flatten, Dense 16, Dense 16, softmax.",
    "lenet": "LeNet as in the DIGITS workshop: conv 20 5x5, pool, conv 50 5x5, pool, dense 500.",
    "cnn3": "Cats vs dogs in Keras: three conv + ReLU + max-pool blocks, dense 64, dropout 0.5.",
    "vgg-bn": "CIFAR-10 notebook: conv pairs 32/64/128 with batch norm, dense 1024, dropout 0.2.",
    "mobilenet": "MobileNetV3Small trained on ImageNet (transfer learning), a new dense 64 head.",
    "efficientnet": "EfficientNetB0 trained on ImageNet (transfer learning), a new dense 64 head.",
    "custom": "Your own network: add conv blocks and dense layers with the sliders.",
}
