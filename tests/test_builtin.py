"""Built-in datasets: offline ones build for real; downloads are faked (tests never need the
network) and fail with DatasetUnavailable when offline."""

from __future__ import annotations

import io
import socket
import zipfile
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from dlcore.data import downloads, generated
from dlcore.data.builtin import BUILTINS, SHAPES
from dlcore.data.catalogue import list_datasets, load_dataset
from dlcore.data.dataset import Dataset, DatasetNotFound, save_dataset
from dlcore.data.downloads import DatasetUnavailable
from dlcore.data.ownership import PrivateDataset, check_access, is_shared, may_change_dataset
from dlcore.storage import datasets_dir

ENTRY_KEYS = {"title", "description", "classes", "num_classes", "image_shape", "offline"}


def test_every_builtin_is_described():
    for name, entry in BUILTINS.items():
        assert ENTRY_KEYS <= set(entry), name
        assert entry["num_classes"] == len(entry["classes"])
        assert entry["approx_size"]
    assert len(BUILTINS["cifar100"]["classes"]) == 100
    offline = {name for name, entry in BUILTINS.items() if entry["offline"]}
    assert offline == {"digits", "mnist-sample", "shapes"}


def test_digits_build_once_then_load_from_disk():
    data = load_dataset("digits")
    assert data.classes == [str(i) for i in range(10)]
    assert data.image_shape == (8, 8, 1) and data.x_train.dtype == np.uint8
    sizes = [len(data.x_train), len(data.x_val), len(data.x_test)]
    assert sum(sizes) == 1797 and sizes[1] == sizes[2] == 270  # 70/15/15
    assert data.x_train.max() == 255 and data.x_train.min() == 0
    assert data.manifest["builtin"] is True and data.manifest["title"] == "Digits 8x8"
    again = load_dataset("digits")
    assert isinstance(again.x_train, np.memmap)
    np.testing.assert_array_equal(again.x_train, data.x_train)


def test_shapes_are_balanced_and_deterministic():
    data = load_dataset("shapes")
    assert data.classes == SHAPES and data.image_shape == (32, 32, 3)
    total = sum(data.counts()["train"].values()) + len(data.y_val) + len(data.y_test)
    assert total == 400 * len(SHAPES)
    assert set(data.counts()["train"].values()) == {280}
    first, second = generated.build_shapes(per_class=5), generated.build_shapes(per_class=5)
    np.testing.assert_array_equal(first.x_train, second.x_train)
    assert data.x_train.std() > 40  # colourful, not blank


def test_mnist_sample_is_real_mnist():
    data = load_dataset("mnist-sample")
    assert data.image_shape == (28, 28, 1) and data.num_classes == 10
    assert set(data.counts()["train"].values()) == {400}
    assert set(data.counts()["val"].values()) == {50} and set(data.counts()["test"].values()) == {
        50
    }
    x, y = np.asarray(data.x_train, dtype=float), data.y_train
    zero, one = x[y == 0].mean(axis=0)[..., 0], x[y == 1].mean(axis=0)[..., 0]
    assert one[12:16, 12:16].mean() > 150  # a 1 is a stroke through the centre
    assert zero[12:16, 12:16].mean() < 60  # a 0 has a hole there
    assert np.abs(zero - one).mean() > 20
    assert x.max() == 255 and (x == 0).mean() > 0.6  # white ink on black, 0-255


def test_list_datasets_shows_status_and_owner():
    rows = {row["name"]: row for row in list_datasets()}
    assert rows["digits"]["status"] == "offline" and rows["cifar10"]["status"] == "download"
    load_dataset("digits")
    x = np.zeros((4, 4, 4, 1), np.uint8)
    y = np.array([0, 1, 0, 1])
    for owner in ("ann", "bob"):
        dataset = Dataset(f"{owner}-set", ["a", "b"], x, y, x, y, manifest={"owner": owner})
        save_dataset(dataset)
    rows = {row["name"]: row for row in list_datasets(owner="ann")}
    assert rows["digits"]["status"] == "ready" and rows["digits"]["num_images"] == 1797
    assert "ann-set" in rows and "bob-set" not in rows
    assert rows["ann-set"]["builtin"] is False and rows["ann-set"]["image_shape"] == (4, 4, 1)
    assert {"ann-set", "bob-set"} <= {row["name"] for row in list_datasets()}


ANN, BOB = "a-" + "a" * 20, "a-" + "b" * 20


def test_check_access_keeps_an_import_to_its_owner_and_the_instructor():
    x, y = np.zeros((4, 4, 4, 1), np.uint8), np.array([0, 1, 0, 1])
    owner = {"owner": ANN, "owner_label": "Ann"}
    save_dataset(Dataset("ann-set", ["a", "b"], x, y, x, y, manifest=owner))
    save_dataset(Dataset("shared-set", ["a", "b"], x, y, x, y, manifest={"owner": ""}))
    for viewer in (BOB, "", "Ann"):
        with pytest.raises(PrivateDataset, match="belongs to Ann:") as refused:
            check_access("ann-set", viewer)
        assert refused.value.owner == ANN and "ann-set" in str(refused.value)
        assert refused.value.owner_label == "Ann" and ANN not in str(refused.value)
    check_access("ann-set", ANN)
    check_access("ann-set", BOB, instructor=True)
    for open_to_all in ("shared-set", "digits", "no-such-set", "../etc"):
        check_access(open_to_all, BOB)


def test_one_door_says_what_is_shared_and_who_may_delete():
    x, y = np.zeros((4, 4, 4, 1), np.uint8), np.array([0, 1, 0, 1])
    save_dataset(Dataset("ann-set", ["a", "b"], x, y, x, y, manifest={"owner": ANN}))
    save_dataset(Dataset("shared-set", ["a", "b"], x, y, x, y, manifest={"owner": ""}))
    assert is_shared("shared-set") and is_shared("digits") and not is_shared("ann-set")
    assert not is_shared("no-such-set") and not is_shared("../etc")
    assert may_change_dataset("ann-set", ANN) and not may_change_dataset("ann-set", BOB)
    assert not may_change_dataset("shared-set", "") and may_change_dataset("shared-set", "", True)
    assert not may_change_dataset("no-such-set", ANN, instructor=True)


def test_unknown_name_lists_the_choices():
    with pytest.raises(DatasetNotFound, match="mnist-sample"):
        load_dataset("no-such-set")


def offline(*args, **kwargs):
    raise socket.gaierror(-2, "Name or service not known")


def test_download_fails_fast_when_offline(monkeypatch):
    monkeypatch.setattr(socket, "create_connection", offline)
    monkeypatch.setattr(downloads, "import_keras", lambda: pytest.fail("keras was imported"))
    with pytest.raises(DatasetUnavailable, match=r"cannot download.*dlcore fetch cifar10") as info:
        load_dataset("cifar10")
    # the instructor's message (the CLI, `dlcore train` offline): the host, why, where to copy
    said = str(info.value)
    assert "www.cs.toronto.edu: [Errno -2] Name or service not known" in said
    assert str(datasets_dir() / "cifar10") in said
    assert info.value.offline  # the host could not be reached: no internet here
    rows = {row["name"]: row for row in list_datasets()}
    assert rows["cifar10"]["status"] == "download"


def fake_keras(**datasets) -> SimpleNamespace:
    return SimpleNamespace(datasets=SimpleNamespace(**datasets), utils=SimpleNamespace())


def test_loader_failure_becomes_dataset_unavailable(monkeypatch):
    def failing_loader():
        raise Exception("URL fetch failure on https://www.cs.toronto.edu/: None -- no route")

    monkeypatch.setattr(downloads, "check_network", lambda name: None)
    keras = fake_keras(cifar10=SimpleNamespace(load_data=failing_loader))
    monkeypatch.setattr(downloads, "import_keras", lambda: keras)
    with pytest.raises(DatasetUnavailable, match="URL fetch failure.*cannot download"):
        load_dataset("cifar10")


def test_programming_errors_are_not_hidden(monkeypatch):
    def broken_loader():
        raise TypeError("a bug")

    monkeypatch.setattr(downloads, "check_network", lambda name: None)
    keras = fake_keras(mnist=SimpleNamespace(load_data=broken_loader))
    monkeypatch.setattr(downloads, "import_keras", lambda: keras)
    with pytest.raises(TypeError, match="a bug"):
        load_dataset("mnist")


def test_downloaded_arrays_get_a_stratified_validation_split(monkeypatch):
    rng = np.random.default_rng(0)
    x_train = rng.integers(0, 256, (200, 28, 28), dtype=np.uint8)
    y_train = np.repeat(np.arange(10), 20)
    x_test, y_test = x_train[:30], y_train[:30]
    loader = SimpleNamespace(load_data=lambda: ((x_train, y_train), (x_test, y_test)))
    monkeypatch.setattr(downloads, "check_network", lambda name: None)
    monkeypatch.setattr(downloads, "import_keras", lambda: fake_keras(fashion_mnist=loader))
    data = load_dataset("fashion-mnist")
    assert data.image_shape == (28, 28, 1) and data.classes[0] == "T-shirt/top"
    assert len(data.x_train) == 180 and len(data.x_val) == 20 and len(data.x_test) == 30
    assert set(data.counts()["val"].values()) == {2}
    assert (
        data.manifest["builtin"] is True and data.manifest["settings"]["color_mode"] == "grayscale"
    )


def test_cats_vs_dogs_uses_its_train_and_validation_folders(monkeypatch, tmp_path):
    archive = tmp_path / "cats_and_dogs_filtered.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("cats_and_dogs_filtered/vectorize.py", "print('hi')")
        for split, count in (("train", 3), ("validation", 2)):
            for label, colour in (("cats", "orange"), ("dogs", "brown")):
                for i in range(count):
                    buffer = io.BytesIO()
                    Image.new("RGB", (90, 70), colour).save(buffer, format="JPEG")
                    zf.writestr(
                        f"cats_and_dogs_filtered/{split}/{label}/{i}.jpg", buffer.getvalue()
                    )
    keras = fake_keras()
    keras.utils.get_file = lambda *args, **kwargs: str(archive)
    monkeypatch.setattr(downloads, "check_network", lambda name: None)
    monkeypatch.setattr(downloads, "import_keras", lambda: keras)
    data = load_dataset("cats-vs-dogs")
    assert data.classes == ["cats", "dogs"] and data.image_shape == (64, 64, 3)
    assert len(data.x_train) == 6 and len(data.x_val) == 4 and data.x_test is None
    assert data.manifest["builtin"] is True


def test_many_sessions_building_the_same_builtin_at_once_all_get_it():
    import threading

    from dlcore.data.catalogue import load_dataset as load

    results, errors = [], []

    def pick() -> None:
        try:
            results.append(load("digits").num_classes)
        except Exception as error:  # noqa: BLE001 - the test reports any failure below
            errors.append(error)

    threads = [threading.Thread(target=pick) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and results == [10] * 8
