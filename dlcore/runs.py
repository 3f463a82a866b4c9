"""Run directories: one per training job, written only by dlcore.

``runs/<run_id>/`` holds ``spec.json`` (the Experiment), ``dataset.json`` (classes, image shape
and preparation settings, so a model can classify even after its dataset is deleted),
``status.json``, ``metrics.jsonl``, ``best.keras``, ``model.keras``, ``evaluation.json``,
``predictions.npz`` and ``worker.log``. Status and JSON files are replaced atomically; the
metrics log is append-only and a cut last line is ignored on read.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

from dlcore import LayerLabError
from dlcore.spec import Experiment
from dlcore.storage import atomic_write_json, read_json, read_jsonl, runs_dir

ACTIVE = ("queued", "running")
FINISHED = ("completed", "failed", "cancelled", "interrupted")
# Ids look like 20250101-093000-a1b2c3; anything else (``..``, ``/``, very long) is refused early.
RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


class RunNotFound(LayerLabError):
    """No run has that id."""


def run_path(run_id: str) -> Path:
    """The directory of a run; RunNotFound if there is none."""
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.fullmatch(run_id):
        shown = repr(run_id) if len(str(run_id)) <= 60 else f"{str(run_id)[:40]!r}..."
        raise RunNotFound(f"{shown} is not a run id; `dlcore jobs` lists the runs.")
    path = runs_dir() / run_id
    if not (path / "spec.json").is_file():
        raise RunNotFound(f"No run {run_id!r}; `dlcore jobs` lists the runs.")
    return path


def read_spec(run_id: str) -> Experiment:
    return Experiment.from_dict(read_json(run_path(run_id) / "spec.json"))


def read_dataset_info(run_id: str) -> dict:
    """Classes, image shape and preparation settings the run was trained with."""
    return read_json(run_path(run_id) / "dataset.json", {})


def write_status(path: Path, **changes: object) -> dict:
    """Update fields of a run's status.json atomically and return the new status."""
    status = read_json(path / "status.json", {}) or {}
    status.update(changes)
    atomic_write_json(path / "status.json", status)
    return status


def _process_start(pid: int) -> str | None:
    """The kernel's start time of a process (guards against a reused pid), None if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, PermissionError, IndexError):
        return None
    if fields[0] in ("Z", "X"):  # zombie or dead: finished but not yet reaped
        return None
    return fields[19]


def record_worker(path: Path, pid: int) -> None:
    atomic_write_json(path / "worker.json", {"pid": pid, "start": _process_start(pid)})


def worker_alive(path: Path) -> bool:
    """True while the run's worker process exists (not a zombie, not a reused pid)."""
    info = read_json(path / "worker.json")
    if not info:
        return False
    pid = int(info["pid"])
    try:
        os.waitpid(pid, os.WNOHANG)  # reap our own finished child, if it is one
    except ChildProcessError:
        pass
    if Path("/proc").is_dir():
        start = _process_start(pid)
        return start is not None and (info.get("start") in (None, start))
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def read_status(run_id: str) -> dict:
    """The run's status; a queued or running run whose worker died reads as interrupted."""
    path = run_path(run_id)
    status = read_json(path / "status.json", {}) or {}
    if status.get("status") in ACTIVE and not worker_alive(path):
        grace = (
            time.time() - status.get("created_ts", 0) < 10 and not (path / "worker.json").exists()
        )
        status = read_json(path / "status.json", {}) or {}  # it may have finished meanwhile
        if status.get("status") in ACTIVE and not grace:
            was = status["status"]
            status = write_status(
                path,
                status="interrupted",
                message=(
                    f"The training process stopped unexpectedly while {was}. The last saved "
                    "checkpoint (if any) can still be evaluated; start the run again to finish it."
                ),
                ended=time.strftime("%Y-%m-%dT%H:%M:%S"),
            )
    status["run_id"] = run_id
    return status


def list_run_ids() -> list[str]:
    """Every run id, oldest first (ids start with a timestamp). Runs still being written live in
    hidden ``.<id>.partial`` folders and are not listed."""
    paths = runs_dir().glob("*/spec.json")
    return sorted(p.parent.name for p in paths if not p.parent.name.startswith("."))


def read_all_statuses() -> list[dict]:
    """The status of every run, oldest first; a run deleted meanwhile is left out."""
    statuses = []
    for run_id in list_run_ids():
        try:
            statuses.append(read_status(run_id))
        except RunNotFound:  # deleted between the listing and the read
            continue
    return statuses


def queued_runs() -> list[str]:
    """Queued run ids in submission order (by creation time, not by id: two runs created in
    the same second have ids that sort at random)."""
    queued = []
    for status in read_all_statuses():
        if status.get("status") == "queued":
            queued.append((status.get("created_ts", 0.0), status["run_id"]))
    return [run_id for _, run_id in sorted(queued)]


def read_metrics_records(run_id: str) -> list[dict]:
    return read_jsonl(run_path(run_id) / "metrics.jsonl")


def model_file(run_id: str) -> Path:
    """The run's final model, or its best checkpoint when training did not finish."""
    path = run_path(run_id)
    for name in ("model.keras", "best.keras"):
        if (path / name).is_file():
            return path / name
    raise LayerLabError(
        f"Run {run_id} has no saved model yet: it saves one after its first epoch. Wait for it, "
        "or choose a finished run."
    )


def remove_run(run_id: str) -> None:
    shutil.rmtree(run_path(run_id))
