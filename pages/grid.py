"""Images in a grid: small ones (8x8 digits, 28x28 MNIST) scaled up with crisp pixels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import streamlit as st

from pages.common import md

GRID_SIDE = 112  # small images are scaled up to about this many pixels


def enlarge(image: np.ndarray, side: int = GRID_SIDE) -> np.ndarray:
    """Scale a small uint8 image up by whole factors (nearest neighbour: crisp pixels)."""
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    factor = max(1, side // max(array.shape[:2]))
    return np.repeat(np.repeat(array, factor, axis=0), factor, axis=1)


def image_grid(
    images: Sequence[np.ndarray], captions: Sequence[str] | None = None, columns: int = 8
) -> None:
    """Show uint8 images (H, W, 1 or 3) in a grid of ``columns``, small ones enlarged."""
    captions = list(captions) if captions is not None else [""] * len(images)
    for start in range(0, len(images), columns):
        cells = st.columns(columns)
        for cell, image, caption in zip(
            cells, images[start : start + columns], captions[start : start + columns], strict=False
        ):
            cell.image(enlarge(image), caption=md(caption) or None)  # captions are markdown
