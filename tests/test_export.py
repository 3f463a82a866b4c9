"""Exports of a run: the training script reproduces the job, TensorFlow Lite agrees with Keras.

One run that really learns (digits, a conv block with batch norm and dropout, augmentation, a
subset of the training images) is trained once in this process, as its worker would train it.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dlcore import LayerLabError
from dlcore.cli import main
from dlcore.results import export
from dlcore.spec import (
    AugmentSpec,
    ConvBlock,
    DataSpec,
    DenseLayer,
    Experiment,
    ModelSpec,
    TrainSpec,
    preset_model,
)

ROOT = Path(__file__).resolve().parents[1]
LEARNING = Experiment(
    data=DataSpec(dataset="digits", max_train_images=600),
    model=ModelSpec(
        preset="custom",
        conv_blocks=(ConvBlock(filters=8, batch_norm=True, dropout_rate=0.1),),
        dense_layers=(DenseLayer(32, dropout_rate=0.2),),
    ),
    augment=AugmentSpec(shift=0.1),
    # float32 as the exported script trains ("auto" may pick bfloat16, whose rounding takes
    # another path through the same seeds)
    training=TrainSpec(epochs=6, batch_size=32, learning_rate=0.003, seed=3, precision="float32"),
)


@pytest.fixture(scope="module")
def learned_home(tmp_path_factory):
    """(home, run id) of LEARNING trained in this process, in a data directory of its own."""
    from dlcore.train import jobs, worker
    from dlcore.train.runs import record_worker, run_path

    home = tmp_path_factory.mktemp("export-home")
    before = os.environ.get("LAYERLAB_HOME")
    os.environ["LAYERLAB_HOME"] = str(home)
    try:
        run_id = jobs.create_run(LEARNING)
        path = run_path(run_id)
        record_worker(path, os.getpid())  # this process is the run's worker
        assert worker.main([str(path)]) == 0
    finally:
        os.environ["LAYERLAB_HOME"] = before or ""
    return home, run_id


@pytest.fixture
def learned(learned_home, monkeypatch):
    monkeypatch.setenv("LAYERLAB_HOME", str(learned_home[0]))
    return learned_home[1]


def _run_script(path: Path) -> str:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ""}
    result = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, env=env, cwd=path.parent,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_exported_script_reaches_the_jobs_validation_accuracy(learned, tmp_path):
    from dlcore.train.runs import read_status

    job_accuracy = read_status(learned).val_accuracy
    assert job_accuracy > 0.5  # it learned: a real oracle, not two runs at chance
    paths = export.export_script(learned, tmp_path)
    assert paths["script"].name == f"train_{learned}.py"
    assert paths["data"].name == f"{learned}_data.npz"
    text = paths["script"].read_text()
    imports = set(re.findall(r"^(?:import|from) (\w+)", text, flags=re.MULTILINE))
    assert imports <= {"keras", "numpy", "os", "sys", "pathlib"}, imports
    for concept in ("Convolution", "Pooling", "ReLU", "Softmax", "Cross-entropy", "Mini-batch",
                    "epoch", "validation set", "Overfitting", "Dropout", "Data augmentation",
                    "Batch normalization"):  # fmt: skip
        assert concept in text, concept
    with np.load(paths["data"]) as data:
        assert len(data["x_train"]) == 600 and data["x_train"].dtype == np.uint8
        assert list(data["class_names"]) == [str(i) for i in range(10)]

    output = _run_script(paths["script"])
    script_accuracy = float(re.search(r"validation accuracy: ([\d.]+)", output).group(1))
    print(f"job val_accuracy {job_accuracy:.4f}, exported script {script_accuracy:.4f}")
    assert abs(script_accuracy - job_accuracy) <= 0.02
    assert "Total params" in output and "test accuracy" in output


def _layers(model) -> list[tuple]:
    return [
        (layer.name, type(layer).__name__, layer.count_params(), _config(layer))
        for layer in model.layers
    ]


def _config(layer) -> dict:
    config = layer.get_config()
    config.pop("seed", None)  # random layers draw a seed when none is given
    return config


@pytest.mark.parametrize(
    "experiment",
    [
        Experiment(model=preset_model("vgg-bn"), augment=AugmentSpec(
            flip="horizontal", rotation=0.1, shift=0.1, zoom=0.1, contrast=0.2, noise=0.05)),
        Experiment(model=preset_model("mlp"), training=TrainSpec(optimizer="rmsprop")),
        Experiment(
            model=ModelSpec(
                preset="custom",
                conv_blocks=(
                    ConvBlock(filters=6, kernel_size=5, strides=2, padding="valid",
                              activation="tanh", pooling="average", pool_size=3),
                    ConvBlock(filters=4, num_convs=2, activation="elu", pooling="none"),
                ),
                head="global_max",
                dense_layers=(DenseLayer(12, activation="sigmoid"),),
            ),
            training=TrainSpec(early_stopping_patience=2, optimizer="sgd"),
        ),
        Experiment(model=preset_model("mlp"), training=TrainSpec(
            epochs=4, lr_schedule="cosine", warmup_epochs=1.0, optimizer="adamw")),
    ],
    ids=["vgg-bn-augmented", "mlp", "custom-early-stopping", "mlp-cosine"],
)  # fmt: skip
def test_script_builds_the_same_network_as_build_model(experiment, tmp_path):
    """The script's network, executed, equals build_model's layer for layer: names, types,
    parameters and every setting (kernel, stride, padding, activation, rates, factors)."""
    from dlcore.model.build import build_model
    from dlcore.results.scriptgen import script_text

    shape, num_classes = (32, 32, 3), 5
    text = script_text(experiment, shape, num_classes, "r1", "r1_data.npz", "train_r1.py")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(6, *shape), dtype=np.uint8)
    y = np.arange(6) % num_classes
    np.savez(tmp_path / "r1_data.npz", x_train=x, y_train=y, x_val=x, y_val=y,
             class_names=np.array([f"c{i}" for i in range(num_classes)]))  # fmt: skip
    network = text.split("\n# Cross-entropy")[0]  # everything before training
    namespace = {"__file__": str(tmp_path / "train_r1.py"), "__name__": "exported"}
    exec(compile(network, "train_r1.py", "exec"), namespace)  # noqa: S102 - our own script
    expected = build_model(experiment.model, shape, num_classes, experiment.augment)
    assert _layers(namespace["model"]) == _layers(expected)
    assert namespace["model"].name == expected.name
    compile(text, "train_r1.py", "exec")  # the whole script is valid Python
    if experiment.training.early_stopping_patience:
        assert "EarlyStopping" in text and "patience=2" in text
    assert f"SEED = {experiment.training.seed}" in text
    if experiment.training.lr_schedule != "constant":  # 6 images: one iteration per epoch
        from dlcore.model.schedules import learning_rate_at

        schedule = namespace["learning_rate"]
        for step in range(experiment.training.epochs):
            rate = float(np.asarray(schedule(step)))
            assert rate == pytest.approx(learning_rate_at(experiment.training, step, 1), abs=1e-8)
        assert "AdamW(learning_rate=learning_rate)" in text


def test_a_run_name_cannot_break_out_of_the_scripts_docstring():
    from dlcore.results.scriptgen import script_text

    hostile = Experiment(name='x"""\nimport os; os.system("echo pwned")\n"""')
    text = script_text(hostile, (8, 8, 1), 10, "r1", "r1_data.npz", "train_r1.py")
    module = ast.parse(text)
    assert "pwned" in ast.get_docstring(module)  # the name stays inside the docstring
    assert all("pwned" not in ast.unparse(node) for node in module.body[1:])


def _tflite_predictions(content: bytes, images: np.ndarray) -> np.ndarray:
    tf = pytest.importorskip("tensorflow")
    interpreter = tf.lite.Interpreter(model_content=content)
    runner = interpreter.get_signature_runner()
    (name,) = runner.get_input_details()
    outputs = [runner(**{name: image[None].astype(np.float32)}) for image in images]
    return np.concatenate([next(iter(out.values())) for out in outputs])


def test_tflite_float_and_int8_agree_with_keras(learned, tmp_path):
    from dlcore.train.run_outputs import read_model

    images = export.training_arrays(learned)["x_val"][:200]
    expected = read_model(learned).predict(images, verbose=0).argmax(axis=1)
    figures = {}
    for int8 in (False, True):
        written = export.export_tflite(learned, tmp_path / f"m{int8:d}.tflite", int8=int8)
        content = Path(written["path"]).read_bytes()
        assert written["size_bytes"] == len(content) > 0
        predicted = _tflite_predictions(content, images).argmax(axis=1)
        figures[int8] = (float(np.mean(predicted == expected)), len(content))
    print(f"TFLite float agreement {figures[False][0]:.3f} ({figures[False][1]} bytes), "
          f"int8 {figures[True][0]:.3f} ({figures[True][1]} bytes)")  # fmt: skip
    assert figures[False][0] >= 0.99
    # int8 rounds every weight and activation: on this small, 85%-accurate test network a few
    # near-ties flip (97.5% measured); on LeNet it agrees on 99% (see the closing note)
    assert figures[True][0] >= 0.95


def test_model_summary_names_every_layer(learned):
    summary = export.model_summary(learned)
    for name in ("conv1_1", "bn1_1", "pool1", "dropout1", "flatten", "dense1", "predictions"):
        assert name in summary
    assert "Total params" in summary and "…" not in summary  # not cut at the console's width


def test_export_files_lists_each_download_with_its_size(learned):
    files = {row["name"]: row for row in export.export_files(learned)}
    assert files[f"{learned}.keras"]["size_bytes"] > 1000
    assert {f"train_{learned}.py", f"{learned}_data.npz", f"{learned}.tflite"} <= set(files)
    assert all(row["available"] and row["description"] for row in files.values())


def test_tflite_on_another_backend_says_what_to_do(learned, monkeypatch, tmp_path):
    from dlcore import backend

    monkeypatch.setattr(backend, "backend_name", lambda: "jax")
    with pytest.raises(LayerLabError, match="KERAS_BACKEND=tensorflow dlcore export"):
        export.export_tflite(learned, tmp_path / "m.tflite")
    tflite = {row["name"]: row for row in export.export_files(learned)}[f"{learned}.tflite"]
    assert not tflite["available"] and "TensorFlow backend" in tflite["note"]


def test_cli_export_writes_script_and_int8_tflite(learned, tmp_path, capsys):
    script, tflite = tmp_path / "mine.py", tmp_path / "model.tflite"
    argv = ["export", learned, "--script", str(script), "--tflite", str(tflite), "--int8"]
    assert main([*argv, "--json"]) == 0
    files = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert files["script"]["path"] == str(script) and script.is_file()
    assert Path(files["data"]["path"]) == tmp_path / f"{learned}_data.npz"
    assert files["tflite"]["size_bytes"] == tflite.stat().st_size
    assert f"{learned}_data.npz" in script.read_text()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--int8"], "give --tflite FILE too"),
        ([], "Nothing to export"),
        (["--tflite", "model.bin"], "does not end in .tflite"),
    ],
)
def test_cli_export_bad_usage_is_one_line(learned, argv, message, capsys):
    assert main(["export", learned, *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_export_of_a_run_whose_dataset_changed_is_refused(learned, monkeypatch):
    from dlcore.train import runs

    info = runs.read_dataset_info(learned)
    monkeypatch.setattr(runs, "read_dataset_info", lambda run_id: info | {"classes": ["a", "b"]})
    with pytest.raises(LayerLabError, match="has changed since run"):
        export.training_arrays(learned)
