"""The executors: how the web server, the CLI and the tests reach the dispatcher of a data
directory, whichever kind runs the jobs. Jobs are submitted, watched and cancelled through
``dlcore.train.jobs``, which never asks which executor runs.

One job API, two executors. Both keep the queue the same way (queued run directories, the fair
queue of ``dlcore.train.fairqueue``, the limits checked before a job starts) in one dispatcher
process per data directory, started on demand (``ensure_scheduler``), woken through a FIFO
(``poke``), paused and resumed here. They differ only in where a job trains:

- ``local`` (the default): ``dlcore.train.scheduler`` forks one process per job on this machine.
- ``ray``: ``dlcore.train.ray_executor`` sends each job to a Ray cluster as a task, which runs the
  same ``dlcore.train.worker.run_job`` on a node that sees the data directory (shared storage).

The executor is chosen by ``executor = "ray"`` (with ``ray_address``, ``ray_shared_home`` and
``ray_gpu_memory_mb``) in ``limits.toml``, or ``LAYERLAB_EXECUTOR=ray`` and friends.
"""

from __future__ import annotations

import contextlib
import errno
import importlib.util
import json
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from dlcore import LayerLabError
from dlcore.limits import load_executor_settings, load_limits
from dlcore.storage import data_home, subdir
from dlcore.train.fairqueue import Gpu, place
from dlcore.train.records import RunStatus
from dlcore.train.runs import run_path, write_status

WAKE = "wake"  # the FIFO in queue/ that wakes the scheduler
STATE = "scheduler.json"  # its pid, its executor and whether it is ready
PAUSED = "paused"  # present while the instructor has paused the queue
# The dispatcher process of each executor (``python -m MODULE``).
DISPATCHERS = {"local": "dlcore.train.scheduler", "ray": "dlcore.train.ray_executor"}
# Their names before dlcore was grouped by steps: a dispatcher started by that code outlives a
# server restart, and its jobs would run code that is gone; it is recognised and stopped.
OLD_DISPATCHERS = ("dlcore.scheduler", "dlcore.ray_executor")


@dataclass(frozen=True)
class ExecutorSettings:
    """Where jobs run: ``executor`` "local" or "ray"; for Ray, the cluster's address ("" starts
    a Ray instance on this machine, on 127.0.0.1 only), the data directory as the cluster's
    nodes see it ("" when they mount it at the same path) and the memory of one of its GPUs
    (0: the first card here, as nvidia-smi reports it)."""

    executor: str = "local"
    ray_address: str = ""
    ray_shared_home: str = ""
    ray_gpu_memory_mb: float = 0.0

    def __post_init__(self) -> None:
        if self.executor not in DISPATCHERS:
            raise LayerLabError(
                f"executor = {self.executor!r} is not an executor: use "
                f"{' or '.join(repr(name) for name in DISPATCHERS)} (limits.toml or "
                "LAYERLAB_EXECUTOR)."
            )
        for name in ("ray_address", "ray_shared_home"):
            value = getattr(self, name)
            if not isinstance(value, str) or any(ord(char) < 32 for char in value):
                raise LayerLabError(
                    f"{name} = {value!r} is not one line of text; for example "
                    f'{name} = "{_EXAMPLES[name]}" in limits.toml.'
                )
        if self.ray_shared_home and not os.path.isabs(self.ray_shared_home):
            raise LayerLabError(
                f"ray_shared_home = {self.ray_shared_home!r} is not an absolute path; give the "
                f'data directory as the Ray nodes mount it, e.g. "{_EXAMPLES["ray_shared_home"]}".'
            )
        memory = self.ray_gpu_memory_mb
        if (
            isinstance(memory, bool)
            or not isinstance(memory, int | float)
            or not (math.isfinite(memory) and 0 <= memory <= 10**7)
        ):
            raise LayerLabError(
                f"ray_gpu_memory_mb = {memory!r} is not a number of megabytes from 0 to 1e7; "
                "give the memory of the cluster's smallest GPU, e.g. ray_gpu_memory_mb = 24576, "
                "or 0 to read it from this machine's first GPU."
            )


_EXAMPLES = {"ray_address": "10.0.0.5:6379", "ray_shared_home": "/mnt/layerlab"}


def executor_settings() -> ExecutorSettings:
    """The settings in force (defaults, ``limits.toml``, the environment); LayerLabError with
    what to fix when they are not valid."""
    values = load_executor_settings()
    raw = values.get("ray_gpu_memory_mb")
    if isinstance(raw, str):
        try:
            values["ray_gpu_memory_mb"] = float(raw)
        except ValueError:
            pass  # refused below, with the value as given
    if isinstance(values.get("executor"), str):
        values["executor"] = values["executor"].strip().lower() or "local"
    return ExecutorSettings(**values)


def check_executor() -> ExecutorSettings:
    """Refuse, before a job is created, an executor that cannot run: bad settings, or Ray chosen
    where it is not installed."""
    settings = executor_settings()
    if settings.executor == "ray" and importlib.util.find_spec("ray") is None:
        raise LayerLabError(
            'This server is set to run jobs on Ray (executor = "ray" in limits.toml or '
            "LAYERLAB_EXECUTOR=ray), but Ray is not installed: run "
            '`pip install -e ".[cluster]"`, or set the executor back to "local".'
        )
    return settings


def queue_dir() -> Path:
    return subdir("queue")


def wake_path() -> Path:
    path = queue_dir() / WAKE
    with contextlib.suppress(FileExistsError):
        os.mkfifo(path, 0o600)
    return path


def poke() -> bool:
    """Wake the scheduler; False when none is running (nobody reads the FIFO)."""
    try:
        fd = os.open(wake_path(), os.O_WRONLY | os.O_NONBLOCK)
    except OSError as error:
        if error.errno in (errno.ENXIO, errno.ENOENT):
            return False
        raise
    try:
        os.write(fd, b"!")
    except BlockingIOError:
        pass  # the FIFO is full of wake-ups already: it will wake
    finally:
        os.close(fd)
    return True


def read_state() -> dict:
    try:
        state = json.loads((queue_dir() / STATE).read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def known_gpus() -> list[Gpu]:
    """The GPUs the running scheduler found (none when no scheduler runs)."""
    cards = read_state().get("gpus") or []
    return [Gpu(**card) for card in cards if isinstance(card, dict)]


def has_room(job: RunStatus, running: list[RunStatus]) -> bool:
    """Would the running dispatcher start ``job`` now, beside the ``running`` jobs? (The pages'
    "starting" phase.) Each executor answers by its own placement rule."""
    state = read_state()
    max_concurrent = load_limits().max_concurrent_jobs
    if state.get("executor") == "ray":
        from dlcore.train.ray_resources import Capacity, fits

        capacity = Capacity.from_dict(state.get("capacity"))
        return fits(job, running, capacity, max_concurrent)
    return place(job, running, known_gpus(), max_concurrent) is not False


def worker_environment() -> dict[str, str]:
    """The environment of the scheduler and so of every job it forks."""
    from dlcore.runtime import keep_caches_in_data_dir

    keep_caches_in_data_dir()
    return {
        **os.environ,
        "LAYERLAB_HOME": str(data_home()),
        # it imports dlcore from this checkout even where that is not pip-installed
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH")])
        ),
        "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
        # JAX reserves most GPU memory at import unless told not to: jobs share the GPU
        "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
    }


def ensure_scheduler(wait: bool = False, timeout: float = 120.0) -> None:
    """Wake this data directory's dispatcher, starting the configured executor's if none runs
    (in its own session, so a restart of the web server leaves it and its jobs running); one of
    another executor (the settings changed) is stopped first. ``wait``: until it is ready to
    start a job at once (Keras imported; for Ray, connected to the cluster)."""
    name = check_executor().executor
    if not running_current_dispatcher(name) and poke():
        stop_scheduler()  # another executor's (the settings changed), or older code's
    if not poke():
        log = open(queue_dir() / "scheduler.log", "ab")  # noqa: SIM115
        with log:
            subprocess.Popen(
                [sys.executable, "-m", DISPATCHERS[name]],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=worker_environment(),
            )
    deadline = time.monotonic() + timeout
    while wait and time.monotonic() < deadline:
        if read_state().get("ready") and poke():
            return
        time.sleep(0.1)


def running_current_dispatcher(executor: str) -> bool:
    """Whether ``scheduler.json`` names the dispatcher this code starts for ``executor``; one
    of another executor, or one started by an older LayerLab (which wrote no module), is not."""
    state = read_state()
    running = (state.get("executor", "local"), state.get("module"))
    return running == (executor, DISPATCHERS[executor])


def warm_up() -> None:
    """Have the scheduler ready (Keras imported) before anyone presses Start: the app calls
    this when it starts and when the Train page opens. ``LAYERLAB_PREWARM=0`` turns it off
    (the tests do, since each of them has its own data directory)."""
    if os.environ.get("LAYERLAB_PREWARM", "1") != "0":
        with contextlib.suppress(LayerLabError):  # bad settings: the first submit says so
            ensure_scheduler()


def stop_scheduler(timeout: float = 10.0) -> None:
    """Stop this data directory's scheduler (its running jobs go on); tests and benches."""
    pid = read_state().get("pid")
    if not isinstance(pid, int) or not _is_scheduler(pid):
        return  # none runs; a state file left by a killed one may name a reused pid
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and read_state().get("pid") == pid:
        try:
            os.kill(pid, 0)
        except OSError:
            return
        time.sleep(0.05)


def _is_scheduler(pid: int) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return not Path("/proc").is_dir()  # no /proc to ask: trust the state file
    names = (*DISPATCHERS.values(), *OLD_DISPATCHERS)
    return any(b"\0" + module.encode() + b"\0" in b"\0" + command for module in names)


def pause_queue() -> None:
    """The instructor holds the queue: running jobs go on, no queued job starts."""
    (queue_dir() / PAUSED).touch()


def resume_queue() -> None:
    (queue_dir() / PAUSED).unlink(missing_ok=True)
    poke()


def queue_paused() -> bool:
    """True while the instructor holds the queue."""
    return (queue_dir() / PAUSED).exists()


def cancel_queued(run_id: str) -> None:
    """Mark a queued run cancelled (under the queue lock, which the caller holds)."""
    write_status(
        run_path(run_id), status="cancelled", message="Cancelled before it started.", ended=_now()
    )


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")
