"""Data: choose a built-in image set, or import your own (ZIP, folder or .npz), then prepare it."""

import io
import zipfile
from pathlib import PurePosixPath

import pandas as pd
import streamlit as st

from dlcore import LayerLabError, builtin, importer, npz_import, usage
from dlcore.dataset import check_access, may_change_dataset, read_manifest
from dlcore.images import RESIZE_MODES, PrepSettings, prepare_image, preview_image
from dlcore.limits import load_limits
from dlcore.storage import slugify
from dlcore.text import plain
from pages.common import current_dataset, enlarge, md, set_dataset, show_error
from pages.identity import attendee, attendee_label, is_instructor

STATUS = {"ready": "ready", "offline": "works offline", "download": "needs download"}
RESIZE_HELP = {
    "squash": "stretch to the size (keeps everything, may distort)",
    "crop": "fill the size and cut off what sticks out (keeps proportions)",
    "fill": "fit inside the size and fill the borders with noise",
    "half_crop": "half way between squash and crop",
}
SOURCES = ("ZIP of class folders", "A folder from my computer", "NumPy .npz arrays")
SAMPLE_MAX_BYTES = 20 * 1024 * 1024


def _builtin_controls(rows: list[dict]) -> tuple[str, bool]:
    table = pd.DataFrame(
        {
            "Dataset": [plain(r["title"]) for r in rows],
            "Classes": [r["num_classes"] for r in rows],
            "Image shape": [" x ".join(map(str, r["image_shape"])) for r in rows],
            "Images": [r["num_images"] for r in rows],
            "Size": [builtin.BUILTINS.get(r["name"], {}).get("approx_size", "") for r in rows],
            "Status": [STATUS[r["status"]] for r in rows],
            "About": [plain(r["description"]) for r in rows],
        }
    )
    st.dataframe(table, hide_index=True)
    titles = {r["name"]: plain(r["title"]) for r in rows}
    names = list(titles)
    index = names.index(current_dataset()) if current_dataset() in names else 0
    choice = st.selectbox("Dataset", names, index=index, format_func=titles.get, key="_data_pick")
    return choice, st.button("Use this dataset", type="primary", key="_data_use")


def _use_builtin(name: str, rows: list[dict]) -> None:
    row = next(r for r in rows if r["name"] == name)
    verb = "Downloading and preparing" if row["status"] == "download" else "Preparing"
    try:
        with st.spinner(f"{verb} {md(row['title'])}..."):
            builtin.load_dataset(name)
    except LayerLabError as error:  # DatasetUnavailable says why and what to do instead
        show_error(error)
        return
    set_dataset(name)
    st.rerun()  # so the sidebar shows the new dataset


def _settings_controls() -> tuple[PrepSettings, float, float]:
    one, two, three = st.columns(3)
    color = one.radio("Colour", ["color", "grayscale"], horizontal=True, key="_data_color")
    mode = one.selectbox("Resize mode", RESIZE_MODES, format_func=lambda m: f"{m}: "
                         f"{RESIZE_HELP.get(m, '')}", key="_data_resize")  # fmt: skip
    side = load_limits().max_image_side
    width = two.number_input("Width (pixels)", 4, side, 32, key="_data_width")
    height = two.number_input("Height (pixels)", 4, side, 32, key="_data_height")
    val = three.slider("Validation %", 5, 50, 20, key="_data_val")
    test = three.slider("Test %", 0, 40, 0, key="_data_test", help="0 = no test split (or use "
                        "the test/ folder of your ZIP)")  # fmt: skip
    try:
        return PrepSettings(color, int(width), int(height), mode), float(val), float(test)
    except LayerLabError as error:
        show_error(error)
        st.stop()


def _zip_sample(data: bytes) -> bytes | None:
    """The first image file inside a ZIP (for the before/after preview)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                path = PurePosixPath(info.filename)
                hidden = any(p.startswith((".", "__MACOSX")) for p in path.parts)
                image = path.suffix.lower() in importer.IMAGE_EXTENSIONS
                if image and not hidden and info.file_size <= SAMPLE_MAX_BYTES:
                    return archive.read(info)
    except (zipfile.BadZipFile, OSError, ValueError):
        return None  # the import itself reports a broken ZIP clearly
    return None


def _preview(sample: bytes | None, settings: PrepSettings) -> None:
    if sample is None:
        return
    try:
        before = preview_image(sample, 440)  # never the full-size decode on the page
        after = prepare_image(sample, settings)
    except LayerLabError as error:
        st.caption(f"Preview unavailable: {md(error)}")
        return
    left, right = st.columns(2)
    left.image(before, caption=f"Before: {before.width}x{before.height} {before.mode}", width=220)
    right.image(enlarge(after, 220), caption=f"After: {settings.width}x{settings.height} "
                f"{settings.color_mode}, as the network sees it")  # fmt: skip


def _import(source: str, payload, name: str, settings, val: float, test: float) -> None:
    bar = st.progress(0.0, text="Starting the import...")

    def progress(done: int, total: int, message: str) -> None:
        bar.progress(min(1.0, done / max(total, 1)), text=md(message))  # quotes file names

    # the id owns it, a label shows; a name that runs trained on is never imported again
    who = dict(owner=attendee(), owner_label=attendee_label(), in_use=usage.runs_using)
    options = dict(val_percent=val, test_percent=test, progress=progress, **who)
    try:
        if source == SOURCES[0]:
            importer.import_zip(payload, name, settings, **options)
        elif source == SOURCES[1]:
            importer.import_files(payload, name, settings, **options)
        else:
            npz_import.import_npz(payload, name, settings=settings, val_percent=val, **who)
    except LayerLabError as error:
        bar.empty()
        show_error(error)
        return
    finally:  # a new uploader key: Streamlit drops the uploaded bytes from the server's memory
        st.session_state["_data_round"] = st.session_state.get("_data_round", 0) + 1
    set_dataset(name)
    st.rerun()  # so the sidebar shows the new dataset


IMAGE_TYPES = sorted(ext.lstrip(".") for ext in importer.IMAGE_EXTENSIONS)
MB = 1024 * 1024


def _upload_controls(source: str) -> tuple[object, str, bytes | None]:
    """The uploaded content (bytes, or (relative path, bytes) pairs), a default name, a sample."""
    limits = load_limits()
    key = f"_data_upload_{st.session_state.get('_data_round', 0)}"
    said = (
        f"At most {limits.max_upload_mb:,} MB per file, {limits.max_files_per_import:,} files "
        f"and {limits.max_unpacked_mb:,} MB in all, {limits.max_classes_per_import:,} classes."
    )
    if source == SOURCES[1]:
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
        sample = uploads[0].getvalue() if uploads[0].size <= SAMPLE_MAX_BYTES else None
        return files, PurePosixPath(files[0][0]).parts[0], sample
    if source == SOURCES[0]:
        upload = st.file_uploader("ZIP with one folder of images per class", type="zip", key=key,
                                  help=said, max_upload_size=limits.max_upload_mb)  # fmt: skip
    else:
        label = "A .npz with x_train, y_train (and x_test, y_test)"
        upload = st.file_uploader(label, type="npz", key=key, help=said,
                                  max_upload_size=limits.max_upload_mb)  # fmt: skip
    if upload is None:
        return None, "", None
    data = upload.getvalue()
    sample = _zip_sample(data) if source == SOURCES[0] else None
    return data, upload.name.rsplit(".", 1)[0], sample


def _own_data() -> None:
    source = st.radio("What do you have?", SOURCES, horizontal=True, key="_data_source")
    payload, default, sample = _upload_controls(source)
    st.caption(
        "Class folders: `cats/1.jpg, cats/2.jpg, dogs/1.jpg...`, optionally inside `train/` and "
        "`val/` (and `test/`) folders. Unreadable files are skipped and listed in the report."
    )
    settings, val, test = _settings_controls()
    _preview(sample, settings)
    if source == SOURCES[2] and st.checkbox("Keep the arrays' size and colour", value=True):
        settings = None  # else every image is prepared with the settings above
    name = st.text_input("Dataset name", value=slugify(default) if default else "")
    if st.button("Import", type="primary", disabled=payload is None or not name, key="_data_go"):
        _import(source, payload, name, settings, val, test)


def _plain_cell(value):
    return plain(value) if isinstance(value, str) else value


def _report(name: str) -> None:
    try:  # the class names and skipped file names of another attendee's upload stay private
        check_access(name, attendee(), instructor=is_instructor())
    except LayerLabError as error:
        show_error(error)
        return
    manifest = read_manifest(name) or {}
    counts = pd.DataFrame(manifest.get("counts", {})).rename(index=plain)
    counts = counts[[s for s in ("train", "val", "test") if s in counts]]
    counts = counts.rename(columns={"val": "validation"})
    st.subheader(f"Current dataset: {md(manifest.get('title', name))}")
    shape = md(" x ".join(map(str, manifest.get("image_shape", []))))
    st.caption(f"{md(name)} · images of {shape} · {manifest.get('num_images', 0):,} images in all")
    if not counts.empty:
        counts.loc["total"] = counts.sum()
        st.dataframe(counts.rename_axis("class"))
    skipped = manifest.get("skipped") or []
    if skipped:
        st.warning(f"{len(skipped)} file(s) were skipped:")
        st.dataframe(pd.DataFrame(skipped).map(_plain_cell), hide_index=True)
    _delete_control(name)
    st.page_link("pages/explore.py", label="Next: explore it", icon=":material/image_search:")


def _delete_control(name: str) -> None:
    """A delete button, shown only to the attendee who imported the set (and the instructor)."""
    if not may_change_dataset(name, attendee(), is_instructor()):
        return
    with st.expander("Delete this dataset"):
        st.caption("Finished runs keep working; a queued or running job keeps it from deletion.")
        if st.button("Delete it for good", key="_data_delete"):
            try:
                usage.delete_dataset(name, attendee(), instructor=is_instructor())
            except LayerLabError as error:
                show_error(error)
                return
            set_dataset("")
            st.rerun()


st.title("Choose the data")
st.caption(
    "A classifier learns from **labelled examples**: images sorted into one folder per class. "
    "Every image is prepared the same way (colour, size) so the network always gets the same "
    "shape of input."
)
rows = builtin.list_datasets(owner=None if is_instructor() else attendee())
ready, own = st.tabs(["Built-in and saved sets", "Bring your own images"])
with ready:
    choice, use = _builtin_controls(rows)
    if use:
        _use_builtin(choice, rows)
with own:
    _own_data()
if current_dataset():
    _report(current_dataset())
