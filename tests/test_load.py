"""Ten attendees at once on one server: every job completes, no session sees another's state,
and the queue serves the jobs in the order they were submitted (bench/load_sessions.py drives
the same scenario and prints the figures)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from browser_support import chromium, require_browser, streamlit_server

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import load_sessions as load  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(540)]


def test_ten_sessions_each_start_a_job(tmp_path, monkeypatch):
    require_browser()
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("LAYERLAB_HOME", str(home))
    with streamlit_server(home) as (url, _server), chromium() as browser:
        pages = load.open_sessions(browser, url, load.NUM_SESSIONS)
        monitor = load.JobMonitor()
        monitor.start()
        try:
            load.drive(pages)
            runs = load.wait_for_runs(load.NUM_SESSIONS, timeout=420)
        except Exception:
            load.save_screenshots(pages, "failed")
            raise
        finally:
            monitor.stop()
        for page in pages:
            load.wait_until_shown_finished(page)
        views = [load.session_view(page) for page in pages]
        pages[0].screenshot(path=str(load.ARTIFACTS / "test-train-attendee-01.png"))

    names = [load.attendee_name(i) for i in range(load.NUM_SESSIONS)]
    assert sorted(run["owner"] for run in runs) == names
    assert all(run["status"] == "completed" for run in runs), runs
    run_of = {run["owner"]: run["run_id"] for run in runs}
    for name, view in zip(names, views, strict=True):
        assert view["url_run"] == view["heading_run"] == run_of[name]
        assert f"Attendee: {name}" in view["sidebar"]
        others = [other for other in names if other != name]
        assert not any(other in view["text"] for other in others), name
        assert not any(run_of[other] in view["text"] for other in others), name

    assert monitor.max_holders == 1  # one training slot on a CPU-only machine
    by_creation = [run["run_id"] for run in sorted(runs, key=lambda r: r["created_ts"])]
    by_start = sorted(monitor.slot_taken, key=monitor.slot_taken.get)
    assert by_start == by_creation
