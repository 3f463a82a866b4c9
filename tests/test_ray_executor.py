"""The Ray executor: the same jobs API, jobs trained as Ray tasks on a local Ray instance.

The placement arithmetic and the settings are tested without Ray. The rest shares one
dispatcher with its own Ray instance on 127.0.0.1 (started once for the module, stopped at its
end), in one data directory: three jobs from two attendees, a cancel, a killed task and the CLI.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from dlcore import LayerLabError
from dlcore.limits import load_limits
from dlcore.model.layer_table import estimate_training_memory_mb, layer_table
from dlcore.recipes import preset_experiment
from dlcore.spec import DataSpec, Experiment, preset_model
from dlcore.train import jobs
from dlcore.train.executor import executor_settings
from dlcore.train.ray_resources import Capacity, fits, gpu_fraction, task_resources
from dlcore.train.ray_task import task_environment
from dlcore.train.records import RunStatus
from dlcore.train.run_outputs import model_file
from dlcore.train.runs import list_run_ids, run_path, write_status

ROOT = Path(__file__).resolve().parents[1]
H200_MB = 143_771.0  # what nvidia-smi reports for an H200


# -- placement arithmetic and settings: no Ray needed ------------------------------------------


def test_gpu_fraction_is_the_jobs_share_of_a_card_rounded_up():
    assert gpu_fraction(10_500, 16_384) == 0.72  # 10500 / (16384 * 0.9) = 0.712 -> 0.72
    assert gpu_fraction(510, H200_MB) == 0.01  # a tiny job: the smallest share
    assert gpu_fraction(14_745.6, 16_384) == 1.0  # exactly the usable memory: a whole card
    assert gpu_fraction(40_000, 16_384) == 1.0  # bigger than the card: still one card
    assert gpu_fraction(0, 16_384) == 0.01


def test_twenty_lenet_jobs_share_one_gpu_and_the_cpu_cluster_takes_one_per_core():
    rows = layer_table(preset_model("lenet"), (28, 28, 1), 10)
    lenet = RunStatus(status="queued", memory_mb=estimate_training_memory_mb(rows, 64))
    gpu_box = Capacity(cpus=16, gpus=1, card_mb=H200_MB)
    running: list[RunStatus] = []
    for _ in range(20):
        assert fits(lenet, running, gpu_box)
        running.append(replace(lenet, status="running"))
    assert task_resources(lenet, gpu_box) == {"num_cpus": 0.5, "num_gpus": 0.01}
    # the CPUs run out at 32 jobs (half a CPU each), before the card does
    assert not fits(lenet, [lenet] * 32, gpu_box)
    big = RunStatus(memory_mb=10_000)  # 0.72 of a 16 GB card each
    card = Capacity(cpus=8, gpus=1, card_mb=16_384)
    assert fits(big, [], card) and not fits(big, [big], card)
    assert fits(big, [big], replace(card, gpus=2))
    cpu_cluster = Capacity(cpus=2)
    assert task_resources(big, cpu_cluster) == {"num_cpus": 1.0, "num_gpus": 0.0}
    assert fits(big, [big], cpu_cluster) and not fits(big, [big, big], cpu_cluster)
    assert not fits(big, [big], cpu_cluster, max_concurrent=1)  # the limit caps Ray too
    assert fits(big, [], Capacity())  # alone, a job is always sent: Ray waits for a node


def test_capacity_from_a_damaged_state_file_is_an_empty_cluster():
    assert Capacity.from_dict(None) == Capacity()
    assert Capacity.from_dict({"cpus": "many", "gpus": True, "card_mb": -1}) == Capacity()
    assert Capacity.from_dict({"cpus": 4, "gpus": 2}) == Capacity(cpus=4.0, gpus=2.0)


def test_task_environment_moves_data_paths_to_the_shared_storage(monkeypatch, layerlab_home):
    monkeypatch.setenv("KERAS_HOME", str(layerlab_home / "cache" / "keras"))
    monkeypatch.setenv("LAYERLAB_MAX_EPOCHS", "7")
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    environment = task_environment(layerlab_home, Path("/mnt/layerlab"))
    assert environment["LAYERLAB_HOME"] == "/mnt/layerlab"
    assert environment["KERAS_HOME"] == "/mnt/layerlab/cache/keras"
    assert environment["LAYERLAB_MAX_EPOCHS"] == "7" and environment["KERAS_BACKEND"] == "jax"
    assert environment["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"


def test_executor_settings_from_limits_toml_and_the_environment(monkeypatch, layerlab_home):
    assert executor_settings().executor == "local"  # the default needs nothing
    layerlab_home.mkdir(parents=True, exist_ok=True)
    (layerlab_home / "limits.toml").write_text(
        'executor = "ray"\nray_address = "10.0.0.5:6379"\nray_shared_home = "/mnt/layerlab"\n'
        "ray_gpu_memory_mb = 24576\nmax_epochs = 30\n"
    )
    settings = executor_settings()
    assert (settings.executor, settings.ray_address) == ("ray", "10.0.0.5:6379")
    assert (settings.ray_shared_home, settings.ray_gpu_memory_mb) == ("/mnt/layerlab", 24576)
    assert load_limits().max_epochs == 30  # the executor lines are not taken for limits
    monkeypatch.setenv("LAYERLAB_EXECUTOR", "local")  # the environment wins
    assert executor_settings().executor == "local"
    monkeypatch.setenv("LAYERLAB_EXECUTOR", "slurm")
    with pytest.raises(LayerLabError, match="'slurm' is not an executor: use 'local' or 'ray'"):
        executor_settings()
    monkeypatch.setenv("LAYERLAB_EXECUTOR", "ray")
    monkeypatch.setenv("LAYERLAB_RAY_GPU_MEMORY_MB", "lots")
    with pytest.raises(LayerLabError, match="ray_gpu_memory_mb = 'lots' is not a number"):
        executor_settings()
    monkeypatch.delenv("LAYERLAB_RAY_GPU_MEMORY_MB")
    monkeypatch.setenv("LAYERLAB_RAY_SHARED_HOME", "mnt/layerlab")
    with pytest.raises(LayerLabError, match="not an absolute path"):
        executor_settings()


def test_ray_chosen_but_not_installed_is_refused_before_a_run_exists(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *rest: None if name == "ray" else real(name)
    )
    monkeypatch.setenv("LAYERLAB_EXECUTOR", "ray")
    with pytest.raises(LayerLabError, match=r"Ray is not installed: run `pip install -e"):
        jobs.submit(Experiment(data=DataSpec("digits")))
    assert list_run_ids() == []


def test_the_instructor_page_shows_the_node_each_run_trains_on():
    from pages_support import id_for, open_page

    on_node = jobs.create_run(Experiment(data=DataSpec("digits"), owner=id_for("ada")), "ada")
    write_status(run_path(on_node), status="completed", executor="ray", node="gpu-node-3\u202e")
    waiting = jobs.create_run(Experiment(data=DataSpec("digits"), owner=id_for("bob")), "bob")
    at = open_page("instructor", attendee="carol", instructor=True)
    assert not at.exception and not at.error
    room = next(d.value for d in at.dataframe if "attendee" in d.value.columns).set_index("run")
    assert room.loc[on_node, "node"] == "gpu-node-3"  # plain text: the control character goes
    assert room.loc[waiting, "node"] == ""  # not started: no node yet


def test_the_pages_starting_phase_follows_the_ray_dispatchers_room(layerlab_home):
    from dlcore.storage import atomic_write_json
    from dlcore.train.executor import STATE, queue_dir

    running = jobs.create_run(Experiment(data=DataSpec("digits"), owner="ada"))
    write_status(run_path(running), status="running", executor="ray")
    waiting = jobs.create_run(Experiment(data=DataSpec("digits"), owner="bob"))
    for cpus, phase in ((1, "queued"), (2, "starting")):
        state = {"pid": 1, "executor": "ray", "capacity": {"cpus": cpus, "gpus": 0}}
        atomic_write_json(queue_dir() / STATE, state)
        assert jobs.status(waiting)["phase"] == phase


def test_an_unreachable_cluster_fails_the_queued_jobs_with_what_to_do(monkeypatch):
    pytest.importorskip("ray", reason='Ray is the "cluster" extra: pip install -e ".[cluster]"')
    monkeypatch.setenv("LAYERLAB_EXECUTOR", "ray")
    monkeypatch.setenv("LAYERLAB_RAY_ADDRESS", "127.0.0.1:1")  # nothing listens on port 1
    run_id = jobs.submit(small("ada"))
    final = jobs.wait(run_id, timeout=120)
    assert final["status"] == "failed", final
    assert "Could not reach the Ray cluster at 127.0.0.1:1" in final["message"]
    assert "ray_address in limits.toml" in final["message"]
    assert "`ray start --head`" in final["message"]


# -- jobs on a local Ray instance ----------------------------------------------------------


@pytest.fixture(scope="module")
def ray_home(tmp_path_factory):
    """A data directory whose dispatcher runs jobs on its own Ray instance (127.0.0.1)."""
    pytest.importorskip("ray", reason='Ray is the "cluster" extra: pip install -e ".[cluster]"')
    home = tmp_path_factory.mktemp("ray") / "home"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LAYERLAB_HOME", str(home))
        patch.setenv("LAYERLAB_EXECUTOR", "ray")
        patch.delenv("LAYERLAB_RAY_ADDRESS", raising=False)
        jobs.ensure_scheduler(wait=True, timeout=180)
    yield home
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LAYERLAB_HOME", str(home))
        jobs.stop_scheduler(timeout=30)


@pytest.fixture
def on_ray(ray_home, monkeypatch):
    monkeypatch.setenv("LAYERLAB_HOME", str(ray_home))
    monkeypatch.setenv("LAYERLAB_EXECUTOR", "ray")
    return ray_home


def small(owner: str, epochs: int = 1) -> Experiment:
    experiment = preset_experiment("mlp", dataset="digits")
    training = replace(experiment.training, epochs=epochs, batch_size=32)
    return replace(experiment, owner=owner, training=training)


def wait_until(predicate, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.2)


@pytest.mark.timeout(600)
def test_three_jobs_from_two_attendees_complete_stream_and_one_is_cancelled(on_ray):
    state = json.loads((on_ray / "queue" / "scheduler.json").read_text())
    assert state["executor"] == "ray" and state["ray"] == "local"
    assert state["capacity"]["cpus"] >= 1  # what the local instance offers: one job per CPU
    first = jobs.submit(small("ada"))
    long = jobs.submit(small("bob", epochs=60))  # cancelled once an epoch is saved
    second = jobs.submit(small("ada"))
    with pytest.raises(LayerLabError, match="You already have 2 job"):  # limits, before Ray
        jobs.submit(small("ada"))
    wait_until(lambda: jobs.status(long)["status"] == "running")
    # metrics stream into the run directory while the task runs on its node
    wait_until(lambda: len(jobs.read_metrics(long)) > 0 and jobs.status(long)["best_epoch"])
    rows = len(jobs.read_metrics(long))
    wait_until(lambda: len(jobs.read_metrics(long)) > rows)
    assert jobs.status(long)["status"] == "running"
    assert jobs.status(long)["phase"] == "training"
    with pytest.raises(LayerLabError, match="cancel it before deleting it"):
        jobs.delete(long)
    jobs.cancel(long, actor="bob")
    cancelled = jobs.wait(long, timeout=60, poll=0.1)
    assert cancelled["status"] == "cancelled", cancelled
    assert "best weights (epoch" in cancelled["message"]
    assert model_file(long).name == "model.keras"
    for run_id in (first, second):
        final = jobs.wait(run_id, timeout=300)
        assert final["status"] == "completed", final
        assert 0.0 < final["val_accuracy"] <= 1.0  # evaluated on its validation images
    statuses = [jobs.status(run_id) for run_id in (first, long, second)]
    assert {s["executor"] for s in statuses} == {"ray"}
    assert {s["node"] for s in statuses} == {socket.gethostname()}
    assert (run_path(first) / "worker.log").is_file()  # the task's output, as locally
    jobs.delete(first)
    assert first not in list_run_ids()


@pytest.mark.timeout(600)
def test_a_killed_task_reads_interrupted_with_its_checkpoint(on_ray):
    run_id = jobs.submit(small("cy", epochs=60))
    wait_until(lambda: jobs.status(run_id)["best_epoch"] and jobs.status(run_id)["pid"])
    pid = jobs.status(run_id)["pid"]  # the Ray worker process training it
    assert b"ray::" in Path(f"/proc/{pid}/cmdline").read_bytes()  # never kill anything else
    os.kill(pid, signal.SIGKILL)  # as a lost node: the task dies without a word
    final = jobs.wait(run_id, timeout=60, poll=0.1)
    assert final["status"] == "interrupted", final
    assert f"on node {socket.gethostname()} stopped unexpectedly" in final["message"]
    import keras

    checkpoint = keras.saving.load_model(model_file(run_id))  # the last best epoch, usable
    assert model_file(run_id).name == "best.keras"
    assert checkpoint.output_shape == (None, 10)
    # the dispatcher goes on: the next job runs on a fresh Ray worker
    again = jobs.submit(small("cy"))
    assert jobs.wait(again, timeout=300)["status"] == "completed"


@pytest.mark.timeout(600)
def test_cli_train_on_ray_records_the_executor(on_ray):
    command = [sys.executable, "-m", "dlcore", "train", "--dataset", "digits", "--model", "mlp"]
    result = subprocess.run(
        [*command, "--epochs", "1", "--json"],
        capture_output=True,
        text=True,
        timeout=400,
        cwd=ROOT,
        env={**os.environ, "LAYERLAB_EXECUTOR": "ray"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout)
    assert summary["status"] == "completed" and summary["executor"] == "ray"
    stored = json.loads((run_path(summary["run_id"]) / "status.json").read_text())
    assert stored["executor"] == "ray" and stored["node"] == socket.gethostname()
