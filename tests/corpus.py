"""A corpus of bad inputs an attendee might upload, built locally with PIL, zipfile and numpy
(nothing from the network). Each builder writes into the folder it is given and returns the path.
"""

from __future__ import annotations

import io
import stat
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

MB = 1024 * 1024


def encode(img: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def good_png(colour=(200, 30, 30), size=(12, 10)) -> bytes:
    return encode(Image.new("RGB", size, colour))


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


# --- images that cannot be used -------------------------------------------------------------


def truncated_jpeg(folder: Path) -> Path:
    noise = Image.effect_noise((64, 64), 60).convert("RGB")
    return _write(folder, "truncated.jpg", encode(noise, "JPEG")[:400])


def truncated_png(folder: Path) -> Path:
    noise = Image.effect_noise((64, 64), 60).convert("RGB")
    return _write(folder, "truncated.png", encode(noise)[:200])


def zero_byte(folder: Path) -> Path:
    return _write(folder, "empty.jpg", b"")


def text_as_png(folder: Path) -> Path:
    return _write(folder, "notes.png", b"Meeting notes: this is text saved with a .png name.\n")


def png_bomb(folder: Path) -> Path:
    """A PNG header declaring 100000 x 100000 pixels (10 gigapixels) with no pixel data."""
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IEND", b"")
    return _write(folder, "bomb.png", data)


def fake_heic(folder: Path) -> Path:
    """An iPhone photo's container header (ISO base media, brand heic)."""
    return _write(folder, "photo.heic", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" * 4)


def heic_named_jpg(folder: Path) -> Path:
    return _write(folder, "iphone.jpg", fake_heic(folder).read_bytes())


def svg_text(folder: Path) -> Path:
    svg = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect/></svg>'
    return _write(folder, "drawing.svg", svg.encode())


def svg_named_png(folder: Path) -> Path:
    return _write(folder, "drawing.png", svg_text(folder).read_bytes())


def psd_named_png(folder: Path) -> Path:
    """A Photoshop header (Pillow could read PSD; LayerLab does not)."""
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, 8, 8, 8, 3) + b"\0" * 64
    return _write(folder, "layers.png", header)


def eps_named_jpg(folder: Path) -> Path:
    """PostScript: Pillow hands it to Ghostscript, an external program; never here."""
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n%%EOF\n"
    return _write(folder, "vector.jpg", eps)


def tiff_file(folder: Path) -> Path:
    """A real TIFF: not an importable extension, but decodable when classified directly."""
    return _write(folder, "scan.tiff", encode(Image.new("RGB", (10, 10), (0, 90, 0)), "TIFF"))


def keras_model(folder: Path) -> Path:
    """What a ``.keras`` file looks like (a ZIP of config.json and weights); never loaded."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("metadata.json", '{"keras_version": "3.0.0"}')
        archive.writestr("config.json", '{"class_name": "Lambda", "config": {"function": "x"}}')
        archive.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    return _write(folder, "model.keras", buffer.getvalue())


def h5_model(folder: Path) -> Path:
    return _write(folder, "model.h5", b"\x89HDF\r\n\x1a\n" + b"\0" * 256)


# --- odd images that must work -------------------------------------------------------------


def png_16bit(folder: Path) -> Path:
    values = np.full((10, 12), 40000, dtype=np.uint16)
    return _write(folder, "sixteen.png", encode(Image.fromarray(values)))


def cmyk_jpeg(folder: Path) -> Path:
    red = Image.new("RGB", (12, 10), (220, 20, 20)).convert("CMYK")
    return _write(folder, "cmyk.jpg", encode(red, "JPEG", quality=95))


def palette_png_transparent(folder: Path) -> Path:
    img = Image.new("P", (12, 10), 0)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    img.paste(1, (0, 0, 6, 10))  # left half red, right half transparent (index 0)
    return _write(folder, "palette.png", encode(img, transparency=0))


def animated_gif(folder: Path) -> Path:
    frames = [Image.new("RGB", (12, 10), colour) for colour in ((0, 0, 255), (255, 255, 0))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=50)
    return _write(folder, "animated.gif", buffer.getvalue())


def exif_rotated_jpeg(folder: Path) -> Path:
    """A 40x20 photo stored sideways with EXIF orientation 6: upright it is 20x40."""
    img = Image.new("RGB", (40, 20), "white")
    img.paste((0, 0, 0), (0, 0, 10, 20))  # a black band on the stored image's left
    exif = Image.Exif()
    exif[0x0112] = 6
    return _write(folder, "rotated.jpg", encode(img, "JPEG", exif=exif.tobytes()))


# --- ZIP archives ---------------------------------------------------------------------------


def make_zip(folder: Path, name: str, members: dict[str, bytes | Path]) -> Path:
    path = Path(folder) / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in members.items():
            archive.writestr(member, data if isinstance(data, bytes) else Path(data).read_bytes())
    return path


def class_members(classes: dict[str, int], prefix: str = "") -> dict[str, bytes]:
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200)]
    return {
        f"{prefix}{label}/{i}.png": good_png(colours[k % 3])
        for k, (label, count) in enumerate(classes.items())
        for i in range(count)
    }


def zip_escapes(folder: Path, outside: Path) -> Path:
    """Members aimed outside the unpack folder: ``..``, absolute, drive letters, symlinks."""
    members = class_members({"cat": 3, "dog": 3})
    members.update(
        {
            "../../../escaped-up.png": good_png(),
            "cat/../../../../escaped-deep.png": good_png(),
            "..\\..\\..\\escaped-windows.png": good_png(),
            str(outside / "escaped-absolute.png"): good_png(),
            "C:\\escaped-drive.png": good_png(),
        }
    )
    path = make_zip(folder, "escapes.zip", members)
    with zipfile.ZipFile(path, "a") as archive:
        for name, target in (("cat/link.png", "/etc/passwd"), ("dog/up", "../../..")):
            link = zipfile.ZipInfo(name)
            link.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(link, target)
        archive.writestr("dog/up/escaped-via-link.png", good_png())
    return path


def zip_bomb(folder: Path, megabytes: int = 300) -> Path:
    """``megabytes`` of zeros in one member, compressed about 1000:1 (written streaming)."""
    path = Path(folder) / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("cat/0.png", good_png())
        with archive.open("cat/zeros.png", "w") as member:
            chunk = bytes(4 * MB)
            for _ in range(megabytes // 4):
                member.write(chunk)
    return path


def zip_lying_sizes(folder: Path) -> Path:
    """A member whose headers declare 100 bytes but whose data inflates to 5 MB."""
    members = class_members({"cat": 3, "dog": 3})
    members["cat/liar.png"] = bytes(5 * MB)
    data = bytearray(make_zip(folder, "liar.zip", members).read_bytes())
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # local, central
        start = data.find(signature)
        while start >= 0:
            if struct.unpack_from("<I", data, start + offset)[0] == 5 * MB:
                struct.pack_into("<I", data, start + offset, 100)
            start = data.find(signature, start + 4)
    return _write(folder, "liar.zip", bytes(data))


def zip_many_entries(folder: Path, count: int) -> Path:
    return make_zip(folder, "many.zip", {f"cat/{i}.txt": b"" for i in range(count)})


def zip_no_class_folders(folder: Path) -> Path:
    return make_zip(folder, "flat.zip", {f"{i}.png": good_png() for i in range(4)})


def zip_one_class(folder: Path) -> Path:
    return make_zip(folder, "one-class.zip", class_members({"cat": 4}, prefix="photos/"))


def zip_empty_classes(folder: Path) -> Path:
    """Two classes with images and one empty folder: the import goes on with two."""
    members = class_members({"cat": 3, "dog": 3})
    path = make_zip(folder, "empty-class.zip", members)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(zipfile.ZipInfo("fox/"), b"")
    return path


def zip_only_empty_classes(folder: Path) -> Path:
    path = make_zip(folder, "all-empty.zip", {"readme.txt": b"hi"})
    with zipfile.ZipFile(path, "a") as archive:
        for label in ("cat/", "dog/"):
            archive.writestr(zipfile.ZipInfo(label), b"")
    return path


def zip_nested(folder: Path) -> Path:
    """Class folders under two wrapper folders, images deep inside each class."""
    members = {
        f"export/animals/{label}/2024/{month}/{i}.png": good_png(colour)
        for label, colour in (("cat", (200, 30, 30)), ("dog", (30, 30, 200)))
        for month in ("jan", "feb")
        for i in range(2)
    }
    return make_zip(folder, "nested.zip", members)


def zip_junk(folder: Path) -> Path:
    """Class folders with non-images, model files, __MACOSX and .DS_Store litter."""
    members = class_members({"cat": 3, "dog": 3})
    members.update(
        {
            "cat/notes.txt": b"some notes",
            "cat/report.pdf": b"%PDF-1.4 ...",
            "dog/model.keras": keras_model(folder).read_bytes(),
            "dog/weights.h5": b"\x89HDF\r\n\x1a\n" + b"\0" * 64,
            "__MACOSX/cat/._0.png": b"\0\x05\x16\x07",
            ".DS_Store": b"\0\0\0\1Bud1",
            "cat/.DS_Store": b"\0\0\0\1Bud1",
            "dog/Thumbs.db": b"\0",
        }
    )
    return make_zip(folder, "junk.zip", members)


def zip_long_name(folder: Path) -> Path:
    members = class_members({"cat": 3, "dog": 3})
    members["cat/" + "x" * 300 + ".png"] = good_png()
    return make_zip(folder, "long-name.zip", members)


def zip_encrypted_member(folder: Path) -> Path:
    """A member flagged as password-protected (zipfile cannot write one: the flag is patched)."""
    members = {**class_members({"cat": 3, "dog": 3}), "cat/secret.png": good_png()}
    data = bytearray(make_zip(folder, "locked.zip", members).read_bytes())
    name = b"cat/secret.png"
    for signature, flag_at, name_at in ((b"PK\x03\x04", 6, 30), (b"PK\x01\x02", 8, 46)):
        start = data.find(signature)
        while start >= 0:
            if data[start + name_at : start + name_at + len(name)] == name:
                data[start + flag_at] |= 0x1
            start = data.find(signature, start + 4)
    return _write(folder, "locked.zip", bytes(data))


def zip_train_val_differ(folder: Path) -> Path:
    members = class_members({"cat": 3, "dog": 3}, prefix="train/")
    members.update(class_members({"cat": 2, "cow": 2}, prefix="val/"))
    return make_zip(folder, "split.zip", members)


def not_a_zip(folder: Path) -> Path:
    return _write(folder, "photos.zip", b"Rar!\x1a\x07\x00 this is a RAR archive, not a ZIP")


def truncated_zip(folder: Path) -> Path:
    data = make_zip(folder, "whole.zip", class_members({"cat": 3, "dog": 3})).read_bytes()
    (Path(folder) / "whole.zip").unlink()
    return _write(folder, "cut.zip", data[: len(data) // 2])


def zero_byte_zip(folder: Path) -> Path:
    return _write(folder, "empty.zip", b"")


def val_folders_differ(folder: Path) -> tuple[Path, Path]:
    """A training folder (cat, dog) and a validation folder (cat, cow)."""
    for relative, data in class_members({"cat": 3, "dog": 3}, prefix="train/").items():
        _write(folder, relative, data)
    for relative, data in class_members({"cat": 2, "cow": 2}, prefix="val/").items():
        _write(folder, relative, data)
    return Path(folder) / "train", Path(folder) / "val"


def class_folder(folder: Path, extra: dict[str, bytes] | None = None) -> Path:
    """A good two-class folder (``cat``, ``dog``), plus ``extra`` files (relative paths)."""
    root = Path(folder) / "photos"
    for relative, data in {**class_members({"cat": 3, "dog": 3}), **(extra or {})}.items():
        _write(root, relative, data)
    return root


# --- .npz files -----------------------------------------------------------------------------

_X = np.zeros((6, 8, 8), np.uint8)
_Y = np.array([0, 1, 0, 1, 0, 1])

NPZ_CASES: dict[str, tuple[dict, str]] = {
    "missing keys": ({"images": _X, "labels": _Y}, "expected x_train and y_train"),
    "1-D images": ({"x_train": np.zeros(6), "y_train": _Y}, r"has shape \(6,\)"),
    "2 channels": ({"x_train": np.zeros((6, 8, 8, 2)), "y_train": _Y}, r"\(6, 8, 8, 2\)"),
    "no images": ({"x_train": np.zeros((0, 8, 8)), "y_train": _Y[:0]}, r"\(0, 8, 8, 1\)"),
    "huge images": ({"x_train": np.zeros((6, 2000, 8), np.uint8), "y_train": _Y}, "2000"),
    "tiny images": ({"x_train": np.zeros((6, 2, 2), np.uint8), "y_train": _Y}, "width is 2"),
    "complex pixels": ({"x_train": _X.astype(complex), "y_train": _Y}, "dtype complex128"),
    "string pixels": ({"x_train": np.full((6, 8, 8), "a"), "y_train": _Y}, "dtype <U1"),
    "object pixels": ({"x_train": np.array([_X, None], dtype=object), "y_train": _Y}, "objects"),
    "NaN pixels": ({"x_train": np.full((6, 8, 8), np.nan), "y_train": _Y}, "NaN"),
    "pixels over 255": ({"x_train": np.full((6, 8, 8), 300.0), "y_train": _Y}, "0-255"),
    "negative labels": ({"x_train": _X, "y_train": -_Y}, "class indices"),
    "fractional labels": ({"x_train": _X, "y_train": _Y + 0.5}, "whole-number"),
    "NaN labels": ({"x_train": _X, "y_train": np.full(6, np.nan)}, "whole-number"),
    "string labels": ({"x_train": _X, "y_train": np.array(list("ababab"))}, "dtype <U1"),
    "complex labels": ({"x_train": _X, "y_train": _Y.astype(complex)}, "whole-number"),
    "huge labels": ({"x_train": _X, "y_train": _Y * 10**9}, "at most"),
    "labels too few": ({"x_train": _X, "y_train": _Y[:4]}, "expected 6"),
    "labels too many": ({"x_train": _X, "y_train": np.arange(12) % 2}, "expected 6"),
    "x_test alone": ({"x_train": _X, "y_train": _Y, "x_test": _X}, "both"),
    "x_test other size": (
        {"x_train": _X, "y_train": _Y, "x_test": np.zeros((2, 9, 9)), "y_test": _Y[:2]},
        "x_test images have shape",
    ),
}


def npz_file(folder: Path, name: str, arrays: dict) -> Path:
    """Save ``arrays`` with np.savez (object arrays are pickled, as a careless script would)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return _write(folder, name, buffer.getvalue())


def npy_as_npz(folder: Path) -> Path:
    buffer = io.BytesIO()
    np.save(buffer, _X)
    return _write(folder, "single.npz", buffer.getvalue())


def pickle_as_npz(folder: Path) -> Path:
    """A pickle renamed .npz: unpickling it could run code, so it is never unpickled."""
    return _write(folder, "evil.npz", b"\x80\x04\x95\x1a\x00cos\nsystem\n(S'echo owned'\ntR.")


def npz_bomb(folder: Path) -> Path:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, x_train=np.zeros((60, 1000, 1000), np.uint8), y_train=np.zeros(60))
    return _write(folder, "bomb.npz", buffer.getvalue())
