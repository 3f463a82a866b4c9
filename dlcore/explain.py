"""What a trained network learned, for one image at a time: its filters, the feature maps of
every conv and pooling layer, the dense activations, and where it looked (Grad-CAM).

Everything here runs on a model already loaded (the page caches it per run) and on one
prepared image (uint8 (H, W, C), as the run's dataset holds it). Gradients go through
``dlcore.backend.gradients``, so this works on every Keras backend. Nothing here runs while a
network trains: the worker only saves the first conv layer's kernels after each epoch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dlcore import LayerLabError
from dlcore.model import conv_layer_names
from dlcore.runs import read_filter_history

__all__ = [
    "Inside",
    "LayerView",
    "as_rgb",
    "conv_layer_names",
    "feature_image",
    "filter_history",
    "filter_images",
    "heat_map",
    "image_grid",
    "inside",
    "overlay",
    "render_kernel",
]

_POOLS = ("MaxPooling2D", "AveragePooling2D")
_GLOBAL_POOLS = ("GlobalAveragePooling2D", "GlobalMaxPooling2D")
# Colour scale of the heat map, cold to hot (a "jet" scale): dark blue, cyan, yellow, red.
_HEAT_COLOURS = np.array(
    [[0, 0, 128], [0, 0, 255], [0, 255, 255], [255, 255, 0], [255, 0, 0], [128, 0, 0]], float
)


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


def _scaled(values: np.ndarray) -> np.ndarray:
    """Min-max to 0-255 uint8; a constant array is mid grey."""
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.full(values.shape, 128, np.uint8)
    return np.rint((values - low) * (255.0 / (high - low))).astype(np.uint8)


def render_kernel(kernel: np.ndarray, first: bool = True) -> np.ndarray:
    """Filters of a Keras kernel (k, k, in, filters) as uint8 images, each filter min-max
    scaled on its own: (filters, k, k, 3) for a first layer on RGB, (filters, k, k) on
    grayscale, else (filters, in, k, k): one small image per input channel."""
    kernel = np.asarray(kernel, np.float32)
    filters = np.moveaxis(kernel, -1, 0)  # (filters, k, k, in)
    if not (first and filters.shape[-1] in (1, 3)):
        filters = np.moveaxis(filters, -1, 1)  # (filters, in, k, k)
    images = np.stack([_scaled(one) for one in filters])
    return images[..., 0] if first and images.shape[-1] == 1 else images


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
            "(dlcore.inference.prepare_for_run)."
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


def as_rgb(image: np.ndarray) -> np.ndarray:
    """An image (H, W), (H, W, 1) or (H, W, 3) as uint8 RGB (H, W, 3)."""
    image = np.asarray(image, np.uint8)
    if image.ndim == 2:
        image = image[..., None]
    return np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image[..., :3]


def heat_colours(heat: np.ndarray) -> np.ndarray:
    """A heat map in [0, 1] as uint8 RGB (H, W, 3), dark blue (0) to dark red (1)."""
    positions = np.linspace(0.0, 1.0, len(_HEAT_COLOURS))
    heat = np.clip(np.asarray(heat, np.float32), 0.0, 1.0)
    channels = [np.interp(heat, positions, _HEAT_COLOURS[:, c]) for c in range(3)]
    return np.rint(np.stack(channels, axis=-1)).astype(np.uint8)


def overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """The heat map's colours laid over the image (grayscale shown as RGB): uint8 (H, W, 3)."""
    if not 0.0 <= alpha <= 1.0:
        raise LayerLabError(f"alpha is {alpha}; give a number from 0 (image) to 1 (heat map).")
    picture = as_rgb(image)
    if picture.shape[:2] != np.shape(heat):
        raise LayerLabError(
            f"The heat map is {np.shape(heat)} but the image is {picture.shape[:2]}; give the "
            "heat map computed for this image."
        )
    mixed = (1.0 - alpha) * picture + alpha * heat_colours(heat)
    return np.rint(mixed).clip(0, 255).astype(np.uint8)


def feature_image(values: np.ndarray) -> np.ndarray:
    """Feature maps (channels, h, w) as uint8, each map min-max scaled on its own."""
    return np.stack([_scaled(np.asarray(one, np.float32)) for one in values])


def image_grid(tiles: np.ndarray, columns: int | None = None, scale: int = 1, gap: int = 1):
    """Small images (n, h, w) or (n, h, w, 3) in one uint8 picture, ``columns`` per row
    (about square by default), each enlarged ``scale`` times, ``gap`` white pixels apart."""
    tiles = np.asarray(tiles, np.uint8)
    count, height, width = tiles.shape[:3]
    columns = columns or int(np.ceil(np.sqrt(count)))
    rows = -(-count // columns)
    tiles = tiles.repeat(scale, axis=1).repeat(scale, axis=2)
    height, width = height * scale, width * scale
    canvas = np.full(
        (rows * (height + gap) - gap, columns * (width + gap) - gap, *tiles.shape[3:]),
        255,
        np.uint8,
    )
    for index, tile in enumerate(tiles):
        row, column = divmod(index, columns)
        top, left = row * (height + gap), column * (width + gap)
        canvas[top : top + height, left : left + width] = tile
    return canvas
