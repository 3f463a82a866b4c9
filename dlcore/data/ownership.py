"""Who may open, change and write a dataset name: the one door that pages, jobs, the CLI and
every import ask. Imports by attendees stay private to them; built-ins and imports by the
instructor are shared; one writer at a time holds a name, and a name runs trained on stays
taken.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Callable, Iterator

from dlcore import LayerLabError, attendees
from dlcore.attendees import clean_label
from dlcore.data.builtin import BUILTINS
from dlcore.data.dataset import read_manifest
from dlcore.storage import NAME_PATTERN, check_name, subdir


class PrivateDataset(LayerLabError):
    """An attendee asked for another attendee's imported dataset. ``owner_label`` is the name
    the owner typed (a display label); the owner's id is never put in the message."""

    def __init__(self, message: str, owner: str, owner_label: str = "") -> None:
        super().__init__(message)
        self.owner = owner
        self.owner_label = owner_label


def _manifest_of(name: object) -> dict | None:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        return None
    manifest = read_manifest(name)
    return manifest if isinstance(manifest, dict) else None


def dataset_owner(name: str) -> str | None:
    """The attendee id that owns the prepared dataset ``name``: "" for a shared one (a
    built-in, an import by the instructor or the CLI), None when none of that name is on disk."""
    manifest = _manifest_of(name)
    return None if manifest is None else str(manifest.get("owner") or "")


def is_shared(name: str) -> bool:
    """True when everyone may open the dataset ``name``: a built-in (prepared or not) or an
    import without an owner."""
    owner = dataset_owner(name)
    if owner is None:
        return name in BUILTINS
    return not owner


def check_access(name: str, viewer: str, instructor: bool = False) -> None:
    """Refuse (PrivateDataset) to open another attendee's imported dataset: the images people
    upload stay theirs. Shared datasets are open to everyone, and the instructor opens every
    dataset. Unknown names pass: loading them reports the problem."""
    manifest = _manifest_of(name) or {}
    holder = str(manifest.get("owner") or "")
    if attendees.may_see(holder, viewer, instructor):
        return
    label = attendees.owner_label(manifest)
    raise PrivateDataset(
        f"The dataset {name!r} belongs to {label}: the images people upload stay private. "
        "Choose a built-in dataset or import your own on the Data page.",
        owner=holder,
        owner_label=label,
    )


def may_change_dataset(name: str, actor: str, instructor: bool = False) -> bool:
    """May ``actor`` delete the dataset ``name``? The instructor may delete any; an attendee
    only an import of their own, never a built-in."""
    manifest = _manifest_of(name)
    if manifest is None or instructor:
        return manifest is not None
    owner = str(manifest.get("owner") or "")
    return not manifest.get("builtin") and attendees.may_change(owner, actor)


InUse = Callable[[str], list[str]]  # dataset name -> ids of the runs that trained on it


@contextlib.contextmanager
def one_writer(
    name: str, owner: str | None = None, in_use: InUse | None = None, replace: bool = True
) -> Iterator[None]:
    """Hold the writer lock of dataset ``name`` from the ownership check (when ``owner`` is
    given) to the save or delete: a second import of the same name at the same time is refused
    at once, never interleaved. ``in_use`` (``dlcore.train.usage.runs_using``: the data layer never
    reads runs) names the runs that trained on ``name``; any refuses the import. Without
    ``replace``, an existing dataset of that name is refused too (``DatasetExists``)."""
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
                check_target(name, owner, in_use, replace)
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class DatasetExists(LayerLabError):
    """An import would replace a dataset of the same name that nobody agreed to replace."""


def check_target(
    name: str, owner: str, in_use: InUse | None = None, replace: bool = False
) -> dict | None:
    """Refuse names of built-ins, of datasets another person owns, of datasets that runs
    trained on, even deleted ones (new images would appear under those runs), and, without
    ``replace``, of one's own existing dataset. Returns the manifest of the dataset an import
    would replace (None for a new name): pages ask before replacing it."""
    check_name(name, "dataset name")
    existing = read_manifest(name)
    if name in BUILTINS or (existing and existing.get("builtin")):
        raise LayerLabError(f"{name!r} is the name of a built-in dataset; choose another name.")
    if existing is not None and existing.get("owner", "") != owner:
        raise LayerLabError(f"A dataset named {name!r} already exists; choose another name.")
    used = in_use(name) if in_use is not None else []
    if used:
        shown = ", ".join(used[:3]) + (f" and {len(used) - 3} more" if len(used) > 3 else "")
        raise LayerLabError(
            f"Run(s) {shown} trained on a dataset named {name!r}: importing under that name "
            "would change the data under them. Choose a new dataset name, or delete those "
            "runs first."
        )
    if existing is not None and not replace:
        raise DatasetExists(
            f"You already have a dataset named {name!r} ({existing.get('num_images', 0):,} "
            "images); importing would replace it. Choose another name, or confirm the "
            'replacement (the Data page\'s "Replace it" box, or dlcore import --replace).'
        )
    return existing


def owner_fields(owner: str, owner_label: str) -> dict:
    """The manifest fields of an import: not a built-in, its owner id and display label."""
    return {"builtin": False, "owner": owner, "owner_label": clean_label(owner_label)}
