"""Benchmark: the workshop figures on the full MNIST (not a test; prints figures).

Imports ../shared/data/mnist.npz with the project's .npz importer into a scratch data directory,
then trains the lessons' networks as real jobs and reports test accuracy, seconds and images/s:
  lenet, 5 epochs  -> target test accuracy >= 0.990 (DIGITS workshop)
  mlp,   4 epochs  -> target test accuracy >= 0.93  (Keras MNIST class)

    python bench/mnist_accuracy.py [--npz PATH] [--models lenet,mlp]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_NPZ = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist.npz"
TARGETS = {"lenet": (5, 0.990), "mlp": (4, 0.93)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--npz", type=Path, default=DEFAULT_NPZ)
    parser.add_argument("--models", default="lenet,mlp")
    args = parser.parse_args()
    if not args.npz.exists():
        print(
            f"{args.npz} is missing: pass --npz PATH to a Keras-layout mnist.npz", file=sys.stderr
        )
        return 2
    os.environ.setdefault("LAYERLAB_HOME", tempfile.mkdtemp(prefix="layerlab-bench-"))
    from dlcore import jobs
    from dlcore.npz_import import import_npz
    from dlcore.spec import preset_experiment

    started = time.monotonic()
    dataset = import_npz(args.npz, "mnist-full", val_percent=10)
    print(
        f"imported {args.npz.name}: {dataset.manifest['counts']['train'] and len(dataset.y_train)}"
        f" train / {len(dataset.y_val)} val / {len(dataset.y_test)} test images in "
        f"{time.monotonic() - started:.1f} s"
    )
    results = []
    for name in args.models.split(","):
        epochs, target = TARGETS[name]
        run_id = jobs.submit(preset_experiment(name, "mnist-full", epochs=epochs))
        final = jobs.wait(run_id)
        metrics = jobs.read_metrics(run_id)
        last = metrics[metrics["kind"] == "epoch"].iloc[-1]
        result = {
            "model": name,
            "epochs": epochs,
            "status": final["status"],
            "test_accuracy": final.get("test_accuracy"),
            "val_accuracy": final.get("val_accuracy"),
            "target": target,
            "reached": (final.get("test_accuracy") or 0) >= target,
            "train_seconds": round(float(last["elapsed"]), 1),
            "images_per_second": round(len(dataset.y_train) * epochs / float(last["elapsed"])),
            "device": final.get("device"),
        }
        results.append(result)
        print(json.dumps(result), flush=True)
    return 0 if all(r["reached"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
