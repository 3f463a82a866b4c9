"""The PNG files of ``dlcore explain``: the input, each conv layer's filters, each conv and
pooling layer's feature maps and the heat map, enlarged so that small maps stay visible."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from dlcore.results.explain import Inside, conv_layer_names, filter_images, inside
from dlcore.results.explain_images import as_rgb, feature_image, image_grid, overlay


def _file_name(kind: str, layer_name: str) -> str:
    return f"{kind}_{re.sub(r'[^A-Za-z0-9_.-]', '_', layer_name)}.png"


def _pictures(model, image: np.ndarray, result: Inside) -> dict[str, np.ndarray]:
    """The PNGs of ``explain_run`` by file name, enlarged so that small maps stay visible."""
    scale = max(1, 224 // max(image.shape[:2]))
    pictures = {
        "input.png": image_grid(as_rgb(image)[None], scale=scale, gap=0),
        "heat.png": image_grid(overlay(image, result.heat)[None], scale=scale, gap=0),
    }
    names = conv_layer_names(model)
    for name in names:
        tiles = filter_images(model, name)
        size = tiles.shape[2] if name != names[0] else tiles.shape[1]
        columns = None
        if name != names[0] or (tiles.ndim == 4 and tiles.shape[-1] != 3):
            columns = tiles.shape[1]  # a row per filter, a column per input channel
            tiles = tiles.reshape(-1, size, size)
        pictures[_file_name("filters", name)] = image_grid(tiles, columns, max(1, 24 // size))
    for view in result.layers:
        if view.values.ndim == 3:
            scale = max(1, 64 // max(view.values.shape[1:]))
            pictures[_file_name("features", view.name)] = image_grid(
                feature_image(view.values), scale=scale
            )
    return pictures


def explain_run(run_id: str, source, folder: Path, digit_mode: bool = False) -> dict:
    """``dlcore explain``: prepare the image ``source`` as the run's training images, write
    its input, filters, feature maps and heat map as PNGs into ``folder``, and return the
    prediction, the heat map's peak [row, column] in the input's pixels and the files."""
    from PIL import Image

    from dlcore.results.inference import load_run_model, prepare_for_run, run_preparation

    info = run_preparation(run_id)
    image = prepare_for_run(source, info, digit_mode)
    model = load_run_model(run_id)
    result = inside(model, image)
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for name, picture in _pictures(model, image, result).items():
        Image.fromarray(picture).save(folder / name)
        files.append(str(folder / name))
    classes = info["classes"]
    return {
        "run_id": run_id,
        "image": str(source),
        "label": classes[result.predicted],
        "predicted": result.predicted,
        "probability": float(result.probabilities[result.predicted]),
        "probabilities": dict(zip(classes, map(float, result.probabilities), strict=True)),
        "heat_method": result.heat_method,
        "heat_peak": list(result.heat_peak),
        "layers": [{"name": v.name, "kind": v.kind, "shape": list(v.shape)} for v in result.layers],
        "files": files,
    }
