"""What a job writes into its run directory as it trains, and how pages read it back: the
metrics log (append-only; a cut or garbled line is skipped), the saved models (final, or the
best checkpoint) and the first conv layer's filter history. The directory itself, its names and
its status records belong to ``dlcore.train.runs``.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from dlcore import LayerLabError
from dlcore.runtime import settle_heap
from dlcore.storage import atomic_write_bytes
from dlcore.train.records import MetricRow
from dlcore.train.runs import (
    BEST,
    FILTERS,
    METRICS,
    MODEL,
    RunDamaged,
    damaged_message,
    run_path,
)

_MODEL_ERRORS = (ValueError, KeyError, TypeError, OSError, EOFError, zipfile.BadZipFile)


def append_metric(path: Path, row: MetricRow) -> None:
    """Append one row. A crash can cut only the last line, which ``read_metric_rows`` skips."""
    with open(path / METRICS, "a") as handle:
        handle.write(json.dumps(row.to_dict()) + "\n")
        handle.flush()


def read_metric_rows(run_id: str) -> list[MetricRow]:
    """The rows of the metrics log; a cut, garbled or non-UTF-8 line is skipped."""
    path = run_path(run_id)
    try:
        lines = (path / METRICS).read_bytes().splitlines()
    except FileNotFoundError:
        return []
    except OSError as error:
        raise RunDamaged(damaged_message(run_id, METRICS, str(error.strerror))) from None
    rows = []
    for line in lines:
        try:
            rows.append(MetricRow.from_dict(json.loads(line)))
        except (ValueError, TypeError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            continue
    return rows


def model_file(run_id: str) -> Path:
    """The run's final model, or its best checkpoint when training did not finish."""
    path = run_path(run_id)
    for name in (MODEL, BEST):
        if (path / name).is_file():
            return path / name
    raise LayerLabError(
        f"Run {run_id} has no saved model yet: it saves one after its first epoch. Wait for it, "
        "or choose a finished run."
    )


def read_model(run_id: str):
    """The run's saved Keras model; RunDamaged if the file cannot be loaded. Only files that
    dlcore saved in a run directory are loaded, and in Keras's safe mode."""
    name = model_file(run_id).name  # before importing Keras: a run without a model fails fast
    import keras

    settle_heap()  # Keras's first import in this process: settled before any model exists

    try:
        return keras.saving.load_model(model_file(run_id), safe_mode=True)
    except _MODEL_ERRORS as error:
        raise RunDamaged(damaged_message(run_id, name, type(error).__name__)) from None


def write_filter_history(path: Path, layer_name: str, kernels: np.ndarray) -> None:
    """The first conv layer's kernels so far: float32 (epochs + 1, k, k, in, filters), frame 0
    before training. Rewritten whole at each epoch end (a few KB), atomically."""
    import io

    buffer = io.BytesIO()
    np.savez_compressed(buffer, layer=np.array(layer_name), kernels=kernels.astype(np.float32))
    atomic_write_bytes(path / FILTERS, buffer.getvalue())


def read_filter_history(run_id: str) -> tuple[str, np.ndarray]:
    """``(layer name, kernels)`` as ``write_filter_history`` saved them; LayerLabError if the
    run saved none, RunDamaged if the file cannot be read."""
    path = run_path(run_id)
    try:
        with np.load(path / FILTERS, allow_pickle=False) as data:
            layer_name, kernels = str(data["layer"]), np.asarray(data["kernels"], np.float32)
    except FileNotFoundError:
        raise LayerLabError(
            f"Run {run_id} saved no filters: its network has no convolution layer, or it was "
            "trained before LayerLab saved them. Train a network with a conv block to see its "
            "filters change epoch by epoch."
        ) from None
    except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile) as error:
        raise RunDamaged(damaged_message(run_id, FILTERS, type(error).__name__)) from None
    if kernels.ndim != 5 or not len(kernels):
        raise RunDamaged(damaged_message(run_id, FILTERS, f"kernels of shape {kernels.shape}"))
    return layer_name, kernels
