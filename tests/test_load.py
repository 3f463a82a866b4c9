"""Ten attendees at once on one server: every job completes, no session sees another's state,
and the queue serves the jobs in the order they were submitted, one at a time (one training slot
on a CPU machine). bench/load_sessions.py drives the same scenario and prints the figures."""

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
            runs = load.wait_for_runs(load.NUM_SESSIONS, timeout=400)
            for page in pages:
                load.wait_until_shown_finished(page)
        except Exception:
            load.save_screenshots(pages, "failed")
            raise
        finally:
            monitor.stop()
        views = [load.session_view(page) for page in pages]
        load.ARTIFACTS.mkdir(parents=True, exist_ok=True)
        pages[0].screenshot(path=str(load.ARTIFACTS / "test-train-attendee-01.png"))

    from dlcore.runs import read_spec

    names = [load.attendee_name(i) for i in range(load.NUM_SESSIONS)]
    assert len(runs) == load.NUM_SESSIONS
    assert sorted(run["owner_label"] for run in runs) == names  # one run per attendee
    assert all(run["status"] == "completed" for run in runs), runs
    for run in runs:  # what each session chose reached its own run
        spec = read_spec(run["run_id"])
        assert (spec.data.dataset, spec.model.preset, spec.training.epochs) == ("digits", "mlp", 1)

    run_of = {run["owner_label"]: run["run_id"] for run in runs}
    for name, view in zip(names, views, strict=True):
        assert view["url_run"] == view["heading_run"] == run_of[name]
        assert f"Attendee: {name}" in view["sidebar"] and run_of[name] in view["sidebar"]
        others = [other for other in names if other != name]
        assert not any(other in view["text"] for other in others), name
        assert not any(run_of[other] in view["text"] for other in others), name

    # First come, first served, one at a time: the slot went to the runs in creation order...
    assert monitor.max_holders == 1
    queue = load.timeline(runs)  # sorted by created_ts, the queue's order
    by_creation = [row["run_id"] for row in queue]
    assert sorted(monitor.slot_taken, key=monitor.slot_taken.get) == by_creation
    # ...which the runs' own records agree with: 'started' (to the second) never goes back, and
    # each run loaded its data only after the run before it had been evaluated (file times).
    for before, after in zip(queue, queue[1:], strict=False):
        assert before["started"] <= after["started"]
        assert before["ended"] <= after["started"]
        assert before["evaluated_ts"] < after["loaded_ts"]
