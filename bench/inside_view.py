"""Seconds to show the Inside page's view of one image once the page is warm (issue 10).

    .venv/bin/python bench/inside_view.py [--repeats 5]

Trains LeNet on the MNIST sample (28x28x1) and cnn3 on the coloured shapes (32x32x3) for one
epoch each, in this process, in a scratch data directory; opens the Inside page with AppTest
(cold: loads the model) and then picks other validation images, timing each rerun: the maps,
the Grad-CAM and every layer's pictures of a new image with the model already cached. Also
times ``explain.inside`` alone on an untrained cnn3 for the cats-vs-dogs size (64x64x3).
Prints one JSON line per case.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def _train(preset: str, dataset: str) -> str:
    from pages_support import id_for

    from dlcore.recipes import preset_experiment
    from dlcore.spec import DataSpec
    from dlcore.train import jobs, worker
    from dlcore.train.runs import record_worker, run_path

    experiment = preset_experiment(preset, dataset=dataset, epochs=1)
    data = DataSpec(dataset=dataset, max_train_images=1000)
    run_id = jobs.create_run(dataclasses.replace(experiment, data=data, owner=id_for("bench")))
    record_worker(run_path(run_id), os.getpid())
    assert worker.main([str(run_path(run_id))]) == 0, run_id
    return run_id


def page_seconds(preset: str, dataset: str, repeats: int) -> dict:
    from pages_support import open_page

    run_id = _train(preset, dataset)
    started = time.perf_counter()
    at = open_page("inside", timeout=300, attendee="bench", run_id=run_id)
    cold = time.perf_counter() - started
    assert not at.exception and not at.error, (at.exception, at.error)
    warm = []
    for number in range(2, repeats + 2):
        started = time.perf_counter()
        at.slider[0].set_value(number).run()
        warm.append(time.perf_counter() - started)
        assert not at.exception and not at.error
    return {
        "case": f"Inside page, {preset} on {dataset}",
        "cold_s": round(cold, 2),
        "warm_median_s": round(statistics.median(warm), 3),
        "warm_max_s": round(max(warm), 3),
        "images": repeats,
    }


def function_seconds(repeats: int) -> dict:
    import numpy as np

    from dlcore.model.build import build_model
    from dlcore.results import explain, explain_images
    from dlcore.spec import preset_model

    model = build_model(preset_model("cnn3"), (64, 64, 3), 2)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(repeats + 1, 64, 64, 3), dtype=np.uint8)
    explain.inside(model, images[0])  # warm: traces the functions once
    times = []
    for image in images[1:]:
        started = time.perf_counter()
        seen = explain.inside(model, image)
        explain_images.overlay(image, seen.heat)
        for view in seen.layers:
            if view.values.ndim == 3:
                explain_images.feature_image(view.values[:16])
        times.append(time.perf_counter() - started)
    return {
        "case": "explain.inside + overlay + maps, cnn3 at 64x64x3 (untrained)",
        "warm_median_s": round(statistics.median(times), 3),
        "images": repeats,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.environ["LAYERLAB_HOME"] = home
        os.environ.setdefault("LAYERLAB_PREWARM", "0")
        for preset, dataset in (("lenet", "mnist-sample"), ("cnn3", "shapes")):
            print(json.dumps(page_seconds(preset, dataset, args.repeats)), flush=True)
        print(json.dumps(function_seconds(args.repeats)), flush=True)


if __name__ == "__main__":
    main()
