"""Accuracy measured through a target's runtime: an int8 model's accuracy is the int8 session's, not its float
original's.

Quantisation changes a network's outputs, so the deployed accuracy of a target is computed from the logits its
own :class:`~search.targets.Session` returns on the held-out images; :func:`runtime_accuracy` feeds the data
module's validation or test images, normalised as in training, and counts the argmax hits.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from core.errors import GreenError
from core.jsontypes import JSONObject
from search.targets import Session

SPLITS = ("val", "test")


@dataclass(frozen=True)
class RuntimeAccuracy:
    """Top-1 accuracy of one session on a held-out split: ``correct`` of ``images``, and which target ran it."""

    target: str
    split: str
    acc: float
    correct: int
    images: int

    def to_json(self) -> JSONObject:
        return asdict(self)


def predictions(session: Session, dm: object, split: str = "test") -> tuple[torch.Tensor, torch.Tensor]:
    """(predicted classes, true labels) of every image of ``split`` (``val`` or ``test``), run by ``session``."""
    if split not in SPLITS:
        raise GreenError(f"deployed accuracy is measured on held-out images: split must be one of "
                         f"{', '.join(SPLITS)}, got {split!r}")
    dm.setup()
    loader = dm.test_dataloader() if split == "test" else dm.val_dataloader()
    preds, labels = [], []
    for x, y in loader:
        preds.append(session.run(dm.transform(x)).argmax(dim=1))
        labels.append(y)
    if not preds:
        raise GreenError(f"the {split} split has no images")
    return torch.cat(preds), torch.cat(labels)


def runtime_accuracy(session: Session, dm: object, split: str = "test") -> RuntimeAccuracy:
    """Top-1 accuracy of ``session`` on ``split`` of the data module ``dm``."""
    pred, y = predictions(session, dm, split)
    correct = int((pred == y).sum())
    return RuntimeAccuracy(session.target, split, correct / len(y), correct, len(y))
