"""Instructor: the whole room at a glance. Every attendee's runs with their place in the queue,
progress and best accuracy; the server's CPU, memory, disk and GPUs; pause and resume the
queue; cancel or delete any run. The room's table names the node each run trains on (this
server, or a Ray cluster's machine). Unlocked by the instructor code on the Start page: without it
the page shows nothing of anyone's work."""

import pandas as pd
import streamlit as st

from dlcore import LayerLabError, system
from dlcore.results import classroom, summary
from dlcore.text import plain
from dlcore.train import jobs
from dlcore.train.runs import ACTIVE
from pages import common, identity, state

ROOM_REFRESH_S, SERVER_REFRESH_S = 3.0, 5.0
# one decimal ("93.0%") like every other figure; Streamlit cuts the digits beyond ``step`` off,
# so the values are rounded to 3 decimals first
PERCENT = st.column_config.NumberColumn(format="percent", step=0.001)
ROOM_COLUMNS = {
    "queue": st.column_config.TextColumn(
        "queue", help="Place in the queue: 1 starts next.", alignment="right"
    ),
    "progress": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0, format="percent"),
    "best val accuracy": PERCENT,
    "node": st.column_config.TextColumn(
        "node", help="The machine the run trains (or trained) on: a Ray node's name on a cluster."
    ),
}


def _figure(value: float | None, unit: str, digits: int = 1) -> str:
    if value is None:
        return "?"
    return f"{value:,.{digits}f}{'' if unit == '%' else ' '}{unit}".rstrip()


def _size(gigabytes: float | None) -> str:
    """A disk size, in MB below 1 GB: a few MB written should not read as "0.0 GB"."""
    if gigabytes is not None and gigabytes < 0.001:
        return "under 1 MB"
    if gigabytes is not None and gigabytes < 0.9995:  # 999.6 MB would round to "1,000 MB"
        return _figure(gigabytes * 1000, "MB", 0)  # disk_stats counts 1 GB as 1e9 bytes
    return _figure(gigabytes, "GB")


def _gb(megabytes: float | None) -> float | None:
    return None if megabytes is None else megabytes / 1024


def _server() -> None:
    """The server's figures, refreshed every few seconds."""
    stats = system.server_stats()
    cpu, memory, disk = st.columns(3)
    load = _figure(stats["load_1m"], "", 2)
    cpu.metric(
        "CPU", _figure(stats["cpu_percent"], "%", 0), help=f"{stats['num_cpus']} cores, load {load}"
    )
    used, total = (stats["memory"].get(k) for k in ("used_mb", "total_mb"))
    memory.metric("Memory", f"{_figure(_gb(used), 'GB')} of {_figure(_gb(total), 'GB')}")
    usage = stats["disk"]
    disk.metric(
        "Data directory",
        f"{_size(usage['used_gb'])} of {_size(usage['limit_gb'])}",
        help=f"The limit is max_disk_gb; {_size(usage['free_gb'])} free on its disk.",
    )
    if stats["gpus"]:
        st.dataframe(pd.DataFrame(stats["gpus"]), hide_index=True)  # plain-text cells
    else:
        st.caption("No GPU found (nvidia-smi): jobs train on the CPU.")


def _queue_controls() -> None:
    try:
        if jobs.queue_paused():
            st.warning(
                "The queue is paused: running jobs go on, queued ones wait until you resume it."
            )
            if st.button("Resume the queue", icon=":material/play_arrow:", type="primary"):
                jobs.resume_queue()
                st.rerun()
        elif st.button("Pause the queue", icon=":material/pause:"):
            jobs.pause_queue()
            st.rerun()
    except LayerLabError as error:
        common.show_error(error)


def _room() -> None:
    """Every attendee's runs, refreshed every few seconds."""
    statuses = jobs.list_runs()
    if not statuses:
        st.info("No runs yet: they appear here as attendees press Start on the Train page.")
        return
    frame = classroom.class_overview(statuses)
    nodes = {s.get("run_id"): plain(s.get("node") or "") for s in statuses}
    frame["node"] = frame["run"].map(nodes).fillna("")  # which machine runs each job
    # a finished run has no place in the queue: an empty cell, not a grey "None"; places are
    # padded so that the text sorts as the numbers do (2 before 10)
    frame["queue"] = [("" if pd.isna(place) else f"{int(place):>4}") for place in frame["queue"]]
    frame["best val accuracy"] = pd.to_numeric(frame["best val accuracy"]).round(3)
    people, running, queued, done = st.columns(4)
    people.metric("Attendees with runs", len({s.get("owner") for s in statuses}))
    running.metric("Running", int(frame["status"].isin(["starting", "training"]).sum()))
    queued.metric("Queued", int((frame["status"] == "queued").sum()))
    done.metric("Completed", int((frame["status"] == "completed").sum()))
    st.dataframe(frame, hide_index=True, column_config=ROOM_COLUMNS)


def _act_on_a_run() -> None:
    """Cancel or delete any attendee's run, with the instructor's authority (actor None)."""
    statuses = {s["run_id"]: s for s in jobs.list_runs()}
    if not statuses:
        return
    run_id = st.selectbox(
        "Run", list(statuses), format_func=lambda r: summary.run_label(statuses[r])
    )
    status = statuses[run_id]
    try:
        if status.get("status") in ACTIVE:
            if st.button("Cancel run", icon=":material/stop:"):
                jobs.cancel(run_id, actor=None)
                st.rerun()
            return
        sure = st.checkbox(f"Yes, delete run {common.md(run_id)} and its model for good")
        if st.button("Delete run", icon=":material/delete:", disabled=not sure):
            jobs.delete(run_id, actor=None)
            if state.current_run() == run_id:
                state.set_run(None)
            st.rerun()
    except LayerLabError as error:
        common.show_error(error)


st.title("Instructor")
if not identity.is_instructor():
    st.info(
        "This page is the instructor's: enter the instructor code on the Start page to unlock it."
    )
    st.page_link("pages/start.py", label="Go to Start", icon=":material/home:")
    st.stop()

st.subheader("The server")
st.fragment(_server, run_every=SERVER_REFRESH_S)()
st.subheader("The room")
_queue_controls()
st.fragment(_room, run_every=ROOM_REFRESH_S)()
st.subheader("Cancel or delete a run")
_act_on_a_run()
