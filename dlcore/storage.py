"""Where LayerLab keeps its files, and how it writes them so a crash never leaves half a file.

Everything lives under one data directory (``LAYERLAB_HOME``, default a per-user data dir):
``datasets/`` (prepared datasets), ``runs/`` (one directory per training job), ``cache/``
(downloads) and ``scratch/`` (per-session uploads). Writers create a temporary sibling and
rename it into place: rename is atomic on POSIX, so readers see the old file or the new one.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dlcore import LayerLabError

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}\Z")  # \Z: "$" would allow a final "\n"
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})


def data_home_path() -> Path:
    """Where the data directory is (``$LAYERLAB_HOME`` or ``~/.local/share/layerlab``),
    without creating it."""
    env = os.environ.get("LAYERLAB_HOME")
    if env:
        return Path(env).expanduser().resolve()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return (Path(base) / "layerlab").resolve()


def data_home() -> Path:
    """The root of all LayerLab files, created on first use."""
    root = data_home_path()
    root.mkdir(parents=True, exist_ok=True)
    return root


def subdir(name: str) -> Path:
    path = data_home() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def datasets_dir() -> Path:
    return subdir("datasets")


def runs_dir() -> Path:
    return subdir("runs")


def cache_dir() -> Path:
    return subdir("cache")


def scratch_dir() -> Path:
    return subdir("scratch")


def check_name(name: str, what: str = "name") -> str:
    """Return ``name`` if it is a safe file name (lowercase letters, digits, - and _)."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        text = str(name)
        shown = repr(name) if len(text) <= 60 else f"{text[:40]!r}... ({len(text)} characters)"
        raise LayerLabError(
            f"The {what} {shown} cannot be used: use 1-48 lowercase letters, digits, '-' or '_', "
            "starting with a letter or digit (for example 'my-photos')."
        )
    return name


def slugify(text: str) -> str:
    """Turn free text (a file or folder name) into a safe dataset name."""
    slug = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-_")
    return slug[:48] or "dataset"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_json(path: Path, payload: Any) -> None:
    atomic_write_bytes(path, json.dumps(payload, indent=2, sort_keys=True).encode())


def read_json(path: Path, default: Any = None) -> Any:
    """Read a JSON file; ``default`` if it is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return default


@contextlib.contextmanager
def staged_dir(final: Path) -> Iterator[Path]:
    """Build a directory under a temporary name and rename it to ``final`` only on success.

    On any error the partial directory is removed, so no half-written dataset or run is ever
    visible under its real name; a full disk raises a LayerLabError that says what to do.
    """
    final = Path(final)
    doing = f"writing {final.parent.name}/{final.name}"
    with disk_full_as_error(doing):
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".partial"))
    try:
        with disk_full_as_error(doing):
            yield tmp
            with file_lock(f"swap-{final.parent.name}-{final.name}"):
                # an existing version steps aside first: a directory cannot replace a full one
                old = final.parent / f".{final.name}.{uuid.uuid4().hex[:8]}.old"
                if final.exists():
                    os.replace(final, old)
                os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def file_lock(name: str) -> Iterator[None]:
    """Hold the exclusive lock ``name`` across processes (an flock on ``locks/<name>.lock``);
    the kernel releases it if the holder dies. Locks of different names never wait for each
    other."""
    with open(subdir("locks") / f"{name}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def disk_full_as_error(doing: str) -> Iterator[None]:
    """Turn "no space left on device" and "disk quota exceeded" into a LayerLabError that
    says what to do; other errors pass through unchanged."""
    try:
        yield
    except OSError as error:
        if error.errno not in DISK_FULL_ERRNOS:
            raise
        raise LayerLabError(disk_full_message(doing, error.strerror)) from None


def disk_full_message(doing: str, reason: str | None = None) -> str:
    """What to tell a person whose disk (or disk quota) filled up while ``doing`` something."""
    return (
        f"The disk is full while {doing} ({reason or 'no space left on device'}); free space "
        "(delete runs or datasets you no longer need) or ask the instructor to raise the disk "
        "space or quota."
    )


def sweep_scratch(max_age_hours: float = 6.0) -> int:
    """Remove scratch entries older than ``max_age_hours`` (left by a server that crashed in
    the middle of an import); return how many were removed. Imports in progress are younger."""
    cutoff = time.time() - max_age_hours * 3600
    removed = 0
    for entry in scratch_dir().iterdir():
        try:
            if entry.lstat().st_mtime >= cutoff:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except OSError:  # removed meanwhile, or not ours to remove: the next sweep retries
            continue
        removed += 1
    return removed


def dir_size(path: Path) -> int:
    """Total bytes of the files under ``path``."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def is_inside(path: Path, root: Path) -> bool:
    """True when ``path`` resolves to a place inside ``root``."""
    try:
        Path(path).resolve().relative_to(Path(root).resolve())
    except ValueError:
        return False
    return True
