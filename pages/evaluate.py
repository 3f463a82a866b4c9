"""Evaluate: how good is a trained network, and where does it go wrong?"""

import streamlit as st

from dlcore import LayerLabError, charts, evaluate, jobs, summary
from dlcore.builtin import PrivateDataset
from pages import common

CONFUSION = """
Each row is the **true** class of the images, each column the class the network **predicted**.
The diagonal counts the right answers; every other cell is a kind of mistake (row *3*, column
*8*: threes taken for eights). Click a cell to see its images.
"""
PRECISION = """
- **Precision** of a class: of the images the network called *cat*, the share that really are
  cats. Low precision: it says *cat* too easily.
- **Recall** of a class: of the real cats, the share it found. Low recall: it misses cats.
- **F1**: one number balancing both (their harmonic mean). **Support**: images of that class.
"""


def _split_images(dataset_name: str, split: str):
    """The split's images, or None (with a note) when the dataset is private to another
    attendee or no longer available."""
    try:
        return common.dataset_for(dataset_name).split(split)[0]
    except PrivateDataset as error:
        st.info(f"The images belong to {error.owner}'s own dataset and stay private.")
        return None
    except LayerLabError as error:
        st.caption(f"The images cannot be shown: {error}")
        return None


def _gallery(frame, images, limit: int) -> None:
    rows = frame.head(limit)
    if images is None or rows.empty:
        return
    captions = [
        f"true {r.true} · predicted {r.predicted} ({r.confidence:.0%})" for r in rows.itertuples()
    ]
    common.image_grid([images[i] for i in rows["index"]], captions, columns=6)


def _selected_cell(event) -> tuple[str, str] | None:
    points = (event or {}).get("selection", {}).get("cell") or []
    if points and "true" in points[0] and "predicted" in points[0]:
        return str(points[0]["true"]), str(points[0]["predicted"])
    return None


st.title("5 · Evaluate")
run = common.choose_finished_run("Run", "evaluate_run")
run_id = run["run_id"]
try:
    with st.spinner("Evaluating the saved model on the validation and test images..."):
        evaluation = evaluate.evaluate_run(run_id)
except LayerLabError as error:
    common.stop_on_error(error)
if run["status"] != "completed":
    st.caption(f"This run was {run['status']}; its last saved checkpoint is evaluated.")

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
images = _split_images(run["dataset"], split)

st.subheader("Confusion matrix")
with st.expander("How to read it"):
    st.markdown(CONFUSION)
heatmap = charts.confusion_heatmap(
    evaluate.confusion_frame(evaluation, split), class_order=evaluation["classes"]
).properties(autosize="pad")  # cells keep their size; "fit" would squeeze them with the axes
event = st.altair_chart(
    heatmap, width="content", on_select="rerun", key=f"confusion_{run_id}_{split}"
)
cell = _selected_cell(event)
if cell:
    examples = evaluate.cell_examples(run_id, cell[0], cell[1], split)
    st.markdown(f"**{len(examples)} image(s) of {cell[0]} predicted as {cell[1]}**, surest first")
    _gallery(examples, images, 24)

st.subheader("Misclassified images")
st.caption(
    "The network's mistakes, the ones it was most sure about first: often a label is wrong, "
    "or the image is truly ambiguous."
)
wrong = evaluate.misclassified(run_id, split)
if wrong.empty:
    st.success("No mistakes on these images.")
else:
    most = min(60, len(wrong))
    how_many = st.slider("How many", 1, most, min(12, most)) if most > 1 else 1
    _gallery(wrong, images, how_many)

st.subheader("Per class")
with st.expander("Precision, recall, F1"):
    st.markdown(PRECISION)
score = st.column_config.NumberColumn(format="%.3f")
st.dataframe(
    evaluate.report_frame(evaluation, split),
    column_config={"precision": score, "recall": score, "f1-score": score},
)

st.subheader("Training curves")
history = summary.epoch_history(jobs.read_metrics(run_id))
if len(history):
    st.altair_chart(charts.training_curves(history))
