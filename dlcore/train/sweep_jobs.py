"""Queuing a sweep: one run per combination, submitted through ``jobs.submit``, and waiting
for them.

How a sweep meets the job limits, the rule a teacher can state in one breath: **a sweep counts
as one job** against an attendee's ``max_jobs_per_owner``; its runs wait in the fair queue and
take turns with everyone else's runs (round robin), so a sweep never holds back another
attendee's first run. A sweep has at most ``max_sweep_runs`` runs (16 = 4 x 4 by default) and
each of its runs counts toward the server's ``max_jobs_total``. A sweep that would pass a limit
is refused whole, before any of its runs is queued.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable

from dlcore import LayerLabError
from dlcore.limits import Limits, load_limits
from dlcore.spec import Experiment
from dlcore.train import admission, jobs
from dlcore.train.runs import ACTIVE, read_all_statuses
from dlcore.train.sweep import Sweep, expand


def new_sweep_id() -> str:
    return "sw-" + time.strftime("%Y%m%d-%H%M%S-") + os.urandom(3).hex()


def check_sweep(
    experiments: list[Experiment], limits: Limits, owner: str, instructor: bool = False
) -> None:
    """Refuse, before any run is queued, a sweep that a limit would stop part-way."""
    count = len(experiments)
    if count > limits.max_sweep_runs:
        raise LayerLabError(
            f"This sweep has {count} runs; this server allows {limits.max_sweep_runs} per sweep "
            "(max_sweep_runs): choose fewer values."
        )
    active = [s for s in read_all_statuses() if s.status in ACTIVE]
    mine = {s.sweep or s.run_id for s in active if s.owner == owner}
    if len(mine) >= limits.max_jobs_per_owner:
        raise LayerLabError(
            f"You already have {len(mine)} job(s) queued or running (limit "
            f"{limits.max_jobs_per_owner} per attendee; a sweep counts as one job): wait for one "
            "to finish or cancel it, then start the sweep."
        )
    if len(active) + count > limits.max_jobs_total:
        raise LayerLabError(
            f"The server has {len(active)} runs queued or running; {count} more would pass its "
            f"limit of {limits.max_jobs_total}: choose fewer values or wait for some to finish."
        )
    for experiment in experiments:  # epochs, batch size, network size, dataset access
        admission.check_submission(experiment, limits, instructor)


def submit_sweep(
    experiment: Experiment,
    sweep: Sweep,
    limits: Limits | None = None,
    instructor: bool = False,
    owner_label: str = "",
) -> tuple[str, list[str]]:
    """Queue one run per combination through ``jobs.submit`` (the fair queue and the job
    limits apply) and return (sweep id, run ids). All or nothing: a sweep a limit would refuse
    part-way is refused before any run is queued, and should a run still be refused (another
    submission took the last place meanwhile) the runs already queued are withdrawn."""
    limits = limits or load_limits()
    experiments = expand(experiment, sweep)
    if len(experiments) < 2:
        raise LayerLabError("A sweep needs at least 2 runs; start a single run with Train.")
    check_sweep(experiments, limits, experiment.owner, instructor)
    sweep_id, run_ids = new_sweep_id(), []
    try:
        for spec, values in zip(experiments, sweep.combinations(), strict=True):
            tags = {"sweep": sweep_id, "sweep_values": values}
            run_ids.append(jobs.submit(spec, limits, instructor, owner_label, **tags))
    except LayerLabError:
        _withdraw(run_ids)
        raise
    return sweep_id, run_ids


def _withdraw(run_ids: list[str]) -> None:
    for run_id in run_ids:
        jobs.cancel(run_id)
        with contextlib.suppress(LayerLabError):  # one that had started stops by itself
            jobs.delete(run_id)


def wait_sweep(
    run_ids: list[str], on_finish: Callable[[dict], None] | None = None, poll: float = 0.5
) -> list[dict]:
    """Block until every run has finished; call ``on_finish`` with each final status as it
    finishes; return the final statuses in the order the runs finished."""
    waiting, finals = list(run_ids), []
    while waiting:
        for run_id in list(waiting):
            current = jobs.status(run_id)
            if current["status"] not in ACTIVE:
                waiting.remove(run_id)
                finals.append(current)
                if on_finish is not None:
                    on_finish(current)
        if waiting:
            time.sleep(poll)
    return finals
