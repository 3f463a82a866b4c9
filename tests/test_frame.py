"""The frame around the pages: the one patch of Streamlit internals (pages/frame.py) against
the pinned Streamlit, clicks that survive an interrupted run (pages/clicks.py), and the one way
the pages carry the experiment between them (pages/state.py)."""

from __future__ import annotations

import dataclasses
import logging

import pytest
from browser_support import chromium, require_browser, streamlit_server, wait_for_app
from streamlit.testing.v1 import AppTest

from pages import frame


def test_the_pinned_streamlit_has_the_switch_the_frame_relies_on():
    """Fails on a Streamlit that renamed or dropped PagesManager.uses_pages_directory: then
    pages/frame.py must change (the app itself only logs a warning and runs on)."""
    assert frame.switch_supported()


def test_without_the_switch_the_app_runs_on_and_says_so_in_the_log(monkeypatch, caplog):
    monkeypatch.setattr(frame, "_pages_manager", lambda: type("PagesManager", (), {}))
    assert not frame.switch_supported() and not frame.in_legacy_mode()
    with caplog.at_level(logging.WARNING, logger="pages.frame"):
        frame.leave_legacy_multipage_mode()  # no exception, no rerun
    assert "uses_pages_directory" in caplog.text


@pytest.mark.e2e
@pytest.mark.timeout(180)
def test_a_deep_link_opens_in_the_frame_on_the_first_visit_after_a_server_start(run_id, tmp_path):
    """The first request to the new server is /train?run=...: Streamlit would run
    pages/train.py alone; the page must show with its sidebar and the run reattached."""
    require_browser()
    from dlcore.storage import data_home

    with streamlit_server(data_home()) as (url, _server), chromium() as browser:
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        page.set_default_timeout(60_000)
        page.goto(f"{url}/train?run={run_id}")
        wait_for_app(page)
        sidebar = page.get_by_test_id("stSidebar")
        sidebar.get_by_text("Attendee:").wait_for()
        sidebar.get_by_text(run_id).wait_for()  # app.py's sidebar, with the link's run
        page.get_by_test_id("stSidebarNav").get_by_text("Experiments", exact=True).wait_for()
        page.get_by_role("heading", name="Train", exact=True).wait_for()
        page.get_by_role("heading", name=f"Run {run_id}").wait_for()
        assert page.url.startswith(f"{url}/train") and f"run={run_id}" in page.url

        # the shareable form of the same link: the browser asks nothing under /train
        missing = []
        page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
        page.goto(f"{url}/?page=train&run={run_id}")
        wait_for_app(page)
        page.get_by_role("heading", name=f"Run {run_id}").wait_for()
        page.get_by_test_id("stSidebar").get_by_text(run_id).wait_for()
        assert page.url.startswith(f"{url}/train") and "page=" not in page.url
        assert missing == []


def test_a_root_link_naming_a_page_opens_it_with_the_link_s_parameters(run_id):
    from pages_support import APP

    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["page"] = "train"
    at.query_params["run"] = run_id
    at.run()
    assert not at.exception
    assert at.title[0].value == "Train" and f"Run {run_id}" in [h.value for h in at.subheader]
    assert at.session_state["run_id"] == run_id


def test_a_root_link_naming_no_page_of_the_app_says_so_on_the_start_page():
    from pages_support import APP

    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["page"] = "../secrets"
    at.run()
    assert not at.exception
    assert "does not have" in at.info[0].value and at.title[0].value == "Start"


def _counter_app(use_clicks: bool):
    """A page whose first run after a click is interrupted before it reaches the button, as
    a slider's late value interrupts it in the browser."""
    import streamlit as st

    from pages import clicks

    if st.session_state.pop("interrupt_next_run", False):
        st.rerun()  # another request arrived: this run stops before the button
    if use_clicks:
        pressed = clicks.button("Start", key="start")
    else:
        pressed = st.button("Start", key="start")
    st.session_state.setdefault("starts", 0)
    if pressed:
        st.session_state["starts"] += 1


@pytest.mark.parametrize("use_clicks, starts", [(False, 0), (True, 1)])
def test_a_click_survives_a_run_interrupted_before_the_button(use_clicks, starts):
    """With plain st.button the interrupted run takes the click with it (what an attendee
    once saw after moving a slider by keyboard); pages.clicks keeps it for the next run."""
    at = AppTest.from_function(_counter_app, args=(use_clicks,), default_timeout=30)
    at.run()
    at.session_state["interrupt_next_run"] = True
    at.button(key="start").click().run()
    assert not at.exception
    assert at.session_state["starts"] == starts
    at.run()  # and the click counts once only
    assert at.session_state["starts"] == starts


def _state_app():
    import dataclasses

    import streamlit as st

    from pages import state

    experiment = state.current_experiment()
    st.number_input("Epochs", 1, 100, key=state.widget("training", "t_epochs", 3))
    st.number_input("Zoom", 0.0, 1.0, key=state.widget("augment", "a_zoom", 0.1))
    if st.button("Lesson settings"):
        training = dataclasses.replace(experiment.training, epochs=9)
        state.set_experiment(dataclasses.replace(experiment, training=training), ("training",))


def test_replacing_the_training_restarts_only_the_training_controls():
    at = AppTest.from_function(_state_app, default_timeout=30)
    at.run()
    at.number_input(key="t_epochs").set_value(5)
    at.number_input(key="a_zoom").set_value(0.3).run()
    at.button[0].click().run()
    assert not at.exception
    assert "t_epochs" not in at.session_state  # drawn again from the new experiment
    assert at.session_state["experiment"].training.epochs == 9
    assert at.number_input(key="a_zoom").value == 0.3  # another part: kept as set


def test_an_unknown_part_of_the_experiment_is_refused():
    from dlcore.recipes import preset_experiment
    from pages import state

    with pytest.raises(ValueError, match="unknown part"):
        state.set_experiment(preset_experiment("lenet", dataset="digits"), ("trainnig",))
    assert dataclasses.is_dataclass(preset_experiment("lenet", dataset="digits"))


def test_a_lessons_network_chosen_on_the_model_page_brings_its_settings_to_the_train_page():
    """Train settings changed by hand give way to the preset's when the Model page picks a
    lesson's network; the Train page's controls then show them."""
    from pages_support import OWNER, open_page, tiny_experiment

    from dlcore.data.catalogue import train_size
    from dlcore.recipes import preset_training

    session = {"attendee": OWNER, "dataset": "digits", "experiment": tiny_experiment()}
    at = open_page("train", **session)
    at.selectbox(key="train_optimizer").set_value("sgd")
    at.select_slider(key="train_batch").set_value(8).run()
    assert at.session_state["experiment"].training.optimizer == "sgd"
    at.switch_page("pages/model.py").run()
    at.selectbox(key="_model_preset").set_value("mlp").run()
    assert not at.exception
    at.switch_page("pages/train.py").run()
    assert not at.exception
    fast = preset_training("mlp", num_train=train_size("digits"))  # the default recipe, sized
    assert at.selectbox(key="train_optimizer").value == fast["optimizer"]
    assert at.select_slider(key="train_batch").value == fast["batch_size"]
    training = at.session_state["experiment"].training
    assert (training.optimizer, training.batch_size) == (fast["optimizer"], fast["batch_size"])
    assert at.session_state["experiment"].model.preset == "mlp"
