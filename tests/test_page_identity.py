"""Identity on the pages: a browser key, not a typed name, owns runs and datasets.

The attack of issue 7: a second browser whose attendee types the first one's name (and puts
``?who=`` of them in the URL) can neither cancel, delete, see nor use the first one's work; the
same key in the URL (a reload, a second tab) is the same attendee."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pages_support import (
    APP,
    INSTRUCTOR_CODE,
    OWNER,
    OWNER_ID,
    copy_of_tiny_run,
    key_for,
    open_page,
    texts,
    tiny_experiment,
)
from streamlit.testing.v1 import AppTest

from dlcore import LayerLabError
from dlcore.attendees import attendee_id, new_key
from dlcore.data.catalogue import load_dataset
from dlcore.data.dataset import read_manifest, save_dataset
from dlcore.storage import atomic_write_json, read_json
from dlcore.train import jobs
from dlcore.train.runs import record_worker, run_path, write_status

PRIVATE = "ada-photos"


@pytest.fixture
def adas_work(tmp_path_factory):
    """Ada's finished run on digits, her own dataset, a run on it and a queued job of hers."""
    public = copy_of_tiny_run(tmp_path_factory.getbasetemp()).name
    digits = load_dataset("digits")
    manifest = {"owner": OWNER_ID, "owner_label": OWNER}
    save_dataset(dataclasses.replace(digits, name=PRIVATE, manifest=manifest))
    private = Path(shutil.copytree(run_path(public), run_path(public).with_name(public + "-own")))
    spec = read_json(private / "spec.json")
    spec["data"]["dataset"] = PRIVATE
    atomic_write_json(private / "spec.json", spec)
    write_status(private, dataset=PRIVATE, dataset_shared=False)
    queued = jobs.create_run(tiny_experiment(), owner_label=OWNER)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    record_worker(run_path(queued), sleeper.pid)  # a live worker keeps it queued
    yield {"public": public, "private": private.name, "queued": queued}
    sleeper.kill()
    sleeper.wait()


def _as_mallory(page: str, **session) -> AppTest:
    """Another browser whose attendee typed Ada's name, with ``?who=`` of her in the URL."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["who"] = OWNER
    session = {"attendee": OWNER, "attendee_key": new_key(), **session}
    for key, value in session.items():
        at.session_state[key] = value
    at.switch_page(f"pages/{page}.py")
    return at.run()


def _shown(at: AppTest) -> str:
    """Every text, table cell and option on the page."""
    frames = [frame.value.to_string() for frame in at.dataframe]
    options = [str(option) for box in at.selectbox for option in box.options]
    return "\n".join([texts(at), *frames, *options])


def test_the_same_name_in_another_browser_cannot_delete_or_see_private_runs(adas_work):
    at = _as_mallory("experiments")
    assert not at.exception and not at.error
    listed = at.dataframe[0].value["run"].tolist()
    assert adas_work["public"] in listed, "runs on shared datasets are public"
    assert adas_work["private"] not in listed and PRIVATE not in _shown(at)
    assert OWNER in at.dataframe[0].value["owner"].tolist()  # her label, shown as a label
    assert not at.checkbox and not [b for b in at.button if b.label == "Delete run"]
    assert OWNER_ID not in _shown(at) and key_for(OWNER) not in _shown(at)
    assert at.query_params.get("key") != key_for(OWNER)  # ?who= is dropped: see below


def test_the_same_name_in_another_browser_cannot_cancel(adas_work):
    at = _as_mallory("train", dataset="digits", run_id=adas_work["queued"])
    assert not at.exception
    assert "**queued**" in texts(at) or "**starting**" in texts(at)
    assert not [b for b in at.button if b.label == "Cancel training"]
    at = open_page("train", attendee=OWNER, dataset="digits", run_id=adas_work["queued"])
    next(b for b in at.button if b.label == "Cancel training").click().run()
    assert not at.exception and not at.error
    assert (run_path(adas_work["queued"]) / "cancel").exists()


def test_the_same_name_in_another_browser_cannot_open_or_train_on_her_dataset(adas_work):
    at = _as_mallory("data", dataset=PRIVATE)
    assert not at.exception
    assert PRIVATE not in at.selectbox(key="_data_pick").options
    assert "belongs to ada" in texts(at) and "Current dataset" not in texts(at)
    assert OWNER_ID not in _shown(at)
    at = _as_mallory("explore", dataset=PRIVATE)
    assert not at.exception and not at.image and "belongs to ada" in texts(at)
    at = _as_mallory("train", dataset=PRIVATE)  # refused before anything can start
    assert not at.exception and "belongs to ada" in texts(at)
    assert not [b for b in at.button if b.label == "Start training"]
    assert len(jobs.list_runs()) == 3, "no run was created"


@pytest.mark.parametrize("page", ["evaluate", "classify"])
def test_runs_on_her_own_dataset_are_not_offered_to_others(adas_work, page):
    at = _as_mallory(page)
    assert not at.exception and not at.error
    options = at.selectbox[0].options
    assert len(options) == 1 and adas_work["public"] in options[0]
    assert PRIVATE not in _shown(at)
    at = _as_mallory(page, run_id=adas_work["private"])  # even set as the current run
    assert adas_work["private"] not in " ".join(at.selectbox[0].options)
    at = open_page(page, attendee=OWNER)
    assert len(at.selectbox[0].options) == 2  # she sees both of her finished runs
    at = open_page(page, attendee="bob", instructor=True)
    assert len(at.selectbox[0].options) == 2  # and so does the instructor


def test_a_run_in_someone_else_s_url_is_not_reattached(adas_work):
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["run"] = adas_work["private"]
    at.switch_page("pages/train.py").run()
    assert not at.exception
    assert PRIVATE not in _shown(at) and "run" not in at.query_params
    assert "not shared with you" in texts(at)
    assert "dataset" not in at.session_state, "her run's dataset is not taken over"
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["run"] = adas_work["private"]
    at.query_params["key"] = key_for(OWNER)  # her own link: her run comes back
    at.switch_page("pages/train.py").run()
    assert not at.exception and at.session_state["run_id"] == adas_work["private"]
    assert "**completed**" in texts(at) and at.session_state["dataset"] == PRIVATE


def test_the_key_in_the_url_is_the_same_attendee_in_a_second_tab(adas_work):
    first = AppTest.from_file(APP, default_timeout=30).run()
    key = first.query_params["key"]
    assert attendee_id(key) != OWNER_ID
    first = AppTest.from_file(APP, default_timeout=30)
    first.query_params["key"] = key_for(OWNER)  # ada's browser
    first.run()
    first.text_input(key="_attendee_input").input("Ada L.").run()
    second = AppTest.from_file(APP, default_timeout=60)
    second.query_params["key"] = key_for(OWNER)  # the same link in a second tab
    second.run()
    assert second.text_input(key="_attendee_input").value == "Ada L."  # her name came back
    second.switch_page("pages/experiments.py").run()
    assert not second.exception
    second.selectbox[0].set_value(adas_work["public"]).run()
    assert second.checkbox, "her own finished run: she may delete it"


def test_a_name_in_the_url_is_nobody_s_identity():
    at = AppTest.from_file(APP, default_timeout=30)
    at.query_params["who"] = "alice"
    at.run()
    assert not at.exception
    assert "who" not in at.query_params
    assert at.session_state["attendee"] == "" and "alice" not in texts(at)


def test_every_browser_gets_its_own_key_and_keeps_it_across_pages():
    one, two = (
        AppTest.from_file(APP, default_timeout=30),
        AppTest.from_file(APP, default_timeout=30),
    )
    one.run()
    two.run()
    assert one.query_params["key"] != two.query_params["key"]
    key = one.query_params["key"]
    one.switch_page("pages/data.py").run()
    assert one.query_params["key"] == key
    for bad in ("ada", "x" * 500, "a-" + "0" * 20):  # a guessed, huge or id-shaped key
        at = AppTest.from_file(APP, default_timeout=30)
        at.query_params["key"] = bad
        at.run()
        assert not at.exception and at.query_params["key"] != bad


def test_imports_are_owned_by_the_key_and_labelled_with_the_name():
    import io

    import numpy as np

    buffer = io.BytesIO()
    images = np.zeros((8, 6, 6, 1), np.uint8)
    np.savez(buffer, x_train=images, y_train=np.array([0, 1] * 4))
    at = open_page("data", attendee=OWNER)
    at.radio(key="_data_source").set_value("NumPy .npz arrays").run()
    at.file_uploader[0].upload("arrays.npz", buffer.getvalue(), "application/octet-stream").run()
    at.button(key="_data_go").click().run()
    assert not at.exception and not at.error
    manifest = read_manifest("arrays")
    assert manifest["owner"] == OWNER_ID and manifest["owner_label"] == OWNER


def test_wrong_instructor_codes_are_paused_even_across_new_sessions():
    def guess(code: str) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=30)
        at.secrets["instructor_code"] = INSTRUCTOR_CODE
        at.run()
        at.text_input(key="_instructor_input").input(code).run()
        return at

    from dlcore.attendees import MAX_WRONG_ON_SERVER, try_instructor_code

    for _ in range(MAX_WRONG_ON_SERVER - 2):  # wrong codes from as many other browsers
        with pytest.raises(LayerLabError, match="not the instructor code"):
            try_instructor_code("guess", INSTRUCTOR_CODE, attendee_id(new_key()))
    assert "not the instructor code" in guess("guess").error[0].value  # a new session
    assert "Too many wrong" in guess("guess").error[0].value
    assert "Too many wrong" in guess("guess").error[0].value  # paused: one guess per browser
    at = guess(INSTRUCTOR_CODE)  # but nobody can lock the instructor out
    assert not at.error
    assert [c for c in at.caption if "Instructor mode is on" in c.value]


def test_a_nameless_attendee_s_import_is_still_theirs():
    """Once, an import by someone who never typed a name had owner "" and any other nameless
    attendee could overwrite it."""
    import io

    import numpy as np

    buffer = io.BytesIO()
    np.savez(buffer, x_train=np.zeros((8, 6, 6, 1), np.uint8), y_train=np.array([0, 1] * 4))

    def import_as(key: str) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=60)
        at.session_state["attendee_key"] = key
        at.switch_page("pages/data.py").run()
        at.radio(key="_data_source").set_value("NumPy .npz arrays").run()
        at.file_uploader[0].upload("arrays.npz", buffer.getvalue(), "application/octet-stream")
        at.run()
        go = at.button(key="_data_go")
        return at if go.disabled else go.click().run()  # refused before the click, or after

    first, second = new_key(), new_key()
    assert not import_as(first).error
    assert read_manifest("arrays")["owner"] == attendee_id(first)
    at = import_as(second)
    assert not at.exception and at.error
    assert read_manifest("arrays")["owner"] == attendee_id(first)


def test_a_reload_keeps_the_dataset_but_never_opens_someone_else_s(adas_work):
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["data"] = "digits"  # a reload: only the URL knows the dataset
    at.switch_page("pages/explore.py").run()
    assert not at.exception and at.session_state["dataset"] == "digits"
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["data"] = PRIVATE  # Ada's own dataset in another browser's URL
    at.switch_page("pages/explore.py").run()
    assert not at.exception and "dataset" not in at.session_state
    assert PRIVATE not in _shown(at) and "data" not in at.query_params
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["data"] = PRIVATE
    at.query_params["key"] = key_for(OWNER)  # her own link
    at.switch_page("pages/explore.py").run()
    assert not at.exception and at.session_state["dataset"] == PRIVATE
