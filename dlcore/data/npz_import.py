"""Importing Keras-layout arrays (``x_train, y_train[, x_test, y_test]`` in an ``.npz``) as a
prepared dataset: the count and size are checked from the arrays' headers before any image is
loaded, and the images are prepared one by one into rows, never copied whole. Nothing in an
``.npz`` is ever unpickled.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from dlcore import LayerLabError
from dlcore.data.arrays import array_settings, clean_images, clean_labels
from dlcore.data.dataset import Dataset, RowFile, load_prepared, save_rows, stratified_split
from dlcore.data.folders import check_num_classes
from dlcore.data.images import PrepSettings, check_image_side, prepare_image
from dlcore.data.importer import check_budget, source_manifest
from dlcore.data.ownership import InUse, one_writer, owner_fields
from dlcore.data.unpack import MB, check_upload, open_zip, scratch
from dlcore.limits import Limits, load_limits


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
    replace: bool = False,
) -> Dataset:
    """Import Keras-layout arrays (x_train, y_train[, x_test, y_test]); ``settings`` resizes
    or recolours every image with ``prepare_image``, else they are kept as they are. The count
    and size are checked from the arrays' headers before any image is loaded or resized.
    ``owner``, ``in_use`` and ``replace`` as ``dlcore.data.importer.import_folder``: one's own
    dataset of that name is replaced only with ``replace`` (``DatasetExists`` otherwise)."""
    with one_writer(name, owner, in_use, replace):
        limits = load_limits()
        shapes = npz_shapes(source, limits)
        count = sum(shapes[k][0][0] for k in ("x_train", "x_test") if k in shapes)
        image = shapes["x_train"][0][1:]
        shape = (
            (settings.height, settings.width, settings.channels)
            if settings is not None
            else (*image[:2], image[2] if len(image) > 2 else 1)
        )
        check_image_side(int(shape[1]), int(shape[0]), limits)
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
            prep = settings.to_dict() if settings is not None else array_settings(shape)
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


# Reading an .npz upload safely: headers first, never unpickling ---------------------------


def _check_not_npy(source: bytes | str | Path, limits: Limits) -> None:
    check_upload(source, ".npz file", limits)
    if isinstance(source, bytes):
        head = source[:6]
    else:
        with open(source, "rb") as handle:
            head = handle.read(6)
    if head == b"\x93NUMPY":
        raise LayerLabError("This is a single .npy array; save x_train, y_train with np.savez.")


def read_npz(source: bytes | str | Path) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` upload, never unpickling anything (``allow_pickle=False``)."""
    limits = load_limits()
    _check_not_npy(source, limits)
    open_zip(source, limits, ".npz file").close()  # an .npz is a ZIP: same size limits
    data = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        with np.load(data, allow_pickle=False) as loaded:
            arrays = {key: loaded[key] for key in loaded.files}
    except ValueError as error:
        if "pickle" not in str(error):
            raise LayerLabError(
                f"Cannot read this .npz ({error}); save it with np.savez."
            ) from None
        raise LayerLabError(
            "The .npz holds Python objects (object arrays), which are never loaded for safety; "
            "save plain number arrays (uint8 or float) with np.savez."
        ) from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise LayerLabError(f"Cannot read this .npz ({error}); save it with np.savez.") from None
    if not {"x_train", "y_train"} <= set(arrays):
        raise LayerLabError(
            f"The .npz holds {sorted(arrays)}; expected x_train and y_train (and optionally "
            "x_test, y_test), as keras.datasets returns them: save them with "
            "np.savez(path, x_train=..., y_train=...)."
        )
    return arrays


def npz_shapes(source: bytes | str | Path, limits: Limits) -> dict[str, tuple[tuple, str]]:
    """``{array name: (shape, dtype)}`` of an ``.npz``, read from the headers of its members
    without loading any data: the count and size of an import are checked before it is read.
    Refuses arrays that would take more than ``max_import_mb`` once loaded."""
    _check_not_npy(source, limits)
    archive = open_zip(source, limits, ".npz file")
    found, total = {}, 0
    with archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                continue
            try:
                with archive.open(info) as member:
                    version = np.lib.format.read_magic(member)
                    read = (
                        np.lib.format.read_array_header_1_0
                        if version == (1, 0)
                        else np.lib.format.read_array_header_2_0
                    )
                    shape, _fortran, dtype = read(member)
            except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error, SyntaxError):
                continue  # read_npz reports an unreadable member clearly
            if dtype.hasobject:
                read_npz(source)  # refuses object arrays without unpickling them
            found[info.filename[:-4]] = (tuple(shape), str(dtype))
            total += int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    if total > limits.max_import_mb * MB:
        raise LayerLabError(
            f"The .npz arrays take {total / MB:,.0f} MB once loaded, more than this server's "
            f"limit of {limits.max_import_mb:,} MB per import; save the images as uint8 (0-255) "
            "or import fewer of them."
        )
    if not {"x_train", "y_train"} <= set(found):
        read_npz(source)  # says what the file holds instead, and what to save
    if ("x_test" in found) != ("y_test" in found):
        raise LayerLabError("Give both x_test and y_test, or neither.")
    for key in ("x_train", "x_test"):
        shape = found.get(key, ((1, 1, 1),))[0]
        if len(shape) not in (3, 4) or 0 in shape or (len(shape) == 4 and shape[3] not in (1, 3)):
            shown = (*shape, 1) if len(shape) == 3 else shape
            raise LayerLabError(
                f"{key} has shape {shown}; expected (N, H, W) or (N, H, W, 1|3): save one "
                "grayscale or RGB image per row."
            )
    return found
