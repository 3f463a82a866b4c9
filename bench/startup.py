"""Benchmark: seconds from `streamlit run app.py` to a usable start page (not a test).

Starts the app on a free port with an empty data directory, then measures (1) until the server
answers its health check and (2) until Chromium shows the start page with its name field ready.
Repeats a few times and prints each figure and the median.

    python bench/startup.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from browser_support import chromium, streamlit_server  # noqa: E402


def measure_once(browser) -> tuple[float, float]:
    home = Path(tempfile.mkdtemp(prefix="layerlab-startup-")) / "home"
    home.mkdir()
    started = time.monotonic()
    with streamlit_server(home) as (url, _process):
        healthy = time.monotonic() - started
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        page.goto(url)
        page.get_by_placeholder("e.g. Ada").wait_for(timeout=60_000)
        usable = time.monotonic() - started
        page.close()
    return healthy, usable


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    healthy, usable = [], []
    with chromium() as browser:
        for attempt in range(1, args.repeat + 1):
            h, u = measure_once(browser)
            healthy.append(h)
            usable.append(u)
            print(f"run {attempt}: server healthy {h:.2f} s, start page usable {u:.2f} s")
    print(
        f"median: server healthy {statistics.median(healthy):.2f} s, "
        f"start page usable {statistics.median(usable):.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
