"""The code behind a run, for the Inside page: the training script with its images, the model
summary, and files to deploy (.keras, TensorFlow Lite float and int8), each with its size.

Not a page itself. Files are made on a click, never on every rerun, and kept in bounded caches
keyed by the run id and its model file's time (a run that trains on gets new files).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from dlcore import LayerLabError
from pages import common

SCRIPT, TFLITE = "_inside_script_run", "_inside_tflite_run"  # the run whose files were asked for
SCRIPT_NOTE = (
    "A Python script that does what this run did, with Keras and NumPy only: it loads the "
    "prepared images from the `.npz` file (keep both in one folder), builds the same network "
    "layer by layer, compiles and trains it with the same settings and seed, and prints the "
    "validation accuracy. Comments name each idea of the lesson where it appears. Run it with "
    "`python {script}`."
)
TFLITE_NOTE = (
    "TensorFlow Lite runs the network on a phone or a small board. The **int8** file stores "
    "each weight in one byte instead of four: about four times smaller, nearly as accurate."
)


def file_size(num_bytes: int) -> str:
    """1234567 as "1.2 MB": the size a person reads beside a download."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if num_bytes >= scale:
            return f"{num_bytes / scale:.1f} {unit}"
    return f"{num_bytes} bytes"


def _model_time(run_id: str) -> float:
    from dlcore.train.run_outputs import model_file

    return model_file(run_id).stat().st_mtime


def _scratch() -> tempfile.TemporaryDirectory:
    from dlcore.storage import scratch_dir

    return tempfile.TemporaryDirectory(prefix="export-", dir=scratch_dir())


@st.cache_data(max_entries=16, show_spinner=False)
def _summary(run_id: str, model_time: float) -> str:
    from dlcore.results import export

    return export.model_summary(run_id)


@st.cache_data(max_entries=2, show_spinner="Writing the training script...")
def _script_files(run_id: str, model_time: float) -> dict[str, bytes]:
    """{file name: contents} of the script and its images (these can be large: two kept)."""
    from dlcore.results import export

    with _scratch() as folder:
        paths = export.export_script(run_id, Path(folder))
        return {Path(path).name: Path(path).read_bytes() for path in paths.values()}


@st.cache_data(max_entries=8, show_spinner="Converting to TensorFlow Lite...")
def _tflite_files(run_id: str, model_time: float) -> dict[str, bytes]:
    """{file name: contents} of the float and the int8 TensorFlow Lite model."""
    from dlcore.results import export

    return {
        f"{run_id}.tflite": export.tflite_bytes(run_id),
        f"{run_id}_int8.tflite": export.tflite_bytes(run_id, int8=True),
    }


def _downloads(files: dict[str, bytes], key: str) -> None:
    for column, (name, data) in zip(st.columns(len(files)), files.items(), strict=True):
        label = f"{common.md(name)} · {file_size(len(data))}"
        column.download_button(
            label, data, file_name=name, key=f"{key}_{name}", icon=":material/download:"
        )


def _made_on_click(label: str, flag: str, run_id: str, make, key: str) -> dict[str, bytes] | None:
    """The files of ``make`` once the button was pressed for this run, else None."""
    if st.button(label, key=f"{key}_make"):
        st.session_state[flag] = run_id
    if st.session_state.get(flag) != run_id:
        return None
    try:
        files = make(run_id, _model_time(run_id))
    except LayerLabError as error:
        common.show_error(error)
        return None
    _downloads(files, key)
    return files


def code_and_exports(run_id: str) -> None:
    """The Inside page's third tab."""
    st.subheader("A script that trains this network again")
    script = f"train_{run_id}.py"
    st.markdown(SCRIPT_NOTE.format(script=script))  # a run id: letters, digits, _ . - only
    files = _made_on_click("Write the script", SCRIPT, run_id, _script_files, "script")
    if files and script in files:
        with st.expander("Read the script"):
            st.code(files[script].decode("utf-8"), language="python")

    st.subheader("Model summary")
    try:
        summary = _summary(run_id, _model_time(run_id))
    except LayerLabError as error:
        common.show_error(error)
    else:
        st.code(summary, language=None)
        _downloads({f"{run_id}_summary.txt": summary.encode("utf-8")}, "summary")

    st.subheader("Files to deploy")
    from dlcore.results import export
    from dlcore.train.run_outputs import model_file

    offered = {file["name"]: file for file in export.export_files(run_id)}
    keras_file = offered[f"{run_id}.keras"]
    st.markdown(common.md(keras_file["description"]))
    st.download_button(
        f"{common.md(keras_file['name'])} · {file_size(keras_file['size_bytes'])}",
        model_file(run_id).read_bytes,  # read on the click only
        file_name=keras_file["name"],
        key="keras_file",
        icon=":material/download:",
    )
    st.markdown(TFLITE_NOTE)
    tflite = offered[f"{run_id}.tflite"]
    if not tflite["available"]:
        st.info(common.md(tflite["note"]))
        return
    _made_on_click("Convert to TensorFlow Lite", TFLITE, run_id, _tflite_files, "tflite")
