"""Peak memory of the issue's hostile imports, each in a fresh process (issue 7, "Memory").

    .venv/bin/python bench/import_memory.py [--repo PATH] [--cases a,b]

prints one JSON line per case: the process's resident memory before the case and at its peak
(VmHWM from /proc/self/status) in MB, and the outcome (imported / prepared / refused + message).
``--repo`` puts another checkout first on sys.path, to measure the code before a change:
``git worktree add /tmp/before HEAD`` then ``--repo /tmp/before``.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

CASES = ("zip_3000_1x1", "zip_29990", "npz_3000_4x4", "png_rgba", "png_16bit", "png_rgba_x3")

CHILD = r"""
import json, sys, threading
sys.path.insert(0, sys.argv[1])
case, files = sys.argv[2], sys.argv[3]

def rss(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) / 1024
from dlcore import LayerLabError
from dlcore.data import importer, npz_import
from dlcore.data.images import PrepSettings, prepare_image
big = PrepSettings("color", 256, 256)
small = PrepSettings("color", 32, 32)
before = rss("VmRSS:")
outcome = "done"
try:
    if case == "zip_3000_1x1":
        importer.import_zip(f"{files}/tiny.zip", "tiny", big); outcome = "imported"
    elif case == "zip_29990":
        importer.import_zip(f"{files}/many.zip", "many", big); outcome = "imported"
    elif case == "npz_3000_4x4":
        npz_import.import_npz(f"{files}/tiny.npz", "arrays", settings=big); outcome = "imported"
    elif case == "png_rgba":
        prepare_image(f"{files}/rgba.png", small); outcome = "prepared"
    elif case == "png_16bit":
        grey = PrepSettings("grayscale", 32, 32)
        prepare_image(f"{files}/grey16.png", grey); outcome = "prepared"
    elif case == "png_rgba_x3":
        errors = []
        def one():
            try:
                prepare_image(f"{files}/rgba.png", small)
            except LayerLabError as error:
                errors.append(str(error))
        threads = [threading.Thread(target=one) for _ in range(3)]
        [t.start() for t in threads]; [t.join() for t in threads]
        outcome = f"refused: {errors[0]}" if errors else "prepared x3"
except LayerLabError as error:
    outcome = f"refused: {error}"
print(json.dumps({"case": case, "rss_before_mb": round(before), "peak_mb": round(rss("VmHWM:")),
                  "outcome": outcome[:160]}))
"""


def _png(img: Image.Image) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue()


def make_files(folder: Path, cases: list[str]) -> None:
    """The issue's files: tiny on disk, huge once decoded or prepared."""
    pixel = _png(Image.new("RGB", (1, 1), (200, 10, 10)))
    for name, count in (("tiny.zip", 3000), ("many.zip", 29_990)):
        with zipfile.ZipFile(folder / name, "w", zipfile.ZIP_DEFLATED) as archive:
            for i in range(count):
                archive.writestr(f"{'ab'[i % 2]}/{i}.png", pixel)
    x = np.random.default_rng(0).integers(0, 255, (3000, 4, 4), dtype=np.uint8)
    np.savez_compressed(folder / "tiny.npz", x_train=x, y_train=np.arange(3000) % 2)
    if {"png_rgba", "png_rgba_x3"} & set(cases):
        (folder / "rgba.png").write_bytes(_png(Image.new("RGBA", (6324, 6324), (9, 99, 9, 200))))
    if "png_16bit" in cases:
        grey = Image.new("I;16", (6324, 6324), 40000)
        (folder / "grey16.png").write_bytes(_png(grey))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", default=str(Path(__file__).resolve().parents[1]))
    parser.add_argument("--cases", default=",".join(CASES))
    args = parser.parse_args()
    cases = [c for c in args.cases.split(",") if c]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_files(folder, cases)
        sizes = {p.name: p.stat().st_size // 1024 for p in folder.iterdir()}
        print(json.dumps({"repo": args.repo, "file_kb": sizes}), flush=True)
        for case in cases:
            home = folder / f"home-{case}"
            env = {"LAYERLAB_HOME": str(home), "PATH": "/usr/bin:/bin", "HOME": str(home)}
            result = subprocess.run(
                [sys.executable, "-c", CHILD, args.repo, case, str(folder)],
                capture_output=True, text=True, env=env, cwd=args.repo,
            )  # fmt: skip
            lines = result.stdout.strip().splitlines()
            print(lines[-1] if lines else json.dumps({"case": case, "error": result.stderr[-300:]}))
            sys.stdout.flush()


if __name__ == "__main__":
    main()
