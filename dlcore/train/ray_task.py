"""A job's Ray task: what runs on a node of the cluster. It sets the environment the job
trains in (this data directory's settings, paths moved to the shared mount), sends its output
to the run's log, and trains the run exactly as a local job does (``worker.run_job``).
The dispatcher that sends these tasks is ``dlcore.train.ray_executor``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from pathlib import Path

from dlcore.train.runs import LOG, write_status

# Passed from this process's environment to every task (paths under the data directory are
# rewritten to the shared path): the limits, the Keras backend and the framework's settings.
PASSED_PREFIXES = ("LAYERLAB_", "KERAS_", "TF_CPP_", "XLA_", "MPLCONFIGDIR")


def task_environment(home: Path, shared_home: Path) -> dict[str, str]:
    """The variables a task sets before it trains: this process's LayerLab, Keras and framework
    settings, with paths under ``home`` moved to ``shared_home`` (how the nodes mount it)."""
    environment = {"XLA_PYTHON_CLIENT_PREALLOCATE": "false", "TF_CPP_MIN_LOG_LEVEL": "2"}
    for name, value in os.environ.items():
        if name.startswith(PASSED_PREFIXES):
            environment[name] = value
    for name, value in environment.items():
        if value == str(home) or value.startswith(str(home) + os.sep):
            environment[name] = str(shared_home) + value[len(str(home)) :]
    environment["LAYERLAB_HOME"] = str(shared_home)
    return environment


@contextlib.contextmanager
def _output_to(log: Path):
    """Send this process's stdout and stderr (Python's and the frameworks') to the run's log
    while the job trains, as the local executor does; a Ray worker serves other jobs after."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    handle = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.dup2(handle, 1)
        os.dup2(handle, 2)
        os.close(handle)
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


def train_on_node(run_dir: str, environment: dict[str, str]) -> int:
    """The job's Ray task: record the node it runs on, then train the run exactly as a local
    job does (``worker.run_job`` records how it ends: completed, cancelled or failed)."""
    os.environ.update(environment)
    import ray

    path = Path(run_dir)
    node = socket.gethostname()
    cards = [str(card) for card in ray.get_gpu_ids()]
    gpu = int(cards[0]) if cards and cards[0].isdigit() else None
    write_status(path, node=node, gpu=gpu, message=f"Starting on node {node}.")
    with _output_to(path / LOG):
        from dlcore.train import worker

        return worker.run_job(path)
