"""The Ray executor: ``python -m dlcore.train.ray_executor``, the dispatcher of a data directory
whose jobs train on a Ray cluster (``executor = "ray"``; ``dlcore.train.executor`` starts it on
demand).

It is the local scheduler (``dlcore.train.scheduler``) with one difference: where the local one
forks a job's process on this machine, this one sends the job to Ray as a task that runs the same
``dlcore.train.worker.run_job`` on whichever node has room, in the run directory as that node sees
it (shared storage). The queue stays here: the fair queue's order, the pause, and the limits
(jobs per attendee and in all, model size and memory at submission; jobs at once here) are
enforced before a task is sent, and Ray is never sent more than the cluster has room for, so it
never queues a job itself and the fair order holds. What a task asks for is
``dlcore.train.ray_resources``; the task itself (what runs on a node), ``dlcore.train.ray_task``.

This process owns the tasks it sends (Ray ends a driver's tasks when the driver goes): a run's
``worker.json`` names this process, so a run reads "running" exactly while its task can still
finish. A task that dies (its worker killed, its node lost) is recorded "interrupted" here with
its last checkpoint kept; if this process dies, its runs read "interrupted" like a local job
whose process died. Without ``ray_address`` it starts a Ray instance of its own on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

from dlcore import LayerLabError
from dlcore.storage import atomic_write_json, data_home, file_lock
from dlcore.train.executor import STATE, executor_settings, queue_dir
from dlcore.train.ray_resources import DEFAULT_GPU_MB, Capacity, fits, task_resources
from dlcore.train.ray_task import task_environment, train_on_node
from dlcore.train.runs import (
    ACTIVE,
    cancel_requested,
    read_all_statuses,
    read_status,
    record_worker,
    run_path,
    write_status,
)
from dlcore.train.scheduler import Scheduler

LOCAL_OBJECT_STORE_MB = 256  # a job's task passes two strings: Ray's default takes 30% of RAM


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
    """Serve the queue of this data directory on Ray until idle (see ``dlcore.train.scheduler``)."""
    from dlcore.train import scheduler

    return scheduler.main(RayDispatcher)


if __name__ == "__main__":
    # Run as the module by its name, so that Ray sends ``train_on_node`` to its workers as a
    # reference to dlcore.train.ray_executor (importable there) rather than a copy of __main__'s.
    from dlcore.train.ray_executor import main as _main

    sys.exit(_main())
