"""The server's own figures for the instructor: CPU, memory, the data directory's disk use and
the GPUs. Read from /proc and ``nvidia-smi`` (no psutil); each reader gives None or an empty
list where this machine cannot tell, never an exception, so a page always shows what it can.
The parsers are pure functions of the text, tested with sample output.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from dlcore import LayerLabError
from dlcore.limits import load_limits
from dlcore.storage import data_home, dir_size

NVIDIA_SMI_QUERY = [
    "--query-gpu=index,name,memory.used,memory.total,utilization.gpu",
    "--format=csv,noheader,nounits",
]
GPU_FIELDS = ("index", "name", "memory_used_mb", "memory_total_mb", "utilization_percent")


def _number(text: str) -> float | None:
    """A figure of nvidia-smi's output; None for "[N/A]", "[Not Supported]" and the like."""
    try:
        return float(text.strip())
    except ValueError:
        return None


def parse_nvidia_smi(text: str) -> list[dict]:
    """One dict per GPU line of ``nvidia-smi --query-gpu=index,name,memory.used,memory.total,
    utilization.gpu --format=csv,noheader,nounits``; lines of another shape are skipped."""
    gpus = []
    for line in text.splitlines():
        parts = [part.strip() for part in line.split(",")]
        if len(parts) != len(GPU_FIELDS) or not parts[0].isdigit():
            continue
        index, name, *figures = parts
        gpu = {"index": int(index), "name": name}
        gpu |= dict(zip(GPU_FIELDS[2:], (_number(f) for f in figures), strict=True))
        gpus.append(gpu)
    return gpus


def gpu_stats(timeout: float = 5.0) -> list[dict]:
    """The GPUs ``nvidia-smi`` reports; [] without the command or when it fails."""
    command = shutil.which("nvidia-smi")
    if command is None:
        return []
    try:
        result = subprocess.run(
            [command, *NVIDIA_SMI_QUERY], capture_output=True, text=True, timeout=timeout
        )
    except (OSError, subprocess.SubprocessError):
        return []
    return parse_nvidia_smi(result.stdout) if result.returncode == 0 else []


def parse_meminfo(text: str) -> dict:
    """Memory in MB from /proc/meminfo's text: total, available and used (total - available);
    {} when the figures are not there."""
    values = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        figures = rest.split()
        if figures and figures[0].isdigit():
            values[name.strip()] = int(figures[0]) / 1024  # kB -> MB
    if "MemTotal" not in values:
        return {}
    available = values.get("MemAvailable", values.get("MemFree", 0.0))
    total = values["MemTotal"]
    return {"total_mb": total, "available_mb": available, "used_mb": max(0.0, total - available)}


def parse_cpu_times(text: str) -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs from /proc/stat's first line; None if it is not there.
    Idle and iowait count as not busy."""
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu" and all(f.isdigit() for f in fields[1:]) and fields[1:]:
            times = [int(f) for f in fields[1:]]
            idle = sum(times[3:5])
            return sum(times) - idle, sum(times)
    return None


def parse_loadavg(text: str) -> float | None:
    """The 1-minute load average from /proc/loadavg's text, None if it does not parse."""
    try:
        return float(text.split()[0])
    except (IndexError, ValueError):
        return None


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def cpu_percent(interval: float = 0.2) -> float | None:
    """How busy all CPUs together were over ``interval`` seconds (0-100), from /proc/stat;
    else the load average over the CPU count; None where neither can be read."""
    before = parse_cpu_times(_read("/proc/stat"))
    if before is not None:
        time.sleep(interval)
        after = parse_cpu_times(_read("/proc/stat"))
        if after is not None and after[1] > before[1]:
            return 100.0 * (after[0] - before[0]) / (after[1] - before[1])
    load = parse_loadavg(_read("/proc/loadavg"))
    return None if load is None else min(100.0, 100.0 * load / (os.cpu_count() or 1))


def disk_stats() -> dict:
    """The data directory: GB it uses, the server's limit (``max_disk_gb``) and GB free on its
    file system (None where that cannot be read)."""
    home = data_home()
    try:
        limit = load_limits().max_disk_gb
    except LayerLabError:  # a bad limits.toml: the pages that submit jobs say so
        limit = None
    try:
        free = shutil.disk_usage(home).free / 1e9
    except OSError:
        free = None
    return {"used_gb": dir_size(home) / 1e9, "limit_gb": limit, "free_gb": free}


def server_stats(interval: float = 0.2) -> dict:
    """CPU (percent and count), load average, memory, the data directory's disk use and GPUs:
    ``{"cpu_percent", "num_cpus", "load_1m", "memory": {...}, "disk": {...}, "gpus": [...]}``.
    Takes about ``interval`` seconds (the CPU is sampled twice)."""
    return {
        "cpu_percent": cpu_percent(interval),
        "num_cpus": os.cpu_count() or 1,
        "load_1m": parse_loadavg(_read("/proc/loadavg")),
        "memory": parse_meminfo(_read("/proc/meminfo")),
        "disk": disk_stats(),
        "gpus": gpu_stats(),
    }
