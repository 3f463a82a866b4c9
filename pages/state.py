"""What the pages carry between them in the session: the experiment being designed and the run
being watched (the dataset's choice is pages.common's ``current_dataset``/``set_dataset``).

One door per value: a page reads ``current_experiment()`` and writes ``set_experiment(...)``;
it never reads or resets another page's widget keys. A page whose widgets start from the
experiment registers their keys under a part of it (``widget("training", key, value)``); a page
that replaces that part says so (``set_experiment(experiment, changed=("training",))``), and
those widgets start again from the new experiment the next time they are drawn.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import streamlit as st

from dlcore import LayerLabError
from dlcore.data.catalogue import train_size
from dlcore.recipes import preset_experiment
from dlcore.spec import DataSpec, Experiment
from pages.common import current_dataset, set_dataset
from pages.identity import attendee, may_see_run_id

EXPERIMENT, RUN = "experiment", "run_id"
PARTS = ("training", "augment", "transfer")  # the parts of an experiment that widgets show
_WIDGETS: dict[str, set[str]] = {part: set() for part in PARTS}


def widget(part: str, key: str, value):
    """The key of a widget that shows ``part`` of the experiment, its starting value taken
    from the experiment (``value``) unless the attendee has set it in this session."""
    if part not in _WIDGETS:
        raise ValueError(f"unknown part of an experiment: {part!r}; use one of {PARTS}")
    _WIDGETS[part].add(key)
    st.session_state.setdefault(key, value)
    return key


def current_experiment() -> Experiment:
    """The experiment being designed (default: LeNet), on the current dataset and attendee."""
    experiment = st.session_state.get(EXPERIMENT)
    dataset = current_dataset()
    if not isinstance(experiment, Experiment):
        name = dataset or DataSpec().dataset
        experiment = preset_experiment("lenet", dataset=name, num_train=train_size(name))
    if dataset and experiment.data.dataset != dataset:
        experiment = dataclasses.replace(
            experiment, data=dataclasses.replace(experiment.data, dataset=dataset)
        )
    if experiment.owner != attendee():  # also a spec taken from someone else's run
        experiment = dataclasses.replace(experiment, owner=attendee())
    return experiment


def saved_experiment() -> Experiment | None:
    """The experiment as last saved in this session (None before the first save)."""
    experiment = st.session_state.get(EXPERIMENT)
    return experiment if isinstance(experiment, Experiment) else None


def set_experiment(experiment: Experiment, changed: Iterable[str] = ()) -> None:
    """Save the experiment; the widgets of each part in ``changed`` start again from it."""
    st.session_state[EXPERIMENT] = experiment
    for part in changed:
        if part not in _WIDGETS:
            raise ValueError(f"unknown part of an experiment: {part!r}; use one of {PARTS}")
        for key in _WIDGETS[part]:
            st.session_state.pop(key, None)


def current_run() -> str | None:
    """The run being watched: from the session, else from the URL (``?run=``) after a reload,
    if this attendee may see it (a run on another attendee's own dataset stays private)."""
    run_id = st.session_state.get(RUN)
    if not run_id:
        run_id = st.query_params.get("run")
        if run_id and not may_see_run_id(run_id):
            st.query_params.pop("run")
            st.info("The run in this link does not exist or is not shared with you.")
            return None
    if run_id:
        st.session_state[RUN] = run_id
    return run_id or None


def set_run(run_id: str | None) -> None:
    """Remember a run in the session and in the URL, so a reload reattaches to it."""
    if run_id:
        st.session_state[RUN] = run_id
        st.query_params["run"] = run_id
    else:
        st.session_state.pop(RUN, None)
        st.query_params.pop("run", None)


def reattach_run() -> None:
    """After a reload only the URL remembers the run: take its dataset and settings back."""
    run_id = current_run()
    if run_id and not current_dataset():
        from dlcore.train.runs import read_spec

        try:
            spec = read_spec(run_id)
        except LayerLabError:
            return
        set_dataset(spec.data.dataset)
        set_experiment(spec)
