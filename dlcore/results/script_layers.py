"""The network part of a run's training script (``dlcore.results.scriptgen``): one line per layer.

It walks the spec the way ``dlcore.model.build.build_model`` does and writes each layer with the
same name, so the script's ``model.summary()`` matches the run's layer table. Each lesson concept
gets a comment where it first appears. Pure text: nothing here imports Keras.
"""

from __future__ import annotations

from dlcore.model.build import FLIP_MODES
from dlcore.model.layer_table import augment_on
from dlcore.spec import AUGMENTATIONS, BATCH_NORM_MOMENTUM, AugmentSpec, ConvBlock, Experiment

_AUGMENT_LINES = {
    "flip": 'layers.RandomFlip("{flip}", name="aug_flip")',
    "rotation": 'layers.RandomRotation({rotation!r}, name="aug_rotation")',
    "shift": 'layers.RandomTranslation({shift!r}, {shift!r}, name="aug_shift")',
    "zoom": 'layers.RandomZoom({zoom!r}, name="aug_zoom")',
    "contrast": 'layers.RandomContrast({contrast!r}, value_range=(0, 1), name="aug_contrast")',
    "noise": 'layers.GaussianNoise({noise!r}, name="aug_noise")',
}


def network_lines(
    experiment: Experiment, input_shape: tuple[int, int, int], num_classes: int
) -> list[str]:
    """The script's lines from ``keras.Input`` to ``model.summary()`` for images of
    ``input_shape`` in ``num_classes`` classes."""
    spec = experiment.model
    height, width, channels = (int(n) for n in input_shape)
    lines = [
        "# The network, layer by layer (the names match LayerLab's layer table).",
        f'inputs = keras.Input(shape=({height}, {width}, {channels}), dtype="float32", '
        'name="image")',
        "# Pixel values 0-255 become 0-1: small inputs keep the first weighted sums small.",
        'x = layers.Rescaling(1.0 / 255, name="rescaling")(inputs)',
    ]
    lines += _augment_lines(experiment.augment)
    said: set[str] = set()
    for number, block in enumerate(spec.conv_blocks, start=1):
        lines += _block_lines(number, block, said)
    if spec.head == "flatten":
        lines += [
            "# Flatten: the feature maps (or the image) become one long vector of numbers.",
            'x = layers.Flatten(name="flatten")(x)',
        ]
    else:
        kind = "GlobalAveragePooling2D" if spec.head == "global_average" else "GlobalMaxPooling2D"
        how = "average" if spec.head == "global_average" else "maximum"
        lines += [
            f"# Global pooling: each feature map becomes one number, its {how}: far fewer",
            "# weights in the next layer than flatten gives.",
            f'x = layers.{kind}(name="global_pool")(x)',
        ]
    for number, dense in enumerate(spec.dense_layers, start=1):
        if "dense" not in said:
            said.add("dense")
            lines.append("# Fully connected (dense) layer: every unit sees every input number.")
        lines += _activation_lines(dense.activation, said)
        lines.append(
            f'x = layers.Dense({dense.units}, activation="{dense.activation}", '
            f'name="dense{number}")(x)'
        )
        if dense.dropout_rate > 0:
            lines += _dropout_lines(f"dense_dropout{number}", dense.dropout_rate, said)
    lines += [
        "# Softmax output: one probability per class, all adding up to 1.",
        f'outputs = layers.Dense({int(num_classes)}, activation="softmax", name="predictions")(x)',
        f'model = keras.Model(inputs, outputs, name="{spec.preset}")',
        "model.summary()",
    ]
    return lines


def _augment_lines(augment: AugmentSpec) -> list[str]:
    if not augment.enabled:
        return []
    lines = [
        "# Data augmentation: random changes to every training image, new ones each epoch, so",
        "# the network sees more variety. These layers do nothing at validation and prediction.",
    ]
    values = {name: getattr(augment, name) for name in AUGMENTATIONS}
    values["flip"] = FLIP_MODES.get(augment.flip, "")
    for name in AUGMENTATIONS:
        if augment_on(augment, name):
            lines.append(f"x = {_AUGMENT_LINES[name].format(**values)}(x)")
    return lines


def _block_lines(number: int, block: ConvBlock, said: set[str]) -> list[str]:
    lines = [f"# Conv block {number}."]
    for index in range(1, block.num_convs + 1):
        if "conv" not in said:
            said.add("conv")
            lines += [
                "# Convolution: each filter (a small grid of weights) slides over the image and",
                "# gives one feature map that is high where its feature (an edge, a blob) is.",
                "# The same weights are used at every position (weight sharing), so a conv layer",
                "# needs far fewer weights than a dense layer on the same image.",
            ]
        lines += _activation_lines(block.activation, said)
        lines.append(
            f"x = layers.Conv2D({block.filters}, {block.kernel_size}, strides={block.strides}, "
            f'padding="{block.padding}", activation="{block.activation}", '
            f'name="conv{number}_{index}")(x)'
        )
        if block.batch_norm:
            if "bn" not in said:
                said.add("bn")
                lines += [
                    "# Batch normalization: rescales each feature map over the mini-batch,",
                    "# which keeps training stable and lets it learn faster.",
                ]
            lines.append(
                f"x = layers.BatchNormalization(momentum={BATCH_NORM_MOMENTUM}, "
                f'name="bn{number}_{index}")(x)'
            )
    if block.pooling != "none":
        kind = "MaxPooling2D" if block.pooling == "max" else "AveragePooling2D"
        if "pool" not in said:
            said.add("pool")
            how = "largest value" if block.pooling == "max" else "average"
            lines += [
                f"# Pooling: keeps the {how} of each {block.pool_size}x{block.pool_size} window,",
                "# so the maps shrink and small shifts of a feature matter less.",
            ]
        lines.append(f'x = layers.{kind}({block.pool_size}, name="pool{number}")(x)')
    if block.dropout_rate > 0:
        lines += _dropout_lines(f"dropout{number}", block.dropout_rate, said)
    return lines


def _dropout_lines(name: str, rate: float, said: set[str]) -> list[str]:
    lines = []
    if "dropout" not in said:
        said.add("dropout")
        lines += [
            "# Dropout: while training, a random share of the values is set to 0, so the",
            "# network cannot rely on any single one: a remedy for overfitting.",
        ]
    lines.append(f'x = layers.Dropout({float(rate)!r}, name="{name}")(x)')
    return lines


_ACTIVATION_NOTES = {
    "relu": "ReLU activation: max(0, x), keeps the positive responses and sets the rest to 0.",
    "tanh": "tanh activation: squashes each value into -1..1.",
    "sigmoid": "sigmoid activation: squashes each value into 0..1.",
    "elu": "ELU activation: like ReLU, but smooth and slightly negative below 0.",
}


def _activation_lines(activation: str, said: set[str]) -> list[str]:
    if activation in said:
        return []
    said.add(activation)
    return [f"# {_ACTIVATION_NOTES[activation]}"]
