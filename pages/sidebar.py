"""The sidebar every page shares: who is working, on which data, with which model, and the run.

app.py draws it before the page (``render_sidebar``) and again after it when the page changed
one of them (``refresh_sidebar``): a button like Experiments' "Use these settings" acts in the
page, after the sidebar was drawn, and would otherwise leave the old dataset and model showing
until the next click. The Train page, which follows a run live, redraws the whole page when
the run's phase changes, so the run line here says "starting", then "training", in time.
"""

from __future__ import annotations

import streamlit as st

from dlcore import LayerLabError
from dlcore.train.runs import ACTIVE
from pages.common import current_dataset, md
from pages.identity import attendee, attendee_label, is_instructor, keep_identity_in_url
from pages.state import current_run, reattach_run, saved_experiment, set_run

_LOOKED = "_sidebar_looked_for_active_run"


def run_state(info: dict) -> str:
    """A run's state in a few words, by its phase: "starting" from the moment it may start
    until its first batch, "training", "queued, #2 in queue", or how it ended."""
    phase = str(info.get("phase") or info.get("status") or "?")
    if phase == "queued" and info.get("queue_position"):
        return f"queued, #{info['queue_position']} in queue"
    return phase


def _run_line(run_id: str) -> str:
    from dlcore.train.jobs import status

    try:
        info = status(run_id)
    except LayerLabError:
        return f"**Run:** {md(run_id)} (not found)"  # run_id may come from ?run= in the URL
    return f"**Run:** {md(run_id)} · {md(run_state(info))}"


def _adopt_active_run() -> None:
    """A new session (a bookmarked link, a second tab) that does not know the run its
    attendee is training takes their newest queued or running one, once."""
    if current_run() or st.session_state.get(_LOOKED):
        return
    st.session_state[_LOOKED] = True
    owner = attendee()
    if not owner:
        return
    from dlcore.train.runs import read_all_statuses

    active = [s for s in read_all_statuses() if s.owner == owner and s.status in ACTIVE]
    if active:
        set_run(max(active, key=lambda s: s.created_ts).run_id)


def _shown() -> tuple:
    """What the sidebar shows: (label, dataset, model preset, run id, instructor)."""
    experiment = saved_experiment()
    preset = experiment.model.preset if experiment else "lenet"
    return attendee_label(), current_dataset() or "", preset, current_run(), is_instructor()


def _draw(slots: list, shown: tuple) -> None:
    """One line per slot (placeholders, so a redraw replaces them in place)."""
    label, dataset, preset, run_id, instructor = shown
    slots[0].markdown(f"**Attendee:** {md(label) or '_not set_'}")
    slots[1].markdown(f"**Dataset:** {md(dataset) or '_none yet_'}")
    slots[2].markdown(f"**Model:** {md(preset)}")
    slots[3].markdown(_run_line(run_id) if run_id else "**Run:** _none yet_")
    if instructor:
        slots[4].caption("Instructor mode")
    else:
        slots[4].empty()


def render_sidebar():
    """Take the shared state back from the URL, keep the URL reattachable, draw the sidebar;
    returns what ``refresh_sidebar`` needs after the page ran."""
    _adopt_active_run()
    reattach_run()  # also the dataset and settings of a run just adopted
    run_id = current_run()
    if run_id and st.query_params.get("run") != run_id:
        st.query_params["run"] = run_id  # keep the URL reattachable across page switches
    keep_identity_in_url()
    dataset = current_dataset()
    if dataset and st.query_params.get("data") != dataset:
        st.query_params["data"] = dataset  # page switches clear the URL's parameters
    slots, shown = [st.sidebar.empty() for _ in range(5)], _shown()
    _draw(slots, shown)
    return slots, shown


def refresh_sidebar(drawn) -> None:
    """Draw the sidebar again if the page changed the dataset, the model or the run."""
    slots, shown = drawn
    now = _shown()
    if now != shown:
        _draw(slots, now)
