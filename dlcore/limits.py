"""Server limits that keep a shared workshop machine healthy.

Defaults suit one server with 20-40 attendees. An instructor changes them in
``$LAYERLAB_HOME/limits.toml`` (``max_epochs = 30``) or with environment variables
(``LAYERLAB_MAX_EPOCHS=30``); the environment wins.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass

from dlcore import LayerLabError
from dlcore.storage import data_home


@dataclass(frozen=True)
class Limits:
    max_upload_mb: int = 200  # one uploaded file (ZIP or image)
    max_files_per_import: int = 30_000  # entries in a ZIP or folder
    max_unpacked_mb: int = 2_000  # total bytes a ZIP may expand to
    max_image_pixels: int = 40_000_000  # width x height of one decoded image
    max_images_per_dataset: int = 100_000
    max_image_side: int = 256  # prepared width and height
    max_epochs: int = 100
    max_batch_size: int = 1024
    max_model_params: int = 20_000_000  # refuse a network that would not fit, before training
    max_training_memory_mb: int = 8_192  # estimated weights + activations of one training job
    max_jobs_per_owner: int = 2  # queued or running, per attendee
    max_jobs_total: int = 50  # queued or running, whole server
    max_concurrent_jobs: int = 0  # 0: one per GPU, one on a CPU-only machine
    max_disk_gb: float = 20.0  # runs + datasets + cache under the data directory

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, int | float) or value < 0:
                raise LayerLabError(f"Limit {field.name}={value!r} is invalid: use a number >= 0.")


def load_limits() -> Limits:
    """The limits in force: defaults, then ``limits.toml`` in the data directory, then env."""
    values: dict[str, object] = {}
    path = data_home() / "limits.toml"
    if path.exists():
        try:
            values.update(tomllib.loads(path.read_text()))
        except tomllib.TOMLDecodeError as error:
            raise LayerLabError(f"{path} is not valid TOML ({error}); fix or delete it.") from None
    known = {field.name: field.type for field in dataclasses.fields(Limits)}
    for name in known:
        env = os.environ.get(f"LAYERLAB_{name.upper()}")
        if env is not None:
            values[name] = env
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise LayerLabError(f"Unknown limit(s) {unknown}; known limits: {sorted(known)}.")
    parsed = {}
    for name, raw in values.items():
        kind = float if known[name] == "float" else int
        try:
            parsed[name] = kind(raw)
        except (TypeError, ValueError):
            raise LayerLabError(f"Limit {name}={raw!r} is not a number.") from None
    return Limits(**parsed)


def concurrent_job_slots(limits: Limits) -> int:
    """How many jobs train at once: the configured number, else one per visible GPU, else 1."""
    if limits.max_concurrent_jobs:
        return limits.max_concurrent_jobs
    return max(1, count_gpus())


def count_gpus() -> int:
    """NVIDIA GPUs visible to this machine, without importing a deep-learning framework."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([item for item in visible.split(",") if item.strip() and item.strip() != "-1"])
    try:
        return len(os.listdir("/proc/driver/nvidia/gpus"))
    except OSError:
        return 0
