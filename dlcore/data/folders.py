"""Finding the classes in a folder tree: one sub-folder of images per class (DIGITS' layout),
or ``train/`` with ``val/`` (or ``validation/``) and/or ``test/`` folders that each hold them.

Hidden files and the litter of macOS and Windows are ignored; files that are not images by their
extension, loose files and empty class folders are listed as skipped, with the reason.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from dlcore import LayerLabError
from dlcore.data.unpack import is_ignored
from dlcore.limits import load_limits

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"}
IMAGE_TYPES = sorted(ext.lstrip(".") for ext in IMAGE_EXTENSIONS)  # for upload boxes
SPLIT_NAMES = {"train": "train", "val": "val", "validation": "val", "test": "test"}
LOOSE = "not inside a class folder; ignored"
OUTSIDE = "a link that leads outside the server's data folder; ignored for safety"
LINKED_FOLDER = "a link to a folder inside a class folder; not followed (move the images in)"
NOT_IMAGE = f"not an image extension ({', '.join(sorted(IMAGE_EXTENSIONS))}); ignored"
_HEIC = "HEIC/HEIF (iPhone photo) is not supported; convert it to JPEG to use it"
_TIFF = "TIFF is not imported; convert it to PNG or JPEG to use it"
CONVERT = {".heic": _HEIC, ".heif": _HEIC, ".tif": _TIFF, ".tiff": _TIFF}


def natural_key(text: str) -> list:
    """Sort "2" before "10", as people expect of class folders."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


def is_inside(path: str | Path, root: Path) -> bool:
    """Whether ``path``'s real location (links followed) lies inside the real folder ``root``."""
    real, base = os.path.realpath(path), str(root).rstrip(os.sep)
    return real == base or real.startswith(base + os.sep)


def _scan_class(
    folder: Path, top: Path, skipped: list[dict], inside: Path | None, found: list[Path]
) -> list[Path]:
    """Image files under one class folder, searched recursively (links to folders are not
    followed), in a stable order: a folder's files, then its sub-folders'. With ``inside``,
    links that lead out of that folder are skipped."""
    try:
        with os.scandir(folder) as scan:
            entries = sorted((e for e in scan if not is_ignored(e.name)), key=_entry_key)
    except OSError as error:
        skipped.append(skip_entry(folder, top, f"cannot be read ({error.strerror}); ignored"))
        return found
    subfolders = []
    for entry in entries:
        if entry.is_symlink() and inside is not None and not is_inside(entry.path, inside):
            skipped.append(skip_entry(Path(entry.path), top, OUTSIDE))
        elif entry.is_dir(follow_symlinks=False):
            subfolders.append(Path(entry.path))
        elif entry.is_dir():
            skipped.append(skip_entry(Path(entry.path), top, LINKED_FOLDER))
        elif os.path.splitext(entry.name)[1].lower() in IMAGE_EXTENSIONS:
            found.append(Path(entry.path))
        else:
            reason = CONVERT.get(os.path.splitext(entry.name)[1].lower(), NOT_IMAGE)
            skipped.append(skip_entry(Path(entry.path), top, reason))
    for subfolder in subfolders:
        _scan_class(subfolder, top, skipped, inside, found)
    return found


def _entry_key(entry: os.DirEntry) -> list:
    return natural_key(entry.name)


def skip_entry(path: Path, top: Path, reason: str) -> dict:
    """A ``manifest["skipped"]`` entry: the file relative to the import's top folder, and why."""
    return {"file": os.path.relpath(path, top), "reason": reason}


def scan_folder(
    root: Path, top: Path, skipped: list[dict], inside: Path | None = None
) -> dict[str, list[Path]]:
    """``{class name: image paths}`` for each non-empty class sub-folder of ``root``; with
    ``inside`` (a server folder's root), links that lead out of it are skipped."""
    classes = {}
    for entry in sorted(root.iterdir(), key=lambda p: natural_key(p.name)):
        if is_ignored(entry.name):
            continue
        if inside is not None and entry.is_symlink() and not is_inside(entry, inside):
            skipped.append(skip_entry(entry, top, OUTSIDE))
        elif not entry.is_dir():
            skipped.append(skip_entry(entry, top, LOOSE))
        elif files := _scan_class(entry, top, skipped, inside, []):
            classes[entry.name] = files
        else:
            skipped.append(skip_entry(entry, top, "empty class folder (no images); ignored"))
    return classes


def cap_per_class(tree: dict[str, list[Path]], max_per_class: int, seed: int) -> None:
    """Keep at most ``max_per_class`` images per class, the same ones every time."""
    rng = np.random.default_rng(seed)
    for name, files in tree.items():
        if 0 < max_per_class < len(files):
            keep = np.sort(rng.choice(len(files), size=max_per_class, replace=False))
            tree[name] = [files[i] for i in keep]


def split_layout(root: Path) -> dict[str, Path]:
    """``{"train": ..., "val": ..., "test": ...}`` folders when ``root`` holds ``train/`` and
    ``val/`` (or ``validation/``) and/or ``test/``; otherwise ``{"train": root}``."""
    dirs = [p for p in root.iterdir() if p.is_dir() and not is_ignored(p.name)]
    names = {SPLIT_NAMES.get(p.name.lower()): p for p in dirs}
    if "train" in names and None not in names and len(names) == len(dirs) >= 2:
        return names  # type: ignore[return-value]
    return {"train": root}


def descend_wrapper(root: Path) -> Path:
    """Step into a lone top-level folder (a ZIP of "photos/" that holds the class folders)."""
    for _ in range(8):
        entries = [p for p in root.iterdir() if not is_ignored(p.name)]
        if len(entries) != 1 or not entries[0].is_dir():
            break
        if not any(p.is_dir() and not is_ignored(p.name) for p in entries[0].iterdir()):
            break  # a lone folder of images is one class, not a wrapper
        root = entries[0]
    return root


def check_num_classes(
    classes: list[str], where: str, skipped: list[dict], maximum: int | None = None
) -> None:
    """Refuse fewer than 2 classes, saying what was found where, and more than ``maximum``
    (default: the server's ``max_classes_per_import``, the one cap of every import path)."""
    maximum = load_limits().max_classes_per_import if maximum is None else maximum
    if len(classes) > maximum:
        raise LayerLabError(
            f"Found {len(classes):,} classes in {where}; this server allows at most {maximum:,} "
            "classes per import. Merge or remove class folders (or labels), or ask the "
            "instructor to raise max_classes_per_import."
        )
    if len(classes) >= 2:
        return
    found = f"only one class folder ({classes[0]})" if classes else "no class folder with images"
    loose = sum(entry["reason"] == LOOSE for entry in skipped)
    extra = f" and {loose} file(s) outside any class folder" if loose else ""
    raise LayerLabError(
        f"Found {found} in {where}{extra}; a classifier needs at least 2 classes: put the "
        "images of each class in its own sub-folder (for example cat/ and dog/)."
    )


def check_same_classes(classes: list[str], trees: dict[str, dict]) -> None:
    """Refuse a val or test folder whose class folders differ from train's."""
    for split, tree in trees.items():
        only_train = sorted(set(classes) - set(tree))
        only_here = sorted(set(tree) - set(classes))
        if only_train or only_here:
            raise LayerLabError(
                f"The {split} folder's classes differ from the training folder's: only in train "
                f"{only_train}, only in {split} {only_here}. Use the same class folder names "
                "(each with images) in both."
            )
