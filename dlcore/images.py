"""Decoding and preparing images: the one path every image takes (import, inference, the app).

``open_image`` decodes a file safely (empty, truncated, not an image, decompression bombs,
unsupported formats, EXIF rotation, first frame of animations); ``to_channels`` turns any PIL
mode into "L" or "RGB"; ``resize_image`` follows DIGITS' squash / crop / fill / half_crop;
``prepare_image`` chains them into a ``(height, width, channels)`` uint8 array.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import math
import re
import struct
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from dlcore import LayerLabError
from dlcore.limits import load_limits

COLOR_MODES = ("grayscale", "color")
RESIZE_MODES = ("squash", "crop", "fill", "half_crop")
MIN_SIDE = 4
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
ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
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

ImageSource = bytes | str | Path | Image.Image | np.ndarray


class ImageError(LayerLabError):
    """An image that cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class PrepSettings:
    """How every image of a dataset is prepared: colour, size and resize mode."""

    color_mode: str = "color"
    width: int = 32
    height: int = 32
    resize_mode: str = "squash"

    def __post_init__(self) -> None:
        if self.color_mode not in COLOR_MODES:
            raise LayerLabError(
                f"color_mode is {self.color_mode!r}; choose one of {', '.join(COLOR_MODES)}."
            )
        if self.resize_mode not in RESIZE_MODES:
            raise LayerLabError(
                f"resize_mode is {self.resize_mode!r}; choose one of {', '.join(RESIZE_MODES)}."
            )
        max_side = load_limits().max_image_side
        for what in ("width", "height"):
            value = getattr(self, what)
            if isinstance(value, bool) or not isinstance(value, int):
                raise LayerLabError(f"Image {what} is {value!r}; use a whole number of pixels.")
            if not MIN_SIDE <= value <= max_side:
                raise LayerLabError(
                    f"Image {what} is {value}; use {MIN_SIDE} to {max_side} pixels "
                    "(bigger images train slowly; the instructor sets the maximum)."
                )

    @property
    def channels(self) -> int:
        return 1 if self.color_mode == "grayscale" else 3

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PrepSettings:
        """Build from a dict (a manifest's ``settings``); missing keys take their defaults."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise LayerLabError(f"Unknown image setting(s) {unknown}; known: {sorted(known)}.")
        return cls(**data)


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


def _to_8bit(img: Image.Image) -> Image.Image:
    """Scale 16-bit, 32-bit integer and float images to 8-bit grey without clipping (in float32:
    images are shrunk before this, and no float64 copy is ever made)."""
    if not (img.mode.startswith("I") or img.mode == "F"):
        return img
    values = np.asarray(img).astype(np.float32)
    top = float(values.max()) if values.size else 0.0
    if img.mode.startswith("I;16") or 255 < top <= 65535:
        values = values / 257.0  # 16-bit range 0-65535 to 0-255
    elif img.mode == "F" and 0 <= values.min() and top <= 1.0:
        values = values * 255.0  # float images in 0-1
    elif values.min() < 0 or top > 255:
        low = values.min()
        values = (values - low) * (255.0 / max(top - low, 1e-12))
    return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8))


def to_channels(img: Image.Image, channels: int) -> Image.Image:
    """Convert any PIL mode to "L" (1 channel) or "RGB" (3); transparency goes on white."""
    if channels not in (1, 3):
        raise LayerLabError(f"channels is {channels!r}; use 1 (grayscale) or 3 (colour).")
    img = _to_8bit(img)
    target = "L" if channels == 1 else "RGB"
    try:
        if img.mode in ALPHA_MODES or "transparency" in img.info:
            rgba = img.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            img = Image.alpha_composite(background, rgba).convert("RGB")
        return img if img.mode == target else img.convert(target)
    except ValueError:
        raise ImageError(
            f"colour mode {img.mode} cannot be converted; save the image as RGB JPEG or PNG."
        ) from None


def resize_image(img: Image.Image, width: int, height: int, mode: str = "squash") -> Image.Image:
    """Resize like DIGITS: squash (stretch), crop (cover then centre-crop), fill (fit then pad
    with noise), half_crop (halfway: crop half the excess, pad the rest)."""
    if mode not in RESIZE_MODES:
        raise LayerLabError(f"resize mode is {mode!r}; choose one of {', '.join(RESIZE_MODES)}.")
    src_w, src_h = img.size
    if (src_w, src_h) == (width, height):
        return img
    if mode == "squash":
        return img.resize((width, height), Image.Resampling.BILINEAR)
    width_ratio, height_ratio = src_w / width, src_h / height
    ratio = {
        "crop": min(width_ratio, height_ratio),
        "fill": max(width_ratio, height_ratio),
        "half_crop": (width_ratio + height_ratio) / 2,
    }[mode]
    new_size = (max(1, round(src_w / ratio)), max(1, round(src_h / ratio)))
    resized = img.resize(new_size, Image.Resampling.BILINEAR)
    canvas = _noise(img.mode, (width, height), seed=(src_w, src_h, width, height))
    # A negative offset crops the excess; a positive one leaves noise padding showing.
    canvas.paste(resized, ((width - new_size[0]) // 2, (height - new_size[1]) // 2))
    return canvas


def _noise(mode: str, size: tuple[int, int], seed: tuple[int, ...]) -> Image.Image:
    """Deterministic noise padding (DIGITS pads with noise): same image, same pixels."""
    channels = len(Image.new(mode, (1, 1)).getbands())
    rng = np.random.default_rng(list(seed))
    noise = rng.integers(0, 256, size=(size[1], size[0], channels), dtype=np.uint8)
    return Image.fromarray(noise[..., 0] if channels == 1 else noise).convert(mode)


def _from_array(array: np.ndarray) -> Image.Image:
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise ImageError(f"image array has shape {array.shape}; expected (H, W) or (H, W, 1|3|4).")
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    elif array.dtype != np.uint8:
        values = array.astype(np.float32)
        if not np.isfinite(values).all():
            raise ImageError("image array contains NaN or infinite values.")
        scale = 255.0 if values.size and values.min() >= 0 and values.max() <= 1.0 else 1.0
        array = np.clip(np.rint(values * scale), 0, 255).astype(np.uint8)
    return Image.fromarray(array)


def as_image(source: ImageSource, target: tuple[int, int] | None = None) -> Image.Image:
    """Any accepted source (bytes, path, PIL image, array) as a PIL image; with ``target``
    (width, height) a large one is shrunk towards twice that size (see ``open_image``)."""
    if isinstance(source, Image.Image | np.ndarray):
        img = source if isinstance(source, Image.Image) else _from_array(source)
        return img if target is None else shrink(img, *target)
    return open_image(source, target=target)


def preview_image(source: ImageSource, side: int = 320) -> Image.Image:
    """A copy at most ``side`` pixels wide and high, for showing an upload on a page."""
    img = as_image(source, target=(side, side))
    if max(img.size) <= side:
        return img
    img = img if img.mode in ("L", "RGB", "RGBA") else to_channels(img, 3)
    return img.resize(_fit(img.size, side), Image.Resampling.BILINEAR)


def _fit(size: tuple[int, int], side: int) -> tuple[int, int]:
    scale = side / max(size)
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def prepare_image(source: ImageSource, settings: PrepSettings) -> np.ndarray:
    """THE preparation used everywhere: decode, convert channels, resize -> (H, W, C) uint8."""
    img = as_image(source, target=(settings.width, settings.height))
    img = to_channels(img, settings.channels)
    img = resize_image(img, settings.width, settings.height, settings.resize_mode)
    array = np.asarray(img, dtype=np.uint8)
    return array.reshape(settings.height, settings.width, settings.channels)
