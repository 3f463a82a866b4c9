"""The recipe choice on the Train page: "fast (default)" or "as in the lesson" fills the training
settings with the preset's recipe (dlcore.recipes); the choice shows which recipe the settings
below are, or none once they are changed.

Not a page itself (app.py lists the pages). The page calls ``recipe_choice`` after its training
controls, into a container placed above them, so the choice always matches what they show.
"""

from __future__ import annotations

import dataclasses

import streamlit as st

from dlcore.data.catalogue import train_size
from dlcore.recipes import (
    RECIPE_LABELS,
    RECIPE_NOTES,
    RECIPES,
    describe_training,
    matching_recipe,
    preset_training,
)
from dlcore.spec import TrainSpec
from pages import state

KEY = "train_recipe"


def _recipe_chosen(preset: str) -> None:
    recipe = st.session_state.get(KEY)
    if recipe not in RECIPES:
        return
    experiment = state.current_experiment()
    settings = preset_training(preset, recipe, train_size(experiment.data.dataset))
    training = dataclasses.replace(experiment.training, **settings)
    # the training controls below start again from the recipe's settings
    state.set_experiment(dataclasses.replace(experiment, training=training), changed=("training",))


def recipe_choice(place, preset: str, training: TrainSpec, dataset: str) -> None:
    """The recipe radio in ``place`` (a container), showing the recipe ``training`` (the
    settings chosen below it) follows; choosing one fills those settings. The fast recipe is
    sized to ``dataset``'s training images."""
    num_train = train_size(dataset)
    st.session_state[KEY] = matching_recipe(preset, training, num_train) or None
    with place:
        st.radio(
            "Recipe",
            RECIPES,
            key=KEY,
            format_func=RECIPE_LABELS.get,
            horizontal=True,
            on_change=_recipe_chosen,
            args=(preset,),
            help="Fast reaches the lesson's figure in the least time (a larger batch, a warm-up "
            "then a cosine decay of the rate, fewer epochs); 'as in the lesson' trains as the "
            "lesson's material does.",
        )
        fast, lesson = (TrainSpec(**preset_training(preset, r, num_train)) for r in RECIPES)
        lines = [f"Fast: {describe_training(fast)}."]
        if lesson != fast:
            lines.append(f"As in the lesson: {describe_training(lesson)}.")
        if preset in RECIPE_NOTES:
            lines.append(RECIPE_NOTES[preset])
        if not st.session_state[KEY]:
            lines.append("Your settings below differ from both recipes.")
        st.caption(" ".join(lines))
