"""Classify new images with a finished run's model, prepared exactly as its training images.

An uploaded file's folder or name may say its true class (``class_from_name``), so a batch of
photos can be scored: k of n right.

Only models that dlcore itself saved in a run directory are ever loaded (``safe_mode``), never a
file an attendee uploads: deserializing a foreign model can run arbitrary code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from dlcore import LayerLabError
from dlcore.train.run_outputs import read_model
from dlcore.train.runs import read_dataset_info


@dataclass
class Prediction:
    label: str
    probability: float
    top: list[tuple[str, float]]
    image: np.ndarray = field(repr=False)  # (H, W, C) uint8, as the network sees it
    source: str = ""


def load_run_model(run_id: str):
    """The run's saved Keras model (final, or its best checkpoint if it did not finish); a
    damaged file raises RunDamaged, a LayerLabError that says what to do."""
    return read_model(run_id)


def run_preparation(run_id: str) -> dict:
    """Classes, image shape and preparation settings of the run's dataset."""
    info = read_dataset_info(run_id)
    if not info:
        raise LayerLabError(
            f"Run {run_id} has not loaded its dataset yet; wait until it starts training."
        )
    return info


def prepare_for_run(source, info: dict, digit_mode: bool = False) -> np.ndarray:
    """One image (bytes, path, PIL image or array) prepared as the run's training images."""
    from dlcore.data.digit_photo import digit_photo
    from dlcore.data.images import PrepSettings, prepare_image

    settings = PrepSettings.from_dict(info["settings"])
    if digit_mode:
        if settings.channels != 1:
            raise LayerLabError("The digit-photo mode is for grayscale digit datasets like MNIST.")
        return digit_photo(source, width=settings.width, height=settings.height)
    return prepare_image(source, settings)


def _prepare_named(source, info: dict, digit_mode: bool) -> np.ndarray:
    from dlcore.data.image_files import ImageError

    try:
        return prepare_for_run(source, info, digit_mode)
    except ImageError as error:
        name = Path(source).name if isinstance(source, str | Path) else "image"
        raise ImageError(f"{name}: {error}") from None


def prepare_batch(info: dict, sources: list, digit_mode: bool = False) -> np.ndarray:
    """Every image prepared as the run's training images; a bad one raises ImageError naming
    the file."""
    if not sources:
        raise LayerLabError("No image given; choose at least one image to classify.")
    return np.stack([_prepare_named(source, info, digit_mode) for source in sources])


def classify(
    model,
    info: dict,
    sources: list,
    top_k: int = 3,
    digit_mode: bool = False,
) -> list[Prediction]:
    """Predict each image; top-k labels with probabilities. Bad images raise ImageError."""
    return _predict(model, info, prepare_batch(info, sources, digit_mode), sources, top_k)


def _predict(model, info: dict, images: np.ndarray, sources: list, top_k: int) -> list[Prediction]:
    classes = info["classes"]
    top_k = max(1, min(int(top_k), len(classes)))
    probabilities = np.asarray(model.predict(images, verbose=0))
    predictions = []
    for source, image, probs in zip(sources, images, probabilities, strict=True):
        order = np.argsort(probs)[::-1][:top_k]
        top = [(classes[i], float(probs[i])) for i in order]
        name = str(source) if isinstance(source, str | Path) else ""
        predictions.append(Prediction(top[0][0], top[0][1], top, image, name))
    return predictions


def classify_run(run_id: str, sources: list, top_k: int = 3, digit_mode: bool = False):
    """Load a run's model and classify ``sources`` (the CLI's path). The images are checked
    first, so a bad file fails at once, before the model is loaded."""
    info = run_preparation(run_id)
    images = prepare_batch(info, sources, digit_mode)
    return _predict(load_run_model(run_id), info, images, sources, top_k)


# What may follow a class name at the start of a file name: `7_a.jpg`, `cat.12.jpg`, `dog-3.png`.
NAME_SEPARATORS = ("", "_", "-", ".", " ")


def _named_class(text: str, classes: Sequence[str], whole: bool) -> str | None:
    """The class that ``text`` is (``whole``) or starts with, exact before ignoring case; the
    longest class when several match."""
    for fold in (False, True):
        seen = text.casefold() if fold else text
        found = [
            c
            for c in classes
            if (key := c.casefold() if fold else c)
            and (seen == key if whole else seen.startswith(key))
            and (whole or seen[len(key) : len(key) + 1] in NAME_SEPARATORS)
        ]
        if found:
            return max(found, key=len)
    return None


def class_from_name(name: str, classes: Sequence[str]) -> str | None:
    """The class that an uploaded file's path says it belongs to, or None. The rule:

    1. a folder of the path named like a class, the nearest folder first (``digits/7/a.jpg``,
       ``test/cat/1.jpg``); a folder upload gives such paths;
    2. else the file name: the class name alone (``7.png``) or followed by ``_``, ``-``, ``.``
       or a space (``7_photo.jpg``, ``cat.12.jpg``, Kaggle's naming).

    An exact match wins over one that ignores case; among several, the longest class name
    (classes ``1`` and ``10``: ``10_a.jpg`` is a 10)."""
    names = [str(c) for c in classes]
    path = PurePosixPath(name.replace("\\", "/"))
    for folder in reversed(path.parts[:-1]):
        if (found := _named_class(folder, names, whole=True)) is not None:
            return found
    return _named_class(path.stem if path.suffix else path.name, names, whole=False)


@dataclass(frozen=True)
class Tally:
    """How many of the images whose name says their class were classified right."""

    right: int
    counted: int
    not_counted: int


def tally(truths: Sequence[str | None], guesses: Sequence[str]) -> Tally:
    """Right answers among the images with a known true class (``None``: not counted)."""
    pairs = [(t, g) for t, g in zip(truths, guesses, strict=True) if t is not None]
    right = sum(str(t) == str(g) for t, g in pairs)
    return Tally(right, len(pairs), len(truths) - len(pairs))
