"""Importing folders, ZIPs, browser uploads and .npz files, bad files and hostile ZIPs included."""

from __future__ import annotations

import io
import re
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dlcore import LayerLabError
from dlcore.data import unpack
from dlcore.data.dataset import Dataset, save_dataset
from dlcore.data.images import PrepSettings
from dlcore.data.importer import import_files, import_folder, import_zip
from dlcore.data.npz_import import import_npz
from dlcore.data.ownership import DatasetExists
from dlcore.storage import scratch_dir

GREY16 = PrepSettings("grayscale", 16, 16)
COLOURS = {"cat": (250, 120, 0), "dog": (90, 60, 30), "fox": (200, 40, 40)}


def png(colour=(0, 0, 0), size=(20, 24)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg(colour=(0, 0, 0)) -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise((40, 40), 60).convert("RGB").save(buffer, format="JPEG")
    return buffer.getvalue()


BAD_FILES = {
    "truncated.jpg": jpeg()[:300],
    "empty.png": b"",
    "notes.png": b"this is a text file saved with a .png name",
}


def tree_files(classes: dict[str, int], prefix: str = "") -> dict[str, bytes]:
    """``{relative path: bytes}`` of a class-folder tree with coloured PNGs."""
    files = {}
    for name, count in classes.items():
        for i in range(count):
            sub = "more/" if i % 3 == 2 else ""  # some images one folder deeper
            files[f"{prefix}{name}/{sub}{i}.png"] = png(COLOURS.get(name, (9, 9, 9)))
    return files


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def make_zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def outside_home(tmp_path: Path) -> set[str]:
    home = tmp_path / "home"
    return {str(p) for p in tmp_path.rglob("*") if home not in p.parents and p != home}


def test_import_folder_skips_bad_files_and_keeps_the_rest(tmp_path):
    files = tree_files({"cat": 6, "dog": 6, "fox": 6})
    files.update({f"cat/{name}": data for name, data in BAD_FILES.items()})
    files.update({"dog/readme.txt": b"hi", "dog/.hidden.png": b"x", "fox/.DS_Store": b"x"})
    files.update({"__MACOSX/cat/._0.png": b"x", "loose.png": png()})
    root = write_tree(tmp_path / "photos", files)
    (root / "empty").mkdir()
    calls = []
    data = import_folder(
        root, "pets", GREY16, val_percent=33, owner="ann", progress=lambda *a: calls.append(a)
    )
    assert data.classes == ["cat", "dog", "fox"] and data.image_shape == (16, 16, 1)
    assert len(data.x_train) + len(data.x_val) == 18
    assert set(data.counts()["val"].values()) == {2}
    reasons = {entry["file"]: entry["reason"] for entry in data.manifest["skipped"]}
    assert "truncated" in reasons["cat/truncated.jpg"]
    assert "empty file" in reasons["cat/empty.png"]
    assert "not an image" in reasons["cat/notes.png"]
    assert (
        "not an image extension" in reasons["dog/readme.txt"]
        and "class folder" in reasons["loose.png"]
    )
    assert "empty class folder" in reasons["empty"]
    assert not any(".hidden" in f or "MACOSX" in f or "DS_Store" in f for f in reasons)
    manifest = data.manifest
    assert manifest["owner"] == "ann" and manifest["builtin"] is False
    assert manifest["settings"] == GREY16.to_dict() and manifest["source"] == "photos"
    assert calls[-1][:2] == (21, 21)  # 18 good + 3 bad images decoded
    cat = np.asarray(data.x_train)[data.y_train == 0]
    assert abs(int(cat.mean()) - round(0.299 * 250 + 0.587 * 120)) <= 2  # prepared grey


def test_separate_val_folder_must_have_the_same_classes(tmp_path):
    train = write_tree(tmp_path / "train", tree_files({"cat": 4, "dog": 4}))
    val = write_tree(tmp_path / "val", tree_files({"cat": 2, "dog": 3}))
    data = import_folder(train, "pets", GREY16, val_path=val, test_percent=25)
    assert len(data.x_val) == 5 and len(data.x_train) == 6 and len(data.x_test) == 2
    odd = write_tree(tmp_path / "odd", tree_files({"cat": 2, "cow": 2}))
    with pytest.raises(LayerLabError, match=r"only in train \['dog'\], only in val \['cow'\]"):
        import_folder(train, "pets2", GREY16, val_path=odd)


def test_too_few_classes_or_images_fail_clearly(tmp_path):
    one = write_tree(tmp_path / "one", tree_files({"cat": 5}))
    (one / "dog").mkdir()  # empty: ignored, which leaves one class
    with pytest.raises(LayerLabError, match="at least 2"):
        import_folder(one, "one", GREY16)
    few = write_tree(tmp_path / "few", tree_files({"cat": 5, "dog": 1}))
    with pytest.raises(LayerLabError, match=r"\{'dog': 1\} have fewer than 2"):
        import_folder(few, "few", GREY16)
    with pytest.raises(LayerLabError, match="not a folder"):
        import_folder(tmp_path / "missing", "gone", GREY16)


def test_max_per_class_is_deterministic(tmp_path):
    root = tmp_path / "root"
    files = {}
    for label in ("cat", "dog"):
        for i in range(10):
            files[f"{label}/{i}.png"] = png((i * 20, 0, 0) if label == "cat" else (0, i * 20, 0))
    write_tree(root, files)
    first = import_folder(root, "capped", PrepSettings("color", 8, 8), max_per_class=4, seed=3)
    again = import_folder(
        root, "capped", PrepSettings("color", 8, 8), max_per_class=4, seed=3, replace=True
    )
    assert sum(first.counts()["train"].values()) + len(first.y_val) == 8
    np.testing.assert_array_equal(first.x_train, again.x_train)


def test_limits_and_names_are_enforced(tmp_path, monkeypatch):
    root = write_tree(tmp_path / "root", tree_files({"cat": 4, "dog": 4}))
    with pytest.raises(LayerLabError, match="built-in"):
        import_folder(root, "mnist", GREY16)
    with pytest.raises(LayerLabError, match="cannot be used"):
        import_folder(root, "../evil", GREY16)
    import_folder(root, "mine", GREY16, owner="ann")
    with pytest.raises(DatasetExists, match="already have a dataset named 'mine'"):
        import_folder(root, "mine", GREY16, owner="ann")  # replaced only when asked to
    import_folder(root, "mine", GREY16, owner="ann", replace=True)  # your own set: fine
    with pytest.raises(LayerLabError, match="already exists"):
        import_folder(root, "mine", GREY16, owner="bob", replace=True)
    monkeypatch.setenv("LAYERLAB_MAX_IMAGES_PER_DATASET", "5")
    with pytest.raises(LayerLabError, match="8 images is more"):
        import_folder(root, "big", GREY16)


def test_zip_with_wrapper_splits_and_bad_members(tmp_path):
    files = tree_files({"cat": 4, "dog": 4}, prefix="mnist/train/")
    files.update(tree_files({"cat": 2, "dog": 2}, prefix="mnist/val/"))
    files.update(tree_files({"cat": 1, "dog": 2}, prefix="mnist/test/"))
    files.update({f"mnist/train/dog/{name}": data for name, data in BAD_FILES.items()})
    files.update({"__MACOSX/mnist/train/cat/._0.png": b"junk", "mnist/.DS_Store": b"junk"})
    source = tmp_path / "upload.zip"
    source.write_bytes(make_zip(files))
    before = outside_home(tmp_path)
    data = import_zip(source, "zipped", PrepSettings("color", 12, 10, "crop"))
    assert data.classes == ["cat", "dog"] and data.image_shape == (10, 12, 3)
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (8, 4, 3)
    skipped = {entry["file"] for entry in data.manifest["skipped"]}
    assert {f"mnist/train/dog/{name}" for name in BAD_FILES} <= skipped
    assert data.manifest["source"] == "upload.zip"
    assert outside_home(tmp_path) == before
    assert list(scratch_dir().iterdir()) == []


def test_zip_escapes_are_never_written(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in tree_files({"cat": 3, "dog": 3}).items():
            archive.writestr(name, data)
        archive.writestr("../escaped.png", png())
        archive.writestr("cat/../../escaped2.png", png())
        archive.writestr("/tmp/absolute.png", png())
        archive.writestr("C:\\windows\\absolute.png", png())
        link = zipfile.ZipInfo("cat/link.png")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    before = outside_home(tmp_path)
    data = import_zip(buffer.getvalue(), "safe", GREY16)
    reasons = {entry["file"]: entry["reason"] for entry in data.manifest["skipped"]}
    assert "'..'" in reasons["../escaped.png"] and "'..'" in reasons["cat/../../escaped2.png"]
    assert "absolute" in reasons["/tmp/absolute.png"]
    assert "absolute" in reasons["C:\\windows\\absolute.png"]
    assert "symbolic link" in reasons["cat/link.png"]
    assert len(data.x_train) + len(data.x_val) == 6
    assert outside_home(tmp_path) == before
    assert not Path("/tmp/absolute.png").exists()
    assert not any(scratch_dir().iterdir())


def test_zip_bombs_and_oversized_zips_are_refused(tmp_path, monkeypatch):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("cat/bomb.png", b"\0" * (20 * 1024 * 1024))
    with pytest.raises(LayerLabError, match="ZIP bomb"):
        import_zip(buffer.getvalue(), "bomb", GREY16)
    many = make_zip(tree_files({"cat": 3, "dog": 3}))
    monkeypatch.setenv("LAYERLAB_MAX_FILES_PER_IMPORT", "5")
    with pytest.raises(LayerLabError, match="6 entries"):
        import_zip(many, "many", GREY16)
    with pytest.raises(LayerLabError, match="not a readable ZIP"):
        import_zip(b"PK but not really a zip", "junk", GREY16)
    assert not any(scratch_dir().iterdir())


def test_bytes_written_are_counted_whatever_the_zip_declares(tmp_path):
    with pytest.raises(LayerLabError, match="unpack to more"):
        unpack.write_member(tmp_path, "a/b.png", [b"x" * 600, b"x" * 600], budget=1000)


def test_import_files_from_a_browser_folder_upload():
    files = list(tree_files({"cat": 3, "dog": 3}, prefix="my photos/").items())
    files += [("my photos/../../outside.png", png()), ("my photos/.hidden/x.png", png())]
    files += [("my photos/cat/empty.png", b"")]
    data = import_files(files, "upload", GREY16, val_percent=34)
    assert data.classes == ["cat", "dog"] and len(data.x_train) + len(data.x_val) == 6
    reasons = {entry["file"]: entry["reason"] for entry in data.manifest["skipped"]}
    assert "'..'" in reasons["my photos/../../outside.png"]
    assert "empty file" in reasons["my photos/cat/empty.png"]
    assert not any(scratch_dir().iterdir())


def npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def test_import_npz_keras_layout():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (40, 10, 10), dtype=np.uint8)
    y = np.repeat([0, 1, 2, 3], 10)
    data = import_npz(npz(x_train=x, y_train=y, x_test=x[:8], y_test=y[:8]), "arrays", owner="ann")
    assert data.image_shape == (10, 10, 1) and data.classes == ["0", "1", "2", "3"]
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (32, 8, 8)
    assert data.manifest["settings"]["color_mode"] == "grayscale"
    floats = rng.random((20, 6, 6, 3)).astype(np.float32)
    labels = np.eye(2)[np.repeat([0, 1], 10)]  # one-hot labels are accepted too
    data = import_npz(npz(x_train=floats, y_train=labels), "floats", classes=["no", "yes"])
    assert data.x_train.dtype == np.uint8 and data.x_train.max() > 200
    assert data.classes == ["no", "yes"] and data.manifest["source"] == "uploaded .npz"
    resized = import_npz(
        npz(x_train=floats, y_train=labels), "resized", settings=PrepSettings("grayscale", 8, 8)
    )
    assert resized.image_shape == (8, 8, 1) and resized.manifest["settings"]["width"] == 8


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"x": np.zeros((4, 5, 5))}, "expected x_train and y_train"),
        ({"x_train": np.zeros((4, 5)), "y_train": np.zeros(4)}, "shape"),
        ({"x_train": np.zeros((4, 5, 5, 2)), "y_train": np.zeros(4)}, r"\(4, 5, 5, 2\)"),
        ({"x_train": np.full((4, 5, 5), 300.0), "y_train": np.zeros(4)}, "0-255"),
        ({"x_train": np.zeros((4, 5, 5)), "y_train": np.array([0, 1, 0])}, "expected 4"),
        ({"x_train": np.zeros((4, 5, 5)), "y_train": np.array([0, 1, -1, 1])}, "class indices"),
        ({"x_train": np.zeros((4, 5, 5)), "y_train": np.array([0, 1.5, 0, 1])}, "whole-number"),
        ({"x_train": np.zeros((4, 5, 5)), "y_train": np.arange(4), "x_test": np.zeros(1)}, "both"),
    ],
)
def test_import_npz_rejects_bad_arrays(arrays, message):
    with pytest.raises(LayerLabError, match=message):
        import_npz(npz(**arrays), "bad")


def test_import_npz_rejects_files_that_are_not_npz(tmp_path):
    with pytest.raises(LayerLabError, match="not a readable .npz"):
        import_npz(b"not numpy at all", "bad")
    bomb = io.BytesIO()
    np.savez_compressed(bomb, x_train=np.zeros((30, 1000, 1000), np.uint8), y_train=np.zeros(30))
    with pytest.raises(LayerLabError, match="ZIP bomb"):
        import_npz(bomb.getvalue(), "bomb")
    single = io.BytesIO()
    np.save(single, np.zeros(3))
    with pytest.raises(LayerLabError, match="single .npy"):
        import_npz(single.getvalue(), "bad")
    with pytest.raises(LayerLabError, match="too few class names|only 1 class names"):
        import_npz(npz(x_train=np.zeros((4, 5, 5)), y_train=np.arange(4) % 2), "x", classes=["a"])


def test_import_does_not_replace_a_builtin_on_disk():
    x = np.zeros((4, 4, 4, 1), np.uint8)
    y = np.array([0, 1, 0, 1])
    save_dataset(Dataset("teacher-set", ["a", "b"], x, y, x, y, manifest={"builtin": True}))
    with pytest.raises(LayerLabError, match="built-in"):
        import_npz(npz(x_train=np.zeros((4, 5, 5)), y_train=np.arange(4) % 2), "teacher-set")


# --- issue 7: budgets, one writer per name, re-import refusal, delete -------------------------


def test_zip_of_tiny_pngs_is_refused_by_the_import_budget_before_decoding(tmp_path):
    """463 KB of 3,000 1x1 PNGs asked for 563 MB at 256x256: refused from the member count."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for i in range(3000):
            archive.writestr(f"{'ab'[i % 2]}/{i}.png", png(size=(1, 1)))
    with pytest.raises(LayerLabError, match="more than this server's limit of 512 MB"):
        import_zip(buffer.getvalue(), "tiny", PrepSettings("color", 256, 256))
    assert not list(scratch_dir().iterdir())


def test_npz_count_and_size_are_checked_before_any_image_is_resized(monkeypatch):
    x, y = np.zeros((3000, 4, 4), np.uint8), np.arange(3000) % 2
    calls = []
    monkeypatch.setattr("dlcore.data.npz_import.prepare_image", lambda *a: calls.append(1))
    with pytest.raises(LayerLabError, match="prepared data"):
        import_npz(npz(x_train=x, y_train=y), "big", settings=PrepSettings("color", 256, 256))
    monkeypatch.setenv("LAYERLAB_MAX_IMAGES_PER_DATASET", "100")
    with pytest.raises(LayerLabError, match="3,000 images is more"):
        import_npz(npz(x_train=x, y_train=y), "big", settings=GREY16)
    assert calls == []


def test_one_class_cap_for_every_import_path(tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERLAB_MAX_CLASSES_PER_IMPORT", "3")
    root = write_tree(tmp_path / "many", tree_files({f"c{i}": 2 for i in range(4)}))
    with pytest.raises(LayerLabError, match="at most 3 classes per import"):
        import_folder(root, "many", GREY16)
    x, y = np.zeros((8, 5, 5), np.uint8), np.arange(8) % 4
    with pytest.raises(LayerLabError, match="at most 3 classes per import"):
        import_npz(npz(x_train=x, y_train=y), "many")


def test_import_counts_its_disk_against_the_limit(tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERLAB_MAX_DISK_GB", "0.000001")
    root = write_tree(tmp_path / "pets", tree_files({"cat": 3, "dog": 3}))
    with pytest.raises(LayerLabError, match="over the limit of"):
        import_folder(root, "pets", PrepSettings("color", 64, 64))


def test_owner_label_is_stored_beside_the_owner_id(tmp_path):
    root = write_tree(tmp_path / "pets", tree_files({"cat": 3, "dog": 3}))
    data = import_folder(root, "pets", GREY16, owner="a-123", owner_label="Ann\u202e")
    assert data.manifest["owner"] == "a-123" and data.manifest["owner_label"] == "Ann"


def test_same_name_imported_at_once_has_exactly_one_winner(tmp_path):
    import threading

    files = {
        owner: write_tree(tmp_path / owner, tree_files({c: 6 for c in classes}))
        for owner, classes in (("ann", ("cat", "dog")), ("bob", ("dog", "fox")))
    }
    outcomes, barrier = {}, threading.Barrier(2)

    def attempt(owner):
        barrier.wait()
        try:
            outcomes[owner] = import_folder(files[owner], "pets", GREY16, owner=owner).classes
        except LayerLabError as error:
            outcomes[owner] = error

    threads = [threading.Thread(target=attempt, args=(o,)) for o in files]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    errors = [o for o in outcomes.values() if isinstance(o, LayerLabError)]
    assert len(errors) == 1 and re.search("right now|already exists", str(errors[0]))
    from dlcore.data.dataset import load_prepared

    saved = load_prepared("pets")
    winner = next(o for o, v in outcomes.items() if isinstance(v, list))
    assert saved.manifest["owner"] == winner and saved.classes == outcomes[winner]
    assert saved.counts()["train"].keys() == set(outcomes[winner])


ANN, BOB = "a-" + "a" * 20, "a-" + "b" * 20


def _finished_run_on(dataset: str, owner: str) -> str:
    """A finished run on ``dataset`` (its directory only: nothing trains)."""
    from dlcore.spec import DataSpec, Experiment
    from dlcore.storage import runs_dir
    from dlcore.train.records import RunStatus
    from dlcore.train.runs import write_new_run

    run_id = "20250101-000000-abc123"
    folder = runs_dir() / run_id
    folder.mkdir(parents=True)
    experiment = Experiment(data=DataSpec(dataset), owner=owner)
    write_new_run(folder, experiment, RunStatus(status="completed", owner=owner, dataset=dataset))
    return run_id


def test_a_name_that_runs_used_is_never_imported_again(tmp_path):
    from dlcore.train.usage import runs_using

    root = write_tree(tmp_path / "pets", tree_files({"cat": 3, "dog": 3}))
    import_folder(root, "pets", GREY16, owner=ANN, in_use=runs_using)
    _finished_run_on("pets", ANN)
    with pytest.raises(LayerLabError, match="Choose a new dataset name, or delete those runs"):
        import_folder(root, "pets", GREY16, owner=ANN, in_use=runs_using)


def test_a_deleted_name_that_a_finished_run_used_is_not_imported_again(tmp_path):
    """Regression: with no manifest left, the run check was skipped and bob's new ``pets``
    appeared under ann's finished run."""
    from dlcore.data.dataset import read_manifest
    from dlcore.train.usage import delete_dataset, runs_using

    root = write_tree(tmp_path / "pets", tree_files({"cat": 3, "dog": 3}))
    import_folder(root, "pets", GREY16, owner=ANN, in_use=runs_using)
    run_id = _finished_run_on("pets", ANN)
    delete_dataset("pets", ANN)  # a finished run does not keep its owner from deleting it
    assert read_manifest("pets") is None
    other = write_tree(tmp_path / "other", tree_files({"dog": 3, "fox": 3}))
    for owner in (BOB, ANN, ""):
        with pytest.raises(LayerLabError, match=f"Run\\(s\\) {run_id} trained on"):
            import_folder(other, "pets", GREY16, owner=owner, in_use=runs_using)
    assert read_manifest("pets") is None


def test_delete_dataset_by_its_owner_only_and_not_under_an_active_job(tmp_path, monkeypatch):
    from dlcore.data.dataset import read_manifest
    from dlcore.train import usage

    root = write_tree(tmp_path / "pets", tree_files({"cat": 3, "dog": 3}))
    import_folder(root, "pets", GREY16, owner=ANN, owner_label="Ann")
    for intruder in (BOB, "", "ann"):
        with pytest.raises(LayerLabError, match="not yours to delete"):
            usage.delete_dataset("pets", intruder)
    monkeypatch.setattr(usage, "runs_using", lambda name: ["run-1"])
    monkeypatch.setattr(usage, "_active", lambda run_id: True)
    with pytest.raises(LayerLabError, match="queued or training"):
        usage.delete_dataset("pets", ANN)
    monkeypatch.setattr(usage, "_active", lambda run_id: False)
    usage.delete_dataset("pets", ANN)
    assert read_manifest("pets") is None


def test_delete_takes_the_writer_lock_before_reading_the_owner(tmp_path, monkeypatch):
    from dlcore.data.ownership import one_writer
    from dlcore.train import usage

    root = write_tree(tmp_path / "pets", tree_files({"cat": 3, "dog": 3}))
    import_folder(root, "pets", GREY16, owner=ANN)
    monkeypatch.setattr(usage, "read_manifest", lambda name: pytest.fail("read before lock"))
    with one_writer("pets"), pytest.raises(LayerLabError, match="right now"):
        usage.delete_dataset("pets", ANN)


def test_import_memory_stays_far_below_the_prepared_size(tmp_path):
    """Measured peak RSS (VmHWM) of a ZIP import whose prepared data is 96 MB: the images go
    to disk one by one, so the process grows by a fraction of that (it held 2-3x before)."""
    import subprocess
    import sys

    code = (
        "import io, sys, zipfile, sklearn.model_selection\n"
        "from PIL import Image\n"
        "from dlcore.data import importer\n"
        "from dlcore.data.images import PrepSettings\n"
        "def hwm():\n"
        "    line = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
        "    return int(line.split()[1]) // 1024\n"
        "b = io.BytesIO(); Image.new('RGB', (1, 1)).save(b, 'PNG')\n"
        "z = io.BytesIO()\n"
        "with zipfile.ZipFile(z, 'w') as a:\n"
        "    for i in range(2000): a.writestr(f\"{'ab'[i % 2]}/{i}.png\", b.getvalue())\n"
        "start = hwm()\n"
        "importer.import_zip(z.getvalue(), 'big', PrepSettings('color', 128, 128))\n"
        "print(hwm() - start)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    assert int(result.stdout.split()[-1]) < 48  # MB; the prepared images are 96 MB


def test_a_browser_folder_upload_is_streamed_and_capped_at_the_upload_limit(monkeypatch):
    class Upload(io.BytesIO):  # like Streamlit's UploadedFile: a file-like that knows its size
        def getvalue(self):
            raise AssertionError("the import copied an upload's bytes")

        @property
        def size(self):
            return len(super().getvalue())

    files = [(path, Upload(data)) for path, data in tree_files({"cat": 3, "dog": 3}).items()]
    data = import_files(files, "upload", GREY16, val_percent=34)
    assert data.classes == ["cat", "dog"]
    monkeypatch.setenv("LAYERLAB_MAX_UPLOAD_MB", "1")
    big = [(f"cat/{i}.png", io.BytesIO(b"x" * 400_000)) for i in range(3)]
    with pytest.raises(LayerLabError, match="1 MB per upload"):
        import_files(big, "big", GREY16)
    assert not any(scratch_dir().iterdir())


def test_the_disk_check_counts_what_a_zip_unpacks_to(monkeypatch):
    from dlcore.data.importer import check_budget
    from dlcore.limits import load_limits

    monkeypatch.setenv("LAYERLAB_MAX_DISK_GB", "0.01")
    limits = load_limits()
    check_budget(10, (8, 8, 1), limits)
    with pytest.raises(LayerLabError, match="over the limit of 0.01 GB"):
        check_budget(10, (8, 8, 1), limits, unpacked_bytes=20_000_000)


def test_an_import_reads_the_limits_once_not_once_per_image(tmp_path, monkeypatch):
    """Reading limits.toml per image was a third of the time of a 28x28 PNG (issue 11): the
    decode threads see the limits pinned at the start of the import."""
    from dlcore import limits

    root = write_tree(tmp_path / "pets", tree_files({"cat": 20, "dog": 20}))
    reads = []
    original = limits._read_limits_file
    monkeypatch.setattr(limits, "_read_limits_file", lambda: reads.append(1) or original())
    data = import_folder(root, "pets", GREY16)
    assert data.manifest["num_images"] == 40
    assert 0 < len(reads) < 10  # the checks before decoding, then one read for all 40 images
    reads.clear()
    limits.load_limits()
    assert reads == [1]  # outside an import, every call reads the file again
