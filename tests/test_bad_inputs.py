"""Every bad input an attendee might give: dlcore refuses or skips it with a message that says
what to do; the CLI exits 2 with one line (or 0, listing the file as skipped, when the import can
go on); nothing is ever written outside $LAYERLAB_HOME. The inputs come from tests/corpus.py."""

from __future__ import annotations

import errno
import json
import math
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import corpus
import numpy as np
import pytest

from dlcore import LayerLabError
from dlcore.cli import main
from dlcore.data import unpack
from dlcore.data.dataset import Dataset, save_dataset
from dlcore.data.image_files import ImageError, open_image
from dlcore.data.images import PrepSettings, prepare_image
from dlcore.data.importer import import_files, import_folder, import_zip
from dlcore.data.npz_import import import_npz
from dlcore.results import inference
from dlcore.spec import ConvBlock, DataSpec, DenseLayer, Experiment, TrainSpec
from dlcore.storage import atomic_write_json, check_name, datasets_dir, runs_dir, scratch_dir
from dlcore.train.runs import RunNotFound, run_path

SMALL = PrepSettings("color", 8, 8)
RUN_ID = "20250101-000000-abcdef"
# A message says what to do when it holds one of these (an instruction or the action taken).
ADVICE = re.compile(
    r"\b(use|choose|convert|upload|save|re-save|re-create|give|put|add|rename|free|ask|resize|"
    r"check|number|rescale|import|ignored|lists|wait|see|write)\b",
    re.IGNORECASE,
)
PROGRESS = re.compile(r"^\d+/\d+ ")


def case_id(value) -> str | None:
    """Test ids: a corpus builder's name, else pytest's own."""
    return value.__name__ if callable(value) else None


def advises(message: str) -> bool:
    return bool(ADVICE.search(message))


@dataclass
class Sandbox:
    """The places a test may look at: corpus (inputs), tmp ($TMPDIR) and cwd, all fresh."""

    root: Path
    corpus: Path
    tmp: Path
    cwd: Path
    frozen: set[str] = field(default_factory=set)

    def freeze(self) -> None:
        """Remember the corpus as built; it must not change afterwards."""
        self.frozen = {str(p.relative_to(self.corpus)) for p in self.corpus.rglob("*")}


@pytest.fixture(autouse=True)
def sandbox(tmp_path, monkeypatch, layerlab_home):
    box = Sandbox(tmp_path, tmp_path / "corpus", tmp_path / "tmp", tmp_path / "cwd")
    for folder in (box.corpus, box.tmp, box.cwd):
        folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(box.tmp))
    monkeypatch.setattr(tempfile, "tempdir", None)  # gettempdir() reads $TMPDIR again
    monkeypatch.chdir(box.cwd)
    yield box
    assert {p.name for p in tmp_path.iterdir()} <= {"home", "corpus", "tmp", "cwd"}
    assert not any(box.tmp.iterdir()), "something was written to $TMPDIR"
    assert not any(box.cwd.iterdir()), "something was written to the working directory"
    if box.frozen:
        now = {str(p.relative_to(box.corpus)) for p in box.corpus.rglob("*")}
        assert now == box.frozen, "the corpus folder changed"
    assert not any(scratch_dir().iterdir()), "an unpack folder was left behind"
    assert not list(datasets_dir().glob(".*")), "a partial dataset was left behind"


def cli(capsys, *argv) -> tuple[int, str, list[str]]:
    """Run ``dlcore ARGV``: exit code, stdout, and the stderr lines that are not progress."""
    try:
        code = main([str(arg) for arg in argv])
    except SystemExit as exit_info:  # argparse's usage errors
        code = exit_info.code
    captured = capsys.readouterr()
    lines = captured.err.replace("\r", "\n").splitlines()
    return code, captured.out, [line for line in lines if line.strip() and not PROGRESS.match(line)]


def assert_refused(capsys, argv: list, match: str) -> str:
    """The CLI exits 2 with one line that names the problem and says what to do."""
    code, out, err = cli(capsys, *argv)
    assert code == 2 and out == "" and len(err) == 1, (code, out, err)
    assert re.search(match, err[0]), err[0]
    assert err[0].startswith("dlcore") and advises(err[0]), err[0]
    return err[0]


def skipped_lines(out: str) -> dict[str, str]:
    found = re.findall(r"^  skipped (.+?): (.+)$", out, flags=re.MULTILINE)
    return dict(found)


class FakeModel:
    """Stands in for a run's Keras model: uniform probabilities over the classes."""

    def predict(self, images, verbose=0):
        assert images.dtype == np.uint8 and images.shape[1:] == (8, 8, 1)
        return np.full((len(images), 10), 0.1)


@pytest.fixture
def fake_run(monkeypatch):
    """A finished digits run as the worker leaves it; its model is a FakeModel, or must not be
    loaded at all (``loaded`` lists the loads)."""
    path = runs_dir() / RUN_ID
    path.mkdir()
    atomic_write_json(path / "spec.json", Experiment(data=DataSpec("digits")).to_dict())
    info = {"name": "digits", "classes": [str(i) for i in range(10)], "image_shape": [8, 8, 1]}
    info["settings"] = PrepSettings("grayscale", 8, 8).to_dict()
    atomic_write_json(path / "dataset.json", info)
    loaded = []
    monkeypatch.setattr(
        inference, "load_run_model", lambda run_id: loaded.append(run_id) or FakeModel()
    )
    return loaded


# --- images that cannot be used -------------------------------------------------------------

UNUSABLE = [  # builder, message of the decoder, reason given by a folder import
    (corpus.truncated_jpeg, "damaged or truncated", "damaged or truncated"),
    (corpus.truncated_png, "damaged or truncated", "damaged or truncated"),
    (corpus.zero_byte, "empty file", "empty file"),
    (corpus.text_as_png, "not an image", "not an image"),
    (corpus.png_bomb, "decompression bomb", "decompression bomb"),
    (corpus.fake_heic, "HEIC", "HEIC"),
    (corpus.heic_named_jpg, "HEIC", "HEIC"),
    (corpus.svg_text, "SVG", "not an image extension"),
    (corpus.svg_named_png, "SVG", "SVG"),
    (corpus.psd_named_png, "Photoshop", "Photoshop"),
    (corpus.eps_named_jpg, "PostScript", "PostScript"),
    (corpus.keras_model, "ZIP archive", "not an image extension"),
    (corpus.h5_model, "HDF5 model", "not an image extension"),
]


@pytest.mark.parametrize(("build", "message", "reason"), UNUSABLE, ids=case_id)
def test_unusable_image(build, message, reason, sandbox, fake_run, capsys):
    root = corpus.class_folder(sandbox.corpus)
    path = build(root / "cat")
    sandbox.freeze()
    with pytest.raises(ImageError, match=message) as error:
        open_image(path)
    assert advises(str(error.value))
    code, out, _ = cli(capsys, "import", root, "--name", "pets", "--size", "8x8")
    assert code == 0 and "pets: 6 images" in out
    assert reason in skipped_lines(out)[f"cat/{path.name}"]
    line = assert_refused(capsys, ["predict", RUN_ID, path], message)
    assert path.name in line
    assert fake_run == [], "the model was loaded for an image that cannot be used"


# --- odd images that must work --------------------------------------------------------------

ODD = [  # builder, expected (height, width) of the upright image, expected mean RGB of it
    (corpus.png_16bit, (10, 12), (156, 156, 156)),
    (corpus.cmyk_jpeg, (10, 12), (220, 20, 20)),
    (corpus.palette_png_transparent, (10, 12), (255, 128, 128)),  # red half, white half
    (corpus.animated_gif, (10, 12), (0, 0, 255)),  # the first frame
    (corpus.exif_rotated_jpeg, (40, 20), (191, 191, 191)),
    (corpus.tiff_file, (10, 10), (0, 90, 0)),
]


@pytest.mark.parametrize(("build", "size", "mean"), ODD, ids=case_id)
def test_odd_image_is_prepared(build, size, mean, sandbox, fake_run, capsys):
    root = corpus.class_folder(sandbox.corpus)
    path = build(root / "cat")
    sandbox.freeze()
    image = open_image(path)
    assert image.size[::-1] == size
    prepared = prepare_image(path, PrepSettings("color", *size[::-1]))
    assert np.allclose(prepared.reshape(-1, 3).mean(axis=0), mean, atol=3)
    code, out, _ = cli(capsys, "import", root, "--name", "pets", "--size", "8x8")
    skipped = skipped_lines(out)
    if path.suffix == ".tiff":  # decodable, but not an importable extension
        assert code == 0 and "convert it to PNG" in skipped["cat/scan.tiff"]
    else:
        assert code == 0 and "pets: 7 images" in out and not skipped
    code, out, err = cli(capsys, "predict", RUN_ID, path)
    assert code == 0 and out.startswith(f"{path}: ") and fake_run == [RUN_ID]


def test_exif_rotation_puts_the_band_on_top(sandbox):
    upright = prepare_image(
        corpus.exif_rotated_jpeg(sandbox.corpus), PrepSettings("grayscale", 20, 40)
    )
    assert upright[:8].mean() < 40 and upright[12:].mean() > 215


# --- ZIP archives ---------------------------------------------------------------------------

ZIPS_THAT_IMPORT = [  # builder, {member: words of its skipped reason}
    (corpus.zip_empty_classes, {"fox": "empty class folder"}),
    (corpus.zip_nested, {}),
    (corpus.zip_lying_sizes, {"cat/liar.png": "damaged in the ZIP"}),
    (corpus.zip_long_name, {"cat/" + "x" * 300 + ".png": "file name too long"}),
    (corpus.zip_encrypted_member, {"cat/secret.png": "password-protected"}),
    (
        corpus.zip_junk,
        {
            "cat/notes.txt": "not an image extension",
            "cat/report.pdf": "not an image extension",
            "dog/model.keras": "not an image extension",
            "dog/weights.h5": "not an image extension",
        },
    ),
]


@pytest.mark.parametrize(("build", "reasons"), ZIPS_THAT_IMPORT, ids=case_id)
def test_zip_imports_and_lists_what_it_skipped(build, reasons, sandbox, capsys):
    path = build(sandbox.corpus)
    sandbox.freeze()
    data = import_zip(path, "zipped", SMALL)
    assert data.classes == ["cat", "dog"]
    skipped = {entry["file"]: entry["reason"] for entry in data.manifest["skipped"]}
    assert set(skipped) == set(reasons)  # __MACOSX, .DS_Store and Thumbs.db are not listed
    for name, words in reasons.items():
        assert words in skipped[name] and advises(skipped[name])
    code, out, _ = cli(capsys, "import", path, "--name", "zipped-cli", "--size", "8x8")
    assert code == 0 and skipped_lines(out) == skipped


def test_zip_escapes_are_skipped_and_never_written(sandbox, capsys):
    outside = sandbox.root  # where ../ members and the absolute member would land
    path = corpus.zip_escapes(sandbox.corpus, outside)
    sandbox.freeze()
    data = import_zip(path, "escapes", SMALL)
    reasons = {entry["file"]: entry["reason"] for entry in data.manifest["skipped"]}
    assert "'..'" in reasons["../../../escaped-up.png"]
    assert "'..'" in reasons["cat/../../../../escaped-deep.png"]
    assert "'..'" in reasons["..\\..\\..\\escaped-windows.png"]
    assert "absolute" in reasons[str(outside / "escaped-absolute.png")]
    assert "absolute" in reasons["C:\\escaped-drive.png"]
    assert "symbolic link" in reasons["cat/link.png"] and "symbolic link" in reasons["dog/up"]
    code, out, _ = cli(capsys, "import", path, "--name", "escapes-cli", "--size", "8x8")
    assert code == 0 and skipped_lines(out) == reasons
    assert not list(outside.rglob("escaped*")) and not list(Path("/").glob("escaped*"))


ZIPS_REFUSED = [  # builder, message
    (corpus.zip_bomb, "a ZIP bomb"),
    (corpus.zip_no_class_folders, r"no class folder with images in flat.zip and 4 file\(s\)"),
    (corpus.zip_one_class, r"only one class folder \(cat\)"),
    (corpus.zip_only_empty_classes, "no class folder with images"),
    (corpus.zip_train_val_differ, r"only in train \['dog'\], only in val \['cow'\]"),
    (corpus.not_a_zip, "not a readable ZIP"),
    (corpus.truncated_zip, "not a readable ZIP"),
    (corpus.zero_byte_zip, "not a readable ZIP"),
    (corpus.keras_model, "no class folder"),  # a .keras file is a ZIP: it is never loaded
    (corpus.h5_model, "not a readable ZIP"),
]


@pytest.mark.parametrize(("build", "message"), ZIPS_REFUSED, ids=case_id)
def test_zip_refused_with_a_clear_message(build, message, sandbox, capsys):
    path = build(sandbox.corpus)
    sandbox.freeze()
    with pytest.raises(LayerLabError, match=message) as error:
        import_zip(path, "zipped", SMALL)
    assert advises(str(error.value)) and "import-" not in str(error.value)
    assert_refused(capsys, ["import", path, "--name", "zipped", "--size", "8x8"], message)
    assert not any(datasets_dir().iterdir())


def test_zip_with_too_many_entries(sandbox, monkeypatch, capsys):
    path = corpus.zip_many_entries(sandbox.corpus, 60)
    sandbox.freeze()
    monkeypatch.setenv("LAYERLAB_MAX_FILES_PER_IMPORT", "50")
    with pytest.raises(LayerLabError, match="60 entries"):
        import_zip(path, "many", SMALL)
    assert_refused(capsys, ["import", path, "--name", "many"], "limits are 50 entries")


def test_validation_folder_with_other_classes(sandbox, capsys):
    train, val = corpus.val_folders_differ(sandbox.corpus)
    sandbox.freeze()
    message = r"only in train \['dog'\], only in val \['cow'\]"
    with pytest.raises(LayerLabError, match=message):
        import_folder(train, "pets", SMALL, val_path=val)
    assert_refused(capsys, ["import", train, "--val", val, "--name", "pets"], message)


def test_browser_upload_with_hostile_paths(sandbox):
    files = list(corpus.class_members({"cat": 3, "dog": 3}).items())
    files += [("../../../up.png", corpus.good_png()), ("/etc/cron.d/x.png", corpus.good_png())]
    files += [("cat/bad\x00name.png", corpus.good_png()), ("cat/" + "y" * 300, b"x")]
    data = import_files(files, "upload", SMALL)
    reasons = {entry["file"]: entry["reason"] for entry in data.manifest["skipped"]}
    assert "'..'" in reasons["../../../up.png"] and "absolute" in reasons["/etc/cron.d/x.png"]
    assert "control characters" in reasons["cat/bad\x00name.png"]
    assert "too long" in reasons["cat/" + "y" * 300]


# --- .npz files -----------------------------------------------------------------------------

NPZ = [(name, arrays, message) for name, (arrays, message) in corpus.NPZ_CASES.items()]


@pytest.mark.parametrize(("label", "arrays", "message"), NPZ, ids=[case[0] for case in NPZ])
def test_npz_refused_with_a_clear_message(label, arrays, message, sandbox, capsys):
    path = corpus.npz_file(sandbox.corpus, "arrays.npz", arrays)
    sandbox.freeze()
    with pytest.raises(LayerLabError, match=message) as error:
        import_npz(path, "arrays")
    assert advises(str(error.value))
    assert_refused(capsys, ["import", path, "--name", "arrays"], message)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (corpus.npy_as_npz, "single .npy"),
        (corpus.pickle_as_npz, "not a readable .npz"),
        (corpus.npz_bomb, "a ZIP bomb"),
    ],
    ids=["npy", "pickle", "bomb"],
)
def test_files_that_are_not_npz(build, message, sandbox, capsys):
    path = build(sandbox.corpus)
    sandbox.freeze()
    with pytest.raises(LayerLabError, match=message):
        import_npz(path, "arrays")
    assert_refused(capsys, ["import", path, "--name", "arrays"], message)


class Trap:
    """Unpickling this would create a file: np.load must never unpickle (allow_pickle=False)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickled_objects_in_an_npz_are_never_loaded(sandbox, capsys):
    marker = sandbox.root / "unpickled"
    x = np.empty(6, dtype=object)
    x[:] = [Trap(marker)] * 6
    path = corpus.npz_file(sandbox.corpus, "trap.npz", {"x_train": x, "y_train": np.arange(6) % 2})
    with pytest.raises(LayerLabError, match="never loaded for safety"):
        import_npz(path, "trap")
    assert_refused(capsys, ["import", path, "--name", "trap"], "Python objects")
    assert not marker.exists()


# --- model files are never loaded -----------------------------------------------------------


def test_models_are_loaded_only_from_run_directories(
    keras, tiny_run, sandbox, monkeypatch, capsys, tmp_path_factory
):
    """A model is only ever loaded as a run's own file, in Keras's safe mode: a model file put
    anywhere else is never loaded, whether its path or its folder is given for a run id.
    (``keras`` and ``tiny_run``, session fixtures, are made before the sandbox watches
    $TMPDIR: importing Keras and training write there.)"""
    from pages_support import copy_of_tiny_run

    run = copy_of_tiny_run(tmp_path_factory.getbasetemp())
    planted = corpus.keras_model(sandbox.corpus)
    image = corpus.class_folder(sandbox.corpus) / "cat" / "0.png"
    sandbox.freeze()
    loads, load_model = [], keras.saving.load_model

    def watched(path, *args, **kwargs):
        loads.append((Path(path), kwargs.get("safe_mode")))
        assert Path(path).parent == run, f"a model was loaded from {path}"
        return load_model(path, *args, **kwargs)

    monkeypatch.setattr(keras.saving, "load_model", watched)
    for given in (planted, planted.parent, Path("..") / ".." / planted.parent.name):
        with pytest.raises(RunNotFound):
            inference.load_run_model(str(given))
        for argv in (["predict", given, image], ["explain", given, image, "--out", "out"]):
            assert_refused(capsys, argv, "is not a run id|No run")
    assert loads == []
    code, out, _ = cli(capsys, "predict", run.name, image, "--json")
    assert code == 0 and json.loads(out)[0]["top"]
    assert loads == [(run / "model.keras", True)]


# --- hostile field values -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--size", "0x0"], "width is 0; use 4 to 256"),
        (["--size", "100000x100000"], "width is 100000; use 4 to 256"),
        (["--size=-5x3"], "width is -5"),
        (["--size", "abc"], "not WIDTHxHEIGHT"),
        (["--size", "32"], "not WIDTHxHEIGHT"),
        (["--val-percent", "nan"], "Validation nan%"),
        (["--val-percent", "inf"], "Validation inf%"),
        (["--val-percent", "-5"], "Validation -5.0%"),
        (["--val-percent", "1e9"], "use a validation percent from 1 to 50"),
        (["--test-percent", "95"], "test percent from 0 to 40"),
        (["--resize", "explode"], "invalid choice"),
    ],
)
def test_hostile_import_options(argv, message, sandbox, capsys):
    root = corpus.class_folder(sandbox.corpus)
    assert_refused(capsys, ["import", root, "--name", "pets", *argv], message)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--epochs", "-1"], "Epochs is -1; use a whole number from 1"),
        (["--epochs", str(10**9)], "Epochs is 1000000000"),
        (["--batch-size", "0"], "Batch size is 0"),
        (["--batch-size", str(10**9)], "Batch size is 1000000000"),
        (["--learning-rate", "-1"], "Learning rate is -1.0"),
        (["--learning-rate", "1e9"], "Learning rate is 1000000000.0"),
        (["--learning-rate", "nan"], "Learning rate is nan"),
        (["--learning-rate", "inf"], "Learning rate is inf"),
        (["--seed", "-1"], "Seed is -1"),
        (["--optimizer", "evil"], "choose one of adam"),
        (["--epochs", "many"], "invalid int value"),
    ],
)
def test_hostile_training_options(argv, message, capsys):
    assert_refused(capsys, ["train", "--dataset", "digits", *argv], message)


def _spec(change) -> str:
    payload = Experiment(data=DataSpec("digits")).to_dict()
    change(payload)
    return json.dumps(payload)


def _block(**values):
    return lambda spec: spec["model"]["conv_blocks"][0].update(values)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_spec(_block(filters=-1)), "Conv filters is -1"),
        (_spec(_block(filters=10**9)), "Conv filters is 1000000000"),
        (_spec(_block(filters="many")), "Conv filters is 'many'"),
        (_spec(_block(kernel_size=0)), "Conv kernel size is 0"),
        (_spec(_block(dropout_rate=5)), "Conv dropout rate is 5"),
        (_spec(lambda s: s["model"].update(dense_layers=[{"units": 10**9}])), "Dense units"),
        (_spec(lambda s: s["model"].update(conv_blocks=[{}] * 10_000)), "use at most 8"),
        (_spec(lambda s: s["training"].update(learning_rate=math.nan)), "Learning rate is nan"),
        (_spec(lambda s: s["training"].update(epochs=2.5)), "Epochs is 2.5"),
        (_spec(lambda s: s["data"].update(dataset="../../etc")), "No dataset named '../../etc'"),
        (_spec(lambda s: s.update(evil=1)), r"Unknown Experiment field\(s\) \['evil'\]"),
        ("[1, 2]", "Expected a JSON object"),
        ("{nope", "not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
        ('{"training": {"epochs": ' + "9" * 5000 + "}}", "not valid JSON"),
        (bytes(range(256)).decode("latin-1"), "not valid JSON"),
    ],
    ids=lambda v: str(v)[:30],
)
def test_hostile_spec_files(text, message, sandbox, capsys):
    spec = sandbox.corpus / "spec.json"
    spec.write_bytes(text.encode("latin-1") if text.startswith("\x00") else text.encode())
    assert_refused(capsys, ["train", "--spec", spec], message)


@pytest.mark.parametrize("value", [-1.0, 0.0, 1e9, math.nan, math.inf, -math.inf, "0.1", True])
def test_train_spec_rejects_bad_learning_rates(value):
    with pytest.raises(LayerLabError, match="Learning rate is .*; use a number from"):
        TrainSpec(learning_rate=value)


@pytest.mark.parametrize("value", [-1, 0, 10**9, 2.0, None])
def test_layers_reject_bad_sizes(value):
    with pytest.raises(LayerLabError, match="use a whole number"):
        ConvBlock(filters=value)
    with pytest.raises(LayerLabError, match="use a whole number"):
        DenseLayer(units=value)
    with pytest.raises(LayerLabError, match="use a whole number|use 4 to"):
        PrepSettings(width=value)


# --- names with path separators -------------------------------------------------------------

HOSTILE_NAMES = ["../x", "a/b", "..", ".", "/abs", "CON", "x" * 300, "données", "", " ", "ok\n"]
HOSTILE_NAMES += ["a\x00b", "a\\b", "~root", "$HOME"]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=repr)
def test_hostile_dataset_names(name, sandbox, capsys):
    root = corpus.class_folder(sandbox.corpus)
    sandbox.freeze()
    with pytest.raises(LayerLabError, match="cannot be used: use 1-48 lowercase") as error:
        check_name(name, "dataset name")
    assert len(str(error.value)) < 300
    with pytest.raises(LayerLabError, match="cannot be used"):
        import_folder(root, name, SMALL)
    argv = ["import", root, f"--name={name}", "--size", "8x8"]
    if "\x00" not in name:  # a command line cannot hold a NUL byte
        assert_refused(capsys, argv, "cannot be used")
    assert not any(datasets_dir().iterdir())


@pytest.mark.parametrize("name", ["../../etc", "a/b", "..", "/abs", "x" * 300, ""], ids=repr)
def test_hostile_dataset_names_for_training(name, capsys):
    assert_refused(capsys, ["train", f"--dataset={name}"], "dataset name is empty|No dataset named")


@pytest.mark.parametrize(
    "run_id", HOSTILE_NAMES + ["x" * 5000, "résumé"], ids=lambda v: repr(v)[:20]
)
def test_hostile_run_ids(run_id, fake_run, sandbox, capsys):
    image = corpus.class_folder(sandbox.corpus) / "cat" / "0.png"
    with pytest.raises(RunNotFound, match="is not a run id|No run") as error:
        run_path(run_id)
    assert len(str(error.value)) < 200
    if "\x00" in run_id:
        return
    for argv in (["evaluate", run_id], ["predict", run_id, image], ["cancel", run_id]):
        assert_refused(capsys, [argv[0], "--", *argv[1:]], "is not a run id|No run")
    assert fake_run == []


# --- a full disk ----------------------------------------------------------------------------


def _tiny_dataset(name: str) -> Dataset:
    x, y = np.zeros((4, 4, 4, 1), np.uint8), np.array([0, 1, 0, 1])
    return Dataset(name, ["a", "b"], x, y, x, y)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_disk_full_while_saving_a_dataset(code, monkeypatch):
    def full(path, array, *args, **kwargs):
        Path(path).write_bytes(b"half an array")
        raise OSError(code, "No space left on device")

    monkeypatch.setattr(np, "save", full)
    with pytest.raises(LayerLabError, match="disk is full while writing datasets/tiny.*free space"):
        save_dataset(_tiny_dataset("tiny"))
    assert not any(datasets_dir().iterdir())


def test_disk_full_when_renaming_into_place(monkeypatch):
    save_dataset(_tiny_dataset("tiny"))
    real_replace = os.replace

    def full(source, target):
        if Path(source).name.endswith(".partial"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_replace(source, target)

    monkeypatch.setattr("dlcore.storage.os.replace", full)
    with pytest.raises(LayerLabError, match="disk is full"):
        save_dataset(_tiny_dataset("other"))
    assert sorted(p.name for p in datasets_dir().iterdir()) == ["tiny"]


class FullDisk:
    """A file whose writes fail as on a full disk (or with another error)."""

    def __init__(self, path, mode, code=errno.ENOSPC):
        self.handle, self.code = open(path, mode), code

    def write(self, data):
        raise OSError(self.code, "simulated")

    def close(self):
        self.handle.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (errno.ENOSPC, "disk is full while unpacking the ZIP.*free space"),
        (errno.EDQUOT, "disk is full while unpacking the ZIP"),
        (errno.EACCES, "Cannot unpack cat/0.png .*ask the instructor"),
        (errno.EIO, "Cannot unpack cat/0.png"),
    ],
)
def test_disk_errors_while_unpacking(code, message, sandbox, monkeypatch, capsys):
    path = corpus.make_zip(sandbox.corpus, "pets.zip", corpus.class_members({"cat": 3, "dog": 3}))
    sandbox.freeze()
    monkeypatch.setattr(unpack, "open", lambda p, mode: FullDisk(p, mode, code), raising=False)
    with pytest.raises(LayerLabError, match=message):
        import_zip(path, "pets", SMALL)
    assert_refused(capsys, ["import", path, "--name", "pets"], message)
    files = list(corpus.class_members({"cat": 3, "dog": 3}).items())
    with pytest.raises(LayerLabError, match=message.replace("unpacking the ZIP", "writing")):
        import_files(files, "pets", SMALL)
    assert not any(datasets_dir().iterdir())
