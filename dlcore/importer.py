"""Turning a learner's images into a prepared dataset: a folder, a ZIP, a browser folder upload
or a Keras-style ``.npz``.

``dlcore.folders`` reads the class-folder layouts; ``dlcore.unpack`` unpacks ZIPs, uploads and
``.npz`` files safely into a scratch folder that is always removed. Bad files are skipped and
listed in ``manifest["skipped"]``; the import fails only when too little is left to train on.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from dlcore import LayerLabError
from dlcore.builtin import BUILTINS, clean_images, clean_labels, runs_using
from dlcore.dataset import (
    SPLITS,
    Dataset,
    RowFile,
    load_prepared,
    read_manifest,
    save_rows,
    stratified_split,
)
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
from dlcore.storage import check_name, data_home, dir_size, subdir
from dlcore.text import plain as plain_label
from dlcore.unpack import BOMB_MIN_BYTES as BOMB_MIN_BYTES
from dlcore.unpack import BOMB_RATIO as BOMB_RATIO
from dlcore.unpack import IGNORED_NAMES as IGNORED_NAMES
from dlcore.unpack import MB as MB
from dlcore.unpack import extract_zip, npz_shapes, open_zip, read_npz, scratch, write_files

MAX_SKIPPED_LISTED = 200
BATCH = 64  # images decoded per round of the thread pool: bounds the prepared images in memory

Progress = Callable[[int, int, str], None]


def _decode(
    jobs: list[tuple[Path, int]],
    settings: PrepSettings,
    top: Path,
    skipped: list[dict],
    progress: Progress | None,
    rows: RowFile,
) -> tuple[list[int], list[int]]:
    """Prepare every image, in threads (decoding and resizing release the GIL), appending each
    to ``rows``; a few batches in flight, so memory holds a handful of images, not the set.
    Returns the labels of the kept images and, per job, its row (-1 when the file was bad)."""
    labels, rows_of_jobs, step = [], [], max(1, len(jobs) // 100)

    def work(path: Path) -> np.ndarray | str:
        try:
            return prepare_image(path, settings)
        except ImageError as error:
            return str(error)

    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        for first in range(0, len(jobs), BATCH):
            batch = jobs[first : first + BATCH]
            results = pool.map(work, [path for path, _ in batch])
            for done, ((path, label), result) in enumerate(
                zip(batch, results, strict=True), start=first + 1
            ):
                if isinstance(result, str):
                    skipped.append(skip_entry(path, top, result))
                    rows_of_jobs.append(-1)
                else:
                    rows_of_jobs.append(rows.append(result))
                    labels.append(label)
                if progress is not None and (done % step == 0 or done == len(jobs)):
                    progress(done, len(jobs), f"Prepared {done} of {len(jobs)} images")
    return labels, rows_of_jobs


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
) -> None:
    """Read a class-folder tree, prepare it image by image and save it as ``name`` (under
    ``root``, default the datasets folder). Counts, classes, memory and disk are checked before
    any image is decoded."""
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
    shape = (settings.height, settings.width, settings.channels)
    check_budget(len(all_jobs), shape, load_limits())
    with scratch() as work:
        rows = RowFile(work / "images.u8", shape)
        try:
            labels, rows_of_jobs = _decode(all_jobs, settings, base, skipped, progress, rows)
            arrays, start, kept = {}, 0, 0
            for split, split_jobs in jobs.items():
                found = [r for r in rows_of_jobs[start : start + len(split_jobs)] if r >= 0]
                start += len(split_jobs)
                y = np.asarray(labels[kept : kept + len(found)], dtype=np.int32)
                kept += len(found)
                arrays[split] = (np.asarray(found, dtype=np.int64), y)
                _check_counts(classes, y, min_per_class if split == "train" else 1, split)
            splits = _make_splits(arrays, val_percent, test_percent, seed)
            info = _manifest(name, settings.to_dict(), skipped, source or top.name)
            save_rows(name, classes, {**info, **(manifest or {})}, rows, splits, root)
        finally:
            rows.close()


def check_budget(count: int, shape: tuple[int, int, int], limits: Limits) -> None:
    """Refuse, before anything is decoded or allocated, an import of ``count`` images of
    ``shape`` (H, W, C) that is too many images, too much prepared data or too much disk."""
    limit = min(limits.max_images_per_dataset, limits.max_files_per_import)
    if count > limit:
        raise LayerLabError(
            f"{count:,} images is more than this server allows in one dataset ({limit:,}); "
            "set a maximum number of images per class, or import fewer files."
        )
    size = count * int(np.prod(shape))
    if size > limits.max_import_mb * MB:
        raise LayerLabError(
            f"{count:,} images of {shape[1]}x{shape[0]}x{shape[2]} make {size / MB:,.0f} MB of "
            f"prepared data, more than this server's limit of {limits.max_import_mb:,} MB per "
            "import; choose a smaller width and height, grayscale, or fewer images per class."
        )
    used = dir_size(data_home())
    if used + 2 * size > limits.max_disk_gb * 1e9:  # staging copy + the dataset itself
        raise LayerLabError(
            f"The lab's data directory uses {used / 1e9:.1f} GB and this import needs "
            f"{2 * size / 1e9:.2f} GB more, over the limit of {limits.max_disk_gb} GB; delete "
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


def _manifest(name: str, settings: dict, skipped: list[dict], source: str) -> dict:
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


@contextlib.contextmanager
def one_writer(name: str, owner: str | None = None) -> Iterator[None]:
    """Hold the writer lock of dataset ``name`` from the ownership check (when ``owner`` is
    given) to the save or delete: a second import of the same name at the same time is refused
    at once, never interleaved."""
    check_name(name, "dataset name")
    with open(subdir("locks") / f"dataset-{name}.lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LayerLabError(
                f"Someone is importing or deleting a dataset named {name!r} right now; choose "
                "another name, or wait a minute and try again."
            ) from None
        try:
            if owner is not None:
                _check_target(name, owner)
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _check_target(name: str, owner: str) -> None:
    """Refuse names of built-ins, of datasets another person owns, and of datasets that runs
    were trained on (re-importing would change the data under them)."""
    existing = read_manifest(name)
    if name in BUILTINS or (existing and existing.get("builtin")):
        raise LayerLabError(f"{name!r} is the name of a built-in dataset; choose another name.")
    if existing is None:
        return
    if existing.get("owner", "") != owner:
        raise LayerLabError(f"A dataset named {name!r} already exists; choose another name.")
    used = runs_using(name)
    if used:
        shown = ", ".join(used[:3]) + (f" and {len(used) - 3} more" if len(used) > 3 else "")
        raise LayerLabError(
            f"Run(s) {shown} trained on the dataset {name!r}: importing it again would change "
            "the data under them. Choose a new dataset name, or delete those runs first."
        )


def _imported(name: str, owner: str, owner_label: str) -> dict:
    return {"builtin": False, "owner": owner, "owner_label": plain_label(owner_label)}


def import_folder(
    path: str | Path,
    name: str,
    settings: PrepSettings,
    *,
    owner: str = "",
    owner_label: str = "",
    **options: Any,
) -> Dataset:
    """Import one sub-folder of images per class (searched recursively), or ``train/`` with
    ``val/`` or ``validation/`` and/or ``test/`` folders of them, and save it as ``name``.

    ``options``: ``val_path``, ``val_percent``, ``test_percent``, ``min_per_class``,
    ``max_per_class`` (0: no cap), ``seed`` (missing splits are carved from train, stratified)
    and ``progress(done, total, message)``. ``owner`` is the attendee id (``""``: shared)."""
    with one_writer(name, owner):
        extra = _imported(name, owner, owner_label)
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
        check_budget(images, (settings.height, settings.width, settings.channels), limits)
        yield root, extract_zip(archive, root, limits), label


def import_zip(
    source: bytes | str | Path,
    name: str,
    settings: PrepSettings,
    *,
    owner: str = "",
    owner_label: str = "",
    **options: Any,
) -> Dataset:
    """Import a ZIP of class folders (optionally inside one wrapper folder, optionally split
    into train/ val|validation/ test/); same options as ``import_folder``."""
    with one_writer(name, owner), _unpacked_zip(source, settings) as (root, skipped, label):
        extra = _imported(name, owner, owner_label)
        opts = dict(options, skipped=skipped, source=label, manifest=extra)
        _prepare_folder(root, name, settings, **opts)
    return load_prepared(name)


def import_files(
    files: list[tuple[str, bytes]],
    name: str,
    settings: PrepSettings,
    *,
    owner: str = "",
    owner_label: str = "",
    **options: Any,
) -> Dataset:
    """Import a browser folder upload: ``(relative path, bytes)`` pairs; options as
    ``import_folder``."""
    with one_writer(name, owner), scratch() as root:
        limits = load_limits()
        images = sum(Path(p).suffix.lower() in IMAGE_EXTENSIONS for p, _ in files)
        check_budget(images, (settings.height, settings.width, settings.channels), limits)
        skipped = write_files(files, root, limits)
        extra = _imported(name, owner, owner_label)
        opts = dict(options, skipped=skipped, source="folder upload", manifest=extra)
        _prepare_folder(root, name, settings, **opts)
    return load_prepared(name)


def import_npz(
    source: bytes | str | Path,
    name: str,
    *,
    settings: PrepSettings | None = None,
    val_percent: float = 20.0,
    owner: str = "",
    owner_label: str = "",
    classes: list[str] | None = None,
) -> Dataset:
    """Import Keras-layout arrays (x_train, y_train[, x_test, y_test]); ``settings`` resizes
    or recolours every image with ``prepare_image``, else they are kept as they are. The count
    and size are checked from the arrays' headers before any image is loaded or resized."""
    with one_writer(name, owner):
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
        extra = _imported(name, owner, owner_label)
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
            manifest = {**_manifest(name, prep, [], source), **extra, "digits": False}
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
