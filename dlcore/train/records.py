"""The typed records of a run directory: its status, the rows of its metrics log and its
worker's identity. Each is a frozen dataclass of plain types that round-trips through JSON with
``to_dict``/``from_dict``; ``from_dict`` refuses (``ValueError``) anything that is not the
record, so a damaged file is found where it is read, not three calls later on a page.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from dataclasses import dataclass, field
from typing import Any

PID_MAX = 4_194_304  # the largest pid Linux hands out (/proc/sys/kernel/pid_max's ceiling)


@functools.cache
def _hints(cls: type) -> dict:
    return typing.get_type_hints(cls)


def _check(cls: type, name: str, value: Any) -> Any:
    """``value`` if it fits the annotation of field ``name`` (str, int, float, bool, None or a
    flat dict of those)."""
    hint = _hints(cls)[name]
    kinds = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if value is None and type(None) in kinds:
        return None
    if isinstance(value, bool):  # JSON true is not a number here
        if bool in kinds:
            return value
    elif isinstance(value, int) and (int in kinds or float in kinds):
        return value
    elif isinstance(value, float) and float in kinds:
        return value
    elif isinstance(value, str) and str in kinds:
        return value
    elif (
        isinstance(value, dict)
        and dict in kinds
        and all(
            isinstance(k, str) and isinstance(v, int | float | str) and not isinstance(v, bool)
            for k, v in value.items()
        )
    ):  # a flat mapping of names to plain values (a sweep's settings)
        return dict(value)
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "..."
    raise ValueError(f"field {name!r} is {shown}, not {hint}")


def _from_fields(cls: type, payload: Any, what: str) -> dict:
    if not isinstance(payload, dict):
        raise ValueError(f"{what} is {type(payload).__name__}, not a JSON object")
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: _check(cls, k, v) for k, v in payload.items() if k in names}


@dataclass(frozen=True)
class RunStatus:
    """``status.json``: where a run stands. ``run_id`` is its folder's name, never stored."""

    status: str = "queued"  # queued, running, completed, failed, cancelled, interrupted, damaged
    message: str = ""
    owner: str = ""  # the attendee id; "" for the instructor's runs
    owner_label: str = ""  # the name the attendee typed: shown, never trusted
    dataset: str = ""
    dataset_shared: bool | None = None  # was its dataset open to everyone at submission?
    model: str = ""
    created: str = ""
    created_ts: float = 0.0
    started: str | None = None
    started_ts: float | None = None  # when the scheduler started it (the fair queue's order)
    ended: str | None = None
    device: str | None = None
    pid: int | None = None
    best_epoch: int | None = None
    num_params: int | None = None
    num_train: int | None = None
    val_accuracy: float | None = None
    val_loss: float | None = None
    test_accuracy: float | None = None
    peak_memory_mb: int | None = None
    queue_round: int | None = None  # its round in the fair queue (fairqueue.next_round)
    memory_mb: float | None = None  # estimated memory to train (weights, activations, context)
    gpu: int | None = None  # the GPU the scheduler placed it on; None on a CPU
    executor: str | None = None  # what started it: "local" (a process here) or "ray"
    node: str | None = None  # the host it trains on (a Ray node's name on a cluster)
    sweep: str | None = None  # the id of the sweep it belongs to (dlcore.train.sweep), if any
    sweep_values: dict | None = None  # that sweep's settings for this run, e.g. {"epochs": 3}
    run_id: str = ""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_file(self) -> dict:
        """The fields status.json holds (the run id is the folder's name)."""
        return {k: v for k, v in self.to_dict().items() if k != "run_id"}

    @classmethod
    def from_dict(cls, payload: Any) -> RunStatus:
        values = _from_fields(cls, payload, "the status")
        if not values.get("status", "queued"):
            raise ValueError("its status is empty")
        return cls(**values)


@dataclass(frozen=True)
class MetricRow:
    """One line of ``metrics.jsonl``: a batch (every half second) or an epoch that ended."""

    kind: str  # "batch" or "epoch"
    epoch: int
    step: int
    loss: float
    accuracy: float | None = None
    val_loss: float | None = None
    val_accuracy: float | None = None
    progress: float | None = None
    elapsed: float | None = None
    images_per_second: float | None = None
    eta: float | None = None
    extra: dict = field(default_factory=dict)  # other figures Keras logs, e.g. learning_rate

    def __post_init__(self) -> None:
        if self.kind not in ("batch", "epoch"):
            raise ValueError(f"kind {self.kind!r} is not 'batch' or 'epoch'")
        if self.epoch < 0 or self.step < 0:
            raise ValueError("epoch and step must be >= 0")

    def to_dict(self) -> dict:
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        extra = values.pop("extra")
        return {**extra, **{k: v for k, v in values.items() if v is not None}}

    @classmethod
    def from_dict(cls, payload: Any) -> MetricRow:
        values = _from_fields(cls, payload, "the row")
        values.pop("extra", None)
        missing = {"kind", "epoch", "step", "loss"} - set(values)
        if missing:
            raise ValueError(f"the row lacks {sorted(missing)}")
        names = {f.name for f in dataclasses.fields(cls)}
        extra = {
            k: float(v)
            for k, v in payload.items()
            if k not in names and isinstance(v, int | float) and not isinstance(v, bool)
        }
        return cls(**values, extra=extra)


@dataclass(frozen=True)
class WorkerInfo:
    """``worker.json``: the worker process of a run, with the kernel's start time of that
    process so that a reused pid is not taken for the worker."""

    pid: int
    start: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.pid <= PID_MAX:
            raise ValueError(f"pid {self.pid} is not a process id (1 to {PID_MAX})")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, payload: Any) -> WorkerInfo:
        values = _from_fields(cls, payload, "the worker record")
        if "pid" not in values:
            raise ValueError("it has no pid")
        return cls(**values)
