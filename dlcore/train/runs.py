"""Run directories: one per training job, written only by dlcore, read and written only here.

``runs/<run_id>/`` holds the files named below. JSON files are replaced atomically; the metrics
log is append-only and a cut or garbled line is skipped on read. A damaged file never raises on
a page: the status of the run says which file is damaged and what to do (``damaged``), and the
other runs list as usual. Reading a run never writes to it: a run whose worker died reads as
``interrupted`` without anything being written, so reads keep working on a full disk.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import time
from pathlib import Path

from dlcore import LayerLabError
from dlcore.spec import Experiment
from dlcore.storage import atomic_write_json, runs_dir
from dlcore.train.records import RunStatus, WorkerInfo

SPEC = "spec.json"  # the Experiment
DATASET = "dataset.json"  # classes, image shape and preparation settings it trained with
STATUS = "status.json"  # RunStatus
METRICS = "metrics.jsonl"  # MetricRow per line
WORKER = "worker.json"  # WorkerInfo
LOG = "worker.log"  # the worker's stdout and stderr
CANCEL = "cancel"  # present once someone asked the job to stop
BEST = "best.keras"  # the best epoch so far
MODEL = "model.keras"  # the final model
EVALUATION = "evaluation.json"
PREDICTIONS = "predictions.npz"
FILTERS = "filters.npz"  # the first conv layer's kernels before training and after each epoch
COMMENT = "comment.txt"  # the owner's note on the run (the class table's "comments"), UTF-8

ACTIVE = ("queued", "running")
FINISHED = ("completed", "failed", "cancelled", "interrupted")
DAMAGED = "damaged"
# Ids look like 20250101-093000-a1b2c3; anything else (``..``, ``/``, very long) is refused early.
RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
STARTUP_GRACE_S = 10.0  # a running run without a worker record yet is not taken for dead
# What a damaged .keras file raises from Keras's loader (a bad zip, config or weights file).


class RunNotFound(LayerLabError):
    """No run has that id."""


class RunDamaged(LayerLabError):
    """A file of the run cannot be read; the message names it and says what to do."""


def damaged_message(run_id: str, name: str, problem: str) -> str:
    return (
        f"Run {run_id}: its file {name} is damaged ({problem}). Delete the run (Experiments "
        f"page, or `dlcore delete {run_id}`) and train it again."
    )


def run_path(run_id: str) -> Path:
    """The directory of a run; RunNotFound if there is none."""
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.fullmatch(run_id):
        shown = repr(run_id) if len(str(run_id)) <= 60 else f"{str(run_id)[:40]!r}..."
        raise RunNotFound(f"{shown} is not a run id; `dlcore jobs` lists the runs.")
    path = runs_dir() / run_id
    if not (path / SPEC).is_file():
        raise RunNotFound(f"No run {run_id!r}; `dlcore jobs` lists the runs.")
    return path


def load_json(path: Path, missing: object = None) -> object:
    """A JSON file's value, ``missing`` if there is no file; ValueError if it does not parse."""
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        return missing
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"not valid JSON: {error}") from None
    except OSError as error:
        raise ValueError(f"unreadable: {error.strerror or error}") from None


def write_new_run(folder: Path, experiment: Experiment, status: RunStatus) -> None:
    """The first files of a run, written into its (staged) ``folder``."""
    (folder / SPEC).write_text(experiment.to_json())
    atomic_write_json(folder / STATUS, status.to_file())


def read_spec(run_id: str) -> Experiment:
    path = run_path(run_id)  # RunNotFound is a ValueError too: outside the try
    try:
        payload = load_json(path / SPEC)
        if not isinstance(payload, dict):
            raise ValueError("not a JSON object")
        return Experiment.from_dict(payload)
    except ValueError as error:  # LayerLabError is one: a spec that no longer validates
        raise RunDamaged(damaged_message(run_id, SPEC, str(error))) from None


def read_dataset_info(run_id: str) -> dict:
    """Classes, image shape and preparation settings the run trained with; {} before the
    worker has loaded its dataset."""
    path = run_path(run_id)
    try:
        info = load_json(path / DATASET, {})
        if not isinstance(info, dict):
            raise ValueError("not a JSON object")
        if info and not (
            isinstance(info.get("classes"), list)
            and all(isinstance(c, str) for c in info["classes"])
            and isinstance(info.get("settings"), dict)
        ):
            raise ValueError("no list of classes or no settings")
    except ValueError as error:
        raise RunDamaged(damaged_message(run_id, DATASET, str(error))) from None
    return info


def write_dataset_info(path: Path, info: dict) -> None:
    atomic_write_json(path / DATASET, info)


def _read_status_file(path: Path) -> RunStatus:
    payload = load_json(path / STATUS)
    if payload is None:
        raise ValueError("missing")
    return RunStatus.from_dict(payload)


def _status_from_spec(run_id: str, **values: object) -> RunStatus:
    """What the spec still tells of a run whose status.json is damaged (owner, dataset)."""
    try:
        spec = read_spec(run_id)
    except LayerLabError:
        return RunStatus(run_id=run_id, **values)
    owner, dataset, model = spec.owner, spec.data.dataset, spec.model.preset
    return RunStatus(owner=owner, dataset=dataset, model=model, run_id=run_id, **values)


def write_status(path: Path, **changes: object) -> RunStatus:
    """Update fields of a run's status.json atomically and return the new status. A damaged
    status is rebuilt from the spec, so a worker that finds one goes on recording."""
    try:
        current = _read_status_file(path)
    except ValueError:  # queued until it has logged a metric: the queue must still see it
        began = (path / METRICS).exists() or (path / BEST).exists()
        current = _status_from_spec(path.name, status="running" if began else "queued")
    status = RunStatus.from_dict(current.to_file() | changes)  # refuses a misspelt field
    atomic_write_json(path / STATUS, status.to_file())
    return status


def _process_start(pid: int) -> str | None:
    """The kernel's start time of a process (guards against a reused pid), None if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] in ("Z", "X"):  # zombie or dead: finished but not yet reaped
        return None
    return fields[19]


def record_worker(path: Path, pid: int) -> None:
    atomic_write_json(path / WORKER, WorkerInfo(pid, _process_start(pid)).to_dict())


def read_worker(path: Path) -> WorkerInfo | None:
    """The run's worker record, None before there is one; ValueError if it is damaged."""
    payload = load_json(path / WORKER)
    return None if payload is None else WorkerInfo.from_dict(payload)


def worker_alive(path: Path) -> bool:
    """True while the run's worker process exists (not a zombie, not a reused pid)."""
    try:
        info = read_worker(path)
    except ValueError:
        return False
    if info is None:
        return False
    try:
        os.waitpid(info.pid, os.WNOHANG)  # reap our own finished child, if it is one
    except ChildProcessError:
        pass
    if Path("/proc").is_dir():
        start = _process_start(info.pid)
        return start is not None and info.start in (None, start)
    try:
        os.kill(info.pid, 0)
    except OSError:
        return False
    return True


def _last_change(path: Path) -> str:
    times = [(path / n).stat().st_mtime for n in (STATUS, METRICS, LOG) if (path / n).exists()]
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(max(times, default=time.time())))


def read_status(run_id: str) -> RunStatus:
    """The run's status. Never writes and never raises for a damaged file: a queued or running
    run whose worker died reads as ``interrupted``, a damaged file as ``damaged``."""
    path = run_path(run_id)
    try:
        status = dataclasses.replace(_read_status_file(path), run_id=run_id)
    except ValueError as error:
        return _status_from_spec(
            run_id, status=DAMAGED, message=damaged_message(run_id, STATUS, str(error))
        )
    if status.status != "running":  # a queued run waits in the scheduler's queue, not a process
        return status
    try:
        worker = read_worker(path)
    except ValueError as error:
        message = damaged_message(run_id, WORKER, str(error))
        return dataclasses.replace(status, status=DAMAGED, message=message)
    if worker is None and time.time() - status.created_ts < STARTUP_GRACE_S:
        return status
    if worker_alive(path):
        return status
    try:  # it may have finished between the two reads
        status = dataclasses.replace(_read_status_file(path), run_id=run_id)
    except ValueError:
        pass
    if status.status not in ACTIVE:
        return status
    message = (
        f"The training process stopped unexpectedly while {status.status}. The last saved "
        "checkpoint (if any) can still be evaluated; start the run again to finish it."
    )
    return dataclasses.replace(
        status, status="interrupted", message=message, ended=status.ended or _last_change(path)
    )


def list_run_ids() -> list[str]:
    """Every run id, oldest first (ids start with a timestamp). Runs still being written live in
    hidden ``.<id>.partial`` folders and are not listed."""
    paths = runs_dir().glob(f"*/{SPEC}")
    return sorted(p.parent.name for p in paths if not p.parent.name.startswith("."))


def read_all_statuses() -> list[RunStatus]:
    """The status of every run, oldest first; a run deleted meanwhile is left out."""
    statuses = []
    for run_id in list_run_ids():
        try:
            statuses.append(read_status(run_id))
        except RunNotFound:  # deleted between the listing and the read, or a stray folder
            continue
    return statuses


def request_cancel(run_id: str) -> None:
    (run_path(run_id) / CANCEL).touch()


def cancel_requested(path: Path) -> bool:
    return (path / CANCEL).exists()


def remove_run(run_id: str) -> None:
    shutil.rmtree(run_path(run_id))
