"""What a page needs before it can show anything: a finished run to look at, and the trained
model of that run (cached for every session). The dataset's guard is pages.common's
``require_dataset``."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from pages.identity import visible_runs
from pages.state import current_run, set_run


def choose_finished_run(label: str, key: str) -> dict:
    """A select box of the runs that have a saved model, the current run chosen first; the
    chosen run becomes the current one. Without any, say what to do first and stop."""
    from dlcore.results import summary
    from dlcore.train import jobs

    runs = summary.usable_runs(visible_runs(jobs.list_runs()))
    if not runs:
        st.info("No finished run yet: train a model first.")
        st.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")
        st.stop()
    labels = {run["run_id"]: summary.run_label(run) for run in runs}
    ids, current = list(labels), current_run()
    chosen = st.selectbox(
        label,
        ids,
        index=ids.index(current) if current in ids else 0,
        format_func=labels.get,
        key=key,
        on_change=lambda: set_run(st.session_state[key]),
    )
    return runs[ids.index(chosen)]


@st.cache_resource(max_entries=4, show_spinner="Loading the trained model...")
def _load_model(run_id: str, path: str, mtime: float):
    from dlcore.results.inference import load_run_model

    return load_run_model(run_id)


def cached_model(run_id: str):
    """The run's Keras model, shared by sessions; reloaded when its file changes."""
    from dlcore.train.run_outputs import model_file

    path = Path(model_file(run_id))
    return _load_model(run_id, str(path), path.stat().st_mtime)
