"""The Keras model of a ModelSpec, and how it is compiled.

``build_model`` walks the spec as ``dlcore.model.layer_table.layer_table`` does (the table the Model
page shows, without Keras) and gives its layers the same names, so each row of the table matches
a layer of the model and the parameter totals equal ``model.count_params()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dlcore import LayerLabError
from dlcore.model.backbones import backbone_input_size
from dlcore.model.layer_table import HEAD_KINDS, LayerRow, Shape, augment_on, layer_table
from dlcore.spec import (
    AUGMENTATIONS,
    BATCH_NORM_MOMENTUM,
    AugmentSpec,
    ConvBlock,
    ModelSpec,
    TrainSpec,
)

if TYPE_CHECKING:
    import keras

# RandomFlip's modes for AugmentSpec.flip
FLIP_MODES = {
    "horizontal": "horizontal",
    "vertical": "vertical",
    "both": "horizontal_and_vertical",
}


def build_model(
    spec: ModelSpec,
    input_shape: Shape,
    num_classes: int,
    augment: AugmentSpec = AugmentSpec(),  # noqa: B008 - frozen dataclass, safe as default
    pretrained: bool = True,
) -> keras.Model:
    """The Keras model of ``spec`` (in dlcore, "spec" names a ModelSpec and "model" a
    keras.Model). It takes float32 images of pixel values 0-255 (uint8 batches are accepted as
    they are), rescales them, augments them in training only, and
    outputs class probabilities (float32 whatever Keras's dtype policy). A backbone gets its
    ImageNet weights from the Keras cache when ``pretrained`` (else random ones, for tests or
    to copy them from another run)."""
    import keras
    from keras import layers

    rows = layer_table(spec, input_shape, num_classes, augment)  # ShapeError before building
    inputs = keras.Input(shape=rows[0].output_shape, dtype="float32", name="image")
    if spec.backbone:
        x = _backbone(inputs, spec.backbone, rows, augment, pretrained)
    else:
        x = layers.Rescaling(1.0 / 255, name="rescaling")(inputs)
        for layer in _augmentation_layers(augment):
            x = layer(x)
    for number, block in enumerate(spec.conv_blocks, start=1):
        x = _conv_block(x, number, block)
    if spec.head == "flatten":
        x = layers.Flatten(name="flatten")(x)
    else:
        x = getattr(layers, HEAD_KINDS[spec.head])(name="global_pool")(x)
    for number, dense in enumerate(spec.dense_layers, start=1):
        x = layers.Dense(dense.units, activation=dense.activation, name=f"dense{number}")(x)
        if dense.dropout_rate > 0:
            x = layers.Dropout(dense.dropout_rate, name=f"dense_dropout{number}")(x)
    # float32 under a bfloat16 policy too: the softmax and the loss stay exact
    outputs = layers.Dense(
        int(num_classes), activation="softmax", dtype="float32", name="predictions"
    )(x)
    return keras.Model(inputs, outputs, name=spec.preset)


def _backbone(x, name: str, rows: list[LayerRow], augment: AugmentSpec, pretrained: bool):
    from keras import layers

    from dlcore.model.backbones import make_backbone

    height, width = rows[0].output_shape[:2]
    network = make_backbone(name, height, width, pretrained)  # before any layer: fails fast
    if rows[0].output_shape[2] == 1:
        x = layers.Concatenate(name="to_rgb")([x, x, x])
    if any(row.name == "resize" for row in rows):
        x = layers.Resizing(*backbone_input_size(height, width), name="resize")(x)
    if augment.enabled:  # the same layers on the same 0-1 scale as the other networks
        x = layers.Rescaling(1.0 / 255, name="aug_in")(x)
        for layer in _augmentation_layers(augment):
            x = layer(x)
        x = layers.Rescaling(255.0, name="aug_out")(x)
    # Batch norm inside stays in inference mode even when fine-tuned (the Keras guide's advice:
    # a small dataset's batches would wreck ImageNet's statistics).
    return network(x, training=False)


def _augmentation_layers(augment: AugmentSpec) -> list:
    from keras import layers

    # Augmentation runs after rescaling, so contrast clips to 0-1 and noise is on that scale.
    makers = {
        "flip": lambda: layers.RandomFlip(FLIP_MODES[augment.flip], name="aug_flip"),
        "rotation": lambda: layers.RandomRotation(augment.rotation, name="aug_rotation"),
        "shift": lambda: layers.RandomTranslation(augment.shift, augment.shift, name="aug_shift"),
        "zoom": lambda: layers.RandomZoom(augment.zoom, name="aug_zoom"),
        "contrast": lambda: layers.RandomContrast(
            augment.contrast, value_range=(0, 1), name="aug_contrast"
        ),
        "noise": lambda: layers.GaussianNoise(augment.noise, name="aug_noise"),
    }
    return [makers[name]() for name in AUGMENTATIONS if augment_on(augment, name)]


def _conv_block(x, number: int, block: ConvBlock):
    from keras import layers

    for index in range(1, block.num_convs + 1):
        # Activation inside the conv, then batch norm, as in the CIFAR-10 notebook.
        x = layers.Conv2D(
            block.filters,
            block.kernel_size,
            strides=block.strides,
            padding=block.padding,
            activation=block.activation,
            name=f"conv{number}_{index}",
        )(x)
        if block.batch_norm:
            norm = layers.BatchNormalization(
                momentum=BATCH_NORM_MOMENTUM, name=f"bn{number}_{index}"
            )
            x = norm(x)
    if block.pooling != "none":
        pool = layers.MaxPooling2D if block.pooling == "max" else layers.AveragePooling2D
        x = pool(block.pool_size, name=f"pool{number}")(x)
    if block.dropout_rate > 0:
        x = layers.Dropout(block.dropout_rate, name=f"dropout{number}")(x)
    return x


def compile_model(
    model: keras.Model, training: TrainSpec, steps_per_epoch: int | None = None
) -> keras.Model:
    """Compile with the spec's optimizer and learning rate (or schedule: it needs the number
    of batches per epoch), sparse categorical cross-entropy (labels are class indices) and
    accuracy. Returns the same model."""
    import keras

    from dlcore.model.schedules import keras_schedule

    if training.lr_schedule == "constant":
        rate = training.learning_rate
    elif steps_per_epoch is None:
        raise LayerLabError(
            f"The {training.lr_schedule!r} learning-rate schedule needs steps_per_epoch "
            "(batches per epoch); pass compile_model(model, training, steps_per_epoch)."
        )
    else:
        rate = keras_schedule(training, steps_per_epoch)
    optimizers = {
        "adam": lambda: keras.optimizers.Adam(learning_rate=rate),
        "rmsprop": lambda: keras.optimizers.RMSprop(learning_rate=rate),
        "sgd": lambda: keras.optimizers.SGD(learning_rate=rate, momentum=0.9),
        "adamw": lambda: keras.optimizers.AdamW(learning_rate=rate),
    }
    model.compile(
        optimizer=optimizers[training.optimizer](),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def conv_layer_names(model: keras.Model) -> list[str]:
    """The names of a Keras model's 2-D convolution layers, from input to output."""
    import keras

    return [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
