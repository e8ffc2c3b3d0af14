"""Scoring a subnet with inherited weights: no training, just BatchNorm recalibration and validation.

The calibration images and the validation split are decoded, normalised and batched once, so an
evaluation is an extraction, a BN recalibration and one batched inference pass under
``torch.inference_mode``; it never re-reads a loader and never touches the test split.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import torch

from search.evolution.objectives import check_classes
from supernet.arch import ArchConfig
from supernet.data import ImageDataModule
from core.device import to_memory_format
from core.errors import GreenError
from supernet.metrics import CLASS_PREFIX, scores
from supernet.net import SuperNet, extract_subnet

if TYPE_CHECKING:
    from supernet.fewshot import Split


class SubnetEvaluator:
    """Inherited-weight validation accuracy and macro recall of any subnet of ``net``.

    Args:
        net: the trained supernet.
        dm: the data module the supernet was trained with (its validation split is used).
        calib_images: training images for BatchNorm recalibration.
        val_images: validation images to score on (None: the whole validation split from ``val_offset``).
        batch_size: inference batch size.
        val_offset: the first validation image scored: images before it were used by an earlier
            selection (the search), so a later one (picking winners) scores on images after it.
        track: classes whose own recall is scored too (``recall:<class>``, for objectives and constraints).
    """

    def __init__(self, net: SuperNet, dm: ImageDataModule, calib_images: int = 512, val_images: int | None = None,
                 batch_size: int = 256, val_offset: int = 0, track: Sequence[str] = ()):
        if calib_images < 1 or batch_size < 1 or (val_images is not None and val_images < 1):
            raise GreenError("calib_images, val_images and batch_size must be >= 1")
        if val_offset < 0:
            raise GreenError(f"val_offset must be >= 0, got {val_offset}")
        dm.setup()
        if dm.num_classes != net.num_classes:
            raise GreenError(f"the data has {dm.num_classes} classes, the supernet {net.num_classes}")
        self.net, self.num_classes = to_memory_format(net.eval(), dm.memory_format), net.num_classes
        device = next(net.parameters()).device
        self.calib = [x.to(device) for x in dm.calib_batches(calib_images, batch_size)]
        end = len(dm.val_set) if val_images is None else min(val_offset + val_images, len(dm.val_set))
        if end <= val_offset:
            raise GreenError(f"no validation image left after the first {val_offset} "
                             f"(the split has {len(dm.val_set)})")
        self.val_offset, self.val_images = val_offset, end - val_offset
        x, y = dm.val_set.__getitems__(list(range(val_offset, end)))
        x = dm.transform(x)
        self.val_x = [b.to(device) for b in x.split(batch_size)]
        self.val_y = y.to(device)
        self.classes, self.track = list(dm.classes), list(track)
        check_classes([CLASS_PREFIX + c for c in self.track], self.classes)
        for c in self.track:
            if not bool((self.val_y == self.classes.index(c)).any()):
                raise GreenError(f"class {c!r} has no image among validation images {val_offset}-{end - 1}: its recall "
                                 "cannot be scored (raise eval.val_images or data.val_size)")

    def extract(self, arch: ArchConfig) -> torch.nn.Module:
        """The static subnet with inherited weights and recalibrated BatchNorm, in eval mode."""
        return extract_subnet(self.net, arch, self.calib).eval()

    @torch.inference_mode()
    def predict(self, model: torch.nn.Module) -> torch.Tensor:
        """Predicted classes of the validation images."""
        return torch.cat([model(x).argmax(1) for x in self.val_x])

    def score(self, pred: torch.Tensor) -> dict[str, float]:
        """``acc``, macro ``recall``, ``recall_min`` and the tracked ``recall:<class>`` of validation predictions."""
        return scores(pred, self.val_y, self.classes, self.track)

    def __call__(self, arch: ArchConfig) -> dict[str, float]:
        """:meth:`score` of the subnet's predictions on the validation images, and ``eval_seconds`` it took."""
        t = time.perf_counter()
        out = self.score(self.predict(self.extract(arch)))
        return {**out, "eval_seconds": time.perf_counter() - t}

    def inference_seconds(self, model: torch.nn.Module) -> float:
        """Seconds of one plain inference pass of ``model`` over the same validation images."""
        t = time.perf_counter()
        self.predict(model)
        return time.perf_counter() - t


def load_parts(ckpts: Sequence[str | Path]) -> tuple[Split, dict[Any, tuple[SuperNet, dict]]]:
    """The sub-supernets of one few-shot split (``green-train fewshot.split=...`` checkpoints), by value.

    They must share one space, one split and one one-shot parent, and cover every value of the split
    once: a subnet whose part is missing could not be scored.
    """
    from supernet.checkpoint import load_supernet
    from supernet.fewshot import Split

    parts: dict[Any, tuple[SuperNet, dict]] = {}
    split = parent = digest = None
    for ck in ckpts:
        net, meta = load_supernet(ck)
        few = meta.get("fewshot")
        if not few:
            raise GreenError(f"{str(ck)!r} is not a few-shot part (trained without fewshot.split)")
        s = Split.parse(few["split"])
        if split is None:
            split, parent, digest = s, few.get("init_from"), net.space.digest()
        elif (s, few.get("init_from"), net.space.digest()) != (split, parent, digest):
            raise GreenError(f"{str(ck)!r} is a part of another split, parent or space than {str(ckpts[0])!r}")
        if few["value"] in parts:
            raise GreenError(f"two few-shot parts for {split}={few['value']}")
        parts[few["value"]] = (net, meta)
    if split is None:
        raise GreenError("no few-shot part checkpoints given")
    missing = [v for v in split.values(parts[next(iter(parts))][0].space) if v not in parts]
    if missing:
        raise GreenError(f"the few-shot parts of {split} miss the value(s) {missing}: train them too")
    return split, parts


class FewShotEvaluator:
    """Scores each subnet with the sub-supernet of its part of the split (few-shot NAS): one
    :class:`SubnetEvaluator` per part, all on the same validation and calibration images."""

    def __init__(self, split: Split, parts: dict[Any, SubnetEvaluator]):
        self.split, self.parts = split, parts
        first = next(iter(parts.values()))
        self.val_images, self.val_offset = first.val_images, first.val_offset

    def __call__(self, arch: ArchConfig) -> dict[str, float]:
        return self.parts[self.split.value_of(arch)](arch)
