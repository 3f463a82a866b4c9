"""The inside of a network: filters, feature maps, Grad-CAM and saliency, checked against
oracles (known weights, the layer table, where a square sits, a linear model's gradient)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from dlcore import LayerLabError
from dlcore.backend import gradients
from dlcore.cli import main
from dlcore.model.build import build_model, compile_model
from dlcore.model.layer_table import layer_table
from dlcore.results.explain import filter_history, filter_images, heat_map, inside
from dlcore.results.explain_images import overlay
from dlcore.spec import ConvBlock, ModelSpec, TrainSpec, preset_model
from dlcore.train.run_outputs import read_model
from dlcore.train.runs import FILTERS, run_path

SIDE, SQUARE = 24, 6


def test_gradients_of_a_known_function():
    x = np.array([[-1.5, 0.0, 2.0]], np.float32)
    grad = gradients(lambda t: t * t * t, x)  # d/dx x^3 = 3x^2
    np.testing.assert_allclose(grad, 3 * x**2, rtol=1e-6)


def test_a_first_layer_filter_with_known_weights_renders_to_known_pixels():
    spec = ModelSpec(preset="custom", conv_blocks=(ConvBlock(filters=2),))
    model = build_model(spec, (8, 8, 1), 2)
    kernel = np.zeros((3, 3, 1, 2), np.float32)
    kernel[..., 0, 0] = np.arange(9).reshape(3, 3) - 4.0  # a ramp, -4 to 4
    kernel[..., 0, 1] = 0.7  # flat: no contrast, shown mid grey
    conv = model.get_layer("conv1_1")
    conv.kernel.assign(kernel)
    images = filter_images(model)
    assert images.dtype == np.uint8 and images.shape == (2, 3, 3)
    ramp = [[0, 32, 64], [96, 128, 159], [191, 223, 255]]  # round(i * 255 / 8)
    np.testing.assert_array_equal(images[0], ramp)
    np.testing.assert_array_equal(images[1], np.full((3, 3), 128))


def test_a_feature_map_that_found_nothing_is_black_and_a_flat_one_grey():
    from dlcore.results.explain_images import feature_image

    maps = np.stack([np.zeros((2, 2)), np.full((2, 2), 1.5), [[0.0, 1.0], [2.0, 4.0]]])
    images = feature_image(maps)
    np.testing.assert_array_equal(images[0], np.zeros((2, 2)))  # a dead ReLU: nothing found
    np.testing.assert_array_equal(images[1], np.full((2, 2), 128))  # flat, not zero
    np.testing.assert_array_equal(images[2], [[0, 64], [128, 255]])


def test_colour_filters_and_a_deeper_layer_as_a_grid_per_input_channel():
    spec = ModelSpec(preset="custom", conv_blocks=(ConvBlock(filters=2), ConvBlock(filters=4)))
    model = build_model(spec, (16, 16, 3), 2)
    kernel = np.full((3, 3, 3, 2), -1.0, np.float32)
    kernel[..., 0, 0] = 1.0  # filter 0 looks for red
    kernel[1, 1, :, 1] = 1.0  # filter 1: a white dot in the middle
    model.get_layer("conv1_1").kernel.assign(kernel)
    colour = filter_images(model)
    assert colour.shape == (2, 3, 3, 3)
    assert (colour[0] == [255, 0, 0]).all()
    assert (colour[1][1, 1] == 255).all() and colour[1].sum() == 3 * 255
    deeper = np.zeros((3, 3, 2, 4), np.float32)
    deeper[0, 0, 1, 3] = 2.0  # filter 3 weighs input channel 1's top-left corner
    model.get_layer("conv2_1").kernel.assign(deeper)
    grid = filter_images(model, "conv2_1")
    assert grid.shape == (4, 2, 3, 3)  # filters, input channels, k, k
    assert grid[3, 1, 0, 0] == 255 and grid[3].sum() == 255
    with pytest.raises(LayerLabError, match="not a convolution layer"):
        filter_images(model, "pool1")


def test_feature_maps_follow_the_layer_table(keras):
    for name, shape in (("lenet", (28, 28, 1)), ("vgg-bn", (32, 32, 3))):
        spec = preset_model(name)
        model = build_model(spec, shape, 10)
        image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
        found = inside(model, image)
        table = {row.name: row.output_shape for row in layer_table(spec, shape, 10)}
        maps = [view for view in found.layers if view.kind in ("conv", "pool")]
        expected = [n for n in table if n.startswith(("conv", "pool"))]
        assert [view.name for view in maps] == expected
        for view in found.layers:
            assert view.shape == table[view.name], view.name
            if view.kind in ("conv", "pool"):
                height, width, channels = view.shape
                assert view.values.shape == (channels, height, width)
            else:
                assert view.values.shape == view.shape
        assert found.layers[-1].kind == "output" and found.layers[-2].kind == "dense"
        probabilities = keras.ops.convert_to_numpy(model(image[None].astype("float32")))[0]
        np.testing.assert_allclose(found.probabilities, probabilities, rtol=1e-5, atol=1e-6)
        assert found.predicted == int(np.argmax(probabilities))
        assert found.heat.shape == shape[:2] and found.heat_method == "grad-cam"


def test_a_pooling_map_is_the_max_of_its_conv_map():
    spec = preset_model("lenet")
    model = build_model(spec, (28, 28, 1), 10)
    image = np.random.default_rng(1).integers(0, 256, (28, 28, 1), dtype=np.uint8)
    views = {view.name: view.values for view in inside(model, image).layers}
    conv = views["conv1_1"]  # (20, 24, 24)
    pooled = conv.reshape(20, 12, 2, 12, 2).max(axis=(2, 4))
    np.testing.assert_allclose(views["pool1"], pooled, rtol=1e-6)


def _squares(count: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dim noise with one bright square; the class is the quadrant it sits in."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, count).astype(np.int32)
    images = rng.integers(0, 60, (count, SIDE, SIDE, 1)).astype(np.uint8)
    corners = np.empty((count, 2), int)
    half = SIDE // 2
    for index, label in enumerate(labels):
        top = label // 2 * half + rng.integers(0, half - SQUARE + 1)
        left = label % 2 * half + rng.integers(0, half - SQUARE + 1)
        images[index, top : top + SQUARE, left : left + SQUARE] = rng.integers(200, 256)
        corners[index] = top, left
    return images, labels, corners


def test_grad_cam_peaks_inside_the_square_that_decides_the_class(keras):
    keras.utils.set_random_seed(0)
    x_train, y_train, _ = _squares(800, seed=0)
    x_test, y_test, corners = _squares(60, seed=1)
    spec = ModelSpec(preset="custom", conv_blocks=(ConvBlock(8), ConvBlock(16)))
    model = compile_model(build_model(spec, (SIDE, SIDE, 1), 4), TrainSpec(batch_size=32))
    model.fit(x_train, y_train, epochs=3, batch_size=32, verbose=0)
    inside_square = 0
    for image, (top, left) in zip(x_test, corners, strict=True):
        heat, method = heat_map(model, image)
        assert method == "grad-cam" and heat.shape == (SIDE, SIDE)
        assert heat.dtype == np.float32 and 0.0 <= heat.min() and heat.max() == 1.0
        row, column = np.unravel_index(np.argmax(heat), heat.shape)
        inside_square += top <= row < top + SQUARE and left <= column < left + SQUARE
    assert inside_square >= 0.9 * len(x_test), inside_square
    picture = overlay(x_test[0], heat_map(model, x_test[0])[0])
    assert picture.shape == (SIDE, SIDE, 3) and picture.dtype == np.uint8


def test_saliency_without_convolutions_is_the_score_gradient(keras):
    # Flatten then softmax: the class-c score is W[:, c] . x / 255 + b, so its gradient per
    # pixel is W[:, c] / 255 and the saliency map is |W[:, c]| scaled to a maximum of 1.
    model = build_model(ModelSpec(preset="mlp"), (6, 5, 1), 3)
    image = np.random.default_rng(2).integers(0, 256, (6, 5, 1), dtype=np.uint8)
    heat, method = heat_map(model, image, class_index=2)
    weights = np.abs(keras.ops.convert_to_numpy(model.get_layer("predictions").kernel)[:, 2])
    assert method == "saliency"
    np.testing.assert_allclose(heat, (weights / weights.max()).reshape(6, 5), atol=1e-5)
    mlp = build_model(preset_model("mlp"), (28, 28, 1), 10)
    found = inside(mlp, np.zeros((28, 28, 1), np.uint8) + 100)
    assert found.heat_method == "saliency" and found.heat.shape == (28, 28)
    assert [view.kind for view in found.layers] == ["dense", "dense", "output"]
    with pytest.raises(LayerLabError, match="no convolution layer"):
        filter_images(mlp)
    with pytest.raises(LayerLabError, match="takes 28x28x1 images"):
        inside(mlp, np.zeros((32, 32, 3), np.uint8))


def test_overlay_blends_the_heat_colours_over_the_image():
    image = np.full((2, 2), 200, np.uint8)
    heat = np.array([[0.0, 1.0], [0.5, 0.0]], np.float32)
    picture = overlay(image, heat, alpha=0.5)
    np.testing.assert_array_equal(picture[0, 0], [100, 100, 164])  # dark blue at 0
    np.testing.assert_array_equal(picture[0, 1], [164, 100, 100])  # dark red at 1
    np.testing.assert_array_equal(overlay(image, heat, alpha=0.0)[1, 0], [200, 200, 200])
    with pytest.raises(LayerLabError, match="heat map"):
        overlay(image, np.zeros((3, 3)))


def test_filters_saved_after_each_epoch_end_with_the_final_model(run_id, tmp_path):
    history = filter_history(run_id)  # the tiny run: 4 filters of 3x3, one epoch
    assert history.dtype == np.uint8 and history.shape == (2, 4, 3, 3)
    np.testing.assert_array_equal(history[-1], filter_images(read_model(run_id)))
    assert not np.array_equal(history[0], history[-1])  # training changed them


def test_a_run_without_saved_filters_says_so(run_id, monkeypatch, tmp_path):
    from pages_support import copy_of_tiny_run

    monkeypatch.setenv("LAYERLAB_HOME", str(tmp_path / "own"))
    copy = copy_of_tiny_run(tmp_path)
    (copy / FILTERS).unlink()
    with pytest.raises(LayerLabError, match="saved no filters"):
        filter_history(copy.name)
    (copy / FILTERS).write_bytes(b"PK\x03\x04 cut")
    with pytest.raises(LayerLabError, match="damaged"):
        filter_history(copy.name)


def test_cli_explain_writes_pngs_and_json(run_id, tmp_path, capsys):
    image = tmp_path / "digit.png"
    Image.fromarray(np.eye(8, dtype=np.uint8) * 255).save(image)
    out = tmp_path / "out"
    assert main(["explain", run_id, str(image), "--out", str(out), "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["label"] in [str(n) for n in range(10)] and 0 < found["probability"] <= 1
    row, column = found["heat_peak"]
    assert 0 <= row < 8 and 0 <= column < 8 and found["heat_method"] == "grad-cam"
    names = sorted(path.split("/")[-1] for path in found["files"])
    expected = ["features_conv1_1.png", "features_pool1.png", "filters_conv1_1.png"]
    assert names == sorted([*expected, "heat.png", "input.png"])
    assert all((out / name).is_file() for name in names)
    heat = np.asarray(Image.open(out / "heat.png"))
    assert heat.shape == (224, 224, 3)  # 8x8 enlarged 28 times
    assert main(["explain", run_id, str(image), "--out", str(out)]) == 0
    assert "peak at row" in capsys.readouterr().out
    shutil.rmtree(out)
    assert main(["explain", run_id, str(tmp_path / "missing.png"), "--out", str(out)]) == 2
    assert not out.exists()
    assert run_path(run_id).is_dir()
