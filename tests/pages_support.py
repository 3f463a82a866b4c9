"""Helpers for the page tests: a tiny finished run shared by the test modules, and AppTest
opened on one page. The run is trained once per test session, in the test process (as its
worker would train it), in a data directory of its own."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
from pathlib import Path

from streamlit.testing.v1 import AppTest

from dlcore.attendees import attendee_id
from dlcore.spec import ConvBlock, DataSpec, Experiment, ModelSpec, TrainSpec

APP = str(Path(__file__).resolve().parents[1] / "app.py")
INSTRUCTOR_CODE = "owl-lantern-paper-42"


def key_for(name: str) -> str:
    """The secret key of the test browser of the person called ``name`` (fixed, so tests can
    open pages as the same person twice). Real keys are random: see dlcore.attendees."""
    digest = hashlib.sha256(f"test browser of {name}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def id_for(name: str) -> str:
    """The owner id recorded on the runs and imports of ``name``'s test browser."""
    return attendee_id(key_for(name))


OWNER = "ada"  # her typed name; what owns her runs and imports is OWNER_ID
OWNER_ID = id_for(OWNER)
_SHARED: dict[str, tuple[Path, str]] = {}


def tiny_experiment(owner: str = OWNER_ID) -> Experiment:
    """One small conv block, one epoch on 200 digits: trains in seconds, and badly (so the
    evaluation has mistakes to show)."""
    model = ModelSpec(preset="custom", conv_blocks=(ConvBlock(filters=4),), dense_layers=())
    return Experiment(
        data=DataSpec(dataset="digits", max_train_images=200),
        model=model,
        training=TrainSpec(epochs=1, batch_size=32),
        owner=owner,
    )


def make_tiny_run(home: Path) -> str:
    """Train the tiny experiment with ``home`` as LAYERLAB_HOME; return its finished run id."""
    from training_support import train_now

    from dlcore.train import jobs

    previous = os.environ.get("LAYERLAB_HOME")
    os.environ["LAYERLAB_HOME"] = str(home)
    try:
        run_id = train_now(tiny_experiment(), owner_label=OWNER)
        final = jobs.status(run_id)
    finally:
        if previous is None:
            os.environ.pop("LAYERLAB_HOME", None)
        else:
            os.environ["LAYERLAB_HOME"] = previous
    assert final["status"] == "completed", final
    return run_id


def shared_tiny_run(base: Path) -> tuple[Path, str]:
    """(home, run_id) of one tiny run made under ``base`` the first time it is asked for."""
    if "run" not in _SHARED:
        home = base / "shared-home"
        _SHARED["run"] = (home, make_tiny_run(home))
    return _SHARED["run"]


def copy_of_tiny_run(base: Path) -> Path:
    """A copy of the shared tiny run in this test's own data directory, which the test may
    change or delete; returns the copy's run directory."""
    from dlcore.storage import runs_dir

    home, run_id = shared_tiny_run(base)
    return Path(shutil.copytree(home / "runs" / run_id, runs_dir() / run_id))


def open_page(
    page: str, timeout: float = 60, instructor: bool = False, key: str | None = None, **session
) -> AppTest:
    """AppTest of the app, switched to ``pages/<page>.py`` with ``session`` state, run once;
    ``instructor``: with the instructor code in st.secrets and entered on the Start page.
    ``attendee=NAME`` in ``session`` opens it in NAME's browser (``key_for(NAME)``) unless
    ``key`` gives another browser's key (someone else who typed the same name)."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    if key is None and "attendee" in session:
        key = key_for(session["attendee"])
    if key is not None:
        session["attendee_key"] = key
    if instructor:
        at.secrets["instructor_code"] = INSTRUCTOR_CODE
        session.setdefault("instructor_key", INSTRUCTOR_CODE)
    for key, value in session.items():
        at.session_state[key] = value
    at.switch_page(f"pages/{page}.py")
    at.run()
    return at


def texts(at: AppTest) -> str:
    """Every markdown, caption and alert text on the page, joined."""
    kinds = ("markdown", "caption", "info", "success", "warning", "error")
    parts = [element.value for kind in kinds for element in getattr(at, kind)]
    return "\n".join(str(part) for part in parts)
