"""A run's evaluation, the last step of its job: accuracy and loss per split, the confusion
matrix and per-class precision / recall / F1 (scikit-learn), computed on the validation and test
splits; on disk as ``evaluation.json`` (the figures) and ``predictions.npz`` (the probabilities
of every validation and test image), written as a pair and read back checked.
The file names are ``dlcore.train.runs``'s; a damaged file reads as ``RunDamaged``."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from dlcore import LayerLabError
from dlcore.data.dataset import Dataset
from dlcore.storage import atomic_write_bytes, atomic_write_json, disk_full_as_error
from dlcore.train.runs import (
    EVALUATION,
    PREDICTIONS,
    RunDamaged,
    damaged_message,
    load_json,
    run_path,
    write_status,
)

EVAL_SPLITS = ("val", "test")
# Beyond this many classes a confusion matrix is unreadable and its chart freezes the browser
# (1,000 classes: a million cells); the matrix is stored as its non-zero cells and pages show
# the most confused pairs and a per-class table instead.
MAX_MATRIX_CLASSES = 30


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
    report = {name: _rounded(scores) for name, scores in report.items()}
    matrix = confusion_matrix(labels, predicted, labels=indices)
    summary = {
        "accuracy": float(np.mean(predicted == labels)),
        "loss": _log_loss(probabilities, labels),
        "num_images": int(len(labels)),
        "report": report,
    }
    if len(classes) <= MAX_MATRIX_CLASSES:
        summary["confusion_matrix"] = matrix.tolist()
    else:  # at most one cell per image, however many classes: evaluation.json stays small
        rows, columns = np.nonzero(matrix)
        summary["confusion_cells"] = np.stack([rows, columns, matrix[rows, columns]], 1).tolist()
    return summary


def _rounded(scores):
    if isinstance(scores, dict):
        return {key: round(float(value), 4) for key, value in scores.items()}
    return round(float(scores), 4)


def evaluate_model(
    model, dataset: Dataset, path: Path, batch_size: int = 256, *, record_status: bool = True
) -> dict:
    """Run the model on the validation and test splits; write evaluation.json and
    predictions.npz into the run directory ``path``. The worker (``record_status``) also
    records the scores in the run's status; a page evaluating a stopped run never writes it."""
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
    with disk_full_as_error("saving the run's evaluation"):
        write_evaluation(path, results, arrays)
        if not record_status:
            return results
        write_status(
            path,
            val_accuracy=results["val"]["accuracy"],
            val_loss=results["val"]["loss"],
            test_accuracy=results["test"]["accuracy"] if "test" in results else None,
        )
    return results


def write_evaluation(path: Path, results: dict, arrays: dict[str, np.ndarray]) -> None:
    """``predictions.npz`` first, then ``evaluation.json``: the JSON marks a complete pair."""
    import io

    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(path / PREDICTIONS, buffer.getvalue())
    atomic_write_json(path / EVALUATION, results)


def read_evaluation(run_id: str) -> dict | None:
    """The run's evaluation.json, None before there is one; RunDamaged if it is not an object."""
    path = run_path(run_id)
    try:
        evaluation = load_json(path / EVALUATION)
        if evaluation is not None and not isinstance(evaluation, dict):
            raise ValueError("not a JSON object")
    except ValueError as error:
        raise RunDamaged(damaged_message(run_id, EVALUATION, str(error))) from None
    return evaluation


def read_predictions(run_id: str, split: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """``(probabilities, labels)`` of a split; RunDamaged if the file is cut or inconsistent."""
    path = run_path(run_id)
    try:
        with np.load(path / PREDICTIONS, allow_pickle=False) as data:
            if f"{split}_labels" not in data:
                raise LayerLabError(f"Run {run_id} has no {split} split; choose 'val'.")
            probabilities = np.asarray(data[f"{split}_probabilities"], dtype=np.float32)
            labels = np.asarray(data[f"{split}_labels"]).astype(np.int64)
    except (OSError, EOFError, KeyError, zipfile.BadZipFile) as error:
        raise RunDamaged(damaged_message(run_id, PREDICTIONS, type(error).__name__)) from None
    except ValueError as error:
        if isinstance(error, LayerLabError):
            raise
        raise RunDamaged(damaged_message(run_id, PREDICTIONS, str(error)[:80])) from None
    fits = probabilities.ndim == 2 and probabilities.shape == (len(labels), num_classes)
    if not fits or (len(labels) and not (0 <= labels.min() and labels.max() < num_classes)):
        problem = f"its {split} arrays do not match the {num_classes} classes"
        raise RunDamaged(damaged_message(run_id, PREDICTIONS, problem))
    return probabilities, labels
