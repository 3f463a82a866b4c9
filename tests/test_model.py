"""The layer table against the lecture's arithmetic and against Keras; the built model's
preprocessing, augmentation, training and saving."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from dlcore import LayerLabError
from dlcore.limits import Limits
from dlcore.model.build import build_model, compile_model
from dlcore.model.layer_table import (
    ShapeError,
    check_model_size,
    conv_output_size,
    estimate_training_memory_mb,
    layer_table,
    model_diagram,
    table_totals,
)
from dlcore.spec import (
    BACKBONES,  # their tables are checked against Keras in test_transfer.py
    PRESETS,
    AugmentSpec,
    ConvBlock,
    DenseLayer,
    ModelSpec,
    TrainSpec,
    preset_model,
)

keras = pytest.importorskip("keras")

LECTURE = ModelSpec(
    preset="custom",
    conv_blocks=(
        ConvBlock(filters=10, kernel_size=5, padding="valid", pooling="max", pool_size=2),
    ),
    dense_layers=(DenseLayer(200),),
)
AUGMENT = AugmentSpec(flip="both", rotation=0.1, shift=0.1, zoom=0.1, contrast=0.2, noise=0.05)
CUSTOM = {
    "stride2-global-avg": ModelSpec(
        preset="custom",
        conv_blocks=(ConvBlock(8, strides=2, pooling="none"), ConvBlock(16, kernel_size=5)),
        head="global_average",
        dense_layers=(DenseLayer(12, dropout_rate=0.3),),
    ),
    "global-max-avgpool-bn": ModelSpec(
        preset="custom",
        conv_blocks=(
            ConvBlock(6, num_convs=3, batch_norm=True, pooling="average", pool_size=3),
            ConvBlock(10, kernel_size=2, padding="valid", dropout_rate=0.25, activation="tanh"),
        ),
        head="global_max",
    ),
    "valid-stride-even-kernel": ModelSpec(
        preset="custom",
        conv_blocks=(ConvBlock(4, kernel_size=4, strides=3, padding="valid", pool_size=1),),
        dense_layers=(DenseLayer(7, activation="elu"), DenseLayer(5, activation="sigmoid")),
    ),
}


def _separable_images(count: int = 64, size: int = 8, seed: int = 0):
    """Class 0 is bright on the left half, class 1 on the right half, plus noise; uint8."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 2
    images = rng.integers(0, 60, size=(count, size, size, 1))
    for image, label in zip(images, labels, strict=True):
        half = slice(0, size // 2) if label == 0 else slice(size // 2, size)
        image[:, half] += 180
    return images.astype("uint8"), labels


def test_lecture_numbers():
    rows = {row.name: row for row in layer_table(LECTURE, (32, 32, 1), 10)}
    assert rows["conv1_1"].output_shape == (28, 28, 10)
    assert rows["conv1_1"].params == 260
    assert rows["conv1_1"].connections == 203_840
    assert rows["conv1_1"].kind == "Conv2D 5x5 relu"
    assert rows["pool1"].output_shape == (14, 14, 10)
    assert (rows["pool1"].params, rows["pool1"].connections) == (0, 0)
    assert rows["flatten"].output_shape == (1960,)
    assert rows["dense1"].params == rows["dense1"].connections == 392_200
    assert rows["predictions"].output_shape == (10,)


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "padding", "expected"),
    [
        (32, 5, 1, "valid", 28),
        (32, 5, 1, "same", 32),
        (32, 5, 1, "full", 36),
        (7, 3, 2, "same", 4),
        (7, 3, 2, "valid", 3),
        (28, 2, 2, "valid", 14),
        (2, 5, 1, "valid", -2),
    ],
)
def test_conv_output_size(size, kernel, stride, padding, expected):
    assert conv_output_size(size, kernel, stride, padding) == expected


def test_conv_output_size_rejects_unknown_padding():
    with pytest.raises(LayerLabError, match="causal"):
        conv_output_size(8, 3, 1, "causal")


def test_table_rows_for_augmentation_and_batch_norm():
    spec = ModelSpec(preset="custom", conv_blocks=(ConvBlock(8, num_convs=2, batch_norm=True),))
    rows = layer_table(spec, (16, 16, 3), 4, AUGMENT)
    names = [row.name for row in rows]
    assert names[:3] == ["input", "rescaling", "augmentation"]
    assert names[3:8] == ["conv1_1", "bn1_1", "conv1_2", "bn1_2", "pool1"]
    augmentation = rows[2]
    assert augmentation.output_shape == (16, 16, 3) and augmentation.params == 0
    assert "flip" in augmentation.kind and "noise" in augmentation.kind
    assert rows[4].params == 4 * 8 and rows[4].connections == 16 * 16 * 8
    assert "augmentation" not in [row.name for row in layer_table(spec, (16, 16, 3), 4)]


def test_layer_table_does_not_import_keras():
    code = (
        "import sys; from dlcore.model.layer_table import layer_table, model_diagram; "
        "from dlcore.spec import preset_model; "
        "layer_table(preset_model('vgg-bn'), (32, 32, 3), 10); "
        "model_diagram(preset_model('lenet'), (28, 28, 1), 10); "
        "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _check_against_keras(spec, input_shape, augment=AugmentSpec()):  # noqa: B008
    rows = layer_table(spec, input_shape, 5, augment)
    model = build_model(spec, input_shape, 5, augment)
    assert table_totals(rows)["params"] == model.count_params()
    for row in rows:
        if row.name in ("input", "augmentation"):
            continue
        assert tuple(model.get_layer(row.name).output.shape[1:]) == row.output_shape, row.name


@pytest.mark.parametrize("input_shape", [(28, 28, 1), (32, 32, 3)])
@pytest.mark.parametrize("preset", [name for name in PRESETS if name not in BACKBONES])
def test_totals_equal_keras_for_presets(preset, input_shape):
    _check_against_keras(preset_model(preset), input_shape)


@pytest.mark.parametrize("name", sorted(CUSTOM))
def test_totals_equal_keras_for_custom_specs(name):
    _check_against_keras(CUSTOM[name], (30, 22, 3), AUGMENT)


def test_too_many_pools_raise_shape_error_naming_the_layer():
    spec = ModelSpec(preset="custom", conv_blocks=(ConvBlock(4),) * 4)
    with pytest.raises(ShapeError, match="pool4: a 2x2 pool does not fit the 1x1 input"):
        layer_table(spec, (8, 8, 1), 10)
    with pytest.raises(ShapeError, match="pool4"):
        build_model(spec, (8, 8, 1), 10)


def test_kernel_larger_than_input_raises_shape_error():
    block = ConvBlock(4, kernel_size=5, padding="valid")
    spec = ModelSpec(preset="custom", conv_blocks=(block,) * 3)
    with pytest.raises(ShapeError, match="conv3_1: a 5x5 kernel does not fit the 1x1 input.*same"):
        layer_table(spec, (16, 16, 1), 10)


@pytest.mark.parametrize("bad", [(28, 28), (28, 0, 1), (28.0, 28, 1)])
def test_bad_input_shape_is_refused(bad):
    with pytest.raises(LayerLabError, match="height, width, channels"):
        layer_table(preset_model("mlp"), bad, 10)
    with pytest.raises(LayerLabError, match="at least 2 classes"):
        layer_table(preset_model("mlp"), (28, 28, 1), 1)


def test_numpy_integers_are_accepted():
    shape = np.zeros((1, 12, 10, 3)).shape[1:]
    model = build_model(preset_model("custom"), tuple(np.int64(n) for n in shape), np.int64(4))
    assert model.output.shape[-1] == 4
    assert layer_table(preset_model("mlp"), shape, 4)[0].output_shape == (12, 10, 3)


def test_check_model_size():
    rows = layer_table(preset_model("vgg-bn"), (32, 32, 3), 10)
    params = table_totals(rows)["params"]
    check_model_size(rows, Limits(max_model_params=params))
    with pytest.raises(LayerLabError, match=f"{params:,} parameters.*1,000.*global average"):
        check_model_size(rows, Limits(max_model_params=1000))
    small, large = (estimate_training_memory_mb(rows, n) for n in (1, 512))
    assert 0 < small < large
    with pytest.raises(LayerLabError, match="batch size 512"):
        check_model_size(rows, Limits(), batch_size=512, max_memory_mb=small * 2)


def test_model_diagram_is_left_to_right_dot():
    dot = model_diagram(LECTURE, (32, 32, 1), 10, AugmentSpec(flip="horizontal"))
    assert dot.startswith("digraph") and "rankdir=LR" in dot
    assert "input -> prep -> block1 -> head -> dense1 -> output;" in dot
    assert "14 x 14 x 10" in dot and "Augmentation (flip)" in dot
    assert dot.count("[label=") == 6


def test_compile_model_uses_the_spec():
    model = build_model(preset_model("mlp"), (8, 8, 1), 3)
    compile_model(model, TrainSpec(optimizer="sgd", learning_rate=0.05))
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    assert model.optimizer.momentum == pytest.approx(0.9)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.05)
    assert model.loss == "sparse_categorical_crossentropy"
    for name, kind in [("adam", "Adam"), ("rmsprop", "RMSprop"), ("adamw", "AdamW")]:
        compile_model(model, TrainSpec(optimizer=name))
        assert type(model.optimizer).__name__ == kind


@pytest.mark.parametrize("channels", [1, 3])
def test_augmentation_only_in_training(channels):
    keras.utils.set_random_seed(0)
    model = build_model(preset_model("custom"), (16, 16, channels), 3, AUGMENT)
    images = np.random.default_rng(0).integers(0, 256, (4, 16, 16, channels)).astype("uint8")
    first, second = (np.asarray(model(images, training=False)) for _ in range(2))
    np.testing.assert_array_equal(first, second)
    augmented = keras.Model(model.input, model.get_layer("aug_noise").output)
    np.testing.assert_allclose(augmented(images, training=False), images / 255, atol=1e-6)
    changed = np.asarray(augmented(images, training=True))
    assert changed.shape == images.shape and not np.allclose(changed, images / 255)


def test_uint8_input_gives_float32_predictions():
    model = build_model(preset_model("lenet"), (28, 28, 1), 10)
    images = np.random.default_rng(1).integers(0, 256, (3, 28, 28, 1)).astype("uint8")
    from_uint8 = model.predict(images, verbose=0)
    np.testing.assert_array_equal(from_uint8, model.predict(images.astype("float32"), verbose=0))
    np.testing.assert_allclose(from_uint8.sum(axis=1), 1.0, rtol=1e-5)


def test_two_epochs_decrease_the_loss():
    keras.utils.set_random_seed(0)
    images, labels = _separable_images()
    spec = ModelSpec(preset="custom", conv_blocks=(ConvBlock(4),), dense_layers=(DenseLayer(8),))
    model = compile_model(build_model(spec, (8, 8, 1), 2), TrainSpec(learning_rate=0.01))
    history = model.fit(images, labels, epochs=2, batch_size=16, verbose=0)
    assert history.history["loss"][1] < history.history["loss"][0]


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_predictions_equal_after_save_and_load(tmp_path):
    keras.utils.set_random_seed(0)
    model = compile_model(build_model(preset_model("vgg-bn"), (16, 16, 1), 4, AUGMENT), TrainSpec())
    images = np.random.default_rng(2).integers(0, 256, (8, 16, 16, 1)).astype("uint8")
    model.fit(images, np.arange(8) % 4, epochs=1, batch_size=4, verbose=0)  # augments 1 channel
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(
        model.predict(images, verbose=0), loaded.predict(images, verbose=0)
    )
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
