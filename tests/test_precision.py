"""Training precision: "auto" picks bfloat16 only where the device computes in it natively, the
policy stays inside the job, and every saved model is float32."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from pages_support import tiny_experiment

from dlcore import LayerLabError, backend
from dlcore.model.build import build_model
from dlcore.spec import AugmentSpec, Experiment, TrainSpec, preset_model
from dlcore.train import jobs
from dlcore.train.callbacks import Float32Twin
from dlcore.train.evaluation import read_evaluation
from dlcore.train.runs import BEST, MODEL, run_path
from dlcore.train.worker import run_job

CPUINFO = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f {extra}\nbugs\t\t: spectre_v1\n"


@pytest.mark.parametrize(
    ("extra", "native"),
    [("avx512_bf16", True), ("amx_bf16 amx_tile", True), ("avx512_vnni", False), ("", False)],
)
def test_the_cpu_flags_say_whether_bfloat16_is_native(extra, native):
    assert backend.cpu_has_bfloat16(CPUINFO.format(extra=extra)) is native
    assert backend.cpu_has_bfloat16("bugs : avx512_bf16\n") is False  # only the flags line counts


@pytest.mark.parametrize(
    ("name", "cpu_bf16", "expected"),
    [
        ("tensorflow", True, "bfloat16"),
        ("tensorflow", False, "float32"),
        ("jax", True, "bfloat16"),
        ("torch", True, "float32"),
    ],
)
def test_auto_is_bfloat16_only_on_native_hardware(monkeypatch, name, cpu_bf16, expected):
    monkeypatch.setattr(backend, "backend_name", lambda: name)
    monkeypatch.setattr(backend, "cpu_has_bfloat16", lambda: cpu_bf16)
    no_gpu = lambda: (False, False)  # noqa: E731
    monkeypatch.setattr(backend, "_tensorflow_gpu_bfloat16", no_gpu)
    monkeypatch.setattr(backend, "_jax_gpu_bfloat16", no_gpu)
    assert backend.training_precision("auto") == expected
    assert backend.training_precision("float32") == "float32"
    assert backend.training_precision("bfloat16") == "bfloat16"  # asked for: as asked


def test_auto_keeps_a_network_with_little_arithmetic_in_float32(monkeypatch):
    monkeypatch.setattr(backend, "backend_name", lambda: "tensorflow")
    monkeypatch.setattr(backend, "cpu_has_bfloat16", lambda: True)
    monkeypatch.setattr(backend, "_tensorflow_gpu_bfloat16", lambda: (False, False))
    assert backend.training_precision("auto", connections=13_002) == "float32"  # the MLP
    assert backend.training_precision("auto", connections=2_308_230) == "bfloat16"  # LeNet
    assert backend.training_precision("bfloat16", connections=13_002) == "bfloat16"  # as asked


def test_a_gpu_decides_for_itself(monkeypatch):
    monkeypatch.setattr(backend, "backend_name", lambda: "tensorflow")
    monkeypatch.setattr(backend, "cpu_has_bfloat16", lambda: True)
    monkeypatch.setattr(backend, "_tensorflow_gpu_bfloat16", lambda: (True, False))
    assert backend.training_precision("auto") == "float32"  # a GPU older than compute 8.0


def test_precision_is_a_spec_setting_and_old_specs_load():
    training = TrainSpec(precision="bfloat16")
    experiment = Experiment(training=training)
    assert Experiment.from_json(experiment.to_json()).training.precision == "bfloat16"
    old = Experiment().to_dict()
    del old["training"]["precision"]  # a spec saved before the setting existed
    assert Experiment.from_dict(old).training.precision == "auto"
    with pytest.raises(LayerLabError, match="Precision is 'float16'; choose one of auto, float32"):
        TrainSpec(precision="float16")


def test_the_policy_comes_back_after_the_block_even_on_error(keras):
    assert keras.mixed_precision.global_policy().name == "float32"
    with pytest.raises(RuntimeError), backend.precision_policy("bfloat16"):
        assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
        raise RuntimeError("training failed")
    assert keras.mixed_precision.global_policy().name == "float32"


def test_the_float32_twin_saves_what_bfloat16_trained(keras, tmp_path):
    """The network trains in bfloat16 with a float32 softmax; its saved copy is float32 from
    end to end and predicts the same to about 1e-2."""
    network = (preset_model("vgg-bn"), (16, 16, 3), 4, AugmentSpec(flip="horizontal", noise=0.1))
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (32, 16, 16, 3)).astype("float32")
    labels = np.arange(32) % 4
    with backend.precision_policy("bfloat16"):
        model = build_model(*network)
        assert model.get_layer("conv1_1").compute_dtype == "bfloat16"
        assert model.output.dtype == "float32"  # the softmax stays float32
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(images, labels, epochs=1, batch_size=8, verbose=0)
        twin = Float32Twin(network, (images, labels), batch=8)
        twin.save(model, tmp_path / "model.keras")
        mixed = model.predict(images, verbose=0)
    saved = keras.saving.load_model(tmp_path / "model.keras")
    assert {layer.dtype_policy.name for layer in saved.layers} == {"float32"}
    assert {weight.dtype for weight in saved.weights} == {"float32"}
    np.testing.assert_allclose(saved.predict(images, verbose=0), mixed, atol=2e-2)


def test_a_bfloat16_run_saves_float32_models_and_leaves_the_policy(keras):
    training = TrainSpec(epochs=2, batch_size=32, precision="bfloat16")
    run_id = jobs.create_run(dataclasses.replace(tiny_experiment(), training=training))
    assert run_job(run_path(run_id)) == 0
    status = jobs.status(run_id)
    assert status["status"] == "completed"
    assert keras.mixed_precision.global_policy().name == "float32"  # nothing leaked
    for name in (BEST, MODEL):
        saved = keras.saving.load_model(run_path(run_id) / name)
        assert {layer.dtype_policy.name for layer in saved.layers} == {"float32"}, name
    # the validation figures are the saved float32 network's: its evaluation says the same
    logged = [row for row in jobs.read_metrics(run_id).itertuples() if row.kind == "epoch"]
    kept = next(row for row in logged if row.epoch == status["best_epoch"])
    assert read_evaluation(run_id)["val"]["accuracy"] == pytest.approx(kept.val_accuracy)
