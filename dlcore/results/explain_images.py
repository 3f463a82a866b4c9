"""The pictures of what a network learned, in plain NumPy (no Keras): filters and feature maps
scaled to uint8, the heat map's colours laid over the image, and small images in one grid.
What they show is computed by ``dlcore.results.explain``."""

from __future__ import annotations

import numpy as np

from dlcore import LayerLabError

# Colour scale of the heat map, cold to hot (a "jet" scale): dark blue, cyan, yellow, red.
_HEAT_COLOURS = np.array(
    [[0, 0, 128], [0, 0, 255], [0, 255, 255], [255, 255, 0], [255, 0, 0], [128, 0, 0]], float
)


def _scaled(values: np.ndarray) -> np.ndarray:
    """Min-max to 0-255 uint8. A constant array has no contrast: black when it is all zero (a
    feature map that found nothing, e.g. a dead ReLU), else mid grey."""
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.full(values.shape, 0 if high == 0 else 128, np.uint8)
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
