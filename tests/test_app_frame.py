"""The app frame: every page opens cold, the sidebar shows the shared state, no TensorFlow."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from dlcore.storage import scratch_dir

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["start", "data", "explore", "model", "train", "evaluate", "classify", "experiments"]
PAGES += ["instructor", "inside"]


def _app() -> AppTest:
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)


def _sidebar(at: AppTest) -> str:
    return " ".join(str(child.value) for child in at.sidebar.children.values())


@pytest.mark.parametrize("page", PAGES)
def test_every_page_opens_cold_without_error(page):
    at = _app().switch_page(f"pages/{page}.py").run()
    assert not at.exception
    assert not at.error
    if page not in ("start", "data"):
        assert at.info, "a page without its inputs says what to do first"


def test_the_navigation_lists_every_page():
    """After one run, AppTest switches only to pages that app.py's st.navigation registered."""
    at = _app().run()
    assert not at.exception
    for page in PAGES:
        at.switch_page(f"pages/{page}.py")
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("pages/common.py")  # a helper module, not a page


def test_sidebar_shows_attendee_dataset_model_and_run():
    at = _app()
    at.session_state["attendee"] = "Ada"
    at.session_state["dataset"] = "digits"
    at.run()
    text = _sidebar(at)
    assert "Ada" in text and "digits" in text and "lenet" in text
    assert "Run:** _none yet_" in text


def test_sidebar_reports_a_missing_run_without_failing():
    at = _app()
    at.query_params["run"] = "20990101-000000-abcdef"
    at.run()
    assert not at.exception
    assert "not found" in _sidebar(at)


def test_start_page_imports_no_tensorflow_or_keras():
    script = textwrap.dedent(
        f"""
        import sys
        from streamlit.testing.v1 import AppTest
        at = AppTest.from_file({str(ROOT / "app.py")!r}, default_timeout=60).run()
        assert not at.exception, at.exception
        heavy = sorted(m for m in ("tensorflow", "keras", "torch", "jax") if m in sys.modules)
        print("HEAVY=" + ",".join(heavy))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "HEAVY=\n" in result.stdout or result.stdout.strip().endswith("HEAVY=")


def test_enlarge_scales_small_images_with_crisp_pixels():
    from pages.grid import enlarge

    image = np.arange(64, dtype=np.uint8).reshape(8, 8, 1)
    big = enlarge(image, side=64)
    assert big.shape == (64, 64)
    assert (big[:8, :8] == image[0, 0, 0]).all()
    assert enlarge(np.zeros((200, 100, 3), np.uint8)).shape == (200, 100, 3)


def test_the_server_sweeps_scratch_a_crashed_server_left_behind():
    stale = scratch_dir() / "import-left-by-a-crash"
    stale.mkdir()
    (stale / "photo.png").write_bytes(b"png")
    then = time.time() - 7 * 3600
    os.utime(stale, (then, then))
    at = _app().run()
    assert not at.exception
    assert not stale.exists()
