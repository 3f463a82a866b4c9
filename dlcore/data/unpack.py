"""Unpacking uploads safely: ZIP archives and browser folder uploads (an ``.npz`` is a ZIP:
``dlcore.data.npz_import`` opens it with ``open_zip``).

Files are written only into a private scratch folder under the data directory, which is always
removed. Members whose path would escape it (``..``, absolute paths, symbolic links) are refused,
and so are ZIP bombs: too many entries, too many bytes, or a suspicious compression ratio, checked
before anything is written and again while writing. A full disk, or any other error of the file
system, becomes a LayerLabError that says what to do.
"""

from __future__ import annotations

import contextlib
import errno
import io
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from dlcore import LayerLabError
from dlcore.limits import Limits, load_limits
from dlcore.storage import DISK_FULL_ERRNOS, disk_full_as_error, is_inside, scratch_dir

IGNORED_NAMES = {"__MACOSX", "Thumbs.db", "desktop.ini"}  # and every hidden (.name) file
BOMB_RATIO, BOMB_MIN_BYTES = 200, 10 * 1024 * 1024
MB = 1024 * 1024
# Errors of one member's name (too long, bytes the file system refuses): skip that member only.
BAD_NAME_ERRNOS = {errno.ENAMETOOLONG, errno.EILSEQ, errno.EINVAL}
DUPLICATE_ERRORS = (FileExistsError, NotADirectoryError, IsADirectoryError)


def is_ignored(name: str) -> bool:
    """Hidden files and folders, and the litter of macOS and Windows (``__MACOSX``...)."""
    return name.startswith(".") or name in IGNORED_NAMES


def is_ignored_path(path: str) -> bool:
    """A relative path (``a/b/c.jpg``) inside an ignored folder, or an ignored file."""
    return any(is_ignored(part) for part in PurePosixPath(path).parts)


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    """A private temporary folder under the scratch dir, removed whatever happens."""
    with disk_full_as_error("unpacking the upload"):
        folder = Path(tempfile.mkdtemp(dir=scratch_dir(), prefix="import-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def safe_member(name: str) -> PurePosixPath | str:
    """The relative path to write a ZIP or upload member to, or why it is refused."""
    text = name.replace("\\", "/")
    if text.startswith("/") or re.match(r"^[A-Za-z]:", text):
        return "absolute path; ignored for safety"
    if any(ord(char) < 32 for char in text):
        return "control characters in the name; rename the file"
    parts = [part for part in text.split("/") if part not in ("", ".")]
    if ".." in parts:
        return "path climbs out of the folder ('..'); ignored for safety"
    return PurePosixPath(*parts) if parts else "empty name; ignored"


def write_member(root: Path, name: str, chunks: Iterable[bytes], budget: int) -> int:
    """Write one file inside ``root``; returns bytes written, refusing past ``budget``."""
    dest = root / name
    if not is_inside(dest, root):
        raise LayerLabError(f"{name} would be written outside the import folder.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with open(dest, "xb") as handle:
        try:
            for chunk in chunks:
                written += len(chunk)
                if written > budget:
                    raise LayerLabError(
                        "The files unpack to more than this server's limit "
                        f"({load_limits().max_unpacked_mb} MB); upload fewer or smaller images."
                    )
                handle.write(chunk)
        except BaseException:
            handle.close()
            dest.unlink(missing_ok=True)  # a damaged member leaves no half file to import
            raise
    return written


def _member_os_error(name: str, error: OSError) -> dict:
    """A skipped entry for a member the file system refused, or a LayerLabError to stop."""
    if isinstance(error, DUPLICATE_ERRORS):
        return {"file": name, "reason": "duplicate path; ignored"}
    if error.errno in BAD_NAME_ERRNOS:
        return {"file": name, "reason": "file name too long or not allowed; rename it shorter"}
    if error.errno in DISK_FULL_ERRNOS:
        raise error  # disk_full_as_error around the unpacking turns it into a clear message
    raise LayerLabError(
        f"Cannot unpack {name} ({error.strerror or error}); try again, or ask the instructor to "
        "check that the LayerLab data folder is writable."
    ) from None


def check_upload(source: bytes | str | Path, what: str, limits: Limits) -> None:
    """Refuse a missing file, or one larger than ``max_upload_mb``."""
    if not isinstance(source, bytes) and not Path(source).is_file():
        raise LayerLabError(f"{source} is not a file; give the path of the {what}.")
    size = len(source) if isinstance(source, bytes) else Path(source).stat().st_size
    if size > limits.max_upload_mb * MB:
        raise LayerLabError(
            f"The {what} is {size / MB:,.0f} MB; the limit is {limits.max_upload_mb} MB. Upload "
            "fewer or smaller images, or ask the instructor to raise the limit."
        )


def open_zip(source: bytes | str | Path, limits: Limits, what: str = "ZIP") -> zipfile.ZipFile:
    """Open a ZIP after checking its size, entry count, declared bytes and compression ratio."""
    check_upload(source, what, limits)
    try:
        archive = zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)
    except (zipfile.BadZipFile, OSError) as error:
        fix = "save it with np.savez" if what.endswith("npz file") else "upload a .zip file"
        raise LayerLabError(f"This file is not a readable {what} ({error}); {fix}.") from None
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
            f"are {limits.max_files_per_import:,} entries and {limits.max_unpacked_mb:,} MB. "
            "Upload fewer or smaller images, or ask the instructor to raise the limits."
        )
    return archive


def _member_problem(info: zipfile.ZipInfo) -> str | None:
    """Why a member is refused whatever its path (a symlink, encrypted), or None."""
    if stat.S_ISLNK(info.external_attr >> 16):
        return "symbolic link; ignored for safety"
    if info.flag_bits & 0x1:
        return "password-protected; ignored"
    return None


def extract_zip(archive: zipfile.ZipFile, root: Path, limits: Limits) -> list[dict]:
    """Unpack the safe members into ``root``; return the refused ones as skipped entries."""
    skipped, budget = [], limits.max_unpacked_mb * MB
    with disk_full_as_error("unpacking the ZIP"):
        for info in archive.infolist():
            target = safe_member(info.filename)
            problem = target if isinstance(target, str) else _member_problem(info)
            if problem:
                skipped.append({"file": info.filename, "reason": problem})
                continue
            if any(is_ignored(part) for part in target.parts):
                continue
            try:
                if info.is_dir():  # kept, so that an empty class folder is reported
                    (root / target).mkdir(parents=True, exist_ok=True)
                    continue
                with archive.open(info) as member:
                    chunks = iter(lambda m=member: m.read(MB), b"")
                    budget -= write_member(root, str(target), chunks, budget)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as error:
                reason = f"damaged in the ZIP ({error}); re-create the ZIP"
                skipped.append({"file": info.filename, "reason": reason})
            except OSError as error:
                skipped.append(_member_os_error(info.filename, error))
    return skipped


def stream_size(stream: BinaryIO) -> int:
    """The bytes a file-like upload holds, without reading it."""
    size = getattr(stream, "size", None)  # Streamlit's UploadedFile knows it
    if isinstance(size, int):
        return size
    here = stream.seek(0, io.SEEK_END)
    stream.seek(0)
    return here


def write_streams(files: Sequence[tuple[str, BinaryIO]], root: Path, limits: Limits) -> list[dict]:
    """Write a browser folder upload (``(relative path, file-like)`` pairs) into ``root``, 1 MB
    at a time: nothing is copied in memory. The upload counts as one upload: at most
    ``max_files_per_import`` files and ``max_upload_mb`` in all, like a ZIP."""
    total = sum(stream_size(stream) for _, stream in files)
    if len(files) > limits.max_files_per_import or total > limits.max_upload_mb * MB:
        raise LayerLabError(
            f"{len(files):,} files of {total / MB:,.0f} MB is more than the limits "
            f"({limits.max_files_per_import:,} files, {limits.max_upload_mb:,} MB per upload); "
            "upload fewer or smaller images, or ask the instructor to raise the limits."
        )
    skipped, budget = [], limits.max_upload_mb * MB
    with disk_full_as_error("writing the uploaded files"):
        for relative, stream in files:
            target = safe_member(relative)
            if isinstance(target, str):
                skipped.append({"file": relative, "reason": target})
            elif not any(is_ignored(part) for part in target.parts):
                stream.seek(0)
                chunks = iter(lambda s=stream: s.read(MB), b"")
                try:
                    budget -= write_member(root, str(target), chunks, budget)
                except OSError as error:
                    skipped.append(_member_os_error(relative, error))
    return skipped


def write_files(files: Sequence[tuple[str, bytes]], root: Path, limits: Limits) -> list[dict]:
    """``write_streams`` for ``(relative path, bytes)`` pairs."""
    return write_streams([(name, io.BytesIO(data)) for name, data in files], root, limits)
