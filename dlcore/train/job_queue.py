"""Where each waiting job stands: the queued runs in the fair queue's order, a run's place in
it, and its phase for the pages (queued, starting, training...). ``dlcore.train.jobs`` adds these to
every status it gives; the order itself is ``dlcore.train.fairqueue``'s."""

from __future__ import annotations

from dlcore.train import executor
from dlcore.train.executor import queue_paused
from dlcore.train.fairqueue import fair_order
from dlcore.train.records import RunStatus
from dlcore.train.runs import METRICS, read_all_statuses, run_path


def fair_queue(statuses: list[RunStatus] | None = None) -> list[str]:
    """Queued run ids in the fair queue's order, from ``statuses`` (default: every run's)."""
    statuses = read_all_statuses() if statuses is None else statuses
    queued = [s for s in statuses if s.status == "queued"]
    return fair_order(queued)


def queue_order() -> list[str]:
    """Queued run ids in the order they will start (round robin across attendees)."""
    return fair_queue()


def queue_position(run_id: str) -> int | None:
    """1 for the next job to start, 2 after it...; None if the run is not queued."""
    order = queue_order()
    return order.index(run_id) + 1 if run_id in order else None


def with_queue(status: dict, order: list[str], free_slot: bool) -> dict:
    """Add ``queue_position``, ``ahead`` and ``phase`` ("queued", "starting", "training" or
    the final state) for the pages: a job is "starting" from the moment nothing is ahead of it
    and a slot is free until its first batch is logged."""
    run_id, state = status["run_id"], status["status"]
    status["queue_position"] = order.index(run_id) + 1 if run_id in order else None
    status["ahead"] = order.index(run_id) if run_id in order else 0
    phase = state
    if state == "queued" and status["ahead"] == 0 and free_slot and not queue_paused():
        phase = "starting"
    elif state == "running":
        phase = "training" if (run_path(run_id) / METRICS).exists() else "starting"
    status["phase"] = phase
    return status


def free_slot(statuses: list[RunStatus]) -> bool:
    """Whether the first queued job would start now (by the running executor's placement)."""
    running = [s for s in statuses if s.status == "running"]
    queued = [s for s in statuses if s.status == "queued"]
    if not queued:
        return True
    return executor.has_room(queued[0], running)  # by the running executor's placement
