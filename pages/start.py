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
    set_attendee,
)

STEPS = [
    ("pages/data.py", "1 · Data", ":material/dataset:",
     "Pick a ready-made image set or bring your own folders of photos."),
    ("pages/explore.py", "2 · Explore", ":material/image_search:",
     "Look at the images, count the classes, spot problems before training."),
    ("pages/model.py", "3 · Model", ":material/account_tree:",
     "Choose a network (LeNet, a small CNN...) or design your own, layer by layer."),
    ("pages/train.py", "4 · Train", ":material/model_training:",
     "Train it and watch the loss fall and the accuracy rise, epoch by epoch."),
    ("pages/evaluate.py", "5 · Evaluate", ":material/analytics:",
     "See what it gets right and wrong: accuracy, confusion matrix, mistakes."),
    ("pages/classify.py", "6 · Classify", ":material/center_focus_strong:",
     "Give it new images (a photo of your own handwriting, a cat) and read its guess."),
    ("pages/experiments.py", "7 · Experiments", ":material/table_chart:",
     "Compare your runs side by side, like the table of trials in class."),
]  # fmt: skip


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


st.title("Welcome to LayerLab")
st.markdown(
    "LayerLab is a lab for **teaching a computer to recognise images**, without writing code. "
    "You give a neural network many labelled examples (this image is a *5*, that one a *cat*), "
    "it adjusts millions of numbers until its guesses match the labels, and then it guesses "
    "labels for images it has never seen. Every step below is one page; go through them in order."
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
for path, title, icon, text in STEPS:
    link, words = st.columns([1, 3], vertical_alignment="center")
    link.page_link(path, label=title, icon=icon)
    words.write(text)

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
