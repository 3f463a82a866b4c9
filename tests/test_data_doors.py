"""One door per idea on the data side: one place resolves a dataset name, the server's image
size limit binds imports but never a run's stored settings, and imports ask before replacing."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from dlcore import LayerLabError
from dlcore.data.builtin import BUILTINS
from dlcore.data.catalogue import describe_dataset, is_builtin, load_dataset
from dlcore.data.dataset import Dataset, save_dataset
from dlcore.data.images import PrepSettings
from dlcore.data.importer import import_zip
from dlcore.data.npz_import import import_npz
from dlcore.data.ownership import DatasetExists, PrivateDataset
from dlcore.train import admission

ANN, BOB = "a-" + "a" * 20, "a-" + "b" * 20


def _save(name: str, owner: str = "") -> None:
    x, y = np.zeros((4, 5, 6, 1), np.uint8), np.array([0, 1, 0, 1])
    save_dataset(Dataset(name, ["a", "b"], x, y, x, y, manifest={"owner": owner}))


def _npz(side: int = 6) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, x_train=np.zeros((8, side, side), np.uint8), y_train=np.arange(8) % 2)
    return buffer.getvalue()


def test_describe_dataset_is_the_one_answer_for_a_name():
    assert describe_dataset("cifar10") is BUILTINS["cifar10"]  # not built: the catalogue entry
    _save("ann-set", owner=ANN)
    described = describe_dataset("ann-set")
    assert described["owner"] == ANN and tuple(described["image_shape"]) == (5, 6, 1)
    for missing in ("no-such-set", "../etc", "", None, 7):
        assert describe_dataset(missing) is None
    assert is_builtin("digits") and not is_builtin("ann-set") and not is_builtin(None)
    # the job layer answers from the same door
    assert admission.dataset_shape("ann-set") == {"image_shape": (5, 6, 1), "num_classes": 2}
    assert admission.dataset_shape("cifar100") == {"image_shape": (32, 32, 3), "num_classes": 100}
    with pytest.raises(LayerLabError, match="No dataset named 'nope'"):
        admission.dataset_shape("nope")


def test_load_dataset_checks_access_when_given_a_viewer():
    _save("ann-set", owner=ANN)
    with pytest.raises(PrivateDataset, match="belongs to"):
        load_dataset("ann-set", viewer=BOB)
    assert load_dataset("ann-set", viewer=ANN).num_classes == 2
    assert load_dataset("ann-set", viewer=BOB, instructor=True).num_classes == 2
    assert load_dataset("ann-set").num_classes == 2  # the worker and the CLI: no viewer


def test_stored_settings_load_whatever_the_limit_and_imports_obey_it(monkeypatch):
    monkeypatch.setenv("LAYERLAB_MAX_IMAGE_SIDE", "16")
    stored = PrepSettings.from_dict({"color_mode": "grayscale", "width": 28, "height": 28})
    assert (stored.width, stored.height) == (28, 28)
    with pytest.raises(LayerLabError, match="Image width is 28; use 4 to 16 pixels"):
        import_npz(_npz(), "big", settings=PrepSettings("grayscale", 28, 28))
    with pytest.raises(LayerLabError, match="Image width is 20; use 4 to 16 pixels"):
        import_npz(_npz(side=20), "big")  # kept at their own size: still bound by the limit
    with pytest.raises(LayerLabError, match="use 4 to 16 pixels"):
        import_zip(b"PK", "big", PrepSettings("grayscale", 20, 8))
    with pytest.raises(LayerLabError, match="use 4 to 4096"):
        PrepSettings("grayscale", 5000, 28)  # only fixed, sane bounds in the value itself
    assert import_npz(_npz(), "small").image_shape == (6, 6, 1)


def test_an_older_run_still_classifies_after_the_limit_is_lowered(run_id, monkeypatch):
    from dlcore.results.inference import classify_run

    monkeypatch.setenv("LAYERLAB_MAX_IMAGE_SIDE", "4")  # below the run's 8x8 digits
    image = Image.new("L", (30, 30), 0)
    predictions = classify_run(run_id, [image], top_k=2)
    assert len(predictions) == 1 and len(predictions[0].top) == 2


def test_an_npz_import_asks_before_replacing_ones_own_dataset():
    import_npz(_npz(), "arrays", owner=ANN)
    with pytest.raises(DatasetExists, match="already have a dataset named 'arrays'"):
        import_npz(_npz(side=8), "arrays", owner=ANN)
    assert load_dataset("arrays").image_shape == (6, 6, 1)  # untouched
    assert import_npz(_npz(side=8), "arrays", owner=ANN, replace=True).image_shape == (8, 8, 1)
