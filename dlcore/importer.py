"""Turning a learner's images into a prepared dataset: a folder, a ZIP, a browser folder upload
or a Keras-style ``.npz``.

One sub-folder per class (DIGITS' layout), or ``train/`` with ``val/`` or ``validation/`` and/or
``test/`` each holding class folders. Bad files are skipped and listed in
``manifest["skipped"]``; the import fails only when too little is left to train on. ZIPs and
uploads are unpacked into a scratch directory that is always removed, refusing paths that
escape it, symlinks and ZIP bombs.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from dlcore import LayerLabError
from dlcore.builtin import BUILTINS, clean_images, dataset_from_arrays
from dlcore.dataset import Dataset, load_prepared, read_manifest, save_dataset, stratified_split
from dlcore.images import ImageError, PrepSettings, prepare_image
from dlcore.limits import Limits, load_limits
from dlcore.storage import check_name, is_inside, scratch_dir

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"}
IGNORED_NAMES = {"__MACOSX", "Thumbs.db", "desktop.ini"}  # and every hidden (.name) file
SPLIT_NAMES = {"train": "train", "val": "val", "validation": "val", "test": "test"}
MAX_SKIPPED_LISTED = 200
BOMB_RATIO, BOMB_MIN_BYTES = 200, 10 * 1024 * 1024
MB = 1024 * 1024

Progress = Callable[[int, int, str], None]


def _natural_key(text: str) -> list:
    """Sort "2" before "10", as people expect of class folders."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


def _is_ignored(name: str) -> bool:
    return name.startswith(".") or name in IGNORED_NAMES


def _scan_class(folder: Path, top: Path, skipped: list[dict]) -> list[Path]:
    """Image files under one class folder, searched recursively, in a stable order."""
    found = []
    for current, dirs, files in os.walk(folder):
        dirs[:] = sorted((d for d in dirs if not _is_ignored(d)), key=_natural_key)
        for name in sorted((f for f in files if not _is_ignored(f)), key=_natural_key):
            path = Path(current) / name
            if path.suffix.lower() in IMAGE_EXTENSIONS:
                found.append(path)
            else:
                skipped.append(_skip(path, top, "not an image file (by its extension); ignored"))
    return found


def _skip(path: Path, top: Path, reason: str) -> dict:
    return {"file": os.path.relpath(path, top), "reason": reason}


def _scan_folder(root: Path, top: Path, skipped: list[dict]) -> dict[str, list[Path]]:
    """``{class name: image paths}`` for each non-empty class sub-folder of ``root``."""
    classes = {}
    for entry in sorted(root.iterdir(), key=lambda p: _natural_key(p.name)):
        if _is_ignored(entry.name):
            continue
        if not entry.is_dir():
            skipped.append(_skip(entry, top, "not inside a class folder; ignored"))
        elif files := _scan_class(entry, top, skipped):
            classes[entry.name] = files
        else:
            skipped.append(_skip(entry, top, "empty class folder (no images); ignored"))
    return classes


def _cap(tree: dict[str, list[Path]], max_per_class: int, seed: int) -> None:
    """Keep at most ``max_per_class`` images per class, the same ones every time."""
    rng = np.random.default_rng(seed)
    for name, files in tree.items():
        if 0 < max_per_class < len(files):
            keep = np.sort(rng.choice(len(files), size=max_per_class, replace=False))
            tree[name] = [files[i] for i in keep]


def _split_layout(root: Path) -> dict[str, Path]:
    """``{"train": ..., "val": ..., "test": ...}`` folders when ``root`` holds ``train/`` and
    ``val/`` (or ``validation/``) and/or ``test/``; otherwise ``{"train": root}``."""
    dirs = [p for p in root.iterdir() if p.is_dir() and not _is_ignored(p.name)]
    names = {SPLIT_NAMES.get(p.name.lower()): p for p in dirs}
    if "train" in names and None not in names and len(names) == len(dirs) >= 2:
        return names  # type: ignore[return-value]
    return {"train": root}


def _descend_wrapper(root: Path) -> Path:
    """Step into a lone top-level folder (a ZIP of "photos/" that holds the class folders)."""
    for _ in range(8):
        entries = [p for p in root.iterdir() if not _is_ignored(p.name)]
        if len(entries) != 1 or not entries[0].is_dir():
            break
        root = entries[0]
    return root


def _check_same_classes(classes: list[str], trees: dict[str, dict]) -> None:
    for split, tree in trees.items():
        only_train = sorted(set(classes) - set(tree))
        only_here = sorted(set(tree) - set(classes))
        if only_train or only_here:
            raise LayerLabError(
                f"The {split} folder's classes differ from the training folder's: only in train "
                f"{only_train}, only in {split} {only_here}. Use the same class folder names "
                "(each with images) in both."
            )


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
                skipped.append(_skip(path, top, result))
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
        {"train": top, "val": Path(val_path)} if val_path else _split_layout(_descend_wrapper(top))
    )
    if val_path is not None and not Path(val_path).is_dir():
        raise LayerLabError(f"Validation folder {val_path} is not a folder.")
    base = Path(os.path.commonpath([top, *roots.values()]))
    skipped = [] if skipped is None else skipped
    trees = {split: _scan_folder(root, base, skipped) for split, root in roots.items()}
    classes = sorted(trees["train"], key=_natural_key)
    if len(classes) < 2:
        raise LayerLabError(
            f"Found {len(classes)} class folder(s) with images {classes} in {roots['train'].name}; "
            "a classifier needs at least 2: put one sub-folder of images per class."
        )
    _check_same_classes(classes, {s: t for s, t in trees.items() if s != "train"})
    jobs: dict[str, list[tuple[Path, int]]] = {}
    for split, tree in trees.items():
        _cap(tree, max_per_class, seed)
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
    path: str | Path,
    name: str,
    settings: PrepSettings,
    *,
    val_path: str | Path | None = None,
    val_percent: float = 20.0,
    test_percent: float = 0.0,
    min_per_class: int = 2,
    max_per_class: int = 0,
    owner: str = "",
    seed: int = 0,
    progress: Progress | None = None,
) -> Dataset:
    """Import one sub-folder of images per class (searched recursively), or ``train/`` with
    ``val/`` or ``validation/`` and/or ``test/`` folders of them, and save it as ``name``.

    Missing splits are carved from train, stratified by ``seed``; ``max_per_class`` caps each
    class (0: no cap); ``progress(done, total, message)`` is called as images are decoded.
    """
    _check_target(name, owner)
    dataset = dataset_from_folder(
        path,
        name,
        settings,
        val_path=val_path,
        val_percent=val_percent,
        test_percent=test_percent,
        min_per_class=min_per_class,
        max_per_class=max_per_class,
        seed=seed,
        progress=progress,
    )
    return _save(dataset, owner)


@contextlib.contextmanager
def _scratch() -> Iterator[Path]:
    """A private temporary folder under the scratch dir, removed whatever happens."""
    folder = Path(tempfile.mkdtemp(dir=scratch_dir(), prefix="import-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _safe_member(name: str) -> PurePosixPath | str:
    """The relative path to write a ZIP or upload member to, or why it is refused."""
    text = name.replace("\\", "/")
    if text.startswith("/") or re.match(r"^[A-Za-z]:", text):
        return "absolute path; ignored for safety"
    parts = [part for part in text.split("/") if part not in ("", ".")]
    if ".." in parts:
        return "path climbs out of the folder ('..'); ignored for safety"
    return PurePosixPath(*parts) if parts else "empty name; ignored"


def _write_member(root: Path, name: str, chunks: Iterable[bytes], budget: int) -> int:
    """Write one file inside ``root``; returns bytes written, refusing past ``budget``."""
    dest = root / name
    if not is_inside(dest, root):
        raise LayerLabError(f"{name} would be written outside the import folder.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with open(dest, "xb") as handle:
        for chunk in chunks:
            written += len(chunk)
            if written > budget:
                raise LayerLabError(
                    "The files unpack to more than this server's limit "
                    f"({load_limits().max_unpacked_mb} MB); upload fewer or smaller images."
                )
            handle.write(chunk)
    return written


def _check_upload(source: bytes | str | Path, what: str, limits: Limits) -> None:
    if not isinstance(source, bytes) and not Path(source).is_file():
        raise LayerLabError(f"{source} is not a file; give the path of the {what}.")
    size = len(source) if isinstance(source, bytes) else Path(source).stat().st_size
    if size > limits.max_upload_mb * MB:
        raise LayerLabError(
            f"The {what} is {size / MB:,.0f} MB; the limit is {limits.max_upload_mb} MB."
        )


def _open_zip(source: bytes | str | Path, limits: Limits, what: str = "ZIP") -> zipfile.ZipFile:
    _check_upload(source, what, limits)
    try:
        archive = zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)
    except (zipfile.BadZipFile, OSError) as error:
        raise LayerLabError(
            f"This file is not a readable {what} ({error}); re-create it."
        ) from None
    infos = archive.infolist()
    declared = sum(info.file_size for info in infos)
    bomb = any(
        i.file_size > BOMB_MIN_BYTES and i.file_size > BOMB_RATIO * max(i.compress_size, 1)
        for i in infos
    )
    if len(infos) > limits.max_files_per_import or declared > limits.max_unpacked_mb * MB or bomb:
        archive.close()
        raise LayerLabError(
            f"{what} refused: {len(infos):,} entries unpacking to {declared / MB:,.0f} MB"
            f"{' with a suspicious compression ratio (a ZIP bomb)' if bomb else ''}; the limits "
            f"are {limits.max_files_per_import:,} entries and {limits.max_unpacked_mb:,} MB."
        )
    return archive


def _member_problem(info: zipfile.ZipInfo) -> str | None:
    if stat.S_ISLNK(info.external_attr >> 16):
        return "symbolic link; ignored for safety"
    if info.flag_bits & 0x1:
        return "password-protected; ignored"
    return None


def _extract_zip(archive: zipfile.ZipFile, root: Path, limits: Limits) -> list[dict]:
    """Unpack the safe members; return the refused ones as skipped entries."""
    skipped, budget = [], limits.max_unpacked_mb * MB
    for info in archive.infolist():
        target = _safe_member(info.filename)
        problem = target if isinstance(target, str) else _member_problem(info)
        if problem:
            skipped.append({"file": info.filename, "reason": problem})
        elif not info.is_dir() and not any(_is_ignored(part) for part in target.parts):
            try:
                with archive.open(info) as member:
                    chunks = iter(lambda m=member: m.read(MB), b"")
                    budget -= _write_member(root, str(target), chunks, budget)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as error:
                skipped.append({"file": info.filename, "reason": f"damaged in the ZIP ({error})"})
            except (FileExistsError, NotADirectoryError, IsADirectoryError):
                skipped.append({"file": info.filename, "reason": "duplicate path; ignored"})
    return skipped


def dataset_from_zip(
    source: bytes | str | Path, name: str, settings: PrepSettings, **options: Any
) -> Dataset:
    """Unpack a ZIP safely and prepare it into an unsaved Dataset (see ``import_zip``)."""
    limits = load_limits()
    label = "uploaded ZIP" if isinstance(source, bytes) else Path(source).name
    with _open_zip(source, limits) as archive, _scratch() as root:
        skipped = _extract_zip(archive, root, limits)
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
    limits = load_limits()
    total = sum(len(data) for _, data in files)
    if len(files) > limits.max_files_per_import or total > limits.max_unpacked_mb * MB:
        raise LayerLabError(
            f"{len(files):,} files of {total / MB:,.0f} MB is more than the limits "
            f"({limits.max_files_per_import:,} files, {limits.max_unpacked_mb:,} MB)."
        )
    with _scratch() as root:
        skipped = []
        for relative, data in files:
            target = _safe_member(relative)
            if isinstance(target, str):
                skipped.append({"file": relative, "reason": target})
            elif not any(_is_ignored(part) for part in target.parts):
                try:
                    _write_member(root, str(target), [data], total)
                except (FileExistsError, NotADirectoryError, IsADirectoryError):
                    skipped.append({"file": relative, "reason": "duplicate path; ignored"})
        opts = dict(options, skipped=skipped, source="folder upload")
        return _save(dataset_from_folder(root, name, settings, **opts), owner)


def _read_npz(source: bytes | str | Path) -> dict[str, np.ndarray]:
    limits = load_limits()
    _check_upload(source, ".npz file", limits)
    head = source[:6] if isinstance(source, bytes) else Path(source).read_bytes()[:6]
    if head == b"\x93NUMPY":
        raise LayerLabError("This is a single .npy array; save x_train, y_train with np.savez.")
    _open_zip(source, limits, ".npz file").close()  # an .npz is a ZIP: same size limits
    try:
        with np.load(io.BytesIO(source) if isinstance(source, bytes) else source) as loaded:
            arrays = {key: loaded[key] for key in loaded.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise LayerLabError(f"Cannot read this .npz ({error}); save it with np.savez.") from None
    if not {"x_train", "y_train"} <= set(arrays):
        raise LayerLabError(
            f"The .npz holds {sorted(arrays)}; expected x_train and y_train (and optionally "
            "x_test, y_test), as keras.datasets returns them."
        )
    return arrays


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
    arrays = _read_npz(source)
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
