"""Data: choose a built-in image set, or import your own (ZIP, folder, .npz, or a folder on this
server), then prepare it."""

from pathlib import PurePosixPath

import streamlit as st

from dlcore import LayerLabError
from dlcore.data import catalogue, importer, npz_import, server_folders
from dlcore.data.downloads import DatasetUnavailable
from dlcore.data.folders import IMAGE_TYPES
from dlcore.limits import load_limits
from dlcore.spec import DataSpec
from dlcore.storage import slugify
from dlcore.text import plain
from dlcore.train import usage
from pages import data_views as views
from pages.common import current_dataset, md, set_dataset, show_error
from pages.identity import attendee, attendee_label, is_instructor

SOURCES = (
    "ZIP of class folders",
    "A folder from my computer",
    "A folder on this server",
    "NumPy .npz arrays",
)
ZIP, UPLOAD, SERVER, NPZ = SOURCES
START_WITH = DataSpec().dataset  # the README's first step: the MNIST sample
MB = 1024 * 1024


def _builtin_sets(rows: list[dict]) -> None:
    titles = {r["name"]: plain(r["title"]) for r in rows}
    names = list(titles)
    current = current_dataset()
    start = current if current in names else START_WITH if START_WITH in names else names[0]
    pick, use = st.columns([3, 1], vertical_alignment="bottom")
    choice = pick.selectbox(
        "Dataset", names, index=names.index(start), format_func=titles.get, key="_data_pick"
    )
    if use.button("Use this dataset", type="primary", key="_data_use"):
        _use_builtin(choice, rows)  # its progress and any error show here, above the table
    views.builtin_table(rows)


def _use_builtin(name: str, rows: list[dict]) -> None:
    row = next(r for r in rows if r["name"] == name)
    verb = "Downloading and preparing" if row["status"] == "download" else "Preparing"
    try:
        with st.spinner(f"{verb} {md(row['title'])}..."):
            catalogue.load_dataset(name)
    except DatasetUnavailable as error:  # its details (host, errno, paths): the instructor's
        st.error(_cannot_download(row, error.offline), icon=":material/cloud_off:")
        if is_instructor():
            show_error(error)
        return
    except LayerLabError as error:
        show_error(error)
        return
    set_dataset(name)
    st.rerun()  # so the sidebar shows the new dataset


def _cannot_download(row: dict, offline: bool) -> str:
    """What an attendee can do when a built-in cannot be downloaded on this server."""
    works, ready = views.STATUS["offline"], views.STATUS["ready"]
    why = "this server cannot reach the internet" if offline else "the download failed here"
    return (
        f"**{md(row['title'])}** is downloaded the first time it is used, and {why}. Choose a "
        f"set marked “{works}” or “{ready}”, or ask your instructor to fetch it (they run "
        f"`dlcore fetch {row['name']}`)."
    )


def _import(source: str, payload, name: str, settings, val: float, test: float, replace: bool):
    bar = st.progress(0.0, text="Starting the import...")

    def progress(done: int, total: int, message: str) -> None:
        bar.progress(min(1.0, done / max(total, 1)), text=md(message))  # quotes file names

    # the id owns it, a label shows; a name that runs trained on is never imported again
    who = dict(owner=attendee(), owner_label=attendee_label(), in_use=usage.runs_using)
    options = dict(val_percent=val, test_percent=test, progress=progress, replace=replace, **who)
    try:
        if source == ZIP:
            importer.import_zip(payload, name, settings, **options)
        elif source == UPLOAD:
            importer.import_files(payload, name, settings, **options)
        elif source == SERVER:
            where = dict(root=payload["root"], val_path=payload["val_path"])
            server_folders.import_server_folder(payload["path"], name, settings, **where, **options)
        else:  # the page asked before replacing (views.target_controls)
            npz_import.import_npz(
                payload, name, settings=settings, val_percent=val, replace=replace, **who
            )
    except LayerLabError as error:
        bar.empty()
        show_error(error)
        return
    finally:  # a new uploader key: Streamlit drops the uploaded bytes from the server's memory
        st.session_state["_data_round"] = st.session_state.get("_data_round", 0) + 1
    views.finish_import(name)
    st.rerun()  # so the summary and the sidebar show the new dataset


def _upload_controls(source: str) -> tuple[object, str, bytes | None]:
    """The uploaded content (bytes, or (relative path, bytes) pairs), a default name, a sample."""
    if source == SERVER:
        return views.server_folder_controls()
    limits = load_limits()
    key = f"_data_upload_{st.session_state.get('_data_round', 0)}"
    said = (
        f"At most {limits.max_upload_mb:,} MB per file, {limits.max_files_per_import:,} files "
        f"and {limits.max_unpacked_mb:,} MB in all, {limits.max_classes_per_import:,} classes."
    )
    if source == UPLOAD:
        said = (
            f"At most {limits.max_upload_mb:,} MB for the whole folder, "
            f"{limits.max_files_per_import:,} files, {limits.max_classes_per_import:,} classes."
        )
        label = "A folder holding one folder of images per class"
        uploads = st.file_uploader(
            label, type=IMAGE_TYPES, accept_multiple_files="directory", key=key, help=said,
            max_upload_size=limits.max_upload_mb,
        ) or []  # fmt: skip
        total = sum(f.size for f in uploads)
        if len(uploads) > limits.max_files_per_import or total > limits.max_upload_mb * MB:
            st.error(f"This folder has {len(uploads):,} files of {total / MB:,.0f} MB. {said}")
            return None, "", None
        if not uploads:
            return None, "", None
        # the uploads themselves, streamed to scratch by the import: no copy of their bytes
        files = [(f.name, f) for f in uploads]
        sample = uploads[0].getvalue() if uploads[0].size <= views.SAMPLE_MAX_BYTES else None
        return files, PurePosixPath(files[0][0]).parts[0], sample
    if source == ZIP:
        upload = st.file_uploader("ZIP with one folder of images per class", type="zip", key=key,
                                  help=said, max_upload_size=limits.max_upload_mb)  # fmt: skip
    else:
        label = "A .npz with x_train, y_train (and x_test, y_test)"
        upload = st.file_uploader(label, type="npz", key=key, help=said,
                                  max_upload_size=limits.max_upload_mb)  # fmt: skip
    if upload is None:
        return None, "", None
    data = upload.getvalue()
    sample = views.zip_sample(data) if source == ZIP else None
    return data, upload.name.rsplit(".", 1)[0], sample


def _own_data() -> None:
    source = st.radio(
        "What do you have?", SOURCES, horizontal=True, key=views.kept("_data_source", ZIP)
    )
    views.keep("_data_source")
    payload, default, sample = _upload_controls(source)
    st.caption(
        "Class folders: `cats/1.jpg, cats/2.jpg, dogs/1.jpg...`, optionally inside `train/` and "
        "`val/` (and `test/`) folders. Unreadable files are skipped and listed in the report."
    )
    settings, val, test = views.settings_controls()
    views.preview(sample, settings)
    if source == NPZ and st.checkbox("Keep the arrays' size and colour", value=True):
        settings = None  # else every image is prepared with the settings above
    name = st.text_input("Dataset name", value=slugify(default) if default else "")
    allowed, replace = views.target_controls(name if payload is not None else "")
    go = st.button(
        "Import",
        type="primary",
        disabled=payload is None or not allowed,
        key="_data_go",
        on_click=views.start_import,
    )
    if go:
        _import(source, payload, name, settings, val, test, replace)
    views.show_imported()


st.title("Data")
st.caption(
    "A classifier learns from **labelled examples**: images sorted into one folder per class. "
    "Every image is prepared the same way (colour, size) so the network always gets the same "
    "shape of input."
)
# One slot for the current dataset, always drawn: while an import runs it says so instead, so
# the old dataset never shows beside the progress of the new one.
summary = st.empty()
if st.session_state.pop(views.IMPORTING, False):
    summary.info("Importing: the new dataset shows here when it is ready.")
elif current_dataset():
    with summary.container():
        views.report(current_dataset())
rows = catalogue.list_datasets(owner=None if is_instructor() else attendee())
ready, own = st.tabs(["Built-in and saved sets", "Bring your own images"])
with ready:
    _builtin_sets(rows)
with own:
    _own_data()
