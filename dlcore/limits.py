"""Server limits that keep a shared workshop machine healthy.

Defaults suit one server with 20-40 attendees. An instructor changes them in
``$LAYERLAB_HOME/limits.toml`` (``max_epochs = 30``) or with environment variables
(``LAYERLAB_MAX_EPOCHS=30``); the environment wins.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import math
import os
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass

from dlcore import LayerLabError
from dlcore.storage import data_home


@dataclass(frozen=True)
class Limits:
    max_upload_mb: int = 200  # one uploaded file (ZIP or image)
    max_files_per_import: int = 30_000  # entries in a ZIP or uploaded folder
    max_unpacked_mb: int = 2_000  # total bytes a ZIP may expand to
    max_image_pixels: int = 40_000_000  # width x height of one decoded image
    max_decoded_mb_per_image: int = 192  # memory of one decoded image (width x height x bytes)
    max_import_mb: int = 512  # prepared images x width x height x channels of one import
    max_classes_per_import: int = 200  # class folders (or labels) of one import, every path
    max_classify_files: int = 24  # images classified at once on the Classify page
    max_classify_upload_mb: int = 50  # bytes of those images together
    max_images_per_dataset: int = 100_000
    max_image_side: int = 256  # prepared width and height
    max_epochs: int = 100
    max_batch_size: int = 1024
    max_model_params: int = 20_000_000  # refuse a network that would not fit, before training
    max_training_memory_mb: int = 8_192  # estimated weights + activations of one training job
    max_jobs_per_owner: int = 2  # queued or running, per attendee
    max_jobs_total: int = 50  # queued or running, whole server
    max_sweep_runs: int = 16  # runs of one sweep (4 values x 4); a sweep is one attendee job
    max_concurrent_jobs: int = 0  # 0: by estimated memory on GPUs, two per two cores on a CPU
    max_disk_gb: float = 20.0  # runs + datasets + cache under the data directory
    # Folders on the server's own disk that attendees may import from (the Data page's "Folder
    # on this server"); none unless the instructor names them: data_roots = ["/data"].
    data_roots: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.data_roots, list):
            object.__setattr__(self, "data_roots", tuple(self.data_roots))
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            check = _paths_problem if field.name in PATH_LISTS else _problem
            problem = check(value, field.type)
            if problem:
                raise LayerLabError(_refusal(field, value, problem))


PATH_LISTS = {"data_roots"}  # limits that are lists of folders, not numbers


MAX_LIMIT = 10**12  # far above any sensible limit; beyond it a value is a typo or "turned off"


def _problem(value: object, kind: str) -> str | None:
    """Why ``value`` cannot be a limit of type ``kind`` ("int" or "float"), None if it can."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "is not a number"
    if not math.isfinite(value):
        return "is not a finite number"
    if kind == "int" and not float(value).is_integer():
        return "is not a whole number"
    if not 0 <= value <= MAX_LIMIT:
        return f"is outside 0 to {MAX_LIMIT:.0e}"
    return None


def _paths_problem(value: object, kind: str = "") -> str | None:
    """Why ``value`` cannot be a list of folders (absolute paths), None if it can."""
    if not isinstance(value, tuple | list) or not all(isinstance(p, str) for p in value):
        return "is not a list of folder paths"
    for path in value:
        if not os.path.isabs(path) or any(ord(char) < 32 for char in path):
            return f"holds {path!r}, which is not an absolute folder path"
    return None


def _refusal(field: dataclasses.Field, value: object, problem: str, where: str = "") -> str:
    if field.name in PATH_LISTS:
        return (
            f"Limit {field.name} = {value!r}{where} {problem}: use a list of absolute paths of "
            f'folders, for example {field.name} = ["/data"] in limits.toml (or '
            f"LAYERLAB_{field.name.upper()}=/data{os.pathsep}/srv/images)."
        )
    kind = "a whole number" if field.type == "int" else "a number"
    return (
        f"Limit {field.name} = {value!r}{where} {problem}: use {kind} from 0 to {MAX_LIMIT:.0e}, "
        f"for example {field.name} = {field.default!r} (the default)."
    )


# Not limits: where jobs run (``dlcore.train.executor`` reads and checks them), in the same file.
EXECUTOR_SETTINGS = ("executor", "ray_address", "ray_shared_home", "ray_gpu_memory_mb")


def _read_limits_file() -> tuple[dict[str, object], object]:
    """``limits.toml``'s values (none without the file) and its path."""
    path = data_home() / "limits.toml"
    if not path.exists():
        return {}, path
    try:
        return tomllib.loads(path.read_text()), path
    except tomllib.TOMLDecodeError as error:
        raise LayerLabError(f"{path} is not valid TOML ({error}); fix or delete it.") from None


def load_executor_settings() -> dict[str, object]:
    """The executor settings given (``limits.toml``, then ``LAYERLAB_EXECUTOR``...: the
    environment wins), unchecked; absent ones are left out."""
    values, _ = _read_limits_file()
    settings = {name: values[name] for name in EXECUTOR_SETTINGS if name in values}
    for name in EXECUTOR_SETTINGS:
        env = os.environ.get(f"LAYERLAB_{name.upper()}")
        if env is not None:
            settings[name] = env
    return settings


_PINNED: contextvars.ContextVar[Limits | None] = contextvars.ContextVar("limits", default=None)


@contextlib.contextmanager
def pinned_limits(limits: Limits) -> Iterator[Limits]:
    """Inside the block (and in worker threads that run in a copy of its context),
    ``load_limits`` returns ``limits`` without reading limits.toml again: an import of 70,000
    files reads the limits once, not once per image (a third of the time of a small PNG)."""
    token = _PINNED.set(limits)
    try:
        yield limits
    finally:
        _PINNED.reset(token)


def load_limits() -> Limits:
    """The limits in force: defaults, then ``limits.toml`` in the data directory, then env
    (or the limits pinned for the work in progress: ``pinned_limits``)."""
    pinned = _PINNED.get()
    if pinned is not None:
        return pinned
    values, path = _read_limits_file()
    for name in EXECUTOR_SETTINGS:
        values.pop(name, None)
    where = {name: f" in {path}" for name in values}
    known = {field.name: field for field in dataclasses.fields(Limits)}
    for name in known:
        env = os.environ.get(f"LAYERLAB_{name.upper()}")
        if env is not None:
            values[name], where[name] = env, f" in $LAYERLAB_{name.upper()}"
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise LayerLabError(f"Unknown limit(s) {unknown}; known limits: {sorted(known)}.")
    parsed = {}
    for name, raw in values.items():
        if name in PATH_LISTS:
            value = _paths(raw)
            problem = _paths_problem(value)
        else:
            value = _number(raw)
            problem = _problem(value, known[name].type)
        if problem:
            raise LayerLabError(_refusal(known[name], raw, problem, where[name]))
        if name in PATH_LISTS:
            parsed[name] = tuple(value)  # type: ignore[arg-type]
        else:
            parsed[name] = int(value) if known[name].type == "int" else float(value)
    return Limits(**parsed)


def _paths(raw: object) -> object:
    """Folders from a TOML list, or from an environment variable's ``os.pathsep`` list."""
    if isinstance(raw, str):
        return [part.strip() for part in raw.split(os.pathsep) if part.strip()]
    return raw


def _number(raw: object) -> object:
    """A number from TOML or an environment variable's text; anything else unchanged."""
    if isinstance(raw, str):
        for kind in (int, float):
            try:
                return kind(raw.strip())
            except ValueError:
                continue
    return raw
