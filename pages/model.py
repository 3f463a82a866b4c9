"""Model: pick a lesson's network or design your own; see each layer's shape, weights and links."""

import dataclasses
import math

import pandas as pd
import streamlit as st

from dlcore import LayerLabError
from dlcore.data.catalogue import train_size
from dlcore.data.ownership import check_access
from dlcore.model.layer_table import LayerRow, layer_table, model_diagram, table_totals
from dlcore.recipes import preset_training
from dlcore.spec import (
    ACTIVATIONS,
    HEADS,
    PADDINGS,
    POOLINGS,
    PRESET_DESCRIPTIONS,
    PRESETS,
    ConvBlock,
    DenseLayer,
    ModelSpec,
    preset_model,
)
from dlcore.train.admission import dataset_shape
from pages import transfer_views
from pages.common import md, require_dataset, stop_on_error
from pages.identity import attendee, is_instructor
from pages.state import current_experiment, saved_experiment, set_experiment

K = "_model_"  # prefix of this page's widget keys
RANGES = {"filters": (1, 1024), "kernel_size": (1, 11), "strides": (1, 4), "num_convs": (1, 4),
          "pool_size": (1, 4), "units": (1, 4096), "blocks": (0, 6), "dense": (0, 4)}  # fmt: skip
HEAD_TITLES = {"flatten": "Flatten", "global_average": "Global average pooling",
               "global_max": "Global max pooling"}  # fmt: skip
COLUMNS = {  # widths that show every header whole, side by side, at 1366 px
    "Layer": st.column_config.TextColumn(width=118),
    "Type": st.column_config.TextColumn(width=132),
    "Output shape": st.column_config.TextColumn(width=98),
    "Parameters": st.column_config.NumberColumn(format="localized", width=86),
    "Connections": st.column_config.NumberColumn(format="localized", width=96),
}
LECTURE = ModelSpec(
    preset="custom",
    conv_blocks=(ConvBlock(filters=10, kernel_size=5, padding="valid"),),
    dense_layers=(DenseLayer(200),),
)


def _field(key: str) -> str:
    """'b2_filters' -> 'filters' (per-block and per-dense keys), 'blocks' -> 'blocks'."""
    return key.split("_", 1)[1] if key[0] in "bd" and key[1].isdigit() else key


def _put(key: str, value) -> None:
    """Set a control's value, clamped into the slider's range (specs may hold larger values)."""
    if _field(key) in RANGES and not isinstance(value, bool):
        low, high = RANGES[_field(key)]
        value = min(max(value, low), high)
    st.session_state[K + key] = value


def _model_to_state(model: ModelSpec) -> None:
    """Fill every control from a spec (a preset, or the saved experiment)."""
    for key in [k for k in st.session_state if str(k).startswith(K)]:
        del st.session_state[key]
    _put("preset", model.preset)
    _put("backbone", model.backbone)
    _put("blocks", len(model.conv_blocks))
    _put("head", model.head)
    _put("dense", len(model.dense_layers))
    for kind, items in (("b", model.conv_blocks), ("d", model.dense_layers)):
        for number, item in enumerate(items, start=1):
            for field, value in dataclasses.asdict(item).items():
                _put(f"{kind}{number}_{field}", value)


def _ensure(prefix: str, default) -> None:
    for field, value in dataclasses.asdict(default).items():
        st.session_state.setdefault(f"{K}{prefix}_{field}", value)


def _preset_chosen() -> None:
    """A lesson's network comes with its default recipe's training settings, sized to the
    dataset (the Train page offers the lesson's own settings too)."""
    name = st.session_state[K + "preset"]
    if name != "custom":
        _model_to_state(preset_model(name))
        experiment = current_experiment()
        fitted = preset_training(name, num_train=train_size(experiment.data.dataset))
        settings = {"freeze_epochs": 0, **fitted}  # backbones bring their own
        training = dataclasses.replace(experiment.training, **settings)
        # the Train page's controls show the preset's settings when next drawn
        set_experiment(dataclasses.replace(experiment, training=training), changed=("training",))


def _edited() -> None:
    st.session_state[K + "preset"] = "custom"


def _slider(column, label: str, key: str, **options):
    low, high = RANGES[_field(key)]
    return column.slider(label, low, high, key=K + key, on_change=_edited, **options)


def _block_controls(number: int) -> ConvBlock:
    p = f"b{number}_"
    _ensure(f"b{number}", ConvBlock())
    one, two, three = st.columns(3)
    low, high = RANGES["filters"]  # typed: a slider to 1,024 cannot stop on 20
    filters = one.number_input("Filters (maps)", low, high, key=K + p + "filters",
                               on_change=_edited, help="Feature maps the block makes: one per "
                               "learned filter.")  # fmt: skip
    kernel_size = _slider(two, "Kernel size (F)", p + "kernel_size")
    strides = _slider(three, "Stride (S)", p + "strides")
    padding = one.selectbox("Padding", PADDINGS, key=K + p + "padding", on_change=_edited)
    activation = two.selectbox("Activation", ACTIVATIONS, key=K + p + "activation",
                               on_change=_edited)  # fmt: skip
    num_convs = _slider(three, "Convolutions", p + "num_convs")
    pooling = one.selectbox("Pooling", POOLINGS, key=K + p + "pooling", on_change=_edited)
    pool_size = _slider(two, "Pool size", p + "pool_size")
    dropout = three.slider("Dropout", 0.0, 0.9, step=0.05, key=K + p + "dropout_rate",
                           on_change=_edited)  # fmt: skip
    batch_norm = st.checkbox("Batch normalization after each convolution",
                             key=K + p + "batch_norm", on_change=_edited)  # fmt: skip
    return ConvBlock(filters=int(filters), kernel_size=kernel_size, strides=strides,
                     padding=padding, activation=activation, num_convs=num_convs,
                     batch_norm=batch_norm, pooling=pooling, pool_size=pool_size,
                     dropout_rate=dropout)  # fmt: skip


def _dense_controls(number: int) -> DenseLayer:
    p = f"d{number}_"
    _ensure(f"d{number}", DenseLayer())
    one, two, three = st.columns(3)
    low, high = RANGES["units"]
    units = one.number_input(f"Dense {number}: units", low, high, key=K + p + "units",
                             on_change=_edited)  # fmt: skip
    activation = two.selectbox("Activation", ACTIVATIONS, key=K + p + "activation",
                               on_change=_edited)  # fmt: skip
    dropout = three.slider("Dropout", 0.0, 0.9, step=0.05, key=K + p + "dropout_rate",
                           on_change=_edited)  # fmt: skip
    return DenseLayer(units=int(units), activation=activation, dropout_rate=dropout)


def _preset_control() -> str:
    preset = st.selectbox("Start from a lesson's network", PRESETS, key=K + "preset",
                          format_func=lambda name: f"{name}: {PRESET_DESCRIPTIONS[name]}",
                          on_change=_preset_chosen)  # fmt: skip
    st.caption("Changing any setting below turns the network into your own, 'custom' one.")
    return preset


def _model_controls(preset: str) -> ModelSpec:
    """The network as the controls below the preset show it (their return values)."""
    backbone = st.session_state.get(K + "backbone", "")  # set with the preset, not a control
    if backbone:  # an ImageNet network in place of the conv blocks
        transfer_views.backbone_note(backbone)
    left, right = st.columns(2)
    num_blocks = 0 if backbone else _slider(left, "Convolution blocks", "blocks")
    num_dense = _slider(right, "Dense layers", "dense", help="Fully connected layers: every "
                        "input linked to every unit.")  # fmt: skip
    blocks = []
    if num_blocks:
        for number, tab in enumerate(st.tabs([f"Block {n}" for n in range(1, num_blocks + 1)]), 1):
            with tab:
                blocks.append(_block_controls(number))
    head = st.selectbox("Head: from feature maps to a vector", HEADS, key=K + "head",
                        format_func=HEAD_TITLES.get, on_change=_edited)  # fmt: skip
    dense = [_dense_controls(number) for number in range(1, num_dense + 1)]
    return ModelSpec(preset=preset, conv_blocks=tuple(blocks), head=head,
                     dense_layers=tuple(dense), backbone=backbone)  # fmt: skip


def _table(rows: list[LayerRow]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Layer": [row.name for row in rows],
            "Type": [row.kind for row in rows],
            "Output shape": [" x ".join(str(n) for n in row.output_shape) for row in rows],
            "Parameters": [row.params for row in rows],
            "Connections": [row.connections for row in rows],
        }
    )


def _weight_sharing(rows: list[LayerRow], shape: tuple[int, int, int]) -> None:
    conv = next((row for row in rows if row.kind.startswith("Conv")), None)
    if conv is None:
        st.caption("Add a convolution block to compare it with a dense layer.")
        return
    outputs = math.prod(conv.output_shape)
    dense = (math.prod(shape) + 1) * outputs
    st.markdown(
        f"In your network, **{conv.name}** has **{conv.params:,}** weights and makes "
        f"{conv.connections:,} connections: the same small filters slide over every position. "
        f"A dense layer making the same {outputs:,} outputs from the "
        f"{' x '.join(map(str, shape))} image would need **{dense:,}** weights "
        f"({dense / max(conv.params, 1):,.0f} times more)."
    )


name = require_dataset()
st.title("Model")
try:  # another attendee's import: not even its shape or class count
    check_access(name, attendee(), instructor=is_instructor())
    info = dataset_shape(name)
except LayerLabError as error:
    stop_on_error(error)
input_shape, num_classes = info["image_shape"], info["num_classes"]
st.caption(f"Input: {' x '.join(map(str, input_shape))} images of **{md(name)}**, "
           f"{num_classes} classes to tell apart.")  # fmt: skip
experiment = current_experiment()
if K + "preset" not in st.session_state:
    _model_to_state(experiment.model)

preset = _preset_control()
experiment = transfer_views.transfer_controls(experiment, input_shape[2], _model_to_state)
controls, results = st.columns([4, 6], gap="small")
with controls:
    try:
        spec = _model_controls(preset)
        rows, problem = layer_table(spec, input_shape, num_classes), None
    except LayerLabError as error:  # ShapeError names the layer that no longer fits
        rows, problem = None, error
with results:
    if rows is None:
        st.error(str(problem), icon=":material/error:")
        st.caption("This network is not saved until it fits the images.")
    else:
        totals = table_totals(rows)
        one, two = st.columns(2)
        one.metric("Parameters", f"{totals['params']:,}", help="Weights the network learns.")
        two.metric("Connections", f"{totals['connections']:,}", help="Multiply-adds per image.")
        st.dataframe(_table(rows), hide_index=True, column_config=COLUMNS)
        if dataclasses.replace(experiment, model=spec) != saved_experiment():
            set_experiment(dataclasses.replace(experiment, model=spec))
            if spec.preset != experiment.model.preset:
                st.rerun()  # so the sidebar shows the new preset
        st.caption(f"Saved: the **{spec.preset}** network will be trained on the Train page.")
        transfer_views.reuse_summary(dataclasses.replace(experiment, model=spec), input_shape[2])
        with st.expander("Weight sharing: why a CNN needs so few weights"):
            _weight_sharing(rows, input_shape)
if rows is not None:
    st.graphviz_chart(model_diagram(spec, input_shape, num_classes))

st.subheader("How the layers work")
with st.expander("Convolution, feature maps, stride and padding"):
    st.markdown(
        "A **convolution** slides a small filter (say 5x5) over the image. At each position it "
        "multiplies the pixels under it by its weights and adds them up: a high result means "
        "the filter found its feature there (an edge, a curve, a colour). The grid of results is "
        "a **feature map**; each filter makes one. The patch of the image a value depends on is "
        "its **receptive field**, and it grows with every layer. The **stride** S is how many "
        "pixels the filter jumps; **padding** P adds a border of zeros: *valid* adds none (the "
        "map shrinks), *same* adds enough to keep the size. The output width is:"
    )
    st.latex(r"\text{output} = \frac{W - F + 2P}{S} + 1")
    st.caption(
        "Lecture example: a 32x32x1 image, 10 filters of 5x5, stride 1, valid padding: "
        "(32 − 5 + 0) / 1 + 1 = 28, so 10 feature maps of 28x28. Each filter has 5·5·1 + 1 = 26 "
        "weights (260 in all) and 28·28·260 = 203,840 connections. A 2x2 max-pool gives 14x14x10; "
        "a dense layer of 200 on those 1,960 values has (1,960 + 1)·200 = 392,200 weights."
    )
    lecture = _table(layer_table(LECTURE, (32, 32, 1), 10))
    st.dataframe(lecture, hide_index=True, column_config=COLUMNS)
with st.expander("Pooling, ReLU, dropout, batch normalization, softmax"):
    st.markdown(
        "- **Pooling** shrinks each feature map: *max* keeps the largest value of each 2x2 "
        "window, *average* their mean. Half the width, a quarter of the values, and small shifts "
        "of the image matter less.\n"
        "- **ReLU** (the activation) keeps positive values and turns negatives into 0; without "
        "such a bend, stacked layers would be no better than one.\n"
        "- **Dropout** switches off a random fraction of values at each training step, so the "
        "network cannot rely on a few of them: it overfits less. It is off when classifying.\n"
        "- **Batch normalization** rescales each layer's outputs to a steady range during "
        "training, which makes deep networks train faster and more reliably.\n"
        "- **Dense** (fully connected) layers link every input to every unit.\n"
        "- **Softmax**, the last layer, turns one score per class into probabilities that add up "
        "to 100%; the predicted class is the most probable one."
    )
