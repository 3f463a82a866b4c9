"""The worker's failure path: out of memory, a full disk, and a status it cannot even write.

The first two run ``worker.main`` in this process (the test's data directory has its own slot
locks) with Keras patched to fail the way a real device or disk does.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pages_support import tiny_experiment

from dlcore.limits import load_limits
from dlcore.train import admission, jobs, worker
from dlcore.train.runs import read_status, record_worker, run_path

ROOT = Path(__file__).resolve().parents[1]


def _run_in_process(experiment, exit_code: int = 1) -> dict:
    """Create a run and work it here, as its worker process would; return its final status."""
    run_id = jobs.create_run(experiment)
    path = run_path(run_id)
    record_worker(path, os.getpid())  # this process is the run's worker, alive throughout
    assert worker.main([str(path)]) == exit_code
    return jobs.status(run_id)


def test_out_of_memory_fails_that_job_with_advice_and_the_next_job_runs(keras, monkeypatch):
    tf = pytest.importorskip("tensorflow")

    def fit(self, *args, **kwargs):
        raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")

    with monkeypatch.context() as patch:
        patch.setattr(keras.Model, "fit", fit)
        failed = _run_in_process(tiny_experiment(owner="ann"))
    assert failed["status"] == "failed" and failed["ended"]
    assert "Out of memory" in failed["message"] and "smaller batch size" in failed["message"]
    assert "smaller network" in failed["message"]
    # The failure freed its training slot and touched no one else: the next job trains as usual.
    assert _run_in_process(tiny_experiment(owner="bob"), exit_code=0)["status"] == "completed"


def test_full_disk_fails_clearly_and_leaves_no_half_written_model(keras, monkeypatch):
    def save(self, filepath, *args, **kwargs):
        Path(filepath).write_bytes(b"PK\x03\x04 half a zip")  # what a cut-off write leaves
        raise OSError(errno.ENOSPC, "No space left on device", str(filepath))

    monkeypatch.setattr(keras.Model, "save", save)
    failed = _run_in_process(tiny_experiment())
    assert failed["status"] == "failed"
    assert failed["message"].startswith("The disk is full while training")
    assert "delete runs or datasets" in failed["message"]
    path = run_path(failed["run_id"])
    assert not list(path.glob("*.tmp.keras")) and not list(path.glob(".*.tmp"))
    assert not (path / "best.keras").exists() and not (path / "model.keras").exists()


def test_a_status_that_cannot_be_written_reads_interrupted_once_the_worker_ends():
    """The disk fills up while training, so even the "failed" status cannot be written: the
    worker exits, and the run must not stay "running" for ever."""
    script = textwrap.dedent(
        """
        import errno, sys
        from dlcore.train import worker

        def disk_full(*args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device")

        def train(path):
            worker.write_status(path, status="running", message="Training on CPU.")
            worker.write_status = disk_full  # from here on, nothing can be written
            disk_full()

        worker.train = train
        sys.exit(worker.main(sys.argv[1:]))
        """
    )
    run_id = jobs.create_run(tiny_experiment())
    path = run_path(run_id)
    process = subprocess.Popen(
        [sys.executable, "-c", script, str(path)], cwd=ROOT, stderr=subprocess.PIPE, text=True
    )
    record_worker(path, process.pid)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1, stderr
    assert "could not write the run's status" in stderr
    assert '"status": "running"' in (path / "status.json").read_text()  # the last word written
    final = read_status(run_id)  # derived on read: nothing could be written, nor is
    assert final.status == "interrupted"
    assert "stopped unexpectedly" in final.message
    assert '"status": "running"' in (path / "status.json").read_text()


def test_the_worker_checks_the_limits_again_on_the_data_it_loads(monkeypatch):
    """A dataset re-imported bigger while the job waited in the queue: the network it would
    build now is over max_model_params, so the job fails with the reason before training."""
    import numpy as np

    from dlcore.data.dataset import Dataset, save_dataset
    from dlcore.spec import DataSpec, DenseLayer, Experiment, ModelSpec

    def pets(side: int) -> Dataset:
        x = np.zeros((8, side, side, 1), np.uint8)
        y = np.repeat(np.arange(2), 4)
        return Dataset("pets", ["cat", "dog"], x, y, x[:2], y[:2])

    save_dataset(pets(8))
    model = ModelSpec(preset="custom", conv_blocks=(), dense_layers=(DenseLayer(16),))
    experiment = Experiment(data=DataSpec("pets"), model=model, owner="a-ann")
    monkeypatch.setenv("LAYERLAB_MAX_MODEL_PARAMS", "5000")  # 8x8: 1,074 parameters
    admission.check_submission(experiment, load_limits())  # accepted as submitted
    run_id = jobs.create_run(experiment)
    save_dataset(pets(64))  # 64x64: 65,586 parameters
    path = run_path(run_id)
    record_worker(path, os.getpid())
    assert worker.main([str(path)]) == 1
    failed = jobs.status(run_id)
    assert failed["status"] == "failed" and "65,586 parameters" in failed["message"]
    assert "limit on this server is 5,000" in failed["message"]
    assert not (path / "model.keras").exists() and not (path / "metrics.jsonl").exists()
