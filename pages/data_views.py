"""Parts of the Data page: the table of sets, the preparation settings (kept while the session
lasts), the current dataset's summary, a folder on this server, and the question before an
import replaces a dataset. Not a page itself."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path, PurePosixPath

import pandas as pd
import streamlit as st

from dlcore import LayerLabError
from dlcore.data import server_folders
from dlcore.data.builtin import BUILTINS
from dlcore.data.dataset import read_manifest
from dlcore.data.folders import IMAGE_EXTENSIONS
from dlcore.data.images import RESIZE_MODES, PrepSettings, prepare_image, preview_image
from dlcore.data.ownership import check_access, check_target, may_change_dataset
from dlcore.data.unpack import is_ignored_path
from dlcore.limits import load_limits
from dlcore.text import plain
from dlcore.train import usage
from pages.common import md, set_dataset, show_error
from pages.grid import enlarge
from pages.identity import attendee, is_instructor

STATUS = {"ready": "ready", "offline": "works offline", "download": "needs download"}
COLOUR_MODES = {"color": "colour", "grayscale": "grayscale"}  # stored value: what people read
RESIZE_HELP = {
    "squash": "stretch to the size (keeps everything, may distort)",
    "crop": "fill the size and cut off what sticks out (keeps proportions)",
    "fill": "fit inside the size and fill the borders with noise",
    "half_crop": "half way between squash and crop",
}
SAMPLE_MAX_BYTES = 20 * 1024 * 1024
KEPT = "data_page_choices"  # the settings' widget values, kept while the session lasts
FLASH = "data_page_flash"  # the confirmation of the last import, shown once
IMPORTING = "data_page_importing"  # set by an Import button: the page hides the old dataset
SERVER_KEYS = ("_data_server_pick", "_data_server_typed", "_data_server_val")
RESET = "data_page_reset"  # after an import, the server folder's choice starts empty again
SPLIT_NAMES = {"train": "training", "val": "validation", "test": "test"}


def kept(key: str, default: object) -> str:
    """``key`` for a widget whose value outlives a visit to another page: Streamlit drops the
    state of widgets that are not drawn, so the value is seeded from a copy (``keep``)."""
    if key not in st.session_state:
        st.session_state[key] = st.session_state.get(KEPT, {}).get(key, default)
    return key


def keep(*keys: str) -> None:
    """Copy the widgets' current values where ``kept`` finds them next time."""
    store = st.session_state.setdefault(KEPT, {})
    for key in keys:
        if key in st.session_state:
            store[key] = st.session_state[key]


def builtin_table(rows: list[dict]) -> None:
    """Every set this person may use, with its full description (a table wraps long text)."""
    sizes = [BUILTINS.get(r["name"], {}).get("approx_size", "") for r in rows]
    table = pd.DataFrame(
        {
            "Classes": [r["num_classes"] for r in rows],
            "Image shape": [" x ".join(map(str, r["image_shape"])) for r in rows],
            "Images": [f"{r['num_images']:,}" if r["num_images"] else "" for r in rows],
            "Size": sizes,
            "Status": [STATUS[r["status"]] for r in rows],
            "About": [plain(r["description"]) for r in rows],
        },
        index=pd.Index([plain(r["title"]) for r in rows], name="Dataset"),
    )
    st.table(table)


def settings_controls() -> tuple[PrepSettings, float, float]:
    """Colour, size, resize mode and split percentages; the page keeps them all session long."""
    side = load_limits().max_image_side
    one, two, three = st.columns(3)
    one.radio(
        "Colour", list(COLOUR_MODES), format_func=COLOUR_MODES.get, horizontal=True,
        key=kept("_data_color", "color"),
    )  # fmt: skip
    mode = one.selectbox("Resize mode", RESIZE_MODES, key=kept("_data_resize", "squash"))
    one.caption(RESIZE_HELP.get(mode, ""))
    for what in ("width", "height"):  # a kept value over a lowered maximum is brought within it
        key = f"_data_{what}"
        value = st.session_state.get(KEPT, {}).get(key, 32)
        st.session_state.setdefault(key, min(max(int(value), 4), side))
        two.number_input(f"{what.title()} (pixels)", 4, side, key=key)
    three.slider("Validation %", 5, 50, key=kept("_data_val", 20))
    three.slider("Test %", 0, 40, key=kept("_data_test", 0), help="0 = no test split (or use "
                 "the test/ folder of your images)")  # fmt: skip
    keep("_data_color", "_data_resize", "_data_width", "_data_height", "_data_val", "_data_test")
    state = st.session_state
    try:
        settings = PrepSettings(
            state["_data_color"], int(state["_data_width"]), int(state["_data_height"]), mode
        )
    except LayerLabError as error:
        show_error(error)
        st.stop()
    return settings, float(state["_data_val"]), float(state["_data_test"])


def zip_sample(data: bytes) -> bytes | None:
    """The first image file inside a ZIP (for the before/after preview)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                path = PurePosixPath(info.filename)
                wanted = (
                    path.suffix.lower() in IMAGE_EXTENSIONS and info.file_size <= SAMPLE_MAX_BYTES
                )
                if wanted and not is_ignored_path(info.filename):
                    return archive.read(info)
    except (zipfile.BadZipFile, OSError, ValueError):
        return None  # the import itself reports a broken ZIP clearly
    return None


def preview(sample: bytes | None, settings: PrepSettings) -> None:
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
                f"{COLOUR_MODES[settings.color_mode]}, as the network sees it")  # fmt: skip


def server_folder_controls() -> tuple[dict | None, str, bytes | None]:
    """A folder on this server, inside the roots the instructor opened (``data_roots``): the
    training folder (picked or typed), an optional validation folder, a sample image."""
    if st.session_state.pop(RESET, False):  # just imported from here: an empty form again
        for key in SERVER_KEYS:
            st.session_state.pop(key, None)
            st.session_state.get(KEPT, {}).pop(key, None)
    roots = load_limits().data_roots
    if not roots:
        st.info(server_folders.NO_ROOTS)
        return None, "", None
    root = roots[0] if len(roots) == 1 else st.selectbox("Data folder", roots, key="_data_root")
    try:
        folders = _folders_in(root)
    except LayerLabError as error:
        show_error(error)
        return None, "", None
    left, right = st.columns(2)
    picked = left.selectbox(
        f"Training images, in {root}",
        folders,
        index=None,
        key=kept("_data_server_pick", None),
        placeholder="Choose a folder of class folders",
    )
    typed = left.text_input(
        "... or type its path",
        key=kept("_data_server_typed", ""),
        placeholder=f"{root.rstrip('/')}/mnist/train",
    )
    val = right.selectbox(
        "Validation images (optional)",
        folders,
        index=None,
        key=kept("_data_server_val", None),
        placeholder="None: take the validation % from the training images",
    )
    keep(*SERVER_KEYS)
    chosen = typed.strip() or picked
    if not chosen:
        st.caption(f"{len(folders):,} folder(s) in {md(root)}; choose the one that holds a "
                   "folder of images per class.")  # fmt: skip
        return None, "", None
    try:
        folder = server_folders.resolve_folder(chosen, root)
        classes, sample = server_folders.peek(folder)
    except LayerLabError as error:
        show_error(error)
        return None, "", None
    shown = ", ".join(md(name) for name in classes[:12]) + (" ..." if len(classes) > 12 else "")
    right.caption(f"{md(folder.shown)} holds {len(classes):,} folder(s): {shown}")
    payload = {"path": chosen, "root": root, "val_path": val}
    name = "-".join(Path(folder.path).parts[-2:]) if len(Path(chosen).parts) > 1 else chosen
    data = sample.read_bytes() if sample and sample.stat().st_size <= SAMPLE_MAX_BYTES else None
    return payload, name, data


@st.cache_data(ttl=30, max_entries=16, show_spinner=False)
def _folders_in(root: str) -> list[str]:
    return server_folders.list_folders(root)


def target_controls(name: str) -> tuple[bool, bool]:
    """Before the click: may ``name`` be imported, and does the person agree to replace their
    dataset of that name (a name that runs trained on, or someone else's, is refused)."""
    if not name:
        return False, False
    try:
        existing = check_target(name, attendee(), usage.runs_using, replace=True)
    except LayerLabError as error:
        show_error(error)
        return False, False
    if existing is None:
        return True, False
    st.warning(
        f"You already have a dataset named **{md(name)}** "
        f"({existing.get('num_images', 0):,} images). Importing replaces it; choose another "
        "name to keep both."
    )
    replace = st.checkbox("Replace it", key=f"_data_replace_{name}")
    return replace, replace


def start_import() -> None:
    """An Import button's callback, before the page runs: the old dataset is not shown while
    the new one is prepared."""
    st.session_state[IMPORTING] = True


def finish_import(name: str) -> None:
    """Make ``name`` the current dataset and say on the next run what the import did."""
    manifest = read_manifest(name) or {}
    skipped = len(manifest.get("skipped") or [])
    more = f", {skipped:,} file(s) skipped" if skipped else ", none skipped"
    listed = " and the files it skipped" if skipped else ""
    st.session_state[FLASH] = (
        f"Imported {manifest.get('num_images', 0):,} images{more}. It is now the current "
        f"dataset: the top of the page shows its summary{listed}."
    )
    st.session_state[RESET] = True
    set_dataset(name)


def show_imported() -> None:
    """Under the Import button, where the eye is: what the last import did, once."""
    flash = st.session_state.pop(FLASH, None)
    if flash:
        st.success(flash, icon=":material/check_circle:")  # numbers only, no names


def report(name: str) -> None:
    """The current dataset first: its totals per split above the fold, then (folded) the
    images per class, the skipped files, and delete."""
    try:  # the class names and skipped file names of another attendee's upload stay private
        check_access(name, attendee(), instructor=is_instructor())
    except LayerLabError as error:
        show_error(error)
        return
    manifest = read_manifest(name) or {}
    counts = pd.DataFrame(manifest.get("counts", {})).rename(index=plain)
    counts = counts[[s for s in SPLIT_NAMES if s in counts]]
    st.subheader(f"Current dataset: {md(manifest.get('title', name))}")
    shape = md(" x ".join(map(str, manifest.get("image_shape", []))))
    splits = " · ".join(f"{int(counts[s].sum()):,} {SPLIT_NAMES[s]}" for s in counts)
    st.caption(f"{md(name)} · images of {shape} · **{manifest.get('num_images', 0):,} images**"
               f"{': ' + splits if splits else ''}")  # fmt: skip
    st.page_link("pages/explore.py", label="Next: explore it", icon=":material/image_search:")
    if not counts.empty:
        counts.loc["total"] = counts.sum()
        counts = counts.rename(columns={"val": "validation"}).rename_axis("class")
        with st.expander(f"Images per class ({len(counts) - 1} classes)"):
            st.dataframe(counts, height=min(35 * (len(counts) + 1) + 3, 600))
    skipped = manifest.get("skipped") or []
    if skipped:
        with st.expander(f"{len(skipped):,} file(s) were skipped", icon=":material/warning:"):
            st.dataframe(pd.DataFrame(skipped).map(_plain_cell), hide_index=True)
    _delete_control(name)


def _plain_cell(value):
    return plain(value) if isinstance(value, str) else value


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
