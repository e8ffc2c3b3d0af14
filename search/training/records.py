"""What a standalone training hands on: the recipe it followed, the budget it got, the result it reached.

A winner, its from-scratch twin, a hand-designed baseline and a ground-truth table row are compared
only when their budgets are (:class:`Budget`, checked by ``green-run``'s equal-budget rule through
:meth:`Recipe.differences`), so these travel as typed values from :func:`search.training.fit.fit_and_measure`
to the command that writes them; the results files keep their flat row layout (``to_json``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Sequence

from omegaconf import DictConfig

from core.energy import EnergyUse
from core.jsontypes import JSONObject
from search.hardware.measure import Measured


@dataclass(frozen=True)
class Recipe:
    """The training recipe of a fine-tuning config, as a report states it (what makes budgets comparable)."""

    epochs: int
    optimizer: str
    lr: float
    weight_decay: float
    schedule: str
    label_smoothing: float
    dropout: float | None
    l1: float
    batch_size: int
    balance: str = "none"

    @classmethod
    def of(cls, cfg: DictConfig) -> "Recipe":
        opt, sched = cfg.optimizer, cfg.get("scheduler") or {}
        schedule = str(sched.get("_target_", "constant")).rsplit(".", 1)[-1]
        if sched.get("warmup_t"):
            schedule += f" (warmup {sched.get('warmup_t')} steps)"
        return cls(int(cfg.epochs), str(opt.get("name", opt.get("_target_"))), float(opt.lr),
                   float(opt.get("weight_decay", 0.0)), schedule, float(cfg.label_smoothing), cfg.get("dropout"),
                   float(cfg.get("l1") or 0.0), int(cfg.data.batch_size), str(cfg.data.get("balance") or "none"))

    def to_json(self) -> JSONObject:
        out: JSONObject = asdict(self)
        if self.balance == "none":  # stated only when used: recipes of before compare equal to "none"
            del out["balance"]
        return out

    def differences(self, other: "Recipe") -> list[str]:
        """``key mine vs theirs`` for every field in which the two recipes differ (empty: equal budgets)."""
        a, b = asdict(self), asdict(other)
        return [f"{k} {a[k]!r} vs {b[k]!r}" for k in a if a[k] != b[k]]


@dataclass(frozen=True)
class Budget:
    """The budget a model really got: its recipe, the images it saw, whether a teacher helped, the kWh."""

    recipe: Recipe
    images_seen: int
    train_images: int
    distilled: bool
    train_kwh: float
    init: str | None = None  # where the weights started: "inherited", "scratch (he)", ... (stated by the command)

    def to_json(self) -> JSONObject:
        out: JSONObject = {**self.recipe.to_json(), "images_seen": self.images_seen,
                           "train_images": self.train_images, "distilled": self.distilled, "train_kwh": self.train_kwh}
        if self.init is not None:
            out["init"] = self.init
        return out


@dataclass(frozen=True)
class ModelResult:
    """One trained, tested (and, unless switched off, measured) standalone network."""

    epochs: int
    seed: int
    test_acc: float
    test_recall: float
    test_recall_min: float
    test_class_recall: JSONObject
    test_confusion: Sequence[Sequence[int]]
    test_images: int
    measured: Measured | None
    test_correct: str | None  # each test image's correctness, :func:`supernet.metrics.pack_correct`
    energy: EnergyUse
    budget: Budget

    def started(self, init: str) -> "ModelResult":
        """This result with its budget's starting weights stated."""
        return replace(self, budget=replace(self.budget, init=init))

    def to_json(self) -> JSONObject:
        """The flat row of ``finetune.json``, ``baselines.json`` and the table's rows."""
        return {"epochs": self.epochs, "seed": self.seed, "test_acc": self.test_acc, "test_recall": self.test_recall,
                "test_recall_min": self.test_recall_min, "test_class_recall": self.test_class_recall,
                "test_confusion": [list(r) for r in self.test_confusion], "test_images": self.test_images,
                **(self.measured.to_json() if self.measured is not None else {}), "test_correct": self.test_correct,
                "train_energy_kwh": self.energy.energy_kwh, "train_co2eq_kg": self.energy.co2eq_kg,
                "train_energy_source": self.energy.source, "train_seconds": self.energy.seconds,
                "budget": self.budget.to_json()}
