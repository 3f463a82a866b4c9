"""Seeding, the device description and friendly out-of-memory messages."""

from __future__ import annotations

import errno

import numpy as np
import pytest

from dlcore import backend
from dlcore.model.build import build_model
from dlcore.spec import preset_model


def test_backend_name_is_keras_backend(keras):
    assert backend.backend_name() == keras.backend.backend()


def test_configure_describes_this_cpu_machine():
    if backend.backend_name() == "tensorflow":
        import tensorflow as tf

        if tf.config.list_physical_devices("GPU"):
            pytest.skip("this machine has a GPU")
    assert backend.configure(0) == "CPU"


def test_same_seed_gives_same_initial_weights():
    def weights(seed: int) -> list[np.ndarray]:
        backend.configure(seed)
        model = build_model(preset_model("lenet"), (28, 28, 1), 10)
        return [np.asarray(w) for w in model.get_weights()]

    first, again, other = weights(3), weights(3), weights(4)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


@pytest.mark.parametrize(
    "error",
    [
        MemoryError(),
        RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 1.2GiB."),
        RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"),
    ],
)
def test_out_of_memory_errors_get_the_friendly_message(error):
    message = backend.describe_error(error)
    assert message == backend.OOM_MESSAGE
    assert "batch size" in message and "smaller network" in message


def test_tensorflow_resource_exhausted_and_chained_errors():
    tf = pytest.importorskip("tensorflow")
    oom = tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")
    assert backend.describe_error(oom) == backend.OOM_MESSAGE
    try:
        try:
            raise oom
        except tf.errors.ResourceExhaustedError as inner:
            raise RuntimeError("training failed") from inner
    except RuntimeError as outer:
        assert backend.describe_error(outer) == backend.OOM_MESSAGE


def test_a_full_disk_is_not_taken_for_out_of_memory():
    tf = pytest.importorskip("tensorflow")
    full = OSError(errno.ENOSPC, "No space left on device")
    assert backend.describe_error(full).startswith("The disk is full while training")
    quota = OSError(errno.EDQUOT, "Disk quota exceeded")
    assert "delete runs or datasets" in backend.describe_error(quota, doing="saving the model")
    # TensorFlow reports ENOSPC as RESOURCE_EXHAUSTED, the same class as out of memory.
    written = tf.errors.ResourceExhaustedError(None, None, "best.keras; No space left on device")
    assert backend.describe_error(written).startswith("The disk is full")


@pytest.mark.parametrize("error", [ValueError("bad label"), KeyError("x"), RuntimeError("nan")])
def test_other_errors_are_not_described(error):
    assert backend.describe_error(error) is None
