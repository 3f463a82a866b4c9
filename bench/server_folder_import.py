"""The lessons' data as folders on the server's disk, imported with the default limits (issue 11).

    .venv/bin/python bench/server_folder_import.py [--cases mnist,cats] [--keep DIR] [--repo PATH]
                                                   [--env LAYERLAB_NAME=VALUE ...]

Builds, in a temporary folder (or ``--keep DIR``, reused when already there):
- ``mnist/train/<digit>/`` and ``mnist/test/<digit>/``: the 70,000 MNIST digits as PNG files,
  from ``../shared/data/mnist.npz`` (the DIGITS lesson: ``dlcore import train/ --val test/
  --grayscale --size 28x28``);
- ``cats/{cat,dog}/``: 25,000 synthetic JPEG photos of about 400x350 pixels (the Kaggle
  cats-and-dogs folder's count and size), imported as 64x64 colour.

Then, for each case, in a fresh process: ``dlcore import`` with the default limits (its wall time
and peak memory, VmHWM, from ``/usr/bin/time -v`` when present), and the time the same images take
to decode and resize alone with Pillow in the same number of threads (the floor an import can
reach). Prints one JSON line per case, and the machine's load average before and after.
``--repo`` runs another checkout's ``dlcore`` (``git archive HEAD dlcore | tar -x -C /tmp/b``);
``--env`` sets a limit for the import (the code before issue 11 refused the MNIST folders under
the default limits: ``--env LAYERLAB_MAX_FILES_PER_IMPORT=100000`` to time it anyway).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
MNIST = ROOT.parent / "shared" / "data" / "mnist.npz"
NUM_PHOTOS = 25_000
CASES = {
    "mnist": {"args": ["mnist/train", "--val", "mnist/test", "--grayscale", "--size", "28x28"]},
    "cats": {"args": ["cats", "--size", "64x64", "--resize", "crop"]},
}


def _write_pngs(folder: Path, images: np.ndarray, labels: np.ndarray) -> None:
    for digit in range(10):
        (folder / str(digit)).mkdir(parents=True, exist_ok=True)
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        Image.fromarray(image).save(folder / str(int(label)) / f"{i:05d}.png")


def build_mnist(base: Path) -> None:
    """70,000 PNGs in class folders (skipped when the folder is already complete)."""
    if (base / "mnist" / "done").exists():
        return
    if not MNIST.exists():
        sys.exit(f"{MNIST} is missing: the MNIST case needs the full MNIST as an .npz.")
    with np.load(MNIST) as data:
        _write_pngs(base / "mnist" / "train", data["x_train"], data["y_train"])
        _write_pngs(base / "mnist" / "test", data["x_test"], data["y_test"])
    (base / "mnist" / "done").write_text("")


def _photo(index: int, folder: Path) -> None:
    """A ~400x350 JPEG of smooth random colour (photo-like to the decoder; not a real photo)."""
    rng = np.random.default_rng(index)
    small = rng.integers(0, 256, (12, 14, 3), dtype=np.uint8)
    width, height = int(rng.integers(320, 500)), int(rng.integers(280, 420))
    img = Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC)
    noise = Image.effect_noise((width, height), 24).convert("RGB")
    img = Image.blend(img, noise, 0.15)
    kind = "cat" if index % 2 == 0 else "dog"
    img.save(folder / kind / f"{kind}.{index // 2}.jpg", quality=85)


def build_cats(base: Path) -> None:
    """25,000 JPEGs in cat/ and dog/ (skipped when already complete)."""
    folder = base / "cats"
    if (base / "cats-done").exists():
        return
    for kind in ("cat", "dog"):
        (folder / kind).mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(lambda i: _photo(i, folder), range(NUM_PHOTOS)))
    (base / "cats-done").write_text("")


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix in (".png", ".jpg"))


def decode_alone(files: list[Path], size: tuple[int, int], mode: str) -> tuple[float, float]:
    """Wall and CPU seconds to decode and resize every file with Pillow alone, in the
    importer's number of threads."""

    def one(path: Path) -> None:
        with Image.open(path) as img:
            img.draft(mode, (2 * size[0], 2 * size[1]))
            np.asarray(img.convert(mode).resize(size))

    start, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        for first in range(0, len(files), 256):
            list(pool.map(one, files[first : first + 256]))
    return time.perf_counter() - start, time.process_time() - cpu


def run_import(base: Path, case: str, repo: Path, extra: dict[str, str]) -> dict:
    """``dlcore import`` in a fresh process with a fresh data directory and default limits
    (except ``extra``)."""
    home = Path(tempfile.mkdtemp(prefix=f"layerlab-bench-{case}-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAYERLAB_")}
    env |= {"LAYERLAB_HOME": str(home), "PYTHONPATH": str(repo), **extra}
    name = f"{case}-folders"  # "mnist" is a built-in's name
    command = [sys.executable, "-m", "dlcore", "import", *CASES[case]["args"], "--name", name]
    timed = ["/usr/bin/time", "-v", *command] if Path("/usr/bin/time").exists() else command
    start = time.perf_counter()
    try:
        result = subprocess.run(timed, cwd=base, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
    finally:
        shutil.rmtree(home, ignore_errors=True)
    timed_lines = result.stderr.splitlines()

    def figure(label: str) -> float | None:
        found = [line.split()[-1] for line in timed_lines if line.strip().startswith(label)]
        return float(found[0]) if found else None

    user, system, peak = figure("User time"), figure("System time"), figure("Maximum resident")
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    return {
        "import_s": round(seconds, 1),
        "import_cpu_s": round(user + system, 1) if user is not None else None,
        "peak_mb": None if peak is None else round(peak / 1024),
        "exit": result.returncode,
        "result": lines[0] if lines else result.stderr.strip().splitlines()[-1][-200:],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="mnist,cats")
    parser.add_argument("--keep", help="build the folders here and keep them for the next run")
    parser.add_argument("--repo", default=str(ROOT), help="the checkout whose dlcore is timed")
    parser.add_argument("--env", action="append", default=[], help="LAYERLAB_NAME=VALUE")
    args = parser.parse_args()
    extra = dict(item.split("=", 1) for item in args.env)
    cases = [case for case in args.cases.split(",") if case]
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(args.keep or tmp)
        base.mkdir(parents=True, exist_ok=True)
        print(json.dumps({"load_average": os.getloadavg(), "cpus": os.cpu_count()}), flush=True)
        for case in cases:
            start = time.perf_counter()
            {"mnist": build_mnist, "cats": build_cats}[case](base)
            built = time.perf_counter() - start
            folder = base / ("mnist" if case == "mnist" else "cats")
            files = _files(folder)
            size, mode = ((28, 28), "L") if case == "mnist" else ((64, 64), "RGB")
            figures = {"case": case, "files": len(files), "build_s": round(built, 1)}
            wall, cpu = decode_alone(files, size, mode)
            figures |= {"decode_alone_s": round(wall, 1), "decode_alone_cpu_s": round(cpu, 1)}
            figures |= run_import(base, case, Path(args.repo), extra)
            figures["files_per_s"] = round(len(files) / figures["import_s"])
            print(json.dumps(figures), flush=True)
        print(json.dumps({"load_average": os.getloadavg()}), flush=True)


if __name__ == "__main__":
    main()
