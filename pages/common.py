"""What every page uses: messages safe for markdown, and the dataset chosen on the Data page.

The rest of the pages' helpers live beside it, one idea each: pages/state.py (the experiment
and the run carried between pages), pages/guards.py (a finished run, its cached model),
pages/grid.py (images in a grid), pages/sidebar.py, pages/frame.py (the one patch of Streamlit
internals, applied on import here, so on every page). Not a page itself (app.py lists the
pages). Nothing here imports Keras or TensorFlow.
"""

from __future__ import annotations

import streamlit as st

from dlcore.storage import data_home
from dlcore.text import escape_markdown
from pages import frame
from pages.identity import attendee, is_instructor

frame.leave_legacy_multipage_mode()  # before anything: a deep link's first visit

DATASET = "dataset"


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
        from dlcore.data.ownership import PrivateDataset, check_access

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


def dataset_exists(name: str) -> bool:
    """A built-in set (buildable) or a prepared import on disk."""
    from dlcore.data.catalogue import describe_dataset

    return describe_dataset(name) is not None


def require_dataset() -> str:
    """The current dataset's name; otherwise say what to do first and stop the page."""
    name = current_dataset()
    if name and not dataset_exists(name):
        st.session_state.pop(DATASET, None)
        st.warning(f"The dataset {md(repr(name))} is no longer on this server.")
        name = None
    if not name:
        st.info("Choose or import a dataset first.")
        st.page_link("pages/data.py", label="Go to Data", icon=":material/dataset:")
        st.stop()
    return name


def show_error(error: BaseException | str) -> None:
    """A person-readable error box (no traceback). Messages quote names and file names that
    people chose, so every line is shown as plain text, never as markdown."""
    lines = [md(line) for line in str(error).splitlines()]
    st.error("\n\n".join(line for line in lines if line), icon=":material/error:")


def stop_on_error(error: BaseException | str) -> None:
    show_error(error)
    st.stop()


@st.cache_resource(max_entries=4, show_spinner="Loading the dataset...")
def _builtin_dataset(name: str, home: str):
    from dlcore.data.catalogue import load_dataset

    return load_dataset(name)


def dataset_for(name: str):
    """A Dataset. Built-ins are cached for all sessions; imports are memory-mapped per call,
    and another attendee's import is refused (``PrivateDataset``) unless for the instructor."""
    from dlcore.data.catalogue import is_builtin, load_dataset

    if is_builtin(name):
        return _builtin_dataset(name, str(data_home()))
    return load_dataset(name, viewer=attendee(), instructor=is_instructor())
