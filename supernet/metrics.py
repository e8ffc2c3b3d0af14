"""Classification figures of one set of predictions: accuracy, macro recall, worst-class and per-class recall.

Every command scores with :func:`scores`, so a search, a fine-tuning and a report give the same
number for the same predictions. Recall per class comes from torchmetrics; a class with no image in
the scored set has no recall and is left out of the worst-class figure (its recall would read 0).
The field of a named class's recall is ``recall:<class name>``, as objectives and constraints name it.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torchmetrics.functional.classification import multiclass_accuracy, multiclass_recall

from core.jsontypes import JSONObject

CLASS_PREFIX = "recall:"


def class_recall(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> tuple[list[float], list[int]]:
    """Recall of every class and the number of its images among ``target`` (recall 0 where it has none)."""
    rec = multiclass_recall(pred, target, num_classes, average="none")
    support = torch.bincount(target, minlength=num_classes)
    return [float(r) for r in rec], [int(s) for s in support]


def scores(pred: torch.Tensor, target: torch.Tensor, classes: Sequence[str],
           track: Sequence[str] = ()) -> dict[str, float]:
    """``acc``, macro ``recall``, ``recall_min`` (over classes with images) and ``recall:<c>`` for each of ``track``.

    A tracked class with no image among ``target`` has no recall: that is an error naming it, not a 0.
    """
    n = len(classes)
    rec, support = class_recall(pred, target, n)
    present = [r for r, s in zip(rec, support) if s > 0]
    out = {"acc": float(multiclass_accuracy(pred, target, n, average="micro")),
           "recall": float(multiclass_recall(pred, target, n, average="macro")),
           "recall_min": min(present) if present else 0.0}
    index = {c: i for i, c in enumerate(classes)}
    for c in track:
        i = index[c]
        if support[i] == 0:
            from core.errors import GreenError

            raise GreenError(f"class {c!r} has no image among the {len(target)} scored: its recall is undefined")
        out[CLASS_PREFIX + c] = rec[i]
    return out


def confusion_figures(cm: torch.Tensor, classes: Sequence[str]) -> JSONObject:
    """From a confusion matrix (rows: true class): ``recall_min`` over classes with images, ``class_recall`` and
    ``support`` by class name, and the matrix itself as nested lists (the report draws it)."""
    cm = cm.detach().to("cpu", torch.int64)
    support = cm.sum(1)
    rec = torch.where(support > 0, cm.diag().double() / support.clamp_min(1), torch.zeros((), dtype=torch.float64))
    present = [float(r) for r, n in zip(rec, support) if n > 0]
    return {"recall_min": min(present) if present else 0.0,
            "class_recall": {c: float(r) for c, r in zip(classes, rec)},
            "support": {c: int(n) for c, n in zip(classes, support)}, "confusion": cm.tolist()}


def tracked_classes(fields: Sequence[str]) -> list[str]:
    """The class names of the ``recall:<class>`` fields among ``fields``, in order, once each."""
    out: list[str] = []
    for f in fields:
        if f.startswith(CLASS_PREFIX) and f[len(CLASS_PREFIX):] not in out:
            out.append(f[len(CLASS_PREFIX):])
    return out


def pack_correct(correct: Sequence[bool] | torch.Tensor) -> str:
    """Per-image correctness (in the test set's order) as base64 of its packed bits: 10,000 images in 1,668
    characters of JSON, so a result keeps what paired bootstraps over images need (:func:`unpack_correct`)."""
    import base64

    import numpy as np

    bits = np.asarray(correct.cpu() if isinstance(correct, torch.Tensor) else correct, dtype=bool)
    return base64.b64encode(np.packbits(bits).tobytes()).decode("ascii")


def unpack_correct(text: str, n: int):
    """The ``n`` per-image booleans :func:`pack_correct` packed (a numpy bool array); a wrong length is refused."""
    import base64
    import binascii

    import numpy as np

    try:
        raw = np.frombuffer(base64.b64decode(text, validate=True), dtype=np.uint8)
    except (binascii.Error, ValueError):
        raise ValueError("per-image correctness is not base64 of packed bits") from None
    if raw.size != (n + 7) // 8:
        raise ValueError(f"per-image correctness holds {raw.size * 8} bits, not {n} images")
    return np.unpackbits(raw)[:n].astype(bool)
