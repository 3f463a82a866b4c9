"""Run summaries: labels, the table of trials, curves and the overfitting signal."""

from __future__ import annotations

import os

import pandas as pd

from dlcore.attendees import attendee_id
from dlcore.results import classroom, summary, trials
from dlcore.spec import AugmentSpec, ConvBlock, DenseLayer, ModelSpec, preset_model


def test_architecture_and_activations_read_like_the_class_table():
    assert summary.architecture_summary(preset_model("lenet")) == "conv 20-50 / dense 500"
    assert summary.architecture_summary(preset_model("mlp")) == "dense 16-16"
    assert (
        summary.architecture_summary(preset_model("vgg-bn"))
        == "conv 32x2-64x2-128x2 bn / dense 1024"
    )
    model = ModelSpec(
        preset="custom", conv_blocks=(ConvBlock(8, activation="tanh"),), head="global_average"
    )
    assert summary.architecture_summary(model) == "conv 8 global average pool"
    mixed = ModelSpec(conv_blocks=(ConvBlock(8),), dense_layers=(DenseLayer(4, activation="elu"),))
    assert summary.activations_summary(mixed) == "relu / elu / softmax"


def test_augment_summary():
    assert summary.augment_summary(AugmentSpec()) == "off"
    text = summary.augment_summary(AugmentSpec(flip="horizontal", shift=0.1, noise=0.05))
    assert text == "flip horizontal, shift 0.1, noise 0.05"


def test_durations_and_labels():
    status = {"started": "2026-01-01T10:00:00", "ended": "2026-01-01T10:01:05"}
    assert summary.duration_seconds(status) == 65
    assert summary.duration_seconds({"started": "2026-01-01T10:00:00"}) is None
    assert summary.duration_seconds({"started": "2026-01-01T10:00:00", "ended": None}) is None
    assert summary.duration_seconds({"started": "soon", "ended": "2026-01-01T10:00:00"}) is None
    assert summary.format_seconds(65) == "1:05" and summary.format_seconds(3723) == "1:02:03"
    assert summary.format_seconds(None) == "" and summary.format_seconds(float("nan")) == ""
    status = {"run_id": "r1", "owner": "id-of-ada", "owner_label": "ada", "dataset": "digits"}
    label = summary.run_label({**status, "model": "lenet", "val_accuracy": 0.9})
    assert label == "r1 · ada · digits · lenet · val 90.0%"
    assert summary.run_label({"run_id": "r2", "status": "queued"}).endswith("queued")


def test_labels_show_the_owner_s_name_never_the_id_and_as_plain_text():
    owner = attendee_id("k" * 32)
    status = {"run_id": "r1", "owner": owner, "owner_label": "\u202eada", "dataset": "d\u2066"}
    assert summary.run_label(status) == "r1 · ada · d · ? · ?"
    assert summary.run_label({"run_id": "r2", "owner": owner, "owner_label": ""}).startswith(
        "r2 · anonymous"
    )
    assert summary.run_label({"run_id": "r3", "owner": "bob"}).startswith("r3 · bob")  # old run
    row = trials.runs_frame([{**status, "status": "failed\u202e"}]).iloc[0]
    assert (row["owner"], row["dataset"], row["status"]) == ("ada", "d", "failed")
    assert owner not in trials.runs_frame([status]).to_string()


def test_runs_frame_without_runs_has_the_columns():
    frame = trials.runs_frame([])
    assert list(frame.columns)[:3] == ["run", "owner", "dataset"] and frame.empty


def _metrics(val_losses, losses):
    rows = [
        {
            "kind": "epoch",
            "epoch": e + 1,
            "step": 10 * (e + 1),
            "loss": tl,
            "accuracy": 0.5,
            "val_loss": vl,
            "val_accuracy": 0.5,
        }
        for e, (vl, tl) in enumerate(zip(val_losses, losses, strict=True))
    ]
    batches = [{"kind": "batch", "epoch": 1, "step": s, "loss": 1.0 / s} for s in range(1, 2001)]
    return pd.DataFrame(batches + rows)


def test_epoch_and_batch_history():
    metrics = _metrics([1.0, 0.8], [1.2, 0.9])
    epochs = summary.epoch_history(metrics)
    assert list(epochs.columns) == summary.EPOCH_COLUMNS and list(epochs["epoch"]) == [1, 2]
    batches = summary.batch_history(metrics, max_points=500)
    assert len(batches) <= 501 and batches["step"].iloc[-1] == 2000
    assert summary.epoch_history(pd.DataFrame()).empty


def test_overfitting_is_validation_loss_rising_while_training_loss_falls():
    overfit = summary.epoch_history(_metrics([1.0, 0.6, 0.5, 0.55, 0.7], [1.0, 0.6, 0.4, 0.3, 0.2]))
    assert summary.overfitting_epoch(overfit) == 3
    improving = summary.epoch_history(_metrics([1.0, 0.6, 0.5, 0.45], [1.0, 0.6, 0.4, 0.3]))
    assert summary.overfitting_epoch(improving) is None
    one_bump = summary.epoch_history(_metrics([1.0, 0.6, 0.5, 0.55], [1.0, 0.6, 0.4, 0.3]))
    assert summary.overfitting_epoch(one_bump) is None  # one epoch up is noise, not a trend
    both_rise = summary.epoch_history(_metrics([1.0, 0.5, 0.6, 0.7], [1.0, 0.5, 0.6, 0.7]))
    assert summary.overfitting_epoch(both_rise) is None  # diverging, not overfitting


def _status(owner: str, label: str, accuracy, dataset="digits", created=0.0, **more) -> dict:
    return {
        "run_id": f"r-{owner}-{created}", "owner": owner, "owner_label": label,
        "dataset": dataset, "model": "mlp", "status": "completed", "val_accuracy": accuracy,
        "created_ts": created, **more,
    }  # fmt: skip


ADA, BOB, EVE = (attendee_id(c * 32) for c in "abe")


def test_leaderboard_is_each_attendee_s_best_on_the_dataset_best_first():
    statuses = [
        _status(ADA, "ada", 0.80, created=1), _status(ADA, "ada", 0.90, created=2),
        _status(BOB, "bob", 0.95, created=3), _status(BOB, "bob", 0.99, dataset="cifar10"),
        _status(EVE, "", 0.90, created=1),  # the same score as ada's best, but sooner
        _status(EVE, "", None, status="failed"), _status("", "", 1.0),  # the instructor's
    ]  # fmt: skip
    board = classroom.leaderboard(statuses, "digits", viewer=ADA)
    assert board["attendee"].tolist() == ["bob", "anonymous", "ada"]
    assert board["place"].tolist() == [1, 2, 3]
    assert board["best val accuracy"].tolist() == [0.95, 0.90, 0.90]
    assert board["runs"].tolist() == [1, 1, 2] and board["you"].tolist() == [False, False, True]
    assert ADA not in board.to_string() and BOB not in board.to_string()
    assert classroom.leaderboard(statuses, "mnist").empty


def test_leaderboard_shows_the_top_places_and_your_own():
    owners = [attendee_id(f"{n:02d}" * 16) for n in range(15)]
    statuses = [_status(o, f"p{n}", 0.9 - n / 100) for n, o in enumerate(owners)]
    board = classroom.leaderboard(statuses, "digits", viewer=owners[13], top=10)
    assert board["place"].tolist() == [*range(1, 11), 14]
    assert board["you"].tolist() == [False] * 10 + [True]
    assert len(classroom.leaderboard(statuses, "digits", viewer="")) == 10


def test_leaderboard_labels_are_plain_text():
    board = classroom.leaderboard([_status(ADA, "\u202e[x](http://e)\n:red[y]", 0.5)], "digits")
    assert board["attendee"].tolist() == ["[x](http://e) :red[y]"]  # escaped by the page


def test_class_overview_groups_runs_by_attendee_with_queue_and_progress(layerlab_home):
    from dlcore.spec import DataSpec, Experiment
    from dlcore.train import jobs
    from dlcore.train.records import MetricRow
    from dlcore.train.run_outputs import append_metric
    from dlcore.train.runs import record_worker, run_path, write_status

    running = jobs.create_run(Experiment(data=DataSpec("digits"), owner=BOB), owner_label="bob")
    path = run_path(running)
    write_status(path, status="running")
    record_worker(path, os.getpid())  # a live process stands in for its worker
    append_metric(path, MetricRow("epoch", 1, 10, 0.5, val_accuracy=0.7, progress=0.5))
    append_metric(path, MetricRow("batch", 2, 12, 0.4, progress=0.6))
    statuses = [
        jobs.status(running),
        _status(ADA, "ada", 0.8, created=1),
        _status(BOB, "bob", None, created=5, status="queued", queue_position=2),
        _status(EVE, "\u202ebob", 0.5, created=2, status="cancelled"),  # a second "bob"
        _status("", "", 0.9, status="failed", val_accuracy=None),
    ]
    frame = classroom.class_overview(statuses)
    assert list(frame.columns) == classroom.OVERVIEW_COLUMNS
    assert frame["attendee"].tolist() == ["(instructor)", "ada", "bob", "bob", "bob"]
    bob_ids = [statuses[i]["run_id"] for i in (0, 2)]  # newest first within an attendee
    mine = frame[frame["run"].isin(bob_ids)]
    assert mine["run"].tolist() == bob_ids and mine.index.tolist() in ([2, 3], [3, 4])
    by_run = frame.set_index("run")
    assert by_run.loc[running, "progress"] == 0.6
    assert by_run.loc[running, "best val accuracy"] == 0.7  # from the log while it trains
    assert by_run.loc[statuses[1]["run_id"], "progress"] == 1.0
    assert by_run.loc[running, "status"] == "training"  # its phase, where jobs gives one
    assert by_run.loc[statuses[2]["run_id"], "queue"] == 2
    assert by_run.loc[statuses[2]["run_id"], "progress"] == 0.0
    assert pd.isna(by_run.loc[statuses[1]["run_id"], "queue"])
    assert not {ADA, BOB, EVE} & set(frame.to_string().split())
    assert classroom.class_overview([]).empty


def _commented_run(label: str, comment: str) -> dict:
    from dlcore.spec import DataSpec, Experiment
    from dlcore.train import jobs, run_comments

    owner = attendee_id(label.encode().hex().ljust(32, "k"))
    run_id = jobs.create_run(Experiment(data=DataSpec("digits"), owner=owner), owner_label=label)
    run_comments.write_comment(run_id, comment)
    return jobs.status(run_id)


def test_runs_frame_has_each_run_s_comment():
    first = _commented_run("ada", "batch 128: *faster*")
    second = _commented_run("bob", "")
    frame = trials.runs_frame([first, second])
    assert list(frame.columns)[-1] == "comment"
    assert frame["comment"].tolist() == ["batch 128: *faster*", ""]


def test_the_csv_of_the_table_is_plain_text_without_formulas_or_owner_ids():
    import csv
    import io

    hostile = _commented_run('=HYPERLINK("http://evil")', "=cmd()|' /C calc'!A0")
    plus = _commented_run("+ada", "-2+3 @SUM(A1) \u202eevil")
    fine = _commented_run("carol", "lr 0.001, 5 epochs, été")
    statuses = [hostile, plus, fine]
    data = trials.runs_csv(trials.runs_frame(statuses))
    assert data.startswith("\ufeff".encode())  # Excel then reads it as UTF-8
    text = data.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == list(trials.runs_frame([]).columns)
    assert [r["owner"] for r in rows] == ['\'=HYPERLINK("http://evil")', "'+ada", "carol"]
    assert [r["comment"] for r in rows] == [
        "'=cmd()|' /C calc'!A0",
        "'-2+3 @SUM(A1) evil",
        "lr 0.001, 5 epochs, été",
    ]
    assert [r["run"] for r in rows] == [s["run_id"] for s in statuses]
    assert rows[0]["epochs"].isdigit() and float(rows[0]["learning rate"]) > 0  # numbers stay
    for status in statuses:
        assert status["owner"] not in text  # labels only, never the attendees' ids
    assert not any(cell.startswith(("=", "+", "-", "@")) for r in rows for cell in r.values())
