"""The fair queue's order and the placement of jobs on CPUs and shared GPUs (pure functions)."""

from __future__ import annotations

import pytest

from dlcore.train.fairqueue import (
    GPU_CONTEXT_MB,
    Gpu,
    cpu_slots,
    fair_order,
    next_round,
    place,
)
from dlcore.train.records import RunStatus


def _submit_all(owners: list[str]) -> list[RunStatus]:
    """Queued runs submitted in this order, each given its round as ``jobs.submit`` does."""
    statuses: list[RunStatus] = []
    for index, owner in enumerate(owners):
        queue_round = next_round(owner, statuses)
        statuses.append(
            RunStatus(
                status="queued",
                owner=owner,
                created_ts=float(index),
                queue_round=queue_round,
                run_id=f"{owner}-{index}",
            )
        )
    return statuses


def test_every_attendee_s_first_job_starts_before_anyone_s_third():
    owners = ["ada"] * 5 + ["bob", "cy", "cy", "dan"] + ["eve"] * 3
    order = fair_order(_submit_all(owners))
    position = {run_id: index for index, run_id in enumerate(order)}
    by_owner: dict[str, list[str]] = {}
    for run_id in sorted(position, key=lambda r: int(r.rsplit("-", 1)[1])):
        by_owner.setdefault(run_id.rsplit("-", 1)[0], []).append(run_id)
    firsts = [runs[0] for runs in by_owner.values()]
    thirds = [runs[2] for runs in by_owner.values() if len(runs) > 2]
    assert max(position[r] for r in firsts) < min(position[r] for r in thirds)
    assert order[:5] == ["ada-0", "bob-5", "cy-6", "dan-8", "eve-9"]
    for runs in by_owner.values():  # an attendee's own jobs keep their order
        assert [position[r] for r in runs] == sorted(position[r] for r in runs)


def test_a_newcomer_joins_the_round_being_served_not_the_end_of_the_line():
    statuses = _submit_all(["ada", "ada", "ada", "bob", "bob"])
    started = [s for s in statuses if s.run_id in ("ada-0", "bob-3")]
    waiting = [s for s in statuses if s not in started]
    statuses = [RunStatus(**{**s.to_dict(), "status": "running"}) for s in started] + waiting
    newcomer = next_round("cy", statuses)
    assert newcomer == 1  # the round now served: after ada's and bob's second, before ada's third
    order = fair_order(
        waiting + [RunStatus(owner="cy", created_ts=9.0, queue_round=newcomer, run_id="cy-9")]
    )
    assert order == ["ada-1", "bob-4", "cy-9", "ada-2"]


def test_waiting_jobs_keep_their_order_as_others_arrive():
    statuses = _submit_all(["ada", "ada", "bob"])
    before = fair_order(statuses)
    assert before == ["ada-0", "bob-2", "ada-1"]
    for index in range(3, 6):  # cy arrives with three jobs
        queue_round = next_round("cy", statuses)
        statuses.append(
            RunStatus(
                owner="cy", created_ts=float(index), queue_round=queue_round, run_id=f"cy-{index}"
            )
        )
    after = fair_order(statuses)
    assert [r for r in after if r in before] == before
    assert after == ["ada-0", "bob-2", "cy-3", "ada-1", "cy-4", "cy-5"]


def test_cpu_machine_runs_a_fixed_number_at_once():
    job = RunStatus(run_id="new")
    busy = [RunStatus(status="running", run_id=f"r{i}") for i in range(cpu_slots())]
    assert place(job, [], []) is None  # the CPU
    assert place(job, busy, []) is False
    assert place(job, busy[:1], [], max_concurrent=1) is False
    assert place(job, busy, [], max_concurrent=len(busy) + 1) is None
    assert cpu_slots(2) == 2 and cpu_slots(1) == 1


def test_forty_lenets_share_one_large_gpu_and_a_big_job_waits_for_room():
    card = Gpu(index=0, name="NVIDIA H200", total_mb=143_771.0)
    lenet = RunStatus(memory_mb=250.0, run_id="lenet")
    running: list[RunStatus] = []
    for index in range(40):
        where = place(lenet, running, [card])
        assert where == 0, index
        running.append(RunStatus(status="running", memory_mb=250.0, gpu=0, run_id=f"r{index}"))
    huge = RunStatus(memory_mb=120_000.0, run_id="huge")
    assert place(huge, running, [card]) is False  # no room left beside forty LeNets
    assert place(huge, [], [card]) == 0  # alone, a job always gets the card


def test_jobs_spread_over_cards_by_the_room_left():
    cards = [Gpu(0, "A", 16_000.0), Gpu(1, "B", 16_000.0)]
    job = RunStatus(memory_mb=4_000.0, run_id="job")
    on_first = [RunStatus(status="running", memory_mb=4_000.0, gpu=0, run_id="r0")]
    assert place(job, on_first, cards) == 1
    per_job = job.memory_mb + GPU_CONTEXT_MB
    assert per_job == pytest.approx(4_500.0)
    busy_elsewhere = [Gpu(0, "A", 16_000.0), Gpu(1, "B", 16_000.0, used_mb=12_000.0)]
    assert place(job, on_first, busy_elsewhere) == 0  # card 1's memory is held by another program
