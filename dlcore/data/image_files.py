"""Opening an image file safely, the first step every image takes: empty, truncated, not an
image, decompression bombs, memory per decoded image, unsupported formats (HEIC, PDF, a
model...), EXIF rotation, the first frame of an animation; a huge photo is shrunk as it is
decoded. ``dlcore.data.images`` prepares what this opens.
"""

from __future__ import annotations

import contextlib
import io
import math
import re
import struct
import threading
import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from dlcore import LayerLabError
from dlcore.limits import load_limits

# ISO base-media brands of formats Pillow cannot read here (iPhone photos are HEIC).
UNSUPPORTED_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1")
DECODE_ERRORS = (OSError, ValueError, EOFError, SyntaxError, struct.error, IndexError)
# Only these decoders run on uploads: Pillow would hand EPS to Ghostscript, an external program.
READABLE_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "DIB", "WEBP", "TIFF", "PPM", "AVIF")
# Files people pick by mistake, recognised by their first bytes, and what to do instead.
OTHER_FILES = (
    (b"\x89HDF\r\n\x1a\n", "a Keras/HDF5 model, not an image (uploaded models are never run)"),
    (b"PK\x03\x04", "a ZIP archive (or a .keras model), not an image"),
    (b"%PDF", "a PDF document, not an image"),
    (b"%!PS", "a PostScript/EPS file, which is not supported"),
    (b"8BPS", "a Photoshop (PSD) file, which is not supported"),
    (b"<svg", "an SVG drawing, which is not supported"),
    (b"<?xml", "an XML/SVG file, which is not supported"),
)
MB = 1024 * 1024
# Bytes Pillow holds per pixel: 1 for "1"/"L", 2 for 16-bit grey, 4 for the rest (RGB is stored
# as 4); palettes count as RGBA because they are expanded before shrinking.
BYTES_PER_PIXEL = {"1": 1, "L": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}
LARGE_DECODE_BYTES = 32 * MB
# A lock, not a cache: decodes above LARGE_DECODE_BYTES wait their turn, so three attendees who
# upload huge photos at once need the memory of one.
_LARGE_DECODES = threading.Lock()
ORIENTATION_TAG = 0x0112
TRANSPOSES = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


class ImageError(LayerLabError):
    """An image that cannot be used; the message says why and what to do."""


def _read_source(source: bytes | str | Path, limit_mb: int) -> bytes:
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source)
    path = Path(source)
    try:
        if not path.is_file():
            raise ImageError(f"{path.name}: no such file; check the path.")
        if path.stat().st_size > limit_mb * 1024 * 1024:
            raise ImageError(f"{path.name}: file is larger than {limit_mb} MB; use a smaller one.")
        return path.read_bytes()
    except OSError as error:  # unreadable: permissions, a name too long, a broken disk
        raise ImageError(
            f"{path.name[:80]}: cannot be read ({error.strerror or error}); check the file."
        ) from None


def _check_supported(data: bytes) -> None:
    if not data:
        raise ImageError("empty file (0 bytes); upload the image again.")
    if data[4:8] == b"ftyp" and data[8:12] in UNSUPPORTED_BRANDS:
        raise ImageError(
            "unsupported format HEIC/HEIF (iPhone photo); convert it to JPEG or PNG first."
        )
    head = data[:64].lstrip()
    for signature, what in OTHER_FILES:
        if head.startswith(signature):
            raise ImageError(f"{what}; choose a JPEG or PNG image (or convert it to one).")


def decoded_bytes(img: Image.Image) -> int:
    """Bytes the decoded pixels of ``img`` take, known from its header before decoding."""
    return img.width * img.height * BYTES_PER_PIXEL.get(img.mode, 4)


def open_image(
    source: bytes | str | Path,
    max_pixels: int | None = None,
    *,
    target: tuple[int, int] | None = None,
) -> Image.Image:
    """Decode an image safely, with EXIF rotation applied and only the first frame kept.

    With ``target`` (width, height) the image comes back shrunk towards twice that size: JPEGs
    decode at a reduced scale and others are reduced before any colour conversion, so a huge
    photo never exists in memory in more than one full-size copy (and only one at a time)."""
    limits = load_limits()
    data = _read_source(source, limits.max_upload_mb)
    _check_supported(data)
    max_pixels = max_pixels or limits.max_image_pixels
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data), formats=READABLE_FORMATS)
            # Only the header is read so far: refuse huge images before decoding pixels.
            width, height = img.size
            if width * height > max_pixels:
                raise ImageError(_bomb_message(f"{width}x{height} pixels", max_pixels))
            if target is not None:
                img.draft(None, (2 * target[0], 2 * target[1]))  # JPEG: decode at 1/2..1/8
            _check_decoded_bytes(img, limits.max_decoded_mb_per_image)
            big = decoded_bytes(img) > LARGE_DECODE_BYTES
            with _LARGE_DECODES if big else contextlib.nullcontext():
                img.load()  # the first frame of an animation
                orientation = _orientation(img)
                if target is not None:
                    img = shrink(img, *target)
            return _upright(img, orientation)
        except ImageError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            found = re.search(r"\((\d+) pixels\)", str(error))
            size = f"{int(found.group(1)):,} pixels" if found else "too many pixels"
            raise ImageError(_bomb_message(size, max_pixels)) from None
        except UnidentifiedImageError:
            raise ImageError(
                "not an image, or an unsupported format; convert it to JPEG or PNG."
            ) from None
        except DECODE_ERRORS as error:
            raise ImageError(f"damaged or truncated image ({error}); re-save or skip it.") from None


def _check_decoded_bytes(img: Image.Image, limit_mb: float) -> None:
    needed = decoded_bytes(img)
    if needed > limit_mb * MB:
        raise ImageError(
            f"image is {img.width}x{img.height} pixels in mode {img.mode}, which takes "
            f"{needed / MB:,.0f} MB of memory decoded, more than the limit of {limit_mb:,} MB per "
            "image; resize it to fewer pixels (or save it as 8-bit RGB JPEG) first."
        )


def _orientation(img: Image.Image) -> int:
    try:
        return int(img.getexif().get(ORIENTATION_TAG, 1))
    except (*DECODE_ERRORS, TypeError):  # broken EXIF data: the pixels are still good
        return 1


def _upright(img: Image.Image, orientation: int) -> Image.Image:
    """Turn the image upright by its EXIF orientation (phones store photos sideways)."""
    method = TRANSPOSES.get(orientation)
    return img if method is None else img.transpose(method)


def shrink(img: Image.Image, width: int, height: int) -> Image.Image:
    """Reduce an image much larger than ``width`` x ``height`` by a whole factor, keeping at
    least twice the size (the final resize smooths the rest), before any colour conversion."""
    factor = min(img.width // width, img.height // height) // 2
    if factor < 2:
        return img
    if img.mode == "1":
        img = img.convert("L")
    elif img.mode in ("P", "PA") or "transparency" in img.info:
        img = img.convert("RGBA")  # averaging palette indices would mix unrelated colours
    if img.mode.startswith("I;16"):  # reduce() has no 16-bit mode; resize() does
        size = (math.ceil(img.width / factor), math.ceil(img.height / factor))
        return img.resize(size, Image.Resampling.BOX)
    return img.reduce(factor)


def _bomb_message(size: str, max_pixels: int) -> str:
    return (
        f"image is {size}, more than the limit of {max_pixels:,} pixels (a decompression "
        "bomb, or a huge scan); resize it below the limit first."
    )
