"""Seconds per rerun of a page in a server process that has Keras loaded, with and without
``runtime.settle_heap`` (the app calls it at the start of every rerun).

    .venv/bin/python bench/page_rerun.py [--page explore] [--reruns 15]

Runs the app's page with AppTest in this process (as the server runs scripts), in a scratch
data directory: reruns before Keras is imported, then after importing Keras and building a
model (what the Evaluate, Inside and Classify pages do when they load a run's model), as the
server ran before ``settle_heap``, then after it. Prints one JSON line per case: the median and
the slowest rerun.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def _reruns(at, count: int) -> list[float]:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--page", default="explore")
    parser.add_argument("--reruns", type=int, default=15)
    args = parser.parse_args()
    os.environ["LAYERLAB_HOME"] = tempfile.mkdtemp(prefix="layerlab-rerun-")
    os.environ.setdefault("LAYERLAB_PREWARM", "0")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from pages_support import open_page

    from dlcore import runtime

    # the page as an attendee sees it, on the default dataset (built on the first run)
    at = open_page(args.page, timeout=120, attendee="Bench", dataset="mnist-sample")
    _reruns(at, 2)  # warm: caches filled, modules imported

    def report(case: str) -> None:
        times = _reruns(at, args.reruns)
        figures = {"median_s": round(statistics.median(times), 3), "max_s": round(max(times), 3)}
        print(json.dumps({"page": args.page, "case": case, **figures}), flush=True)

    report("before Keras")
    from dlcore.model.build import build_model
    from dlcore.recipes import preset_experiment

    build_model(preset_experiment("lenet").model, (28, 28, 1), 10)
    report("Keras loaded, heap not settled")
    # app.py calls this at the start of every rerun; AppTest, once switched to a page, reruns
    # only the page's file, so the bench calls it as app.py would.
    runtime.settle_heap()
    report("Keras loaded, heap settled")


if __name__ == "__main__":
    main()
