"""Finding the digit's ink in a phone photo (steps 1 and 2 of ``dlcore.data.digit_photo``).

1. ``ink_residual``: the page's own brightness (shadows, uneven light, tinted paper) is taken
   away, so the ink stands out the same all over the page; so are ruled lines (what runs
   unbroken along the paper's slope for much of its width).
2. ``digit_mask``: thresholds from the photo's own noise and ink, not fixed numbers. Dark
   regions that come in from the edge (the table around the sheet) are left out; the piece
   with the most ink for its size is the digit; pieces near it and not much smaller join it
   (a stroke broken by a fine pen or a light hand), specks do not; then fainter ink grows out
   of them, but only close by.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from dlcore.data.image_files import ImageError

NOISE_FACTOR = 4.0  # ink is at least this many times the paper's noise above the page
LINE_SLOPES = np.tan(np.radians(np.arange(-6.0, 6.25, 0.5)))  # ruled lines in a tilted photo
LINE_SHARE = 0.4  # a ruled line runs longer than this share of the photo's width
LINES_FROM = 200  # ruled lines are looked for in photos at least this many pixels wide or high
RELATIVE = 0.3  # ink fainter than this share of the digit's own is not the digit (ruled lines)
NEAR = 0.3  # pieces within this share of the digit's size around it belong to it
MIN_PIECE = 0.15  # ... when they are at least this share of its size (a speck is smaller)
MIN_SIZE = 0.02  # a digit is at least this share of the photo wide or high
BORDER = 0.01  # touching the photo's edge (within this share): paper edge, shadow, ruled line
NO_DIGIT = (
    "no digit found: write the digit dark on light paper (or light on a dark board), "
    "large enough to fill most of the frame."
)


def ink_residual(grey: np.ndarray) -> np.ndarray:
    """How much darker than the page around it each pixel is (lighter, for light ink on a dark
    board). The page is the lower of two estimates: the photo with every stroke narrower than
    a sixth of it filled in (a closing keeps the edges of shadows where they are) and a wide
    median (which follows a band of shadow that the closing would fill in as if it were ink)."""
    from scipy import ndimage

    smooth = ndimage.gaussian_filter(grey, sigma=max(0.7, max(grey.shape) / 1400))
    median = _median_page(smooth)
    size = max(3, round(max(grey.shape) / 6))
    # Which way the ink goes, judged away from the photo's edges (a table around the sheet).
    inner = tuple(slice(n // 10, n - n // 10) for n in grey.shape)
    darker = (median - smooth)[inner]
    if np.percentile(darker, 99.9) >= np.percentile(-darker, 99.9):
        page = np.minimum(ndimage.grey_closing(smooth, size=(size, size)), median)
        return _without_ruled_lines(page - smooth)  # dark ink on paper
    page = np.maximum(ndimage.grey_opening(smooth, size=(size, size)), median)
    return _without_ruled_lines(smooth - page)  # chalk on a board


def _line_slope(ink: np.ndarray) -> float:
    """The slope of the paper's ruled lines (or the nearest to it): where the ink of a reduced
    copy, summed along lines of that slope, varies most from line to line."""
    step = max(1, max(ink.shape) // 250)
    small = np.clip(ink[::step, ::step], 0, None)
    rows, cols = np.indices(small.shape)
    scores = []
    for slope in LINE_SLOPES:
        line = rows - np.rint(cols * slope).astype(np.int64)
        scores.append(np.var(np.bincount((line - line.min()).ravel(), weights=small.ravel())))
    return float(LINE_SLOPES[int(np.argmax(scores))])


def _shear(image: np.ndarray, slope: float, back: bool = False) -> np.ndarray:
    """Each column moved up by ``slope`` rows per column (down, ``back``), so that lines of
    that slope run along the rows: cheaper than a rotation, and as good for a few degrees."""
    shift = np.rint(np.arange(image.shape[1]) * slope).astype(np.int64)
    rows = np.arange(image.shape[0])[:, None] + (-shift if back else shift)[None, :]
    return np.take_along_axis(image, np.clip(rows, 0, image.shape[0] - 1), axis=0)


def _without_ruled_lines(ink: np.ndarray) -> np.ndarray:
    """The ink less what runs unbroken along the paper's lines for a long stretch (an opening
    along them): a ruled line goes; a stroke across it, or a digit's bar, stays whole."""
    from scipy import ndimage

    if max(ink.shape) < LINES_FROM:
        return ink  # a small image: a digit's bar would be taken for a ruled line
    slope = _line_slope(ink)
    level = _shear(np.clip(ink, 0, None), slope)
    level = ndimage.maximum_filter1d(level, size=3, axis=0)  # a line off the row by a pixel
    length = max(3, round(LINE_SHARE * ink.shape[1]))
    lines = ndimage.grey_opening(level, size=(1, length))
    return ink - _shear(lines, slope, back=True)


def _median_page(image: np.ndarray) -> np.ndarray:
    """The page without the ink, roughly: a median over windows a third of the page wide, on
    a reduced copy. Tells which way the ink goes: darker or lighter than the page."""
    from scipy import ndimage

    step = max(1, max(image.shape) // 64)
    median = ndimage.median_filter(image[::step, ::step], size=21, mode="nearest")
    full = Image.fromarray(median.astype(np.float32)).resize(
        image.shape[::-1], Image.Resampling.BILINEAR
    )
    return np.asarray(full, dtype=np.float32)


def _pieces(mask: np.ndarray, ink: np.ndarray) -> tuple[np.ndarray, list[dict]]:
    """Connected pieces of ``mask`` (8-connected): their ink, box, size, and whether they
    touch the photo's edge."""
    from scipy import ndimage

    labels, count = ndimage.label(mask, structure=np.ones((3, 3)))
    masses = ndimage.sum_labels(ink, labels, index=np.arange(1, count + 1))
    margin = BORDER * max(mask.shape)
    pieces = []
    for number, (rows, cols) in enumerate(ndimage.find_objects(labels), start=1):
        pieces.append({
            "label": number,
            "box": (rows.start, rows.stop, cols.start, cols.stop),
            "mass": float(masses[number - 1]),
            "size": max(rows.stop - rows.start, cols.stop - cols.start),
            "border": rows.start <= margin or cols.start <= margin
            or rows.stop >= mask.shape[0] - margin or cols.stop >= mask.shape[1] - margin,
        })  # fmt: skip
    return labels, pieces


def otsu(values: np.ndarray) -> float:
    """Otsu's threshold: the value that best splits ``values`` into two groups."""
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return low
    counts, edges = np.histogram(values, bins=256, range=(low, high))
    weight, mean = np.cumsum(counts).astype(np.float64), np.cumsum(counts * edges[1:])
    total, total_mean = weight[-1], mean[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (total_mean * weight - mean * total) ** 2 / (weight * (total - weight))
    return float(edges[1:][np.nanargmax(np.nan_to_num(between, nan=-1.0))])


def _ink_threshold(ink: np.ndarray, candidates: np.ndarray, low: float) -> float:
    """Otsu's split between the digit's ink and fainter marks (ruled lines, paper grain),
    counted without specks and edge regions, which would pull it up past a light hand's ink."""
    labels, pieces = _pieces(candidates, ink)
    small = MIN_SIZE * max(ink.shape)
    kept = [p["label"] for p in pieces if p["size"] >= small and not p["border"]]
    values = ink[np.isin(labels, kept)] if kept else ink[candidates]
    return max(low, otsu(values))


def _near(box: tuple[int, int, int, int], around: tuple[int, int, int, int], reach: float) -> bool:
    top, bottom, left, right = around
    return not (
        box[1] < top - reach or box[0] > bottom + reach
        or box[3] < left - reach or box[2] > right + reach
    )  # fmt: skip


def digit_mask(ink: np.ndarray) -> np.ndarray:
    """The digit's pixels in an ink residual (see the module's docstring, step 2)."""
    from scipy import ndimage

    paper = float(np.median(ink))
    noise = 1.4826 * float(np.median(np.abs(ink - paper)))
    low = paper + max(NOISE_FACTOR * noise, 4.0)
    candidates = ink > low
    outside = _outside_page(candidates)
    if (candidates & ~outside).sum() >= 4:
        ink, candidates = np.where(outside, 0.0, ink), candidates & ~outside
    if candidates.sum() < 4:
        raise ImageError(NO_DIGIT)
    threshold = _ink_threshold(ink, candidates, low)
    for _ in range(2):  # again with a threshold set by the digit's own ink, if that is higher
        labels, pieces = _pieces(ink > threshold, ink)
        if not pieces:
            raise ImageError(NO_DIGIT)
        main = max(pieces, key=lambda p: p["mass"] * p["size"] * (0.01 if p["border"] else 1.0))
        level = float(np.median(ink[labels == main["label"]])) - paper
        if threshold >= paper + RELATIVE * level:
            break
        threshold = paper + RELATIVE * level
    if level < 2 * (low - paper) or main["size"] < max(3, MIN_SIZE * max(ink.shape)):
        raise ImageError(NO_DIGIT)
    reach = NEAR * main["size"]
    kept = [
        p["label"]
        for p in pieces
        if p is main
        or (not p["border"] and p["size"] >= MIN_PIECE * main["size"]
            and _near(p["box"], main["box"], reach))
    ]  # fmt: skip
    seeds = np.isin(labels, kept)
    # Weaker ink grows out of the seeds, a few stroke widths at most: a stroke's faint parts
    # join, a faint line through the digit stays a stub.
    close = ndimage.distance_transform_edt(~seeds) <= max(3.0, 0.06 * main["size"])
    grown, _ = ndimage.label((ink > max(low, threshold / 2)) & close, structure=np.ones((3, 3)))
    return np.isin(grown, np.unique(grown[seeds & (grown > 0)]))


def _outside_page(candidates: np.ndarray) -> np.ndarray:
    """Dark regions wider than a pen line that come in from the photo's edge: the table around
    the sheet, the sheet's own edge. (A line drawn to the edge is too thin to count.)"""
    from scipy import ndimage

    radius = max(2, round(max(candidates.shape) / 250))
    wide = ndimage.binary_opening(candidates, iterations=radius)
    frame = np.zeros_like(candidates)
    frame[:2], frame[-2:], frame[:, :2], frame[:, -2:] = True, True, True, True
    outside = ndimage.binary_propagation(wide & frame, mask=wide)
    return ndimage.binary_dilation(outside, iterations=radius + 1)
