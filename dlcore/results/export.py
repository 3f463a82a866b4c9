"""Exports of a run: the training script with its images, the model summary, and TensorFlow Lite
files (float and int8) to deploy, each with its size.

The script trains on exactly the images the job used (the same training subset, in the same
order) because its ``.npz`` is made here with the worker's own ``training_subset``. TensorFlow
Lite conversion is backend-specific and lives in ``dlcore.backend``.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from dlcore import LayerLabError
from dlcore.storage import atomic_write_bytes

NUM_CALIBRATION_IMAGES = 200  # representative images for int8 quantisation


def script_name(run_id: str) -> str:
    return f"train_{run_id}.py"


def data_name(run_id: str) -> str:
    return f"{run_id}_data.npz"


def training_arrays(run_id: str) -> dict[str, np.ndarray]:
    """The run's prepared images as the job trained on them: ``x_train``/``y_train`` (the
    subset of ``max_train_images``, if any, in the job's order), ``x_val``/``y_val``, the test
    split when there is one, and ``class_names``. LayerLabError if the dataset is gone or no
    longer matches the run."""
    from dlcore.data.catalogue import load_dataset
    from dlcore.data.dataset import DatasetNotFound
    from dlcore.train.runs import read_dataset_info, read_spec
    from dlcore.train.worker import training_subset

    experiment, info = read_spec(run_id), read_dataset_info(run_id)
    name = experiment.data.dataset
    if not info:
        raise LayerLabError(
            f"Run {run_id} has not loaded its images yet; wait until it is training, then export."
        )
    try:
        dataset = load_dataset(name)
    except DatasetNotFound:
        raise LayerLabError(
            f"Run {run_id} trained on the dataset {name!r}, which is no longer on this server; "
            "import it again under the same name to export the script."
        ) from None
    if list(dataset.image_shape) != list(info["image_shape"]) or dataset.classes != info["classes"]:
        raise LayerLabError(
            f"The dataset {name!r} has changed since run {run_id} trained on it (other classes "
            "or image size); the script would not train on the same images. Export a run "
            "trained on the current dataset."
        )
    x_train, y_train = training_subset(
        dataset.x_train,
        dataset.y_train,
        experiment.data.max_train_images,
        experiment.training.seed,
    )
    arrays = {
        "x_train": x_train,
        "y_train": y_train,
        "x_val": dataset.x_val,
        "y_val": dataset.y_val,
    }
    if dataset.x_test is not None and len(dataset.y_test):
        arrays |= {"x_test": dataset.x_test, "y_test": dataset.y_test}
    arrays = {key: np.ascontiguousarray(value) for key, value in arrays.items()}
    arrays["class_names"] = np.array(dataset.classes, dtype=str)
    return arrays


def training_script(
    run_id: str, has_test: bool | None = None, script_file: str | None = None
) -> str:
    """The run's self-contained Keras 3 + NumPy training script (reads ``data_name(run_id)``
    beside itself). ``has_test``: whether the data file holds a test split (looked up if None)."""
    from dlcore.results.scriptgen import script_text
    from dlcore.train.runs import read_dataset_info, read_spec

    experiment, info = read_spec(run_id), read_dataset_info(run_id)
    if not info:
        raise LayerLabError(
            f"Run {run_id} has not loaded its images yet; wait until it is training, then export."
        )
    if has_test is None:
        has_test = "x_test" in training_arrays(run_id)
    return script_text(
        experiment,
        tuple(info["image_shape"]),
        len(info["classes"]),
        run_id=run_id,
        data_name=data_name(run_id),
        script_name=script_file or script_name(run_id),
        has_test=has_test,
    )


def export_script(run_id: str, folder: Path, script_file: str | None = None) -> dict[str, Path]:
    """Write the training script (``train_<run>.py``, or ``script_file``) and its images
    (``<run>_data.npz``) into ``folder``; returns ``{"script": path, "data": path}``."""
    arrays = training_arrays(run_id)
    text = training_script(run_id, has_test="x_test" in arrays, script_file=script_file)
    folder = Path(folder)
    if not folder.is_dir():
        raise LayerLabError(f"{folder} is not a folder; create it first or choose another.")
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    paths = {
        "script": folder / (script_file or script_name(run_id)),
        "data": folder / data_name(run_id),
    }
    atomic_write_bytes(paths["data"], buffer.getvalue())
    atomic_write_bytes(paths["script"], text.encode("utf-8"))
    return paths


def model_summary(run_id: str) -> str:
    """``model.summary()`` of the run's saved model, as text (the CIFAR-10 notebook prints it)."""
    from dlcore.train.run_outputs import read_model

    model = read_model(run_id)
    lines: list[str] = []
    model.summary(print_fn=lambda text, *_, **__: lines.append(text))
    return "\n".join(lines).rstrip() + "\n"


def tflite_bytes(run_id: str, int8: bool = False) -> bytes:
    """The run's model as TensorFlow Lite: float32, or int8 weights and activations calibrated
    on up to 200 of its training images (input and output stay float: the same pixels 0-255 go
    in, probabilities come out)."""
    from dlcore.backend import tflite_model, tflite_unavailable
    from dlcore.train.run_outputs import read_model

    reason = tflite_unavailable()
    if reason:  # before loading anything
        raise LayerLabError(reason)
    representative = calibration_images(run_id) if int8 else None
    return tflite_model(read_model(run_id), representative)


def calibration_images(run_id: str, count: int = NUM_CALIBRATION_IMAGES) -> np.ndarray:
    """Up to ``count`` of the run's training images, picked evenly over the training set."""
    x_train = training_arrays(run_id)["x_train"]
    picks = np.linspace(0, len(x_train) - 1, num=min(count, len(x_train))).astype(int)
    return x_train[np.unique(picks)]


def export_tflite(run_id: str, path: Path, int8: bool = False) -> dict:
    """Write the TensorFlow Lite model to ``path``; returns ``{"path", "size_bytes", "int8"}``."""
    path = Path(path)
    if path.suffix.lower() != ".tflite":
        raise LayerLabError(
            f"{path.name} does not end in .tflite; name the file e.g. model.tflite."
        )
    content = tflite_bytes(run_id, int8=int8)
    atomic_write_bytes(path, content)
    return {"path": path, "size_bytes": len(content), "int8": int8}


def export_files(run_id: str) -> list[dict]:
    """What a page can offer for download: ``name``, ``description``, ``size_bytes`` (None
    until the file is made) and ``available`` with a ``note`` saying why not."""
    from dlcore.backend import tflite_unavailable
    from dlcore.train.run_outputs import model_file

    model = model_file(run_id)
    reason = tflite_unavailable()
    return [
        _file(
            f"{run_id}.keras",
            "The Keras model: open it with keras.saving.load_model.",
            model.stat().st_size,
        ),
        _file(script_name(run_id), "A Keras + NumPy script that trains this network again."),
        _file(data_name(run_id), "The prepared images the script trains on (keep it beside it)."),
        _file(f"{run_id}_summary.txt", "model.summary(): layers, output shapes, parameters."),
        _file(
            f"{run_id}.tflite",
            "TensorFlow Lite, float32: for phones and small boards.",
            note=reason,
        ),
        _file(
            f"{run_id}_int8.tflite",
            "TensorFlow Lite, int8 quantised: about 4 times smaller.",
            note=reason,
        ),
    ]


def _file(name: str, description: str, size_bytes: int | None = None, note: str | None = None):
    return {
        "name": name,
        "description": description,
        "size_bytes": size_bytes,
        "available": note is None,
        "note": note or "",
    }
