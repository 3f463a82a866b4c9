"""Turning a learner's images into a prepared dataset: a folder, a ZIP, a browser folder upload
or a Keras-style ``.npz``.

One sub-folder per class (DIGITS' layout), or ``train/`` + ``val/`` (+ ``test/``) each holding
class folders. Bad files are skipped and listed in ``manifest["skipped"]``; the import fails only
when too little is left to train on. ZIPs and uploads are unpacked into a scratch directory that
is always removed, refusing paths that escape it, symlinks and ZIP bombs.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath

import numpy as np

from dlcore import LayerLabError
from dlcore.dataset import Dataset, load_prepared, read_manifest, save_dataset, stratified_split
from dlcore.images import ImageError, PrepSettings, prepare_image
from dlcore.limits import Limits, load_limits
from dlcore.storage import check_name, is_inside, scratch_dir

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"}
IGNORED_NAMES = {"__MACOSX", ".DS_Store", "Thumbs.db", "desktop.ini"}
VAL_NAMES = ("val", "validation")
MAX_SKIPPED_LISTED = 200
BOMB_RATIO, BOMB_MIN_BYTES = 200, 10 * 1024 * 1024
MB = 1024 * 1024

Progress = Callable[[int, int, str], None]


def _natural_key(text: str) -> list:
    """Sort "2" before "10", as people expect of class folders."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


def _is_ignored(name: str) -> bool:
    return name.startswith(".") or name in IGNORED_NAMES


def _scan_class(folder: Path, root: Path, skipped: list[dict]) -> list[Path]:
    """Image files under one class folder, searched recursively, in a stable order."""
    found = []
    for current, dirs, files in os.walk(folder):
        dirs[:] = sorted((d for d in dirs if not _is_ignored(d)), key=_natural_key)
        for name in sorted(files, key=_natural_key):
            path = Path(current) / name
            if _is_ignored(name):
                continue
            if path.suffix.lower() in IMAGE_EXTENSIONS:
                found.append(path)
            else:
                skipped.append(_skip(path, root, "not an image file (wrong extension); ignored"))
    return found


def _skip(path: Path | str, root: Path | None, reason: str) -> dict:
    name = str(Path(path).relative_to(root)) if root is not None else str(path)
    return {"file": name, "reason": reason}


def scan_folder(root: Path, skipped: list[dict]) -> dict[str, list[Path]]:
    """``{class name: image paths}`` for each non-empty class sub-folder of ``root``."""
    classes = {}
    for entry in sorted(root.iterdir(), key=lambda p: _natural_key(p.name)):
        if _is_ignored(entry.name):
            continue
        if not entry.is_dir():
            skipped.append(_skip(entry, root, "not inside a class folder; ignored"))
            continue
        files = _scan_class(entry, root, skipped)
        if files:
            classes[entry.name] = files
        else:
            skipped.append(_skip(entry, root, "empty class folder (no images); ignored"))
    return classes


def _cap(classes: dict[str, list[Path]], max_per_class: int, seed: int) -> None:
    """Keep at most ``max_per_class`` images per class, the same ones every time."""
    if max_per_class <= 0:
        return
    rng = np.random.default_rng(seed)
    for name, files in classes.items():
        if len(files) > max_per_class:
            keep = np.sort(rng.choice(len(files), size=max_per_class, replace=False))
            classes[name] = [files[i] for i in keep]


def _decode(
    jobs: list[tuple[Path, int]],
    settings: PrepSettings,
    root: Path,
    skipped: list[dict],
    progress: Progress | None,
    done_before: int = 0,
    total: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Prepare every image (threads: decoding and resizing release the GIL)."""
    images = np.empty((len(jobs), settings.height, settings.width, settings.channels), np.uint8)
    labels = np.empty(len(jobs), dtype=np.int32)
    kept = 0
    total = total or len(jobs)
    step = max(1, total // 100)

    def work(path: Path) -> np.ndarray | str:
        try:
            return prepare_image(path, settings)
        except ImageError as error:
            return str(error)

    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        for index, result in enumerate(pool.map(work, [path for path, _ in jobs])):
            path, label = jobs[index]
            if isinstance(result, str):
                skipped.append(_skip(path, root, result))
            else:
                images[kept], labels[kept] = result, label
                kept += 1
            done = done_before + index + 1
            if progress is not None and (done % step == 0 or done == total):
                progress(done, total, f"Prepared {path.name}")
    return images[:kept], labels[:kept]


def _check_counts(
    classes: list[str], labels: np.ndarray, min_per_class: int, where: str
) -> None:
    counts = np.bincount(labels, minlength=len(classes))
    short = {name: int(n) for name, n in zip(classes, counts, strict=True) if n < min_per_class}
    if short:
        raise LayerLabError(
            f"{where}: class(es) {short} have fewer than {min_per_class} usable images; add "
            "images or remove those folders."
        )


def _split_layout(root: Path) -> tuple[Path, Path | None, Path | None]:
    """``(train, val, test)`` folders when ``root`` holds train/ + val|validation/ (+ test/)."""
    names = {p.name.lower(): p for p in root.iterdir() if p.is_dir() and not _is_ignored(p.name)}
    val = next((names[n] for n in VAL_NAMES if n in names), None)
    if "train" in names and val is not None and set(names) <= {"train", "test", *VAL_NAMES}:
        return names["train"], val, names.get("test")
    return root, None, None


def _descend_wrapper(root: Path) -> Path:
    """Step into a lone top-level folder (a ZIP of "photos/" holding the class folders)."""
    for _ in range(8):
        entries = [p for p in root.iterdir() if not _is_ignored(p.name)]
        if len(entries) != 1 or not entries[0].is_dir():
            break
        root = entries[0]
    return root


def dataset_from_folder(
    path: str | Path,
    name: str,
    settings: PrepSettings,
    *,
    val_path: str | Path | None = None,
    test_path: str | Path | None = None,
    val_percent: float = 20.0,
    test_percent: float = 0.0,
    min_per_class: int = 2,
    max_per_class: int = 0,
    seed: int = 0,
    progress: Progress | None = None,
    skipped: list[dict] | None = None,
) -> Dataset:
    """Read and prepare a class-folder tree into an unsaved Dataset (see ``import_folder``)."""
    root = Path(path)
    if not root.is_dir():
        raise LayerLabError(f"{root} is not a folder; give a folder holding one folder per class.")
    if val_path is None and test_path is None:
        root, val_path, test_path = _split_layout(_descend_wrapper(root))
    limits = load_limits()
    skipped = [] if skipped is None else skipped
    trees = {"train": scan_folder(root, skipped)}
    for split, folder in (("val", val_path), ("test", test_path)):
        if folder is not None:
            trees[split] = scan_folder(Path(folder), skipped)
    classes = sorted(trees["train"], key=_natural_key)
    if len(classes) < 2:
        raise LayerLabError(
            f"{root.name or root} has {len(classes)} class folder(s) with images {classes}; a "
            "classifier needs at least 2 (one sub-folder of images per class)."
        )
    _check_same_classes(classes, trees)
    for tree in trees.values():
        _cap(tree, max_per_class, seed)
    jobs = {
        split: [(p, classes.index(c)) for c in classes for p in tree.get(c, [])]
        for split, tree in trees.items()
    }
    _check_size(sum(len(j) for j in jobs.values()), limits)
    arrays, done, total = {}, 0, sum(len(j) for j in jobs.values())
    for split, split_jobs in jobs.items():
        base = Path(path) if split == "train" else Path(trees_root(split, val_path, test_path))
        arrays[split] = _decode(split_jobs, settings, base, skipped, progress, done, total)
        done += len(split_jobs)
        _check_counts(classes, arrays[split][1], min_per_class if split == "train" else 1, split)
    return _assemble(name, classes, arrays, settings, val_percent, test_percent, seed, skipped)


def trees_root(split: str, val_path: str | Path | None, test_path: str | Path | None) -> Path:
    return Path(val_path if split == "val" else test_path)  # type: ignore[arg-type]
