"""A run's evaluation on disk: ``evaluation.json`` (the figures) and ``predictions.npz`` (the
probabilities of every validation and test image), written as a pair and read back checked.
The file names are ``dlcore.runs``'s; a damaged file reads as ``RunDamaged``."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from dlcore import LayerLabError
from dlcore.runs import EVALUATION, PREDICTIONS, RunDamaged, damaged_message, load_json, run_path
from dlcore.storage import atomic_write_bytes, atomic_write_json


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
