"""Transfer learning on the Model page: start from an earlier run's layers (DIGITS's "previous
networks"), freeze them for the first epochs, and the note on an ImageNet backbone's weights."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import streamlit as st

from dlcore import LayerLabError
from dlcore.model.backbones import BACKBONE_INFO, missing_weights_message, weights_available
from dlcore.results.summary import run_label, usable_runs
from dlcore.spec import Experiment, ModelSpec
from dlcore.train.jobs import list_runs
from dlcore.train.runs import read_spec
from dlcore.train.transfer import plan_reuse, source_channels
from pages.common import md, show_error
from pages.identity import visible_runs
from pages.state import current_experiment, set_experiment

KEY = "_transfer_from_run"
FREEZE_KEY = "_transfer_freeze"  # both keys show the experiment: set from it on every run
NONE = ""  # the selectbox's "random weights" choice


def starting_points(channels: int) -> dict[str, str]:
    """Run id -> label of the finished runs this attendee may see whose saved layers can read
    images with ``channels`` channels (a backbone reads any)."""
    found = {}
    for status in usable_runs(visible_runs(list_runs())):
        run_id = status["run_id"]
        try:
            model = read_spec(run_id).model
            fits = bool(model.backbone) or (
                bool(model.conv_blocks) and source_channels(run_id) == channels
            )
        except LayerLabError:  # damaged, or never loaded its images: not a starting point
            continue
        if fits:
            found[run_id] = run_label(status)
    return found


def transfer_controls(
    experiment: Experiment, channels: int, fill_controls: Callable[[ModelSpec], None]
) -> Experiment:
    """The "Start from an earlier run" and "Freeze reused layers for N epochs" controls; the
    experiment comes back with ``from_run`` and ``freeze_epochs`` as chosen. Choosing a run
    copies its network into the controls (``fill_controls``), so every conv layer fits."""
    training = experiment.training
    options = starting_points(channels)
    if training.from_run and training.from_run not in options:
        options[training.from_run] = f"{training.from_run} (not available)"
    # The controls show the experiment (it may come from elsewhere: another page, a reload);
    # their callbacks write it back before the page runs again.
    st.session_state[KEY] = training.from_run
    st.session_state[FREEZE_KEY] = min(training.freeze_epochs, 1000)

    def picked() -> None:
        run_id = st.session_state[KEY]
        _set_training(from_run=run_id)
        if run_id:
            try:
                fill_controls(read_spec(run_id).model)
            except LayerLabError:  # deleted meanwhile: the check below says so
                pass

    with st.expander("Transfer learning: start from an earlier run", expanded=bool(options)):
        st.caption(
            "The new network takes over the convolution layers (or the backbone) of a run "
            "you trained before; its dense layers start new, for this dataset's classes. "
            "DIGITS calls this a pretrained or previous network."
        )
        run_id = st.selectbox(
            "Start from an earlier run",
            [NONE, *options],
            key=KEY,
            format_func=lambda value: options.get(value, "No: random starting weights"),
            on_change=picked,
        )
        reused = bool(run_id) or bool(experiment.model.backbone)
        frozen = st.number_input(
            "Freeze reused layers for N epochs",
            0,
            1000,
            key=FREEZE_KEY,
            on_change=lambda: _set_training(freeze_epochs=int(st.session_state[FREEZE_KEY])),
            disabled=not reused,
            help="Frozen layers keep their weights while the new head learns; afterwards every "
            "layer trains. 0: all layers learn from the start.",
        )
    changed = dataclasses.replace(training, from_run=run_id, freeze_epochs=int(frozen))
    return dataclasses.replace(experiment, training=changed)


def _set_training(**changes) -> None:
    experiment = current_experiment()
    training = dataclasses.replace(experiment.training, **changes)
    set_experiment(dataclasses.replace(experiment, training=training))


def reuse_summary(experiment: Experiment, channels: int) -> None:
    """Which layers the run takes over, or why they do not fit (said before training)."""
    run_id = experiment.training.from_run
    if not run_id:
        return
    try:
        names = plan_reuse(
            read_spec(run_id).model, source_channels(run_id), experiment.model, channels, run_id
        )
    except LayerLabError as error:
        show_error(error)
        return
    frozen = experiment.training.freeze_epochs
    note = f", frozen for the first {frozen} epoch(s)" if frozen else ""
    st.caption(f"From run {md(run_id)}: {', '.join(names)}{note}; the dense layers start new.")


def backbone_note(name: str) -> None:
    """Where the backbone's ImageNet weights are, or what to do when they are not here."""
    info = BACKBONE_INFO[name]
    if weights_available(name):
        st.caption(
            f"**{info.title}** learned its features from 1.2 million ImageNet photos; its "
            "preprocessing is inside the model. Images are copied to 3 channels and enlarged "
            "to at least 32x32 as it needs."
        )
    else:
        st.warning(md(missing_weights_message(name)), icon=":material/cloud_off:")
