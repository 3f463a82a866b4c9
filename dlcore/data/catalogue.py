"""Every dataset by name, built-in or imported: the one door that pages, jobs, the CLI and
the worker use to list, describe and load a dataset.

A built-in is prepared once on first use (built offline by ``dlcore.data.generated`` or downloaded
by ``dlcore.data.downloads``) and saved like any import, so later loads are memory-mapped.
"""

from __future__ import annotations

from dlcore import attendees
from dlcore.data.builtin import BUILTINS
from dlcore.data.dataset import (
    Dataset,
    DatasetNotFound,
    list_prepared,
    load_prepared,
    read_manifest,
    save_dataset,
)
from dlcore.data.downloads import download
from dlcore.data.generated import BUILDERS
from dlcore.data.ownership import check_access
from dlcore.storage import NAME_PATTERN, check_name, file_lock


def describe_dataset(name: object) -> dict | None:
    """What is known of the dataset ``name`` without loading it: its prepared manifest when it
    is on disk, else its built-in entry (not built yet), else None (no such dataset). Both carry
    ``classes`` and ``image_shape``."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        return None
    manifest = read_manifest(name)
    if isinstance(manifest, dict):
        return manifest
    return BUILTINS.get(name)


def train_size(name: object) -> int:
    """The training images of a dataset (0 when unknown). An offline built-in is built first
    (seconds, once per server); one that needs a download counts about 80% of its images."""
    info = describe_dataset(name) or {}
    if info is BUILTINS.get(name) and info["offline"]:  # not built yet: build it, read it
        info = fetch_dataset(name).manifest
    counts = info.get("counts", {}).get("train") if isinstance(info.get("counts"), dict) else None
    if isinstance(counts, dict):
        return sum(int(count) for count in counts.values())
    return int(0.8 * int(info.get("num_images") or 0))


def is_builtin(name: object) -> bool:
    """True for the name of a built-in dataset (prepared or not)."""
    return isinstance(name, str) and name in BUILTINS


def load_dataset(name: str, viewer: str | None = None, instructor: bool = False) -> Dataset:
    """A prepared dataset; a built-in is built (or downloaded) and saved on first use. With
    ``viewer`` (an attendee id), another attendee's import is refused (``PrivateDataset``)
    unless ``instructor``."""
    check_name(name, "dataset name")
    if viewer is not None:
        check_access(name, viewer, instructor)
    if describe_dataset(name) is None:
        names = sorted(set(BUILTINS) | {str(m.get("name")) for m in list_prepared()})
        raise DatasetNotFound(f"No dataset named {name!r}; choose one of: {', '.join(names)}.")
    if name in BUILTINS and read_manifest(name) is None:
        return fetch_dataset(name)
    return load_prepared(name)


def fetch_dataset(name: str) -> Dataset:
    """Build or download a built-in and save it prepared (`dlcore fetch NAME`)."""
    if name not in BUILTINS:
        raise DatasetNotFound(f"{name!r} is not a built-in; choose one of {', '.join(BUILTINS)}.")
    # many attendees pick the same set at once: one builds it, the others wait and load it
    with file_lock(f"build-{name}"):
        if read_manifest(name) is None:
            _build(name)
    return load_prepared(name)


def _build(name: str) -> None:
    entry = BUILTINS[name]
    dataset = BUILDERS[name]() if name in BUILDERS else download(name)
    dataset.manifest.update(
        builtin=True,
        owner="",
        title=entry["title"],
        description=entry["description"],
        source=entry["source"],
    )
    save_dataset(dataset)


def list_datasets(owner: str | None = None) -> list[dict]:
    """Built-ins, then imported datasets visible to ``owner`` (theirs and shared ones)."""
    prepared = {m.get("name"): m for m in list_prepared()}
    rows = []
    for name, entry in BUILTINS.items():
        manifest = prepared.pop(name, None)
        status = "ready" if manifest else ("offline" if entry["offline"] else "download")
        rows.append(_row(name, entry, status, builtin=True))
    for name, manifest in sorted(prepared.items(), key=lambda item: str(item[0])):
        if owner is None or manifest.get("owner", "") in ("", owner):
            rows.append(_row(name, manifest, "ready", builtin=bool(manifest.get("builtin"))))
    return rows


def _row(name: str, info: dict, status: str, builtin: bool) -> dict:
    return {
        "name": name,
        "title": info.get("title", name),
        "description": info.get("description", info.get("source", "")),
        "num_classes": len(info.get("classes", [])),
        "image_shape": tuple(info.get("image_shape", ())),
        "num_images": info.get("num_images"),
        "builtin": builtin,
        "status": status,
        "owner": info.get("owner", ""),
        "owner_label": attendees.owner_label(info),
    }
