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
