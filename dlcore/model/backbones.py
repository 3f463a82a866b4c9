"""The ImageNet backbones a network may start from: MobileNetV3Small and EfficientNetB0 from
``keras.applications``, with their own preprocessing inside the model, their weights read from
the Keras cache only (training never downloads; ``dlcore fetch mobilenet`` fills the cache on a
machine with internet), and their layer arithmetic for the layer table.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from dlcore import LayerLabError
from dlcore.spec import BACKBONES

MIN_SIDE = 32  # keras.applications networks refuse smaller images; smaller ones are enlarged


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
