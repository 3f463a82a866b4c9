"""One rule for the weights a run keeps: the epoch with the highest validation accuracy, whether
the run completed, stopped early or was cancelled; early stopping only decides when to stop."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from pages_support import tiny_experiment

from dlcore.cli import main
from dlcore.results import summary
from dlcore.spec import TrainSpec
from dlcore.train import curves, jobs
from dlcore.train.callbacks import make_early_stopping, make_progress_callback
from dlcore.train.evaluation import read_evaluation
from dlcore.train.run_outputs import read_model
from dlcore.train.runs import read_status, run_path
from dlcore.train.worker import _save_final_model, run_job

# validation accuracy peaks at epoch 2, validation loss is lowest at epoch 3
EPOCH_LOGS = [
    {"loss": 1.0, "accuracy": 0.6, "val_loss": 0.9, "val_accuracy": 0.70},
    {"loss": 0.8, "accuracy": 0.7, "val_loss": 0.8, "val_accuracy": 0.80},
    {"loss": 0.6, "accuracy": 0.8, "val_loss": 0.5, "val_accuracy": 0.75},
    {"loss": 0.5, "accuracy": 0.9, "val_loss": 0.6, "val_accuracy": 0.74},
]


def _small_model(keras):
    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax", name="out")(inputs))


def test_the_highest_accuracy_epoch_is_kept_and_early_stopping_watches_accuracy(keras):
    """When the best accuracy and the lowest loss fall on different epochs, the saved model
    has the best accuracy's weights, and early stopping counts from that epoch."""
    experiment = dataclasses.replace(tiny_experiment(), training=TrainSpec(epochs=4))
    path = run_path(jobs.create_run(experiment))
    model = _small_model(keras)
    model.stop_training = False  # as fit() sets it
    progress = make_progress_callback(path, experiment, num_train=64)
    stopping = make_early_stopping(patience=1)
    for callback in (progress, stopping):
        callback.set_model(model)
        callback.on_train_begin()
    weights = {}
    for epoch, logs in enumerate(EPOCH_LOGS):
        model.get_layer("out").set_weights([np.full((4, 2), epoch + 1.0), np.zeros(2)])
        weights[epoch + 1] = model.get_weights()
        for callback in (progress, stopping):
            callback.on_epoch_end(epoch, dict(logs))
        if model.stop_training:
            break
    assert epoch + 1 == 3  # no rise in accuracy after epoch 2, with patience 1: stop after 3
    assert read_status(path.name).best_epoch == 2
    _save_final_model(path, model)  # the run's last weights are epoch 3's
    saved = read_model(path.name).get_weights()
    for kept, expected in zip(saved, weights[2], strict=True):
        np.testing.assert_array_equal(kept, expected)
    status = {"status": "completed", "best_epoch": 2}
    assert curves.kept_epoch(status) == 2
    note = curves.kept_epoch_note(status, summary.epoch_history(jobs.read_metrics(path.name)))
    assert "epoch 2, the one with the highest validation accuracy" in note
    assert "the curves go on to epoch 3 (validation accuracy 75.0%)" in note


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_a_run_with_early_stopping_reports_the_kept_epochs_accuracy(keras, precision):
    training = TrainSpec(
        epochs=6, batch_size=32, learning_rate=0.01, early_stopping_patience=1, precision=precision
    )
    run_id = jobs.create_run(dataclasses.replace(tiny_experiment(), training=training))
    assert run_job(run_path(run_id)) == 0
    status = jobs.status(run_id)
    epochs = summary.epoch_history(jobs.read_metrics(run_id))
    scores = list(zip(epochs["val_accuracy"], -epochs["val_loss"], strict=True))
    best = int(epochs["epoch"].iloc[scores.index(max(scores))])
    assert status["status"] == "completed" and status["best_epoch"] == best
    last = int(epochs["epoch"].iloc[-1])
    assert last - best <= 1  # it stops once the accuracy has not risen for 1 epoch
    logged = float(epochs.loc[epochs["epoch"] == best, "val_accuracy"].iloc[0])
    assert read_evaluation(run_id)["val"]["accuracy"] == pytest.approx(logged, abs=1e-6)
    assert status["val_accuracy"] == pytest.approx(logged, abs=1e-6)


def test_the_train_command_names_the_kept_epoch(keras, capsys, jobs_train_here):
    argv = ["train", "--dataset", "digits", "--model", "mlp", "--epochs", "2"]
    assert main([*argv, "--batch-size", "64"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    run_id = out[0].split(":")[0]
    kept = jobs.status(run_id)["best_epoch"]
    assert kept in (1, 2)
    assert out[-1].endswith(
        f"the saved weights are epoch {kept}'s, the one with the highest validation accuracy"
    )
    assert main([*argv, "--batch-size", "64", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["kept_epoch"] in (1, 2)
