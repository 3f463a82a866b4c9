"""What a job asks a Ray cluster for, and whether it fits: the arithmetic of the Ray executor
(``dlcore.train.ray_executor``), with no Ray in it, so the pages can ask it too.

Each task asks for a fraction of one GPU sized from the job's estimated memory (a CPU on a
cluster without GPUs); a job is sent only when every running job's share and its own fit what
the cluster has, so Ray never queues a job itself and the fair order holds.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from dlcore.train.fairqueue import GPU_USABLE_SHARE, MAX_JOBS_PER_GPU, job_gpu_mb
from dlcore.train.records import RunStatus

GPU_JOB_CPUS = 0.5  # what a GPU job asks for beside its share of a card: 20 jobs fit 10 cores
DEFAULT_GPU_MB = 16_384.0  # a card's memory when neither the settings nor nvidia-smi say
FRACTION_STEP = 0.01  # GPU shares are whole hundredths (Ray accepts up to 4 decimals)


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
