"""The server's figures for the instructor: parsers of /proc and nvidia-smi output, and the
readers giving what this machine can tell without raising."""

from __future__ import annotations

import pytest

from dlcore import system

NVIDIA_SMI = """\
0, NVIDIA H200, 1523, 143771, 37
1, NVIDIA A100-SXM4-80GB, [N/A], 81920, [Not Supported]
"""

MEMINFO = """\
MemTotal:       16384000 kB
MemFree:         1024000 kB
MemAvailable:    4096000 kB
Buffers:          204800 kB
"""


def test_nvidia_smi_lines_become_one_dict_per_gpu():
    gpus = system.parse_nvidia_smi(NVIDIA_SMI)
    assert gpus[0] == {
        "index": 0,
        "name": "NVIDIA H200",
        "memory_used_mb": 1523.0,
        "memory_total_mb": 143771.0,
        "utilization_percent": 37.0,
    }
    assert gpus[1]["name"] == "NVIDIA A100-SXM4-80GB"
    assert gpus[1]["memory_used_mb"] is None and gpus[1]["utilization_percent"] is None


@pytest.mark.parametrize(
    "text",
    ["", "No devices were found\n", "NVIDIA-SMI has failed because it couldn't communicate\n",
     "x, name, 1, 2, 3\n", "0, only, three\n"],
)  # fmt: skip
def test_nvidia_smi_errors_and_odd_lines_are_no_gpus(text):
    assert system.parse_nvidia_smi(text) == []


def test_meminfo_gives_used_as_total_minus_available():
    memory = system.parse_meminfo(MEMINFO)
    assert memory == {"total_mb": 16000.0, "available_mb": 4000.0, "used_mb": 12000.0}
    old_kernel = system.parse_meminfo("MemTotal: 2048 kB\nMemFree: 1024 kB\n")
    assert old_kernel["used_mb"] == 1.0  # no MemAvailable: free memory stands in
    assert system.parse_meminfo("garbage") == {}


def test_cpu_times_and_load_average():
    stat = "cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 50 0 50 350 50 0 0 0 0 0\n"
    assert system.parse_cpu_times(stat) == (200, 1000)  # idle and iowait are not busy
    assert system.parse_cpu_times("intr 1 2 3\n") is None
    assert system.parse_loadavg("0.52 0.41 0.30 2/345 6789\n") == 0.52
    assert system.parse_loadavg("") is None


def test_server_stats_reads_this_machine(monkeypatch):
    monkeypatch.setattr(system.shutil, "which", lambda name: None)  # no nvidia-smi here
    stats = system.server_stats(interval=0.01)
    assert stats["gpus"] == [] and stats["num_cpus"] >= 1
    assert stats["cpu_percent"] is None or 0 <= stats["cpu_percent"] <= 100
    assert stats["memory"]["total_mb"] > 0  # /proc/meminfo on Linux
    assert stats["disk"]["used_gb"] >= 0 and stats["disk"]["limit_gb"] == 20.0


def test_a_failing_nvidia_smi_is_no_gpus(monkeypatch, tmp_path):
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert system.gpu_stats() == []
    fake.write_text(f"#!/bin/sh\nprintf '{NVIDIA_SMI.splitlines()[0]}\\n'\n")
    assert [gpu["name"] for gpu in system.gpu_stats()] == ["NVIDIA H200"]
