"""Decoding and preparing images: the one path every image takes (import, inference, the app).

``dlcore.data.image_files.open_image`` decodes a file safely; ``to_channels`` turns any PIL
mode into "L" or "RGB"; ``resize_image`` follows DIGITS' squash / crop / fill / half_crop;
``prepare_image`` chains them into a ``(height, width, channels)`` uint8 array.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from dlcore import LayerLabError
from dlcore.data.image_files import ImageError, open_image, shrink
from dlcore.limits import Limits, load_limits

COLOR_MODES = ("grayscale", "color")
RESIZE_MODES = ("squash", "crop", "fill", "half_crop")
MIN_SIDE = 4
MAX_SIDE = 4096  # a sane bound of any stored setting; the server's own limit binds imports
ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")

ImageSource = bytes | str | Path | Image.Image | np.ndarray


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
        for what in ("width", "height"):  # fixed bounds: a run's stored settings always load
            value = getattr(self, what)
            if isinstance(value, bool) or not isinstance(value, int):
                raise LayerLabError(f"Image {what} is {value!r}; use a whole number of pixels.")
            if not MIN_SIDE <= value <= MAX_SIDE:
                raise LayerLabError(f"Image {what} is {value}; use {MIN_SIDE} to {MAX_SIDE}.")

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


def check_image_side(width: int, height: int, limits: Limits | None = None) -> None:
    """Refuse an import whose prepared images would be wider or taller than this server allows
    (``max_image_side``): the policy binds new imports, never settings already stored."""
    max_side = (limits or load_limits()).max_image_side
    for what, value in (("width", width), ("height", height)):
        if not MIN_SIDE <= value <= max_side:
            raise LayerLabError(
                f"Image {what} is {value}; use {MIN_SIDE} to {max_side} pixels "
                "(bigger images train slowly; the instructor sets the maximum)."
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
