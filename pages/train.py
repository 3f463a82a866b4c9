"""Train: choose how the network learns, start a training job and watch it learn, live."""

import dataclasses

import streamlit as st

from dlcore import LayerLabError
from dlcore.limits import load_limits
from dlcore.results import summary
from dlcore.spec import FLIPS, OPTIMIZERS, AugmentSpec, TrainSpec
from dlcore.train import jobs
from dlcore.train.runs import ACTIVE
from pages import (
    clicks,
    common,
    grid,
    identity,
    recipe_views,
    schedule_views,
    state,
    sweep_views,
    train_views,
)

LEARNING_RATES = (0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1)
BATCH_SIZES = (8, 16, 32, 64, 128, 256, 512)
TRAIN_IMAGES = (200, 500, 1000, 2000, 5000, 10000, 20000, 0)  # 0 = all
WORDS = """
- **Epoch**: one pass over every training image. More epochs, more chances to learn (and to
  overfit).
- **Batch**: the images looked at together before the weights change once (the batch size).
- **Iteration** (a step): one batch processed and one change of the weights. An epoch has
  training images ÷ batch size iterations.
- **Loss**: how wrong the network's guesses are (cross-entropy: small when it gives the right
  class a high probability). Training pushes it down.
- **Accuracy**: the share of images whose most probable class is the right one.
- **Learning rate**: the size of each change of the weights. Too small learns slowly; too large
  jumps around or diverges.
- **Overfitting**: the network learns its training images by heart. You see it when the
  validation loss starts rising while the training loss keeps falling; stop earlier (early
  stopping), add dropout, augmentation or more data.
- **Data augmentation**: random flips, turns, shifts, zooms, contrast and noise applied to the
  training images each epoch, so the network sees more variety; never applied to validation,
  test or your own images.
"""


def _init(key: str, value):
    """The key of a training control, its starting value taken from the experiment."""
    return state.widget("training", key, value)


def _with(options: tuple, value) -> list:
    return sorted({*options, value}, key=lambda v: v or float("inf"))


def _training_controls(training: TrainSpec, max_train_images: int) -> tuple[TrainSpec, int]:
    max_epochs = load_limits().max_epochs
    left, right = st.columns(2)
    optimizer = left.selectbox(
        "Optimizer",
        OPTIMIZERS,
        key=_init("train_optimizer", training.optimizer),
        help="The rule that turns the loss into weight changes. Adam is a safe first choice.",
    )
    rate = left.select_slider(
        "Learning rate",
        _with(LEARNING_RATES, training.learning_rate),
        key=_init("train_rate", training.learning_rate),
        format_func=lambda r: f"{r:g}",
        help="Size of each weight change. 0.001 suits Adam and RMSprop; SGD likes 0.01-0.1.",
    )
    images = left.select_slider(
        "Training images to use",
        _with(TRAIN_IMAGES, max_train_images),
        key=_init("train_images", max_train_images),
        format_func=lambda n: f"{n:,}" if n else "all",
        help="Fewer images train faster, for a quick first try.",
    )
    batch = right.select_slider(
        "Batch size",
        _with(BATCH_SIZES, training.batch_size),
        key=_init("train_batch", training.batch_size),
        help="Images per iteration. Larger batches are faster per epoch but update less often.",
    )
    epochs = right.slider(
        "Epochs", 1, max(max_epochs, training.epochs), key=_init("train_epochs", training.epochs)
    )
    patience = right.number_input(
        "Early stopping: stop after this many epochs without a better validation accuracy "
        "(0 = off)",
        0,
        100,
        key=_init("train_patience", training.early_stopping_patience),
        help="The saved network keeps the weights of the epoch with the highest validation "
        "accuracy, with early stopping or without.",
    )
    spec = dataclasses.replace(  # keeps the schedule, set by its own controls
        training,
        epochs=epochs,
        batch_size=batch,
        optimizer=optimizer,
        learning_rate=rate,
        early_stopping_patience=int(patience),
    )
    return spec, images


def _augment_controls(augment: AugmentSpec) -> AugmentSpec:
    if not st.toggle(
        "Augment the training images", key=state.widget("augment", "aug_on", augment.enabled)
    ):
        return AugmentSpec()
    columns = st.columns(3)
    flip = columns[0].selectbox(
        "Flip", FLIPS, key=state.widget("augment", "aug_flip", augment.flip)
    )
    factors = {}
    for index, (name, label) in enumerate(
        [
            ("rotation", "Rotate (fraction of a turn)"),
            ("shift", "Shift (fraction of the size)"),
            ("zoom", "Zoom (fraction)"),
            ("contrast", "Contrast change"),
            ("noise", "Noise (pixel std. dev., 0-1 scale)"),
        ],
        start=1,
    ):
        key = state.widget("augment", f"aug_{name}", float(getattr(augment, name)))
        factors[name] = columns[index % 3].slider(label, 0.0, 0.5, step=0.01, key=key)
    return AugmentSpec(flip=flip, **factors)


def _augment_preview(dataset_name: str, augment: AugmentSpec) -> None:
    if not augment.enabled:
        st.caption(
            "Switch on augmentation and choose a flip or a change above to preview "
            "what the network would see."
        )
        return
    if st.button("Preview augmented images"):
        from dlcore.model.augment import augment_preview

        try:
            with st.spinner("Applying the augmentation layers..."):
                images = common.dataset_for(dataset_name).x_train[:4]
                preview = augment_preview(images, augment, copies=4)
        except LayerLabError as error:
            common.stop_on_error(error)
        st.session_state["aug_preview"] = (augment, preview)
    shown = st.session_state.get("aug_preview")
    if shown and shown[0] == augment:
        st.caption("Each row: four random versions of one training image, as the network sees it.")
        grid.image_grid(list(shown[1]), columns=4)


def _watch(run_id: str, was_active: bool, was_phase: str | None) -> None:
    """The live view of a run; polled every second and a half while the run is active."""
    try:
        status, metrics = jobs.status(run_id), jobs.read_metrics(run_id)
    except LayerLabError as error:
        common.show_error(error)
        return
    if was_active and status.get("phase") != was_phase:
        st.rerun()  # redraw the page (and the sidebar's run line); polls only while active
    kept, note = train_views.kept_weights(status, summary.epoch_history(metrics))
    train_views.status_box(status, note)
    mine = identity.may_change_run(status)  # only its owner (or the instructor) sees Cancel
    active = status.get("status") in ACTIVE
    if mine and active and clicks.button("Cancel training", "train_cancel", icon=":material/stop:"):
        actor = None if identity.is_instructor() else identity.attendee()
        try:
            jobs.cancel(run_id, actor=actor)
        except LayerLabError as error:
            common.show_error(error)
    train_views.progress(status, metrics)
    train_views.curves_view(metrics, kept)


st.title("Train")
jobs.warm_up()  # the scheduler gets Keras imported while the attendee chooses settings
state.reattach_run()  # after a reload only the URL knows the run
dataset = common.require_dataset()
experiment = state.current_experiment()
st.caption(
    f"Dataset **{common.md(dataset)}**, network **{experiment.model.preset}** "
    f"({summary.architecture_summary(experiment.model)}). Change them on the earlier pages."
)
with st.expander("Epoch, batch, loss... what do these words mean?"):
    st.markdown(WORDS)

st.subheader("How the network learns")
recipe_slot = st.container()  # the recipe choice, drawn once the settings below are known
training, max_images = _training_controls(experiment.training, experiment.data.max_train_images)
with schedule_views.schedule_expander(training):
    training = schedule_views.schedule_controls(training)
    try:
        num_images = len(common.dataset_for(dataset).y_train)
    except LayerLabError as error:
        common.stop_on_error(error)
    schedule_views.schedule_preview(training, min(max_images or num_images, num_images))
recipe_views.recipe_choice(recipe_slot, experiment.model.preset, training, experiment.data.dataset)
with st.expander("Data augmentation", expanded=experiment.augment.enabled):
    augment = _augment_controls(experiment.augment)
    _augment_preview(dataset, augment)
data = dataclasses.replace(experiment.data, max_train_images=max_images)
experiment = dataclasses.replace(experiment, data=data, training=training, augment=augment)
state.set_experiment(experiment)

if not identity.attendee_label():
    st.caption("Type your name on the Start page first: it labels the runs you train.")
if clicks.button(  # a click right after a slider moved by keyboard is not lost
    "Start training",
    key="train_start",
    type="primary",
    icon=":material/play_arrow:",
    disabled=not identity.attendee_label(),
):
    try:
        label, instructor = identity.attendee_label(), identity.is_instructor()
        state.set_run(jobs.submit(experiment, instructor=instructor, owner_label=label))
    except LayerLabError as error:
        common.show_error(error)
    else:
        st.rerun()  # the sidebar, drawn before this page, shows the new run too
sweep_views.sweep_expander(experiment)  # or one run per combination of settings

run_id = state.current_run()
if run_id:
    st.subheader(f"Run {common.md(run_id)}")
    try:
        phase = jobs.status(run_id).get("phase")
    except LayerLabError as error:
        state.set_run(None)
        common.stop_on_error(error)
    active = phase in ("queued", "starting", "training")
    st.fragment(_watch, run_every=1.5 if active else None)(run_id, active, phase)
