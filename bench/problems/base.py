"""The grid, the genome interface and the problem base class of the optimizer benchmark's test problems.

Every problem is minimisation over a grid of integer genes (:class:`GridSpace`, whose candidates are
:class:`Point`); a :class:`Problem` evaluates a matrix of genomes at once (numpy) and knows what the benchmark
needs to score a front: its fixed normalisation bounds and, where known, its exact reference front.
"""
from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class Point:
    """One candidate of a :class:`GridSpace`: its genes; ``str`` is a compact unique key."""

    genes: tuple[int, ...]
    key: str = field(compare=False, repr=False, default="")

    def __post_init__(self) -> None:
        genes = tuple(int(g) for g in self.genes)
        object.__setattr__(self, "genes", genes)
        if max(genes, default=0) < len(ALPHABET):
            key = "".join(ALPHABET[g] for g in genes)
        else:
            key = ".".join(map(str, genes))
        object.__setattr__(self, "key", key)

    def __str__(self) -> str:
        return self.key


class GridSpace:
    """A grid of integer genes with the genome interface :class:`~search.evolution.engine.Evolution` searches.

    ``sizes[i]`` levels for gene ``i`` (``0 .. sizes[i] - 1``), each ``"ordinal"`` (levels are ordered) or
    ``"categorical"``; a candidate is a :class:`Point`.
    """

    def __init__(self, sizes: Sequence[int], kinds: Sequence[str] | None = None, name: str = "grid"):
        self.sizes = [int(n) for n in sizes]
        self.kinds = list(kinds) if kinds is not None else ["ordinal"] * len(self.sizes)
        if len(self.kinds) != len(self.sizes) or any(k not in ("ordinal", "categorical") for k in self.kinds):
            raise ValueError(f"gene kinds must be one 'ordinal' or 'categorical' per gene, got {self.kinds}")
        if not self.sizes or any(n < 1 for n in self.sizes):
            raise ValueError(f"gene sizes must be >= 1, got {self.sizes}")
        self.name = name

    def gene_sizes(self) -> list[int]:
        return list(self.sizes)

    def gene_kinds(self) -> list[str]:
        return list(self.kinds)

    def encode(self, x: Point) -> list[int]:
        return list(x.genes)

    def decode(self, genome: Sequence[int]) -> Point:
        return Point(tuple(int(g) for g in genome))

    def sample(self, rng: random.Random) -> Point:
        return Point(tuple(rng.randrange(n) for n in self.sizes))

    def largest(self) -> Point:
        return Point(tuple(n - 1 for n in self.sizes))

    def smallest(self) -> Point:
        return Point((0,) * len(self.sizes))

    def digest(self) -> str:
        text = json.dumps({"name": self.name, "sizes": self.sizes, "kinds": self.kinds})
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def nondominated(F: np.ndarray) -> np.ndarray:
    """The rows of ``F`` (minimisation) no other row dominates, equal rows kept once, in their order."""
    import moocore

    F = np.asarray(F, dtype=float)
    if len(F) == 0:
        return F.reshape(0, F.shape[1] if F.ndim == 2 else 0)
    return F[moocore.is_nondominated(F, keep_weakly=False)]


class Problem:
    """A minimisation problem over a grid of genes; subclasses define :meth:`fields` and their bounds.

    ``objectives`` name the fields minimised; ``cost_fields`` are the ones known before evaluation (the
    engine's ``cost_fn`` returns them, its ``eval_fn`` the others); ``constraint`` is ``(field, threshold)``
    for ``field <= threshold`` on a cost field, or None.
    """

    name = ""
    objectives: tuple[str, ...] = ()
    cost_fields: tuple[str, ...] = ()
    constraint: tuple[str, float] | None = None
    reference = "exact"  # how the IGD reference front is known: "exact" or "union" (of every run's front)

    def __init__(self, sizes: Sequence[int], kinds: Sequence[str] | None = None):
        self.sizes = tuple(int(n) for n in sizes)
        self.kinds = tuple(kinds) if kinds is not None else ("ordinal",) * len(self.sizes)

    # -- evaluation ---------------------------------------------------------------------------------
    def fields(self, G: np.ndarray) -> dict[str, np.ndarray]:
        """Every field of the genomes ``G`` (an integer matrix, one row each), one array per field."""
        raise NotImplementedError

    def evaluate(self, G: np.ndarray) -> np.ndarray:
        """The objective matrix of the genomes ``G`` (one row each, one column per objective)."""
        out = self.fields(np.atleast_2d(np.asarray(G, dtype=np.int64)))
        return np.stack([out[f] for f in self.objectives], axis=1)

    def one(self, genes: Sequence[int]) -> dict[str, float]:
        """Every field of one genome, as Python floats."""
        out = self.fields(np.asarray([genes], dtype=np.int64))
        return {k: float(v[0]) for k, v in out.items()}

    def cost_fn(self, x: Point) -> dict[str, float]:
        """The engine's ``cost_fn``: the cost fields of ``x`` (known before evaluation)."""
        if not self.cost_fields:
            return {}
        vals = self.one(x.genes)
        return {f: vals[f] for f in self.cost_fields}

    def eval_fn(self, x: Point) -> dict[str, float]:
        """The engine's ``eval_fn``: the objective fields of ``x`` that are not costs."""
        vals = self.one(x.genes)
        return {f: vals[f] for f in self.objectives if f not in self.cost_fields}

    def feasible(self, F_fields: dict[str, np.ndarray]) -> np.ndarray:
        """Which genomes meet the constraint (all, for an unconstrained problem)."""
        n = len(next(iter(F_fields.values())))
        if self.constraint is None:
            return np.ones(n, dtype=bool)
        f, thr = self.constraint
        return F_fields[f] <= thr

    # -- what the benchmark needs to score a front ---------------------------------------------------
    def extremes(self) -> np.ndarray:
        """Genomes holding the least and largest value of every objective (or estimating them)."""
        raise NotImplementedError

    def bounds(self) -> tuple[list[float], list[float]]:
        """``(ideal, nadir)``: the least and largest value of every objective over the grid."""
        F = self.evaluate(self.extremes())
        return [float(v) for v in F.min(axis=0)], [float(v) for v in F.max(axis=0)]

    def reference_front(self) -> np.ndarray | None:
        """The exact Pareto front of the discretised problem (None: unknown)."""
        return None

    def space(self) -> GridSpace:
        return GridSpace(self.sizes, self.kinds, self.name)

    def describe(self) -> dict:
        """What defines the problem (its digest keys the stored runs)."""
        return {"name": self.name, "class": type(self).__name__, "sizes": list(self.sizes),
                "kinds": list(self.kinds), "objectives": list(self.objectives),
                "cost_fields": list(self.cost_fields),
                "constraint": None if self.constraint is None else [self.constraint[0], "<=", self.constraint[1]]}

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.describe(), sort_keys=True).encode()).hexdigest()[:12]
