"""Data page: built-in sets, a download that cannot happen, and imports by ZIP, folder or .npz."""

from __future__ import annotations

import io
import socket
import zipfile
from pathlib import Path

import numpy as np
import pytest
from pages_support import INSTRUCTOR_CODE, id_for, key_for
from PIL import Image
from streamlit.testing.v1 import AppTest

from dlcore.data.dataset import Dataset, read_manifest, save_dataset
from dlcore.storage import data_home, scratch_dir

ROOT = Path(__file__).resolve().parents[1]


def _data_page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    return at.switch_page("pages/data.py").run()


def _png(value: int, size: int = 12) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), (value, 255 - value, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


def _class_files(prefix: str = "") -> list[tuple[str, bytes]]:
    files = [(f"{prefix}cats/{i}.png", _png(10 + i)) for i in range(6)]
    files += [(f"{prefix}dogs/{i}.png", _png(200 - i)) for i in range(6)]
    return files + [(f"{prefix}cats/broken.png", b"this is not a png")]


def _zip(files: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files:
            archive.writestr(name, data)
    return buffer.getvalue()


def _texts(elements) -> str:
    return " ".join(str(element.value) for element in elements)


def test_data_page_lists_builtins_with_status_and_starts_on_the_mnist_sample():
    at = _data_page()
    assert not at.exception
    table = at.table[0].value
    assert {"Classes", "Image shape", "Status", "About"} <= set(table.columns)
    assert "works offline" in set(table["Status"]) and "needs download" in set(table["Status"])
    about = table.loc["MNIST", "About"]
    assert about.endswith("the DIGITS and Keras lessons.")  # whole, never cut off
    assert at.selectbox(key="_data_pick").value == "mnist-sample"  # as the README says


def test_choosing_digits_sets_the_dataset_and_shows_the_report():
    at = _data_page()
    at.selectbox(key="_data_pick").set_value("digits")
    at.button(key="_data_use").click().run()
    assert not at.exception and not at.error
    assert at.session_state["dataset"] == "digits"
    assert "Current dataset" in _texts(at.subheader)
    counts = at.dataframe[0].value
    assert list(counts.columns) == ["train", "validation", "test"]
    assert counts.loc["total"].sum() == 1797
    totals = counts.loc["total"]
    summary = f"**1,797 images**: {totals['train']:,} training · {totals['validation']:,} valid"
    assert summary in _texts(at.caption)  # the totals above the fold, not only in the table


def test_a_download_that_cannot_happen_shows_a_clear_error(monkeypatch):
    def offline(*args, **kwargs):
        raise socket.gaierror(-2, "Name or service not known")

    for variable in ("https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(socket, "create_connection", offline)
    at = _data_page()
    at.selectbox(key="_data_pick").set_value("fashion-mnist")
    at.button(key="_data_use").click().run()
    assert not at.exception
    said = _texts(at.error)
    assert "**Fashion-MNIST** is downloaded the first time it is used" in said
    assert "cannot reach the internet" in said and "“works offline” or “ready”" in said
    assert "(they run `dlcore fetch fashion-mnist`)" in said  # a code span, not escaped
    for detail in ("Errno", "Name or service", "googleapis", "LAYERLAB_HOME", str(data_home())):
        assert detail not in said  # the instructor's details stay in the CLI's message
    assert "dataset" not in at.session_state
    shown = [node.type for node in at.tabs[0].children.values()]
    assert shown.index("error") < shown.index("table")  # by the button, above the 8 rows


def test_a_download_that_fails_with_the_internet_up_does_not_blame_the_network(monkeypatch):
    from dlcore.data import catalogue, downloads

    def failed(name):
        raise downloads.DatasetUnavailable("HTTP Error 403: Forbidden (details for the CLI)")

    monkeypatch.setattr(catalogue, "download", failed)  # the host answered, the file did not
    at = _data_page()
    at.selectbox(key="_data_pick").set_value("fashion-mnist")
    at.button(key="_data_use").click().run()
    assert not at.exception
    said = _texts(at.error)
    assert "the download failed here" in said and "internet" not in said
    assert "403" not in said  # the details are for the instructor


def test_zip_upload_imports_and_reports_skipped_files():
    at = _data_page()
    at.file_uploader[0].upload("My Pets.zip", _zip(_class_files("pets/")), "application/zip")
    at.run()
    assert not at.exception
    assert at.text_input[0].value == "my-pets"
    assert at.main.get("image"), "a sample image is shown before and after preparation"
    colour = at.radio(key="_data_color")  # one spelling on screen, "color" in PrepSettings
    assert colour.label == "Colour" and colour.options == ["colour", "grayscale"]
    assert colour.value == "color"
    captions = [caption for image in at.main.get("image") for caption in image.captions]
    assert "After: 32x32 colour, as the network sees it" in captions
    at.number_input(key="_data_width").set_value(8)
    at.number_input(key="_data_height").set_value(8)
    at.button(key="_data_go").click().run()
    assert not at.exception and not at.error
    assert at.session_state["dataset"] == "my-pets"
    assert "Imported 12 images, 1 file(s) skipped" in _texts(at.success)
    assert "1 file(s) were skipped" in [expander.label for expander in at.expander]
    skipped = at.dataframe[1].value
    assert any("broken.png" in name for name in skipped["file"])
    counts = at.dataframe[0].value
    assert counts.loc["total"].sum() == 12


def test_folder_upload_imports_class_folders():
    at = _data_page()
    at.radio(key="_data_source").set_value("A folder from my computer").run()
    uploader = at.file_uploader[0]
    assert uploader.accept_directory
    uploader.set_value([(name, data, "image/png") for name, data in _class_files("shelter/")])
    at.run()
    assert at.text_input[0].value == "shelter"
    at.radio(key="_data_color").set_value("grayscale")
    at.button(key="_data_go").click().run()
    assert not at.exception and not at.error
    assert at.session_state["dataset"] == "shelter"
    assert "32 x 32 x 1" in _texts(at.caption)


def test_npz_upload_keeps_arrays_as_they_are():
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    x = rng.integers(0, 255, (40, 10, 10), dtype=np.uint8)
    np.savez(buffer, x_train=x, y_train=np.arange(40) % 2)
    at = _data_page()
    at.radio(key="_data_source").set_value("NumPy .npz arrays").run()
    at.file_uploader[0].upload("arrays.npz", buffer.getvalue()).run()
    at.button(key="_data_go").click().run()
    assert not at.exception and not at.error
    assert at.session_state["dataset"] == "arrays"
    assert "10 x 10 x 1" in _texts(at.caption)


@pytest.mark.parametrize("payload", [b"not a zip at all", b""])
def test_a_broken_zip_shows_an_error_not_a_traceback(payload):
    at = _data_page()
    at.file_uploader[0].upload("bad.zip", payload, "application/zip").run()
    at.button(key="_data_go").click().run()
    assert not at.exception
    assert at.error
    assert "dataset" not in at.session_state


def test_imports_leave_nothing_in_scratch_and_record_their_owner():
    at = _data_page()
    at.session_state["attendee"] = "ann"
    at.session_state["attendee_key"] = key_for("ann")
    at.file_uploader[0].upload("pets.zip", _zip(_class_files()), "application/zip").run()
    at.button(key="_data_go").click().run()
    assert not at.exception and not at.error
    assert read_manifest("pets")["owner"] == id_for("ann")  # her browser's id, not her name
    assert read_manifest("pets")["owner_label"] == "ann"
    assert list(scratch_dir().iterdir()) == []
    only_cats = [(name, data) for name, data in _class_files() if name.startswith("cats/")]
    at.file_uploader[0].upload("cats.zip", _zip(only_cats), "application/zip").run()
    at.button(key="_data_go").click().run()
    assert not at.exception and "2 classes" in _texts(at.error)
    assert list(scratch_dir().iterdir()) == []


def test_attendees_see_only_their_own_imports_and_the_instructor_sees_all():
    images, labels = np.zeros((4, 4, 4, 1), np.uint8), np.array([0, 1, 0, 1])
    for owner in ("ann", "bob"):
        arrays = (images, labels, images, labels)
        manifest = {"owner": id_for(owner), "owner_label": owner}
        save_dataset(Dataset(f"{owner}-set", ["a", "b"], *arrays, manifest=manifest))
    at = _data_page_as("ann", dataset="bob-set")  # e.g. taken back from bob's run in the URL
    assert {"ann-set", "Digits 8x8"} <= set(at.selectbox(key="_data_pick").options)
    assert "bob-set" not in at.selectbox(key="_data_pick").options
    assert "belongs to bob" in _texts(at.error) and "Current dataset" not in _texts(at.subheader)
    at = _data_page_as("carl", dataset="bob-set", code=INSTRUCTOR_CODE)
    assert {"ann-set", "bob-set"} <= set(at.selectbox(key="_data_pick").options)
    assert not at.error and "Current dataset" in _texts(at.subheader)


def _data_page_as(attendee: str, dataset: str, code: str = "") -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.secrets["instructor_code"] = INSTRUCTOR_CODE
    session = {"attendee": attendee, "attendee_key": key_for(attendee), "dataset": dataset}
    for key, value in {**session, "instructor_key": code}.items():
        at.session_state[key] = value
    return at.switch_page("pages/data.py").run()


def _import_zip_as(at: AppTest, name: str, files: list[tuple[str, bytes]]) -> AppTest:
    at.file_uploader[0].upload(f"{name}.zip", _zip(files), "application/zip").run()
    return at


def test_importing_under_an_existing_name_asks_before_replacing():
    at = _import_zip_as(_data_page(), "pets", _class_files())
    at.button(key="_data_go").click().run()
    assert read_manifest("pets")["num_images"] == 12
    fewer = [(name, data) for name, data in _class_files() if not name.endswith(("4.png", "5.png"))]
    at = _import_zip_as(at, "pets", fewer)
    assert "You already have a dataset named **pets** (12 images)" in _texts(at.warning)
    assert at.button(key="_data_go").disabled  # nothing is replaced by mistake
    at.checkbox(key="_data_replace_pets").check().run()
    at.button(key="_data_go").click().run()
    assert not at.exception and not at.error
    assert read_manifest("pets")["num_images"] == 8
    assert "Imported 8 images, 1 file(s) skipped" in _texts(at.success)


def test_a_name_that_runs_trained_on_is_refused_before_the_click():
    from dlcore.spec import DataSpec, Experiment
    from dlcore.train import jobs

    at = _import_zip_as(_data_page(), "pets", _class_files())
    at.button(key="_data_go").click().run()
    run_id = jobs.create_run(Experiment(data=DataSpec(dataset="pets")))
    at = _import_zip_as(at, "pets", _class_files())
    refusal = _texts(at.error)
    assert run_id in refusal and "trained on a dataset named" in refusal
    assert at.button(key="_data_go").disabled and not at.checkbox
    assert read_manifest("pets")["num_images"] == 12  # what the run trained on stays


def test_preparation_settings_are_kept_when_coming_back_to_the_page():
    at = _data_page()
    at.radio(key="_data_color").set_value("grayscale")
    at.number_input(key="_data_width").set_value(28)
    at.number_input(key="_data_height").set_value(20)
    at.selectbox(key="_data_resize").set_value("crop")
    at.radio(key="_data_source").set_value("NumPy .npz arrays").run()
    at.switch_page("pages/explore.py").run()
    at.switch_page("pages/model.py").run()
    assert "_data_width" not in at.session_state  # Streamlit dropped the widgets' own state
    at.switch_page("pages/data.py").run()
    assert not at.exception
    assert at.number_input(key="_data_width").value == 28
    assert at.number_input(key="_data_height").value == 20
    assert at.radio(key="_data_color").value == "grayscale"
    assert at.selectbox(key="_data_resize").value == "crop"
    assert at.radio(key="_data_source").value == "NumPy .npz arrays"
    assert "fill the size and cut off what sticks out" in _texts(at.caption)


def test_while_an_import_runs_the_previous_dataset_is_not_shown():
    at = _data_page()
    at.selectbox(key="_data_pick").set_value("digits")
    at.button(key="_data_use").click().run()
    assert "Current dataset" in _texts(at.subheader)
    at.session_state["data_page_importing"] = True  # what the Import button's callback sets
    at.run()
    assert "Current dataset" not in _texts(at.subheader)
    assert "Importing: the new dataset shows here" in _texts(at.info)
    at.run()  # the flag lasts one run: the import either finished or said why not
    assert "Current dataset" in _texts(at.subheader)
