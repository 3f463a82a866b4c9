"""The data directory: stale scratch left by a crashed server is swept, a full disk is explained."""

from __future__ import annotations

import errno
import os
import time

import pytest

from dlcore import LayerLabError
from dlcore.storage import disk_full_as_error, scratch_dir, sweep_scratch


def _age(path, hours: float) -> None:
    then = time.time() - hours * 3600
    os.utime(path, (then, then), follow_symlinks=False)


def test_sweep_scratch_removes_only_stale_entries():
    stale = scratch_dir() / "import-crashed"
    (stale / "cats").mkdir(parents=True)
    (stale / "cats" / "1.png").write_bytes(b"png")
    stray = scratch_dir() / "upload.zip"
    stray.write_bytes(b"zip")
    fresh = scratch_dir() / "import-in-progress"
    fresh.mkdir()
    for path in (stale, stray):
        _age(path, 7)
    assert sweep_scratch(max_age_hours=6) == 2
    assert [p.name for p in scratch_dir().iterdir()] == ["import-in-progress"]
    assert sweep_scratch(max_age_hours=6) == 0


def test_a_full_disk_becomes_a_message_that_says_what_to_do():
    with pytest.raises(LayerLabError, match=r"The disk is full while saving .*delete runs"):
        with disk_full_as_error("saving the dataset"):
            raise OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(PermissionError):
        with disk_full_as_error("saving the dataset"):
            raise PermissionError(errno.EACCES, "Permission denied")


def test_keras_and_matplotlib_write_nothing_in_home(tmp_path):
    """Importing Keras (through dlcore) and matplotlib puts their caches under the data
    directory, not ~/.keras, ~/.cache or ~/.config."""
    import subprocess
    import sys
    from pathlib import Path

    home, lab = tmp_path / "user", tmp_path / "lab"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KERAS", "MPL", "XDG_"))}
    env |= {"HOME": str(home), "LAYERLAB_HOME": str(lab), "TF_CPP_MIN_LOG_LEVEL": "2"}
    script = (
        "import dlcore.model.build, numpy as np, matplotlib.pyplot\n"
        "from dlcore.spec import preset_model\n"
        "m = dlcore.model.build.build_model(preset_model('mlp'), (8, 8, 1), 3)\n"
        "m.predict(np.zeros((1, 8, 8, 1), np.uint8), verbose=0)\n"
    )
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", script], env=env, cwd=root, check=True)
    assert list(home.iterdir()) == []
    assert (lab / "cache" / "keras" / "keras.json").is_file()
    assert any((lab / "cache" / "matplotlib").iterdir())


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("max_epochs = inf", r"max_epochs = inf in .*limits.toml is not a finite number"),
        ("max_disk_gb = nan", r"max_disk_gb = nan .*not a finite number.*max_disk_gb = 20.0"),
        ("max_disk_gb = -inf", "not a finite number"),
        ("max_epochs = 1e400", "not a finite number"),
        ("max_jobs_total = 1e30", "is outside 0 to"),
        ("max_epochs = 2.5", "is not a whole number"),
        ("max_epochs = true", "is not a number"),
        ('max_epochs = "many"', "is not a number"),
        ("max_epochs = -1", "is outside 0 to"),
    ],
)
def test_limits_that_are_not_finite_numbers_are_refused(toml, message, layerlab_home):
    from dlcore.limits import load_limits

    layerlab_home.mkdir(parents=True, exist_ok=True)
    (layerlab_home / "limits.toml").write_text(toml + "\n")
    with pytest.raises(LayerLabError, match=message):
        load_limits()


@pytest.mark.parametrize("value", ["inf", "nan", "-1", "1e99", "lots"])
def test_limits_from_the_environment_are_checked_too(value, monkeypatch):
    from dlcore.limits import Limits, load_limits

    monkeypatch.setenv("LAYERLAB_MAX_DISK_GB", value)
    with pytest.raises(LayerLabError, match=r"max_disk_gb = .* in \$LAYERLAB_MAX_DISK_GB"):
        load_limits()
    with pytest.raises(LayerLabError, match="max_epochs"):
        Limits(max_epochs=float("inf"))


def test_whole_and_decimal_limits_are_read(monkeypatch, layerlab_home):
    from dlcore.limits import load_limits

    layerlab_home.mkdir(parents=True, exist_ok=True)
    (layerlab_home / "limits.toml").write_text("max_epochs = 30\nmax_disk_gb = 2.5\n")
    monkeypatch.setenv("LAYERLAB_MAX_JOBS_TOTAL", "7")
    limits = load_limits()
    assert (limits.max_epochs, limits.max_disk_gb, limits.max_jobs_total) == (30, 2.5, 7)
