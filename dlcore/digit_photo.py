"""A phone photo of a handwritten digit on paper, made to look like an MNIST image.

A clean image (an even, noiseless background: an MNIST image, a drawing, a white digit on
black, at any size) keeps its own grey levels: the ink is what contrasts with the dominant
background, lighter or darker; the digit is cropped, fitted in 20x20 by area averaging and
centred by mass, so an image already in MNIST's look comes out as it went in.

A photo gets MNIST's recipe (NIST's binary digits fitted in a 20x20 box, anti-aliased, centred
by mass in 28x28), in four steps:

1. ``ink_residual``: the page's own brightness (shadows, uneven light, tinted paper) is taken
   away, so the ink stands out the same all over the page; so are ruled lines (what runs
   unbroken along the paper's slope for much of its width).
2. ``digit_mask``: thresholds from the photo's own noise and ink, not fixed numbers. Dark
   regions that come in from the edge (the table around the sheet) are left out; the piece
   with the most ink for its size is the digit; pieces near it and not much smaller join it
   (a stroke broken by a fine pen or a light hand), specks do not; then fainter ink grows out
   of them, but only close by.
3. ``even_strokes``: the stroke width is set to MNIST's (about a seventh of the box): a fine pen
   is thickened, which also closes small breaks; a marker is thinned along its middle lines,
   so loops (0, 6, 8, 9) stay open.
4. fitted in 20x20 by area averaging (soft edges, as MNIST's) and centred by mass in 28x28.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from dlcore.image_files import ImageError
from dlcore.images import ImageSource, as_image, to_channels

WORK_SIDE = 1000  # the photo is looked at this many pixels wide or high (thin pen lines survive)
MNIST_FIT, MNIST_SIDE = 20, 28
STROKE_SHARE = 0.14  # MNIST's strokes: about 2.8 px of the 20 px box (median of its training set)
NOISE_FACTOR = 4.0  # ink is at least this many times the paper's noise above the page
LINE_SLOPES = np.tan(np.radians(np.arange(-6.0, 6.25, 0.5)))  # ruled lines in a tilted photo
LINE_SHARE = 0.4  # a ruled line runs longer than this share of the photo's width
LINES_FROM = 200  # ruled lines are looked for in photos at least this many pixels wide or high
RELATIVE = 0.3  # ink fainter than this share of the digit's own is not the digit (ruled lines)
NEAR = 0.3  # pieces within this share of the digit's size around it belong to it
MIN_PIECE = 0.15  # ... when they are at least this share of its size (a speck is smaller)
MIN_SIZE = 0.02  # a digit is at least this share of the photo wide or high
BORDER = 0.01  # touching the photo's edge (within this share): paper edge, shadow, ruled line
CLEAN_NOISE = 3.0  # background noise (grey levels) at most this: a clean image, not a photo
CLEAN_TOLERANCE = 12.0  # ... and its frame this close to the background (no table around it)
CLEAN_STROKES = (0.4, 3.5)  # strokes within these shares of MNIST's keep their grey levels
CLEAN_MIN_INK = 40.0  # ... and a digit at least this many grey levels off the background
CLEAN_MIN_PIECE = 0.05  # a piece of a clean image's digit has this share of its biggest's ink
NO_DIGIT = (
    "no digit found: write the digit dark on light paper (or light on a dark board), "
    "large enough to fill most of the frame."
)


def digit_photo(source: ImageSource, width: int = 28, height: int = 28) -> np.ndarray:
    """A photo of a digit on paper in the MNIST look: bright ink on black, fitted in 20x20 and
    centred by centre of mass in 28x28 (then resized to ``width`` x ``height``)."""
    grey = _working_grey(source)
    digit = _clean_digit(grey)
    if digit is None:  # a photo: uneven light, grain, ruled lines
        digit = _fit(even_strokes(_crop(digit_mask(ink_residual(grey)))), MNIST_FIT)
    canvas = Image.fromarray(_centre_in_canvas(digit, MNIST_SIDE))
    if (width, height) != (MNIST_SIDE, MNIST_SIDE):
        canvas = canvas.resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(canvas, dtype=np.uint8)[..., None]


def _clean_digit(grey: np.ndarray) -> np.ndarray | None:
    """A digit on an even, noiseless background (an MNIST image, a drawing, a white digit on
    black, at any size) fitted in 20x20 with its own grey levels, so that an image already in
    MNIST's look comes out as it went in (strokes far from MNIST's width are evened out as a
    photo's are); None for a photo (grain, shading, a table around the sheet). The ink is
    what contrasts with the dominant background, lighter or darker."""
    from scipy import ndimage

    background = float(np.median(grey))
    if 1.4826 * float(np.median(np.abs(grey - background))) > CLEAN_NOISE:
        return None
    frame = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    if np.mean(np.abs(frame - background) <= CLEAN_TOLERANCE) < 0.9:
        return None  # a sheet on a table, a frame: left to the photo path
    lighter, darker = grey - background, background - grey
    light_ink = np.percentile(lighter, 99.5) >= np.percentile(darker, 99.5)
    ink = np.clip(lighter if light_ink else darker, 0.0, None)
    mask = _clean_mask(ink)
    box = _crop(mask)
    width = stroke_width(box) / max(box.shape)
    if not CLEAN_STROKES[0] * STROKE_SHARE <= width <= CLEAN_STROKES[1] * STROKE_SHARE:
        return _fit(even_strokes(box), MNIST_FIT)
    # The digit's pieces with their soft edges (anti-aliasing), no specks around them.
    soft, _ = ndimage.label(ink > 2 * CLEAN_NOISE, structure=np.ones((3, 3)))
    ink = np.where(np.isin(soft, np.unique(soft[mask])), ink, 0.0)
    full = float(np.percentile(ink[mask], 90))
    digit = _crop_values(np.clip(ink / max(full, 1.0), 0.0, 1.0))
    scale = MNIST_FIT / max(digit.shape)
    size = (max(1, round(digit.shape[1] * scale)), max(1, round(digit.shape[0] * scale)))
    fitted = Image.fromarray(digit.astype(np.float32)).resize(size, Image.Resampling.BOX)
    return np.clip(np.asarray(fitted) * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _clean_mask(ink: np.ndarray) -> np.ndarray:
    """The digit in a clean image: its pieces above a third of its ink (Otsu's, when higher),
    the big ones only: a broken stroke stays, a speck of dust does not."""
    from scipy import ndimage

    strong = float(np.percentile(ink, 99.5))
    if strong < CLEAN_MIN_INK:
        raise ImageError(NO_DIGIT)
    candidates = ink > max(strong / 3, min(_otsu(ink[ink > CLEAN_NOISE]), strong / 2))
    labels, count = ndimage.label(candidates, structure=np.ones((3, 3)))
    masses = ndimage.sum_labels(ink, labels, index=np.arange(1, count + 1))
    kept = np.flatnonzero(masses >= CLEAN_MIN_PIECE * masses.max()) + 1
    mask = np.isin(labels, kept)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 < max(3, MIN_SIZE * max(ink.shape)):
        raise ImageError(NO_DIGIT)
    return mask


def _crop_values(values: np.ndarray) -> np.ndarray:
    rows, cols = np.flatnonzero(values.any(axis=1)), np.flatnonzero(values.any(axis=0))
    return values[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _working_grey(source: ImageSource) -> np.ndarray:
    img = to_channels(as_image(source, target=(WORK_SIDE // 2, WORK_SIDE // 2)), 1).copy()
    img.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.BOX)  # in place; area keeps thin ink
    return np.asarray(img, dtype=np.float32)


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


def _otsu(values: np.ndarray) -> float:
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
    return max(low, _otsu(values))


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


def _crop(mask: np.ndarray) -> np.ndarray:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def stroke_width(mask: np.ndarray) -> float:
    """Typical stroke width of a binary drawing: twice the distance from its middle lines to
    its edges."""
    from scipy import ndimage

    distance = ndimage.distance_transform_edt(np.pad(mask, 1))
    ridge = (distance > 0) & (distance >= ndimage.maximum_filter(distance, size=3))
    return 2.0 * float(np.median(distance[ridge])) if ridge.any() else 0.0


def even_strokes(mask: np.ndarray) -> np.ndarray:
    """The drawing with MNIST's stroke width for its size: thin strokes thickened (which also
    closes small breaks), thick ones redrawn from their middle lines so loops stay open."""
    from scipy import ndimage

    target = STROKE_SHARE * max(mask.shape)
    width = stroke_width(mask)
    pad = int(target) + 2
    padded = np.pad(mask, pad)
    if width > 1.5 * target:  # a marker: keep the middle lines, draw them with the target pen
        distance = ndimage.distance_transform_edt(padded)
        ridge = (distance >= 1) & (distance >= ndimage.maximum_filter(distance, size=3))
        padded = ndimage.distance_transform_edt(~ridge) <= target / 2
    elif width < target:  # a fine pen: thicken all round
        padded = ndimage.distance_transform_edt(~padded) <= (target - width) / 2
    return _crop(padded)


def _fit(mask: np.ndarray, fit: int) -> np.ndarray:
    """The drawing in a ``fit`` square (long side), by area averaging: values 0-255."""
    scale = fit / max(mask.shape)
    size = (max(1, round(mask.shape[1] * scale)), max(1, round(mask.shape[0] * scale)))
    drawing = Image.fromarray(mask.astype(np.uint8) * 255)
    return np.asarray(drawing.resize(size, Image.Resampling.BOX), dtype=np.uint8)


def _centre_in_canvas(digit: np.ndarray, side: int) -> np.ndarray:
    """Place the digit in a ``side`` square with its centre of mass at the centre (MNIST)."""
    top, left = _centre_offset(digit.astype(np.float64), side)
    canvas = np.zeros((side, side), dtype=np.uint8)
    canvas[top : top + digit.shape[0], left : left + digit.shape[1]] = digit
    return canvas


def _centre_offset(digit: np.ndarray, side: int) -> tuple[int, int]:
    """Top-left offset that puts the digit's centre of mass at the canvas centre."""
    total = digit.sum() or 1.0
    rows, cols = np.indices(digit.shape)
    com_row, com_col = (rows * digit).sum() / total, (cols * digit).sum() / total
    centre = side / 2  # MNIST's centres of mass lie at (14, 14), pixel-centre coordinates
    top = int(round(centre - com_row))
    left = int(round(centre - com_col))
    return (
        min(max(top, 0), side - digit.shape[0]),
        min(max(left, 0), side - digit.shape[1]),
    )
