"""Importing Keras-layout arrays (``x_train, y_train[, x_test, y_test]`` in an ``.npz``) as a
prepared dataset: the count and size are checked from the arrays' headers before any image is
loaded, and the images are prepared one by one into rows, never copied whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from dlcore import LayerLabError
from dlcore.builtin import clean_images, clean_labels
from dlcore.dataset import Dataset, RowFile, load_prepared, save_rows, stratified_split
from dlcore.folders import check_num_classes
from dlcore.images import PrepSettings, prepare_image
from dlcore.importer import InUse, check_budget, one_writer, owner_fields, source_manifest
from dlcore.limits import Limits, load_limits
from dlcore.unpack import npz_shapes, read_npz, scratch


def import_npz(
    source: bytes | str | Path,
    name: str,
    *,
    settings: PrepSettings | None = None,
    val_percent: float = 20.0,
    owner: str = "",
    owner_label: str = "",
    in_use: InUse | None = None,
    classes: list[str] | None = None,
) -> Dataset:
    """Import Keras-layout arrays (x_train, y_train[, x_test, y_test]); ``settings`` resizes
    or recolours every image with ``prepare_image``, else they are kept as they are. The count
    and size are checked from the arrays' headers before any image is loaded or resized."""
    with one_writer(name, owner, in_use):
        limits = load_limits()
        shapes = npz_shapes(source, limits)
        count = sum(shapes[k][0][0] for k in ("x_train", "x_test") if k in shapes)
        image = shapes["x_train"][0][1:]
        shape = (
            (settings.height, settings.width, settings.channels)
            if settings is not None
            else (*image[:2], image[2] if len(image) > 2 else 1)
        )
        check_budget(count, tuple(int(v) for v in shape), limits)
        arrays = read_npz(source)
        label = "uploaded .npz" if isinstance(source, bytes) else Path(source).name
        extra = owner_fields(owner, owner_label)
        save_npz_arrays(name, arrays, settings, classes, val_percent, label, extra, limits)
    return load_prepared(name)


def save_npz_arrays(
    name: str,
    arrays: dict[str, np.ndarray],
    settings: PrepSettings | None,
    classes: list[str] | None,
    val_percent: float,
    source: str,
    extra: dict,
    limits: Limits,
) -> None:
    """Check Keras-layout arrays, prepare them image by image into rows and save them: the
    arrays are never copied whole (no float copy, no resized stack, no split copies)."""
    x_train = clean_images(arrays["x_train"][:1], "x_train")  # shape and type of one image
    y = clean_labels(arrays["y_train"], len(arrays["x_train"]), "y_train")
    parts = [("x_train", arrays["x_train"])]
    y_test = None
    if "x_test" in arrays or "y_test" in arrays:
        if "x_test" not in arrays or "y_test" not in arrays:
            raise LayerLabError("Give both x_test and y_test, or neither.")
        x_test = clean_images(arrays["x_test"][:1], "x_test")
        y_test = clean_labels(arrays["y_test"], len(arrays["x_test"]), "y_test")
        parts.append(("x_test", arrays["x_test"]))
        if x_test.shape[1:] != x_train.shape[1:] and settings is None:
            raise LayerLabError(
                f"x_test images have shape {arrays['x_test'].shape[1:]} but x_train images "
                f"{arrays['x_train'].shape[1:]}; give both splits images of the same size."
            )
    top = int(max(y.max(initial=0), 0 if y_test is None else y_test.max(initial=0))) + 1
    names = [str(i) for i in range(top)] if classes is None else [str(c) for c in classes]
    if len(names) < top:
        raise LayerLabError(
            f"Labels go up to {top - 1} but only {len(names)} class names given; give one name "
            "per class."
        )
    check_num_classes(names, source, [], limits.max_classes_per_import)
    shape = (
        (settings.height, settings.width, settings.channels)
        if settings is not None
        else x_train.shape[1:]
    )
    with scratch() as work:
        rows = RowFile(work / "images.u8", shape)
        try:
            for key, x in parts:
                for chunk in _uint8_chunks(x, key):
                    for image in chunk:
                        rows.append(image if settings is None else prepare_image(image, settings))
            count = len(arrays["x_train"])
            splits = stratified_split(np.arange(count), y, val_percent, 0.0, 0)
            if y_test is not None:
                splits["test"] = (np.arange(count, rows.count), y_test)
            mode = "grayscale" if shape[2] == 1 else "color"
            prep = (settings or PrepSettings(mode, width=shape[1], height=shape[0])).to_dict()
            manifest = {**source_manifest(name, prep, [], source), **extra, "digits": False}
            save_rows(name, names, manifest, rows, splits)
        finally:
            rows.close()


def _uint8_chunks(x: np.ndarray, what: str, size: int = 1024) -> Iterator[np.ndarray]:
    """Images as uint8 (N, H, W, 1|3) in chunks, scaled by the range of the whole array (found
    without a float copy of it)."""
    scale = None
    if x.dtype != np.uint8:
        low, high = x.min(), x.max()
        clean_images(np.array([low, high], dtype=x.dtype).reshape(2, 1, 1, 1), what)  # range
        scale = 255.0 if float(high) <= 1.0 and np.issubdtype(x.dtype, np.floating) else 1.0
    for first in range(0, len(x), size):
        chunk = x[first : first + size]
        chunk = chunk[..., None] if chunk.ndim == 3 else chunk
        yield chunk if scale is None else np.rint(chunk.astype(np.float32) * scale).astype(np.uint8)
