"""Shared fixtures: every test gets its own empty LayerLab data directory."""

from __future__ import annotations

import functools
import os
import sys

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# A scheduler left behind by a test (each test has its own data directory) ends soon anyway.
os.environ.setdefault("LAYERLAB_SCHEDULER_IDLE_S", "60")
os.environ.setdefault("LAYERLAB_PREWARM", "0")  # a scheduler starts only when a test submits


def pytest_xdist_auto_num_workers(config):
    """``-n auto`` (pyproject's addopts): one worker more than the cores this process may use,
    since many tests spend seconds waiting on a training process, a browser or a server (on 2
    cores: 3 workers, about 170 s for the suite against 180 s with 2); at most 6, as each
    worker imports TensorFlow. ``PYTEST_XDIST_AUTO_NUM_WORKERS`` sets the number instead."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # xdist reads it
    return min(len(os.sched_getaffinity(0)) + 1, 6)


@pytest.fixture(scope="session", autouse=True)
def _scan_installed_components_once():
    """Each new AppTest has Streamlit scan every installed package's metadata for components
    when it first runs: ~0.3 s with TensorFlow and Ray installed, most of a page test's time.
    The installed packages do not change during a session, so the scan runs once."""
    try:
        from streamlit.components.v2 import manifest_scanner
    except ImportError:  # another Streamlit: no such scan to share
        yield
        return
    scan = manifest_scanner.scan_component_manifests
    manifest_scanner.scan_component_manifests = functools.cache(scan)
    yield
    manifest_scanner.scan_component_manifests = scan


def _stop_scheduler(home) -> None:
    """Stop the scheduler a test started in ``home``, if any (cheap when there is none)."""
    if (home / "queue" / "scheduler.json").exists():
        from dlcore.train import jobs

        jobs.stop_scheduler()


@pytest.fixture(autouse=True)
def layerlab_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("LAYERLAB_HOME", str(home))
    yield home
    monkeypatch.setenv("LAYERLAB_HOME", str(home))
    _stop_scheduler(home)


@pytest.fixture(scope="session")
def keras():
    """The keras module, imported when a test first needs it, not when the test modules are
    collected (a run of tests that need no Keras never imports it)."""
    return pytest.importorskip("keras")


@pytest.fixture
def jobs_train_here(monkeypatch):
    """``jobs.submit`` trains the job in this process before it returns, instead of waking a
    scheduler (no worker process, no Keras import of its own): for tests of what surrounds a
    job (the CLI, a page's Start button), not of the process boundary."""
    from training_support import train_queued_here

    from dlcore.train import jobs

    monkeypatch.setattr(jobs, "ensure_scheduler", train_queued_here)


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


@pytest.fixture(autouse=True)
def _settle_the_framework_heap():
    """As the app does at each rerun (``runtime.settle_heap``): once a test has imported Keras,
    the page tests after it run as fast as before it (0.4 s each instead of 2 s)."""
    yield
    if "keras" in sys.modules:
        from dlcore.runtime import settle_heap

        settle_heap()
