"""The built-in datasets that are downloaded: four through ``keras.datasets`` and the
cats-vs-dogs ZIP. Without a network the download fails in seconds with what to do instead.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from dlcore import LayerLabError
from dlcore.data.arrays import dataset_from_arrays
from dlcore.data.builtin import BUILTINS, CATS_URL, DIGIT_SETS
from dlcore.data.dataset import Dataset
from dlcore.data.images import PrepSettings
from dlcore.data.importer import dataset_from_zip
from dlcore.runtime import keep_caches_in_data_dir
from dlcore.storage import cache_dir, datasets_dir


class DatasetUnavailable(LayerLabError):
    """A built-in dataset needs a download this machine cannot make. ``offline``: because its
    host cannot be reached at all (no internet here), not because the download itself failed."""

    def __init__(self, message: str, offline: bool = False) -> None:
        super().__init__(message)
        self.offline = offline


def _offline_message(name: str, reason: object) -> str:
    return (
        f"Could not download the {BUILTINS[name]['title']} dataset ({reason}): this machine "
        f"cannot download. On a connected machine run `dlcore fetch {name}` and copy its "
        f"$LAYERLAB_HOME/datasets/{name} folder to {datasets_dir() / name}, or import the "
        "images yourself (a ZIP, a folder or an .npz)."
    )


def check_network(name: str) -> None:
    """Fail in seconds, not minutes, when the download host cannot be reached."""
    entry = BUILTINS[name]
    proxied = any(os.environ.get(v) for v in ("https_proxy", "HTTPS_PROXY", "all_proxy"))
    if proxied or any(cache_dir().rglob(entry["cached"])):
        return
    try:
        socket.create_connection((entry["host"], 443), timeout=3).close()
    except OSError as error:
        reason = f"{entry['host']}: {error}"
        raise DatasetUnavailable(_offline_message(name, reason), offline=True) from None


def import_keras() -> Any:
    keep_caches_in_data_dir()  # keras reads KERAS_HOME once, when first imported
    import keras

    return keras


def download(name: str) -> Dataset:
    """Download a Keras built-in (or the cats-vs-dogs ZIP) into an unsaved Dataset."""
    check_network(name)
    keras = import_keras()
    try:
        if name == "cats-vs-dogs":
            return _cats_vs_dogs(keras)
        loader = getattr(keras.datasets, name.replace("-", "_"))
        (x_train, y_train), (x_test, y_test) = loader.load_data()
    except Exception as error:  # keras.utils.get_file raises a bare Exception on URL failure
        if type(error) is not Exception and not isinstance(error, OSError | EOFError):
            raise
        raise DatasetUnavailable(_offline_message(name, error)) from None
    classes, digits = BUILTINS[name]["classes"], name in DIGIT_SETS
    return dataset_from_arrays(name, x_train, y_train, x_test, y_test, classes, digits=digits)


def _cats_vs_dogs(keras: Any) -> Dataset:
    path = keras.utils.get_file(
        "cats_and_dogs_filtered.zip", CATS_URL, cache_dir=str(cache_dir()), cache_subdir="keras"
    )
    return dataset_from_zip(path, "cats-vs-dogs", PrepSettings("color", 64, 64, "squash"))
