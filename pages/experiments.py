"""Experiments: every run in one table of trials, their curves side by side, downloads."""

import pandas as pd
import streamlit as st

from dlcore import LayerLabError, charts
from dlcore.results import classroom, summary, trials
from dlcore.train import jobs, run_comments, run_outputs, runs
from dlcore.train.runs import ACTIVE
from pages import common, identity, state, sweep_views

# The results first, so a 1366 px screen shows them, and the state, without scrolling.
TABLE_ORDER = [
    "run", "status", "owner", "dataset", "val accuracy", "test accuracy", "epochs", "sweep",
    "architecture", "learning rate", "batch size", "optimizer", "augmentation", "activations",
    "parameters", "time (s)", "comment",
]  # fmt: skip
RIGHT = st.column_config.TextColumn(alignment="right")
COLUMNS = {
    "run": st.column_config.TextColumn(pinned=True),
    "val accuracy": st.column_config.TextColumn(
        alignment="right", help="Validation accuracy of the weights the run kept."
    ),
    "test accuracy": RIGHT,
    "epochs": st.column_config.TextColumn(
        alignment="right", help="Epochs trained, of the number planned if it stopped sooner."
    ),
    "learning rate": RIGHT,
    "batch size": RIGHT,
    "parameters": RIGHT,
    "time (s)": st.column_config.TextColumn(
        "time", alignment="right", help="Training time (minutes:seconds)."
    ),
    "sweep": st.column_config.TextColumn(help="The settings its sweep gave this run."),
    "comment": st.column_config.TextColumn(width="large"),
}


def _overlay(run_ids: list[str]) -> None:
    frames = []
    for run_id in run_ids:
        history = summary.epoch_history(jobs.read_metrics(run_id))
        if len(history):
            frames.append(charts.tidy_history(history).assign(run=run_id))
    if frames:
        st.altair_chart(charts.runs_overlay(pd.concat(frames, ignore_index=True)))
        st.caption(
            "One colour per run. Solid lines: the validation images; dashed lines: the "
            "training images."
        )
    else:
        st.caption("These runs have no finished epoch yet.")


def _downloads(run_id: str, status: dict) -> None:
    spec = runs.read_spec(run_id)
    left, right, third = st.columns(3)
    right.download_button(
        "Settings (spec JSON)",
        spec.to_json(),
        file_name=f"{run_id}.json",
        mime="application/json",
        icon=":material/download:",
        on_click="ignore",
    )
    if summary.has_model(run_id) and status.get("status") not in ACTIVE:
        left.download_button(
            "Trained model (.keras)",
            lambda: run_outputs.model_file(run_id).read_bytes(),
            file_name=f"{run_id}.keras",
            mime="application/octet-stream",
            icon=":material/download:",
            on_click="ignore",
        )
    if third.button("Use these settings", help="Load this run's network and training settings."):
        state.set_experiment(spec)
        common.set_dataset(spec.data.dataset)
        st.toast("Settings loaded: change one thing on the Model or Train page and compare.")


def _comment(run_id: str, status: dict) -> None:
    """The run's note in the table of trials ("comments" in class): its owner's to write."""
    if not identity.may_change_run(status):
        return
    with st.form(f"comment_{run_id}", border=False):
        text = st.text_input(
            "Comment",
            run_comments.read_comment(run_id),
            max_chars=run_comments.MAX_COMMENT,
            placeholder="What did you change, what did you see?",
            key=f"comment_text_{run_id}",
        )
        if st.form_submit_button("Save comment", icon=":material/edit_note:"):
            try:
                jobs.comment(
                    run_id, text, actor=None if identity.is_instructor() else identity.attendee()
                )
            except LayerLabError as error:
                common.stop_on_error(error)
            st.session_state.pop(f"comment_text_{run_id}")  # show it as stored: plain text
            st.rerun()  # the table above shows the new comment


def _delete(run_id: str, status: dict) -> None:
    if not identity.may_change_run(status):  # no controls that this attendee may not use
        st.caption("Only its owner (or the instructor) can delete a run.")
        return
    if status.get("status") in ACTIVE:
        st.caption("Cancel this run on the Train page before deleting it.")
        return
    sure = st.checkbox(f"Yes, delete run {common.md(run_id)} and its model for good")
    if st.button("Delete run", icon=":material/delete:", disabled=not sure):
        try:
            jobs.delete(run_id, actor=None if identity.is_instructor() else identity.attendee())
        except LayerLabError as error:
            common.stop_on_error(error)
        if state.current_run() == run_id:
            state.set_run(None)
        st.rerun()


def _leaderboard(statuses: list[dict]) -> None:
    """The class leaderboard of the current dataset: the top 10 and this attendee's place.
    Only shared datasets have one (a run on someone's own import never appears)."""
    dataset = common.current_dataset() or statuses[0].get("dataset", "")
    if not identity.shared_dataset(dataset):
        st.caption("The class leaderboard counts runs on the shared datasets only.")
        return
    board = classroom.leaderboard(statuses, dataset, viewer=identity.attendee())
    if board.empty:
        return
    st.subheader(f"Class leaderboard · {common.md(dataset)}")
    board["attendee"] = board["attendee"].map(common.md)  # st.table renders markdown
    board["model"] = board["model"].map(common.md)
    board["best val accuracy"] = board["best val accuracy"].map("{:.1%}".format)
    board["you"] = board["you"].map({True: "← you", False: ""})
    st.table(board.set_index("place"))


st.title("Experiments")
statuses = identity.visible_runs(jobs.list_runs())  # not the runs on others' own datasets
if not statuses:
    st.info("No run yet: train a model first.")
    st.page_link("pages/train.py", label="Go to Train", icon=":material/model_training:")
    st.stop()
st.caption(
    "Your runs and everyone's runs on the shared datasets, newest first, like the table of "
    "trials in class. Change one "
    "thing at a time (epochs, a layer, the learning rate) and compare. Click rows to compare "
    "their curves."
)
_leaderboard(statuses)
only_mine = st.toggle("Only my runs")
if only_mine:
    statuses = [s for s in statuses if s.get("owner") == identity.attendee()]
if not statuses:
    st.info("You have no run yet: train one on the Train page.")
    st.stop()
table = trials.runs_frame(statuses)
event = st.dataframe(
    trials.shown_runs(table),
    hide_index=True,
    column_config=COLUMNS,
    column_order=TABLE_ORDER,
    on_select="rerun",
    selection_mode="multi-row",
    key=f"runs_table_{only_mine}",  # rows are positions: a filtered table starts unselected
)
selected = [table["run"].iloc[i] for i in event.selection.rows if i < len(table)]
st.download_button(
    "Download the table (CSV)",
    trials.runs_csv(table),
    file_name="experiments.csv",
    mime="text/csv",
    icon=":material/download:",
    on_click="ignore",
)

st.subheader("Curves side by side")
shown = selected or [s["run_id"] for s in summary.usable_runs(statuses)[:3]]
st.caption("Selected runs." if selected else "The newest finished runs (select rows to choose).")
_overlay(shown)
sweep_views.sweep_section(statuses)

st.subheader("One run")
by_id = {s["run_id"]: s for s in statuses}
run_id = st.selectbox(
    "Run", selected or list(by_id), format_func=lambda r: summary.run_label(by_id[r])
)
try:
    _downloads(run_id, by_id[run_id])
except LayerLabError as error:
    common.show_error(error)
_comment(run_id, by_id[run_id])
_delete(run_id, by_id[run_id])
