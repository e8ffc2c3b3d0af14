"""Objectives, constraints and the hypervolume indicator of the multi-objective search.

Every evaluated subnet is a *record*: ``acc``, ``recall`` (macro), ``recall_min`` (worst class) and
``recall:<class>`` (inherited-weight validation figures, :mod:`supernet.metrics`), ``params``,
``macs`` (exact counts), ``latency_ms``, ``energy_mj`` (lookup table, with ``energy_source``).
Objectives name record fields with a direction; which names exist, and the field and direction of each,
is the registry of :mod:`search.objectives` (a new objective is declared there, once); a cost priced on
another named table of the search (``latency@int8``, field ``latency_ms@int8``) is resolved there too.
Constraints bound cost fields, checked (and repaired) before the expensive evaluation, or scores
(``recall_min >= 0.6``), checked after it: a candidate that misses a score bound is kept out of the
front and ranked behind every candidate that meets the bounds (Deb's constrained domination, see :func:`penalised`).

Hypervolume is computed over objectives normalised to [0, 1] minimisation with *fixed* bounds
(accuracy and recall in [0, 1], costs in [0, cost of the largest subnet]) and the fixed reference
point (1, ..., 1), so it is comparable across generations, runs and algorithms. The indicator and the
non-dominated filter are moocore's (the library DEAP's own hypervolume calls).
"""
from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import moocore
import numpy as np

from search.objectives import by_field, cost_fields, directions, resolve
from core.errors import GreenError
from supernet.metrics import CLASS_PREFIX

_OPS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt}
_CONSTRAINT_RE = re.compile(r"^\s*(recall:\S(?:.*?\S)?|[a-z_]+@[^\s<>=]*|[a-z_]+)\s*(<=|>=|<|>)\s*([-+0-9.eE_]+)\s*$")


def lookup(name: str, registry: Mapping[str, tuple[str, str]] | None = None) -> tuple[str, str] | None:
    """(field, direction) of an objective name, ``recall:<class>`` included; None when unknown.

    ``registry`` is a ``name -> (field, direction)`` view; None: the objectives of :mod:`search.objectives`, whose
    costs may name a table (``latency@int8``: :func:`search.objectives.resolve`, one line for a score with ``@``).
    """
    if registry is None and "@" in name and not name.startswith(CLASS_PREFIX):
        spec = resolve(name)
        return None if spec is None else (spec.field, "max" if spec.maximise else "min")
    registry = directions() if registry is None else registry
    if name in registry:
        return registry[name]
    if name.startswith(CLASS_PREFIX) and len(name) > len(CLASS_PREFIX) and "recall" in registry:
        return registry["recall"][0] + ":" + name[len(CLASS_PREFIX):], "max"
    return None


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


def parse_objectives(names: Sequence[str], registry: Mapping[str, tuple[str, str]] | None = None) -> list[Objective]:
    """Objectives from names (of ``registry``, see :func:`lookup`); unknown or repeated names and fewer than two
    are errors."""
    names = list(names)
    given, registry = registry, directions() if registry is None else registry
    unknown = [n for n in names if lookup(n, given) is None]
    if unknown:
        extra = ", recall:<class>" if "recall" in registry else ""
        extra += ", <cost>@<table>[/b<batch size>]" if given is None else ""
        raise GreenError(f"unknown objective(s) {unknown}; choose from {sorted(registry)}{extra}")
    if len(set(names)) != len(names) or len(names) < 2:
        raise GreenError(f"objectives must be at least two distinct names, got {names}")
    out = []
    for n in names:
        field, direction = lookup(n, given)
        out.append(Objective(n, field, direction == "max"))
    return out


@dataclass(frozen=True)
class Constraint:
    """A bound on a cheap record field, e.g. ``latency_ms <= 5``."""

    field: str
    op: str
    value: float

    def ok(self, record: Mapping[str, Any]) -> bool:
        return _OPS[self.op](record[self.field], self.value)

    def excess(self, record: Mapping[str, Any]) -> float:
        """0 when met, else how far it is missed relative to the bound (> 0 even for a strict bound met with
        equality)."""
        if self.ok(record):
            return 0.0
        return max(abs(record[self.field] - self.value) / max(abs(self.value), 1e-12), 1e-12)

    def __str__(self) -> str:
        return f"{self.field} {self.op} {self.value:g}"


def parse_constraints(texts: Iterable[str], registry: Mapping[str, tuple[str, str]] | None = None) -> list[Constraint]:
    """Constraints from strings such as ``"params <= 300000"`` or ``"recall_min >= 0.6"`` (objective names
    work too): a bound on a cost field (priced before evaluation, :func:`search.objectives.cost_fields`) or on a
    score the evaluation computes (a maximised objective's field)."""
    out = []
    named = registry is None  # the search's objectives: a cost on a named table (latency_ms@int8) is a cost too
    registry = directions() if registry is None else registry
    costs = cost_fields()
    scores = sorted(n for n, (_, d) in registry.items() if d == "max")
    for text in texts:
        m = _CONSTRAINT_RE.match(str(text))
        if not m:
            raise GreenError(f"malformed constraint {text!r}: expected e.g. 'latency_ms <= 5'")
        known = lookup(m.group(1), None if named else registry)
        field = known[0] if known else m.group(1)
        spec = by_field(field) if named and "@" in field else None  # latency@int8, or latency_ms@int8 as a field
        if spec is not None and spec.kind == "cost":  # a cost priced on a named table: bounded before evaluation
            known, costs = (field, "max" if spec.maximise else "min"), (*costs, field)
        if field not in costs and not (known and known[1] == "max"):
            on = ", or one on a named table: latency@<table>" if named and "@" in m.group(1) else ""
            raise GreenError(f"constraint {text!r}: {m.group(1)!r} is not computed by the search; constrain a cost "
                             f"({', '.join(costs)}{on}) or a score ({', '.join(scores)}, recall:<class>)")
        try:
            value = float(m.group(3))
        except ValueError:
            raise GreenError(f"malformed constraint {text!r}: {m.group(3)!r} is not a number") from None
        if not math.isfinite(value):  # a NaN bound compares false both ways, an infinite one is met or missed by all
            raise GreenError(f"constraint {text!r}: the bound {m.group(3)} is not a finite number")
        if known and known[1] == "max" and not 0.0 <= value <= 1.0:  # scores are fractions: refuse before a search
            raise GreenError(f"constraint {text!r}: {m.group(1)} is a fraction in [0, 1], so the bound {value:g} "
                             "can never be met or is always met")
        out.append(Constraint(field, m.group(2), value))
    return out


def penalised(violation: float, n_objectives: int) -> list[float]:
    """The normalised point of a candidate that misses score bounds by ``violation`` (> 0).

    Feasible points lie in [0, 1] in every coordinate; this one lies at 1 + violation in all, so every
    feasible candidate dominates it and, among those that miss, the one that misses less dominates:
    Deb's constrained domination, which DEAP's selections then apply unchanged. It adds nothing to the
    hypervolume (beyond the reference point) and never enters the front.
    """
    return [1.0 + violation] * n_objectives


def check_classes(fields: Iterable[str], classes: Sequence[str], what: str = "objective or constraint") -> None:
    """Every ``recall:<class>`` field must name a class of the data (one line naming it otherwise)."""
    for f in fields:
        head, sep, name = f.partition(":")
        if sep and head.endswith("recall") and name not in classes:
            shown = ", ".join(map(repr, classes[:12])) + (", ..." if len(classes) > 12 else "")
            raise GreenError(f"{what} {f!r} names no class of the data (its classes: {shown})")


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
