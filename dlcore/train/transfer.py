"""Transfer learning from an earlier run (DIGITS calls it "previous networks"): its convolution
layers (with their batch norm), or its backbone (``dlcore.model.backbones``), are copied into
the new network. Layers are matched by name, and the names follow the layer order (``conv1_1``,
``bn1_1``, ``conv2_1``...), so the first blocks of the new network take the first blocks of the
old one. The dense head is rebuilt for the new classes.

Reused layers may stay frozen for the first epochs. A callback cannot change ``trainable``
during ``fit()`` (the compiled training step would not see it), so ``fit_in_phases`` trains in
two ``fit()`` calls and recompiles in between; epochs and the learning-rate schedule go on
where the first phase stopped, so the metrics log reads as one run.
"""

from __future__ import annotations

import re

from dlcore import LayerLabError
from dlcore.model.backbones import backbone_layer_name
from dlcore.spec import BACKBONES, ConvBlock, Experiment, ModelSpec, TrainSpec

_REUSABLE = re.compile(r"(?:conv|bn)\d+_\d+")


def reusable_shapes(model: ModelSpec, channels: int) -> dict[str, tuple]:
    """The layers a later run can take over, with the shapes of their weights: each conv
    layer's kernel (F, F, maps in, filters), each batch norm's filters, or the backbone."""
    if model.backbone:
        return {backbone_layer_name(model.backbone): ("backbone", model.backbone)}
    shapes: dict[str, tuple] = {}
    for number, block in enumerate(model.conv_blocks, start=1):
        for index in range(1, block.num_convs + 1):
            shapes[f"conv{number}_{index}"] = _kernel(block, channels)
            if block.batch_norm:
                shapes[f"bn{number}_{index}"] = (block.filters,)
            channels = block.filters
    return shapes


def _kernel(block: ConvBlock, channels: int) -> tuple:
    return (block.kernel_size, block.kernel_size, channels, block.filters)


def plan_reuse(
    source: ModelSpec, source_channels: int, target: ModelSpec, channels: int, run_id: str
) -> list[str]:
    """The names of the layers the target network takes from the source run, checked by
    shape before anything is built. Raises LayerLabError saying what to change."""
    old, new = reusable_shapes(source, source_channels), reusable_shapes(target, channels)
    if not old:
        raise LayerLabError(
            f"Run {run_id} has no convolution layers or backbone to reuse (a dense-only "
            "network); start from a run with conv blocks."
        )
    common = [name for name in new if name in old]
    if not common:
        what = f"the {source.backbone} backbone" if source.backbone else "conv blocks"
        raise LayerLabError(
            f"Run {run_id} has {what}, which this network does not have; use its network "
            "(choosing the run on the Model page copies it) or start from another run."
        )
    for name in common:
        if old[name] != new[name]:
            raise LayerLabError(_mismatch(name, old[name], new[name], run_id))
    return common


def _mismatch(name: str, old: tuple, new: tuple, run_id: str) -> str:
    if name == "conv1_1" and old[2] != new[2]:
        kinds = {1: "grayscale", 3: "colour"}
        source, here = (f"{n}-channel ({kinds.get(n, 'other')})" for n in (old[2], new[2]))
        return (
            f"Run {run_id} learned from {source} images and this dataset's images are {here}: "
            "its first filters cannot read them. Start from a run on images with the same "
            "channels, or import this dataset again in the other colour mode."
        )
    if len(old) == 4:
        return (
            f"{name} has {old[3]} filters of {old[0]}x{old[1]} on {old[2]} maps in run {run_id}, "
            f"here {new[3]} of {new[0]}x{new[1]} on {new[2]}: give its block the same filters and "
            "kernel size as that run (choosing the run on the Model page copies its network), or "
            "use fewer conv blocks."
        )
    return (
        f"{name} differs from run {run_id} ({old} there, {new} here); use that run's conv blocks "
        "(choosing the run on the Model page copies its network)."
    )


def source_channels(run_id: str) -> int:
    """The channels of the images the run trained on (1 grayscale, 3 colour)."""
    from dlcore.train.runs import read_dataset_info

    shape = read_dataset_info(run_id).get("image_shape")
    if not (isinstance(shape, list) and len(shape) == 3 and isinstance(shape[2], int)):
        raise LayerLabError(
            f"Run {run_id} has no record of the images it trained on (it never started); "
            "start from a finished run."
        )
    return shape[2]


def check_source(experiment: Experiment, image_shape: tuple, instructor: bool = False) -> list[str]:
    """Refuse a run to start from that its owner may not use (another attendee's run on their
    own images), that has no saved model, or whose layers do not fit this network; return the
    names of the layers that will be reused. Called when the job is submitted."""
    from dlcore import attendees
    from dlcore.train.run_outputs import model_file
    from dlcore.train.runs import read_spec, read_status
    from dlcore.train.usage import may_see_run

    run_id = experiment.training.from_run
    status = read_status(run_id)  # RunNotFound says the id is unknown
    if not may_see_run(status.to_dict(), experiment.owner, instructor):
        raise LayerLabError(
            f"Run {run_id} belongs to {attendees.owner_label(status.to_dict())} and was "
            "trained on their own images; start from one of your runs or a run on a shared "
            "dataset."
        )
    model_file(run_id)  # says so when the run has not saved a model yet
    source = read_spec(run_id).model
    return plan_reuse(
        source, source_channels(run_id), experiment.model, int(image_shape[2]), run_id
    )


def reuse_weights(model, run_id: str) -> list[str]:
    """Copy the reusable layers' weights of run ``run_id``'s saved model into ``model`` (a
    Keras model built from a spec); return the names of the layers copied."""
    from dlcore.train.run_outputs import read_model

    return copy_layers(read_model(run_id), model, run_id)


def copy_layers(source, model, run_id: str) -> list[str]:
    """Copy the conv, batch-norm and backbone layers of Keras model ``source`` (run
    ``run_id``'s) into ``model`` where it has layers of the same names; their names."""
    import keras

    targets = {layer.name: layer for layer in model.layers}
    backbones = {backbone_layer_name(name) for name in BACKBONES}
    copied = []
    for layer in source.layers:
        if not (_REUSABLE.fullmatch(layer.name) or layer.name in backbones):
            continue
        if layer.name not in targets:
            continue
        weights, target = layer.get_weights(), targets[layer.name]
        old = [w.shape for w in weights]
        new = [tuple(w.shape) for w in target.weights]
        if old != new:
            raise LayerLabError(_mismatch(layer.name, _first(old), _first(new), run_id))
        target.set_weights(weights)
        for inner in (target, *getattr(target, "layers", ())):
            if isinstance(inner, keras.layers.Normalization):  # EfficientNet's: set_weights
                inner.finalize_state()  # leaves the mean and variance it divides by behind
        copied.append(layer.name)
    if not copied:
        raise LayerLabError(
            f"Run {run_id}'s saved model has no layer this network can take over; use its "
            "network (choosing the run on the Model page copies it) or start from another run."
        )
    return copied


def _first(shapes: list) -> tuple:
    return tuple(shapes[0]) if shapes else ()


def fit_in_phases(model, reused: list[str], training: TrainSpec, steps_per_epoch: int,
                  callbacks: list, **fit_args) -> None:  # fmt: skip
    """Compile and train ``model`` for ``training.epochs``: the ``reused`` layers frozen for
    the first ``training.freeze_epochs`` epochs (all of them if that is more), then every
    layer. Each phase is compiled anew, and the optimizer's step count continues, so a
    learning-rate schedule runs on as if it were one ``fit()``. Early stopping in the first
    phase ends the run."""
    from dlcore.model.build import compile_model

    frozen = min(training.freeze_epochs, training.epochs) if reused else 0
    for start, end, trainable in ((0, frozen, False), (frozen, training.epochs, True)):
        if end <= start:
            continue
        for name in reused:
            model.get_layer(name).trainable = trainable
        compile_model(model, training, steps_per_epoch)
        model.optimizer.iterations.assign(start * steps_per_epoch)
        model.fit(initial_epoch=start, epochs=end, callbacks=callbacks, **fit_args)
        if model.stop_training:  # early stopping, not the end of the phase
            break
