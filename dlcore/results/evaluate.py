"""A trained run's evaluation as the pages and the CLI read it: accuracy and loss per split, the
confusion matrix, per-class precision / recall / F1 and the misclassified images sorted by
confidence; and evaluating again a run whose evaluation is missing or damaged.

The job computes and writes the evaluation when it ends (``dlcore.train.evaluation``):
``evaluation.json`` holds the figures and ``predictions.npz`` the probabilities of every
validation and test image, so pages can show any cell of the confusion matrix without running
the model again.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dlcore import LayerLabError
from dlcore.text import plain
from dlcore.train.evaluation import (
    EVAL_SPLITS,
    MAX_MATRIX_CLASSES,
    evaluate_model,
    read_evaluation,
    read_predictions,
)
from dlcore.train.run_outputs import read_model
from dlcore.train.runs import (
    EVALUATION,
    RunDamaged,
    damaged_message,
    read_dataset_info,
    read_spec,
    run_path,
)


def check_evaluation(run_id: str, evaluation: dict) -> dict:
    """``evaluation`` if it has the classes and a complete validation split (and a complete
    test split, if any); RunDamaged naming evaluation.json otherwise."""
    classes = evaluation.get("classes")
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
        raise RunDamaged(damaged_message(run_id, EVALUATION, "no list of classes"))
    for split in EVAL_SPLITS:
        figures = evaluation.get(split)
        if figures is None and split != "val":
            continue
        problem = _split_problem(figures, len(classes))
        if problem:
            raise RunDamaged(damaged_message(run_id, EVALUATION, f"its {split} split {problem}"))
    return evaluation


def _split_problem(figures, num_classes: int) -> str | None:
    if not isinstance(figures, dict):
        return "is missing"
    for key in ("accuracy", "loss", "num_images"):
        if not isinstance(figures.get(key), int | float) or isinstance(figures.get(key), bool):
            return f"has no {key}"
    matrix, cells = figures.get("confusion_matrix"), figures.get("confusion_cells")
    if isinstance(cells, list):  # many classes: only the non-zero cells, as [true, pred, n]
        if not all(isinstance(c, list) and len(c) == 3 for c in cells):
            return "has damaged confusion cells"
    elif not (isinstance(matrix, list) and len(matrix) == num_classes) or not all(
        isinstance(row, list) and len(row) == num_classes for row in matrix
    ):
        return "has no confusion matrix of its classes"
    if not isinstance(figures.get("report"), dict):
        return "has no per-class report"
    return None


def evaluate_run(run_id: str) -> dict:
    """The evaluation of a run, computed now from its saved model if it has none yet (a
    cancelled or interrupted run evaluates its last checkpoint). A damaged evaluation raises
    RunDamaged with what to do."""
    path = run_path(run_id)
    cached = read_evaluation(run_id)
    if cached is not None:
        return check_evaluation(run_id, cached)
    from dlcore.data.catalogue import load_dataset

    model = read_model(run_id)  # fails before Keras is imported when there is no model
    dataset = load_dataset(read_spec(run_id).data.dataset)
    info = read_dataset_info(run_id)
    if info and info.get("classes") != dataset.classes:
        raise LayerLabError(
            f"Dataset {dataset.name!r} changed since run {run_id} trained on it; it cannot be "
            "evaluated on the new data."
        )
    return evaluate_model(model, dataset, path, record_status=False)  # status: the worker's


def load_predictions(run_id: str, split: str = "val") -> tuple[np.ndarray, np.ndarray]:
    """``(probabilities, labels)`` of a split, as saved by the evaluation."""
    evaluation = evaluate_run(run_id)
    return read_predictions(run_id, split, len(evaluation["classes"]))


def predictions_frame(run_id: str, split: str = "val") -> pd.DataFrame:
    """One row per image: index, true, predicted, confidence, correct, true_probability."""
    probabilities, labels = load_predictions(run_id, split)
    classes = evaluate_run(run_id)["classes"]
    classes = [plain(name) for name in classes]
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


def class_names(evaluation: dict) -> list[str]:
    """The evaluation's class names as plain text, as every frame below shows them."""
    return [plain(name) for name in evaluation["classes"]]


def _cells(evaluation: dict, split: str) -> np.ndarray:
    """The confusion matrix's non-zero cells as rows of (true index, predicted index, count),
    from either the dense matrix (up to MAX_MATRIX_CLASSES) or the stored cells."""
    figures = evaluation[split]
    if "confusion_cells" in figures:
        return np.asarray(figures["confusion_cells"], dtype=np.int64).reshape(-1, 3)
    matrix = np.asarray(figures["confusion_matrix"], dtype=np.int64)
    rows, columns = np.nonzero(matrix)
    return np.stack([rows, columns, matrix[rows, columns]], 1)


def confusion_frame(evaluation: dict, split: str = "val") -> pd.DataFrame:
    """The confusion matrix in long form (true, predicted, count), every cell, for a chart.
    Only for up to MAX_MATRIX_CLASSES classes: see ``confused_pairs`` beyond."""
    classes = class_names(evaluation)
    if len(classes) > MAX_MATRIX_CLASSES:
        raise LayerLabError(
            f"{len(classes)} classes are too many for a confusion matrix chart (at most "
            f"{MAX_MATRIX_CLASSES}); use confused_pairs() for the most frequent mistakes."
        )
    matrix = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for true, predicted, count in _cells(evaluation, split):
        matrix[true, predicted] = count
    return pd.DataFrame(
        [
            {"true": classes[i], "predicted": classes[j], "count": int(matrix[i, j])}
            for i in range(len(classes))
            for j in range(len(classes))
        ]
    )


def confused_pairs(evaluation: dict, split: str = "val", limit: int = 50) -> pd.DataFrame:
    """The most frequent mistakes: true, predicted, count and share (of the true class's
    images), largest count first, at most ``limit`` rows. Scales to any number of classes."""
    classes = class_names(evaluation)
    cells = _cells(evaluation, split)
    support = np.bincount(cells[:, 0], weights=cells[:, 2], minlength=len(classes))
    wrong = cells[cells[:, 0] != cells[:, 1]]
    wrong = wrong[np.argsort(-wrong[:, 2], kind="stable")][:limit]
    return pd.DataFrame(
        {
            "true": [classes[i] for i in wrong[:, 0]],
            "predicted": [classes[j] for j in wrong[:, 1]],
            "count": wrong[:, 2].astype(int),
            "share": wrong[:, 2] / np.maximum(support[wrong[:, 0]], 1),
        }
    )


def report_frame(evaluation: dict, split: str = "val") -> pd.DataFrame:
    """Per-class precision, recall (the class's accuracy), F1 and support as a table."""
    report = evaluation[split]["report"]
    names = [name for name in evaluation["classes"] if name in report]
    frame = pd.DataFrame.from_records([report[name] for name in names], index=names)
    frame = frame.reindex(columns=["precision", "recall", "f1-score", "support"])
    frame.index = [plain(name) for name in names]
    return frame
