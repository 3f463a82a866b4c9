"""Folders on the server's disk (issue 11, point 5): only inside the instructor's ``data_roots``,
bound by the dataset limits but not by the upload limits, and the Data page's source for them."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from pages_support import open_page, texts
from PIL import Image

from dlcore import LayerLabError
from dlcore.cli import main
from dlcore.data.dataset import read_manifest
from dlcore.data.images import PrepSettings
from dlcore.data.server_folders import (
    NO_ROOTS,
    import_server_folder,
    list_folders,
    peek,
    resolve_folder,
)
from dlcore.limits import Limits, load_limits

GREY8 = PrepSettings("grayscale", 8, 8)


def _png(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (10, 10), value).save(buffer, format="PNG")
    return buffer.getvalue()


def _classes(folder: Path, per_class: int = 6) -> Path:
    """``folder/{cat,dog}/<i>.png``: two classes of plain grey squares."""
    for label, value in (("cat", 30), ("dog", 220)):
        (folder / label).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            (folder / label / f"{i}.png").write_bytes(_png(value + i))
    return folder


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    """A data root the instructor opened (``LAYERLAB_DATA_ROOTS``), holding lessons/mnist/
    with train/ and test/ class folders, and a folder outside it."""
    data = tmp_path / "data"
    _classes(data / "lessons" / "mnist" / "train")
    _classes(data / "lessons" / "mnist" / "test", per_class=2)
    _classes(tmp_path / "private")
    monkeypatch.setenv("LAYERLAB_DATA_ROOTS", str(data))
    return data


def test_data_roots_come_from_limits_toml_or_the_environment(layerlab_home, monkeypatch):
    assert Limits().data_roots == ()
    layerlab_home.mkdir(parents=True, exist_ok=True)
    (layerlab_home / "limits.toml").write_text('data_roots = ["/data", "/srv/images"]\n')
    assert load_limits().data_roots == ("/data", "/srv/images")
    monkeypatch.setenv("LAYERLAB_DATA_ROOTS", os.pathsep.join(["/a", "/b"]))
    assert load_limits().data_roots == ("/a", "/b")  # the environment wins
    monkeypatch.setenv("LAYERLAB_DATA_ROOTS", "data")
    with pytest.raises(LayerLabError, match=r"'data', which is not an absolute folder path"):
        load_limits()
    monkeypatch.delenv("LAYERLAB_DATA_ROOTS")
    (layerlab_home / "limits.toml").write_text("data_roots = 5\n")
    with pytest.raises(LayerLabError, match=r'is not a list of folder paths.*\["/data"\]'):
        load_limits()


def test_a_folder_inside_a_root_is_accepted_by_full_or_relative_path(root):
    by_path = resolve_folder(str(root / "lessons" / "mnist" / "train"))
    relative = resolve_folder("lessons/mnist/train", str(root))
    assert by_path.path == relative.path == (root / "lessons" / "mnist" / "train").resolve()
    assert relative.root == root.resolve() and relative.shown == "lessons/mnist/train"
    assert resolve_folder(str(root)).path == root.resolve()  # the root itself


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("{tmp}/private", "leads outside the folders this server shares"),
        ("/etc", "leads outside the folders this server shares"),
        ("lessons/../../private", r"climbs out of a folder \('\.\.'\)"),
        ("{root}/lessons/../lessons/mnist", r"climbs out of a folder"),
        ("lessons/missing", "is not a folder on this server"),
        ("lessons/mnist/train/cat/0.png", "is not a folder on this server"),
        ("lessons\nmnist", "control characters"),
    ],
)
def test_a_path_outside_the_roots_is_refused(root, path, message):
    path = path.format(tmp=root.parent, root=root)
    with pytest.raises(LayerLabError, match=message):
        resolve_folder(path, str(root))


def test_a_root_the_instructor_did_not_name_is_refused(root, tmp_path):
    with pytest.raises(LayerLabError, match="not one of the folders this server shares"):
        resolve_folder("cat", str(tmp_path / "private"))


def test_a_symbolic_link_that_escapes_the_root_is_refused(root, tmp_path):
    (root / "shortcut").symlink_to(tmp_path / "private")
    with pytest.raises(LayerLabError, match=r"leads outside \(through a symbolic link\)"):
        resolve_folder("shortcut", str(root))
    with pytest.raises(LayerLabError, match="through a symbolic link"):
        import_server_folder("shortcut", "escape", GREY8, root=str(root))
    (root / "inside").symlink_to(root / "lessons")  # a link that stays inside is fine
    assert resolve_folder("inside/mnist", str(root)).path == (root / "lessons/mnist").resolve()
    assert "shortcut" not in list_folders(str(root)) and "inside" in list_folders(str(root))


def test_links_inside_the_folder_that_lead_out_are_skipped_not_read(root, tmp_path):
    train = root / "lessons" / "mnist" / "train"
    (train / "cat" / "secret.png").symlink_to(tmp_path / "private" / "cat" / "0.png")
    (train / "fox").symlink_to(tmp_path / "private" / "dog")  # a whole class folder
    dataset = import_server_folder("lessons/mnist/train", "guarded", GREY8, root=str(root))
    assert dataset.classes == ["cat", "dog"]
    assert dataset.manifest["num_images"] == 12
    skipped = {entry["file"]: entry["reason"] for entry in dataset.manifest["skipped"]}
    assert "outside the server's data folder" in skipped["cat/secret.png"]
    assert "outside the server's data folder" in skipped["fox"]


def test_no_roots_means_no_server_folder_at_all(root, monkeypatch):
    monkeypatch.delenv("LAYERLAB_DATA_ROOTS")
    for call in (lambda: resolve_folder(str(root)), lambda: list_folders(str(root))):
        with pytest.raises(LayerLabError, match=r'data_roots = \["/data"\]') as error:
            call()
        assert str(error.value) == NO_ROOTS


def test_listing_and_peeking_show_the_folders_without_reading_the_images(root):
    (root / ".cache").mkdir()
    assert list_folders(str(root)) == [
        "lessons",
        "lessons/mnist",
        "lessons/mnist/test",
        "lessons/mnist/train",
    ]
    classes, sample = peek(resolve_folder("lessons/mnist/train", str(root)))
    assert classes == ["cat", "dog"] and sample.parent.name == "cat"
    classes, sample = peek(resolve_folder("lessons/mnist", str(root)))
    assert classes == ["test", "train"] and sample.suffix == ".png"


def test_a_server_folder_is_not_bound_by_the_upload_limits(root, monkeypatch):
    """The DIGITS lesson's 70,000 files were refused by max_files_per_import, an upload limit."""
    monkeypatch.setenv("LAYERLAB_MAX_FILES_PER_IMPORT", "5")
    monkeypatch.setenv("LAYERLAB_MAX_UNPACKED_MB", "0")
    dataset = import_server_folder(
        "lessons/mnist/train", "digits-lesson", GREY8, root=str(root), val_path="lessons/mnist/test"
    )
    assert dataset.manifest["num_images"] == 16 > 5
    assert dataset.manifest["source"] == "lessons/mnist/train"
    assert len(dataset.y_val) == 4  # the separate validation folder, as given


def test_a_server_folder_is_bound_by_the_dataset_limits(root, monkeypatch):
    monkeypatch.setenv("LAYERLAB_MAX_IMAGES_PER_DATASET", "10")
    with pytest.raises(LayerLabError, match=r"12 images is more .* max_images_per_dataset"):
        import_server_folder("lessons/mnist/train", "big", GREY8, root=str(root))
    monkeypatch.delenv("LAYERLAB_MAX_IMAGES_PER_DATASET")
    monkeypatch.setenv("LAYERLAB_MAX_IMPORT_MB", "0")
    with pytest.raises(LayerLabError, match="MB of prepared data"):
        import_server_folder("lessons/mnist/train", "big", GREY8, root=str(root))
    assert read_manifest("big") is None


def test_the_cli_imports_any_folder_without_the_upload_limits(root, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("LAYERLAB_DATA_ROOTS")  # the CLI is the instructor's: any path
    monkeypatch.setenv("LAYERLAB_MAX_FILES_PER_IMPORT", "5")
    argv = ["import", str(tmp_path / "private"), "--name", "pets", "--size", "8x8", "--grayscale"]
    assert main(argv) == 0
    assert "pets: 12 images" in capsys.readouterr().out
    assert main(argv) == 2  # asked before replacing
    assert "already have a dataset named 'pets'" in capsys.readouterr().err
    assert main([*argv, "--replace", "--max-per-class", "4"]) == 0
    assert read_manifest("pets")["num_images"] == 8


def test_data_page_imports_a_folder_on_this_server(root):
    at = open_page("data")
    at.radio(key="_data_source").set_value("A folder on this server").run()
    assert not at.exception
    picker = at.selectbox(key="_data_server_pick")
    assert picker.options == [
        "lessons",
        "lessons/mnist",
        "lessons/mnist/test",
        "lessons/mnist/train",
    ]
    picker.set_value("lessons/mnist/train").run()
    at.selectbox(key="_data_server_val").set_value("lessons/mnist/test").run()
    assert "holds 2 folder(s): cat, dog" in texts(at)
    assert at.text_input(key="_data_server_typed").value == ""
    name = [box for box in at.text_input if box.label == "Dataset name"][0]
    assert name.value == "mnist-train"
    at.radio(key="_data_color").set_value("grayscale")
    at.button(key="_data_go").click().run()
    assert not at.exception and not at.error
    assert at.session_state["dataset"] == "mnist-train"
    assert "Imported 16 images, none skipped" in texts(at)
    assert read_manifest("mnist-train")["counts"]["val"] == {"cat": 2, "dog": 2}
    assert at.selectbox(key="_data_server_pick").value is None  # a fresh form, no re-import
    assert at.button(key="_data_go").disabled


def test_data_page_refuses_a_typed_path_outside_the_roots(root, tmp_path):
    at = open_page("data")
    at.radio(key="_data_source").set_value("A folder on this server").run()
    at.text_input(key="_data_server_typed").input(str(tmp_path / "private")).run()
    assert not at.exception
    assert "leads outside the folders this server shares" in texts(at)
    assert at.button(key="_data_go").disabled
    at.text_input(key="_data_server_typed").input("lessons/../../private").run()
    assert "climbs out of a folder" in texts(at) and at.button(key="_data_go").disabled


def test_data_page_says_how_to_open_server_folders_when_none_are(monkeypatch):
    monkeypatch.delenv("LAYERLAB_DATA_ROOTS", raising=False)
    at = open_page("data")
    at.radio(key="_data_source").set_value("A folder on this server").run()
    assert not at.exception
    assert NO_ROOTS in texts(at) and 'data_roots = ["/data"]' in NO_ROOTS
    assert at.button(key="_data_go").disabled


def test_server_folder_images_match_the_same_images_uploaded(root):
    """One preparation for every path: the server folder gives the pixels a folder gives."""
    from dlcore.data.importer import import_folder

    served = import_server_folder("lessons/mnist/train", "served", GREY8, root=str(root), seed=1)
    direct = import_folder(root / "lessons" / "mnist" / "train", "direct", GREY8, seed=1)
    np.testing.assert_array_equal(served.x_train, direct.x_train)
