"""The images an int8 model is calibrated on, and the record of which images they were.

Static quantisation picks each activation's scale from the ranges it sees on calibration data, so those images
decide the deployed model: calibrating on validation or test images would tune the model to the very images that
score it. A :class:`CalibrationSet` of a deployed model is therefore drawn from the *training* split only
(:meth:`CalibrationSet.of_data` refuses any other), and it carries its identity (the data split's
:class:`~supernet.identity.DataIdentity`, the seed, the count and a digest of the images) so the file written
beside a deployed model says what it was calibrated on. A cost table, which prices time only, calibrates on
seeded random activations instead (:meth:`CalibrationSet.noise`), and says so.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from core.errors import GreenError
from core.jsontypes import JSONObject
from supernet.identity import DataIdentity

TRAIN = "train"
NOISE = "random-normal"


@dataclass(frozen=True)
class CalibrationSet:
    """Normalised input batches (as the network sees them) and where they come from: ``source`` is ``train``
    (training images of ``data``) or ``random-normal`` (a cost table's stand-in activations)."""

    batches: tuple[torch.Tensor, ...]
    source: str
    images: int
    seed: int
    digest: str
    data: DataIdentity | None = None

    @classmethod
    def of_data(cls, dm: object, images: int, split: str = TRAIN, batch_size: int = 64,
                seed: int | None = None) -> CalibrationSet:
        """``images`` seeded training images of the data module ``dm`` (the split's seed + 1, as BatchNorm
        recalibration draws them), normalised as the network sees them.

        ``split`` other than ``train`` is refused: validation and test images score the deployed model, so they
        must not set its quantisation ranges. The drawn images are checked to lie outside the validation split.
        """
        if split != TRAIN:
            raise GreenError(f"int8 calibration uses training images only, not the {split!r} split: validation and "
                             "test images score the deployed model and must not set its quantisation ranges")
        if isinstance(images, bool) or not isinstance(images, int) or images < 1:
            raise GreenError(f"calibration images must be a whole number >= 1, got {images!r}")
        dm.setup()
        train = dm.train_set
        seed = int(dm.seed) + 1 if seed is None else int(seed)
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(train), generator=g)[: min(images, len(train))].tolist()
        rows = [train.indices[i] for i in idx]
        if set(rows) & set(dm.val_set.indices):  # disjoint by construction; a change to the split must not leak
            raise GreenError("calibration images overlap the validation split: the data module's split is broken")
        batches = tuple(dm.transform(train.__getitems__(idx[i:i + batch_size])[0]).contiguous()
                        for i in range(0, len(idx), batch_size))
        return cls(batches, TRAIN, len(idx), seed, _digest(batches), DataIdentity.of(dm))

    @classmethod
    def noise(cls, shape: tuple[int, ...], images: int, seed: int) -> CalibrationSet:
        """``images`` standard-normal inputs shaped like ``shape`` (batch first), from ``seed``: what a cost
        table's random-weight blocks are calibrated on (their time does not depend on the scales)."""
        g = torch.Generator().manual_seed(int(seed))
        x = torch.randn((max(1, int(images)), *shape[1:]), generator=g)
        return cls((x,), NOISE, x.shape[0], int(seed), _digest((x,)))

    def arrays(self) -> Iterator[np.ndarray]:
        """The batches as contiguous float32 NCHW arrays (what an ONNX model is fed)."""
        for b in self.batches:
            yield np.ascontiguousarray(b.detach().float().cpu().contiguous().numpy())

    def record(self) -> JSONObject:
        """The identity written beside a deployed model or a table: source, count, seed, digest and data split."""
        out: dict[str, object] = {"source": self.source, "images": self.images, "seed": self.seed,
                                  "sha256": self.digest}
        if self.data is not None:
            out["data"] = self.data.to_json()
        if self.source == NOISE:
            out["note"] = "random activations: the table prices time, which does not depend on the int8 scales"
        return out


def _digest(batches: tuple[torch.Tensor, ...]) -> str:
    h = hashlib.sha256()
    for b in batches:
        h.update(np.ascontiguousarray(b.detach().float().cpu().contiguous().numpy()).tobytes())
    return h.hexdigest()
