"""The hyperparameter space of ``green-hpo``: one training setting as a value, every choice in one object.

:class:`HyperConfig` is a setting (optimizer, learning rate, weight decay, L1, dropout, label
smoothing, initialisation), :class:`HyperSpace` the grid of choices with the genome interface
:class:`~search.evolution.engine.Evolution` searches, as :class:`~supernet.space.SearchSpace` is for archs.
"""
from __future__ import annotations

import hashlib
import json
import math
import random
from dataclasses import dataclass
from typing import Any, Sequence

from omegaconf import OmegaConf

from search.training.fit import INITS, OPTIMIZERS
from supernet.data import BALANCES
from core.errors import GreenError
from core.jsontypes import JSONObject

DIMS = ("optimizer", "lr", "weight_decay", "l1", "dropout", "label_smoothing", "init")
OPTIONAL_DIMS = ("balance",)  # searched only when hpo.space names it: spaces and settings of before stay as they were


@dataclass(frozen=True)
class HyperConfig:
    """One training setting; ``init`` is ``inherited`` (fine-tune) or a from-scratch initialisation."""

    optimizer: str
    lr: float
    weight_decay: float
    l1: float
    dropout: float
    label_smoothing: float
    init: str
    balance: str | None = None  # class-aware training (data.balance); None: as the data config says

    def __str__(self) -> str:
        return (f"{self.optimizer}-lr{self.lr:.3g}-wd{self.weight_decay:.3g}-l1{self.l1:.3g}-do{self.dropout:.3g}"
                f"-ls{self.label_smoothing:.3g}-{self.init}" + (f"-bal{self.balance}" if self.balance else ""))

    def overrides(self) -> JSONObject:
        """The setting as green-finetune config values."""
        out = {"optimizer": {"name": self.optimizer, "lr": self.lr, "weight_decay": self.weight_decay},
               "l1": self.l1, "dropout": self.dropout, "label_smoothing": self.label_smoothing,
               "from_scratch": self.init != "inherited", "init": "default" if self.init == "inherited" else self.init}
        if self.balance is not None:
            out["data"] = {"balance": self.balance}
        return out


def _grid(name: str, spec: Any) -> tuple:
    """A dimension's choices: an explicit list, or ``{low, high, steps, log}`` spaced evenly (in log if log)."""
    if OmegaConf.is_config(spec):
        spec = OmegaConf.to_container(spec, resolve=True)
    if isinstance(spec, dict):
        try:
            lo, hi, n, log = float(spec["low"]), float(spec["high"]), int(spec["steps"]), bool(spec.get("log", False))
        except (KeyError, TypeError, ValueError):
            raise GreenError(f"hpo.space.{name}: a range needs numeric low, high and steps, got {spec}") from None
        if n < 1 or lo > hi or (log and lo <= 0):
            raise GreenError(f"hpo.space.{name}: empty or invalid range {spec}")
        if n == 1:
            return (lo,)
        if log:
            return tuple(float(f"{math.exp(math.log(lo) + i * (math.log(hi) - math.log(lo)) / (n - 1)):.4g}")
                         for i in range(n))
        return tuple(float(f"{lo + i * (hi - lo) / (n - 1):.4g}") for i in range(n))
    if not isinstance(spec, (list, tuple)) or not spec:
        raise GreenError(f"hpo.space.{name} is empty: give a list of choices or a {{low, high, steps}} range")
    return tuple(spec)


class HyperSpace:
    """Every choice of the hyperparameter search, with the genome interface :class:`Evolution` uses."""

    def __init__(self, **dims: Any):
        missing = [d for d in DIMS if d not in dims]
        if missing:
            raise GreenError(f"hpo.space lacks {missing}")
        unknown = [d for d in dims if d not in DIMS + OPTIONAL_DIMS]
        if unknown:
            raise GreenError(f"hpo.space has unknown dimension(s) {unknown}; dimensions are "
                             f"{list(DIMS + OPTIONAL_DIMS)}")
        self.dims = DIMS + tuple(d for d in OPTIONAL_DIMS if d in dims)
        self.choices = {d: _grid(d, dims[d]) for d in self.dims}
        bad = [b for b in self.choices.get("balance", ()) if b not in BALANCES]
        if bad:
            raise GreenError(f"unknown balance(s) {bad}; choose from {', '.join(BALANCES)}")
        bad = [o for o in self.choices["optimizer"] if o not in OPTIMIZERS]
        if bad:
            raise GreenError(f"unknown optimizer(s) {bad}; choose from {', '.join(OPTIMIZERS)}")
        bad = [i for i in self.choices["init"] if i != "inherited" and i not in INITS]
        if bad:
            raise GreenError(f"unknown init(s) {bad}; choose from inherited, {', '.join(INITS)}")
        if any(v <= 0 for v in self.choices["lr"]):
            raise GreenError(f"hpo.space.lr must be > 0, got {self.choices['lr']}")
        if any(not 0 <= v < 1 for v in self.choices["dropout"]):
            raise GreenError(f"hpo.space.dropout must lie in [0, 1), got {self.choices['dropout']}")
        for d in ("weight_decay", "l1", "label_smoothing"):
            if any(v < 0 for v in self.choices[d]):
                raise GreenError(f"hpo.space.{d} must be >= 0, got {self.choices[d]}")
        if any(v >= 1 for v in self.choices["label_smoothing"]):
            raise GreenError(f"hpo.space.label_smoothing must lie in [0, 1), got {self.choices['label_smoothing']}")
        self.name = "hpo"

    def gene_sizes(self) -> list[int]:
        return [len(self.choices[d]) for d in self.dims]

    def gene_kinds(self) -> list[str]:
        """``ordinal`` for a numeric grid in increasing or decreasing order (learning rates, dropout), so the
        evolution moves it to neighbouring values; ``categorical`` otherwise (optimizer, initialisation)."""
        def kind(c: tuple) -> str:
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in c):
                return "categorical"
            steps = [b - a for a, b in zip(c, c[1:])]
            return "ordinal" if all(d > 0 for d in steps) or all(d < 0 for d in steps) else "categorical"
        return [kind(self.choices[d]) for d in self.dims]

    def decode(self, genome: Sequence[int]) -> HyperConfig:
        return HyperConfig(**{d: self.choices[d][int(g)] for d, g in zip(self.dims, genome)})

    def encode(self, hc: HyperConfig) -> list[int]:
        return [self.choices[d].index(getattr(hc, d)) for d in self.dims]

    def sample(self, rng: random.Random) -> HyperConfig:
        return self.decode([rng.randrange(n) for n in self.gene_sizes()])

    def nearest(self, **values: Any) -> HyperConfig:
        """The grid point nearest to a setting (log distance for positive numbers): the default recipe's."""
        def pick(d: str, v: Any) -> Any:
            choices = self.choices[d]
            if v in choices or not all(isinstance(c, (int, float)) for c in choices):
                return v if v in choices else choices[0]
            key = (lambda c: abs(math.log(c) - math.log(v))) if v > 0 and min(choices) > 0 else (lambda c: abs(c - v))
            return min(choices, key=key)
        return HyperConfig(**{d: pick(d, values.get(d, "none")) for d in self.dims})

    def smallest(self) -> HyperConfig:
        return self.decode([0] * len(self.dims))

    largest = smallest  # no cost is known before a trial: Evolution gets explicit bounds

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.choices, sort_keys=True).encode()).hexdigest()[:12]

