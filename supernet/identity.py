"""The one identity of a data split, and the one comparison of a recorded split with today's data.

A supernet checkpoint, a ground-truth table and a predictor's table each record which images were
validation and which training; a later command must see the same split, or validation images may
have been trained on. :class:`DataIdentity` is what they record (classes, seed, sizes, how the images
were divided) and :meth:`DataIdentity.differences` what they compare, so the places that used to
rebuild it by hand agree by construction.

On disk it is a flat JSON object whose schema is versioned by the file that holds it (the checkpoint's
``green`` section, a table's ``version``). :meth:`DataIdentity.from_json` is the one migration of older
records: those written before stratification and long-tailed subsets carry no ``split`` /
``imbalance_ratio`` and meant a random split of all images (:data:`LEGACY`); those of the first versions
carry no image size or channels (None: unknown, so a comparison that asks for them reports the difference).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping, Sequence

from core.errors import GreenError
from core.jsontypes import JSONObject

LEGACY = {"split": "random", "imbalance_ratio": None}  # what a record without these keys meant
SPLIT_KEYS = ("classes", "seed", "val_size", "split", "imbalance_ratio")  # what decides which images validate


@dataclass(frozen=True)
class DataIdentity:
    """Which images a split holds: the classes, the split's seed and validation size, the image size and
    channels, and the split's kind (``random`` or ``stratified``; ``imbalance_ratio`` for a long-tailed subset)."""

    classes: tuple[str, ...] | None = None
    seed: int | None = None
    val_size: float | None = None
    image_size: int | None = None
    channels: int | None = None
    split: str = "random"
    imbalance_ratio: float | None = None

    @classmethod
    def of(cls, dm: Any) -> DataIdentity:
        """The identity of a data module's split (set up if it is not yet)."""
        dm.setup()
        return cls.from_json({"classes": list(dm.classes), "seed": int(dm.seed), "val_size": dm.val_size,
                              "image_size": int(dm.image_size), "channels": int(dm.channels), **dm.split_key()})

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str = "data identity") -> DataIdentity:
        """The identity of a recorded JSON object (older layouts migrated as the module docstring says; keys of
        other records beside it, such as a checkpoint's data ``class``, are ignored)."""
        if not isinstance(data, Mapping):
            raise GreenError(f"{where} is not a JSON object")
        known = {f.name for f in fields(cls)}
        values = {**LEGACY, **{k: v for k, v in data.items() if k in known}}
        if values.get("classes") is not None:
            values["classes"] = tuple(str(c) for c in values["classes"])
        return cls(**values)

    def to_json(self) -> JSONObject:
        """The flat object checkpoints and tables store: ``split`` and ``imbalance_ratio`` only where they differ
        from :data:`LEGACY` (so a record of today equals one of before for the same split)."""
        out: dict[str, Any] = {"classes": None if self.classes is None else list(self.classes), "seed": self.seed,
                               "val_size": self.val_size, "image_size": self.image_size, "channels": self.channels}
        if self.split != LEGACY["split"]:
            out["split"] = self.split
        if self.imbalance_ratio is not None:
            out["imbalance_ratio"] = self.imbalance_ratio
        return out

    def differences(self, now: DataIdentity, keys: Sequence[str] = SPLIT_KEYS, was: str = "trained") -> list[str]:
        """``"key: <was> <recorded> vs now <today>"`` for each of ``keys`` where this (recorded) identity and
        ``now`` disagree."""
        return [f"{k}: {was} {_shown(getattr(self, k))!r} vs now {_shown(getattr(now, k))!r}" for k in keys
                if getattr(self, k) != getattr(now, k)]


def _shown(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def data_differences(dm: Any, recorded: DataIdentity, keys: Sequence[str] = SPLIT_KEYS,
                     was: str = "trained") -> list[str]:
    """Where ``recorded`` and the data module ``dm`` disagree, one line per key (:meth:`DataIdentity.differences`)."""
    return recorded.differences(DataIdentity.of(dm), keys, was)
