"""What a LayerLab process sets up around the deep-learning framework, whatever its backend:
Keras's and matplotlib's caches inside the data directory (``import dlcore`` does it first), and
a settled heap once Keras is imported (the web server, the scheduler before it forks jobs, the
tests). No framework is imported here.
"""

from __future__ import annotations

import gc
import os
import sys

from dlcore.storage import data_home_path


def keep_caches_in_data_dir() -> None:
    """Point Keras's and matplotlib's config and cache folders into the data directory, so
    that nothing is written to ``$HOME`` (``~/.keras/keras.json``, a font cache). Keras reads
    ``KERAS_HOME`` once, when it is imported: ``import dlcore`` calls this first. Settings an
    operator made in the environment win."""
    cache = data_home_path() / "cache"
    os.environ.setdefault("KERAS_HOME", str(cache / "keras"))
    os.environ.setdefault("MPLCONFIGDIR", str(cache / "matplotlib"))


_heap_settled = False


def settle_heap() -> bool:
    """Once Keras is imported, take its long-lived objects (millions, with TensorFlow) out of
    the garbage collector's sight, once, after a full collection. Without this every full
    collection walks them all: in the web server, once a page had loaded a model, a rerun of
    any page took 0.25 s instead of 0.02 s (``bench/page_rerun.py``). Returns whether the heap
    is settled; cheap to call again.

    Call it right after Keras's first import, before a model exists: what is alive then stays
    for good, even cyclic garbage it later becomes (``run_outputs.read_model`` does, and app.py
    at the start of every rerun for Keras imported another way). In the scheduler, before it
    forks, it also keeps the jobs from copying the shared pages the collector would touch."""
    global _heap_settled
    if not _heap_settled and "keras" in sys.modules:
        gc.collect()
        gc.freeze()
        _heap_settled = True
    return _heap_settled
