"""Ten attendees at once: each opens LayerLab in its own browser session and starts a small job.

    python bench/load_sessions.py [--sessions 10] [--timeout 400]

One ``streamlit run app.py`` with an empty data directory and one Chromium (Debian's
``/usr/bin/chromium``) holding one browser context per attendee. Every attendee types a name,
takes the built-in ``digits`` set, picks the ``mlp`` network (LeNet's 5x5 convolutions do not
suit 8x8 images), sets one epoch and presses Start; the steps are interleaved across the
sessions, so the Start clicks land within a second or two. The data directory's scheduler then
starts the jobs in the fair queue's order, as many at once as it allows (``fairqueue.cpu_slots()``
on a CPU machine, or the instructor's ``max_concurrent_jobs``), each in a child it forks.

Prints: seconds from the first Start click until the last job finished, each job's wait in the
queue (``started_ts - created_ts``) and its run time (started until its process exits; min /
median / max), the most jobs seen training at once (statuses sampled every 0.1 s), the peak
memory of the Streamlit server and of the scheduler (``VmHWM``), of each job process
(``peak_memory_mb`` in its status) and of all of them together, and how many jobs completed;
then the same figures as one JSON line (with each run's record in artifacts/load/bench.json).
tests/test_load.py drives the same scenario through the functions here and asserts the
behaviour; this script only measures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "tests"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import browser_support  # noqa: E402  (tests/browser_support.py: the server and Chromium)

NUM_SESSIONS = 10
PRESET = "mlp"
UI_TIMEOUT_MS = 90_000  # ten sessions rerunning at once on two cores are slow to answer
ARTIFACTS = ROOT / "artifacts" / "load"


def attendee_name(index: int) -> str:
    """'attendee-01' for index 0; two digits, so no name is a part of another."""
    return f"attendee-{index + 1:02d}"


# --- driving the sessions --------------------------------------------------------------------


def open_sessions(browser, url: str, count: int) -> list:
    """One browser context (cookies, storage, websocket: a Streamlit session) per attendee."""
    pages = []
    for _ in range(count):
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(UI_TIMEOUT_MS)
        page = context.new_page()
        page.goto(url)
        pages.append(page)
    for page in pages:
        browser_support.wait_for_app(page, timeout=UI_TIMEOUT_MS)
    return pages


def _sidebar(page):
    return page.get_by_test_id("stSidebarUserContent")


def _go(page, title: str) -> None:
    """Switch page with the sidebar navigation: a link inside the app keeps the session (a
    fresh page load would open a new one)."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True).click()


def _each(pages, action) -> None:
    for index, page in enumerate(pages):
        action(index, page)


def _sidebar_says(pages, text_for) -> None:
    """Wait until every session's sidebar shows ``text_for(index)``."""
    from playwright.sync_api import expect

    for index, page in enumerate(pages):
        expect(_sidebar(page)).to_contain_text(text_for(index), timeout=UI_TIMEOUT_MS)


def save_screenshots(pages, prefix: str) -> None:
    """One full-page screenshot per session under artifacts/load/ (to see what went wrong)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for index, page in enumerate(pages):
        page.screenshot(
            path=str(ARTIFACTS / f"{prefix}-{attendee_name(index)}.png"), full_page=True
        )


def enter_names(pages) -> None:
    """Start page: type the attendee's name and press Enter, in every session."""

    def type_name(index, page):
        box = page.get_by_role("textbox", name="Your name")
        box.fill(attendee_name(index))
        box.press("Enter")

    _each(pages, type_name)
    _sidebar_says(pages, lambda i: f"Attendee: {attendee_name(i)}")


def choose_digits(pages) -> None:
    """Data page: choose the built-in 8x8 digits and press 'Use this dataset'."""

    _each(pages, lambda i, p: _go(p, "Data"))
    _each(pages, lambda i, p: p.get_by_role("combobox", name="Dataset", exact=True).click())
    _each(pages, lambda i, p: p.get_by_role("option", name="Digits 8x8").click())
    _each(pages, lambda i, p: p.get_by_role("button", name="Use this dataset").click())
    _sidebar_says(pages, lambda i: "Dataset: digits")


def choose_model(pages, preset: str = PRESET) -> None:
    """Model page: start from a lesson's network that fits 8x8 images."""

    label = "Start from a lesson's network"
    _each(pages, lambda i, p: _go(p, "Model"))
    _each(pages, lambda i, p: p.get_by_role("combobox", name=label).click())
    _each(pages, lambda i, p: p.get_by_role("option", name=f"{preset}:").click())
    _sidebar_says(pages, lambda i: f"Model: {preset}")


def set_one_epoch(pages) -> None:
    """Train page: move the Epochs slider to its minimum, 1."""
    from playwright.sync_api import expect

    _each(pages, lambda i, p: _go(p, "Train"))

    def one_epoch(index, page):
        slider = page.get_by_role("slider", name="Epochs")
        slider.focus()
        slider.press("Home")
        expect(slider).to_have_attribute("aria-valuetext", "1", timeout=UI_TIMEOUT_MS)

    _each(pages, one_epoch)
    _each(pages, lambda i, p: browser_support.wait_for_app(p, timeout=UI_TIMEOUT_MS))
    # the slider sends a keyboard change a moment after the key press: the server has it once
    # the page says the settings left the recipe (a click before that would train the old value)
    changed = "Your settings below differ from both recipes."
    _each(pages, lambda i, p: p.get_by_text(changed).wait_for(timeout=UI_TIMEOUT_MS))


def start_training(pages) -> list[float]:
    """Press Start in every session, one right after the other; return each click's time."""
    from playwright.sync_api import expect

    clicks = []
    buttons = [page.get_by_role("button", name="Start training") for page in pages]
    for button in buttons:
        button.wait_for()
    for button in buttons:
        clicks.append(time.time())
        button.click()
    for page in pages:
        expect(page.get_by_role("heading", name="Run ")).to_be_visible(timeout=UI_TIMEOUT_MS)
    return clicks


def drive(pages, preset: str = PRESET) -> list[float]:
    """The whole path in every session, step by step across the sessions; the Start times."""
    enter_names(pages)
    choose_digits(pages)
    choose_model(pages, preset)
    set_one_epoch(pages)
    return start_training(pages)


def session_view(page) -> dict:
    """What one session shows: the run in its URL, its heading and sidebar, and all its text."""
    query = parse_qs(urlparse(page.url).query)
    heading = page.get_by_role("heading", name="Run ").first.inner_text().strip()
    return {
        "url_run": (query.get("run") or [None])[0],
        "heading_run": heading.removeprefix("Run ").strip(),
        "sidebar": _sidebar(page).inner_text(),
        "text": page.locator("body").inner_text(),
    }


def wait_until_shown_finished(page) -> None:
    """The run's status box says 'completed' (the page polls and redraws once at the end)."""
    from playwright.sync_api import expect

    main = page.get_by_test_id("stMain")
    expect(main.get_by_text("completed ·").first).to_be_visible(timeout=UI_TIMEOUT_MS)


# --- watching the jobs -----------------------------------------------------------------------


def wait_for_runs(count: int, timeout: float, poll: float = 0.5) -> list[dict]:
    """Poll until ``count`` runs exist and every one has finished and recorded its peak memory
    (written just after the final status, as the worker exits); return their statuses."""
    from dlcore.train import jobs
    from dlcore.train.runs import ACTIVE

    deadline = time.monotonic() + timeout
    while True:
        runs = jobs.list_runs()
        done = [
            r for r in runs if r["status"] not in ACTIVE and r.get("peak_memory_mb") is not None
        ]
        if len(runs) >= count and len(done) == len(runs):
            return runs
        if time.monotonic() > deadline:
            states = {r["run_id"]: r.get("status") for r in runs}
            raise TimeoutError(f"after {timeout:.0f} s, {len(runs)} run(s): {states}")
        time.sleep(poll)


def _proc_mb(path: str, field: str) -> float | None:
    """The ``field:`` line (in kB) of a /proc memory file, in MB; None once the process is gone."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _rss_mb(pid: int) -> float | None:
    return _proc_mb(f"/proc/{pid}/status", "VmRSS")


def _pss_mb(pid: int) -> float | None:
    """Resident memory with each page shared by n processes counted 1/n: a job forked from the
    scheduler shares the scheduler's pages, which RSS counts in every process again."""
    return _proc_mb(f"/proc/{pid}/smaps_rollup", "Pss")


def peak_rss_mb(pid: int | None) -> float | None:
    """A live process's peak resident memory (VmHWM), in MB."""
    return None if pid is None else _proc_mb(f"/proc/{pid}/status", "VmHWM")


def allowed_at_once() -> int:
    """How many jobs the scheduler lets train at once here: the instructor's
    ``max_concurrent_jobs``, else ``fairqueue.cpu_slots()`` on a CPU machine (on GPUs it
    places by memory, up to ``MAX_JOBS_PER_GPU`` a card)."""
    from dlcore.limits import load_limits
    from dlcore.train import executor
    from dlcore.train.fairqueue import MAX_JOBS_PER_GPU, cpu_slots

    limit = load_limits().max_concurrent_jobs
    gpus = executor.known_gpus()
    return limit or (MAX_JOBS_PER_GPU * len(gpus) if gpus else cpu_slots())


class JobMonitor(threading.Thread):
    """Samples the runs' statuses (``dlcore.train.jobs.list_runs``) every 0.1 s: how many are
    "running" at once, and when each started (the scheduler's ``started_ts``); and from /proc the
    memory of the job processes (each status's ``pid``: the child the scheduler forked) and of
    the scheduler (its pid in ``queue/scheduler.json``)."""

    def __init__(self, interval: float = 0.1):
        super().__init__(daemon=True)
        self.interval = interval
        self.started: dict[str, float] = {}  # run id -> started_ts from its status
        self.max_running = 0  # most runs seen "running" at the same time
        self.peak_jobs_rss_mb = 0.0  # the running jobs' processes together (shared pages n times)
        self.peak_total_pss_mb = 0.0  # the scheduler and the running jobs together (PSS)
        self.scheduler_pid: int | None = None
        self.error: Exception | None = None
        self._halt = threading.Event()

    def sample(self) -> None:
        from dlcore.train import executor, jobs

        runs = jobs.list_runs()
        running = [run for run in runs if run["status"] == "running"]
        self.max_running = max(self.max_running, len(running))
        for run in runs:
            if run.get("started_ts") is not None:
                self.started.setdefault(run["run_id"], run["started_ts"])
        pid = executor.read_state().get("pid")
        if isinstance(pid, int):
            self.scheduler_pid = pid
        job_pids = [run["pid"] for run in running if run.get("pid")]
        rss = sum(_rss_mb(job) or 0.0 for job in job_pids)
        self.peak_jobs_rss_mb = max(self.peak_jobs_rss_mb, rss)
        everyone = [*job_pids, *([self.scheduler_pid] if self.scheduler_pid else [])]
        pss = sum(_pss_mb(process) or 0.0 for process in everyone)
        self.peak_total_pss_mb = max(self.peak_total_pss_mb, pss)

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                self.sample()
            except Exception as error:  # noqa: BLE001 - reported by stop(), in the caller's thread
                self.error = error
                return
            self._halt.wait(self.interval)

    def stop(self) -> None:
        """Stop sampling; raise what broke the sampling, if anything did."""
        self._halt.set()
        self.join(timeout=5)
        if self.error is not None:
            raise RuntimeError(f"the job monitor stopped: {self.error!r}") from self.error


def fair_key(run: dict) -> tuple:
    """A run's place in the fair queue (``fairqueue.fair_order``): round, then submission."""
    return (run.get("queue_round") or 0, run["created_ts"], run["run_id"])


def timeline(runs: list[dict]) -> list[dict]:
    """Per run, in the fair queue's order: its status and when its job process finished (the
    last write of ``status.json``, its peak memory, as the process exits; a file time is exact
    where the status's ``ended`` is only to the second)."""
    from dlcore.train.runs import run_path

    return [
        {**status, "finished_ts": (run_path(status["run_id"]) / "status.json").stat().st_mtime}
        for status in sorted(runs, key=fair_key)
    ]


# --- the benchmark ---------------------------------------------------------------------------


def _spread(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"min {min(values):.1f}  median {statistics.median(values):.1f}  max {max(values):.1f}"


def run_scenario(home: Path, count: int, timeout: float, screenshot: Path | None = None) -> dict:
    """Start the server and the sessions, drive them, wait for the jobs; return the figures."""
    home.mkdir(parents=True, exist_ok=True)
    os.environ["LAYERLAB_HOME"] = str(home)
    from dlcore.train import jobs

    try:
        with (
            browser_support.streamlit_server(home) as (url, server),
            browser_support.chromium() as b,
        ):
            began = time.time()
            pages = open_sessions(b, url, count)
            monitor = JobMonitor()
            monitor.start()
            try:
                clicks = drive(pages)
            except Exception:
                save_screenshots(pages, "failed")
                raise
            driven = time.time()
            try:
                runs = wait_for_runs(count, timeout)
            finally:
                monitor.stop()
            for page in pages:
                wait_until_shown_finished(page)
            if screenshot is not None:
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                pages[0].screenshot(path=str(screenshot), full_page=True)
            server_peak = peak_rss_mb(server.pid)
            scheduler_peak = peak_rss_mb(monitor.scheduler_pid)
            allowed = allowed_at_once()
    finally:
        jobs.stop_scheduler()  # it runs in its own session: the server's end leaves it running
    rows = timeline(runs)
    started = [row for row in rows if row.get("started_ts") is not None]
    return {
        "sessions": count,
        "jobs_completed": sum(row.get("status") == "completed" for row in rows),
        "jobs": len(rows),
        "setup_s": clicks[0] - began,
        "ui_path_s": driven - began,
        "start_click_spread_s": clicks[-1] - clicks[0],
        "first_start_to_last_finished_s": max(row["finished_ts"] for row in rows) - clicks[0],
        "queue_wait_s": [row["started_ts"] - row["created_ts"] for row in started],
        "run_time_s": [row["finished_ts"] - row["started_ts"] for row in started],
        "max_jobs_training_at_once": monitor.max_running,
        "jobs_allowed_at_once": allowed,
        "server_peak_rss_mb": server_peak,
        "scheduler_peak_rss_mb": scheduler_peak,
        "job_peak_rss_mb": [row["peak_memory_mb"] for row in rows if row.get("peak_memory_mb")],
        "jobs_peak_total_rss_mb": monitor.peak_jobs_rss_mb,
        "scheduler_and_jobs_peak_pss_mb": monitor.peak_total_pss_mb,
        "runs": [
            {
                key: row.get(key)
                for key in (
                    "run_id",
                    "owner_label",
                    "status",
                    "queue_round",
                    "created_ts",
                    "started_ts",
                    "finished_ts",
                    "pid",
                    "peak_memory_mb",
                    "val_accuracy",
                )  # fmt: skip
            }
            for row in rows
        ],
    }


def _mb(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} MB"


def report(figures: dict) -> str:
    lines = [
        f"sessions: {figures['sessions']}, jobs completed: {figures['jobs_completed']} of "
        f"{figures['jobs']}",
        f"first Start click -> last job finished: {figures['first_start_to_last_finished_s']:.1f} s"
        f"  (Start clicks spread over {figures['start_click_spread_s']:.1f} s; the UI path took "
        f"{figures['ui_path_s']:.1f} s from the first page load)",
        f"queue wait per job (s, created -> started): {_spread(figures['queue_wait_s'])}",
        f"run time per job (s, started -> job process exit): {_spread(figures['run_time_s'])}",
        f"jobs training at once (max): {figures['max_jobs_training_at_once']}"
        f" (the scheduler allows {figures['jobs_allowed_at_once']})",
        f"Streamlit server peak RSS (VmHWM): {_mb(figures['server_peak_rss_mb'])}"
        f"; scheduler: {_mb(figures['scheduler_peak_rss_mb'])}",
        f"job process peak RSS (MB, counting the pages shared with the scheduler): "
        f"{_spread(figures['job_peak_rss_mb'])}"
        f"; running jobs together: at most {_mb(figures['jobs_peak_total_rss_mb'])} RSS"
        f"; scheduler and jobs together: at most {_mb(figures['scheduler_and_jobs_peak_pss_mb'])}"
        " PSS",
    ]
    return "\n".join(lines)


def _rounded(value):
    if isinstance(value, float):
        return round(value, 2)
    if isinstance(value, list):
        return [_rounded(item) for item in value]
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=NUM_SESSIONS)
    parser.add_argument("--timeout", type=float, default=400.0, help="seconds to wait for jobs")
    parser.add_argument("--home", type=Path, help="data directory (default: a fresh temp dir)")
    args = parser.parse_args(argv)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="layerlab-load-") as scratch:
        home = args.home or Path(scratch) / "home"
        figures = run_scenario(
            home, args.sessions, args.timeout, ARTIFACTS / "bench-train-attendee-01.png"
        )
    print(report(figures))
    print(json.dumps({k: _rounded(v) for k, v in figures.items() if k != "runs"}))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "bench.json").write_text(json.dumps(figures, indent=2))
    print(f"details: {ARTIFACTS / 'bench.json'}")
    return 0 if figures["jobs_completed"] == figures["jobs"] == args.sessions else 1


if __name__ == "__main__":
    sys.exit(main())
