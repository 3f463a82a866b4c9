"""Transfer learning: start a network from what another one has learned.

Two sources of weights:

- an earlier run (DIGITS calls it "previous networks"): its convolution layers (with their
  batch norm), or its backbone, are copied into the new network. Layers are matched by name,
  and the names follow the layer order (``conv1_1``, ``bn1_1``, ``conv2_1``...), so the first
  blocks of the new network take the first blocks of the old one. The dense head is rebuilt for
  the new classes.
- an ImageNet network from ``keras.applications`` (MobileNetV3Small, EfficientNetB0), with its
  own preprocessing inside the model and its weights read from the Keras cache only: training
  never downloads. ``dlcore fetch mobilenet`` fills the cache on a machine with internet.

Reused layers may stay frozen for the first epochs. A callback cannot change ``trainable``
during ``fit()`` (the compiled training step would not see it), so ``fit_in_phases`` trains in
two ``fit()`` calls and recompiles in between; epochs and the learning-rate schedule go on
where the first phase stopped, so the metrics log reads as one run.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from dlcore import LayerLabError
from dlcore.spec import BACKBONES, ConvBlock, Experiment, ModelSpec, TrainSpec

MIN_SIDE = 32  # keras.applications networks refuse smaller images; smaller ones are enlarged
_REUSABLE = re.compile(r"(?:conv|bn)\d+_\d+")


@dataclass(frozen=True)
class Backbone:
    """What the pages and the layer table need to know of a keras.applications network."""

    title: str  # the keras.applications function, also the layer's name in the model
    weights_file: str  # the ImageNet weights without the top, as Keras names it in its cache
    url: str
    channels: int  # feature maps of its last layer
    params: int  # model.count_params() with include_top=False
    macs_224: int  # multiply-adds for one 224x224 image (published figure, without the top)


BACKBONE_INFO = {
    "mobilenet": Backbone(
        "MobileNetV3Small",
        "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5",
        "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v3/",
        576,
        939_120,
        55_000_000,
    ),
    "efficientnet": Backbone(
        "EfficientNetB0",
        "efficientnetb0_notop.h5",
        "https://storage.googleapis.com/keras-applications/",
        1280,
        4_049_571,
        385_000_000,
    ),
}
_LAYER_NAMES = {"mobilenet": "MobileNetV3Small", "efficientnet": "efficientnetb0"}
# EfficientNet's ImageNet weights expect its inputs divided once more by sqrt(stddev) after
# its Normalization layer; keras.applications adds that Rescaling only for weights="imagenet"
# (see tensorflow/tensorflow#49930), so loading the file ourselves folds it into the variance.
_IMAGENET_STDDEV_RGB = (0.229, 0.224, 0.225)


def backbone_layer_name(name: str) -> str:
    """The name of the backbone's layer inside a built model."""
    return _LAYER_NAMES[name]


def weights_dir() -> Path:
    """The Keras cache of model weights: ``$KERAS_HOME/models`` (``import dlcore`` sets
    KERAS_HOME under the data directory unless the environment has it), else Keras's
    default ``~/.keras/models``."""
    home = os.environ.get("KERAS_HOME") or str(Path.home() / ".keras")
    return Path(home) / "models"


def weights_path(name: str) -> Path:
    return weights_dir() / BACKBONE_INFO[name].weights_file


def weights_available(name: str) -> bool:
    """Are the ImageNet weights of backbone ``name`` in the Keras cache of this server?"""
    return weights_path(name).is_file()


def missing_weights_message(name: str) -> str:
    info = BACKBONE_INFO[name]
    return (
        f"The ImageNet weights of {info.title} are not on this server. Run `dlcore fetch {name}` "
        f"on a machine with internet, or copy {info.weights_file} into {weights_dir()}."
    )


def backbone_input_size(height: int, width: int) -> tuple[int, int]:
    """The image size the backbone sees: the images' own, enlarged to at least 32x32."""
    return max(height, MIN_SIDE), max(width, MIN_SIDE)


def backbone_output_shape(name: str, height: int, width: int) -> tuple[int, int, int]:
    """Its feature maps: both networks reduce the image 32 times (rounded up)."""
    size = backbone_input_size(height, width)
    return math.ceil(size[0] / 32), math.ceil(size[1] / 32), BACKBONE_INFO[name].channels


def backbone_macs(name: str, height: int, width: int) -> int:
    """About how many multiply-adds one image costs: the 224x224 figure scaled by area."""
    size = backbone_input_size(height, width)
    return round(BACKBONE_INFO[name].macs_224 * size[0] * size[1] / 224**2)


def make_backbone(name: str, height: int, width: int, pretrained: bool = True):
    """The keras.applications network for RGB images of this size, without its classifier,
    taking pixel values 0-255 (its preprocessing is inside). ``pretrained`` loads the ImageNet
    weights from the Keras cache (LayerLabError saying what to do when they are missing);
    otherwise its weights are random (tests, or a run that copies them from another run)."""
    import keras

    if name not in BACKBONE_INFO:
        raise LayerLabError(f"Backbone is {name!r}; choose one of {', '.join(BACKBONES)}.")
    shape = (*backbone_input_size(height, width), 3)
    if name == "mobilenet":
        network = keras.applications.MobileNetV3Small(
            input_shape=shape, include_top=False, weights=None, include_preprocessing=True
        )
    else:
        network = keras.applications.EfficientNetB0(
            input_shape=shape, include_top=False, weights=None
        )
    if pretrained:
        _load_imagenet_weights(network, name)
    return network


def _load_imagenet_weights(network, name: str) -> None:
    path = weights_path(name)
    if not path.is_file():
        raise LayerLabError(missing_weights_message(name))
    try:
        network.load_weights(str(path))
    except (OSError, ValueError, KeyError) as error:  # a truncated or foreign file
        raise LayerLabError(
            f"{path} could not be read as {BACKBONE_INFO[name].title}'s weights "
            f"({type(error).__name__}); delete it and run `dlcore fetch {name}` again."
        ) from None
    if name == "efficientnet":
        import keras
        import numpy as np

        norm = next(layer for layer in network.layers if layer.name.startswith("normalization"))
        variance = keras.ops.convert_to_numpy(norm.adapt_variance)
        norm.adapt_variance.assign(variance * np.asarray(_IMAGENET_STDDEV_RGB, variance.dtype))
        norm.finalize_state()  # the layer divides by the variance it computes here


def _download(name: str) -> None:
    """Let keras.applications download the ImageNet weights into its cache."""
    import keras

    maker = getattr(keras.applications, BACKBONE_INFO[name].title)
    maker(input_shape=(224, 224, 3), include_top=False, weights="imagenet")


def fetch_backbone(name: str) -> Path:
    """Download backbone ``name``'s ImageNet weights into the Keras cache (``dlcore fetch``);
    return the file. Offline, a LayerLabError says what to do instead."""
    if name not in BACKBONE_INFO:
        raise LayerLabError(f"No backbone named {name!r}; choose one of {', '.join(BACKBONES)}.")
    if weights_available(name):
        return weights_path(name)
    try:
        _download(name)
    except Exception as error:  # noqa: BLE001 - Keras's get_file raises a bare Exception offline
        info = BACKBONE_INFO[name]
        text = str(error)  # Keras: "URL fetch failure on <url>: None -- [Errno ...] ..."
        reason = "no connection" if "fetch failure" in text else f"{type(error).__name__}"
        raise LayerLabError(
            f"Could not download {info.title}'s weights from {info.url}{info.weights_file} "
            f"({reason}). Run `dlcore fetch {name}` on a machine with internet and copy "
            f"{info.weights_file} into {weights_dir()}."
        ) from None
    if not weights_available(name):
        raise LayerLabError(
            f"Keras downloaded the weights elsewhere than {weights_dir()}; set KERAS_HOME to the "
            "same folder for `dlcore fetch` and for the server."
        )
    return weights_path(name)


# From an earlier run ---------------------------------------------------------------------------


def reusable_shapes(model: ModelSpec, channels: int) -> dict[str, tuple]:
    """The layers a later run can take over, with the shapes of their weights: each conv
    layer's kernel (F, F, maps in, filters), each batch norm's filters, or the backbone."""
    if model.backbone:
        return {backbone_layer_name(model.backbone): ("backbone", model.backbone)}
    shapes: dict[str, tuple] = {}
    for number, block in enumerate(model.conv_blocks, start=1):
        for index in range(1, block.num_convs + 1):
            shapes[f"conv{number}_{index}"] = _kernel(block, channels)
            if block.batch_norm:
                shapes[f"bn{number}_{index}"] = (block.filters,)
            channels = block.filters
    return shapes


def _kernel(block: ConvBlock, channels: int) -> tuple:
    return (block.kernel_size, block.kernel_size, channels, block.filters)


def plan_reuse(
    source: ModelSpec, source_channels: int, target: ModelSpec, channels: int, run_id: str
) -> list[str]:
    """The names of the layers the target network takes from the source run, checked by
    shape before anything is built. Raises LayerLabError saying what to change."""
    old, new = reusable_shapes(source, source_channels), reusable_shapes(target, channels)
    if not old:
        raise LayerLabError(
            f"Run {run_id} has no convolution layers or backbone to reuse (a dense-only "
            "network); start from a run with conv blocks."
        )
    common = [name for name in new if name in old]
    if not common:
        what = f"the {source.backbone} backbone" if source.backbone else "conv blocks"
        raise LayerLabError(
            f"Run {run_id} has {what}, which this network does not have; use its network "
            "(choosing the run on the Model page copies it) or start from another run."
        )
    for name in common:
        if old[name] != new[name]:
            raise LayerLabError(_mismatch(name, old[name], new[name], run_id))
    return common


def _mismatch(name: str, old: tuple, new: tuple, run_id: str) -> str:
    if name == "conv1_1" and old[2] != new[2]:
        kinds = {1: "grayscale", 3: "colour"}
        source, here = (f"{n}-channel ({kinds.get(n, 'other')})" for n in (old[2], new[2]))
        return (
            f"Run {run_id} learned from {source} images and this dataset's images are {here}: "
            "its first filters cannot read them. Start from a run on images with the same "
            "channels, or import this dataset again in the other colour mode."
        )
    if len(old) == 4:
        return (
            f"{name} has {old[3]} filters of {old[0]}x{old[1]} on {old[2]} maps in run {run_id}, "
            f"here {new[3]} of {new[0]}x{new[1]} on {new[2]}: give its block the same filters and "
            "kernel size as that run (choosing the run on the Model page copies its network), or "
            "use fewer conv blocks."
        )
    return (
        f"{name} differs from run {run_id} ({old} there, {new} here); use that run's conv blocks "
        "(choosing the run on the Model page copies its network)."
    )


def source_channels(run_id: str) -> int:
    """The channels of the images the run trained on (1 grayscale, 3 colour)."""
    from dlcore.runs import read_dataset_info

    shape = read_dataset_info(run_id).get("image_shape")
    if not (isinstance(shape, list) and len(shape) == 3 and isinstance(shape[2], int)):
        raise LayerLabError(
            f"Run {run_id} has no record of the images it trained on (it never started); "
            "start from a finished run."
        )
    return shape[2]


def check_source(experiment: Experiment, image_shape: tuple, instructor: bool = False) -> list[str]:
    """Refuse a run to start from that its owner may not use (another attendee's run on their
    own images), that has no saved model, or whose layers do not fit this network; return the
    names of the layers that will be reused. Called when the job is submitted."""
    from dlcore import attendees
    from dlcore.run_outputs import model_file
    from dlcore.runs import read_spec, read_status
    from dlcore.usage import may_see_run

    run_id = experiment.training.from_run
    status = read_status(run_id)  # RunNotFound says the id is unknown
    if not may_see_run(status.to_dict(), experiment.owner, instructor):
        raise LayerLabError(
            f"Run {run_id} belongs to {attendees.owner_label(status.to_dict())} and was "
            "trained on their own images; start from one of your runs or a run on a shared "
            "dataset."
        )
    model_file(run_id)  # says so when the run has not saved a model yet
    source = read_spec(run_id).model
    return plan_reuse(
        source, source_channels(run_id), experiment.model, int(image_shape[2]), run_id
    )


def reuse_weights(model, run_id: str) -> list[str]:
    """Copy the reusable layers' weights of run ``run_id``'s saved model into ``model`` (a
    Keras model built from a spec); return the names of the layers copied."""
    from dlcore.run_outputs import read_model

    return copy_layers(read_model(run_id), model, run_id)


def copy_layers(source, model, run_id: str) -> list[str]:
    """Copy the conv, batch-norm and backbone layers of Keras model ``source`` (run
    ``run_id``'s) into ``model`` where it has layers of the same names; their names."""
    import keras

    targets = {layer.name: layer for layer in model.layers}
    backbones = set(_LAYER_NAMES.values())
    copied = []
    for layer in source.layers:
        if not (_REUSABLE.fullmatch(layer.name) or layer.name in backbones):
            continue
        if layer.name not in targets:
            continue
        weights, target = layer.get_weights(), targets[layer.name]
        old = [w.shape for w in weights]
        new = [tuple(w.shape) for w in target.weights]
        if old != new:
            raise LayerLabError(_mismatch(layer.name, _first(old), _first(new), run_id))
        target.set_weights(weights)
        for inner in (target, *getattr(target, "layers", ())):
            if isinstance(inner, keras.layers.Normalization):  # EfficientNet's: set_weights
                inner.finalize_state()  # leaves the mean and variance it divides by behind
        copied.append(layer.name)
    if not copied:
        raise LayerLabError(
            f"Run {run_id}'s saved model has no layer this network can take over; use its "
            "network (choosing the run on the Model page copies it) or start from another run."
        )
    return copied


def _first(shapes: list) -> tuple:
    return tuple(shapes[0]) if shapes else ()


def fit_in_phases(model, reused: list[str], training: TrainSpec, steps_per_epoch: int,
                  callbacks: list, **fit_args) -> None:  # fmt: skip
    """Compile and train ``model`` for ``training.epochs``: the ``reused`` layers frozen for
    the first ``training.freeze_epochs`` epochs (all of them if that is more), then every
    layer. Each phase is compiled anew, and the optimizer's step count continues, so a
    learning-rate schedule runs on as if it were one ``fit()``. Early stopping in the first
    phase ends the run."""
    from dlcore.model import compile_model

    frozen = min(training.freeze_epochs, training.epochs) if reused else 0
    for start, end, trainable in ((0, frozen, False), (frozen, training.epochs, True)):
        if end <= start:
            continue
        for name in reused:
            model.get_layer(name).trainable = trainable
        compile_model(model, training, steps_per_epoch)
        model.optimizer.iterations.assign(start * steps_per_epoch)
        model.fit(initial_epoch=start, epochs=end, callbacks=callbacks, **fit_args)
        if model.stop_training:  # early stopping, not the end of the phase
            break
