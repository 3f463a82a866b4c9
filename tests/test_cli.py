"""The dlcore command: exit codes, one-line errors and JSON output."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from dlcore.cli import main


def test_bad_usage_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--epochs", "many"])
    assert exit_info.value.code == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["evaluate", "no-such-run"], "No run 'no-such-run'"),
        (["cancel", "../etc"], "is not a run id"),
        (["train", "--dataset", "digits", "--epochs", "-3"], "Epochs is -3"),
        (["train", "--dataset", "nope"], "No dataset named 'nope'"),
        (["import", "/does/not/exist", "--name", "x"], "does not exist"),
        (["import", "/tmp", "--name", "../evil"], "cannot be used"),
    ],
)
def test_bad_input_is_one_line_on_stderr_with_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_import_npz_then_list(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, size=(60, 12, 12), dtype=np.uint8)
    y = np.repeat(np.arange(3), 20)
    path = tmp_path / "tiny.npz"
    np.savez(path, x_train=x, y_train=y)
    assert main(["import", str(path), "--name", "tiny"]) == 0
    assert main(["datasets", "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()[-1]
    names = {row["name"]: row for row in json.loads(out)}
    assert names["tiny"]["status"] == "ready" and names["tiny"]["num_classes"] == 3
    assert {"digits", "mnist-sample", "shapes", "mnist", "cifar10"} <= set(names)


def test_train_json_evaluate_and_predict(tmp_path, capsys, jobs_train_here):
    argv = ["train", "--dataset", "digits", "--model", "mlp", "--epochs", "3"]
    argv += ["--batch-size", "16", "--json"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    keys = {"run_id", "dataset", "model", "epochs", "val_accuracy", "test_accuracy", "seconds"}
    assert keys <= set(summary) and summary["device"] == "CPU"
    assert summary["val_accuracy"] > 0.3
    run_id = summary["run_id"]
    assert main(["evaluate", run_id, "--json"]) == 0
    assert "confusion_matrix" in json.loads(capsys.readouterr().out)["val"]
    from PIL import Image

    image = tmp_path / "digit.png"
    Image.new("L", (8, 8), 0).save(image)
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    assert main(["predict", run_id, str(image), "--top", "2", "--json"]) == 0
    predictions = json.loads(capsys.readouterr().out)
    assert len(predictions[0]["top"]) == 2
    assert main(["predict", run_id, str(bad)]) == 2
    assert "bad.png" in capsys.readouterr().err


def test_console_script_module_runs():
    result = subprocess.run(
        [sys.executable, "-m", "dlcore", "--help"], capture_output=True, text=True, check=True
    )
    assert "datasets" in result.stdout and "predict" in result.stdout


def _cli(*argv: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dlcore", *argv], capture_output=True, text=True, env=env
    )


def test_a_command_that_fails_before_loading_a_model_prints_only_its_message(layerlab_home):
    """No TensorFlow start-up lines: nothing imports it before the command has failed."""
    import os

    from dlcore.spec import DataSpec, Experiment
    from dlcore.train import jobs

    env = {**os.environ, "LAYERLAB_HOME": str(layerlab_home)}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    result = _cli("evaluate", "nosuchrun", env=env)
    assert result.returncode == 2
    assert result.stderr == "dlcore: No run 'nosuchrun'; `dlcore jobs` lists the runs.\n"
    run_id = jobs.create_run(Experiment(data=DataSpec("digits")))  # no model saved yet
    for argv in (["evaluate", run_id], ["predict", run_id, "x.png"]):
        result = _cli(*argv, env=env)
        assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr
        assert result.stderr.startswith(f"dlcore: Run {run_id}"), result.stderr


def test_train_detach_then_wait_and_jobs(capsys, monkeypatch):
    """--detach prints the run id at once; `wait` prints the final records; `jobs --json`
    lists status, owner, label and queue position. The job waits in a paused queue until
    `wait` is called, then trains in this process (``train_queued_here``, no scheduler)."""
    from training_support import train_queued_here

    from dlcore.attendees import attendee_id
    from dlcore.train import jobs

    monkeypatch.setattr(jobs, "ensure_scheduler", train_queued_here)
    jobs.pause_queue()
    owner = attendee_id("d" * 32)
    argv = ["train", "--dataset", "digits", "--model", "mlp", "--epochs", "1", "--detach"]
    assert main([*argv, "--json", "--owner", owner, "--label", "dora"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    run_id = json.loads(out[0])["run_id"]
    assert main(["jobs", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["run_id"] == run_id and row["owner"] == owner and row["owner_label"] == "dora"
    assert (row["status"], row["queue_position"]) == ("queued", 1)
    jobs.resume_queue()
    train_queued_here()
    assert main(["wait", run_id, "--json", "--timeout", "180"]) == 0
    (final,) = json.loads(capsys.readouterr().out)
    assert final["run_id"] == run_id and final["status"] == "completed"
    assert final["val_accuracy"] == jobs.status(run_id)["val_accuracy"] > 0.15  # chance: 0.1
    assert final["val_loss"] > 0.0
    assert main(["train", *argv[1:]]) == 0  # without --json: the id alone
    second = capsys.readouterr().out.strip()
    assert jobs.status(second)["run_id"] == second
    assert main(["wait", second, run_id, "--timeout", "180"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == [second, run_id]


def test_wait_exits_1_unless_every_run_completed(capsys):
    from dlcore.spec import DataSpec, Experiment
    from dlcore.train import jobs
    from dlcore.train.runs import run_path, write_status

    done, failed, waiting = (jobs.create_run(Experiment(data=DataSpec("digits"))) for _ in "abc")
    write_status(run_path(done), status="completed", val_accuracy=0.5)
    write_status(run_path(failed), status="failed", message="out of memory")
    assert main(["wait", done, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["status"] == "completed"
    assert main(["wait", done, failed]) == 1
    assert capsys.readouterr().out.splitlines()[1] == f"{failed}: failed - out of memory"
    assert main(["wait", waiting, "--timeout", "0.2", "--json"]) == 1  # no scheduler runs it
    assert json.loads(capsys.readouterr().out)[0]["status"] == "queued"
    assert main(["wait", done, "no-such-run"]) == 2  # refused before any waiting
    assert "No run 'no-such-run'" in capsys.readouterr().err


def test_comment_a_run_and_list_it_in_the_jobs_json(capsys):
    from dlcore.spec import DataSpec, Experiment
    from dlcore.train import jobs

    run_id = jobs.create_run(Experiment(data=DataSpec("digits"), owner="a-ada"), owner_label="Ada")
    assert main(["comment", run_id, "dropout 0.5:\n less overfitting\u202e"]) == 0  # any owner
    assert (
        capsys.readouterr().out.strip() == f"{run_id}: comment saved: dropout 0.5: less overfitting"
    )
    assert main(["jobs", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["run_id"], r["comment"]) for r in rows] == [
        (run_id, "dropout 0.5: less overfitting")
    ]
    assert main(["comment", run_id, ""]) == 0 and "comment cleared" in capsys.readouterr().out
    assert main(["comment", "no-such-run", "x"]) == 2
    assert "No run 'no-such-run'" in capsys.readouterr().err
