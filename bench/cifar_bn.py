"""Validation accuracy of the CIFAR-10 lesson's VGG-BN after each of its first epochs.

    python bench/cifar_bn.py [--epochs 2] [--npz ../shared/data/cifar10-subset.npz]

Imports the 10,000-image CIFAR-10 subset (1,000 per class; 20% of them validate, its 2,000
test images are the test split) into a scratch data directory, trains the ``vgg-bn``
preset through the job queue as an attendee would, and prints one JSON line: the validation
accuracy and loss after each epoch, and the seconds of training. Batch-norm networks should show
sensible validation figures from the first epoch (issue 11).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument(
        "--npz", default=str(ROOT.parent / "shared" / "data" / "cifar10-subset.npz")
    )
    args = parser.parse_args()
    if not Path(args.npz).is_file():
        print(f"{args.npz} is missing: pass --npz with the CIFAR-10 subset", file=sys.stderr)
        return 2
    os.environ["LAYERLAB_HOME"] = tempfile.mkdtemp(prefix="layerlab-cifar-")
    import numpy as np

    from dlcore.data.npz_import import import_npz
    from dlcore.recipes import preset_experiment
    from dlcore.train import jobs

    with np.load(args.npz) as data:
        arrays = {key: data[key] for key in ("x_train", "y_train", "x_test", "y_test")}
    path = Path(tempfile.mkdtemp()) / "cifar.npz"
    np.savez(path, **arrays)
    import_npz(path.read_bytes(), "cifar-subset", replace=True)
    experiment = preset_experiment("vgg-bn", dataset="cifar-subset")
    experiment = replace(experiment, training=replace(experiment.training, epochs=args.epochs))
    run_id = jobs.submit(experiment)
    final = jobs.wait(run_id)
    metrics = jobs.read_metrics(run_id)
    epochs = metrics[metrics["kind"] == "epoch"]
    print(
        json.dumps(
            {
                "status": final["status"],
                "augment": experiment.augment.to_dict()
                if hasattr(experiment.augment, "to_dict")
                else str(experiment.augment),
                "batch_size": experiment.training.batch_size,
                "val_accuracy": [round(v, 4) for v in epochs["val_accuracy"]],
                "val_loss": [round(v, 4) for v in epochs["val_loss"]],
                "train_accuracy": [round(v, 4) for v in epochs["accuracy"]],
                "seconds": round(float(epochs["elapsed"].iloc[-1]), 1),
            }
        )
    )
    jobs.stop_scheduler()
    return 0 if final["status"] == "completed" else 1


if __name__ == "__main__":
    sys.exit(main())
