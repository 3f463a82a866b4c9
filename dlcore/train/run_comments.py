"""A run's comment: its owner's note (the class table's "comments"), plain text on one line,
stored in the run's ``comment.txt`` (``dlcore.train.runs.COMMENT``). Who may change it is
``jobs.comment``'s business; a comment that cannot be read never fails a page."""

from __future__ import annotations

from dlcore.storage import atomic_write_bytes, disk_full_as_error
from dlcore.text import plain
from dlcore.train.runs import COMMENT, RunNotFound, run_path

MAX_COMMENT = 500  # characters of a run's comment: a note in a table, not an essay


def clean_comment(text: object) -> str:
    """A comment as stored and shown: plain text on one line (``dlcore.text.plain``), spaces
    collapsed, at most ``MAX_COMMENT`` characters."""
    return " ".join(plain("" if text is None else text).split())[:MAX_COMMENT].strip()


def write_comment(run_id: str, text: object) -> str:
    """Replace the run's comment (atomically) and return it as stored; an empty comment
    removes the file. Who may do this is ``jobs.comment``'s business."""
    path = run_path(run_id) / COMMENT
    comment = clean_comment(text)
    with disk_full_as_error("saving the comment"):
        if comment:
            atomic_write_bytes(path, comment.encode())
        else:
            path.unlink(missing_ok=True)
    return comment


def read_comment(run_id: str) -> str:
    """The run's comment; "" when it has none, its file is damaged (not UTF-8, unreadable) or
    the run is gone (deleted while a table was listing it): a note never fails a page."""
    try:
        with open(run_path(run_id) / COMMENT, "rb") as handle:
            data = handle.read(MAX_COMMENT * 4)  # a file grown by hand is cut, not read whole
        return clean_comment(data.decode())
    except (OSError, UnicodeDecodeError, RunNotFound):  # FileNotFoundError is an OSError
        return ""
