"""Start: what LayerLab is, the steps of the lab, and who is working (recorded on every run)."""

import streamlit as st

from dlcore import LayerLabError
from dlcore.attendees import code_problem
from pages.common import md
from pages.identity import (
    MAX_NAME,
    attendee_label,
    enter_instructor_code,
    instructor_code,
    is_instructor,
    leave_instructor_mode,
    set_attendee,
)
from pages.navigation import STEPS


def _name_changed() -> None:
    try:
        set_attendee(st.session_state.get("_attendee_input", ""))
    except LayerLabError as error:
        st.session_state["_attendee_error"] = str(error)


def _code_entered() -> None:
    given = st.session_state.get("_instructor_input", "")
    st.session_state["_instructor_message"] = enter_instructor_code(given)
    st.session_state["_instructor_input"] = ""  # the code is not kept in the box


def _instructor() -> None:
    problem = code_problem(instructor_code())
    if problem:
        st.warning(problem[0].upper() + problem[1:])
        return
    st.text_input("Instructor code", key="_instructor_input", type="password",
                  on_change=_code_entered)  # fmt: skip
    message = st.session_state.pop("_instructor_message", "")
    if message:
        st.error(message, icon=":material/lock:")  # dlcore's own words: no user text
    if is_instructor():
        st.caption(
            "Instructor mode is on: you can cancel and delete every attendee's runs and "
            "open every dataset."
        )
        st.button("Leave instructor mode", key="_instructor_leave", on_click=leave_instructor_mode)


st.title("Start")
st.markdown(
    "Welcome! LayerLab is a lab for **teaching a computer to recognise images**, without "
    "writing code. You give a neural network many labelled examples (this image is a *5*, "
    "that one a *cat*), it adjusts millions of numbers until its guesses match the labels, and "
    "then it guesses labels for images it has never seen. Every step below is one page, in the "
    "same order as in the sidebar; go through them in order."
)

if "_attendee_input" not in st.session_state:
    st.session_state["_attendee_input"] = attendee_label()
st.text_input(
    "Your name",
    key="_attendee_input",
    max_chars=MAX_NAME,
    placeholder="e.g. Ada",
    on_change=_name_changed,
    help="Written on the runs you train, so you can find them on the Experiments page. It is "
    "only a label: this browser's private link (the address in the bar) is what makes your "
    "runs and datasets yours. Bookmark it to come back to them, and keep it to yourself.",
)
if st.session_state.get("_attendee_error"):
    st.warning(md(st.session_state.pop("_attendee_error")))
if attendee_label():
    st.success(f"Hello {md(attendee_label())}! Your runs will be labelled with your name.")
else:
    st.caption("Type your name and press Enter; it labels the runs you train.")

st.subheader("The steps")
for number, (path, title, icon, text) in enumerate(STEPS, start=1):
    link, words = st.columns([1, 3], vertical_alignment="center")
    link.page_link(path, label=title, icon=icon)
    words.markdown(f"**Step {number}.** {text}")

with st.expander("What you will learn"):
    st.markdown(
        "- **Supervised learning**: learning from examples that carry the right answer (a label).\n"
        "- **Training, validation and test images**, and why the test images are kept apart.\n"
        "- **Convolutional networks**: filters sliding over an image, feature maps, pooling.\n"
        "- **Training**: epochs, batches, loss, accuracy and overfitting.\n"
        "- **Evaluation**: the confusion matrix and the mistakes the network makes."
    )

if instructor_code():  # set in .streamlit/secrets.toml (see secrets.toml.example)
    with st.expander("Instructor", expanded=is_instructor()):
        _instructor()
