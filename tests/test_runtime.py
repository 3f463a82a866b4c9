"""The process around the framework: the heap is settled once Keras is imported, not before."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_heap_is_settled_once_keras_is_imported_and_only_then():
    code = (
        "import gc\n"
        "from dlcore import runtime\n"
        "before = runtime.settle_heap()\n"  # no Keras yet: nothing to settle
        "import keras\n"
        "after = runtime.settle_heap()\n"
        "frozen = gc.get_freeze_count()\n"
        "again = runtime.settle_heap()\n"
        "print(before, after, again, frozen > 100_000, gc.get_freeze_count() == frozen)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert result.stdout.split() == ["False", "True", "True", "True", "True"]
