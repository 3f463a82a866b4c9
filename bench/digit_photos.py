"""Benchmark: Classify's digit-photo mode on phone-like photos of handwritten digits (figures).

Renders photos of digits written on paper: pen strokes along jittered handwriting paths or PIL
font glyphs at several weights, stroke width 1-8 px at 1000 px scale, blue / black / pencil-grey
ink, off-white paper with an uneven lighting gradient, a shadow, faint ruled lines, speckles,
slight blur, a few degrees of rotation, the digit off centre, JPEG noise, phone-photo sizes. Each
is saved as ``<digit>_<n>.jpg`` (so Classify's tally reads its class from the name).
Then trains LeNet on the full MNIST in this process (``../shared/data/mnist.npz``, imported with
the project's .npz importer) and reports how many photos it gets right, with and without the
digit-photo mode.

    python bench/digit_photos.py [--count 60] [--epochs 1] [--out DIR] [--home DIR] [--seed 0]

``--home DIR`` keeps the LayerLab data directory (and the trained run) for the next call.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

DEFAULT_NPZ = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist.npz"
FONTS = Path("/usr/share/fonts/truetype")
FONT_FILES = (
    "dejavu/DejaVuSans-ExtraLight.ttf",
    "dejavu/DejaVuSans.ttf",
    "dejavu/DejaVuSans-Bold.ttf",
    "dejavu/DejaVuSansCondensed-Oblique.ttf",
    "liberation/LiberationSans-Italic.ttf",
    "liberation/LiberationSerif-Regular.ttf",
    "liberation/LiberationSansNarrow-Bold.ttf",
)
INKS = {"blue": (35, 45, 150), "black": (25, 25, 30), "pencil": (95, 95, 100)}
SIZES = ((1200, 1600), (1600, 1200), (900, 1200), (1536, 2048))


def _arc(cx, cy, rx, ry, start, end, steps=40):
    angles = np.radians(np.linspace(start, end, steps))
    return list(zip(cx + rx * np.cos(angles), cy + ry * np.sin(angles), strict=True))


def _spline(points, steps=12):
    """A Catmull-Rom curve through ``points`` (a hand's smooth path)."""
    p = [points[0], *points, points[-1]]
    out = []
    for i in range(1, len(p) - 2):
        (x0, y0), (x1, y1), (x2, y2), (x3, y3) = p[i - 1], p[i], p[i + 1], p[i + 2]
        for t in np.linspace(0, 1, steps, endpoint=False):
            t2, t3 = t * t, t * t * t
            out.append(tuple(
                0.5 * (2 * a1 + (a2 - a0) * t + (2 * a0 - 5 * a1 + 4 * a2 - a3) * t2
                       + (3 * a1 - a0 - 3 * a2 + a3) * t3)
                for a0, a1, a2, a3 in ((x0, x1, x2, x3), (y0, y1, y2, y3))
            ))  # fmt: skip
    return [*out, points[-1]]


def strokes(digit: int, rng: np.random.Generator) -> list[list[tuple[float, float]]]:
    """Pen paths of ``digit`` in a unit box (y down), with a hand's variations."""
    j = lambda: rng.uniform(-0.04, 0.04)  # noqa: E731
    paths = {
        0: [_arc(0.5 + j(), 0.5, 0.36 + j(), 0.47, -100, 275 + 20 * rng.random())],
        1: [[(0.35 + j(), 0.2 + j()), (0.58, 0.02), (0.55 + j(), 0.98)]]
        if rng.random() < 0.5
        else [[(0.55 + j(), 0.02), (0.5 + j(), 0.98)]],
        2: [
            _spline(
                [
                    (0.12, 0.25 + j()),
                    (0.32, 0.04),
                    (0.62 + j(), 0.03),
                    (0.85, 0.22 + j()),
                    (0.72 + j(), 0.5),
                    (0.4, 0.78 + j()),
                    (0.12, 0.97),
                ]
            )
            + [(0.9 + j(), 0.95)]
        ],
        3: [
            _arc(0.45, 0.27, 0.35 + j(), 0.25, -160, 90),
            _arc(0.45, 0.73, 0.4 + j(), 0.26, -90, 155),
        ],
        4: [
            [(0.62 + j(), 0.02), (0.08 + j(), 0.66), (0.92, 0.64 + j())],
            [(0.66 + j(), 0.3), (0.66 + j(), 0.98)],
        ],
        5: [
            [(0.85 + j(), 0.03), (0.25, 0.04 + j()), (0.23, 0.44)],
            _arc(0.45, 0.68, 0.38 + j(), 0.3, -125, 150),
        ],
        6: [
            _spline([(0.75 + j(), 0.04), (0.42, 0.16), (0.24 + j(), 0.45), (0.2, 0.72)])
            + _arc(0.5, 0.72, 0.3 + j(), 0.26, 180, 535)
        ],
        7: [[(0.08, 0.05 + j()), (0.9 + j(), 0.05), (0.42 + j(), 0.98)]],
        8: [
            _arc(0.5 + j(), 0.27, 0.26, 0.23, 90, 450),
            _arc(0.5, 0.72, 0.33 + j(), 0.26, -90, 270),
        ],
        9: [_arc(0.5, 0.3, 0.32 + j(), 0.27, 0, 365), [(0.82, 0.3), (0.72 + j(), 0.98)]],
    }
    return paths[digit]


def _handwritten(digit, rng, height, width_px):
    """An ink mask (float 0-1) of ``digit`` drawn with a pen ``width_px`` wide."""
    aspect = rng.uniform(0.55, 0.85)
    slant, turn = rng.uniform(-0.25, 0.15), math.radians(rng.uniform(-8, 8))
    pad = int(width_px * 2 + 4)
    side = int(height * 1.4) + 2 * pad
    mask = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(mask)
    for path in strokes(digit, rng):
        points = []
        for x, y in path:
            x, y = (x - 0.5) * aspect + slant * (0.5 - y), y - 0.5
            x, y = x * math.cos(turn) - y * math.sin(turn), x * math.sin(turn) + y * math.cos(turn)
            points.append((side / 2 + x * height, side / 2 + y * height))
        draw.line(points, fill=255, width=max(1, round(width_px)), joint="curve")
        radius = width_px / 2
        for x, y in (points[0], points[-1]):
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
    return np.asarray(mask, dtype=np.float32) / 255.0


def _typed(digit, rng, height, font_path):
    """An ink mask of ``digit`` in a font, sheared and turned a little."""
    font = ImageFont.truetype(str(font_path), size=int(height * 1.35))
    side = int(height * 2)
    mask = Image.new("L", (side, side), 0)
    ImageDraw.Draw(mask).text((side / 2, side / 2), str(digit), fill=255, font=font, anchor="mm")
    shear = rng.uniform(-0.2, 0.2)
    sheared = (1, shear, -shear * side / 2, 0, 1, 0)
    mask = mask.transform(mask.size, Image.Transform.AFFINE, sheared, Image.Resampling.BILINEAR)
    mask = mask.rotate(rng.uniform(-8, 8), Image.Resampling.BILINEAR)
    return np.asarray(mask, dtype=np.float32) / 255.0


def _paper(rng, width, height):
    """Off-white paper under uneven light, perhaps with faint ruled lines (RGB, 0-1)."""
    tint = np.array([0.93, 0.91, 0.86]) + rng.uniform(-0.025, 0.025, 3)
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * math.pi)
    ramp = (cols * math.cos(angle) + rows * math.sin(angle)) / max(width, height)
    light = 1.0 - rng.uniform(0.1, 0.3) * (ramp - ramp.min()) / (np.ptp(ramp) or 1)
    paper = tint[None, None, :] * light[..., None] + rng.normal(0, 0.015, (height, width, 1))
    if rng.random() < 0.6:  # faint ruled lines, light blue
        gap, thick = rng.uniform(0.04, 0.06) * height, max(1, round(height / 800))
        for y in np.arange(rng.uniform(0, gap), height, gap):
            paper[int(y) : int(y) + thick] *= np.array([0.9, 0.93, 0.98])
    return paper


def _speckle(rng, image):
    """Dots of dirt and paper fibre: up to a few pixels across, some dark."""
    height, width = image.shape[:2]
    img = Image.fromarray((image.clip(0, 1) * 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    scale = max(width, height) / 1000
    for _ in range(int(rng.integers(20, 160))):
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        r = rng.uniform(0.5, 3.5) * scale
        grey = int(rng.uniform(40, 180))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(grey, grey, grey - 10))
    return np.asarray(img, dtype=np.float32) / 255.0


def _shadow(rng, image):
    """A soft shadow (a hand or the phone) over one side of the photo."""
    height, width = image.shape[:2]
    mask = Image.new("L", (width, height), 0)
    x = rng.uniform(0.05, 0.35) * width
    corners = [(0, 0), (x, 0), (x * rng.uniform(0.5, 1.5), height), (0, height)]
    ImageDraw.Draw(mask).polygon(corners, fill=255)
    mask = mask.filter(ImageFilter.GaussianBlur(width / 40))
    if rng.random() < 0.5:
        mask = mask.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    depth = rng.uniform(0.25, 0.5)
    return image * (1 - depth * np.asarray(mask, dtype=np.float32)[..., None] / 255.0)


def photo(digit: int, rng: np.random.Generator) -> Image.Image:
    """One phone-like photo of a handwritten (or typed) ``digit`` on paper."""
    width, height = SIZES[int(rng.integers(len(SIZES)))]
    scale = max(width, height) / 1000
    digit_height = rng.uniform(0.22, 0.55) * min(width, height)
    if rng.random() < 0.65:
        ink_mask = _handwritten(digit, rng, digit_height, rng.uniform(1, 8) * scale)
    else:
        font = FONTS / FONT_FILES[int(rng.integers(len(FONT_FILES)))]
        ink_mask = _typed(digit, rng, digit_height, font)
    rows, cols = np.flatnonzero(ink_mask.any(axis=1)), np.flatnonzero(ink_mask.any(axis=0))
    ink_mask = ink_mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    image = _paper(rng, width, height)
    mh, mw = ink_mask.shape
    top = int(rng.uniform(0.3, 0.7) * height - mh / 2)
    left = int(rng.uniform(0.3, 0.7) * width - mw / 2)
    top, left = min(max(top, 0), height - mh), min(max(left, 0), width - mw)
    ink_name = list(INKS)[int(rng.integers(len(INKS)))]
    opacity = rng.uniform(0.55, 0.8) if ink_name == "pencil" else rng.uniform(0.85, 1.0)
    alpha = ink_mask[..., None] * opacity
    if ink_name == "pencil":  # graphite is grainy
        alpha = alpha * rng.uniform(0.7, 1.0, alpha.shape).astype(np.float32)
    region = image[top : top + mh, left : left + mw]
    ink = np.array(INKS[ink_name], dtype=np.float32) / 255.0
    image[top : top + mh, left : left + mw] = region * (1 - alpha) + ink * alpha
    image = _speckle(rng, image)
    if rng.random() < 0.5:
        image = _shadow(rng, image)
    img = Image.fromarray((image.clip(0, 1) * 255).astype(np.uint8))
    img = img.rotate(rng.uniform(-4, 4), Image.Resampling.BILINEAR, fillcolor=(120, 110, 100))
    return img.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.4) * scale))


def write_photos(folder: Path, count: int, seed: int) -> list[tuple[Path, int]]:
    """``count`` photos across the 10 digits, saved as JPEGs of phone quality."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for n in range(count):
        digit = n % 10
        path = folder / f"{digit}_{n // 10:02d}.jpg"
        photo(digit, rng).save(path, quality=int(rng.integers(60, 92)))
        written.append((path, digit))
    return written


def train_lenet(npz: Path, epochs: int) -> str:
    """A finished LeNet run on the full MNIST (reused when the data directory already has one)."""
    from dlcore.data.npz_import import import_npz
    from dlcore.recipes import preset_experiment
    from dlcore.train import jobs, runs
    from dlcore.train.worker import run_job

    for row in jobs.list_runs():
        if row.get("status") == "completed" and row.get("dataset") == "mnist-full":
            print(f"reusing run {row['run_id']} (validation accuracy {row.get('val_accuracy')})")
            return row["run_id"]
    started = time.monotonic()
    import_npz(npz, "mnist-full", val_percent=10, replace=True)
    run_id = jobs.create_run(preset_experiment("lenet", "mnist-full", epochs=epochs))
    run_job(runs.run_path(run_id))
    final = jobs.status(run_id)
    seconds = time.monotonic() - started
    print(f"trained LeNet {epochs} epoch(s) on the full MNIST in {seconds:.0f} s: "
          f"validation accuracy {final.get('val_accuracy')}")  # fmt: skip
    return run_id


def score(run_id: str, photos: list[tuple[Path, int]], digit_mode: bool) -> tuple[int, list[str]]:
    """(right, wrong ones as name->guess); a photo the preparation refuses counts as wrong."""
    from dlcore.data.image_files import ImageError
    from dlcore.results.inference import classify, load_run_model, run_preparation

    model, info = load_run_model(run_id), run_preparation(run_id)
    wrong = []
    for path, digit in photos:
        try:
            label = classify(model, info, [path], top_k=1, digit_mode=digit_mode)[0].label
        except ImageError:
            label = "refused"
        if label != str(digit):
            wrong.append(f"{path.name}->{label}")
    return len(photos) - len(wrong), wrong


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--npz", type=Path, default=DEFAULT_NPZ)
    parser.add_argument("--count", type=int, default=60)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="folder for the photos (default: a temp folder)")
    parser.add_argument("--home", type=Path, help="LayerLab data directory to keep and reuse")
    args = parser.parse_args()
    if not args.npz.exists():
        print(f"{args.npz} is missing: pass --npz PATH to a Keras mnist.npz", file=sys.stderr)
        return 2
    os.environ["LAYERLAB_HOME"] = str(args.home or tempfile.mkdtemp(prefix="layerlab-bench-"))
    os.environ.setdefault("LAYERLAB_MAX_FILES_PER_IMPORT", "100000")  # MNIST: 70,000 images
    out = args.out or Path(tempfile.mkdtemp(prefix="digit-photos-"))
    started = time.monotonic()
    existing = sorted(out.glob("*_*.jpg"))
    if len(existing) == args.count:  # the same --out again: its photos are kept
        photos = [(path, int(path.name.split("_")[0])) for path in existing]
        print(f"using the {len(photos)} photos in {out}")
    else:
        photos = write_photos(out, args.count, args.seed)
        print(f"wrote {len(photos)} photos to {out} in {time.monotonic() - started:.0f} s")
    run_id = train_lenet(args.npz, args.epochs)
    for digit_mode in (False, True):
        started = time.monotonic()
        right, wrong = score(run_id, photos, digit_mode)
        mode = "digit-photo mode" if digit_mode else "plain resize    "
        seconds = time.monotonic() - started
        print(f"{mode}: {right} of {len(photos)} right ({right / len(photos):.0%}) in "
              f"{seconds:.1f} s; wrong: {' '.join(wrong) or 'none'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
