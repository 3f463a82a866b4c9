"""The frame's one dependency on Streamlit internals, kept here and tested against the pinned
Streamlit (tests/test_frame.py).

The product keeps its pages in a folder named ``pages/`` beside app.py. Streamlit reads such a
folder as its old (v1) multipage layout until app.py has called ``st.navigation`` once in the
server's life: the first visit to a deep link (``/train?run=...``) after a server start would
run pages/train.py on its own, without app.py, so without the sidebar and its shared state.
Streamlit offers no setting for this (``client.showSidebarNavigation`` only hides the list, and
``st.navigation`` only switches the old layout off once it has run), so the page that finds
itself running without the frame switches the old layout off for the server, as
``st.navigation`` itself does, and reruns through app.py, which keeps the URL and so opens the
same page.

It also follows the app's shareable links, ``/?page=train&run=...`` (``follow_page_link``).
"""

from __future__ import annotations

import logging

import streamlit as st

from dlcore.text import escape_markdown

_LOG = logging.getLogger(__name__)
_FLAG = "uses_pages_directory"  # PagesManager's class attribute (Streamlit 1.36 to at least 1.67)


def _pages_manager():
    from streamlit.runtime.pages_manager import PagesManager

    return PagesManager


def switch_supported() -> bool:
    """Whether this Streamlit has the switch the frame relies on. The tests require it; on a
    Streamlit without it the app runs on, and a deep link's first visit may lack the sidebar."""
    try:
        manager = _pages_manager()
    except ImportError:
        return False
    return hasattr(manager, _FLAG)


def in_legacy_mode() -> bool:
    """True while Streamlit would run a page of ``pages/`` without app.py."""
    return switch_supported() and bool(getattr(_pages_manager(), _FLAG))


def leave_legacy_multipage_mode() -> None:
    """Called by every page (through pages.common): if Streamlit ran this page without app.py,
    switch the old layout off for the server and rerun through app.py."""
    if not switch_supported():
        _LOG.warning(
            "This Streamlit has no PagesManager.%s: the first visit to a deep link after a "
            "server start may show a page without its sidebar (see pages/frame.py).",
            _FLAG,
        )
        return
    if in_legacy_mode():
        setattr(_pages_manager(), _FLAG, False)
        st.rerun()


def follow_page_link(paths: list[str]) -> None:
    """A link to the root URL with ``?page=NAME`` (``/?page=train&run=...``: what to share or
    write on the board) opens ``pages/NAME.py`` with the link's other parameters. The browser's
    first request is then for the root, where Streamlit's frontend finds its server at once; a
    link to ``/train`` makes it ask ``/train/_stcore/health`` and ``/train/_stcore/host-config``
    first and get two 404s (Streamlit issue #7074). Called by app.py after ``st.navigation``."""
    name = st.query_params.get("page")
    if name is None:
        return
    params = {key: value for key, value in st.query_params.to_dict().items() if key != "page"}
    target = f"pages/{name}.py"
    if target in paths:
        st.switch_page(target, query_params=params)
    st.query_params.pop("page", None)
    st.info(f"This link names a page, {escape_markdown(repr(name))}, that LayerLab does not have.")
