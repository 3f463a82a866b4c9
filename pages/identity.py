"""Who is using this browser: the attendee key in the URL, its owner id, the typed label, the
instructor code, and what this attendee may see and change. Policy lives in dlcore.attendees;
this module only ties it to the session and the URL. Not a page (app.py lists the pages)."""

from __future__ import annotations

import os

import streamlit as st
from streamlit.errors import StreamlitSecretNotFoundError

from dlcore import LayerLabError, attendees
from dlcore.data import ownership
from dlcore.train import usage

ATTENDEE, ATTENDEE_KEY, KEY_PARAM = "attendee", "attendee_key", "key"
INSTRUCTOR_KEY = "instructor_key"
MAX_NAME = attendees.MAX_LABEL


def attendee_key() -> str:
    """This browser's secret attendee key: from the session, else from the URL (``?key=``, so
    a reload or a second tab of the same person is the same attendee), else a new one. It is
    never shown on a page nor written to disk; only its one-way id is."""
    key = st.session_state.get(ATTENDEE_KEY)
    if not attendees.valid_key(key):
        given = st.query_params.get(KEY_PARAM)
        key = given if attendees.valid_key(given) else attendees.new_key()
        st.session_state[ATTENDEE_KEY] = key
    return key


def attendee() -> str:
    """The attendee id of this browser, recorded as the owner of its runs and imports. It comes
    from the secret key alone: the typed name (``attendee_label``) plays no part in it."""
    return attendees.attendee_id(attendee_key())


def attendee_label() -> str:
    """The name this attendee typed ("" if none yet): shown on their runs, never an identity."""
    label = st.session_state.get(ATTENDEE)
    if label is None:  # a reload: the name was saved for this attendee id
        label = attendees.read_label(attendee())
        st.session_state[ATTENDEE] = label
    return attendees.clean_label(label)


def set_attendee(name: str) -> str:
    """Store the display name (cleaned, at most 64 characters) for this attendee; return it.
    Raises LayerLabError when it cannot be saved (a full disk): it still holds for this session.
    """
    label = attendees.clean_label(name)
    st.session_state[ATTENDEE] = label
    attendees.save_label(attendee(), label)
    return label


def keep_identity_in_url() -> None:
    """Keep ``?key=`` in the URL across page switches (Streamlit clears query parameters when
    the page changes), and drop the old ``?who=``: a name in the URL is nobody's identity."""
    key = attendee_key()
    if st.query_params.get(KEY_PARAM) != key:
        st.query_params[KEY_PARAM] = key
    if "who" in st.query_params:
        st.query_params.pop("who")


def may_see_run_id(run_id: str) -> bool:
    """``may_see_run`` for a run id (from the URL); True for a run that does not exist."""
    from dlcore.train.jobs import status

    try:
        return may_see_run(status(run_id))
    except LayerLabError:  # no such run: the pages say so, nothing is shown of it
        return True


def shared_dataset(name: str) -> bool:
    """A built-in, or an import without an owner (the instructor's): its runs are public and
    count on the class leaderboard (``dlcore.data.ownership.is_shared``, the one door)."""
    return ownership.is_shared(name)


def may_see_run(status: dict) -> bool:
    """Runs on shared datasets are public (label, settings, scores, curves, model); a run on an
    attendee's own import only its owner and the instructor see. Decided from the run alone
    (``dlcore.train.usage.may_see_run``): whoever owns the dataset's name today changes nothing."""
    return usage.may_see_run(status, attendee(), is_instructor())


def may_change_run(status: dict) -> bool:
    """Cancel and delete: the run's owner and the instructor only."""
    return attendees.may_change(str(status.get("owner") or ""), attendee(), is_instructor())


def visible_runs(statuses: list[dict]) -> list[dict]:
    """The runs this attendee may see, in the same order; no file is read per run."""
    viewer, instructor = attendee(), is_instructor()
    return [status for status in statuses if usage.may_see_run(status, viewer, instructor)]


def instructor_code() -> str:
    """The code that unlocks instructor mode: ``instructor_code`` in ``.streamlit/secrets.toml``,
    else ``$LAYERLAB_INSTRUCTOR_CODE``; "" when none is set (instructor mode is off)."""
    try:
        code = st.secrets.get("instructor_code")
    except StreamlitSecretNotFoundError:  # no secrets file, or one that does not parse
        code = None
    return str(code or os.environ.get("LAYERLAB_INSTRUCTOR_CODE", ""))


def is_instructor() -> bool:
    """True when the instructor code was entered on the Start page: the instructor may cancel
    and delete every attendee's runs and open every dataset. A placeholder, empty or short
    configured code never unlocks."""
    given = str(st.session_state.get(INSTRUCTOR_KEY, ""))
    return bool(given) and attendees.code_matches(given, instructor_code())


def leave_instructor_mode() -> None:
    """Instructor mode off for this session (the Start page's button); the code unlocks it
    again."""
    st.session_state.pop(INSTRUCTOR_KEY, None)


def enter_instructor_code(given: str) -> str:
    """Check a code typed on the Start page (wrong ones are rate limited for everyone); on
    success instructor mode is on for this session. Returns "" or the message to show."""
    st.session_state.pop(INSTRUCTOR_KEY, None)
    if not given:
        return ""
    try:
        attendees.try_instructor_code(given, instructor_code(), attendee())
    except LayerLabError as error:
        return str(error)
    st.session_state[INSTRUCTOR_KEY] = given
    return ""
