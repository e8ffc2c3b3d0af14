"""Every candidate a search evaluated, in order, with its non-dominated front kept up to date.

The front is updated as each record arrives (a new point is compared with the current front
only), so its cost per evaluation depends on the size of the front, not of the archive: a search
of thousands of evaluations no longer rescans everything it has seen once per generation. The
front is the same as :func:`~search.evolution.objectives.pareto_front` of the whole archive: the
non-dominated records in evaluation order, the first kept among equal points. (DEAP's ``ParetoFront``
hall of fame is incremental too, but deep-copies individuals and compares fitnesses pairwise in
Python; here one vectorised comparison against the front's matrix does the same test.)
"""
from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

from search.evolution.objectives import Constraint, Normaliser, Objective, hypervolume, penalised
from search.evolution.records import Evaluation


class Archive:
    """The evaluated records by key, in evaluation order, and their Pareto front under ``norm``.

    ``constraints`` (bounds on scores, known only once a record is evaluated) keep a record that misses them
    out of the front and the best values; its point is :func:`~search.evolution.objectives.penalised`.
    """

    def __init__(self, objectives: Sequence[Objective], norm: Normaliser, constraints: Sequence[Constraint] = ()):
        self.objectives, self.norm = list(objectives), norm
        self.constraints = list(constraints)
        self.missed = 0  # records that missed a score bound
        self.records: dict[str, Evaluation] = {}
        self._front: list[Evaluation] = []
        self._points = np.empty((0, len(self.objectives)))
        self.best: dict[str, float] = {}  # objective name -> best value so far

    def __len__(self) -> int:
        return len(self.records)

    def __contains__(self, key: object) -> bool:
        return key in self.records

    def __iter__(self) -> Iterator[str]:
        return iter(self.records)

    def add(self, record: Evaluation) -> list[float]:
        """Keep ``record`` (its key must be new); returns its normalised objective vector."""
        self.records[record.arch] = record
        excess = sum(c.excess(record) for c in self.constraints)
        if excess > 0:
            self.missed += 1
            return penalised(excess, len(self.objectives))
        point = self.norm(record)
        v = np.asarray(point, dtype=float)
        if not np.any(np.all(self._points <= v, axis=1)):  # not weakly dominated by (nor equal to) a member
            beaten = np.all(v <= self._points, axis=1) & np.any(v < self._points, axis=1)
            if beaten.any():
                self._front = [r for r, b in zip(self._front, beaten) if not b]
                self._points = self._points[~beaten]
            self._front.append(record)
            self._points = np.vstack([self._points, v])
        for o in self.objectives:
            x = record[o.field]
            if o.name not in self.best or (x > self.best[o.name] if o.maximise else x < self.best[o.name]):
                self.best[o.name] = x
        return point

    def front(self) -> list[Evaluation]:
        """The non-dominated records, in evaluation order."""
        return list(self._front)

    def hypervolume(self) -> float:
        return hypervolume(self._points)
