"""A room presses Start at once: N jobs from N/2 attendees, submitted together.

    python bench/room.py [--jobs 40] [--dataset digits] [--model mlp] [--epochs 1]
                         [--executor local|ray]

Prints one JSON line: the solo job's seconds (submit to finished) and time to its first
metric, the makespan of the N jobs (first submit to last finished), makespan / solo, time to
a job's first metric (p50, p95, and the first job's), and the order in which attendees got
their first job started. Runs in a fresh data directory (``--home`` to keep it). Works with
any version of the job engine: it only submits through ``dlcore.train.jobs`` and reads run files.
``--executor ray`` runs the jobs as Ray tasks (on a Ray instance of its own on 127.0.0.1, or
the cluster at ``LAYERLAB_RAY_ADDRESS``); the line is the same, with the executor named.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Watcher(threading.Thread):
    """Polls run directories: when each run first turns running and first logs a metric."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.runs: dict[str, float] = {}  # run id -> submit time
        self.started: dict[str, float] = {}
        self.first_metric: dict[str, float] = {}
        self.done: dict[str, float] = {}
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def add(self, run_id: str, submitted: float) -> None:
        with self.lock:
            self.runs[run_id] = submitted

    def run(self) -> None:
        from dlcore.train import jobs
        from dlcore.train.runs import run_path

        while not self.stop.is_set():
            with self.lock:
                pending = [r for r in self.runs if r not in self.done]
            for run_id in pending:
                now = time.monotonic()
                if run_id not in self.first_metric:
                    metrics = run_path(run_id) / "metrics.jsonl"
                    if metrics.exists() and metrics.stat().st_size > 0:
                        self.first_metric[run_id] = now
                state = jobs.status(run_id)["status"]
                if state != "queued" and run_id not in self.started:
                    self.started[run_id] = now
                if state not in ("queued", "running"):
                    self.done[run_id] = now
            time.sleep(0.05)


def _submit(experiment, label: str) -> str:
    """``jobs.submit``, with the owner's label where this version of dlcore records one."""
    import inspect

    from dlcore.train import jobs

    if "owner_label" in inspect.signature(jobs.submit).parameters:
        return jobs.submit(experiment, owner_label=label)
    return jobs.submit(experiment)


def _experiment(args, owner: str):
    from dlcore.recipes import preset_experiment

    experiment = preset_experiment(args.model, dataset=args.dataset)
    training = replace(experiment.training, epochs=args.epochs)
    return replace(experiment, training=training, owner=owner)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--home", help="data directory (default: a new temporary one)")
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--executor", choices=["local", "ray"], default="local")
    args = parser.parse_args()
    os.environ["LAYERLAB_HOME"] = args.home or tempfile.mkdtemp(prefix="layerlab-room-")
    os.environ["LAYERLAB_EXECUTOR"] = args.executor
    os.environ.setdefault("LAYERLAB_MAX_JOBS_TOTAL", str(max(50, args.jobs + 1)))

    from dlcore.data.catalogue import fetch_dataset
    from dlcore.train import jobs

    fetch_dataset(args.dataset)  # built before the clock starts, as in a prepared class
    if hasattr(jobs, "ensure_scheduler"):
        jobs.ensure_scheduler(wait=True)  # the server starts it when it starts
    watcher = Watcher()
    watcher.start()

    start = time.monotonic()
    solo = _submit(_experiment(args, "a-solo"), "solo")
    watcher.add(solo, start)
    jobs.wait(solo, timeout=args.timeout, poll=0.05)
    while solo not in watcher.done:
        time.sleep(0.02)
    solo_s = watcher.done[solo] - start
    solo_first = watcher.first_metric.get(solo, watcher.done[solo]) - start
    time.sleep(1.0)

    attendees = max(1, args.jobs // 2)
    owners = [f"a-room{index % attendees:02d}" for index in range(args.jobs)]
    submitted: dict[str, str] = {}
    first_submit = time.monotonic()

    def submit(owner: str) -> None:
        at = time.monotonic()
        run_id = _submit(_experiment(args, owner), owner[2:])
        watcher.add(run_id, at)
        submitted[run_id] = owner

    threads = [threading.Thread(target=submit, args=(owner,)) for owner in owners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for run_id in submitted:
        jobs.wait(run_id, timeout=args.timeout, poll=0.2)
    while any(r not in watcher.done for r in submitted):
        time.sleep(0.05)
    watcher.stop.set()
    makespan = max(watcher.done[r] for r in submitted) - first_submit
    firsts = [watcher.first_metric.get(r, watcher.done[r]) - watcher.runs[r] for r in submitted]
    first_run = min(submitted, key=watcher.runs.get)
    order: list[str] = []
    for run_id in sorted(submitted, key=lambda r: watcher.started.get(r, float("inf"))):
        if submitted[run_id] not in order:
            order.append(submitted[run_id])
    statuses = [jobs.status(r)["status"] for r in submitted]
    seen: set[str] = set()
    firsts_started, seconds_started = [], []
    for run_id in sorted(submitted, key=lambda r: watcher.started.get(r, float("inf"))):
        started_at = watcher.started.get(run_id, float("inf"))
        (seconds_started if submitted[run_id] in seen else firsts_started).append(started_at)
        seen.add(submitted[run_id])
    print(
        json.dumps(
            {
                "executor": args.executor,
                "jobs": args.jobs,
                "attendees": attendees,
                "solo_s": round(solo_s, 2),
                "solo_first_metric_s": round(solo_first, 2),
                "makespan_s": round(makespan, 1),
                "makespan_over_solo": round(makespan / solo_s, 1),
                "first_metric_p50_s": round(statistics.median(firsts), 1),
                "first_metric_p95_s": round(_percentile(firsts, 0.95), 1),
                "first_job_first_metric_s": round(
                    watcher.first_metric.get(first_run, watcher.done[first_run])
                    - watcher.runs[first_run],
                    2,
                ),
                "completed": statuses.count("completed"),
                "first_job_start_order": [owner[2:] for owner in order],
                "every_first_job_before_any_second": max(firsts_started)
                <= min(seconds_started, default=float("inf")),
            }
        )
    )
    if hasattr(jobs, "stop_scheduler"):
        jobs.stop_scheduler()
    return 0 if statuses.count("completed") == len(statuses) else 1


if __name__ == "__main__":
    sys.exit(main())
