"""The layer table of a ModelSpec, its totals, the size check and the diagram the Model page
shows: pure Python, so they run on every slider move without importing Keras.

``dlcore.model.build.build_model`` follows the same walk over the spec and gives its layers the same
names, so each row of the table matches a layer of the model and the parameter totals equal
``model.count_params()``.
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass

from dlcore import LayerLabError
from dlcore.limits import Limits, load_limits
from dlcore.model.backbones import (
    BACKBONE_INFO,
    backbone_input_size,
    backbone_layer_name,
    backbone_macs,
    backbone_output_shape,
)
from dlcore.spec import AUGMENTATIONS, AugmentSpec, ConvBlock, ModelSpec

Shape = tuple[int, ...]
_POOL_KINDS = {"max": "MaxPool", "average": "AvgPool"}
HEAD_KINDS = {
    "flatten": "Flatten",
    "global_average": "GlobalAveragePooling2D",
    "global_max": "GlobalMaxPooling2D",
}


class ShapeError(LayerLabError):
    """The network does not fit the image: a kernel or pool is larger than its input."""


@dataclass(frozen=True)
class LayerRow:
    """One line of the layer table: output shape without the batch axis, weights and
    connections (multiply-adds of one image through the layer, bias included)."""

    name: str
    kind: str
    output_shape: Shape
    params: int = 0
    connections: int = 0


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: str = "valid") -> int:
    """Output width of a convolution or pooling window: floor((W - F + 2P) / S) + 1.

    ``valid`` uses P = 0, ``full`` P = F - 1, and ``same`` is Keras' ceil(W / S), which keeps
    the size at stride 1. A result below 1 means the window does not fit the input.
    """
    if padding == "same":
        return math.ceil(size / stride)
    pads = {"valid": 0, "full": kernel - 1}
    if padding not in pads:
        raise LayerLabError(f"Padding is {padding!r}; choose one of valid, same, full.")
    return (size - kernel + 2 * pads[padding]) // stride + 1


def layer_table(
    spec: ModelSpec,
    input_shape: Shape,
    num_classes: int,
    augment: AugmentSpec = AugmentSpec(),  # noqa: B008 - frozen dataclass, safe as default
) -> list[LayerRow]:
    """The network's layers with output shapes, parameters and connections, in order.

    Raises ShapeError naming the first layer whose window no longer fits its input.
    """
    shape = _check_input(input_shape, num_classes)
    if spec.backbone:
        rows = _backbone_rows(spec.backbone, shape, augment)
    else:
        rows = [LayerRow("input", "Input", shape), LayerRow("rescaling", "Rescaling 1/255", shape)]
        rows += _augmentation_rows(augment, shape)
    for number, block in enumerate(spec.conv_blocks, start=1):
        rows.extend(_block_rows(number, block, rows[-1].output_shape))
    rows.append(_head_row(spec.head, rows[-1].output_shape))
    for number, dense in enumerate(spec.dense_layers, start=1):
        kind = f"Dense {dense.units} {dense.activation}"
        rows.append(_dense_row(f"dense{number}", kind, rows[-1], dense.units))
        if dense.dropout_rate > 0:
            kind = f"Dropout {dense.dropout_rate:g}"
            rows.append(LayerRow(f"dense_dropout{number}", kind, (dense.units,)))
    rows.append(_dense_row("predictions", f"Dense {num_classes} softmax", rows[-1], num_classes))
    return rows


def table_totals(rows: list[LayerRow]) -> dict[str, int]:
    """Sum of parameters and connections over the table."""
    return {
        "params": sum(row.params for row in rows),
        "connections": sum(row.connections for row in rows),
    }


def _check_input(input_shape: Shape, num_classes: int) -> Shape:
    shape = tuple(input_shape)
    if len(shape) != 3 or not all(isinstance(n, numbers.Integral) and n >= 1 for n in shape):
        raise LayerLabError(
            f"The input shape is {input_shape!r}; expected (height, width, channels) as three "
            "positive whole numbers, e.g. (28, 28, 1)."
        )
    shape = tuple(int(n) for n in shape)  # NumPy integers from an array's shape are fine too
    if not isinstance(num_classes, numbers.Integral) or num_classes < 2:
        raise LayerLabError(
            f"num_classes is {num_classes!r}; a classifier needs at least 2 classes."
        )
    return shape


def _augmentation_rows(augment: AugmentSpec, shape: Shape) -> list[LayerRow]:
    if not augment.enabled:
        return []
    names = ", ".join(name for name in AUGMENTATIONS if augment_on(augment, name))
    return [LayerRow("augmentation", f"Augmentation ({names})", shape)]


def _backbone_rows(name: str, shape: Shape, augment: AugmentSpec) -> list[LayerRow]:
    """An ImageNet network as one row, after what makes the images fit it: grayscale copied
    into 3 channels, images under 32x32 enlarged. Its own preprocessing is inside it."""
    height, width, channels = shape
    rows = [LayerRow("input", "Input", shape)]
    if channels == 1:
        rows.append(LayerRow("to_rgb", "Gray to RGB", (height, width, 3)))
    size = backbone_input_size(height, width)
    if size != (height, width):
        rows.append(LayerRow("resize", f"Resize to {size[0]}x{size[1]}", (*size, 3)))
    rows += _augmentation_rows(augment, rows[-1].output_shape)
    info = BACKBONE_INFO[name]
    out = backbone_output_shape(name, height, width)
    kind = "ImageNet network"
    rows.append(
        LayerRow(
            backbone_layer_name(name), kind, out, info.params, backbone_macs(name, height, width)
        )
    )
    return rows


def augment_on(augment: AugmentSpec, name: str) -> bool:
    value = getattr(augment, name)
    return value != "none" if name == "flip" else value > 0


def _block_rows(number: int, block: ConvBlock, shape: Shape) -> list[LayerRow]:
    rows = []
    for index in range(1, block.num_convs + 1):
        rows.append(_conv_row(f"conv{number}_{index}", block, shape))
        shape = rows[-1].output_shape
        if block.batch_norm:
            elements = math.prod(shape)
            rows.append(LayerRow(f"bn{number}_{index}", "BatchNorm", shape, 4 * shape[2], elements))
    if block.pooling != "none":
        rows.append(_pool_row(f"pool{number}", block, shape))
        shape = rows[-1].output_shape
    if block.dropout_rate > 0:
        rows.append(LayerRow(f"dropout{number}", f"Dropout {block.dropout_rate:g}", shape))
    return rows


def _conv_row(name: str, block: ConvBlock, shape: Shape) -> LayerRow:
    height, width, channels = shape
    size = block.kernel_size
    out_h, out_w = (
        conv_output_size(n, size, block.strides, block.padding) for n in (height, width)
    )
    if out_h < 1 or out_w < 1:
        raise ShapeError(
            f"{name}: a {size}x{size} kernel does not fit the {height}x{width} input; use 'same' "
            "padding, fewer blocks or a larger image size."
        )
    fan_in = size * size * channels
    stride = f" stride {block.strides}" if block.strides > 1 else ""
    kind = f"Conv2D {size}x{size}{stride} {block.activation}"
    params = (fan_in + 1) * block.filters
    return LayerRow(name, kind, (out_h, out_w, block.filters), params, out_h * out_w * params)


def _pool_row(name: str, block: ConvBlock, shape: Shape) -> LayerRow:
    height, width, channels = shape
    size = block.pool_size
    # Keras pooling defaults: the window moves by its own size, padding 'valid' (rounds down).
    out_h, out_w = (conv_output_size(n, size, size, "valid") for n in (height, width))
    if out_h < 1 or out_w < 1:
        raise ShapeError(
            f"{name}: a {size}x{size} pool does not fit the {height}x{width} input; use fewer "
            "blocks, pooling 'none' or a larger image size."
        )
    return LayerRow(name, f"{_POOL_KINDS[block.pooling]} {size}x{size}", (out_h, out_w, channels))


def _head_row(head: str, shape: Shape) -> LayerRow:
    if head == "flatten":
        return LayerRow("flatten", "Flatten", (math.prod(shape),))
    return LayerRow("global_pool", HEAD_KINDS[head], (shape[-1],))


def _dense_row(name: str, kind: str, previous: LayerRow, units: int) -> LayerRow:
    weights = (previous.output_shape[-1] + 1) * units
    return LayerRow(name, kind, (units,), weights, weights)


def estimate_training_memory_mb(rows: list[LayerRow], batch_size: int) -> float:
    """Rough memory to train: weights, gradients and optimizer state (3 copies of the
    parameters) plus every layer's activations, kept for the backward pass (x2), in float32."""
    params = table_totals(rows)["params"]
    activations = sum(math.prod(row.output_shape) for row in rows)
    return 4 * (3 * params + batch_size * activations * 2) / 2**20


def check_model_size(
    rows: list[LayerRow],
    limits: Limits | None = None,
    batch_size: int = 64,
    max_memory_mb: float = 8192.0,
) -> None:
    """Refuse, before training, a network over the server's parameter limit or one whose
    training would not fit in ``max_memory_mb`` at this batch size."""
    limits = limits or load_limits()
    params = table_totals(rows)["params"]
    if params > limits.max_model_params:
        raise LayerLabError(
            f"This network has {params:,} parameters; the limit on this server is "
            f"{limits.max_model_params:,}. Use fewer filters or units, or global average pooling "
            "instead of flatten (the dense layer after flatten usually holds most weights)."
        )
    memory = estimate_training_memory_mb(rows, batch_size)
    if memory > max_memory_mb:
        raise LayerLabError(
            f"Training this network with batch size {batch_size} needs about {memory:,.0f} MB; "
            f"the budget is {max_memory_mb:,.0f} MB. Use a smaller batch size, a smaller image "
            "size, or fewer filters, blocks or units."
        )


def model_diagram(
    model: ModelSpec,
    input_shape: Shape,
    num_classes: int,
    augment: AugmentSpec = AugmentSpec(),  # noqa: B008 - frozen dataclass, safe as default
) -> str:
    """A left-to-right graphviz DOT graph (for ``st.graphviz_chart``): one box per layer group
    (input, preprocessing, each conv block, head, each dense layer, output) with its shape."""
    groups: dict[str, tuple[str, str, list[LayerRow]]] = {}
    for row in layer_table(model, input_shape, num_classes, augment):
        for pattern, key, title, color in _GROUPS:
            match = re.fullmatch(pattern, row.name)
            if match:
                number = next((g for g in match.groups() if g), "")
                key, title = key.format(number), title.format(number)
                groups.setdefault(key, (title, color, []))[2].append(row)
                break
    lines = [
        "digraph network {",
        "  rankdir=LR; nodesep=0.25; ranksep=0.35;",
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11];',
        '  edge [color="#777777", arrowsize=0.7];',
    ]
    for key, (title, color, rows) in groups.items():
        lines.append(f'  {key} [label="{_group_label(title, rows)}", fillcolor="{color}"];')
    lines.append("  " + " -> ".join(groups) + ";")
    return "\n".join([*lines, "}", ""])


_GROUPS = (  # row name pattern, node id, title, fill colour
    (r"input", "input", "Input", "#eeeeee"),
    (r"rescaling|augmentation|to_rgb|resize", "prep", "Preprocessing", "#eeeeee"),
    (r"MobileNetV3Small", "backbone", "MobileNetV3Small", "#dbe9fb"),
    (r"efficientnetb0", "backbone", "EfficientNetB0", "#dbe9fb"),
    (r"(?:conv|bn)(\d+)_\d+|(?:pool|dropout)(\d+)", "block{}", "Conv block {}", "#dbe9fb"),
    (r"flatten|global_pool", "head", "", "#fdf1c7"),
    (r"dense(?:_dropout)?(\d+)", "dense{}", "", "#dff3e0"),
    (r"predictions", "output", "Output", "#fde0c8"),
)


def _group_label(title: str, rows: list[LayerRow]) -> str:
    counts: dict[str, int] = {}
    for row in rows:
        conv = row.kind.startswith("Conv")
        kind = f"{row.kind}, {row.output_shape[-1]} filters" if conv else row.kind
        counts[kind] = counts.get(kind, 0) + 1
    parts = [title] if title else []
    parts += [f"{n} x {kind}" if n > 1 else kind for kind, n in counts.items() if kind != title]
    params = sum(row.params for row in rows)
    shape = " x ".join(str(n) for n in rows[-1].output_shape)  # as the layer table writes it
    parts.append(f"→ {shape}" + (f" ({params:,} params)" if params else ""))
    return "\\n".join(part.replace('"', "'") for part in parts)
