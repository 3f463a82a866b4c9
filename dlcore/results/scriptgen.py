"""The code behind a run: a self-contained Keras 3 + NumPy training script, written from the
run's Experiment, that a learner can read, run and change.

This module holds the script's template (data loading, the optimizer, the learning-rate
schedule, fitting, the kept weights); its network, layer by layer, is ``script_layers``.
Pure text: nothing here imports Keras.
"""

from __future__ import annotations

from dlcore import LayerLabError
from dlcore.model.schedules import ONE_CYCLE_RISE, ONE_CYCLE_START
from dlcore.results.script_layers import network_lines
from dlcore.spec import Experiment, TrainSpec

_OPTIMIZERS = {
    "adam": "keras.optimizers.Adam(learning_rate=LEARNING_RATE)",
    "rmsprop": "keras.optimizers.RMSprop(learning_rate=LEARNING_RATE)",
    "sgd": "keras.optimizers.SGD(learning_rate=LEARNING_RATE, momentum=0.9)",
    "adamw": "keras.optimizers.AdamW(learning_rate=LEARNING_RATE)",
}
_HEADER = '''"""Train run {run_id} again, outside LayerLab{about}.

LayerLab wrote this script from the run: the same prepared images (in the file
{data_name}, beside this one), the same network layer by layer, the same optimizer and
settings, the same seed and batch size. It needs only Keras 3 and NumPy, plus one backend
(TensorFlow, JAX or PyTorch):

    pip install keras numpy tensorflow
    python {script_name}

Change a layer or a setting below and run it again: that is the next experiment.
"""

import os
import sys
from pathlib import Path

# TensorFlow only (other backends ignore it): repeatable arithmetic, as LayerLab trains. It must
# be set before Keras loads TensorFlow.
os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")

import keras
import numpy as np
from keras import layers

DATA_FILE = Path(__file__).with_name({data_name!r})
SEED = {seed}
EPOCHS = {epochs}
BATCH_SIZE = {batch_size}
LEARNING_RATE = {learning_rate!r}

# Supervised learning: every image comes with its label, the index of its class. The training
# set teaches the network; the validation set is never trained on, so it shows how the network
# does on images it has not seen.{test_note}
with np.load(DATA_FILE) as data:
    x_train, y_train = data["x_train"], data["y_train"]
    x_val, y_val = data["x_val"], data["y_val"]
    x_test, y_test = (data["x_test"], data["y_test"]) if "x_test" in data else (None, None)
    class_names = [str(name) for name in data["class_names"]]
print(f"{{len(x_train)}} training and {{len(x_val)}} validation images of shape "
      f"{{x_train.shape[1:]}}, {{len(class_names)}} classes: {{', '.join(class_names)}}")

# The same seed gives the same starting weights and the same shuffled order in every epoch,
# so this script reaches the same accuracy as the run in LayerLab.
keras.utils.set_random_seed(SEED)
'''

_FIT = """
# Cross-entropy: the loss is -log(probability given to the right class), small when the
# network is confidently right. "sparse" because each label is a class index, not one-hot.
# Accuracy: the share of images whose highest probability is the right class.
model.compile(
    optimizer={optimizer},
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
)

{callbacks}

# Mini-batch training: the weights change after every batch of BATCH_SIZE images (one
# iteration); one epoch shows the network every training image once, in a new random order
# (shuffle). After each epoch the loss and accuracy are measured on the validation set.
history = model.fit(
    x_train,
    y_train,
    batch_size=BATCH_SIZE,
    epochs=EPOCHS,
    validation_data=(x_val, y_val),
    shuffle=True,
    callbacks=callbacks,
    verbose=2,
)

# Overfitting shows in the history: the validation loss rises again while the training loss
# keeps falling. The network then memorises the training images instead of learning the classes.
for epoch, (loss, val_loss) in enumerate(
    zip(history.history["loss"], history.history["val_loss"]), start=1
):
    print(f"epoch {{epoch}}: training loss {{loss:.4f}}, validation loss {{val_loss:.4f}}")

val_loss, val_accuracy = model.evaluate(x_val, y_val, batch_size=256, verbose=0)
print(f"validation accuracy: {{val_accuracy:.4f}}")
if x_test is not None:
    # The test set is looked at once, at the very end: no choice was made with it.
    test_loss, test_accuracy = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
    print(f"test accuracy: {{test_accuracy:.4f}}")

# Softmax gives one probability per class; the prediction is the class with the highest one.
probabilities = model.predict(x_val[:1], verbose=0)[0]
predicted = int(np.argmax(probabilities))
print(f"first validation image: predicted {{class_names[predicted]}} "
      f"({{probabilities[predicted]:.1%}}), label {{class_names[int(y_val[0])]}}")
if len(sys.argv) > 1:
    model.save(sys.argv[1])  # e.g. python {script_name} my_model.keras
"""

_KEEP_BEST = """\
# LayerLab keeps the weights of the epoch with the best validation accuracy (the lower
# validation loss breaks a tie); this callback does the same.
class KeepBestEpoch(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.best, self.best_weights = None, None

    def on_epoch_end(self, epoch, logs=None):
        score = (logs["val_accuracy"], -logs["val_loss"])
        if self.best is None or score > self.best:
            self.best, self.best_weights = score, self.model.get_weights()

    def on_train_end(self, logs=None):
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)


callbacks = [KeepBestEpoch()]"""

_EARLY_STOPPING = """
# Early stopping: training ends once the validation accuracy has not improved for {patience}
# epoch(s) in a row, a guard against overfitting; the best epoch's weights come back as above.
callbacks.append(
    keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience={patience})
)"""


def script_text(
    experiment: Experiment,
    input_shape: tuple[int, int, int],
    num_classes: int,
    run_id: str,
    data_name: str,
    script_name: str,
    has_test: bool = False,
) -> str:
    """The training script of ``experiment`` for images of ``input_shape`` in ``num_classes``
    classes, reading its arrays from ``data_name`` beside itself."""
    training = experiment.training
    if training.from_run or experiment.model.backbone:
        start = f"starts from run {training.from_run}" if training.from_run else "uses ImageNet"
        raise LayerLabError(
            f"Run {run_id} {start} weights (transfer learning), which the training script does "
            "not reproduce. Export its TensorFlow Lite model or its summary instead, or export a "
            "run trained from random weights."
        )
    about = f": {experiment.name}" if experiment.name else ""
    test_note = "\n# The test set is kept apart until the very end." if has_test else ""
    header = _HEADER.format(
        run_id=run_id,
        about=_one_line(about),
        data_name=data_name,
        script_name=_one_line(script_name),
        seed=training.seed,
        epochs=training.epochs,
        batch_size=training.batch_size,
        learning_rate=float(training.learning_rate),
        test_note=test_note,
    )
    patience = training.early_stopping_patience
    callbacks = _KEEP_BEST + (_EARLY_STOPPING.format(patience=patience) if patience else "")
    optimizer = _OPTIMIZERS[training.optimizer]
    schedule = schedule_lines(training)
    if schedule:
        optimizer = optimizer.replace("LEARNING_RATE)", "learning_rate)")
    fit = _FIT.format(
        optimizer=optimizer,
        callbacks=callbacks,
        script_name=_one_line(script_name),
    )
    network = network_lines(experiment, input_shape, num_classes)
    return header + "\n" + "\n".join(network + schedule) + "\n" + fit


_SCHEDULE_NOTES = {
    "step": "# Step decay: the rate is multiplied by {factor!r} every {every!r} epoch(s).",
    "exponential": "# Exponential decay: the rate shrinks smoothly, by {factor!r} every {every!r} "
    "epoch(s).",
    "cosine": "# Cosine with warm-up: the rate rises from 0 to LEARNING_RATE over {warmup!r} "
    "epoch(s),\n# then falls along a half cosine to 0 at the end of the run.",
    "one_cycle": "# One-cycle: the rate rises from LEARNING_RATE * {start!r} to LEARNING_RATE over "
    "the first\n# {rise:.0%} of the iterations, then falls along a half cosine to 0.",
}


def schedule_lines(training: TrainSpec) -> list[str]:
    """The script's lines that define ``learning_rate``, a Keras schedule equal to
    ``dlcore.model.schedules.keras_schedule`` (the same formulas, with the iterations per epoch
    counted from ``x_train``); none for a constant rate."""
    kind = training.lr_schedule
    if kind == "constant":
        return []
    note = _SCHEDULE_NOTES[kind].format(
        factor=float(training.decay_factor),
        every=float(training.decay_every_epochs),
        warmup=float(training.warmup_epochs),
        start=ONE_CYCLE_START,
        rise=ONE_CYCLE_RISE,
    )
    lines = [
        "",
        "# Learning-rate schedule: a large rate early on learns fast, a small one at the end",
        "# settles the weights. Keras asks it for the rate before every iteration (batch).",
        *note.split("\n"),
        "steps_per_epoch = -(-len(x_train) // BATCH_SIZE)  # iterations per epoch",
    ]
    if kind in ("step", "exponential"):
        every = float(training.decay_every_epochs)
        return lines + [
            "learning_rate = keras.optimizers.schedules.ExponentialDecay(",
            "    LEARNING_RATE,",
            f"    decay_steps=float({every!r} * steps_per_epoch),",
            f"    decay_rate={float(training.decay_factor)!r},",
            f"    staircase={kind == 'step'},",
            ")",
        ]
    if kind == "cosine":
        warmup = f"round({float(training.warmup_epochs)!r} * steps_per_epoch)"
        start = "0.0"
    else:
        warmup = f"max(round({ONE_CYCLE_RISE!r} * EPOCHS * steps_per_epoch), 1)"
        start = f"LEARNING_RATE * {ONE_CYCLE_START!r}"
    lines += [
        f"warmup_steps = {warmup}",
        "decay_steps = max(EPOCHS * steps_per_epoch - warmup_steps, 1)",
        "if warmup_steps:",
        "    learning_rate = keras.optimizers.schedules.CosineDecay(",
        f"        {start}, decay_steps, warmup_target=LEARNING_RATE, warmup_steps=warmup_steps",
        "    )",
        "else:",
        "    learning_rate = keras.optimizers.schedules.CosineDecay(LEARNING_RATE, decay_steps)",
    ]
    return lines


def _one_line(text: str) -> str:
    """A name someone typed, safe inside a docstring: one line, no quotes or backslashes."""
    cleaned = "".join(ch if ch.isprintable() else " " for ch in text)
    return cleaned.replace("\\", "/").replace('"', "'")[:100]
