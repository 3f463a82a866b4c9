"""The Ray executor: ``python -m dlcore.ray_executor``, the dispatcher of a data directory whose
jobs train on a Ray cluster (``executor = "ray"``; ``dlcore.executor`` starts it on demand).

It is the local scheduler (``dlcore.scheduler``) with one difference: where the local one forks
a job's process on this machine, this one sends the job to Ray as a task that runs the same
``dlcore.worker.run_job`` on whichever node has room, in the run directory as that node sees
it (shared storage). The queue stays here: the fair queue's order, the pause, and the limits
(jobs per attendee and in all, model size and memory at submission; jobs at once here) are
enforced before a task is sent, and Ray is never sent more than the cluster has room for, so it
never queues a job itself and the fair order holds. Each task asks for a fraction of one GPU
sized from the job's estimated memory (a CPU on a cluster without GPUs).

This process owns the tasks it sends (Ray ends a driver's tasks when the driver goes): a run's
``worker.json`` names this process, so a run reads "running" exactly while its task can still
finish. A task that dies (its worker killed, its node lost) is recorded "interrupted" here with
its last checkpoint kept; if this process dies, its runs read "interrupted" like a local job
whose process died. Without ``ray_address`` it starts a Ray instance of its own on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from dlcore import LayerLabError
from dlcore.executor import STATE, executor_settings, queue_dir
from dlcore.fairqueue import GPU_USABLE_SHARE, MAX_JOBS_PER_GPU, job_gpu_mb
from dlcore.records import RunStatus
from dlcore.runs import (
    ACTIVE,
    LOG,
    cancel_requested,
    read_all_statuses,
    read_status,
    record_worker,
    run_path,
    write_status,
)
from dlcore.scheduler import Scheduler
from dlcore.storage import atomic_write_json, data_home, file_lock

GPU_JOB_CPUS = 0.5  # what a GPU job asks for beside its share of a card: 20 jobs fit 10 cores
DEFAULT_GPU_MB = 16_384.0  # a card's memory when neither the settings nor nvidia-smi say
FRACTION_STEP = 0.01  # GPU shares are whole hundredths (Ray accepts up to 4 decimals)
LOCAL_OBJECT_STORE_MB = 256  # a job's task passes two strings: Ray's default takes 30% of RAM
# Passed from this process's environment to every task (paths under the data directory are
# rewritten to the shared path): the limits, the Keras backend and the framework's settings.
PASSED_PREFIXES = ("LAYERLAB_", "KERAS_", "TF_CPP_", "XLA_", "MPLCONFIGDIR")


@dataclass(frozen=True)
class Capacity:
    """What the cluster has for jobs: CPUs, GPUs (cards, counted over every node) and the
    memory of one card (MB), which turns a job's estimated memory into a share of a card."""

    cpus: float = 0.0
    gpus: float = 0.0
    card_mb: float = DEFAULT_GPU_MB

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, payload: object) -> Capacity:
        """From the dispatcher's state file; an empty cluster for anything that is not one."""
        if not isinstance(payload, dict):
            return cls()
        values = {}
        for field in dataclasses.fields(cls):
            value = payload.get(field.name)
            if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
                values[field.name] = float(value)
        return cls(**values)


def gpu_fraction(reserved_mb: float, card_mb: float) -> float:
    """The share of one card a job reserving ``reserved_mb`` asks Ray for: its part of the
    card's usable memory, rounded up to a hundredth, at least a hundredth and at most 1 (a job
    larger than its estimate still gets a whole card)."""
    usable = max(card_mb, 1.0) * GPU_USABLE_SHARE
    steps = math.ceil(max(reserved_mb, 0.0) / usable / FRACTION_STEP - 1e-9)
    return round(min(1.0, max(FRACTION_STEP, steps * FRACTION_STEP)), 2)


def task_resources(job: RunStatus, capacity: Capacity) -> dict[str, float]:
    """The resources a job's task asks Ray for: a share of a GPU (from the job's estimated
    memory and a CUDA context) and half a CPU on a cluster with GPUs, one CPU without."""
    if capacity.gpus > 0:
        return {
            "num_cpus": GPU_JOB_CPUS,
            "num_gpus": gpu_fraction(job_gpu_mb(job), capacity.card_mb),
        }
    return {"num_cpus": 1.0, "num_gpus": 0.0}


def fits(
    job: RunStatus, running: list[RunStatus], capacity: Capacity, max_concurrent: int = 0
) -> bool:
    """May ``job`` be sent to the cluster now, beside the ``running`` jobs? When the resources
    of all of them fit what the cluster has (and ``max_concurrent``, 0 = no cap, allows). One
    job alone always may: if it needs more than any node has, Ray says so on its own."""
    if max_concurrent and len(running) >= max_concurrent:
        return False
    if not running:
        return True
    if capacity.gpus > 0 and len(running) >= MAX_JOBS_PER_GPU * capacity.gpus:
        return False
    asked = [task_resources(status, capacity) for status in [*running, job]]
    for key, total in (("num_cpus", capacity.cpus), ("num_gpus", capacity.gpus)):
        if sum(resources[key] for resources in asked) > total + 1e-9:
            return False
    return True


def task_environment(home: Path, shared_home: Path) -> dict[str, str]:
    """The variables a task sets before it trains: this process's LayerLab, Keras and framework
    settings, with paths under ``home`` moved to ``shared_home`` (how the nodes mount it)."""
    environment = {"XLA_PYTHON_CLIENT_PREALLOCATE": "false", "TF_CPP_MIN_LOG_LEVEL": "2"}
    for name, value in os.environ.items():
        if name.startswith(PASSED_PREFIXES):
            environment[name] = value
    for name, value in environment.items():
        if value == str(home) or value.startswith(str(home) + os.sep):
            environment[name] = str(shared_home) + value[len(str(home)) :]
    environment["LAYERLAB_HOME"] = str(shared_home)
    return environment


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """ConnectionError unless something answers at a ``host:port`` (or ``ray://host:port``)
    address; "auto" and other forms are left to Ray."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as error:
        raise ConnectionError(f"nothing answers at {address} ({error.strerror or error})") from None


@contextlib.contextmanager
def _output_to(log: Path):
    """Send this process's stdout and stderr (Python's and the frameworks') to the run's log
    while the job trains, as the local executor does; a Ray worker serves other jobs after."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    handle = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.dup2(handle, 1)
        os.dup2(handle, 2)
        os.close(handle)
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


def train_on_node(run_dir: str, environment: dict[str, str]) -> int:
    """The job's Ray task: record the node it runs on, then train the run exactly as a local
    job does (``worker.run_job`` records how it ends: completed, cancelled or failed)."""
    os.environ.update(environment)
    import ray

    path = Path(run_dir)
    node = socket.gethostname()
    cards = [str(card) for card in ray.get_gpu_ids()]
    gpu = int(cards[0]) if cards and cards[0].isdigit() else None
    write_status(path, node=node, gpu=gpu, message=f"Starting on node {node}.")
    with _output_to(path / LOG):
        from dlcore import worker

        return worker.run_job(path)


class RayDispatcher(Scheduler):
    """The scheduler's queue and limits; jobs sent to Ray instead of forked here."""

    executor = "ray"

    def __init__(self) -> None:
        super().__init__()
        self.settings = executor_settings()
        cards = [card.total_mb for card in self.gpus]
        card_mb = self.settings.ray_gpu_memory_mb or min(cards, default=DEFAULT_GPU_MB)
        self.capacity = Capacity(card_mb=card_mb)
        self.tasks: dict[object, str] = {}  # Ray ObjectRef -> run id, of the tasks in flight
        self.cancelled: set[object] = set()  # tasks asked to stop before they started
        self.lock = threading.Lock()
        self.remote: dict[str, object] = {}
        self.connected = False
        self.watcher: threading.Thread | None = None

    # -- connecting and the cluster's room ------------------------------------------------

    def preload(self) -> None:
        """Connect to the cluster (or start a Ray instance on this machine). If that fails, the
        queued jobs fail with the reason and this process ends."""
        try:
            self._connect()
        except Exception as error:  # noqa: BLE001 - ray.init raises many kinds; all are reported
            self._fail_queued(error)
            self.stopping = True
            return
        signal.signal(signal.SIGTERM, self._signal)  # ours, whatever ray.init installed
        self._refresh_capacity()
        self.watcher = threading.Thread(target=self._watch, name="ray-watch", daemon=True)
        self.watcher.start()

    def _connect(self) -> None:
        options = {"namespace": "layerlab", "log_to_driver": False, "logging_level": "warning"}
        if self.settings.ray_address:
            check_reachable(self.settings.ray_address)  # ray.init would wait for minutes
        else:
            # Ray binds a local instance to the machine's network address; this switch (the
            # one Ray uses on laptops) keeps all its ports on 127.0.0.1. Read at Ray's import.
            os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
        import ray

        if self.settings.ray_address:
            ray.init(address=self.settings.ray_address, **options)
        else:
            ray.init(
                address="local",
                include_dashboard=False,
                object_store_memory=LOCAL_OBJECT_STORE_MB * 2**20,
                **options,
            )
        self.connected = True
        self.remote = {
            "cpu": ray.remote(max_retries=0)(train_on_node),
            # one process per GPU job: a framework frees GPU memory only when its process ends
            "gpu": ray.remote(max_retries=0, max_calls=1)(train_on_node),
        }

    def _where(self) -> str:
        address = self.settings.ray_address
        return f"the Ray cluster at {address}" if address else "a Ray instance on this machine"

    def _fail_queued(self, error: Exception) -> None:
        message = (
            f"Could not reach {self._where()} ({type(error).__name__}: {str(error)[:300]}). "
            "The instructor should check ray_address in limits.toml (or LAYERLAB_RAY_ADDRESS) "
            "and that the head node runs (`ray start --head`); then start the run again."
        )
        print(message, file=sys.stderr, flush=True)
        with file_lock("queue"):
            for status in read_all_statuses():
                if status.status == "queued":
                    write_status(run_path(status.run_id), status="failed", message=message)

    def _refresh_capacity(self) -> None:
        """The cluster's CPUs and GPUs now (nodes join and leave); the state file tells the
        pages, whose "starting" phase follows the same rule."""
        import ray

        resources = ray.cluster_resources()
        capacity = Capacity(
            cpus=float(resources.get("CPU", 0.0)),
            gpus=float(resources.get("GPU", 0.0)),
            card_mb=self.capacity.card_mb,
        )
        if capacity != self.capacity:
            self.capacity = capacity
            atomic_write_json(queue_dir() / STATE, self.state(ready=True))

    def state(self, ready: bool) -> dict:
        address = self.settings.ray_address or "local"
        return super().state(ready) | {"capacity": self.capacity.to_dict(), "ray": address}

    # -- sending jobs and watching them ------------------------------------------------------

    def dispatch(self) -> bool:
        if self.connected:
            self._refresh_capacity()
        return super().dispatch()

    def place(self, job, running: list) -> int | None | bool:
        fit = fits(job, running, self.capacity, self.limits.max_concurrent_jobs)
        return None if fit else False

    def _start(self, job, gpu: int | None):
        """Send the job to Ray; its run reads running while this process and its task live."""
        path = run_path(job.run_id)
        record_worker(path, os.getpid())
        status = write_status(
            path,
            status="running",
            message="Sent to the Ray cluster; waiting for a node.",
            executor=self.executor,
            started=time.strftime("%Y-%m-%dT%H:%M:%S"),
            started_ts=time.time(),
        )
        home = data_home()
        shared = Path(self.settings.ray_shared_home or home)
        resources = task_resources(job, self.capacity)
        remote = self.remote["gpu" if resources["num_gpus"] else "cpu"]
        ref = remote.options(name=f"layerlab-{job.run_id}", **resources).remote(
            str(shared / path.relative_to(home)), task_environment(home, shared)
        )
        with self.lock:
            self.tasks[ref] = job.run_id
        return dataclasses.replace(status, run_id=job.run_id)

    def _watch(self) -> None:
        """Wake the loop as soon as a task ends (the local scheduler gets a SIGCHLD)."""
        import ray

        while not self.stopping:
            with self.lock:
                refs = list(self.tasks)
            if not refs:
                time.sleep(0.2)
                continue
            try:
                done, _ = ray.wait(refs, num_returns=1, timeout=1.0, fetch_local=False)
            except Exception:  # noqa: BLE001 - Ray is shutting down: so is this process
                return
            if done:
                with contextlib.suppress(OSError):
                    os.write(self.wake_write, b"!")
                time.sleep(0.1)  # the loop reaps it meanwhile

    def _reap(self) -> None:
        if not self.tasks:
            return
        import ray

        self._cancel_waiting()
        with self.lock:
            refs = list(self.tasks)
        done, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        for ref in done:
            with self.lock:
                run_id = self.tasks.pop(ref)
            error = None
            try:
                ray.get(ref)
            except ray.exceptions.RayError as caught:  # its worker or node died, or cancelled
                error = caught
            self._settle(run_id, error, cancelled=ref in self.cancelled)
            self.cancelled.discard(ref)

    def _cancel_waiting(self) -> None:
        """A job cancelled while its task waits for a node is taken back from Ray (a running
        one stops at its next batch through the cancel file, keeping its best weights)."""
        import ray

        with self.lock:
            flying = list(self.tasks.items())
        for ref, run_id in flying:
            if ref in self.cancelled or not cancel_requested(run_path(run_id)):
                continue
            with contextlib.suppress(LayerLabError):
                if read_status(run_id).node is None:
                    ray.cancel(ref)
                    self.cancelled.add(ref)

    def _settle(
        self, run_id: str, error: Exception | None, cancelled: bool = False, why: str = ""
    ) -> None:
        """Record how a task ended when it could not say so itself."""
        try:
            current = read_status(run_id)
        except LayerLabError:  # deleted meanwhile
            return
        if current.status not in ACTIVE:
            return  # run_job recorded it
        now = time.strftime("%Y-%m-%dT%H:%M:%S")
        path = run_path(run_id)
        with contextlib.suppress(OSError):
            if cancelled:
                write_status(path, status="cancelled", message="Cancelled before it started.")
                return
            where = f"on node {current.node}" if current.node else f"on {self._where()}"
            reason = why or (type(error).__name__ if error else "it ended without recording how")
            message = (
                f"The training process {where} stopped unexpectedly ({reason}). The last saved "
                "checkpoint (if any) can still be evaluated; start the run again to finish it."
            )
            write_status(path, status="interrupted", message=message, ended=now)

    def close(self) -> None:
        """Stopping ends the tasks this process owns: record their runs as interrupted."""
        self.stopping = True
        if not self.connected:
            return
        import ray

        with self.lock:
            flying = list(self.tasks.values())
            self.tasks.clear()
        for run_id in flying:
            self._settle(run_id, None, why="LayerLab's Ray dispatcher was stopped")
        if self.watcher is not None:
            self.watcher.join(timeout=5.0)  # a Ray call after shutdown ends the process at once
        with contextlib.suppress(Exception):
            ray.shutdown()


def main() -> int:
    """Serve the queue of this data directory on Ray until idle (see ``dlcore.scheduler``)."""
    from dlcore import scheduler

    return scheduler.main(RayDispatcher)


if __name__ == "__main__":
    # Run as the module by its name, so that Ray sends ``train_on_node`` to its workers as a
    # reference to dlcore.ray_executor (importable there) rather than a copy of __main__'s.
    from dlcore.ray_executor import main as _main

    sys.exit(_main())
