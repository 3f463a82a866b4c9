"""A real LayerLab server and Debian's Chromium for the browser tests (Playwright).

The server is ``streamlit run app.py`` on a free localhost port with its own data directory.
Chromium is never downloaded: the tests use ``/usr/bin/chromium`` and skip, with the reason, where
it is missing, unless ``LAYERLAB_REQUIRE_BROWSER=1`` (set by ``.ci/run``) makes that a failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("LAYERLAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "artifacts"


def require_browser() -> None:
    """Skip (or fail in CI) when Chromium or Playwright is missing."""
    problem = None
    if not Path(CHROMIUM).exists():
        problem = f"{CHROMIUM} is missing (Debian: apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "playwright is not installed (pip install -e '.[test]')"
    if problem and os.environ.get("LAYERLAB_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser test required but {problem}")
    if problem:
        pytest.skip(problem)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_streamlit(home: Path, env: dict | None) -> tuple[str, subprocess.Popen, object]:
    """One try at starting the server on a free port: (url, process, log), or None when the
    port was taken before the server bound it (another test worker may pick the same one)."""
    port = free_port()
    log = open(home.parent / f"streamlit-{port}.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=ROOT,
        env={**os.environ, "LAYERLAB_HOME": str(home), **(env or {})},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    # Ours is up when its own log says so: a health answer alone could come from another
    # worker's server on the same port.
    while b"You can now view" not in Path(log.name).read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            _stop(process, log)
            if b"is not available" in Path(log.name).read_bytes():  # the port was taken
                return None
            raise RuntimeError(f"streamlit did not start; see {log.name}")
        time.sleep(0.2)
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200 and process.poll() is None:
                    return url, process, log
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            _stop(process, log)
            raise RuntimeError(f"streamlit did not start; see {log.name}")
        time.sleep(0.2)


def _stop(process: subprocess.Popen, log) -> None:
    process.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)
    if process.poll() is None:
        process.kill()
    log.close()


@contextlib.contextmanager
def streamlit_server(home: Path, env: dict | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """Start ``streamlit run app.py`` with LAYERLAB_HOME=home; yield (base url, process)."""
    for _ in range(3):
        started = _start_streamlit(home, env)
        if started is not None:
            break
    else:
        raise RuntimeError("streamlit found no free port in 3 tries")
    url, process, log = started
    try:
        yield url, process
    finally:
        _stop(process, log)


@contextlib.contextmanager
def chromium() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def artifact_dir(name: str) -> Path:
    path = ARTIFACTS / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    return path


def wait_for_app(page, timeout: float = 30_000) -> None:
    """Wait until Streamlit has finished running the script (no 'running' indicator)."""
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout)
    page.wait_for_function(
        '() => !document.querySelector(\'[data-testid="stStatusWidget"] '
        '[data-testid="stStatusWidgetRunningIcon"]\')',
        timeout=timeout,
    )
