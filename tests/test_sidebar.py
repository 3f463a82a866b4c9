"""The sidebar: the run's phase in words, a redraw when the page changed the shared state, and a
new session of an attendee who is training finding their run."""

from __future__ import annotations

import dataclasses

from pages_support import APP, OWNER, OWNER_ID, key_for, tiny_experiment
from streamlit.testing.v1 import AppTest

from dlcore.text import escape_markdown as md
from dlcore.train import jobs
from dlcore.train.records import MetricRow
from dlcore.train.run_outputs import append_metric
from dlcore.train.runs import run_path, write_status


def _start(**session) -> AppTest:
    """The app on its default page (Start) with ``session`` state. Through app.py itself, not
    ``switch_page``: a switched-to page can run without app.py's frame (see pages.common)."""
    at = AppTest.from_file(APP, default_timeout=60)
    session.setdefault("attendee_key", key_for(OWNER))
    for key, value in session.items():
        at.session_state[key] = value
    return at.run()


def _sidebar(at: AppTest) -> str:
    return "\n".join(str(element.value) for element in at.sidebar.markdown)


def test_a_waiting_job_shows_its_place_and_the_next_one_starting():
    """No scheduler runs here, so the runs stay queued: the sidebar reads the fair queue."""
    first = jobs.create_run(dataclasses.replace(tiny_experiment(), owner="a-first"))
    run_id = jobs.create_run(tiny_experiment())
    at = _start(attendee=OWNER, run_id=run_id)
    assert not at.exception
    assert f"{run_id} · {md('queued, #2 in queue')}" in _sidebar(at)
    at = _start(attendee=OWNER, run_id=first)
    assert f"{first} · starting" in _sidebar(at) and "queued" not in _sidebar(at)


def test_the_sidebar_follows_a_job_from_starting_to_training():
    run_id = jobs.create_run(tiny_experiment(), owner_label=OWNER)  # nothing ahead: starting
    at = _start(attendee=OWNER, run_id=run_id)
    assert not at.exception
    assert f"{run_id} · starting" in _sidebar(at) and "queued" not in _sidebar(at)
    path = run_path(run_id)
    write_status(path, status="running", message="Training.")
    append_metric(path, MetricRow("batch", epoch=1, step=1, loss=2.0))
    at = _start(attendee=OWNER, run_id=run_id)
    assert f"{run_id} · training" in _sidebar(at)


def test_a_new_session_of_the_attendee_finds_the_run_they_are_training():
    run_id = jobs.create_run(tiny_experiment(), owner_label=OWNER)
    assert jobs.status(run_id)["owner"] == OWNER_ID
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["key"] = key_for(OWNER)  # a bookmarked link: no ?run= in it
    at.run()
    assert not at.exception
    assert f"**Run:** {run_id}" in _sidebar(at)
    assert "**Dataset:** digits" in _sidebar(at)  # the run's data and settings come back too
    assert at.session_state["run_id"] == run_id
    someone = AppTest.from_file(APP, default_timeout=60)
    someone.query_params["key"] = key_for("someone else")
    someone.run()
    assert "**Run:** _none yet_" in _sidebar(someone)  # another attendee's run is not theirs


def test_the_sidebar_is_redrawn_when_the_page_changes_the_dataset_and_model():
    def app():
        import streamlit as st

        from dlcore.recipes import preset_experiment
        from pages import common, state
        from pages.sidebar import refresh_sidebar, render_sidebar

        drawn = render_sidebar()
        if st.button("Use these settings"):  # as on Experiments: no rerun after it
            experiment = preset_experiment("cnn3", dataset="mnist-sample")
            state.set_experiment(experiment)
            common.set_dataset("mnist-sample")
        refresh_sidebar(drawn)

    at = AppTest.from_function(app, default_timeout=30)
    at.session_state["dataset"] = "digits"
    at.run()
    assert "**Dataset:** digits" in _sidebar(at) and "**Model:** lenet" in _sidebar(at)
    at.button[0].click().run()
    assert not at.exception
    shown = _sidebar(at)
    assert "**Dataset:** mnist-sample" in shown and "**Model:** cnn3" in shown
    assert "digits" not in shown and shown.count("**Dataset:**") == 1
