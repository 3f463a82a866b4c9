"""Evaluate: how good is a trained network, and where does it go wrong?"""

import streamlit as st

from dlcore import LayerLabError, charts
from dlcore.data.ownership import PrivateDataset
from dlcore.results import charts as result_charts
from dlcore.results import evaluate, summary
from dlcore.train import jobs
from pages import common, grid, guards, train_views
from pages import explain_views as views

CONFUSION = """
Each row is the **true** class of the images, each column the class the network **predicted**.
The diagonal counts the right answers; every other cell is a kind of mistake (row *3*, column
*8*: threes taken for eights). Click a cell to see its images.
"""
PRECISION = """
- **Precision** of a class: of the images the network called *cat*, the share that really are
  cats. Low precision: it says *cat* too easily.
- **Recall** of a class: of the real cats, the share it found. Low recall: it misses cats.
- **F1**: one number balancing both (their harmonic mean). **Images**: how many images of that
  class were evaluated.
"""
HEATS = 12  # mistakes shown with a heat map (a gradient each)
PAIRS = 50  # rows of the most-confused table shown instead of a matrix of many classes
REPORT_COLUMNS = {
    "precision": "Precision",
    "recall": "Recall",
    "f1-score": "F1",
    "support": "Images",
}


def _percent(label: str):
    """A sortable column of shares shown as percents with one decimal ("96.1%"), like every
    other figure. Streamlit cuts the digits beyond ``step`` off rather than rounding them, so
    the values it shows are rounded to 3 decimals first (``.round(3)``)."""
    return st.column_config.NumberColumn(label, format="percent", step=0.001)


def _split_images(dataset_name: str, split: str):
    """The split's images, or None (with a note) when the dataset is private to another
    attendee or no longer available."""
    try:
        return common.dataset_for(dataset_name).split(split)[0]
    except PrivateDataset as error:
        st.info(
            f"The images belong to {common.md(error.owner_label)}'s own dataset and stay private."
        )
        return None
    except LayerLabError as error:
        st.caption(f"The images cannot be shown: {common.md(error)}")
        return None


def _from_predictions(read, *args):
    """A frame read from the run's predictions.npz, or None under an error box when the file
    is cut or damaged: the scores and tables from evaluation.json still show."""
    try:
        return read(*args)
    except LayerLabError as error:
        common.show_error(error)
        return None


def _gallery(frame, images, limit: int) -> None:
    rows = frame.head(limit)
    if images is None or rows.empty:
        return
    captions = [
        f"true {r.true} · predicted {r.predicted} ({r.confidence:.1%})" for r in rows.itertuples()
    ]
    grid.image_grid([images[i] for i in rows["index"]], captions, columns=6)
    if len(frame) > len(rows):
        st.caption(f"Showing {len(rows)} of {len(frame)}.")


def _heat_gallery(frame, images) -> None:
    """Each mistake's heat map: where the network looked when it decided wrongly."""
    st.caption(views.HEAT_NOTE.format(count=len(frame)))
    try:
        model = guards.cached_model(run_id)
    except LayerLabError as error:
        common.stop_on_error(error)
    captions = [f"true {r.true} · predicted {r.predicted}" for r in frame.itertuples()]
    views.heat_gallery(model, [images[i] for i in frame["index"]], captions)


def _cell_sentence(count: int, cell: tuple[str, str], split: str) -> str:
    """What a clicked cell holds, in words (an empty cell says so plainly)."""
    true, predicted = common.md(cell[0]), common.md(cell[1])
    where = "validation" if split == "val" else "test"
    if not count:
        return f"No {where} image of class **{true}** was predicted as **{predicted}**."
    images_word = "image" if count == 1 else "images"
    verb = "correctly predicted as" if cell[0] == cell[1] else "predicted as"
    return f"**{count:,} {images_word} of class {true} {verb} {predicted}**, surest first."


def _mistakes_table(wrong) -> None:
    """The mistakes without their images (another attendee's private dataset)."""
    st.caption("The mistakes the network was most sure about, without the images.")
    table = wrong.head(60)[["true", "predicted", "confidence"]].rename(
        columns={"true": "true class", "predicted": "predicted class"}
    )
    table["confidence"] = table["confidence"].round(3)
    st.dataframe(table, hide_index=True, column_config={"confidence": _percent("confidence")})


def _history(run_id: str):
    """The run's epochs (a frame), or the error that says why they cannot be read."""
    try:
        return summary.epoch_history(jobs.read_metrics(run_id))
    except LayerLabError as error:
        return error


def _selected_cell(event) -> tuple[str, str] | None:
    points = (event or {}).get("selection", {}).get("cell") or []
    if points and "true" in points[0] and "predicted" in points[0]:
        return str(points[0]["true"]), str(points[0]["predicted"])
    return None


def _confusion(evaluation: dict, split: str) -> tuple[str, str] | None:
    """The confusion matrix as a clickable chart; the (true, predicted) cell clicked, if any."""
    with st.expander("How to read it"):
        st.markdown(CONFUSION)
    heatmap = result_charts.confusion_heatmap(
        evaluate.confusion_frame(evaluation, split), class_order=evaluate.class_names(evaluation)
    ).properties(autosize="pad")  # cells keep their size; "fit" would squeeze them with the axes
    # (no chart title: the heading above names it)
    event = st.altair_chart(
        heatmap, width="content", on_select="rerun", key=f"confusion_{run_id}_{split}"
    )
    return _selected_cell(event)


def _confused_pairs(evaluation: dict, split: str) -> tuple[str, str] | None:
    """Too many classes for a matrix: the most frequent mistakes as a table; the (true,
    predicted) pair of the row clicked, if any."""
    st.caption(
        f"{len(evaluation['classes']):,} classes are too many to draw every cell: here are the "
        "mistakes the network makes most often. Click a row to see its images; the per-class "
        "table below has every class."
    )
    pairs = evaluate.confused_pairs(evaluation, split, limit=PAIRS)
    pairs["share"] = pairs["share"].round(3)
    event = st.dataframe(
        pairs,
        hide_index=True,
        column_config={"share": _percent("share of true")},
        on_select="rerun",
        selection_mode="single-row",
        key=f"confused_{run_id}_{split}",
    )
    rows = [i for i in event.selection.rows if i < len(pairs)]
    return (pairs["true"].iloc[rows[0]], pairs["predicted"].iloc[rows[0]]) if rows else None


st.title("Evaluate")
run = guards.choose_finished_run("Run", "evaluate_run")
run_id = run["run_id"]
try:
    with st.spinner("Evaluating the saved model on the validation and test images..."):
        evaluation = evaluate.evaluate_run(run_id)
except LayerLabError as error:
    common.stop_on_error(error)
if run["status"] != "completed":
    st.caption(f"This run was {common.md(run['status'])}; its last saved checkpoint is evaluated.")

splits = [s for s in ("val", "test") if s in evaluation]
split = st.radio(
    "Images",
    splits,
    horizontal=True,
    format_func=lambda s: {"val": "validation", "test": "test (never trained on)"}[s],
)
columns = st.columns(2 * len(splits))
for index, name in enumerate(splits):
    label = "Validation" if name == "val" else "Test"
    columns[2 * index].metric(f"{label} accuracy", f"{evaluation[name]['accuracy']:.1%}")
    columns[2 * index + 1].metric(f"{label} loss", f"{evaluation[name]['loss']:.3f}")
history = _history(run_id)
kept, note = (None, "")
if not isinstance(history, LayerLabError):
    kept, note = train_views.kept_weights(run, history)
if note:
    st.caption(f"These figures are of the saved network. {note}")
images = _split_images(run["dataset"], split)

many = len(evaluation["classes"]) > evaluate.MAX_MATRIX_CLASSES
st.subheader("Most confused classes" if many else "Confusion matrix")
cell = _confused_pairs(evaluation, split) if many else _confusion(evaluation, split)
if cell:
    examples = _from_predictions(evaluate.cell_examples, run_id, cell[0], cell[1], split)
    if examples is not None:
        st.markdown(_cell_sentence(len(examples), cell, split))
        _gallery(examples, images, 24)

st.subheader("Misclassified images")
wrong = _from_predictions(evaluate.misclassified, run_id, split)
if wrong is not None and wrong.empty:
    st.success("No mistakes on these images.")
elif wrong is not None and images is None:
    _mistakes_table(wrong)
elif wrong is not None:
    st.caption(
        "The network's mistakes, the ones it was most sure about first: often a label is wrong, "
        "or the image is truly ambiguous."
    )
    most = min(60, len(wrong))
    how_many = st.slider("How many", 1, most, min(12, most)) if most > 1 else 1
    _gallery(wrong, images, how_many)
    if st.toggle("Where did it look? (Grad-CAM)", key="evaluate_heat"):
        _heat_gallery(wrong.head(min(how_many, HEATS)), images)

st.subheader("Per class")
with st.expander("Precision, recall, F1"):
    st.markdown(PRECISION)
report = evaluate.report_frame(evaluation, split)
if many:
    st.caption("Worst recognised classes first (recall is the share of a class's images found).")
    report = report.sort_values("recall", kind="stable")
report = report.round({"precision": 3, "recall": 3, "f1-score": 3}).rename(columns=REPORT_COLUMNS)
report.index.name = "Class"
scores = {name: _percent(name) for name in ("Precision", "Recall", "F1")}
images_column = st.column_config.NumberColumn("Images", format="%d")
st.dataframe(report, column_config={**scores, "Images": images_column})

st.subheader("Training curves")
if isinstance(history, LayerLabError):
    common.stop_on_error(history)
if len(history):
    st.altair_chart(charts.training_curves(history, kept_epoch=kept))
    if kept:
        st.caption("The dashed line marks the epoch whose weights the saved network has.")
