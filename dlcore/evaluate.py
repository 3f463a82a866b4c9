"""Evaluation of a trained model: accuracy and loss per split, the confusion matrix, per-class
precision / recall / F1 (scikit-learn) and the misclassified images sorted by confidence.

``evaluation.json`` holds the figures and ``predictions.npz`` the probabilities of every
validation and test image, so pages can show any cell of the confusion matrix without running
the model again.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from dlcore import LayerLabError
from dlcore.dataset import Dataset
from dlcore.runs import model_file, read_dataset_info, read_spec, run_path, write_status
from dlcore.storage import atomic_write_bytes, atomic_write_json, read_json

EVAL_SPLITS = ("val", "test")


def _log_loss(probabilities: np.ndarray, labels: np.ndarray) -> float:
    picked = probabilities[np.arange(len(labels)), labels]
    return float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0))))


def summarize(probabilities: np.ndarray, labels: np.ndarray, classes: list[str]) -> dict:
    """Accuracy, loss, confusion matrix and per-class report of one split."""
    from sklearn.metrics import classification_report, confusion_matrix

    predicted = probabilities.argmax(axis=1)
    indices = list(range(len(classes)))
    report = classification_report(
        labels, predicted, labels=indices, target_names=classes, output_dict=True, zero_division=0
    )
    return {
        "accuracy": float(np.mean(predicted == labels)),
        "loss": _log_loss(probabilities, labels),
        "num_images": int(len(labels)),
        "confusion_matrix": confusion_matrix(labels, predicted, labels=indices).tolist(),
        "report": report,
    }


def evaluate_model(model, dataset: Dataset, path: Path, batch_size: int = 256) -> dict:
    """Run the model on the validation and test splits; write evaluation.json and
    predictions.npz into the run directory ``path``."""
    results: dict = {"classes": dataset.classes}
    arrays = {}
    for split in EVAL_SPLITS:
        pair = dataset.split(split)
        if pair is None or len(pair[1]) == 0:
            continue
        x, y = pair
        probabilities = model.predict(x, batch_size=batch_size, verbose=0).astype(np.float32)
        results[split] = summarize(probabilities, np.asarray(y), dataset.classes)
        arrays[f"{split}_probabilities"] = probabilities
        arrays[f"{split}_labels"] = np.asarray(y, dtype=np.int32)
    import io

    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(path / "predictions.npz", buffer.getvalue())
    atomic_write_json(path / "evaluation.json", results)
    write_status(
        path,
        val_accuracy=results["val"]["accuracy"],
        val_loss=results["val"]["loss"],
        test_accuracy=results["test"]["accuracy"] if "test" in results else None,
    )
    return results


def evaluate_run(run_id: str) -> dict:
    """The evaluation of a run, computed now from its saved model if it has none yet (a
    cancelled or interrupted run evaluates its last checkpoint)."""
    path = run_path(run_id)
    cached = read_json(path / "evaluation.json")
    if cached:
        return cached
    import keras

    from dlcore.builtin import load_dataset

    model = keras.saving.load_model(model_file(run_id))
    dataset = load_dataset(read_spec(run_id).data.dataset)
    info = read_dataset_info(run_id)
    if info and info.get("classes") != dataset.classes:
        raise LayerLabError(
            f"Dataset {dataset.name!r} changed since run {run_id} trained on it; it cannot be "
            "evaluated on the new data."
        )
    return evaluate_model(model, dataset, path)


def load_predictions(run_id: str, split: str = "val") -> tuple[np.ndarray, np.ndarray]:
    """``(probabilities, labels)`` of a split, as saved by the evaluation."""
    evaluate_run(run_id)
    with np.load(run_path(run_id) / "predictions.npz") as data:
        if f"{split}_labels" not in data:
            raise LayerLabError(f"Run {run_id} has no {split} split; choose 'val'.")
        return data[f"{split}_probabilities"], data[f"{split}_labels"]


def predictions_frame(run_id: str, split: str = "val") -> pd.DataFrame:
    """One row per image: index, true, predicted, confidence, correct, true_probability."""
    probabilities, labels = load_predictions(run_id, split)
    classes = read_dataset_info(run_id).get("classes") or evaluate_run(run_id)["classes"]
    predicted = probabilities.argmax(axis=1)
    return pd.DataFrame(
        {
            "index": np.arange(len(labels)),
            "true": [classes[i] for i in labels],
            "predicted": [classes[i] for i in predicted],
            "confidence": probabilities.max(axis=1),
            "true_probability": probabilities[np.arange(len(labels)), labels],
            "correct": predicted == labels,
        }
    )


def misclassified(run_id: str, split: str = "val", most_confident_first: bool = True):
    """The wrongly classified images of a split, sorted by the model's confidence."""
    frame = predictions_frame(run_id, split)
    wrong = frame[~frame["correct"]]
    return wrong.sort_values("confidence", ascending=not most_confident_first, kind="stable")


def cell_examples(run_id: str, true: str, predicted: str, split: str = "val") -> pd.DataFrame:
    """The images behind one confusion-matrix cell, most confident first."""
    frame = predictions_frame(run_id, split)
    chosen = frame[(frame["true"] == true) & (frame["predicted"] == predicted)]
    return chosen.sort_values("confidence", ascending=False, kind="stable")


def extremes_per_class(run_id: str, split: str = "val") -> pd.DataFrame:
    """Per true class: the most confident right and the most confident wrong example."""
    frame = predictions_frame(run_id, split).sort_values("confidence", ascending=False)
    rows = []
    for _name, group in frame.groupby("true", sort=False):
        for correct, label in ((True, "most confident right"), (False, "most confident wrong")):
            picked = group[group["correct"] == correct].head(1)
            if len(picked):
                rows.append(picked.assign(kind=label))
    return pd.concat(rows) if rows else frame.head(0).assign(kind=[])


def confusion_frame(evaluation: dict, split: str = "val") -> pd.DataFrame:
    """The confusion matrix in long form (true, predicted, count) for a chart."""
    classes = evaluation["classes"]
    matrix = evaluation[split]["confusion_matrix"]
    return pd.DataFrame(
        [
            {"true": classes[i], "predicted": classes[j], "count": int(matrix[i][j])}
            for i in range(len(classes))
            for j in range(len(classes))
        ]
    )


def report_frame(evaluation: dict, split: str = "val") -> pd.DataFrame:
    """Per-class precision, recall, F1 and support as a table."""
    report = evaluation[split]["report"]
    rows = {name: report[name] for name in evaluation["classes"] if name in report}
    return pd.DataFrame.from_dict(rows, orient="index")[
        ["precision", "recall", "f1-score", "support"]
    ]
