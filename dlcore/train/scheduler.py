"""The scheduler: ``python -m dlcore.train.scheduler``, one per data directory, started on demand.

It imports Keras once, then sleeps on a FIFO: a submit, a cancel, the instructor's pause or
resume, or a job that ends wakes it (no process polls per waiting job). On each wake it starts
as many queued jobs as the machine has room for, in the fair queue's order, each in a child
forked from this warm process: the child has Keras imported already, so a job's first batch
comes about a second after its submission, and it is still one process per job, whose memory
is freed when the job ends. Nothing here runs a framework operation: a child forked from a
process that has initialised TensorFlow, JAX or CUDA would inherit a broken runtime.

The scheduler holds an flock for its life, so a second one exits at once. Jobs it started go
on if it dies (they read as interrupted only when they die themselves); the next submit starts
a new scheduler, which takes the queue from the run directories.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import select
import signal
import socket
import sys
import time
from pathlib import Path

from dlcore import LayerLabError
from dlcore.limits import load_limits
from dlcore.storage import atomic_write_json, data_home_path, file_lock, subdir
from dlcore.train.executor import (
    DISPATCHERS,
    STATE,
    cancel_queued,
    queue_dir,
    queue_paused,
    wake_path,
)
from dlcore.train.fairqueue import fair_order, list_gpus, place
from dlcore.train.runs import (
    cancel_requested,
    read_all_statuses,
    record_worker,
    run_path,
    write_status,
)

IDLE_EXIT_S = float(os.environ.get("LAYERLAB_SCHEDULER_IDLE_S", 3600))


def preload() -> None:
    """Import what a job needs, without running any framework operation; then settle the heap
    (``runtime.settle_heap``): the forked jobs share the imported modules' pages, which the
    garbage collector would otherwise touch, and so copy, in every job."""
    import keras  # noqa: F401
    import sklearn.metrics  # noqa: F401

    from dlcore import runtime
    from dlcore.data import catalogue, images  # noqa: F401
    from dlcore.model import build  # noqa: F401
    from dlcore.train import (
        evaluation,  # noqa: F401
        worker,  # noqa: F401
    )

    runtime.settle_heap()


class Scheduler:
    """The local executor's dispatcher: forks one child per job on this machine. The Ray
    executor's (``dlcore.train.ray_executor``) is a subclass that sends jobs to a cluster
    instead."""

    executor = "local"

    def __init__(self) -> None:
        self.children: dict[int, str] = {}  # pid -> run id, of the jobs this process forked
        self.stopping = False
        self.wake_read = os.open(wake_path(), os.O_RDONLY | os.O_NONBLOCK)
        # A writer of our own keeps the FIFO open, so select() does not see EOF when the
        # last poke's writer closes; signals write to it too (SIGCHLD: a job ended).
        self.wake_write = os.open(wake_path(), os.O_WRONLY | os.O_NONBLOCK)
        self.limits = load_limits()
        self.gpus = list_gpus()

    def _signal(self, signum, frame) -> None:
        if signum == signal.SIGTERM:
            self.stopping = True
        with contextlib.suppress(OSError):
            os.write(self.wake_write, b"!")

    def preload(self) -> None:
        try:
            preload()
        except Exception as error:  # noqa: BLE001 - a job will report the same error itself
            print(f"preload failed: {error}", file=sys.stderr, flush=True)

    def state(self, ready: bool) -> dict:
        """What ``scheduler.json`` says of this dispatcher (``dlcore.train.executor`` reads it)."""
        gpus = [dataclasses.asdict(g) for g in self.gpus]
        module = DISPATCHERS[self.executor]  # ``python -m`` of this code's dispatcher
        return {
            "pid": os.getpid(),
            "executor": self.executor,
            "module": module,
            "ready": ready,
            "gpus": gpus,
        }

    def close(self) -> None:
        """Called once when the dispatcher stops."""

    def serve(self) -> None:
        signal.signal(signal.SIGCHLD, self._signal)
        signal.signal(signal.SIGTERM, self._signal)
        atomic_write_json(queue_dir() / STATE, self.state(ready=False))
        self.preload()
        atomic_write_json(queue_dir() / STATE, self.state(ready=True))
        idle_since = time.monotonic()
        while not self.stopping and (data_home_path() / "queue").is_dir():  # gone: tests
            self._reap()
            busy = self.dispatch()
            if busy or self.children:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > IDLE_EXIT_S:
                break
            # Running jobs not forked here (a previous scheduler's) end without a SIGCHLD:
            # look again every few seconds while any job is active.
            select.select([self.wake_read], [], [], 2.0 if busy else min(60.0, IDLE_EXIT_S))
            with contextlib.suppress(BlockingIOError):
                while os.read(self.wake_read, 4096):
                    pass

    def _reap(self) -> None:
        while self.children:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                return
            if pid == 0:
                return
            self.children.pop(pid, None)

    def dispatch(self) -> bool:
        """Start what fits, in fair order; True while any job is queued or running."""
        with contextlib.suppress(LayerLabError):  # an instructor may change limits.toml
            self.limits = load_limits()
        with file_lock("queue"):
            statuses = read_all_statuses()
            queued = [s for s in statuses if s.status == "queued"]
            running = [s for s in statuses if s.status == "running"]
            for status in list(queued):
                if cancel_requested(run_path(status.run_id)):
                    cancel_queued(status.run_id)
                    queued.remove(status)
            if queue_paused():
                return bool(queued or running)
            by_id = {status.run_id: status for status in queued}
            for run_id in fair_order(queued):
                job = by_id[run_id]
                where = self.place(job, running)
                if where is False:
                    break
                running.append(self._start(job, where))
                queued.remove(job)
        return bool(queued or running)

    def place(self, job, running: list) -> int | None | bool:
        """A GPU index, None for the CPU, or False: ``job`` must wait."""
        return place(job, running, self.gpus, self.limits.max_concurrent_jobs)

    def _start(self, job, gpu: int | None):
        """Fork the job's process; it waits until its run records it, then trains."""
        path = run_path(job.run_id)
        go_read, go_write = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the job's process
            os.close(go_write)
            _child(path, gpu, go_read)
        os.close(go_read)
        self.children[pid] = job.run_id
        record_worker(path, pid)
        status = write_status(
            path,
            status="running",
            message="Starting.",
            gpu=gpu,
            pid=pid,
            executor=self.executor,
            node=socket.gethostname(),
            started=_now(),
            started_ts=time.time(),
        )
        os.write(go_write, b"go")
        os.close(go_write)
        return dataclasses.replace(status, run_id=job.run_id)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


def _child(path: Path, gpu: int | None, go_read: int) -> None:
    """The job's process: never returns."""
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.setpgid(0, 0)  # its own process group: a signal to it reaches no other job
        go = os.read(go_read, 2)
        os.close(go_read)
        if go != b"go":  # the scheduler died before recording this job: it stays queued
            return
        log = os.open(path / "worker.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        _close_inherited()
        if gpu is not None:
            os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
        from dlcore.train import worker

        code = worker.run_job(path)
    except BaseException as error:  # noqa: BLE001 - the child must never return to the loop
        with contextlib.suppress(Exception):
            print(f"job process failed: {error!r}", file=sys.stderr, flush=True)
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _close_inherited() -> None:
    """Close the scheduler's descriptors (its lock, the FIFO) in a job's process, so that a
    job outliving the scheduler does not keep its lock or its FIFO open."""
    for fd in _SCHEDULER_FDS:
        with contextlib.suppress(OSError):
            os.close(fd)


_SCHEDULER_FDS: list[int] = []


def main(make: type[Scheduler] = Scheduler) -> int:
    """Serve the queue of this data directory until idle; exit at once if one already does.
    ``make``: the dispatcher's class (the Ray executor passes its own)."""
    lock = open(subdir("locks") / "scheduler.lock", "a")  # noqa: SIM115 - held for life
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return 0
    try:
        scheduler = make()
    except LayerLabError as error:
        print(f"scheduler: {error}", file=sys.stderr, flush=True)
        return 2
    _SCHEDULER_FDS.extend([lock.fileno(), scheduler.wake_read, scheduler.wake_write])
    try:
        scheduler.serve()
    finally:
        scheduler.close()
        with contextlib.suppress(OSError):
            (queue_dir() / STATE).unlink()
        # Close the FIFO first (a submit from now on finds no scheduler and starts one), then
        # the lock; a job submitted while this one was deciding to stop gets a successor.
        os.close(scheduler.wake_read)
        os.close(scheduler.wake_write)
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()
    if not scheduler.stopping and _anything_queued():
        from dlcore.train.executor import ensure_scheduler

        ensure_scheduler()
    return 0


def _anything_queued() -> bool:
    try:
        return any(status.status == "queued" for status in read_all_statuses())
    except (OSError, LayerLabError):  # the data directory is gone (a test's)
        return False


if __name__ == "__main__":
    sys.exit(main())
