"""Training recipes: for each lesson's network, the settings it trains with.

Every preset has two recipes. ``"lesson"`` is the lesson's own settings, so a teacher can run
the class as written (DIGITS's LeNet: Adam, batch 32, 5 epochs). ``"fast"``, the default, reaches
the lesson's figure in the least time on a 2-core CPU: fewer epochs, Adam at a higher rate that
warms up and then follows a cosine down to 0, and where it helps a larger batch (fewer
iterations, each a better estimate of the gradient).
``bench/mnist_accuracy.py`` measures both on the full MNIST.

Recipes are plain dicts of ``TrainSpec`` fields; ``preset_training`` gives a preset's in either
recipe, ``matching_recipe`` says which one a TrainSpec has, and ``preset_experiment`` puts a
lesson's network (``spec.preset_model``) and its settings together. A preset without a lesson of
its own (the ImageNet backbones) has one set of settings, in ``PRESET_TRAINING``, for both
recipes.
"""

from __future__ import annotations

import math
from typing import Any

from dlcore import LayerLabError
from dlcore.spec import (
    BACKBONES,
    PRESETS,
    DataSpec,
    Experiment,
    TrainSpec,
    check_choice,
    preset_model,
)

RECIPES = ("fast", "lesson")
RECIPE_LABELS = {"fast": "fast (default)", "lesson": "as in the lesson"}
DEFAULT_RECIPE = "fast"

_CONSTANT = {
    "lr_schedule": "constant",
    "warmup_epochs": 1.0,
    "decay_every_epochs": 1.0,
    "decay_factor": 0.5,
}


def _cosine(warmup_epochs: float) -> dict[str, Any]:
    return {**_CONSTANT, "lr_schedule": "cosine", "warmup_epochs": warmup_epochs}


def _recipe(optimizer: str, learning_rate: float, batch_size: int, epochs: int, **schedule):
    training = {"optimizer": optimizer, "learning_rate": learning_rate}
    return training | {"batch_size": batch_size, "epochs": epochs, **(schedule or _CONSTANT)}


# The lessons' settings come from their material (shared LESSONS.md). The fast ones of lenet and
# mlp were tuned with bench/mnist_accuracy.py on the full MNIST (LeNet: 2 epochs reach 0.991,
# 0.992 in 18-25 s computing in bfloat16 where the CPU has it; 1 epoch stops at 0.988-0.989
# whatever the batch); cnn3's and vgg-bn's follow the same pattern, not yet measured.
PRESET_RECIPES: dict[str, dict[str, dict[str, Any]]] = {
    "mlp": {  # Keras MNIST class: RMSprop, 4 epochs -> 93% test accuracy
        "lesson": _recipe("rmsprop", 0.001, 128, 4),
        "fast": _recipe("adam", 0.005, 128, 2, **_cosine(0.2)),
    },
    "lenet": {  # DIGITS workshop: 5 epochs -> about 99% validation accuracy
        "lesson": _recipe("adam", 0.001, 32, 5),
        "fast": _recipe("adam", 0.003, 128, 2, **_cosine(0.2)),
    },
    "cnn3": {  # cats vs dogs in Keras: RMSprop -> about 70% on ~1,000 images
        "lesson": _recipe("rmsprop", 0.001, 32, 10),
        "fast": _recipe("adam", 0.001, 32, 8, **_cosine(1.0)),
    },
    "vgg-bn": {  # CIFAR-10 notebook: Adam, 50 epochs
        "lesson": _recipe("adam", 0.001, 64, 50),
        "fast": _recipe("adam", 0.002, 128, 15, **_cosine(1.0)),
    },
    "custom": {  # no lesson: the lab's plain starting point, and the same with a schedule
        "lesson": _recipe("adam", 0.001, 64, 5),
        "fast": _recipe("adam", 0.002, 128, 5, **_cosine(0.5)),
    },
}

# A fast recipe needs enough iterations: on a small training set its few epochs are too few.
# LeNet on the 4,000 training images of the MNIST sample: 2 epochs at batch 128 (63 iterations)
# reach 94.8% validation accuracy; batch 64 for 7 epochs (441 iterations) reach 98.6% in the
# 10 s that the lesson's settings take for 98.0% (on the full MNIST nothing
# changes: batch 128, 2 epochs).
MIN_ITERATIONS = 400
MIN_BATCHES_PER_EPOCH = 50
SMALLEST_BATCH = 16
MAX_FITTED_EPOCHS = 50


def fit_to_dataset(settings: dict[str, Any], num_train: int) -> dict[str, Any]:
    """A fast recipe sized to a training set of ``num_train`` images (0: unknown, unchanged):
    the batch halves until an epoch has at least 50 iterations (down to 16), and the epochs
    grow until the run has at least 400 iterations (at most 50 epochs)."""
    if num_train <= 0:
        return dict(settings)
    batch = int(settings["batch_size"])
    while batch > SMALLEST_BATCH and num_train < batch * MIN_BATCHES_PER_EPOCH:
        batch //= 2
    needed = min(MAX_FITTED_EPOCHS, math.ceil(MIN_ITERATIONS * batch / num_train))
    return {**settings, "batch_size": batch, "epochs": max(int(settings["epochs"]), needed)}


RECIPE_NOTES = {
    "mlp": "The Keras MNIST class trains with RMSprop for 4 epochs and reaches about 93%.",
    "lenet": "DIGITS trains LeNet for 5 epochs (batch 32 here) to about 99% validation accuracy.",
    "cnn3": "The Keras cats-vs-dogs lesson trains with RMSprop; about 70% on ~1,000 photos.",
    "vgg-bn": "The CIFAR-10 notebook trains with Adam for 50 epochs.",
    "custom": "Your own network has no lesson: 'as in the lesson' is the lab's plain start.",
}


def check_recipe(recipe: str) -> None:
    """LayerLabError unless ``recipe`` is one of RECIPES."""
    if recipe not in RECIPES:
        raise LayerLabError(f"Recipe is {recipe!r}; choose one of {', '.join(RECIPES)}.")


def describe_training(training: object) -> str:
    """One line for people: "2 epochs, batch 128, adam 0.002, cosine with 0.3 warm-up epochs"."""
    kind = training.lr_schedule
    epochs = f"{training.epochs} epoch{'' if training.epochs == 1 else 's'}"
    text = f"{epochs}, batch {training.batch_size}, {training.optimizer} {training.learning_rate:g}"
    if kind == "cosine":
        return f"{text}, cosine with {training.warmup_epochs:g} warm-up epochs"
    if kind in ("step", "exponential"):
        return (
            f"{text}, {kind} decay x{training.decay_factor:g} every "
            f"{training.decay_every_epochs:g} epochs"
        )
    return f"{text}, {'one-cycle' if kind == 'one_cycle' else 'constant rate'}"


# An ImageNet backbone's new head learns on frozen features first, then the whole network
# fine-tunes; one set of settings for both recipes.
_BACKBONE_TRAINING = {
    "optimizer": "adam", "learning_rate": 0.001, "batch_size": 32, "epochs": 4, "freeze_epochs": 2
}  # fmt: skip
# The default recipe of each preset ("fast"; its lesson's own settings are the "lesson" recipe,
# dlcore.recipes); preset_training gives either.
PRESET_TRAINING = {
    **{name: recipes[DEFAULT_RECIPE] for name, recipes in PRESET_RECIPES.items()},
    **{name: dict(_BACKBONE_TRAINING) for name in BACKBONES},
}


def preset_training(name: str, recipe: str = DEFAULT_RECIPE, num_train: int = 0) -> dict[str, Any]:
    """A preset's TrainSpec fields in a recipe: "fast" (the default) or "lesson" (the lesson's
    own settings). A preset without a lesson of its own has one set for both. ``num_train``
    (the training images, 0 if unknown) sizes the fast recipe to a small dataset."""
    check_choice("Model preset", name, PRESETS)
    check_recipe(recipe)
    settings = dict(PRESET_RECIPES.get(name, {}).get(recipe) or PRESET_TRAINING.get(name, {}))
    if recipe == "fast" and name in PRESET_RECIPES:
        settings = fit_to_dataset(settings, num_train)
    return settings


def matching_recipe(name: str, training: TrainSpec, num_train: int = 0) -> str:
    """The recipe of preset ``name`` whose settings ``training`` has ("fast" first), or "" when
    they were changed from every recipe. The seed is no part of a recipe."""
    for recipe in RECIPES:
        settings = preset_training(name, recipe, num_train) if name in PRESETS else {}
        if settings and all(getattr(training, k) == v for k, v in settings.items()):
            return recipe
    return ""


def preset_experiment(
    name: str,
    dataset: str = "mnist-sample",
    recipe: str = DEFAULT_RECIPE,
    num_train: int = 0,
    **training: Any,
) -> Experiment:
    """An experiment with a lesson's network and a recipe's training settings (overridable);
    ``num_train`` (the dataset's training images, 0 if unknown) sizes the fast recipe."""
    settings = {**preset_training(name, recipe, num_train), **training}
    return Experiment(
        data=DataSpec(dataset=dataset),
        model=preset_model(name),
        training=TrainSpec(**settings),
    )
