"""ZDT1-3 and DTLZ2 on a grid, with their exact reference fronts (:mod:`bench.problems`).

ZDT1-3 (Zitzler, Deb and Thiele, 2000; 30 variables) and DTLZ2 (Deb, Thiele, Laumanns and Zitzler, 2002;
3 objectives, 12 variables, k = 10): a gene ``g_i`` of ``n`` levels is the variable ``x_i = g_i / (n - 1)``, and
the standard formulas are applied to it. Their reference fronts are exact for the discretised problem:

* ZDT: ``f2`` grows with ``g`` at fixed ``f1`` (for ZDT3 too: d f2 / d g = 1 - sqrt(f1 / g) / 2 > 0), so
  the Pareto set is ``x_2 = ... = x_n = 0`` with ``x_1`` any grid value; the front is the non-dominated
  filter of those ``n`` points (ZDT3's is disconnected, so the filter matters).
* DTLZ2: every objective is ``(1 + g)`` times a function of the position variables, so the front is
  every position combination (``n ** 2`` points) with the least ``g`` on the grid: each distance
  variable at the level nearest 0.5 (0.5 itself on odd grids, so the front lies on the unit sphere),
  filtered for non-domination.

Their bounds (``ideal`` and ``nadir``) come from a few candidate genomes known to hold them, by the same
monotonicity.
"""
from __future__ import annotations

import numpy as np

from bench.problems.base import Problem, nondominated


class ZDT(Problem):
    """ZDT1, ZDT2 or ZDT3 with ``n_var`` variables on a grid of ``levels`` values per variable."""

    objectives = ("f1", "f2")

    def __init__(self, which: int, levels: int, n_var: int = 30):
        if which not in (1, 2, 3):
            raise ValueError(f"ZDT{which} is not one of ZDT1, ZDT2, ZDT3")
        super().__init__([levels] * n_var)
        self.which, self.levels, self.n_var = which, levels, n_var
        self.name = f"zdt{which}-{levels}"

    def fields(self, G: np.ndarray) -> dict[str, np.ndarray]:
        x = G / (self.levels - 1)
        f1 = x[:, 0]
        g = 1.0 + 9.0 * x[:, 1:].sum(axis=1) / (self.n_var - 1)
        r = f1 / g
        if self.which == 1:
            h = 1.0 - np.sqrt(r)
        elif self.which == 2:
            h = 1.0 - r ** 2
        else:
            h = 1.0 - np.sqrt(r) - r * np.sin(10.0 * np.pi * f1)
        return {"f1": f1, "f2": g * h}

    def extremes(self) -> np.ndarray:
        # f1 is x1; f2 grows with g at fixed f1: the least at g = 1, the largest at g = 10
        first = np.arange(self.levels)[:, None]
        lo = np.hstack([first, np.zeros((self.levels, self.n_var - 1), dtype=np.int64)])
        hi = np.hstack([first, np.full((self.levels, self.n_var - 1), self.levels - 1, dtype=np.int64)])
        return np.vstack([lo, hi])

    def reference_front(self) -> np.ndarray:
        first = np.arange(self.levels)[:, None]
        G = np.hstack([first, np.zeros((self.levels, self.n_var - 1), dtype=np.int64)])
        return nondominated(self.evaluate(G))

    def describe(self) -> dict:
        return {**super().describe(), "which": self.which, "levels": self.levels}


class DTLZ2(Problem):
    """DTLZ2 with 3 objectives and ``n_var`` = 12 variables (k = 10) on a grid of ``levels`` values."""

    objectives = ("f1", "f2", "f3")

    def __init__(self, levels: int, n_var: int = 12, n_obj: int = 3):
        if n_obj != 3:
            raise ValueError("this benchmark's DTLZ2 has 3 objectives")
        super().__init__([levels] * n_var)
        self.levels, self.n_var, self.n_obj = levels, n_var, n_obj
        self.name = f"dtlz2-{levels}"

    def fields(self, G: np.ndarray) -> dict[str, np.ndarray]:
        x = G / (self.levels - 1)
        g = ((x[:, self.n_obj - 1:] - 0.5) ** 2).sum(axis=1)
        # cos(x pi / 2) as sin((1 - x) pi / 2): exactly 0 at x = 1, so the pole of the front is one point
        ca, sa = np.sin((1 - x[:, 0]) * np.pi / 2), np.sin(x[:, 0] * np.pi / 2)
        cb, sb = np.sin((1 - x[:, 1]) * np.pi / 2), np.sin(x[:, 1] * np.pi / 2)
        return {"f1": (1 + g) * ca * cb, "f2": (1 + g) * ca * sb, "f3": (1 + g) * sa}

    def _positions(self, distance_level: int) -> np.ndarray:
        i, j = np.meshgrid(np.arange(self.levels), np.arange(self.levels), indexing="ij")
        pos = np.stack([i.ravel(), j.ravel()], axis=1)
        dist = np.full((len(pos), self.n_var - 2), distance_level, dtype=np.int64)
        return np.hstack([pos, dist])

    def middle(self) -> int:
        """The level nearest 0.5 (the lower of two on an even grid: both give the same g)."""
        return (self.levels - 1) // 2

    def extremes(self) -> np.ndarray:
        # every objective is (1 + g) h(positions): least at the least g, largest at the largest (x = 0)
        return np.vstack([self._positions(self.middle()), self._positions(0)])

    def reference_front(self) -> np.ndarray:
        return nondominated(self.evaluate(self._positions(self.middle())))

    def describe(self) -> dict:
        return {**super().describe(), "levels": self.levels}
