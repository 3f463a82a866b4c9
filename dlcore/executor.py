"""The local executor: how the web server, the CLI and the tests reach the job scheduler of a
data directory. It starts the scheduler when none runs (``ensure_scheduler``), wakes it through
its FIFO (``poke``), pauses and resumes its queue, and stops it. The scheduler itself (the warm
process that forks one child per job) is ``dlcore.scheduler``; the queue's order and placement
are ``dlcore.fairqueue``. Jobs are submitted, watched and cancelled through ``dlcore.jobs``.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from dlcore.fairqueue import Gpu
from dlcore.runs import run_path, write_status
from dlcore.storage import data_home, subdir

WAKE = "wake"  # the FIFO in queue/ that wakes the scheduler
STATE = "scheduler.json"  # its pid and whether Keras is imported yet
PAUSED = "paused"  # present while the instructor has paused the queue


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


def worker_environment() -> dict[str, str]:
    """The environment of the scheduler and so of every job it forks."""
    from dlcore.backend import keep_caches_in_data_dir

    keep_caches_in_data_dir()
    return {
        **os.environ,
        "LAYERLAB_HOME": str(data_home()),
        # it imports dlcore from this checkout even where that is not pip-installed
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH")])
        ),
        "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
        # JAX reserves most GPU memory at import unless told not to: jobs share the GPU
        "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
    }


def ensure_scheduler(wait: bool = False, timeout: float = 120.0) -> None:
    """Wake this data directory's scheduler, starting it if none runs (in its own session, so a
    restart of the web server leaves it and its jobs running). ``wait``: until it has Keras
    imported and so can start a job at once."""
    if not poke():
        log = open(queue_dir() / "scheduler.log", "ab")  # noqa: SIM115
        with log:
            subprocess.Popen(
                [sys.executable, "-m", "dlcore.scheduler"],
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


def warm_up() -> None:
    """Have the scheduler ready (Keras imported) before anyone presses Start: the app calls
    this when it starts and when the Train page opens. ``LAYERLAB_PREWARM=0`` turns it off
    (the tests do, since each of them has its own data directory)."""
    if os.environ.get("LAYERLAB_PREWARM", "1") != "0":
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
    return b"dlcore.scheduler" in command


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
