"""Preparing many image files into a dataset's rows: in threads (decoding and resizing
release the GIL), in order, a bounded number of images ahead, so memory holds a handful of
images, never the set. A file that cannot be used is skipped and listed, not fatal.
"""

from __future__ import annotations

import contextvars
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from dlcore.data.dataset import RowFile
from dlcore.data.folders import skip_entry
from dlcore.data.image_files import ImageError
from dlcore.data.images import PrepSettings, prepare_image
from dlcore.limits import load_limits, pinned_limits

IN_FLIGHT = 64  # images decoded ahead of the one being saved: bounds the images in memory

Progress = Callable[[int, int, str], None]  # (done, total, message)


def prepare_rows(
    jobs: list[tuple[Path, int]],
    settings: PrepSettings,
    top: Path,
    skipped: list[dict],
    progress: Progress | None,
    rows: RowFile,
) -> tuple[list[int], list[int]]:
    """Prepare every image, in threads (decoding and resizing release the GIL), appending each
    to ``rows`` in order; ``IN_FLIGHT`` images ahead, so memory holds a handful, not the set.
    Returns the labels of the kept images and, per job, its row (-1 when the file was bad)."""
    labels, rows_of_jobs, step = [], [], max(1, len(jobs) // 100)
    with pinned_limits(load_limits()):  # read once, not once per image
        for done, ((path, label), result) in enumerate(
            zip(jobs, _prepared(jobs, settings), strict=True), start=1
        ):
            if isinstance(result, str):
                skipped.append(skip_entry(path, top, result))
                rows_of_jobs.append(-1)
            else:
                rows_of_jobs.append(rows.append(result))
                labels.append(label)
            if progress is not None and (done % step == 0 or done == len(jobs)):
                progress(done, len(jobs), f"Prepared {done:,} of {len(jobs):,} images")
    return labels, rows_of_jobs


def _prepared(jobs: list[tuple[Path, int]], settings: PrepSettings) -> Iterator[np.ndarray | str]:
    """Each job's prepared image (or why it was skipped), in order, from a thread pool kept
    ``IN_FLIGHT`` images ahead; each image runs in a copy of the caller's context, so the
    limits pinned there reach the threads."""

    def work(path: Path) -> np.ndarray | str:
        try:
            return prepare_image(path, settings)
        except ImageError as error:
            return str(error)

    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        pending: deque = deque()
        for path, _ in jobs:
            pending.append(pool.submit(contextvars.copy_context().run, work, path))
            if len(pending) >= IN_FLIGHT:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
