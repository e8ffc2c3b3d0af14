"""The one identity of a data split, and the one comparison of a recorded split with today's data.

A supernet checkpoint, a ground-truth table and a predictor's table each record which images were
validation and which training; a later command must see the same split, or validation images may
have been trained on. :func:`data_identity` is what they record (classes, seed, sizes, how the images
were divided) and :func:`data_differences` what they compare, so the four places that used to
rebuild it by hand agree by construction. Records written before stratification and long-tailed
subsets carry no ``split``/``imbalance_ratio`` and meant a random split of all images
(:data:`LEGACY`).
"""
from __future__ import annotations

from typing import Any, Sequence

LEGACY = {"split": "random", "imbalance_ratio": None}  # what a record without these keys meant
SPLIT_KEYS = ("classes", "seed", "val_size", "split", "imbalance_ratio")  # what decides which images validate


def data_identity(dm: Any) -> dict[str, Any]:
    """Classes, seed, validation size, resolution, channels and the split's kind (``dm.split_key()``)."""
    dm.setup()
    return {"classes": list(dm.classes), "seed": int(dm.seed), "val_size": dm.val_size,
            "image_size": int(dm.image_size), "channels": int(dm.channels), **dm.split_key()}


def data_differences(dm: Any, recorded: dict[str, Any], keys: Sequence[str] = SPLIT_KEYS,
                     was: str = "trained") -> list[str]:
    """``"key: <was> <recorded> vs now <today>"`` for each of ``keys`` where ``recorded`` and ``dm`` disagree."""
    now = {**LEGACY, **data_identity(dm)}
    then = {**LEGACY, **recorded}
    return [f"{k}: {was} {then.get(k)!r} vs now {now.get(k)!r}" for k in keys if then.get(k) != now.get(k)]
