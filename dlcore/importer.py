"""Turning a learner's images into a prepared dataset: a folder, a ZIP, a browser folder upload
or a Keras-style ``.npz``.

``dlcore.folders`` reads the class-folder layouts; ``dlcore.unpack`` unpacks ZIPs, uploads and
``.npz`` files safely into a scratch folder that is always removed. Bad files are skipped and
listed in ``manifest["skipped"]``; the import fails only when too little is left to train on.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from dlcore import LayerLabError
from dlcore.builtin import BUILTINS, clean_images, dataset_from_arrays
from dlcore.dataset import Dataset, load_prepared, read_manifest, save_dataset, stratified_split
from dlcore.folders import IMAGE_EXTENSIONS as IMAGE_EXTENSIONS
from dlcore.folders import SPLIT_NAMES as SPLIT_NAMES
from dlcore.folders import (
    cap_per_class,
    check_num_classes,
    check_same_classes,
    descend_wrapper,
    natural_key,
    scan_folder,
    skip_entry,
    split_layout,
)
from dlcore.images import ImageError, PrepSettings, prepare_image
from dlcore.limits import Limits, load_limits
from dlcore.storage import check_name
from dlcore.unpack import BOMB_MIN_BYTES as BOMB_MIN_BYTES
from dlcore.unpack import BOMB_RATIO as BOMB_RATIO
from dlcore.unpack import IGNORED_NAMES as IGNORED_NAMES
from dlcore.unpack import MB as MB
from dlcore.unpack import extract_zip, open_zip, read_npz, scratch, write_files

MAX_SKIPPED_LISTED = 200

Progress = Callable[[int, int, str], None]


def _decode(
    jobs: list[tuple[Path, int]],
    settings: PrepSettings,
    top: Path,
    skipped: list[dict],
    progress: Progress | None,
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Prepare every image, in threads (decoding and resizing release the GIL). Returns the
    images, labels and, per job, its row in them (-1 when the file was bad)."""
    images = np.empty((len(jobs), settings.height, settings.width, settings.channels), np.uint8)
    labels = np.empty(len(jobs), dtype=np.int32)
    rows, kept, step = [], 0, max(1, len(jobs) // 100)

    def work(path: Path) -> np.ndarray | str:
        try:
            return prepare_image(path, settings)
        except ImageError as error:
            return str(error)

    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        for done, ((path, label), result) in enumerate(
            zip(jobs, pool.map(work, [path for path, _ in jobs]), strict=True), start=1
        ):
            if isinstance(result, str):
                skipped.append(skip_entry(path, top, result))
                rows.append(-1)
            else:
                images[kept], labels[kept] = result, label
                rows.append(kept)
                kept += 1
            if progress is not None and (done % step == 0 or done == len(jobs)):
                progress(done, len(jobs), f"Prepared {done} of {len(jobs)} images")
    return images[:kept], labels[:kept], rows


def _check_counts(classes: list[str], labels: np.ndarray, minimum: int, split: str) -> None:
    counts = np.bincount(labels, minlength=len(classes))
    short = {name: int(n) for name, n in zip(classes, counts, strict=True) if n < minimum}
    if short:
        raise LayerLabError(
            f"In {split}, class(es) {short} have fewer than {minimum} usable image(s); add "
            "images to those folders or remove them."
        )


def dataset_from_folder(
    path: str | Path,
    name: str,
    settings: PrepSettings,
    *,
    val_path: str | Path | None = None,
    val_percent: float = 20.0,
    test_percent: float = 0.0,
    min_per_class: int = 2,
    max_per_class: int = 0,
    seed: int = 0,
    progress: Progress | None = None,
    skipped: list[dict] | None = None,
    source: str = "",
) -> Dataset:
    """Read and prepare a class-folder tree into an unsaved Dataset (see ``import_folder``)."""
    top = Path(path)
    if not top.is_dir():
        raise LayerLabError(f"{top} is not a folder; give a folder holding one folder per class.")
    roots = (
        {"train": top, "val": Path(val_path)} if val_path else split_layout(descend_wrapper(top))
    )
    if val_path is not None and not Path(val_path).is_dir():
        raise LayerLabError(f"Validation folder {val_path} is not a folder.")
    base = Path(os.path.commonpath([top, *roots.values()]))
    skipped = [] if skipped is None else skipped
    trees = {split: scan_folder(root, base, skipped) for split, root in roots.items()}
    classes = sorted(trees["train"], key=natural_key)
    where = (source or top.name) if roots["train"] == top else roots["train"].name
    check_num_classes(classes, where, skipped)
    check_same_classes(classes, {s: t for s, t in trees.items() if s != "train"})
    jobs: dict[str, list[tuple[Path, int]]] = {}
    for split, tree in trees.items():
        cap_per_class(tree, max_per_class, seed)
        jobs[split] = [(p, classes.index(c)) for c in classes for p in tree[c]]
    all_jobs = [job for split_jobs in jobs.values() for job in split_jobs]
    _check_total(len(all_jobs), load_limits())
    images, labels, rows = _decode(all_jobs, settings, base, skipped, progress)
    arrays, start = {}, 0
    for split, split_jobs in jobs.items():
        kept = [r for r in rows[start : start + len(split_jobs)] if r >= 0]
        start += len(split_jobs)
        part = slice(kept[0], kept[-1] + 1) if kept else slice(0, 0)  # rows are contiguous
        arrays[split] = (images[part], labels[part])
        _check_counts(classes, labels[part], min_per_class if split == "train" else 1, split)
    splits = _make_splits(arrays, val_percent, test_percent, seed)
    return _dataset(name, classes, splits, settings.to_dict(), skipped, source or top.name)


def _check_total(count: int, limits: Limits) -> None:
    limit = min(limits.max_images_per_dataset, limits.max_files_per_import)
    if count > limit:
        raise LayerLabError(
            f"{count:,} images is more than this server allows in one dataset ({limit:,}); "
            "set a maximum number of images per class, or import fewer files."
        )


def _make_splits(arrays: dict, val_percent: float, test_percent: float, seed: int) -> dict:
    """Keep given val/test folders; carve the missing splits from train, stratified."""
    x, y = arrays["train"]
    if "val" in arrays:
        result = dict(arrays)
        if "test" not in arrays and test_percent:
            parts = stratified_split(x, y, test_percent, 0.0, seed)
            result["train"], result["test"] = parts["train"], parts["val"]
        return result
    result = stratified_split(x, y, val_percent, 0.0 if "test" in arrays else test_percent, seed)
    if "test" in arrays:
        result["test"] = arrays["test"]
    return result


def _dataset(
    name: str, classes: list[str], splits: dict, settings: dict, skipped: list[dict], source: str
) -> Dataset:
    listed = skipped[:MAX_SKIPPED_LISTED]
    if len(skipped) > MAX_SKIPPED_LISTED:
        listed.append({"file": "...", "reason": f"and {len(skipped) - len(listed)} more"})
    arrays = {
        f"{a}_{split}": v for split, pair in splits.items() for a, v in zip("xy", pair, strict=True)
    }
    manifest = {"title": name, "source": source, "settings": settings, "skipped": listed}
    manifest.update(builtin=False, owner="")
    return Dataset(name=name, classes=classes, manifest=manifest, **arrays)


def _check_target(name: str, owner: str) -> None:
    """Refuse names of built-ins and of datasets another person owns."""
    check_name(name, "dataset name")
    existing = read_manifest(name)
    if name in BUILTINS or (existing and existing.get("builtin")):
        raise LayerLabError(f"{name!r} is the name of a built-in dataset; choose another name.")
    if existing is not None and existing.get("owner", "") != owner:
        raise LayerLabError(f"A dataset named {name!r} already exists; choose another name.")


def _save(dataset: Dataset, owner: str) -> Dataset:
    dataset.manifest["owner"] = owner
    save_dataset(dataset)
    return load_prepared(dataset.name)


def import_folder(
    path: str | Path, name: str, settings: PrepSettings, *, owner: str = "", **options: Any
) -> Dataset:
    """Import one sub-folder of images per class (searched recursively), or ``train/`` with
    ``val/`` or ``validation/`` and/or ``test/`` folders of them, and save it as ``name``.

    ``options`` are those of ``dataset_from_folder``: ``val_path``, ``val_percent``,
    ``test_percent``, ``min_per_class``, ``max_per_class`` (0: no cap), ``seed`` (missing splits
    are carved from train, stratified) and ``progress(done, total, message)``.
    """
    _check_target(name, owner)
    return _save(dataset_from_folder(path, name, settings, **options), owner)


def dataset_from_zip(
    source: bytes | str | Path, name: str, settings: PrepSettings, **options: Any
) -> Dataset:
    """Unpack a ZIP safely and prepare it into an unsaved Dataset (see ``import_zip``)."""
    limits = load_limits()
    label = "uploaded ZIP" if isinstance(source, bytes) else Path(source).name
    with open_zip(source, limits) as archive, scratch() as root:
        skipped = extract_zip(archive, root, limits)
        return dataset_from_folder(root, name, settings, skipped=skipped, source=label, **options)


def import_zip(
    source: bytes | str | Path, name: str, settings: PrepSettings, **options: Any
) -> Dataset:
    """Import a ZIP of class folders (optionally inside one wrapper folder, optionally split
    into train/ val|validation/ test/); same options as ``import_folder``."""
    owner = options.pop("owner", "")
    _check_target(name, owner)
    return _save(dataset_from_zip(source, name, settings, **options), owner)


def import_files(
    files: list[tuple[str, bytes]], name: str, settings: PrepSettings, **options: Any
) -> Dataset:
    """Import a browser folder upload: ``(relative path, bytes)`` pairs; options as
    ``import_folder``."""
    owner = options.pop("owner", "")
    _check_target(name, owner)
    with scratch() as root:
        skipped = write_files(files, root, load_limits())
        opts = dict(options, skipped=skipped, source="folder upload")
        return _save(dataset_from_folder(root, name, settings, **opts), owner)


def import_npz(
    source: bytes | str | Path,
    name: str,
    *,
    settings: PrepSettings | None = None,
    val_percent: float = 20.0,
    owner: str = "",
    classes: list[str] | None = None,
) -> Dataset:
    """Import Keras-layout arrays (x_train, y_train[, x_test, y_test]); ``settings`` resizes
    or recolours every image with ``prepare_image``, else they are kept as they are."""
    _check_target(name, owner)
    arrays = read_npz(source)
    if settings is not None:
        for key in ("x_train", "x_test"):
            if key in arrays:
                images = clean_images(arrays[key], key)
                arrays[key] = np.stack([prepare_image(image, settings) for image in images])
    x_test, y_test = arrays.get("x_test"), arrays.get("y_test")
    dataset = dataset_from_arrays(
        name, arrays["x_train"], arrays["y_train"], x_test, y_test, classes, val_percent=val_percent
    )
    label = "uploaded .npz" if isinstance(source, bytes) else Path(source).name
    dataset.manifest.update(title=name, source=label, builtin=False)
    if settings is not None:
        dataset.manifest["settings"] = settings.to_dict()
    return _save(dataset, owner)
