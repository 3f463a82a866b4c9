"""Image decoding and preparation: modes, EXIF, bombs, resize modes (digit photos elsewhere)."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from dlcore import LayerLabError
from dlcore.data.image_files import ImageError, open_image
from dlcore.data.images import (
    PrepSettings,
    check_image_side,
    prepare_image,
    resize_image,
    to_channels,
)


def encode(img: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width`` x ``height`` (no real pixel data)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def test_settings_validate_and_round_trip():
    settings = PrepSettings("grayscale", 28, 28, "crop")
    assert settings.channels == 1 and PrepSettings().channels == 3
    assert PrepSettings.from_dict(settings.to_dict()) == settings
    with pytest.raises(LayerLabError, match="color_mode"):
        PrepSettings(color_mode="sepia")
    with pytest.raises(LayerLabError, match="resize_mode"):
        PrepSettings(resize_mode="zoom")
    with pytest.raises(LayerLabError, match="width is 2"):
        PrepSettings(width=2)
    with pytest.raises(LayerLabError, match="height is 5000; use 4 to 4096"):
        PrepSettings(height=5000)
    assert PrepSettings(height=1000).height == 1000  # the server's limit binds imports only
    with pytest.raises(LayerLabError, match="height is 1000; use 4 to 256 pixels"):
        check_image_side(32, 1000)
    with pytest.raises(LayerLabError, match="Unknown image setting"):
        PrepSettings.from_dict({"colour": "grey"})


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (b"hello, I am text pretending to be a PNG", "not an image"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "HEIC"),
    ],
)
def test_open_image_refuses_bad_files(data, reason):
    with pytest.raises(ImageError, match=reason):
        open_image(data)


def test_open_image_refuses_truncated_jpeg():
    data = encode(Image.effect_noise((64, 64), 50).convert("RGB"), "JPEG")
    with pytest.raises(ImageError, match="truncated"):
        open_image(data[: len(data) // 2])


def test_open_image_refuses_missing_file(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        open_image(tmp_path / "nope.png")


def test_decompression_bomb_refused_before_decoding():
    with pytest.raises(ImageError, match="10,000,000,000 pixels.*decompression bomb"):
        open_image(png_header(100_000, 100_000))  # Pillow's own check fires on open
    with pytest.raises(ImageError, match="9000x9000 pixels.*decompression bomb"):
        open_image(png_header(9000, 9000))  # ours, from the header, before decoding
    small = encode(Image.new("RGB", (100, 100)))
    with pytest.raises(ImageError, match="decompression bomb"):
        open_image(small, max_pixels=5_000)
    assert open_image(small, max_pixels=10_000).size == (100, 100)


def test_exif_orientation_is_applied():
    img = Image.new("RGB", (40, 20), "white")
    img.paste((0, 0, 0), (0, 0, 20, 20))  # left half black
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    upright = open_image(encode(img, "JPEG", exif=exif.tobytes()))
    assert upright.size == (20, 40)
    pixels = np.asarray(upright.convert("L"), dtype=float)
    assert pixels[:15].mean() < 60 and pixels[25:].mean() > 200  # the black half is now on top


def test_animated_gif_gives_first_frame():
    frames = [Image.new("L", (8, 8), value) for value in (10, 200, 90)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    img = open_image(buffer.getvalue())
    assert abs(int(np.asarray(img.convert("L")).mean()) - 10) <= 2


def mode_samples() -> dict[str, tuple[Image.Image, int]]:
    """One image per PIL mode, with the grey value its centre should become."""
    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    palette.info["transparency"] = 1  # the whole image is transparent -> white
    sixteen = Image.fromarray(np.full((4, 4), 40000, dtype=np.uint16))
    return {
        "1": (Image.new("1", (4, 4), 1), 255),
        "L": (Image.new("L", (4, 4), 77), 77),
        "LA": (Image.new("LA", (4, 4), (0, 0)), 255),
        "P": (palette, 255),
        "RGB": (Image.new("RGB", (4, 4), (50, 50, 50)), 50),
        "RGBA": (Image.new("RGBA", (4, 4), (0, 0, 0, 0)), 255),
        "I;16": (open_image(encode(sixteen)), round(40000 / 257)),
        "I": (Image.new("I", (4, 4), 200), 200),
        "F": (Image.new("F", (4, 4), 0.5), 128),
    }


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I", "F"])
@pytest.mark.parametrize("channels", [1, 3])
def test_to_channels_handles_every_mode(mode, channels):
    img, grey = mode_samples()[mode]
    out = to_channels(img, channels)
    assert out.mode == ("L" if channels == 1 else "RGB")
    assert np.abs(np.asarray(out, dtype=int) - grey).max() <= 1


def test_sixteen_bit_png_is_scaled_not_clipped():
    ramp = np.linspace(0, 65535, 64).astype(np.uint16).reshape(8, 8)
    img = open_image(encode(Image.fromarray(ramp)))
    assert img.mode.startswith("I")
    out = np.asarray(to_channels(img, 1), dtype=int)
    assert out.min() == 0 and out.max() == 255 and len(np.unique(out)) > 50


def test_cmyk_jpeg_keeps_its_colour():
    red = Image.new("RGB", (16, 16), (220, 20, 20)).convert("CMYK")
    img = open_image(encode(red, "JPEG", quality=95))
    assert img.mode == "CMYK"
    r, g, b = np.asarray(to_channels(img, 3), dtype=int)[8, 8]
    assert r > 180 and g < 60 and b < 60


def test_channels_must_be_1_or_3():
    with pytest.raises(LayerLabError, match="channels"):
        to_channels(Image.new("L", (4, 4)), 2)


def bands(width: int = 64, height: int = 32) -> Image.Image:
    """A wide image: a red left quarter, a blue right quarter, white in between."""
    img = Image.new("RGB", (width, height), "white")
    img.paste((255, 0, 0), (0, 0, width // 4, height))
    img.paste((0, 0, 255), (3 * width // 4, 0, width, height))
    return img


def test_resize_squash_keeps_everything():
    out = np.asarray(resize_image(bands(), 32, 32, "squash"))
    assert out.shape == (32, 32, 3)
    assert out[:, 0, 0].min() > 200 and out[:, -1, 2].min() > 200  # both bands still there


def test_resize_crop_cuts_the_long_side():
    out = np.asarray(resize_image(bands(), 32, 32, "crop"))
    assert out.shape == (32, 32, 3)
    assert (out == 255).all()  # the centre 32x32 of the 64x32 image is all white


def test_resize_fill_pads_with_reproducible_noise():
    first = np.asarray(resize_image(bands(), 32, 32, "fill"))
    again = np.asarray(resize_image(bands(), 32, 32, "fill"))
    assert first.shape == (32, 32, 3)
    np.testing.assert_array_equal(first, again)
    assert first[:8].std() > 40  # noise above the image
    assert first[8:24, 0, 0].min() > 200 and first[8:24, -1, 2].min() > 200  # bands kept


def test_resize_half_crop_is_between_crop_and_fill():
    out = np.asarray(resize_image(bands(), 32, 32, "half_crop"))
    assert out.shape == (32, 32, 3)
    assert out[:3].std() > 40  # some noise padding
    assert out[16, 0, 0] > 200 and out[16, 0, 1] < 80  # some of the red band survives
    with pytest.raises(LayerLabError, match="resize mode"):
        resize_image(bands(), 32, 32, "stretch")


@pytest.mark.parametrize(
    "source",
    [
        encode(bands()),
        bands(),
        np.asarray(bands()),
        np.asarray(bands(), dtype=np.float32) / 255.0,
    ],
    ids=["bytes", "pil", "uint8-array", "float-array"],
)
def test_prepare_image_accepts_every_source(source):
    out = prepare_image(source, PrepSettings("color", 16, 12, "squash"))
    assert out.shape == (12, 16, 3) and out.dtype == np.uint8
    assert out[6, 0, 0] > 200 and out[6, 0, 1] < 60
    grey = prepare_image(source, PrepSettings("grayscale", 10, 10))
    assert grey.shape == (10, 10, 1)


def test_prepare_image_from_path(tmp_path):
    path = tmp_path / "photo.jpg"
    bands().save(path)
    assert prepare_image(path, PrepSettings()).shape == (32, 32, 3)
    assert prepare_image(str(path), PrepSettings("grayscale", 8, 8)).shape == (8, 8, 1)


# --- issue 7: decoding memory ------------------------------------------------------------------


def _png(img) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue()


def test_decoded_bytes_are_checked_from_the_header_before_decoding(monkeypatch):
    from dlcore.data.image_files import ImageError, decoded_bytes, open_image

    monkeypatch.setenv("LAYERLAB_MAX_DECODED_MB_PER_IMAGE", "1")
    data = _png(Image.new("RGBA", (700, 700)))  # 1.9 MB decoded, a few KB on disk
    with pytest.raises(ImageError, match="more than the limit of 1 MB per image"):
        open_image(data)
    assert decoded_bytes(Image.new("I;16", (10, 10))) == 200


def test_a_large_image_is_shrunk_before_colour_conversion_and_keeps_its_look():
    from dlcore.data.images import PrepSettings, prepare_image

    img = Image.new("RGBA", (1200, 900), (255, 0, 0, 255))
    img.paste((0, 0, 255, 0), (600, 0, 1200, 900))  # right half transparent: white on prepare
    out = prepare_image(_png(img), PrepSettings("color", 16, 12))
    assert out.shape == (12, 16, 3)
    assert tuple(out[6, 2]) == (255, 0, 0) and tuple(out[6, 13]) == (255, 255, 255)


def test_16bit_images_convert_without_a_float64_copy():
    """The issue's 16-bit PNG went through a float64 copy of every pixel; numpy's allocations
    (traced by tracemalloc) now stay far below even one such copy (32 MB here)."""
    import tracemalloc

    from dlcore.data.images import PrepSettings, prepare_image

    values = (np.arange(2000 * 2000, dtype=np.uint32) % 65536).astype(np.uint16)
    data = _png(Image.fromarray(values.reshape(2000, 2000)))
    del values
    tracemalloc.start()
    try:
        out = prepare_image(data, PrepSettings("grayscale", 8, 8))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert out.dtype == np.uint8 and out.shape == (8, 8, 1) and 0 < out.mean() < 255
    assert peak < 4 * 1024 * 1024


def test_exif_rotation_survives_shrinking():
    from dlcore.data.image_files import open_image

    img = Image.new("RGB", (800, 400), (0, 0, 0))
    exif = img.getexif()
    exif[0x0112] = 6  # stored sideways: turn 90 degrees
    buffer = io.BytesIO()
    img.save(buffer, format="JPEG", exif=exif.tobytes())
    assert open_image(buffer.getvalue()).size == (400, 800)
    small = open_image(buffer.getvalue(), target=(20, 20))
    assert small.width < small.height


def test_large_decodes_wait_their_turn(monkeypatch):
    import threading

    from dlcore.data import image_files

    monkeypatch.setattr(image_files, "LARGE_DECODE_BYTES", 1000)
    data = _png(Image.new("RGB", (300, 300)))
    inside, most = [0], [0]
    real_shrink = image_files.shrink

    def counting(img, *size):
        inside[0] += 1
        most[0] = max(most[0], inside[0])
        threading.Event().wait(0.05)
        inside[0] -= 1
        return real_shrink(img, *size)

    monkeypatch.setattr(image_files, "shrink", counting)
    threads = [
        threading.Thread(target=image_files.open_image, args=(data,), kwargs={"target": (8, 8)})
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most[0] == 1
