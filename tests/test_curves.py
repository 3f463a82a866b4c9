"""dlcore.train.curves: per-batch loss from Keras's running means, smoothing, and the kept epoch
that every page names beside the validation accuracy."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from pages_support import tiny_experiment

from dlcore.results import summary
from dlcore.spec import TrainSpec
from dlcore.train import curves, jobs
from dlcore.train.evaluation import read_evaluation
from dlcore.train.runs import run_path
from dlcore.train.worker import run_job

STEPS_PER_EPOCH = 10


def _logged(losses: np.ndarray, logged: list[set[int]]) -> pd.DataFrame:
    """A metrics log as the worker writes it: for each epoch, Keras's running mean of the loss
    at the logged batches (1-based within the epoch; the last one always), then an epoch row."""
    rows = []
    for epoch, (epoch_losses, batches) in enumerate(zip(losses, logged, strict=True), start=1):
        for batch in sorted(batches | {STEPS_PER_EPOCH}):
            mean = float(np.mean(epoch_losses[:batch]))
            step = (epoch - 1) * STEPS_PER_EPOCH + batch
            rows.append({"kind": "batch", "epoch": epoch, "step": step, "loss": mean})
        rows.append({"kind": "epoch", "epoch": epoch, "step": epoch * STEPS_PER_EPOCH, "loss": 0.0})
    return pd.DataFrame(rows)


def test_batch_losses_recover_the_mean_of_each_logged_stretch():
    rng = np.random.default_rng(0)
    # the loss falls steadily over 3 epochs; Keras logs running means that reset each epoch
    losses = np.linspace(2.0, 0.2, 30).reshape(3, STEPS_PER_EPOCH) + rng.normal(0, 0.05, (3, 10))
    logged = [{1, 2, 3, 4, 5, 6, 7, 8, 9}, {3, 7}, {5}]
    frame = curves.batch_losses(_logged(losses, logged))
    expected = list(losses[0])  # every batch of epoch 1 logged: the batches' own losses
    expected += [losses[1, :3].mean(), losses[1, 3:7].mean(), losses[1, 7:].mean()]
    expected += [losses[2, :5].mean(), losses[2, 5:].mean()]
    assert list(frame.columns) == curves.BATCH_COLUMNS
    # each stretch's mean is drawn at its middle: batches 11-13 at 12, 14-17 at 15.5...
    assert frame["step"].tolist() == [*range(1, 11), 12, 15.5, 19, 23, 28]
    np.testing.assert_allclose(frame["loss"], expected, rtol=1e-9)


def test_batch_losses_during_the_first_epoch_and_on_an_empty_log():
    losses = np.array([[3.0, 1.0, 2.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]])
    log = _logged(losses, [{2, 4}])
    during = log[(log["kind"] == "batch") & (log["step"] <= 4)]  # no epoch row yet
    np.testing.assert_allclose(curves.batch_losses(during)["loss"], [2.0, 2.0])
    assert curves.batch_losses(pd.DataFrame()).empty
    assert curves.batch_losses(log.iloc[:0]).empty


def test_batch_losses_are_thinned_keeping_the_last_point():
    losses = np.ones((3, STEPS_PER_EPOCH))
    frame = curves.batch_losses(_logged(losses, [set(range(1, 10))] * 3), max_points=7)
    assert len(frame) <= 8 and frame["step"].iloc[-1] == 30  # every batch logged: no stretch


def test_smoothing_is_debiased_like_tensorboard():
    smoothed = curves.smooth(np.array([1.0, 1.0, 1.0]))
    np.testing.assert_allclose(smoothed, [1.0, 1.0, 1.0])  # no pull towards zero at the start
    falling = curves.smooth(np.array([4.0, 0.0]), weight=0.5)
    assert falling[0] == 4.0 and 0.0 < falling[1] < 4.0


def _epochs(val_accuracy, val_loss) -> pd.DataFrame:
    count = len(val_accuracy)
    return pd.DataFrame(
        {
            "epoch": range(1, count + 1),
            "loss": np.linspace(1, 0.1, count),
            "accuracy": np.linspace(0.5, 0.99, count),
            "val_loss": val_loss,
            "val_accuracy": val_accuracy,
        }
    )


def test_kept_epoch_follows_the_worker_rule_and_the_note_says_it_once():
    epochs = _epochs([0.70, 0.735, 0.72, 0.71], [0.9, 0.8, 0.7, 0.75])
    done = {"status": "completed", "best_epoch": 2}
    assert curves.kept_epoch(done) == 2
    note = curves.kept_epoch_note(done, epochs)
    assert note == (
        "The saved network has the weights of epoch 2, the one with the highest validation "
        "accuracy; the curves go on to epoch 4 (validation accuracy 71.0%), whose weights were "
        "not kept."
    )
    # one rule, however the run ended: the lowest validation loss (epoch 3) is not the rule
    for ended in ("completed", "cancelled"):
        assert curves.kept_epoch({"status": ended, "best_epoch": 2}) == 2
    last = {"status": "completed", "best_epoch": 4}
    assert curves.kept_epoch_note(last, epochs) == (
        "The saved network has the weights of epoch 4, the last one, which had the highest "
        "validation accuracy."
    )
    assert curves.kept_epoch({"status": "completed"}) is None
    assert curves.kept_epoch_note({"status": "completed"}, epochs.iloc[:0]) == ""


def test_a_run_of_one_epoch_names_its_only_epoch_not_a_best_one():
    epochs = _epochs([0.93], [0.2])
    done = {"status": "completed", "best_epoch": 1}
    note = curves.kept_epoch_note(done, epochs)
    assert note == "The saved network has the weights of epoch 1, the only epoch of the run."
    # cancelled during epoch 2: epoch 1 is the only one that ended
    cancelled = curves.kept_epoch_note({"status": "cancelled", "best_epoch": 1}, epochs)
    assert cancelled.endswith("epoch 1, the only epoch the run finished.")
    assert "highest" not in note + cancelled


@pytest.mark.parametrize("patience", [0, 1])
def test_the_reported_validation_accuracy_is_the_kept_epochs(patience):
    """The one rule holds on a real run: the validation accuracy the pages show (the saved
    network's evaluation) is the one the curves show at the epoch marked as kept."""
    experiment = tiny_experiment()
    training = TrainSpec(epochs=3, batch_size=32, early_stopping_patience=patience)
    run_id = jobs.create_run(dataclasses.replace(experiment, training=training))
    assert run_job(run_path(run_id)) == 0
    status = jobs.status(run_id)
    epochs = summary.epoch_history(jobs.read_metrics(run_id))
    kept = curves.kept_epoch(status)
    assert kept in set(epochs["epoch"])  # an epoch the log has
    logged = float(epochs.loc[epochs["epoch"] == kept, "val_accuracy"].iloc[0])
    evaluated = read_evaluation(run_id)["val"]["accuracy"]
    assert evaluated == pytest.approx(logged, abs=1e-6)
    assert status["val_accuracy"] == pytest.approx(logged, abs=1e-6)
