"""The Train page: settings become the experiment, Start runs a real job, the page follows it."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

from pages_support import (
    APP,
    OWNER,
    OWNER_ID,
    open_page,
    shared_tiny_run,
    texts,
    tiny_experiment,
)
from streamlit.testing.v1 import AppTest

from dlcore.attendees import new_key
from dlcore.spec import Experiment, TrainSpec
from dlcore.train import job_queue, jobs
from dlcore.train.runs import record_worker, run_path, write_status


def test_opens_cold_and_asks_for_a_dataset():
    at = open_page("train")
    assert not at.exception
    assert "Choose or import a dataset first." in at.info[0].value


def test_start_trains_and_the_page_follows_the_run():
    session = {"attendee": OWNER, "dataset": "digits", "experiment": tiny_experiment()}
    at = open_page("train", **session)
    assert not at.exception and not at.error
    assert at.slider(key="train_epochs").value == 1
    assert at.select_slider(key="train_images").value == 200
    next(b for b in at.button if b.label == "Start training").click().run()
    assert not at.exception and not at.error
    run_id = at.session_state["run_id"]
    assert at.query_params["run"] == run_id  # a reload of the page finds the run again
    assert any(
        s in texts(at) for s in ("**queued**", "**starting**", "**running**", "**completed**")
    )
    assert jobs.status(run_id)["owner"] == OWNER_ID  # her browser's id; her name is a label
    assert jobs.status(run_id)["owner_label"] == OWNER
    final = jobs.wait(run_id, timeout=120)
    assert final["status"] == "completed", final
    at.run()
    assert not at.exception
    assert "**completed**" in texts(at)
    # the rate's preview, epoch curves and loss per batch (a constant rate draws no line)
    assert len(at.get("vega_lite_chart")) == 3
    assert not any(b.label == "Cancel training" for b in at.button)
    spec = jobs.read_spec(run_id)
    assert isinstance(spec, Experiment) and spec.data.max_train_images == 200


def test_the_schedule_expander_names_the_schedule_just_chosen_and_stays_closed():
    session = {"attendee": OWNER, "dataset": "digits", "experiment": tiny_experiment()}
    at = open_page("train", **session)
    labels = [e.label for e in at.expander if e.label.startswith("Learning-rate schedule")]
    assert labels == ["Learning-rate schedule: constant"]
    at.selectbox(key="train_schedule").set_value("step").run()  # one run, as a click makes
    labels = [e.label for e in at.expander if e.label.startswith("Learning-rate schedule")]
    assert labels == ["Learning-rate schedule: step decay"]
    assert at.session_state["experiment"].training.lr_schedule == "step"


def test_settings_change_the_experiment_and_preview_augmentation():
    session = {"attendee": OWNER, "dataset": "digits", "experiment": tiny_experiment()}
    at = open_page("train", **session)
    at.select_slider(key="train_rate").set_value(0.01)
    at.selectbox(key="train_optimizer").set_value("sgd")
    at.toggle(key="aug_on").set_value(True).run()
    at.selectbox(key="aug_flip").set_value("horizontal")
    at.slider(key="aug_rotation").set_value(0.1).run()
    experiment = at.session_state["experiment"]
    assert experiment.training.learning_rate == 0.01 and experiment.training.optimizer == "sgd"
    assert experiment.augment.flip == "horizontal" and experiment.augment.rotation == 0.1
    next(b for b in at.button if b.label == "Preview augmented images").click().run()
    assert not at.exception and not at.error
    assert len(at.image) == 16  # four random versions of four training images


def test_a_reload_reattaches_to_the_run_in_the_url(tmp_path_factory, monkeypatch):
    home, run_id = shared_tiny_run(tmp_path_factory.getbasetemp())
    monkeypatch.setenv("LAYERLAB_HOME", str(home))
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["run"] = run_id  # a fresh session: only the URL knows the run
    at.switch_page("pages/train.py")
    at.run()
    assert not at.exception
    assert "Dataset **digits**" in texts(at)  # the run's settings come back with it
    assert f"Run {run_id}" in [s.value for s in at.subheader]
    assert "**completed**" in texts(at)


def test_only_the_owner_cancels_a_running_job():
    long = tiny_experiment()
    long = Experiment(
        data=long.data,
        model=long.model,
        training=TrainSpec(epochs=100, batch_size=8),
        owner=OWNER_ID,
    )
    run_id = jobs.submit(long, owner_label=OWNER)
    session = {"dataset": "digits", "run_id": run_id}
    for other in ({"attendee": "someone else"}, {"attendee": OWNER, "key": new_key()}):
        at = open_page("train", **other, **session)  # the same name in another browser too
        shown = texts(at)
        assert not at.exception and any(
            s in shown for s in ("**queued**", "**starting**", "**running**")
        )
        assert not [b for b in at.button if b.label == "Cancel training"]
    at = open_page("train", attendee=OWNER, **session)
    next(b for b in at.button if b.label == "Cancel training").click().run()
    assert not at.exception and not at.error
    final = jobs.wait(run_id, timeout=120)
    assert final["status"] == "cancelled", final
    at.run()
    assert "**cancelled**" in texts(at)


def test_a_run_whose_worker_died_shows_interrupted_after_a_reload():
    run_id = jobs.create_run(tiny_experiment())
    write_status(run_path(run_id), status="running", message="Training on CPU.")
    worker = subprocess.Popen([sys.executable, "-c", "pass"])  # a worker that has ended
    record_worker(run_path(run_id), worker.pid)
    worker.wait()
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["run"] = run_id  # the server restarted: only the URL knows the run
    at.switch_page("pages/train.py").run()
    assert not at.exception
    assert "**interrupted**" in texts(at) and "stopped unexpectedly" in texts(at)
    assert not any(b.label == "Cancel training" for b in at.button)


def test_the_instructor_cancels_anyone_s_job():
    run_id = jobs.create_run(tiny_experiment())  # ada's, queued behind a busy slot
    stand_in = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        record_worker(run_path(run_id), stand_in.pid)
        session = {"attendee": "bob", "dataset": "digits", "run_id": run_id}
        at = open_page("train", instructor=True, **session)
        next(b for b in at.button if b.label == "Cancel training").click().run()
        assert not at.exception and not at.error
        assert (run_path(run_id) / "cancel").exists()  # the worker stops at its next check
    finally:
        stand_in.kill()
        stand_in.wait()


def test_a_waiting_job_says_how_many_are_ahead_or_that_the_queue_is_paused():
    """No scheduler runs here, so the runs stay queued: the page reads the fair queue."""
    from dataclasses import replace

    for owner in ("a-first", "a-second"):
        jobs.create_run(replace(tiny_experiment(), owner=owner))
    run_id = jobs.create_run(tiny_experiment())
    session = {"attendee": OWNER, "dataset": "digits", "run_id": run_id}
    at = open_page("train", **session)
    assert not at.exception and "**queued** · 2 jobs ahead of you" in texts(at)
    jobs.pause_queue()
    at.run()
    assert "paused the queue" in texts(at) and "**starting**" not in texts(at)
    jobs.resume_queue()
    first = job_queue.queue_order()[0]
    at = open_page("train", **{**session, "run_id": first})
    assert "**starting**" in texts(at)  # nothing ahead of it and a slot free


def test_a_schedule_shows_its_preview_before_training():
    session = {"attendee": OWNER, "dataset": "digits", "experiment": tiny_experiment()}
    at = open_page("train", **session)
    assert at.selectbox(key="train_schedule").value == "constant"
    at.selectbox(key="train_schedule").set_value("step").run()
    at.number_input(key="train_decay_factor").set_value(0.1).run()
    assert not at.exception and not at.error
    training = at.session_state["experiment"].training
    assert training.lr_schedule == "step" and training.decay_factor == 0.1
    previews = [
        chart
        for chart in at.get("vega_lite_chart")
        if "Learning rate over the run" in chart.proto.spec
    ]
    assert len(previews) == 1
    assert "200 training images in batches of 32: 7 iterations per epoch" in texts(at)


def test_the_rate_a_scheduled_run_logged_is_drawn_under_its_loss():
    from dlcore.train.records import MetricRow
    from dlcore.train.run_outputs import append_metric

    run_id = jobs.create_run(tiny_experiment())
    path = run_path(run_id)
    for step, rate in ((1, 0.001), (7, 0.001), (8, 0.0001), (14, 0.0001)):
        row = MetricRow("batch", epoch=1 + step // 8, step=step, loss=1.0, progress=step / 14)
        append_metric(path, dataclasses.replace(row, extra={"learning_rate": rate}))
    write_status(path, status="completed", message="Finished.")
    session = {"attendee": OWNER, "dataset": "digits", "experiment": tiny_experiment()}
    at = open_page("train", run_id=run_id, **session)
    assert not at.exception and not at.error
    logged = [c for c in at.get("vega_lite_chart") if "Learning rate used" in c.proto.spec]
    assert len(logged) == 1


def test_a_finished_run_names_its_kept_epoch_and_plots_the_loss_per_batch():
    """One rule, said where the figure is: the validation accuracy is the kept epoch's, the
    curves mark that epoch, and the batch chart draws per-stretch losses, smoothed."""
    from dlcore.train.worker import run_job

    experiment = tiny_experiment()
    training = TrainSpec(epochs=2, batch_size=16)
    run_id = jobs.create_run(dataclasses.replace(experiment, training=training))
    assert run_job(run_path(run_id)) == 0
    status = jobs.status(run_id)
    session = {"attendee": OWNER, "dataset": "digits", "experiment": experiment}
    at = open_page("train", run_id=run_id, **session)
    assert not at.exception and not at.error
    (box,) = at.success
    kept = status["best_epoch"]
    assert f"Validation accuracy {status['val_accuracy']:.1%}." in box.value
    assert f"The saved network has the weights of epoch {kept}, the " in box.value
    assert "which had the highest validation accuracy" in box.value or (
        "the one with the highest validation accuracy" in box.value
    )
    specs = [json.loads(chart.proto.spec) for chart in at.get("vega_lite_chart")]
    curves = next(spec for spec in specs if "hconcat" in spec)
    for panel in curves["hconcat"]:  # the kept epoch marked in both panels (values: test_charts)
        assert [layer["mark"]["type"] for layer in panel["layer"][1:]] == ["rule", "text"]
    batches = next(spec for spec in specs if spec.get("title") == "Loss per batch")
    raw, smoothed = batches["layer"]
    assert raw["mark"]["opacity"] < 1 and smoothed["encoding"]["y"]["field"] == "smoothed"
    assert "mean loss of each stretch of batches between two log rows" in texts(at)


def test_the_augmentation_preview_says_why_it_is_not_offered_yet():
    session = {"attendee": OWNER, "dataset": "digits", "experiment": tiny_experiment()}
    at = open_page("train", **session)
    at.toggle(key="aug_on").set_value(True).run()  # on, but nothing chosen yet
    assert not [b for b in at.button if b.label == "Preview augmented images"]
    assert "choose a flip or a change above to preview" in texts(at)
    at.selectbox(key="aug_flip").set_value("horizontal").run()
    assert [b for b in at.button if b.label == "Preview augmented images"]
