"""The one place for backend-specific code: seeding, devices, GPU memory, training precision,
gradients (for heat maps) and the errors a training job reports to learners (out of memory,
disk full).

Everything else in dlcore speaks Keras 3 only, so ``KERAS_BACKEND=jax`` or ``torch`` also runs.
TensorFlow is imported only when it is the Keras backend.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from dlcore.storage import DISK_FULL_ERRNOS, disk_full_message

OOM_MESSAGE = (
    "Out of memory while training: use a smaller batch size or a smaller network (fewer "
    "filters, units or layers), or a smaller image size."
)
_OOM_TEXT = ("RESOURCE_EXHAUSTED", "OUT_OF_MEMORY", "OOM WHEN ALLOCATING", "OUT OF MEMORY")
_DISK_FULL_TEXT = ("NO SPACE LEFT ON DEVICE", "DISK QUOTA EXCEEDED")
BFLOAT16_CPU_FLAGS = {"avx512_bf16", "amx_bf16"}  # /proc/cpuinfo flags of native bfloat16


def backend_name() -> str:
    """The Keras backend in use: "tensorflow", "jax" or "torch"."""
    import keras

    return keras.backend.backend()


def configure(seed: int) -> str:
    """Prepare this process for reproducible training and describe the device it will use,
    e.g. "GPU (NVIDIA H100 80GB HBM3)" or "CPU". Call once, before building a model."""
    import keras

    devices = {"tensorflow": _configure_tensorflow, "jax": _jax_device, "torch": _torch_device}
    device = devices.get(backend_name(), lambda: "CPU")()
    keras.utils.set_random_seed(seed)  # Python, NumPy and the backend's generator
    return device


def cpu_has_bfloat16(cpuinfo: str | None = None) -> bool:
    """Whether this CPU computes in bfloat16 natively (AVX512_BF16 or AMX), read from the
    flags in ``/proc/cpuinfo`` (or the text given); False where that file does not exist."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            return False
    flags = set(re.findall(r"[a-z0-9_]+", " ".join(re.findall(r"(?m)^flags\s*:(.*)$", cpuinfo))))
    return bool(flags & BFLOAT16_CPU_FLAGS)


# "auto" keeps a network with less arithmetic than this per image (multiply-adds) in float32:
# there bfloat16 saves no time worth having, and its 8-bit mantissa costs a small network
# accuracy (a one-block net on the 8x8 digits: 41% after 3 epochs against 58% in float32).
# LeNet on 28x28 has about 2.3 million and trains 1.5-2x faster in bfloat16 at equal accuracy.
BFLOAT16_MIN_CONNECTIONS = 1_000_000


def training_precision(requested: str, connections: int | None = None) -> str:
    """The precision a job trains in, "float32" or "bfloat16", for a TrainSpec's ``precision``:
    "auto" is bfloat16 where the backend is TensorFlow or JAX and the device computes in it
    natively (a CPU with AVX512_BF16 or AMX, a GPU of compute capability 8.0 or newer), float32
    elsewhere, where emulated bfloat16 would be slower, and for a network of fewer than
    ``BFLOAT16_MIN_CONNECTIONS`` multiply-adds per image (``connections``, when known)."""
    if requested != "auto":
        return requested
    if connections is not None and connections < BFLOAT16_MIN_CONNECTIONS:
        return "float32"
    name = backend_name()
    if name not in ("tensorflow", "jax"):
        return "float32"
    gpu = _tensorflow_gpu_bfloat16 if name == "tensorflow" else _jax_gpu_bfloat16
    has_gpu, gpu_bf16 = gpu()
    native = gpu_bf16 if has_gpu else cpu_has_bfloat16()
    return "bfloat16" if native else "float32"


def _tensorflow_gpu_bfloat16() -> tuple[bool, bool]:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return False, False
    capability = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability")
    return True, bool(capability) and tuple(capability) >= (8, 0)


def _jax_gpu_bfloat16() -> tuple[bool, bool]:
    import jax

    device = jax.devices()[0]
    if device.platform == "cpu":
        return False, False
    capability = getattr(device, "compute_capability", "") or ""
    major = capability.split(".")[0]
    return True, device.platform == "tpu" or (major.isdigit() and int(major) >= 8)


@contextmanager
def precision_policy(precision: str) -> Iterator[None]:
    """Build and train in ``precision`` ("float32" or "bfloat16", as ``training_precision``
    resolves it) inside the block: Keras's mixed_bfloat16 policy keeps the weights in float32
    and computes in bfloat16. The policy is global to the process, so the one in force before
    comes back afterwards; a forked job's policy never reaches its parent."""
    import keras

    before = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(
        "mixed_bfloat16" if precision == "bfloat16" else "float32"
    )
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(before)


def _configure_tensorflow() -> str:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        # Grow GPU memory as needed so several jobs can share one GPU; TensorFlow refuses the
        # change once the GPU is initialised, which only happens if this is called twice.
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:
            pass
    tf.config.experimental.enable_op_determinism()
    if not gpus:
        return "CPU"
    details = tf.config.experimental.get_device_details(gpus[0])
    return f"GPU ({details.get('device_name', gpus[0].name)})"


def _jax_device() -> str:
    import jax

    device = jax.devices()[0]
    if device.platform == "cpu":
        return "CPU"
    return f"{device.platform.upper()} ({device.device_kind})"


def _torch_device() -> str:
    import torch

    if torch.cuda.is_available():
        return f"GPU ({torch.cuda.get_device_name(0)})"
    return "CPU"


def describe_error(exc: BaseException, doing: str = "training") -> str | None:
    """A learner-friendly message if ``exc`` (or an error it was raised from) means the device
    ran out of memory, whatever the backend, or the disk is full while ``doing``; else None."""
    seen = 0
    while exc is not None and seen < 10:
        # Disk first: TensorFlow reports a full disk (ENOSPC) as RESOURCE_EXHAUSTED too.
        if _is_disk_full(exc):
            return disk_full_message(doing, getattr(exc, "strerror", None))
        if _is_out_of_memory(exc):
            return OOM_MESSAGE
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def _is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
        return True
    text = str(exc).upper()
    return any(marker in text for marker in _DISK_FULL_TEXT)


def _is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    # A framework's error can only come from a framework already loaded: look it up, never import.
    tf = sys.modules.get("tensorflow")
    if tf is not None and isinstance(exc, tf.errors.ResourceExhaustedError):
        return True
    torch = sys.modules.get("torch")
    oom_type = getattr(getattr(torch, "cuda", None), "OutOfMemoryError", None)
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    text = str(exc).upper()
    return any(marker in text for marker in _OOM_TEXT)


def gradients(function, inputs: np.ndarray) -> np.ndarray:
    """The gradient of ``sum(function(x))`` with respect to ``x`` at ``inputs``, as a float32
    NumPy array of the inputs' shape. ``function`` takes and returns backend tensors (a Keras
    model or layers called on them, ``keras.ops``). Summing makes it one gradient per image
    of a batch, since images do not mix in inference."""
    inputs = np.asarray(inputs, dtype=np.float32)
    compute = {"jax": _jax_gradients, "torch": _torch_gradients}.get(
        backend_name(), _tensorflow_gradients
    )
    return np.asarray(compute(function, inputs), dtype=np.float32)


def _tensorflow_gradients(function, inputs):
    import tensorflow as tf

    x = tf.convert_to_tensor(inputs)
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(function(x))
    return tape.gradient(total, x).numpy()


def _jax_gradients(function, inputs):
    import jax
    import jax.numpy as jnp

    return jax.grad(lambda x: jnp.sum(function(x)))(jnp.asarray(inputs))


def _torch_gradients(function, inputs):
    import keras
    import torch

    # convert_to_tensor puts the input on the device Keras uses (a GPU if there is one).
    x = keras.ops.convert_to_tensor(inputs).detach().requires_grad_(True)
    with torch.enable_grad():
        (gradient,) = torch.autograd.grad(function(x).sum(), x)
    return gradient.detach().cpu().numpy()


def tflite_unavailable() -> str | None:
    """Why this process cannot write TensorFlow Lite files, or None when it can."""
    name = backend_name()
    if name == "tensorflow":
        return None
    return (
        f"TensorFlow Lite export needs Keras's TensorFlow backend; this process runs Keras on "
        f"{name}. Export on a machine with TensorFlow installed: `KERAS_BACKEND=tensorflow "
        "dlcore export RUN --tflite FILE`."
    )


def tflite_model(model, representative_images=None) -> bytes:
    """The model as a TensorFlow Lite flatbuffer. With ``representative_images`` (uint8 or
    float images as the model takes them) it is quantised after training: int8 weights and
    activations, calibrated on those images, with float input and output so callers feed the
    same pixels as to the Keras model. LayerLabError on a backend without the converter."""
    import tempfile

    from dlcore import LayerLabError

    reason = tflite_unavailable()
    if reason:
        raise LayerLabError(reason)
    import numpy as np
    import tensorflow as tf

    # Built-in TFLite ops only: a file with TensorFlow ("Flex") ops would not run on a phone.
    options: dict = {"target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}}
    if representative_images is not None:
        images = np.asarray(representative_images, dtype=np.float32)

        def representative():
            for image in images:
                yield [image[None]]

        options |= {"optimizations": [tf.lite.Optimize.DEFAULT]}
        options |= {"representative_dataset": representative}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.tflite"
        model.export(str(path), format="litert", verbose=False, **options)
        return path.read_bytes()
