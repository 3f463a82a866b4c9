"""A phone photo of a handwritten digit on paper, made to look like an MNIST image.

A clean image (an even, noiseless background: an MNIST image, a drawing, a white digit on
black, at any size) keeps its own grey levels: the ink is what contrasts with the dominant
background, lighter or darker; the digit is cropped, fitted in 20x20 by area averaging and
centred by mass, so an image already in MNIST's look comes out as it went in.

A photo gets MNIST's recipe (NIST's binary digits fitted in a 20x20 box, anti-aliased, centred
by mass in 28x28), in four steps:

1. ``ink_residual`` (``dlcore.data.digit_ink``): the page's own brightness (shadows, uneven
   light, tinted paper) and ruled lines are taken away, so the ink stands out the same all over.
2. ``digit_mask`` (``dlcore.data.digit_ink``): the digit's pieces, from thresholds set by the
   photo's own noise and ink; the table around the sheet and specks are left out.
3. ``even_strokes``: the stroke width is set to MNIST's (about a seventh of the box): a fine pen
   is thickened, which also closes small breaks; a marker is thinned along its middle lines,
   so loops (0, 6, 8, 9) stay open.
4. fitted in 20x20 by area averaging (soft edges, as MNIST's) and centred by mass in 28x28.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from dlcore.data.digit_ink import MIN_SIZE, NO_DIGIT, digit_mask, ink_residual, otsu
from dlcore.data.image_files import ImageError
from dlcore.data.images import ImageSource, as_image, to_channels

WORK_SIDE = 1000  # the photo is looked at this many pixels wide or high (thin pen lines survive)
MNIST_FIT, MNIST_SIDE = 20, 28
STROKE_SHARE = 0.14  # MNIST's strokes: about 2.8 px of the 20 px box (median of its training set)
CLEAN_NOISE = 3.0  # background noise (grey levels) at most this: a clean image, not a photo
CLEAN_TOLERANCE = 12.0  # ... and its frame this close to the background (no table around it)
CLEAN_STROKES = (0.4, 3.5)  # strokes within these shares of MNIST's keep their grey levels
CLEAN_MIN_INK = 40.0  # ... and a digit at least this many grey levels off the background
CLEAN_MIN_PIECE = 0.05  # a piece of a clean image's digit has this share of its biggest's ink


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
    candidates = ink > max(strong / 3, min(otsu(ink[ink > CLEAN_NOISE]), strong / 2))
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
