"""Checking and cleaning images and labels given as arrays (the Keras layout: ``x_train,
y_train, x_test, y_test``): the ``.npz`` import and the Keras downloads share these.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlcore import LayerLabError
from dlcore.data.dataset import Dataset, stratified_split
from dlcore.data.images import PrepSettings
from dlcore.limits import load_limits

MAX_CLASSES = 1000  # labels beyond this are a mistake (and would make a huge class list)


def array_settings(shape: tuple[int, int, int]) -> dict:
    """The preparation settings that describe images already of ``shape`` (H, W, C)."""
    mode = "grayscale" if shape[2] == 1 else "color"
    return PrepSettings(mode, width=shape[1], height=shape[0]).to_dict()


def clean_images(x: Any, what: str) -> np.ndarray:
    """Images as (N, H, W, 1|3) uint8 from (N, H, W[, C]) uint8 or float (0-1 or 0-255)."""
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3) or 0 in x.shape:
        raise LayerLabError(
            f"{what} has shape {x.shape}; expected (N, H, W) or (N, H, W, 1|3): save one "
            "grayscale or RGB image per row."
        )
    if x.dtype == np.uint8:
        return x
    if not (np.issubdtype(x.dtype, np.number) and not np.issubdtype(x.dtype, np.complexfloating)):
        raise LayerLabError(
            f"{what} has dtype {x.dtype}; save the pixels as numbers (uint8 0-255 or float 0-1)."
        )
    values = x.astype(np.float32)
    low, high = (float(values.min()), float(values.max())) if np.isfinite(values).all() else (0, -1)
    if low < 0 or high > 255 or high < low:
        raise LayerLabError(f"{what} values are not in 0-1 or 0-255 (or hold NaN); rescale them.")
    scale = 255.0 if high <= 1.0 and np.issubdtype(x.dtype, np.floating) else 1.0
    return np.rint(values * scale).astype(np.uint8)


def clean_labels(y: Any, count: int, what: str) -> np.ndarray:
    """Class indices as int32 from (N,), (N, 1) or one-hot (N, K) labels."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1 and set(np.unique(y)) <= {0, 1} and (y.sum(1) == 1).all():
        y = y.argmax(axis=1)
    y = y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y
    integral = np.issubdtype(y.dtype, np.integer) or (
        np.issubdtype(y.dtype, np.floating) and np.isfinite(y).all() and (y == np.rint(y)).all()
    )
    if y.ndim != 1 or len(y) != count or not integral or (len(y) and y.min() < 0):
        raise LayerLabError(
            f"{what} has shape {y.shape} and dtype {y.dtype}; expected {count} whole-number "
            "class indices from 0 (or one-hot rows): save one label per image, numbered 0, 1, 2."
        )
    if len(y) and y.max() >= MAX_CLASSES:
        raise LayerLabError(
            f"{what} goes up to {y.max():.0f}; expected class indices from 0 to at most "
            f"{MAX_CLASSES - 1} (at most {MAX_CLASSES} classes). Number the classes 0, 1, 2, ..."
        )
    return y.astype(np.int32)


def dataset_from_arrays(
    name: str,
    x_train: Any,
    y_train: Any,
    x_test: Any = None,
    y_test: Any = None,
    classes: list[str] | None = None,
    *,
    val_percent: float = 10.0,
    seed: int = 0,
    digits: bool = False,
) -> Dataset:
    """An unsaved Dataset from Keras-layout arrays; validation is carved from train.
    ``digits``: the images are handwritten digits (the digit-photo mode fits them)."""
    x = clean_images(x_train, "x_train")
    y = clean_labels(y_train, len(x), "y_train")
    arrays: dict[str, np.ndarray] = {}
    if x_test is not None or y_test is not None:
        if x_test is None or y_test is None:
            raise LayerLabError("Give both x_test and y_test, or neither.")
        arrays["x_test"] = clean_images(x_test, "x_test")
        arrays["y_test"] = clean_labels(y_test, len(arrays["x_test"]), "y_test")
        if arrays["x_test"].shape[1:] != x.shape[1:]:
            raise LayerLabError(
                f"x_test images have shape {arrays['x_test'].shape[1:]} but x_train images "
                f"{x.shape[1:]}; give both splits images of the same size and colour."
            )
    top = int(max(y.max(), arrays["y_test"].max() if "y_test" in arrays else 0)) + 1
    classes = [str(i) for i in range(top)] if classes is None else [str(c) for c in classes]
    if len(classes) < top:
        raise LayerLabError(
            f"Labels go up to {top - 1} but only {len(classes)} class names given; give one name "
            "per class."
        )
    limit = load_limits().max_images_per_dataset
    if len(x) + len(arrays.get("x_test", ())) > limit:
        raise LayerLabError(f"More than {limit:,} images; the server limit. Use fewer images.")
    parts = stratified_split(x, y, val_percent, 0.0, seed)
    for split, (xs, ys) in parts.items():
        arrays[f"x_{split}"], arrays[f"y_{split}"] = xs, ys
    manifest = {"settings": array_settings(x.shape[1:]), "skipped": [], "digits": digits}
    return Dataset(name=name, classes=classes, manifest=manifest, **arrays)
