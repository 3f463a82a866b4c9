"""Shared fixtures: every test gets its own empty LayerLab data directory."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(autouse=True)
def layerlab_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("LAYERLAB_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """(home, run id) of one tiny finished run on digits, trained once per test session."""
    from pages_support import shared_tiny_run

    return shared_tiny_run(tmp_path_factory.getbasetemp())


@pytest.fixture
def run_id(tiny_run, monkeypatch):
    """The tiny run's id, with LAYERLAB_HOME pointed at its data directory."""
    monkeypatch.setenv("LAYERLAB_HOME", str(tiny_run[0]))
    return tiny_run[1]
