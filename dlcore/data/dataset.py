"""A prepared dataset: uint8 image arrays per split plus a manifest, stored once on disk.

Layout: ``datasets/<name>/manifest.json`` and ``x_train.npy``, ``y_train.npy``, ``x_val.npy``,
``y_val.npy`` and optionally ``x_test.npy``, ``y_test.npy``. Images are ``(N, H, W, C)`` uint8
with C = 1 (grayscale) or 3 (colour); labels are int32 class indices. Arrays are memory-mapped
on load, so every attendee training on the same set shares one copy in the page cache and no
float32 copy is ever made.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dlcore import LayerLabError
from dlcore.storage import (
    atomic_write_json,
    check_name,
    datasets_dir,
    read_json,
    staged_dir,
)

SPLITS = ("train", "val", "test")


class DatasetNotFound(LayerLabError):
    """No prepared dataset has that name."""


@dataclass
class Dataset:
    name: str
    classes: list[str]
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    manifest: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(int(v) for v in self.x_train.shape[1:])  # type: ignore[return-value]

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray] | None:
        """``(x, y)`` of ``train``, ``val`` or ``test``; None when the split is absent."""
        if name not in SPLITS:
            raise LayerLabError(f"Unknown split {name!r}; use one of {SPLITS}.")
        x, y = getattr(self, f"x_{name}"), getattr(self, f"y_{name}")
        return None if x is None else (x, y)

    def counts(self) -> dict[str, dict[str, int]]:
        """Images per class in each split present."""
        result = {}
        for split in SPLITS:
            pair = self.split(split)
            if pair is not None:
                tally = np.bincount(np.asarray(pair[1]), minlength=self.num_classes)
                result[split] = {c: int(n) for c, n in zip(self.classes, tally, strict=True)}
        return result


def validate_arrays(dataset: Dataset) -> None:
    """Check shapes, dtypes and labels; raise LayerLabError saying what is wrong."""
    if len(dataset.classes) < 2:
        raise LayerLabError(
            f"Dataset {dataset.name!r} has {len(dataset.classes)} class(es); a classifier needs "
            "at least 2 classes (one folder per class)."
        )
    shape = None
    for split in SPLITS:
        pair = dataset.split(split)
        if pair is None:
            if split != "test":
                raise LayerLabError(f"Dataset {dataset.name!r} has no {split} split.")
            continue
        x, y = pair
        if x.dtype != np.uint8 or x.ndim != 4 or x.shape[-1] not in (1, 3):
            raise LayerLabError(
                f"{split} images have shape {x.shape} and dtype {x.dtype}; expected (N, H, W, 1 "
                "or 3) uint8."
            )
        if shape is not None and x.shape[1:] != shape:
            raise LayerLabError(f"{split} images are {x.shape[1:]} but train images are {shape}.")
        shape = x.shape[1:]
        if y.ndim != 1 or len(y) != len(x):
            raise LayerLabError(f"{split} has {len(x)} images but labels of shape {y.shape}.")
        if len(y) and (y.min() < 0 or y.max() >= len(dataset.classes)):
            raise LayerLabError(
                f"{split} labels range {y.min()}..{y.max()}; expected 0.."
                f"{len(dataset.classes) - 1}, one per class."
            )
    if len(dataset.x_train) == 0 or len(dataset.x_val) == 0:
        raise LayerLabError("Train and validation splits must each hold at least one image.")


def _full_manifest(name: str, classes: list, manifest: dict, shape: tuple, labels: dict) -> dict:
    """The manifest as saved: the given fields plus classes, shape and counts per split."""
    counts = {}
    for split, y in labels.items():
        tally = np.bincount(np.asarray(y), minlength=len(classes))
        counts[split] = {c: int(n) for c, n in zip(classes, tally, strict=True)}
    full = dict(manifest)
    full.update(
        name=name,
        classes=list(classes),
        image_shape=[int(v) for v in shape],
        counts=counts,
        num_images=sum(sum(c.values()) for c in counts.values()),
    )
    full.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%S"))
    return full


def save_dataset(dataset: Dataset, root: Path | None = None) -> Path:
    """Write a dataset atomically (a crash leaves the old one or nothing) and return its path."""
    check_name(dataset.name, "dataset name")
    validate_arrays(dataset)
    final = (root or datasets_dir()) / dataset.name
    labels = {s: dataset.split(s)[1] for s in SPLITS if dataset.split(s) is not None}
    manifest = _full_manifest(
        dataset.name, dataset.classes, dataset.manifest, dataset.image_shape, labels
    )
    with staged_dir(final) as tmp:
        for split in SPLITS:
            pair = dataset.split(split)
            if pair is not None:
                np.save(tmp / f"x_{split}.npy", np.ascontiguousarray(pair[0], dtype=np.uint8))
                np.save(tmp / f"y_{split}.npy", np.asarray(pair[1], dtype=np.int32))
        atomic_write_json(tmp / "manifest.json", manifest)
    dataset.manifest = manifest
    return final


class RowFile:
    """Prepared images appended one by one to a file (in a scratch folder) and copied out by
    row into the ``.npy`` of each split: an import holds one image in memory, never the whole
    set, and never twice (once more for its splits). Writes go through ``write``, not a memory
    map, so the pages are the kernel's cache, not the server's memory."""

    def __init__(self, path: Path, shape: tuple[int, int, int]) -> None:
        self.shape, self.count = tuple(int(v) for v in shape), 0
        self.row_bytes = math.prod(self.shape)
        self._handle = open(path, "w+b")  # noqa: SIM115 - closed by close()

    def append(self, image: np.ndarray) -> int:
        """Add one (H, W, C) uint8 image; returns its row."""
        self._handle.write(np.ascontiguousarray(image, dtype=np.uint8).reshape(-1).data)
        self.count += 1
        return self.count - 1

    def write_npy(self, dest: Path, rows: np.ndarray) -> None:
        """Write the images of ``rows``, in that order, as one (N, H, W, C) uint8 ``.npy``."""
        self._handle.flush()
        header = {"descr": "|u1", "fortran_order": False, "shape": (len(rows), *self.shape)}
        with open(dest, "wb") as out:
            np.lib.format.write_array_header_1_0(out, header)
            for row in rows:
                start = int(row) * self.row_bytes
                out.write(os.pread(self._handle.fileno(), self.row_bytes, start))

    def close(self) -> None:
        self._handle.close()


def save_rows(
    name: str,
    classes: list[str],
    manifest: dict,
    rows: RowFile,
    splits: dict,
    root: Path | None = None,
) -> Path:
    """Save a dataset whose images are rows of ``rows``: ``splits`` maps each split to
    ``(row indices, labels)``. Written atomically like ``save_dataset``."""
    check_name(name, "dataset name")
    final = (root or datasets_dir()) / name
    labels = {s: splits[s][1] for s in SPLITS if s in splits}
    if len(classes) < 2 or any(len(labels.get(s, ())) == 0 for s in ("train", "val")):
        raise LayerLabError("Train and validation splits must each hold at least one image.")
    full = _full_manifest(name, classes, manifest, rows.shape, labels)
    with staged_dir(final) as tmp:
        for split, (indices, y) in splits.items():
            rows.write_npy(tmp / f"x_{split}.npy", indices)
            np.save(tmp / f"y_{split}.npy", np.asarray(y, dtype=np.int32))
        atomic_write_json(tmp / "manifest.json", full)
    return final


def read_manifest(name: str, root: Path | None = None) -> dict | None:
    """The manifest of a prepared dataset, or None if it is not on disk."""
    path = (root or datasets_dir()) / name / "manifest.json"
    return read_json(path) if path.is_file() else None


def load_prepared(name: str, root: Path | None = None) -> Dataset:
    """Load a prepared dataset from disk (memory-mapped, no image decoding)."""
    check_name(name, "dataset name")
    folder = (root or datasets_dir()) / name
    manifest = read_manifest(name, root)
    if manifest is None:
        raise DatasetNotFound(
            f"No prepared dataset named {name!r}; run `dlcore datasets` to see those available."
        )
    arrays = {}
    for split in SPLITS:
        if (folder / f"x_{split}.npy").exists():
            arrays[f"x_{split}"] = np.load(folder / f"x_{split}.npy", mmap_mode="r")
            arrays[f"y_{split}"] = np.load(folder / f"y_{split}.npy")
    return Dataset(name=name, classes=list(manifest["classes"]), manifest=manifest, **arrays)


def list_prepared(root: Path | None = None) -> list[dict]:
    """Manifests of every prepared dataset on disk, sorted by name."""
    base = root or datasets_dir()
    manifests = [read_json(p) for p in sorted(base.glob("*/manifest.json"))]
    return [m for m in manifests if isinstance(m, dict)]


def delete_prepared(name: str, root: Path | None = None) -> None:
    check_name(name, "dataset name")
    folder = (root or datasets_dir()) / name
    if not (folder / "manifest.json").exists():
        raise DatasetNotFound(f"No prepared dataset named {name!r}.")
    shutil.rmtree(folder)


def stratified_split(
    x: np.ndarray,
    y: np.ndarray,
    val_percent: float,
    test_percent: float = 0.0,
    seed: int = 0,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Split into train / val (/ test), stratified per class, reproducible by ``seed``."""
    from sklearn.model_selection import train_test_split

    if not 0 < val_percent < 100 or not 0 <= test_percent < 100 or val_percent + test_percent >= 90:
        raise LayerLabError(
            f"Validation {val_percent}% and test {test_percent}% are invalid: use a validation "
            "percent from 1 to 50 and a test percent from 0 to 40."
        )
    counts = np.bincount(y)
    stratify = y if counts[counts > 0].min() >= 2 else None
    indices = np.arange(len(y))
    held = (val_percent + test_percent) / 100
    try:
        train_idx, held_idx = train_test_split(
            indices, test_size=held, stratify=stratify, random_state=seed
        )
    except ValueError as error:
        raise LayerLabError(
            f"Cannot split {len(y)} images into train and validation ({error}); add images."
        ) from None
    result = {"train": (x[train_idx], y[train_idx])}
    if test_percent:
        held_stratify = y[held_idx] if stratify is not None else None
        try:
            val_idx, test_idx = train_test_split(
                held_idx,
                test_size=test_percent / (val_percent + test_percent),
                stratify=held_stratify,
                random_state=seed,
            )
        except ValueError:
            val_idx, test_idx = train_test_split(
                held_idx, test_size=test_percent / (val_percent + test_percent), random_state=seed
            )
        result["test"] = (x[test_idx], y[test_idx])
    else:
        val_idx = held_idx
    result["val"] = (x[val_idx], y[val_idx])
    return result
