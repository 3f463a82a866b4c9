"""Turning a learner's images into a prepared dataset: a folder, a ZIP or a browser folder
upload (``dlcore.data.npz_import``: a Keras-style ``.npz``).

``dlcore.data.folders`` reads the class-folder layouts; ``dlcore.data.unpack`` unpacks ZIPs,
uploads and ``.npz`` files safely into a scratch folder that is always removed. Bad files are
skipped and listed in ``manifest["skipped"]``; the import fails only when too little is left to
train on.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from dlcore import LayerLabError
from dlcore.data.dataset import SPLITS, Dataset, RowFile, load_prepared, save_rows, stratified_split
from dlcore.data.folders import (
    IMAGE_EXTENSIONS,
    cap_per_class,
    check_num_classes,
    check_same_classes,
    descend_wrapper,
    is_inside,
    natural_key,
    scan_folder,
    split_layout,
)
from dlcore.data.image_pool import Progress, prepare_rows
from dlcore.data.images import PrepSettings, check_image_side
from dlcore.data.ownership import InUse, one_writer, owner_fields
from dlcore.data.unpack import MB, extract_zip, open_zip, scratch, stream_size, write_streams
from dlcore.limits import Limits, load_limits
from dlcore.storage import data_home, dir_size

MAX_SKIPPED_LISTED = 200
OUTSIDE_FOLDER = "leads outside the server's data folder; choose a folder inside it."


def _check_counts(classes: list[str], labels: np.ndarray, minimum: int, split: str) -> None:
    counts = np.bincount(labels, minlength=len(classes))
    short = {name: int(n) for name, n in zip(classes, counts, strict=True) if n < minimum}
    if short:
        raise LayerLabError(
            f"In {split}, class(es) {short} have fewer than {minimum} usable image(s); add "
            "images to those folders or remove them."
        )


def _prepare_folder(
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
    root: Path | None = None,
    manifest: dict | None = None,
    inside: Path | None = None,
) -> None:
    """Read a class-folder tree, prepare it image by image and save it as ``name`` (under
    ``root``, default the datasets folder). Counts, classes, memory and disk are checked before
    any image is decoded. ``inside``: the real folder a server folder lies in; links that lead
    out of it are skipped."""
    top = Path(path)
    if not top.is_dir():
        raise LayerLabError(f"{top} is not a folder; give a folder holding one folder per class.")
    roots = (
        {"train": top, "val": Path(val_path)} if val_path else split_layout(descend_wrapper(top))
    )
    if val_path is not None and not Path(val_path).is_dir():
        raise LayerLabError(f"Validation folder {val_path} is not a folder.")
    for split, folder in roots.items():
        if inside is not None and not is_inside(folder, inside):
            raise LayerLabError(f"The {split} folder {folder.name} {OUTSIDE_FOLDER}")
    base = Path(os.path.commonpath([top, *roots.values()]))
    skipped = [] if skipped is None else skipped
    trees = {split: scan_folder(folder, base, skipped, inside) for split, folder in roots.items()}
    classes = sorted(trees["train"], key=natural_key)
    where = (source or top.name) if roots["train"] == top else roots["train"].name
    check_num_classes(classes, where, skipped)
    check_same_classes(classes, {s: t for s, t in trees.items() if s != "train"})
    jobs: dict[str, list[tuple[Path, int]]] = {}
    for split, tree in trees.items():
        cap_per_class(tree, max_per_class, seed)
        jobs[split] = [(p, classes.index(c)) for c in classes for p in tree[c]]
    all_jobs = [job for split_jobs in jobs.values() for job in split_jobs]
    shape = (settings.height, settings.width, settings.channels)
    check_budget(len(all_jobs), shape, load_limits())
    with scratch() as work:
        rows = RowFile(work / "images.u8", shape)
        try:
            labels, rows_of_jobs = prepare_rows(all_jobs, settings, base, skipped, progress, rows)
            arrays, start, kept = {}, 0, 0
            for split, split_jobs in jobs.items():
                found = [r for r in rows_of_jobs[start : start + len(split_jobs)] if r >= 0]
                start += len(split_jobs)
                y = np.asarray(labels[kept : kept + len(found)], dtype=np.int32)
                kept += len(found)
                arrays[split] = (np.asarray(found, dtype=np.int64), y)
                _check_counts(classes, y, min_per_class if split == "train" else 1, split)
            splits = _make_splits(arrays, val_percent, test_percent, seed)
            info = source_manifest(name, settings.to_dict(), skipped, source or top.name)
            save_rows(name, classes, {**info, **(manifest or {})}, rows, splits, root)
        finally:
            rows.close()


def check_budget(
    count: int, shape: tuple[int, int, int], limits: Limits, unpacked_bytes: int = 0
) -> None:
    """Refuse, before anything is decoded or allocated, an import of ``count`` images of
    ``shape`` (H, W, C) that is too many images, too much prepared data or too much disk
    (``unpacked_bytes``: what a ZIP or an upload writes to scratch first). The upload limits
    (files, bytes) bind ZIPs and uploads where they are unpacked, not folders on the server."""
    limit = limits.max_images_per_dataset
    if count > limit:
        raise LayerLabError(
            f"{count:,} images is more than this server allows in one dataset ({limit:,}); "
            "set a maximum number of images per class, import fewer files, or ask the "
            "instructor to raise max_images_per_dataset."
        )
    size = count * int(np.prod(shape))
    if size > limits.max_import_mb * MB:
        raise LayerLabError(
            f"{count:,} images of {shape[1]}x{shape[0]}x{shape[2]} make {size / MB:,.0f} MB of "
            f"prepared data, more than this server's limit of {limits.max_import_mb:,} MB per "
            "import; choose a smaller width and height, grayscale, or fewer images per class."
        )
    used = dir_size(data_home())
    needed = 2 * size + unpacked_bytes  # unpacked files + staging copy + the dataset itself
    if used + needed > limits.max_disk_gb * 1e9:
        raise LayerLabError(
            f"The lab's data directory uses {used / 1e9:.1f} GB and this import needs "
            f"{needed / 1e9:.2f} GB more, over the limit of {limits.max_disk_gb} GB; delete "
            "datasets or runs you no longer need, or ask the instructor for more space."
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


def source_manifest(name: str, settings: dict, skipped: list[dict], source: str) -> dict:
    """The manifest fields every import writes: title, source, settings and skipped files."""
    listed = skipped[:MAX_SKIPPED_LISTED]
    if len(skipped) > MAX_SKIPPED_LISTED:
        listed.append({"file": "...", "reason": f"and {len(skipped) - len(listed)} more"})
    return {"title": name, "source": source, "settings": settings, "skipped": listed}


def dataset_from_folder(path: str | Path, name: str, settings: PrepSettings, **options) -> Dataset:
    """Read and prepare a class-folder tree into an unsaved, in-memory Dataset (a built-in's
    images); options as ``import_folder``."""
    with scratch() as root:
        _prepare_folder(path, name, settings, root=root, **options)
        dataset = load_prepared(name, root)
        for split in SPLITS:
            if dataset.split(split) is not None:
                setattr(dataset, f"x_{split}", np.array(getattr(dataset, f"x_{split}")))
        return dataset


def import_folder(
    path: str | Path,
    name: str,
    settings: PrepSettings,
    *,
    owner: str = "",
    owner_label: str = "",
    in_use: InUse | None = None,
    replace: bool = False,
    **options: Any,
) -> Dataset:
    """Import one sub-folder of images per class (searched recursively), or ``train/`` with
    ``val/`` or ``validation/`` and/or ``test/`` folders of them, and save it as ``name``.

    ``options``: ``val_path``, ``val_percent``, ``test_percent``, ``min_per_class``,
    ``max_per_class`` (0: no cap), ``seed`` (missing splits are carved from train, stratified)
    and ``progress(done, total, message)``. ``owner`` is the attendee id (``""``: shared);
    ``in_use`` names the runs that used ``name`` (pages and the CLI pass
    ``dlcore.train.usage.runs_using``), which refuse the import; one's own dataset of that name is
    replaced only with ``replace``. A folder is bound by the dataset limits, not the upload
    ones (``dlcore.data.server_folders`` adds the roots that attendees may read)."""
    check_image_side(settings.width, settings.height)
    with one_writer(name, owner, in_use, replace):
        extra = owner_fields(owner, owner_label)
        _prepare_folder(path, name, settings, manifest=extra, **options)
    return load_prepared(name)


def dataset_from_zip(
    source: bytes | str | Path, name: str, settings: PrepSettings, **options: Any
) -> Dataset:
    """Unpack a ZIP safely and prepare it into an unsaved, in-memory Dataset."""
    with _unpacked_zip(source, settings) as (root, skipped, label):
        return dataset_from_folder(root, name, settings, skipped=skipped, source=label, **options)


@contextlib.contextmanager
def _unpacked_zip(source, settings: PrepSettings) -> Iterator[tuple[Path, list[dict], str]]:
    limits = load_limits()
    label = "uploaded ZIP" if isinstance(source, bytes) else Path(source).name
    with open_zip(source, limits) as archive, scratch() as root:
        # the member count bounds the images: refuse before writing a single file
        members = archive.infolist()
        images = sum(Path(i.filename).suffix.lower() in IMAGE_EXTENSIONS for i in members)
        unpacked = sum(i.file_size for i in members)
        shape = (settings.height, settings.width, settings.channels)
        check_budget(images, shape, limits, unpacked)
        yield root, extract_zip(archive, root, limits), label


def import_zip(
    source: bytes | str | Path,
    name: str,
    settings: PrepSettings,
    *,
    owner: str = "",
    owner_label: str = "",
    in_use: InUse | None = None,
    replace: bool = False,
    **options: Any,
) -> Dataset:
    """Import a ZIP of class folders (optionally inside one wrapper folder, optionally split
    into train/ val|validation/ test/); same options as ``import_folder``."""
    check_image_side(settings.width, settings.height)
    with (
        one_writer(name, owner, in_use, replace),
        _unpacked_zip(source, settings) as (root, skipped, label),
    ):
        extra = owner_fields(owner, owner_label)
        opts = dict(options, skipped=skipped, source=label, manifest=extra)
        _prepare_folder(root, name, settings, **opts)
    return load_prepared(name)


def import_files(
    files: Sequence[tuple[str, bytes | BinaryIO]],
    name: str,
    settings: PrepSettings,
    *,
    owner: str = "",
    owner_label: str = "",
    in_use: InUse | None = None,
    replace: bool = False,
    **options: Any,
) -> Dataset:
    """Import a browser folder upload: ``(relative path, bytes or file-like)`` pairs, streamed
    to a scratch folder (at most ``max_upload_mb`` in all); options as ``import_folder``."""
    check_image_side(settings.width, settings.height)
    streams = [(p, io.BytesIO(f) if isinstance(f, bytes) else f) for p, f in files]
    with one_writer(name, owner, in_use, replace), scratch() as root:
        limits = load_limits()
        images = sum(Path(p).suffix.lower() in IMAGE_EXTENSIONS for p, _ in streams)
        unpacked = sum(stream_size(f) for _, f in streams)
        shape = (settings.height, settings.width, settings.channels)
        check_budget(images, shape, limits, unpacked)
        skipped = write_streams(streams, root, limits)
        extra = owner_fields(owner, owner_label)
        opts = dict(options, skipped=skipped, source="folder upload", manifest=extra)
        _prepare_folder(root, name, settings, **opts)
    return load_prepared(name)
