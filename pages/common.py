"""Helpers shared by every page: session state, guards, caches and an image grid (the sidebar
is pages/sidebar.py).

Not a page itself (app.py lists the pages explicitly). Everything here stays cheap: no Keras or
TensorFlow import happens unless a page asks for a trained model (``cached_model``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import streamlit as st

from dlcore import LayerLabError
from dlcore.spec import DataSpec, Experiment, preset_experiment
from dlcore.storage import data_home
from dlcore.text import escape_markdown
from pages.identity import (  # pages import the others from pages.identity directly
    attendee,
    is_instructor,
    may_see_run_id,
    visible_runs,
)


def _leave_legacy_multipage_mode() -> None:
    """Streamlit takes a folder named ``pages/`` beside app.py for its old multipage layout until
    app.py has called ``st.navigation`` once: the first visit to a deep link (``/train?run=...``)
    after a server start would run that page without the frame. Switch that mode off for the
    server and rerun through app.py, which keeps the URL and so opens the same page."""
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


_leave_legacy_multipage_mode()

DATASET, EXPERIMENT, RUN = "dataset", "experiment", "run_id"
GRID_SIDE = 112  # small images (8x8 digits, 28x28 MNIST) are scaled up to about this many pixels


def md(text: object) -> str:
    """Any user string (a name, a class folder, a file name, a run id, an error that quotes
    one) made safe to put into markdown: plain text with each markup character escaped, so
    links, images, ``:red[...]``, ``:material/...:``, emoji shortcodes, ``$...$`` LaTeX and HTML
    show as the literal text (``dlcore.text.escape_markdown``). Not for code spans."""
    return escape_markdown(text)


def current_dataset() -> str | None:
    """The name of the dataset chosen on the Data page, or None. After a reload only the URL
    (``?data=``) knows it: taken back if it exists and this attendee may open it."""
    name = st.session_state.get(DATASET)
    if not name and st.query_params.get("data"):
        from dlcore.dataset import PrivateDataset, check_access

        name = st.query_params["data"]
        try:
            check_access(name, attendee(), instructor=is_instructor())
        except PrivateDataset:
            name = None
        if not name or not dataset_exists(name):
            st.query_params.pop("data", None)
            return None
        st.session_state[DATASET] = name
    return name or None


def set_dataset(name: str) -> None:
    """Choose the dataset, in the session and in the URL (so a reload keeps it)."""
    st.session_state[DATASET] = name
    st.query_params["data"] = name


def current_experiment() -> Experiment:
    """The experiment being designed (default: LeNet), on the current dataset and attendee."""
    experiment = st.session_state.get(EXPERIMENT)
    dataset = current_dataset()
    if not isinstance(experiment, Experiment):
        experiment = preset_experiment("lenet", dataset=dataset or DataSpec().dataset)
    if dataset and experiment.data.dataset != dataset:
        experiment = dataclasses.replace(
            experiment, data=dataclasses.replace(experiment.data, dataset=dataset)
        )
    if experiment.owner != attendee():  # also a spec taken from someone else's run
        experiment = dataclasses.replace(experiment, owner=attendee())
    return experiment


def set_experiment(experiment: Experiment) -> None:
    st.session_state[EXPERIMENT] = experiment


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


def dataset_exists(name: str) -> bool:
    """A built-in set (buildable) or a prepared import on disk."""
    from dlcore.builtin import BUILTINS
    from dlcore.dataset import read_manifest
    from dlcore.storage import NAME_PATTERN

    return name in BUILTINS or (bool(NAME_PATTERN.match(name)) and read_manifest(name) is not None)


def require_dataset() -> str:
    """The current dataset's name; otherwise say what to do first and stop the page."""
    name = current_dataset()
    if name and not dataset_exists(name):
        st.session_state.pop(DATASET, None)
        st.warning(f"The dataset {md(repr(name))} is no longer on this server.")
        name = None
    if not name:
        st.info("Choose or import a dataset first.")
        st.page_link("pages/data.py", label="Go to 1 · Data", icon=":material/dataset:")
        st.stop()
    return name


def require_run() -> str:
    """The current run id; otherwise say what to do first and stop the page."""
    run_id = current_run()
    if not run_id:
        st.info("Train a model first (or pick a run on the Experiments page).")
        st.page_link("pages/train.py", label="Go to 4 · Train", icon=":material/model_training:")
        st.stop()
    return run_id


def choose_finished_run(label: str, key: str) -> dict:
    """A select box of the runs that have a saved model, the current run chosen first; the
    chosen run becomes the current one. Without any, say what to do first and stop."""
    from dlcore import jobs, summary

    runs = summary.usable_runs(visible_runs(jobs.list_runs()))
    if not runs:
        st.info("No finished run yet: train a model first.")
        st.page_link("pages/train.py", label="Go to 4 · Train", icon=":material/model_training:")
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


def show_error(error: BaseException | str) -> None:
    """A person-readable error box (no traceback). Messages quote names and file names that
    people chose, so every line is shown as plain text, never as markdown."""
    lines = [md(line) for line in str(error).splitlines()]
    st.error("\n\n".join(line for line in lines if line), icon=":material/error:")


def stop_on_error(error: BaseException | str) -> None:
    show_error(error)
    st.stop()


@st.cache_resource(max_entries=4, show_spinner="Loading the trained model...")
def _load_model(run_id: str, path: str, mtime: float):
    from dlcore.inference import load_run_model

    return load_run_model(run_id)


def cached_model(run_id: str):
    """The run's Keras model, shared by sessions; reloaded when its file changes."""
    from dlcore.runs import model_file

    path = Path(model_file(run_id))
    return _load_model(run_id, str(path), path.stat().st_mtime)


@st.cache_resource(max_entries=4, show_spinner="Loading the dataset...")
def _builtin_dataset(name: str, home: str):
    from dlcore.builtin import load_dataset

    return load_dataset(name)


def dataset_for(name: str):
    """A Dataset. Built-ins are cached for all sessions; imports are memory-mapped per call,
    and another attendee's import is refused (``PrivateDataset``) unless for the instructor."""
    from dlcore.builtin import BUILTINS, load_dataset
    from dlcore.dataset import check_access

    if name in BUILTINS:
        return _builtin_dataset(name, str(data_home()))
    check_access(name, attendee(), instructor=is_instructor())
    return load_dataset(name)


def enlarge(image: np.ndarray, side: int = GRID_SIDE) -> np.ndarray:
    """Scale a small uint8 image up by whole factors (nearest neighbour: crisp pixels)."""
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    factor = max(1, side // max(array.shape[:2]))
    return np.repeat(np.repeat(array, factor, axis=0), factor, axis=1)


def image_grid(
    images: Sequence[np.ndarray], captions: Sequence[str] | None = None, columns: int = 8
) -> None:
    """Show uint8 images (H, W, 1 or 3) in a grid of ``columns``, small ones enlarged."""
    captions = list(captions) if captions is not None else [""] * len(images)
    for start in range(0, len(images), columns):
        cells = st.columns(columns)
        for cell, image, caption in zip(
            cells, images[start : start + columns], captions[start : start + columns], strict=False
        ):
            cell.image(enlarge(image), caption=md(caption) or None)  # captions are markdown


def reattach_run() -> None:
    """After a reload only the URL remembers the run: take its dataset and settings back."""
    run_id = current_run()
    if run_id and not current_dataset():
        from dlcore.runs import read_spec

        try:
            spec = read_spec(run_id)
        except LayerLabError:
            return
        set_dataset(spec.data.dataset)
        set_experiment(spec)
