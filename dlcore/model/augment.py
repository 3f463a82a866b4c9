"""A preview of data augmentation: the same random layers the model applies while training
(``dlcore.model.build`` builds them), run in training mode on a few images so the train page can
show what the network will see. Keras is imported only when a preview is asked for.
"""

from __future__ import annotations

import numpy as np

from dlcore import LayerLabError
from dlcore.spec import AugmentSpec


def augment_preview(
    images: np.ndarray, augment: AugmentSpec, seed: int = 0, copies: int = 3
) -> np.ndarray:
    """``copies`` randomly augmented versions of each image, as uint8 (N * copies, H, W, C),
    grouped by image. With augmentation off the copies equal the originals."""
    batch = np.asarray(images)
    if batch.ndim != 4 or batch.shape[-1] not in (1, 3) or len(batch) == 0:
        raise LayerLabError(
            f"Augmentation preview needs a batch of images (N, height, width, 1 or 3), got shape "
            f"{batch.shape}."
        )
    if not 1 <= copies <= 16:
        raise LayerLabError(f"copies is {copies!r}; use 1 to 16 versions of each image.")
    batch = np.repeat(batch, copies, axis=0)
    if not augment.enabled:
        return batch.astype(np.uint8)
    import keras

    # The very layers build_model inserts after Rescaling(1/255), so the preview cannot drift
    # from what training does.
    from dlcore.model.build import _augmentation_layers

    keras.utils.set_random_seed(seed)
    x = keras.ops.convert_to_tensor(batch.astype("float32") / 255.0)
    for layer in _augmentation_layers(augment):
        x = layer(x, training=True)
    pixels = keras.ops.convert_to_numpy(x) * 255.0
    return np.clip(np.round(pixels), 0, 255).astype(np.uint8)
