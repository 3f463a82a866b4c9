"""The augmentation preview applies the model's own random layers, in training mode."""

from __future__ import annotations

import numpy as np
import pytest

from dlcore import LayerLabError
from dlcore.model.augment import augment_preview
from dlcore.spec import AugmentSpec


def _images() -> np.ndarray:
    images = np.zeros((2, 16, 16, 1), np.uint8)
    images[:, 4:12, 2:6] = 255  # a bar on the left: a horizontal flip moves it right
    return images


def test_no_augmentation_returns_copies_of_the_originals():
    out = augment_preview(_images(), AugmentSpec(), copies=3)
    assert out.shape == (6, 16, 16, 1) and out.dtype == np.uint8
    assert (out == np.repeat(_images(), 3, axis=0)).all()


def test_preview_is_random_but_repeatable():
    spec = AugmentSpec(flip="horizontal", rotation=0.2, zoom=0.2, noise=0.1)
    first = augment_preview(_images(), spec, seed=1, copies=4)
    assert first.shape == (8, 16, 16, 1) and first.dtype == np.uint8
    assert (first == augment_preview(_images(), spec, seed=1, copies=4)).all()
    assert len({version.tobytes() for version in first[:4]}) > 1  # the copies differ


def test_flip_mirrors_the_image():
    out = augment_preview(_images()[:1], AugmentSpec(flip="horizontal"), seed=0, copies=16)
    left = out[:, 4:12, 2:6].mean(axis=(1, 2, 3))
    right = out[:, 4:12, 10:14].mean(axis=(1, 2, 3))
    assert ((left > 200) | (right > 200)).all() and (right > 200).any()


def test_bad_input_is_refused():
    with pytest.raises(LayerLabError, match="batch of images"):
        augment_preview(np.zeros((16, 16)), AugmentSpec(flip="horizontal"))
    with pytest.raises(LayerLabError, match="copies"):
        augment_preview(_images(), AugmentSpec(), copies=0)
