"""Folders on the server's own disk that attendees may import from (the Data page's "Folder on
this server"), as DIGITS attendees type ``/data/mnist/train``.

Only folders inside the roots the instructor names (``data_roots`` in ``limits.toml``) are ever
read, and none when no root is named: a path is resolved (symbolic links followed) and refused
unless the real folder lies inside a real root; ``..`` is refused outright. The importer skips
links inside the folder that lead out of the root (``dlcore.data.folders``). The CLI is the
instructor's: ``dlcore import PATH`` takes any folder and does not come through here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from dlcore import LayerLabError
from dlcore.data import importer
from dlcore.data.dataset import Dataset
from dlcore.data.folders import IMAGE_EXTENSIONS, is_inside, natural_key
from dlcore.data.images import PrepSettings
from dlcore.data.unpack import is_ignored
from dlcore.limits import Limits, load_limits

MAX_LISTED = 500  # folders offered for picking; deeper or further ones can be typed
LIST_DEPTH = 3  # levels below a root offered (data/mnist/train)
NO_ROOTS = (
    "No folder on this server is open for imports. The instructor can name some in limits.toml "
    'in the LayerLab data folder, for example data_roots = ["/data"], and put the class folders '
    "there."
)


@dataclass(frozen=True)
class ServerFolder:
    """A folder on the server, resolved: its real path and the real root it lies in."""

    path: Path
    root: Path
    shown: str  # the path as the person gave it, for messages and the manifest's source


def _roots(limits: Limits | None) -> tuple[str, ...]:
    roots = (limits or load_limits()).data_roots
    if not roots:
        raise LayerLabError(NO_ROOTS)
    return roots


def resolve_folder(
    path: str, root: str | None = None, limits: Limits | None = None
) -> ServerFolder:
    """The folder ``path`` names (absolute, or relative to ``root``, one of ``data_roots``),
    refused unless its real path lies inside a configured root and it is a folder."""
    roots = _roots(limits)
    text = str(path).strip()
    if any(ord(char) < 32 for char in text):
        raise LayerLabError("The folder's path holds control characters; type it again.")
    if ".." in PurePath(text.replace("\\", "/")).parts:
        raise LayerLabError(
            f"{text!r} climbs out of a folder ('..'), which is not allowed: give the folder's "
            f"path inside {' or '.join(roots)}."
        )
    if root is not None and root not in roots:
        raise LayerLabError(
            f"{root} is not one of the folders this server shares for imports ({', '.join(roots)})."
        )
    if os.path.isabs(text):
        candidate = text
    elif root is not None or len(roots) == 1:
        candidate = os.path.join(root or roots[0], text)
    else:
        raise LayerLabError(
            f"{text!r} is not a full path: start it with one of {', '.join(roots)}."
        )
    real = os.path.realpath(candidate)
    home = next((r for r in map(os.path.realpath, roots) if is_inside(real, Path(r))), None)
    if home is None:
        link = " (through a symbolic link)" if real != os.path.abspath(candidate) else ""
        raise LayerLabError(
            f"{text or candidate} leads outside{link} the folders this server shares for imports "
            f"({', '.join(roots)}); choose a folder inside them, or ask the instructor to copy "
            "the images there."
        )
    if not os.path.isdir(real):
        raise LayerLabError(
            f"{text or candidate} is not a folder on this server; check the spelling, or pick "
            "one of the listed folders."
        )
    return ServerFolder(Path(real), Path(home), text or candidate)


def list_folders(root: str, limits: Limits | None = None) -> list[str]:
    """Folders inside ``root`` (one of ``data_roots``), up to ``LIST_DEPTH`` levels deep and
    ``MAX_LISTED`` in all, as paths relative to it; links that lead out of it are left out."""
    top = resolve_folder(root, root, limits)
    found: list[str] = []
    level = [top.path]
    for _ in range(LIST_DEPTH):
        level = [sub for folder in level for sub in _subfolders(folder, top.root)]
        found += [os.path.relpath(sub, top.path) for sub in level]
        if len(found) >= MAX_LISTED:
            break
    found.sort(key=lambda p: [natural_key(part) for part in Path(p).parts])
    return found[:MAX_LISTED]


def _subfolders(folder: Path, root: Path) -> list[Path]:
    """The visible sub-folders of ``folder`` whose real path stays inside ``root``."""
    try:
        with os.scandir(folder) as entries:
            dirs = [e for e in entries if not is_ignored(e.name) and e.is_dir()]
    except OSError:
        return []  # unreadable: not offered (typing it says why)
    inside = [e for e in dirs if not e.is_symlink() or is_inside(e.path, root)]
    return [Path(e.path) for e in sorted(inside, key=lambda e: natural_key(e.name))]


def peek(folder: ServerFolder) -> tuple[list[str], Path | None]:
    """What the page shows before an import: the names of ``folder``'s sub-folders (its
    classes, or train/ and val/) and one image from the first of them (two levels deep)."""
    subs = _subfolders(folder.path, folder.root)
    for first in subs[:1]:
        for place in (first, *_subfolders(first, folder.root)[:1]):
            sample = _first_image(place, folder.root)
            if sample is not None:
                return [sub.name for sub in subs], sample
    return [sub.name for sub in subs], None


def _first_image(folder: Path, root: Path) -> Path | None:
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                image = os.path.splitext(entry.name)[1].lower() in IMAGE_EXTENSIONS
                if image and not is_ignored(entry.name) and entry.is_file():
                    if not entry.is_symlink() or is_inside(entry.path, root):
                        return Path(entry.path)
    except OSError:
        return None
    return None


def import_server_folder(
    path: str,
    name: str,
    settings: PrepSettings,
    *,
    root: str | None = None,
    val_path: str | None = None,
    **options: Any,
) -> Dataset:
    """Import the class folders of a folder on this server (``path`` absolute, or relative to
    ``root``, one of ``data_roots``), with an optional separate validation folder; bound by the
    dataset limits (images, prepared MB, disk, classes, each image's decode) but not by the
    upload limits, which bind what a browser sends. Other options as ``import_folder``."""
    folder = resolve_folder(path, root)
    val = resolve_folder(val_path, root) if val_path else None
    if val is not None and val.root != folder.root:
        raise LayerLabError(
            f"The validation folder {val.shown} is in another data folder than the training "
            f"folder {folder.shown}; choose both inside {folder.root}."
        )
    return importer.import_folder(
        folder.path,
        name,
        settings,
        val_path=None if val is None else val.path,
        inside=folder.root,
        source=folder.shown,
        **options,
    )
