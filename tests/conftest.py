"""Shared fixtures: every test gets its own empty LayerLab data directory."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# A scheduler left behind by a test (each test has its own data directory) ends soon anyway.
os.environ.setdefault("LAYERLAB_SCHEDULER_IDLE_S", "60")
os.environ.setdefault("LAYERLAB_PREWARM", "0")  # a scheduler starts only when a test submits


def _stop_scheduler(home) -> None:
    """Stop the scheduler a test started in ``home``, if any (cheap when there is none)."""
    if (home / "queue" / "scheduler.json").exists():
        from dlcore import jobs

        jobs.stop_scheduler()


@pytest.fixture(autouse=True)
def layerlab_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("LAYERLAB_HOME", str(home))
    yield home
    monkeypatch.setenv("LAYERLAB_HOME", str(home))
    _stop_scheduler(home)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """(home, run id) of one tiny finished run on digits, trained once per test session."""
    from pages_support import shared_tiny_run

    home, run_id = shared_tiny_run(tmp_path_factory.getbasetemp())
    yield home, run_id
    os.environ["LAYERLAB_HOME"], before = str(home), os.environ.get("LAYERLAB_HOME")
    _stop_scheduler(home)
    if before is not None:
        os.environ["LAYERLAB_HOME"] = before


@pytest.fixture
def run_id(tiny_run, monkeypatch):
    """The tiny run's id, with LAYERLAB_HOME pointed at its data directory."""
    monkeypatch.setenv("LAYERLAB_HOME", str(tiny_run[0]))
    return tiny_run[1]
