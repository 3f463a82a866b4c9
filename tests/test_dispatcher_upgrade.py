"""A dispatcher started by older LayerLab code outlives the server's restart; the new code
must recognise it and start its own, or every job would run code that is gone."""

from __future__ import annotations

import subprocess
import sys
import threading

from dlcore.storage import atomic_write_json
from dlcore.train import executor

# A stand-in for the old dispatcher: reads the wake FIFO (so a poke reaches it) and waits; its
# command line ends in "-m dlcore.scheduler", as the old one's did.
OLD = (
    "import os, sys, time\n"
    "fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)\n"
    "print('ready', flush=True)\n"
    "time.sleep(120)\n"
)


def test_a_dispatcher_of_older_code_is_stopped_and_the_current_one_started(monkeypatch):
    fifo = executor.wake_path()
    old = subprocess.Popen(
        [sys.executable, "-c", OLD, str(fifo), "-m", "dlcore.scheduler"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert old.stdout.readline().strip() == "ready"
        reaper = threading.Thread(target=old.wait)  # as init would: no zombie left to wait on
        reaper.start()
        atomic_write_json(executor.queue_dir() / executor.STATE, {"pid": old.pid, "ready": True})
        assert executor.poke()  # it reads the FIFO, as a live dispatcher does
        assert not executor.running_current_dispatcher("local")
        started = []
        monkeypatch.setattr(executor.subprocess, "Popen", lambda args, **kw: started.append(args))
        executor.ensure_scheduler()
        reaper.join(timeout=10)
        assert old.returncode == -15  # stopped (SIGTERM)
        assert started == [[sys.executable, "-m", "dlcore.train.scheduler"]]
    finally:
        old.kill()
        old.wait()


def test_the_current_dispatcher_is_kept(monkeypatch):
    state = {"pid": 1, "executor": "local", "module": "dlcore.train.scheduler", "ready": True}
    atomic_write_json(executor.queue_dir() / executor.STATE, state)
    assert executor.running_current_dispatcher("local")
    assert not executor.running_current_dispatcher("ray")  # the settings changed: stop it


def test_only_a_dispatcher_s_command_line_counts_as_one(tmp_path):
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    processes = {
        name: subprocess.Popen([*sleeper, *extra])
        for name, extra in {
            "old": ["-m", "dlcore.scheduler"],
            "new": ["-m", "dlcore.train.scheduler"],
            "other": ["dlcore.scheduler.txt"],
        }.items()
    }
    try:  # Popen returns once the child has exec'd: its command line is set
        found = {name: executor._is_scheduler(p.pid) for name, p in processes.items()}
        assert found == {"old": True, "new": True, "other": False}
    finally:
        for process in processes.values():
            process.kill()
            process.wait()
