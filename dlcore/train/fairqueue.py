"""The fair queue: in which order queued jobs start, and where each one trains.

Round robin across attendees: each job gets a round when it is submitted (``next_round``), one
more than its owner's latest queued or running job, and never before the round the queue is
serving; jobs start by round, then by submission time. So one attendee's five runs never hold
back another's first, every attendee's first job starts before anyone's third, and jobs already
waiting never change their order among themselves.
Placement fits jobs to the machine: on a CPU a fixed number train at once; on GPUs each job
reserves its estimated memory on the card with the most room, so many small jobs share a card.
These are pure functions of run statuses, so the scheduler and the pages always agree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from dlcore.train.records import RunStatus

# Measured with bench/room.py on a 2-core CPU: two jobs at once finish a room's 40 small jobs
# sooner than one at a time (a job's Python work (loading, evaluating, saving) overlaps the
# other's training); see the README's figures.
CPU_SLOTS_PER_2_CORES = 2
GPU_CONTEXT_MB = 500.0  # what a framework's CUDA context takes on the card, per process
GPU_USABLE_SHARE = 0.9  # leave room for the driver and fragmentation
MAX_JOBS_PER_GPU = 64
HOST_MB_PER_JOB = 800.0  # a training process's host memory (Keras, the dataset, buffers)


@dataclass(frozen=True)
class Gpu:
    """One card as ``nvidia-smi`` reports it."""

    index: int
    name: str
    total_mb: float
    used_mb: float = 0.0


def next_round(owner: str, statuses: list[RunStatus]) -> int:
    """The round of a job ``owner`` submits now, given every run's status."""
    queued = [s.queue_round or 0 for s in statuses if s.status == "queued"]
    serving = min(queued, default=0)
    mine = [
        s.queue_round or 0
        for s in statuses
        if s.owner == owner and s.status in ("queued", "running")
    ]
    return max(serving, max(mine, default=-1) + 1)


def fair_order(queued: list[RunStatus]) -> list[str]:
    """Queued run ids in the order they will start: by round, then by submission time."""
    keyed = sorted(queued, key=lambda s: (s.queue_round or 0, s.created_ts, s.run_id))
    return [status.run_id for status in keyed]


def list_gpus() -> list[Gpu]:
    """The NVIDIA GPUs this process may use (``CUDA_VISIBLE_DEVICES`` honoured), as
    ``nvidia-smi`` reports them; [] without any. No deep-learning framework is imported."""
    from dlcore.system import gpu_stats

    cards = [
        Gpu(g["index"], g["name"], g["memory_total_mb"], g["memory_used_mb"] or 0.0)
        for g in gpu_stats()
        if g.get("memory_total_mb")
    ]
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        allowed = {item.strip() for item in visible.split(",")}
        cards = [card for card in cards if str(card.index) in allowed]
    return cards


def cpu_slots(cores: int | None = None) -> int:
    """Jobs that train at once on a machine without a GPU."""
    cores = cores or os.cpu_count() or 1
    return max(1, cores * CPU_SLOTS_PER_2_CORES // 2)


def place(
    job: RunStatus,
    running: list[RunStatus],
    gpus: list[Gpu],
    max_concurrent: int = 0,
    host_memory_mb: float | None = None,
) -> int | None | bool:
    """Where ``job`` can start now: a GPU index, ``None`` for the CPU, or ``False`` when it
    must wait. ``max_concurrent`` (a limit, 0 = automatic) caps the jobs training at once."""
    if max_concurrent and len(running) >= max_concurrent:
        return False
    if running and host_memory_mb is not None:
        if (len(running) + 1) * HOST_MB_PER_JOB > host_memory_mb:
            return False  # one job always starts: the memory estimate is only a guess
    if not gpus:
        return None if max_concurrent or len(running) < cpu_slots() else False
    return _best_gpu(job, running, gpus)


def job_gpu_mb(job: RunStatus) -> float:
    """A job's reservation on a card: its estimated training memory plus a CUDA context."""
    return float(job.memory_mb or 0.0) + GPU_CONTEXT_MB


def _best_gpu(job: RunStatus, running: list[RunStatus], gpus: list[Gpu]) -> int | bool:
    """The card with the most free memory left after the running jobs' reservations, if the job
    fits there (a job alone on a card always may: the card is the limit, not the estimate)."""
    best, best_room = None, None
    for card in gpus:
        on_card = [status for status in running if status.gpu == card.index]
        if len(on_card) >= MAX_JOBS_PER_GPU:
            continue
        # used_mb: what other programs held when the scheduler started (its jobs' memory is
        # counted by their reservations, which stay whatever memory growth does meanwhile)
        usable = card.total_mb * GPU_USABLE_SHARE - card.used_mb
        room = usable - sum(job_gpu_mb(s) for s in on_card)
        if (room >= job_gpu_mb(job) or not on_card) and (best_room is None or room > best_room):
            best, best_room = card.index, room
    return False if best is None else best
