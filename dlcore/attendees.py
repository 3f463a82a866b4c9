"""Who is who: attendee keys, display labels, and the instructor code.

Each browser gets a secret, unguessable key (kept in its URL). The key never leaves the browser's
session: what the server stores as the owner of a run or a dataset is the attendee id, a one-way
hash of the key. The typed name is only a display label, so two people typing the same name are
two attendees, and knowing someone's name (or their id, from a file) does not make you them.

The instructor code unlocks acting on other people's work. A placeholder, empty or short code
never unlocks, and wrong guesses are rate limited per attendee and for the whole server (a file
under the data directory, so new browser sessions and other server threads cannot reset it);
the server-wide pause never refuses the right code.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from pathlib import Path

from dlcore import LayerLabError
from dlcore.storage import atomic_write_json, disk_full_as_error, file_lock, read_json, subdir
from dlcore.text import plain

KEY_BYTES = 24  # 192 bits of randomness; token_urlsafe writes them as 32 characters
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{32,128}\Z")
ID_PATTERN = re.compile(r"^a-[0-9a-f]{20}\Z")
MAX_LABEL = 64

MIN_CODE_LENGTH = 8
PLACEHOLDER_CODES = frozenset(
    {
        "changeme", "password", "passw0rd", "instructor", "instructorcode", "secret", "1234",
        "12345", "123456", "1234567", "12345678", "123456789", "admin", "letmein", "qwerty",
        "layerlab", "example", "default", "code", "test", "teacher", "yourcode", "placeholder",
    }
)  # fmt: skip
MAX_WRONG_PER_ATTENDEE = 5
MAX_WRONG_ON_SERVER = 10  # all attendees together: new browser sessions do not start afresh
FIRST_PAUSE_S = {"attendee": 30.0, "server": 60.0}  # doubled at every further lockout
MAX_PAUSE_S = 3600.0
FORGET_AFTER_S = 24 * 3600.0
MAX_RECORDS = 5000


def new_key() -> str:
    """A fresh secret attendee key for a browser (192 random bits, URL-safe)."""
    return secrets.token_urlsafe(KEY_BYTES)


def valid_key(text: object) -> bool:
    """True when ``text`` has the shape of a key from ``new_key`` (anything else is ignored)."""
    return isinstance(text, str) and bool(KEY_PATTERN.match(text))


def attendee_id(key: str) -> str:
    """The owner id recorded on runs and datasets: a one-way hash of the secret key, so the id
    read from a file (or a listing) cannot be turned back into the key."""
    if not valid_key(key):
        raise LayerLabError("That attendee key is not valid; open LayerLab again to get a new one.")
    digest = hashlib.sha256(b"layerlab-attendee\0" + key.encode()).hexdigest()
    return "a-" + digest[:20]


def is_attendee_id(text: object) -> bool:
    return isinstance(text, str) and bool(ID_PATTERN.match(text))


def clean_label(name: object) -> str:
    """A display name: control and bidi characters removed, whitespace collapsed, at most 64
    characters. Only ever shown (as plain text), never used to decide who may do what."""
    return " ".join(plain(name or "").split())[:MAX_LABEL].strip()


INSTRUCTOR_LABEL, ANONYMOUS_LABEL = "instructor", "anonymous"


def owner_label(record: dict) -> str:
    """The one name shown for the owner of a run status or dataset manifest: its label, else
    "instructor" for things without an owner (made by the instructor or the CLI), else
    "anonymous" for an attendee who typed no name; never the owner id. Older records kept the
    typed name as the owner."""
    label = clean_label(record.get("owner_label") or "")
    owner = str(record.get("owner") or "")
    if label:
        return label
    if not owner:
        return INSTRUCTOR_LABEL
    return (not is_attendee_id(owner) and clean_label(owner)) or ANONYMOUS_LABEL


def _profile(attendee: str) -> Path:
    if not is_attendee_id(attendee):
        raise LayerLabError(f"{attendee!r} is not an attendee id.")
    return subdir("attendees") / f"{attendee}.json"


def save_label(attendee: str, label: str) -> str:
    """Remember the attendee's display label (so a reload of their URL finds it); return it."""
    label = clean_label(label)
    with disk_full_as_error("saving your name"):
        atomic_write_json(_profile(attendee), {"label": label})
    return label


def read_label(attendee: str) -> str:
    """The label saved for this attendee id, "" when none (or the file is damaged)."""
    try:
        data = read_json(_profile(attendee), default={})
    except (LayerLabError, OSError):
        return ""
    return clean_label(data.get("label", "")) if isinstance(data, dict) else ""


def may_change(owner: str, actor: str, instructor: bool = False) -> bool:
    """May ``actor`` cancel or delete something owned by ``owner``? Its owner and the
    instructor may; things without an owner (the instructor's) only the instructor."""
    return instructor or (bool(owner) and owner == actor)


def may_see(owner: str, viewer: str, instructor: bool = False) -> bool:
    """May ``viewer`` see a private thing (an imported dataset's images, classes, models)?
    Shared things (no owner) are open to everyone."""
    return instructor or not owner or (is_attendee_id(viewer) and owner == viewer)


# The instructor code --------------------------------------------------------------------------


class InstructorLocked(LayerLabError):
    """Too many wrong instructor codes: wait before trying again."""


def code_problem(code: str) -> str:
    """Why a configured instructor code cannot unlock anything ("" when it can)."""
    code = str(code or "")
    normalised = re.sub(r"[^a-z0-9]", "", code.lower())
    if not code.strip():
        return "instructor mode is off: no instructor code is configured."
    if normalised in PLACEHOLDER_CODES or "changeme" in normalised:
        return (
            "instructor mode is off: the configured code is a placeholder; set a real one in "
            ".streamlit/secrets.toml (instructor_code)."
        )
    if len(code) < MIN_CODE_LENGTH:
        return (
            f"instructor mode is off: the configured code is shorter than {MIN_CODE_LENGTH} "
            "characters; set a longer one in .streamlit/secrets.toml (instructor_code)."
        )
    return ""


def code_matches(given: str, expected: str) -> bool:
    """Constant-time comparison; a placeholder, empty or short configured code never matches."""
    if code_problem(expected):
        return False
    return hmac.compare_digest(str(given).encode(), str(expected).encode())


def format_wait(seconds: float) -> str:
    seconds = max(1, int(seconds + 0.999))
    if seconds < 120:
        return f"{seconds} s"
    return f"{(seconds + 59) // 60} min"


def _pause(record: dict, now: float) -> float:
    return max(0.0, float(record.get("locked_until", 0.0)) - now)


def _record_wrong(record: dict, now: float, limit: int, first_pause: float) -> None:
    record["wrong"] = int(record.get("wrong", 0)) + 1
    record["last"] = now
    if record["wrong"] >= limit:
        lockouts = int(record.get("lockouts", 0))
        record["locked_until"] = now + min(MAX_PAUSE_S, first_pause * 2**lockouts)
        record["lockouts"], record["wrong"] = lockouts + 1, 0


def _clean_record(record: object) -> dict | None:
    """A record with numbers where numbers belong, or None (a damaged one is never trusted)."""
    if not isinstance(record, dict):
        return None
    try:
        return {
            "wrong": int(record.get("wrong", 0)),
            "lockouts": int(record.get("lockouts", 0)),
            "last": float(record.get("last", 0.0)),
            "locked_until": float(record.get("locked_until", 0.0)),
        }
    except (TypeError, ValueError, OverflowError):
        return None


def _read_book(path: Path, now: float) -> dict:
    book = read_json(path, default={})
    records = {}
    for name, record in (book if isinstance(book, dict) else {}).items():
        record = _clean_record(record)
        if record is None or (now - record["last"] > FORGET_AFTER_S and _pause(record, now) == 0):
            continue
        records[name] = record
    newest = sorted(records, key=lambda n: records[n]["last"], reverse=True)
    return {name: records[name] for name in newest[:MAX_RECORDS]}


def try_instructor_code(given: str, expected: str, attendee: str, now: float | None = None) -> None:
    """Check a typed instructor code; return when it unlocks instructor mode.

    Raises a LayerLabError that says what to do when the configured code cannot be used or
    the code is wrong (how many tries are left), and ``InstructorLocked`` while this browser
    is paused for its wrong codes: then even the right code waits, for this browser only.
    Wrong codes from everyone together pause the server: while it is paused, one wrong code
    locks its browser out at once (so new browser sessions buy one guess each, and each lock
    doubles), but the right code still unlocks: nobody can lock the instructor out. ``now``:
    for tests."""
    problem = code_problem(expected)
    if problem:
        raise LayerLabError(problem[0].upper() + problem[1:])
    now = time.time() if now is None else float(now)
    path = subdir("attendees") / "instructor-guesses.json"
    with file_lock("instructor-guesses"), disk_full_as_error("checking the instructor code"):
        book = _read_book(path, now)
        mine, server = book.setdefault(f"id:{attendee}", {}), book.setdefault("server", {})
        wait = _pause(mine, now)
        if wait > 0:
            raise InstructorLocked(
                f"Too many wrong instructor codes: wait {format_wait(wait)} and try again."
            )
        if code_matches(given, expected):
            book.pop(f"id:{attendee}", None)
            atomic_write_json(path, book)
            return
        if _pause(server, now) > 0:  # a paused server gives each browser one wrong guess
            mine["wrong"] = max(int(mine.get("wrong", 0)), MAX_WRONG_PER_ATTENDEE - 1)
        _record_wrong(mine, now, MAX_WRONG_PER_ATTENDEE, FIRST_PAUSE_S["attendee"])
        _record_wrong(server, now, MAX_WRONG_ON_SERVER, FIRST_PAUSE_S["server"])
        atomic_write_json(path, book)
    wait = _pause(mine, now) or _pause(server, now)
    if wait > 0:
        raise InstructorLocked(
            f"That is not the instructor code. Too many wrong codes: wait {format_wait(wait)} "
            "before the next try."
        )
    left = min(
        MAX_WRONG_PER_ATTENDEE - int(mine.get("wrong", 0)),
        MAX_WRONG_ON_SERVER - int(server.get("wrong", 0)),
    )
    raise LayerLabError(f"That is not the instructor code ({left} more tries before a pause).")
