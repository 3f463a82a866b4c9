"""What a trained network learned, for one image at a time: its filters, the feature maps of
every conv and pooling layer, the dense activations, and where it looked (Grad-CAM).

Everything here runs on a model already loaded (the page caches it per run) and on one
prepared image (uint8 (H, W, C), as the run's dataset holds it). Gradients go through
``dlcore.backend.gradients``, so this works on every Keras backend. Nothing here runs while a
network trains: the worker only saves the first conv layer's kernels after each epoch. Turning
the arrays into pictures (filters, feature maps, the heat map over the image) is
``dlcore.results.explain_images``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dlcore import LayerLabError
from dlcore.model.build import conv_layer_names
from dlcore.results.explain_images import render_kernel
from dlcore.train.run_outputs import read_filter_history

__all__ = [
    "Inside",
    "LayerView",
    "conv_layer_names",
    "filter_history",
    "filter_images",
    "heat_map",
    "inside",
]

_POOLS = ("MaxPooling2D", "AveragePooling2D")
_GLOBAL_POOLS = ("GlobalAveragePooling2D", "GlobalMaxPooling2D")


@dataclass(frozen=True)
class LayerView:
    """One layer's response to the image. ``shape`` is the layer table's output shape
    (h, w, channels) or (units,); ``values`` is float32 (channels, h, w) for the feature maps
    of "conv" and "pool" layers, (units,) for "global_pool", "dense" and "output"."""

    name: str
    kind: str
    shape: tuple[int, ...]
    values: np.ndarray


@dataclass(frozen=True)
class Inside:
    """The network's inside for one image: layers from input to output, the softmax
    probabilities, and the heat map of where it looked, in the input image's pixels."""

    layers: list[LayerView]
    probabilities: np.ndarray
    predicted: int
    heat: np.ndarray  # float32 (H, W) in [0, 1]
    heat_method: str  # "grad-cam" or "saliency"
    heat_peak: tuple[int, int]  # (row, column) of the heat map's maximum


def filter_images(model, layer_name: str | None = None) -> np.ndarray:
    """The learned filters of a conv layer (the first one by default) as uint8 images; see
    ``render_kernel`` for the shapes. LayerLabError if the network has no such layer."""
    names = conv_layer_names(model)
    if not names:
        raise LayerLabError(
            "This network has no convolution layer, so it has no filters to show. Add a conv "
            "block on the Model page, or look at its dense activations."
        )
    name = layer_name or names[0]
    if name not in names:
        raise LayerLabError(f"{name!r} is not a convolution layer; choose one of {names}.")
    kernel = np.asarray(_numpy(model.get_layer(name).kernel))
    return render_kernel(kernel, first=name == names[0])


def filter_history(run_id: str) -> np.ndarray:
    """The first conv layer's filters before training (frame 0, random noise) and after each
    epoch: uint8 (epochs + 1, filters, k, k[, 3]). LayerLabError if the run saved none."""
    _, kernels = read_filter_history(run_id)
    return np.stack([render_kernel(kernel) for kernel in kernels])


def _numpy(tensor) -> np.ndarray:
    import keras

    return keras.ops.convert_to_numpy(tensor)


def _kind(model, layer) -> str | None:
    kind = type(layer).__name__
    if kind == "Conv2D":
        return "conv"
    if kind in _POOLS:
        return "pool"
    if kind in _GLOBAL_POOLS:
        return "global_pool"
    if kind == "Dense":
        return "output" if layer is model.layers[-1] else "dense"
    return None


def _batch(model, image: np.ndarray) -> np.ndarray:
    """The image as a batch of one float32 image, checked against the model's input."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    expected = tuple(model.input.shape[1:])
    if image.shape != expected:
        raise LayerLabError(
            f"The image is {'x'.join(map(str, image.shape))}; this network takes "
            f"{'x'.join(map(str, expected))} images. Prepare it as the run's dataset first "
            "(dlcore.results.inference.prepare_for_run)."
        )
    return image[None].astype(np.float32)


def inside(model, image: np.ndarray) -> Inside:
    """Every conv and pooling layer's feature maps, the dense activations and probabilities
    for one prepared image, with a heat map for the predicted class."""
    import keras

    batch = _batch(model, image)
    chosen = [(layer, kind) for layer in model.layers if (kind := _kind(model, layer))]
    outputs = [layer.output for layer, _ in chosen]
    values = keras.Model(model.input, outputs)(batch, training=False)
    views = []
    for (layer, kind), value in zip(chosen, values, strict=True):
        value = np.asarray(_numpy(value)[0], np.float32)
        shape = tuple(int(n) for n in layer.output.shape[1:])
        views.append(LayerView(layer.name, kind, shape, np.moveaxis(value, -1, 0)))
    if views and views[-1].kind == "output":
        probabilities = views[-1].values
    else:
        probabilities = np.asarray(_numpy(model(batch, training=False))[0], np.float32)
    predicted = int(np.argmax(probabilities))
    heat, method = heat_map(model, image, predicted)
    peak = np.unravel_index(int(np.argmax(heat)), heat.shape)
    return Inside(views, probabilities, predicted, heat, method, (int(peak[0]), int(peak[1])))


def _score(model):
    """``(input tensor of the score, function to class scores)``: the logits before the
    softmax when the output layer is a softmax Dense (the usual Grad-CAM score: probabilities
    saturate near 1 and lose their gradient), else the outputs themselves."""
    import keras

    last = model.layers[-1]
    activation = getattr(getattr(last, "activation", None), "__name__", "")
    if type(last).__name__ != "Dense" or activation != "softmax":
        return model.output, lambda x: x
    kernel, bias = last.kernel, last.bias
    return last.input, lambda x: keras.ops.matmul(x, kernel) + (0 if bias is None else bias)


def heat_map(model, image: np.ndarray, class_index: int | None = None) -> tuple[np.ndarray, str]:
    """Where the network looked for ``class_index`` (default: its prediction): float32 (H, W)
    in [0, 1] in the image's pixels, and the method: "grad-cam" of the last conv layer (the
    class score's gradient times its activations), or for a network without convolutions, or
    when nothing there speaks for the class, "saliency": the score's gradient per pixel."""
    import keras

    from dlcore.backend import gradients

    batch = _batch(model, image)
    if class_index is None:
        class_index = int(np.argmax(_numpy(model(batch, training=False))[0]))
    features, to_score = _score(model)
    names = conv_layer_names(model)
    if names:
        conv = model.get_layer(names[-1])
        maps = _numpy(keras.Model(model.input, conv.output)(batch, training=False))
        head = keras.Model(conv.output, features)
        grads = gradients(lambda a: to_score(head(a, training=False))[:, class_index], maps)
        # Grad-CAM with the gradient kept per position (HiResCAM): the class score's change for
        # each activation, summed over the maps, what speaks for the class kept. Averaging the
        # gradient over positions first (the original Grad-CAM) loses where a flatten + dense
        # head looks, e.g. a class set by where a square sits; after global average pooling
        # the gradient is the same everywhere and both are equal.
        cam = np.maximum((grads[0] * maps[0]).sum(axis=-1), 0.0)
        if cam.max() > 0:
            return _to_pixels(model, names[-1], cam / cam.max(), batch.shape[1:3]), "grad-cam"
    body = keras.Model(model.input, features)
    grads = gradients(lambda x: to_score(body(x, training=False))[:, class_index], batch)
    saliency = np.abs(grads[0]).max(axis=-1)
    top = float(saliency.max())
    return (saliency / top if top > 0 else saliency).astype(np.float32), "saliency"


def _cell_centres(model, layer_name: str, size: tuple[int, int]) -> list[tuple[float, float]]:
    """For each image axis, ``(offset, step)``: cell i of the layer's map is centred on input
    pixel offset + step * i. Walks the convolutions and poolings from the input."""
    import keras

    axes = [(0.0, 1.0, int(n)) for n in size]  # offset, step, this layer's input size
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kernel, strides = layer.kernel_size, layer.strides
        elif type(layer).__name__ in _POOLS:
            kernel, strides = layer.pool_size, layer.strides
        else:
            continue
        moved = []
        for (offset, step, n), k, s in zip(axes, kernel, strides, strict=True):
            out = -(-n // s) if layer.padding == "same" else (n - k) // s + 1
            before = max((out - 1) * s + k - n, 0) // 2 if layer.padding == "same" else 0
            moved.append((offset + step * ((k - 1) / 2 - before), step * s, out))
        axes = moved
        if layer.name == layer_name:
            break
    return [(offset, step) for offset, step, _ in axes]


def _to_pixels(model, layer_name: str, cam: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The layer's map in input pixels: each cell spread as a Gaussian around the centre of
    its receptive field, as wide as the step between cells. A plain resize would shift the
    map of a 'valid' layer and smear its border cells out to the image's edges."""
    spreads = []
    for pixels, cells, (offset, step) in zip(
        size, cam.shape, _cell_centres(model, layer_name, size), strict=True
    ):
        distance = np.arange(pixels)[:, None] - (offset + step * np.arange(cells))[None, :]
        spreads.append(np.exp(-0.5 * (distance / step) ** 2))
    heat = spreads[0] @ cam.astype(np.float64) @ spreads[1].T
    top = float(heat.max())
    return (heat / top if top > 0 else heat).clip(0, 1).astype(np.float32)
