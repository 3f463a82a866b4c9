"""Buttons whose click is never lost.

``if st.button(...)`` acts on a click only in the one script run that the click starts, and
only if that run reaches the button. Another request can interrupt that run first: a slider
moved with the keyboard sends its new value a moment after the key press (the frontend waits
for the keys to stop), so a click right after it starts a run that the slider's value then
interrupts, and the rerun sees the button unclicked: the click is gone, with no message. A
callback (``on_click``) runs before the script body, so it is done before any interruption can
come; here it only leaves a note in the session, which the page takes (once) when it reaches
the button, with every setting drawn above it as it is by then.
"""

from __future__ import annotations

import streamlit as st

_PREFIX = "_clicked_"


def _note(key: str) -> None:
    st.session_state[_PREFIX + key] = True


def clicked(key: str) -> bool:
    """Whether the button ``key`` was clicked since the page last asked (asking forgets it)."""
    return bool(st.session_state.pop(_PREFIX + key, False))


def button(label: str, key: str, **options) -> bool:
    """``st.button`` whose click survives a rerun that interrupts the run it started; True
    once per click, in the first run that reaches the button after it."""
    st.button(label, key=key, on_click=_note, args=(key,), **options)
    return clicked(key)
