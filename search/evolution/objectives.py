"""Objectives, constraints and the hypervolume indicator of the multi-objective search.

Every evaluated subnet is a *record*: ``acc``, ``recall`` (inherited-weight validation figures),
``params``, ``macs`` (exact counts), ``latency_ms``, ``energy_mj`` (lookup table, with
``energy_source``). Objectives name record fields with a direction; constraints bound the cheap
fields (``params``, ``macs``, ``latency_ms``, ``energy_mj``) so they can be checked before the
expensive accuracy evaluation.

Hypervolume is computed over objectives normalised to [0, 1] minimisation with *fixed* bounds
(accuracy and recall in [0, 1], costs in [0, cost of the largest subnet]) and the fixed reference
point (1, ..., 1), so it is comparable across generations, runs and algorithms. The indicator and the
non-dominated filter are moocore's (the library DEAP's own hypervolume calls).
"""
from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import moocore
import numpy as np

from supernet.errors import GreenError

# objective name -> (record field, direction)
OBJECTIVES: dict[str, tuple[str, str]] = {
    "acc": ("acc", "max"), "recall": ("recall", "max"), "params": ("params", "min"),
    "macs": ("macs", "min"), "latency": ("latency_ms", "min"), "energy": ("energy_mj", "min"),
}
COST_FIELDS = ("params", "macs", "latency_ms", "energy_mj")
_OPS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt}
_CONSTRAINT_RE = re.compile(r"^\s*([a-z_]+)\s*(<=|>=|<|>)\s*([-+0-9.eE_]+)\s*$")


@dataclass(frozen=True)
class Objective:
    """One objective: its name, the record field it reads and whether larger is better."""

    name: str
    field: str
    maximise: bool

    @property
    def weight(self) -> float:
        """DEAP fitness weight."""
        return 1.0 if self.maximise else -1.0


def parse_objectives(names: Sequence[str], registry: Mapping[str, tuple[str, str]] = OBJECTIVES) -> list[Objective]:
    """Objectives from names (of ``registry``); unknown or repeated names and fewer than two are errors."""
    names = list(names)
    unknown = [n for n in names if n not in registry]
    if unknown:
        raise GreenError(f"unknown objective(s) {unknown}; choose from {sorted(registry)}")
    if len(set(names)) != len(names) or len(names) < 2:
        raise GreenError(f"objectives must be at least two distinct names, got {names}")
    return [Objective(n, registry[n][0], registry[n][1] == "max") for n in names]


@dataclass(frozen=True)
class Constraint:
    """A bound on a cheap record field, e.g. ``latency_ms <= 5``."""

    field: str
    op: str
    value: float

    def ok(self, record: Mapping[str, Any]) -> bool:
        return _OPS[self.op](record[self.field], self.value)

    def __str__(self) -> str:
        return f"{self.field} {self.op} {self.value:g}"


def parse_constraints(texts: Iterable[str]) -> list[Constraint]:
    """Constraints from strings such as ``"params <= 300000"`` (objective names work too)."""
    out = []
    for text in texts:
        m = _CONSTRAINT_RE.match(str(text))
        if not m:
            raise GreenError(f"malformed constraint {text!r}: expected e.g. 'latency_ms <= 5'")
        field = OBJECTIVES.get(m.group(1), (m.group(1),))[0]
        if field not in COST_FIELDS:
            raise GreenError(f"constraint {text!r}: only cost fields can be constrained before evaluation "
                             f"({', '.join(COST_FIELDS)})")
        try:
            value = float(m.group(3))
        except ValueError:
            raise GreenError(f"malformed constraint {text!r}: {m.group(3)!r} is not a number") from None
        out.append(Constraint(field, m.group(2), value))
    return out


class Normaliser:
    """Maps records to [0, 1] minimisation vectors with fixed bounds (see the module docstring)."""

    def __init__(self, objectives: Sequence[Objective], largest: Mapping[str, float]):
        self.objectives = list(objectives)
        self.hi = {o.field: 1.0 if o.maximise else float(largest[o.field]) for o in objectives}

    def __call__(self, record: Mapping[str, float]) -> list[float]:
        out = []
        for o in self.objectives:
            v = float(record[o.field]) / self.hi[o.field] if self.hi[o.field] else 0.0
            out.append(1.0 - v if o.maximise else v)
        return out


def hypervolume(points: Sequence[Sequence[float]], ref: float = 1.0) -> float:
    """Hypervolume of normalised minimisation points w.r.t. the point (ref, ..., ref); 0 for no points.

    Points beyond the reference in any coordinate add nothing (moocore leaves them out itself).
    """
    if len(points) == 0:  # len, not truthiness: numpy arrays are accepted too
        return 0.0
    pts = np.asarray(points, dtype=float)
    return float(moocore.hypervolume(pts, ref=np.full(pts.shape[1], float(ref))))


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """``a`` Pareto-dominates ``b`` (minimisation)."""
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def pareto_front(records: Sequence[Mapping[str, Any]], norm: Normaliser) -> list[Mapping[str, Any]]:
    """Non-dominated records, in their order (the first occurrence kept among equal points)."""
    if not records:
        return []
    keep = moocore.is_nondominated(np.array([norm(r) for r in records], dtype=float), keep_weakly=False)
    return [r for r, k in zip(records, keep) if k]
