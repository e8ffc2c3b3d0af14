"""Few-choice problems with interacting genes (NK-landscape-like): this project's ``cifar`` layout and others."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from bench.problems.base import Problem

# the gene layout of the `cifar` space (conf/space/cifar.yaml): 37 ordinal genes of 2 to 4 choices
CIFAR_LAYOUT = (3, 2, 3, 3, 3, 2, 2, 3, 3, 3) + (4, 3) * 13 + (4,)


class FewChoice(Problem):
    """An architecture-like problem of few-choice ordinal genes that interact, in the NK-landscape manner.

    Gene ``i`` (``n_i`` choices) adds capacity ``w_i * x_i * (1 + alpha * (T_i[g_i, g_j, ...] - 0.5))``, with
    ``x_i = g_i / (n_i - 1)``: its worth depends on its own choice and those of ``k`` other genes (Kauffman's
    NK landscapes: a random table per gene, uniform in [0, 1], over its own and its neighbours' choices), so
    the best value of one gene depends on others, as a block's kernel does on its width in a real space.
    ``error = 0.05 + 0.9 * exp(-3 * C)`` for the capacity ``C`` (the sum over genes divided by the sum of the
    ``w_i``); ``cost`` (known before evaluation, as a cost table's figure is) is ``sum v_i * x_i / sum v_i``,
    with ``v_i = w_i * r_i``, ``r_i`` log-uniform in [1/2, 2]: genes differ in how much accuracy a unit of cost
    buys. Weights, ratios, neighbours and tables come from numpy's generator ``seed``; ``alpha`` is 1.

    ``sizes``: the layout (:data:`CIFAR_LAYOUT`: this project's ``cifar`` space). The front is unknown: the
    reference front is the union of every run's. Bounds are analytic: ``cost`` in [0, 1] (every gene at its
    first or last choice), ``error`` in [0.05 + 0.9 exp(-3 (1 + alpha / 2)), 0.95] (``C`` lies in
    [0, 1 + alpha / 2]).
    """

    objectives = ("error", "cost")
    cost_fields = ("cost",)
    reference = "union"
    alpha = 1.0

    def __init__(self, sizes: Sequence[int], k: int, seed: int, name: str):
        super().__init__(sizes)
        n = len(self.sizes)
        if not 0 <= k < n:
            raise ValueError(f"k must lie in [0, {n - 1}], got {k}")
        self.k, self.seed, self.name = int(k), int(seed), name
        rng = np.random.default_rng(seed)
        self.w = rng.uniform(0.5, 1.5, n)
        self.v = self.w * np.exp(rng.uniform(np.log(0.5), np.log(2.0), n))
        self.neighbours = [rng.choice([j for j in range(n) if j != i], size=k, replace=False) for i in range(n)]
        self.tables = [rng.random([self.sizes[i], *(self.sizes[j] for j in nb)])
                       for i, nb in enumerate(self.neighbours)]

    def fields(self, G: np.ndarray) -> dict[str, np.ndarray]:
        sizes = np.asarray(self.sizes, dtype=float)
        x = G / (sizes - 1.0)
        epi = np.stack([t[(G[:, i], *(G[:, j] for j in nb))] for i, (t, nb) in
                        enumerate(zip(self.tables, self.neighbours))], axis=1)
        capacity = (self.w * x * (1.0 + self.alpha * (epi - 0.5))).sum(axis=1) / self.w.sum()
        return {"error": 0.05 + 0.9 * np.exp(-3.0 * capacity), "cost": (self.v * x).sum(axis=1) / self.v.sum()}

    def extremes(self) -> np.ndarray:
        return np.asarray([[0] * len(self.sizes), [n - 1 for n in self.sizes]], dtype=np.int64)

    def bounds(self) -> tuple[list[float], list[float]]:
        return [0.05 + 0.9 * float(np.exp(-3.0 * (1.0 + self.alpha / 2))), 0.0], [0.95, 1.0]

    def describe(self) -> dict:
        return {**super().describe(), "k": self.k, "seed": self.seed, "alpha": self.alpha}


def is_few_choice(name: str) -> bool:
    """Whether ``name`` names a few-choice problem (``cifar-...``, ``few-...``)."""
    return name.startswith(("cifar-", "few-"))


def few_choice(name: str) -> FewChoice:
    """``cifar-k<K>[-s<seed>]``: the ``cifar`` layout; ``few-<genes>-k<K>[-s<seed>]``: ``genes`` genes of 2 to 4
    choices drawn from numpy's generator ``seed + 1000`` (other instances of the family, for tuning)."""
    parts = name.split("-")
    seed = int(parts.pop()[1:]) if parts[-1].startswith("s") and parts[-1][1:].isdigit() else 0
    if parts[0] == "cifar" and len(parts) == 2 and parts[1][:1] == "k" and parts[1][1:].isdigit():
        return FewChoice(CIFAR_LAYOUT, int(parts[1][1:]), seed, name)
    if parts[0] == "few" and len(parts) == 3 and parts[1].isdigit() and parts[2][:1] == "k" and parts[2][1:].isdigit():
        sizes = np.random.default_rng(seed + 1000).integers(2, 5, int(parts[1]))
        return FewChoice([int(v) for v in sizes], int(parts[2][1:]), seed, name)
    raise ValueError(f"unknown few-choice problem {name!r}: use cifar-k<K>[-s<seed>] or few-<genes>-k<K>[-s<seed>]")
