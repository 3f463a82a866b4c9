"""The digit-photo pipeline: a photo of a digit on paper made to look like an MNIST image, on
photos made here (speckles, ruled lines, shadows, thin and thick pens, JPEG noise)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter
from scipy import ndimage

from dlcore.data.digit_photo import digit_photo, stroke_width
from dlcore.data.image_files import ImageError

INK = (40, 35, 60)


def encode(img: Image.Image, fmt: str = "JPEG") -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, quality=80)
    return buffer.getvalue()


def paper(width: int = 600, height: int = 450, seed: int = 3) -> Image.Image:
    """Light, grainy, unevenly lit paper."""
    rng = np.random.default_rng(seed)
    page = 200 + rng.normal(0, 6, (height, width)) + np.linspace(0, 35, width)[None, :]
    return Image.fromarray(page.clip(0, 255).astype(np.uint8)).convert("RGB")


def seven(img: Image.Image, at=(120, 90), size=160, width=10) -> Image.Image:
    x, y = at
    ImageDraw.Draw(img).line(
        [(x, y), (x + size * 0.6, y), (x + size * 0.2, y + size)], fill=INK, width=width
    )
    return img


def loops(img: Image.Image, count: int, at=(250, 100), size=220, width=3) -> Image.Image:
    """A 0 (one loop) or an 8 (two loops) drawn with a pen ``width`` pixels wide."""
    x, y = at
    draw = ImageDraw.Draw(img)
    if count == 1:
        draw.ellipse((x, y, x + size * 0.6, y + size), outline=INK, width=width)
    else:
        draw.ellipse((x + 10, y, x + size * 0.6 - 10, y + size * 0.45), outline=INK, width=width)
        draw.ellipse((x, y + size * 0.45, x + size * 0.6, y + size), outline=INK, width=width)
    return img


def ink_of(out: np.ndarray, level: int = 100) -> np.ndarray:
    return out[..., 0] > level


def holes(mask: np.ndarray) -> int:
    """Background regions enclosed by the ink (the loops of a 0 or an 8)."""
    _, count = ndimage.label(~mask)
    return count - 1


def centre_of_mass(out: np.ndarray) -> tuple[float, float]:
    pixels = out[..., 0].astype(float)
    rows, cols = np.indices(pixels.shape)
    return (rows * pixels).sum() / pixels.sum(), (cols * pixels).sum() / pixels.sum()


@pytest.mark.parametrize(
    ("offset", "shadow"), [((40, 30), False), ((420, 250), False), ((360, 60), True)]
)
def test_off_centre_digit_is_fitted_in_20_and_centred_by_mass_in_28(offset, shadow):
    photo = paper()
    if shadow:  # a hand's shadow over the left half of the page
        dark = np.asarray(photo).astype(int)
        dark[:, :300] -= 90
        photo = Image.fromarray(dark.clip(0, 255).astype(np.uint8))
    out = digit_photo(encode(seven(photo, at=offset)))
    assert out.shape == (28, 28, 1) and out.dtype == np.uint8
    pixels = out[..., 0]
    assert pixels.max() > 200  # bright ink ...
    frame = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    assert frame.max() == 0 and (pixels == 0).mean() > 0.6  # ... on black, with a margin
    row, col = centre_of_mass(out)
    assert abs(row - 13.5) <= 1 and abs(col - 13.5) <= 1
    rows, cols = (
        np.flatnonzero(ink_of(out, 30).any(axis=1)),
        np.flatnonzero(ink_of(out, 30).any(axis=0)),
    )
    assert 19 <= rows[-1] - rows[0] + 1 <= 21  # the long side fitted to 20 pixels
    assert 8 <= cols[-1] - cols[0] + 1 <= 16  # the 7's bar, not the shadow's edge


def test_speckles_are_removed():
    clean = digit_photo(encode(seven(paper())))
    dirty = seven(paper())
    draw = ImageDraw.Draw(dirty)
    rng = np.random.default_rng(5)
    for _ in range(150):  # dots of dirt all over the page, some right beside the digit
        x, y, r = rng.uniform(0, 600), rng.uniform(0, 450), rng.uniform(1, 4)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(30, 30, 30))
    for x, y in ((100, 80), (230, 110), (150, 270)):
        draw.ellipse((x - 3, y - 3, x + 3, y + 3), fill=(30, 30, 30))
    out = digit_photo(encode(dirty))
    assert np.abs(out.astype(int) - clean.astype(int)).mean() < 4  # the same picture
    outside = ~ndimage.binary_dilation(ink_of(clean, 10), iterations=2)
    assert not (ink_of(out, 60) & outside).any()  # no speck of its own


def test_faint_ruled_lines_through_the_digit_are_left_out():
    lined = paper()
    draw = ImageDraw.Draw(lined)
    for y in range(20, 450, 28):  # light blue lines, tilted a little, across the whole page
        draw.line([(0, y), (600, y + 12)], fill=(170, 185, 215), width=2)
    out = digit_photo(encode(loops(lined, 1)))
    ink = ink_of(out)
    assert holes(ink) == 1  # still a 0 ...
    assert ink.sum(axis=1).max() <= 12  # ... with no line drawn across the box


@pytest.mark.parametrize("pen", [1, 2])
def test_thin_strokes_stay_connected(pen):
    photo = loops(paper(900, 1200), 1, at=(300, 350), size=420, width=pen)
    photo = photo.filter(ImageFilter.GaussianBlur(1.0))  # a phone's focus
    out = digit_photo(encode(photo))
    ink = ink_of(out)
    _, pieces = ndimage.label(ink, structure=np.ones((3, 3)))
    assert pieces == 1 and holes(ink) == 1  # one closed loop: a 0, not a broken C
    assert 1.5 <= stroke_width(ink) <= 4.5  # an MNIST stroke, not a hairline


def test_thick_strokes_are_not_blobbed():
    photo = paper(1000, 1300)  # a 0 drawn with a marker: strokes a fifth of its height
    ImageDraw.Draw(photo).ellipse((250, 250, 750, 1050), outline=INK, width=180)
    out = digit_photo(encode(photo))
    ink = ink_of(out)
    assert holes(ink) == 1  # the loop stays open
    assert stroke_width(ink) <= 5  # the marker's stroke thinned towards MNIST's
    assert 20 <= out.mean() <= 70  # MNIST's images average about 33


def test_light_chalk_on_a_dark_board():
    board = Image.new("RGB", (400, 300), (40, 60, 50))
    ImageDraw.Draw(board).line([(150, 50), (250, 50), (180, 250)], fill=(230, 230, 220), width=8)
    out = digit_photo(encode(board))
    assert out[..., 0].max() > 200 and out[0].max() == 0


def test_other_size_and_blank_page():
    assert digit_photo(seven(paper()), width=32, height=32).shape == (32, 32, 1)
    with pytest.raises(ImageError, match="no digit"):
        digit_photo(Image.new("L", (100, 100), 200))
    with pytest.raises(ImageError, match="no digit"):
        digit_photo(encode(paper()))  # paper and its grain only


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1])


@pytest.fixture(scope="module")
def mnist_test(tmp_path_factory):
    import os

    from dlcore.data.catalogue import load_dataset

    old = os.environ.get("LAYERLAB_HOME")
    os.environ["LAYERLAB_HOME"] = str(tmp_path_factory.mktemp("home"))
    try:
        dataset = load_dataset("mnist-sample")
    finally:
        if old is None:
            os.environ.pop("LAYERLAB_HOME")
        else:
            os.environ["LAYERLAB_HOME"] = old
    return dataset.x_test[:48, ..., 0], dataset.y_test[:48]


def test_clean_mnist_images_pass_through_unchanged(mnist_test):
    images, _ = mnist_test
    scores = [correlation(digit, digit_photo(Image.fromarray(digit))[..., 0]) for digit in images]
    assert min(scores) > 0.8 and np.median(scores) > 0.98, scores


def test_a_scaled_up_clean_mnist_digit_and_its_png(mnist_test):
    images, labels = mnist_test
    five = images[int(np.flatnonzero(labels == 5)[0])]
    big = Image.fromarray(five).resize((112, 112), Image.Resampling.BILINEAR)
    assert correlation(five, digit_photo(big)[..., 0]) > 0.9
    assert correlation(five, digit_photo(encode(Image.fromarray(five), "PNG"))[..., 0]) > 0.95


def test_a_clean_dark_digit_on_white_is_the_same_digit_inverted(mnist_test):
    images, _ = mnist_test
    for digit in images[:8]:
        out = digit_photo(Image.fromarray(255 - digit))[..., 0]
        assert correlation(digit, out) > 0.9


def test_white_digit_on_black_at_phone_size():
    photo = Image.new("RGB", (1200, 1600), (0, 0, 0))  # a 7, strokes about MNIST's share
    ImageDraw.Draw(photo).line(
        [(350, 450), (800, 450), (500, 1150)], fill=(250, 250, 250), width=90
    )
    out = digit_photo(encode(photo))
    pixels = out[..., 0]
    assert pixels.max() > 200 and np.concatenate([pixels[0], pixels[-1]]).max() == 0
    row, col = centre_of_mass(out)
    assert abs(row - 14) <= 1 and abs(col - 14) <= 1
    ink = ink_of(out)
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    assert 18 <= rows[-1] - rows[0] + 1 <= 21 and 10 <= cols[-1] - cols[0] + 1 <= 16
    assert ink[rows[0] : rows[0] + 4].sum() >= 20  # the 7's bar is there, bright
    assert 20 <= out.mean() <= 70


def test_grainy_chalk_photo_keeps_its_bar():
    rng = np.random.default_rng(7)
    board = 55 + rng.normal(0, 8, (450, 600)) + np.linspace(0, 25, 600)[None, :]
    board = Image.fromarray(board.clip(0, 255).astype(np.uint8)).convert("RGB")
    ImageDraw.Draw(board).line([(200, 90), (320, 90), (240, 300)], fill=(225, 225, 215), width=9)
    out = digit_photo(encode(board))
    ink = ink_of(out)
    rows = np.flatnonzero(ink.any(axis=1))
    assert 19 <= rows[-1] - rows[0] + 1 <= 21
    assert ink[rows[0] : rows[0] + 4].sum(axis=0).astype(bool).sum() >= 8  # the bar, not a stub
