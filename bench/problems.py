"""The test problems of ``bench/optimizer.py``: discretised ZDT and DTLZ problems and a NAS-like one.

Every problem is minimisation over a grid of integer genes. For ZDT1-3 (Zitzler, Deb and Thiele, 2000;
30 variables) and DTLZ2 (Deb, Thiele, Laumanns and Zitzler, 2002; 3 objectives, 12 variables, k = 10)
a gene ``g_i`` of ``n`` levels is the variable ``x_i = g_i / (n - 1)``, and the standard formulas are
applied to it. Their reference fronts are exact for the discretised problem:

* ZDT: ``f2`` grows with ``g`` at fixed ``f1`` (for ZDT3 too: d f2 / d g = 1 - sqrt(f1 / g) / 2 > 0), so
  the Pareto set is ``x_2 = ... = x_n = 0`` with ``x_1`` any grid value; the front is the non-dominated
  filter of those ``n`` points (ZDT3's is disconnected, so the filter matters).
* DTLZ2: every objective is ``(1 + g)`` times a function of the position variables, so the front is
  every position combination (``n ** 2`` points) with the least ``g`` on the grid: each distance
  variable at the level nearest 0.5 (0.5 itself on odd grids, so the front lies on the unit sphere),
  filtered for non-domination.

The fixed normalisation bounds of a problem (``ideal`` and ``nadir``: the least and largest value of
each objective over the whole grid) come from a few candidate genomes that are known to hold them
(exact for ZDT and DTLZ2, by the same monotonicity), or, for the NAS-like problem, from its
one-gene extremes (the smallest and largest genome and every one-gene change of either).

The NAS-like problem has 20 ordinal genes (resolution, width multiplier, and per stage of six a
depth, a kernel size and an expansion ratio) and three objectives: ``error`` (a smooth saturating
function of capacity, with depth-expansion, kernel-resolution and resolution-width interactions and a
small deterministic ripple; in (0, 1)), ``macs`` (resolution^2 x width^2 x expansion and
resolution^2 x width x kernel^2 products summed over blocks) and ``latency`` (a fixed cost per block
plus a sublinear width term: depth weighs more than width); both costs are divided by their value at
the largest genome, so they lie in (0, 1]. Its constrained variant bounds ``macs`` so that fewer than
one genome in a thousand is feasible (:func:`macs_threshold`).

Only numpy is needed: evaluations are vectorised over a matrix of genomes (one row each).
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


# -- ZDT and DTLZ2 ------------------------------------------------------------------------------------

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


# -- the NAS-like problem ---------------------------------------------------------------------------

RES = np.array([160.0, 192.0, 224.0])
WIDTH = np.array([0.75, 1.0, 1.25])
DEPTH = np.array([2.0, 3.0, 4.0])
KERNEL = np.array([3.0, 5.0, 7.0])
EXPAND = np.array([2.0, 3.0, 4.0, 6.0])
CHANNELS = np.array([24.0, 32.0, 48.0, 96.0, 136.0, 192.0])  # per stage, at width 1
STRIDE = np.array([4.0, 8.0, 16.0, 16.0, 32.0, 32.0])  # input pixels per feature-map pixel, per stage
STAGES = len(CHANNELS)


class NASLike(Problem):
    """A synthetic once-for-all-like search: ``error``, ``macs``, ``latency`` of 20 ordinal genes.

    Genes: resolution (3), width multiplier (3), then per stage of six a depth (3), a kernel size (3) and
    an expansion ratio (4). ``constraint``: a threshold on ``macs`` (the constrained variant). ``stages``
    below six makes another instance of the same family (``nas-<stages>``: that many of the six stages,
    spread over the network, 2 + 3 x stages genes) on which the engine's defaults are tuned, so the
    benchmark's own ``nas`` cells stay held out.
    """

    objectives = ("error", "macs", "latency")
    cost_fields = ("macs", "latency")
    reference = "union"

    def __init__(self, macs_threshold: float | None = None, stages: int = STAGES):
        if not 2 <= stages <= STAGES:
            raise ValueError(f"the NAS-like problem has 2 to {STAGES} stages, got {stages}")
        self.stages = stages
        self.pick = np.round(np.linspace(0, STAGES - 1, stages)).astype(np.int64)  # which of the six stages
        sizes = [len(RES), len(WIDTH)] + [len(DEPTH)] * stages + [len(KERNEL)] * stages + [len(EXPAND)] * stages
        super().__init__(sizes)
        self.name = ("nas" if stages == STAGES else f"nas-{stages}") + ("" if macs_threshold is None else "-constrained")
        self.constraint = None if macs_threshold is None else ("macs", float(macs_threshold))
        top = self._raw(np.asarray([[n - 1 for n in sizes]], dtype=np.int64))
        self.macs_top, self.latency_top = float(top["macs"][0]), float(top["latency"][0])

    def _raw(self, G: np.ndarray) -> dict[str, np.ndarray]:
        n = self.stages
        r, w = RES[G[:, 0]][:, None], WIDTH[G[:, 1]][:, None]
        d = DEPTH[G[:, 2:2 + n]]
        k = KERNEL[G[:, 2 + n:2 + 2 * n]]
        e = EXPAND[G[:, 2 + 2 * n:2 + 3 * n]]
        hw = (r / STRIDE[self.pick]) ** 2  # feature-map pixels per stage
        c = w * CHANNELS[self.pick]  # channels per stage
        # an inverted-residual block: 1x1 expansion and projection, k x k depthwise convolution
        macs = (d * hw * (2.0 * c * c * e + c * e * k * k)).sum(axis=1)
        # a fixed cost per block (kernel launches) and a sublinear term in the work: depth weighs more than width
        latency = (d * (0.6 + np.sqrt(hw * c * e) * np.sqrt(k / 3.0) / 250.0)).sum(axis=1)
        # capacity: depth saturates, width and expansion count in log; larger kernels help more at higher
        # resolution; resolution helps more with width
        per_stage = np.sqrt(d) * np.log1p(c * e / 16.0) * (1.0 + 0.06 * (k - 3.0) * (r / 192.0))
        capacity = per_stage.sum(axis=1) + 2.0 * np.log(r[:, 0] / 128.0) * (0.5 + w[:, 0])
        error = 0.04 + 0.92 * np.exp(-capacity / 20.0) + 0.004 * np.sin(1.7 * capacity)
        return {"error": error, "macs": macs, "latency": latency}

    def fields(self, G: np.ndarray) -> dict[str, np.ndarray]:
        out = self._raw(G)
        out["macs"] = out["macs"] / self.macs_top
        out["latency"] = out["latency"] / self.latency_top
        return out

    def extremes(self) -> np.ndarray:
        """The smallest and largest genome and every one-gene change of either."""
        rows = []
        for base in ([0] * len(self.sizes), [n - 1 for n in self.sizes]):
            rows.append(list(base))
            for i, n in enumerate(self.sizes):
                for v in range(n):
                    rows.append(base[:i] + [v] + base[i + 1:])
        return np.asarray(rows, dtype=np.int64)

    def sample_fields(self, n: int, seed: int, chunk: int = 250_000) -> dict[str, np.ndarray]:
        """The fields of ``n`` uniform random genomes (numpy generator ``seed``), computed in chunks."""
        rng = np.random.default_rng(seed)
        parts: list[dict[str, np.ndarray]] = []
        sizes = np.asarray(self.sizes)
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            G = (rng.random((m, len(sizes))) * sizes).astype(np.int64)
            parts.append(self.fields(G))
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def macs_threshold(n: int = 1_000_000, share: float = 5e-4, seed: int = 0) -> dict:
    """The ``macs`` bound of the constrained NAS-like problem and its estimated feasible share.

    The bound is the ``share`` quantile of ``n`` uniform random genomes (generator ``seed``); the feasible
    share is then estimated on another ``n`` genomes (generator ``seed + 1``), so it is an honest estimate
    and not the quantile level by construction. Also reports how many of the second sample fall outside
    the one-gene-extreme bounds (0 when those bounds hold the whole sample).
    """
    nas = NASLike()
    first = nas.sample_fields(n, seed)["macs"]
    threshold = float(np.quantile(first, share))
    second = nas.sample_fields(n, seed + 1)
    feasible = int(np.count_nonzero(second["macs"] <= threshold))
    ideal, nadir = nas.bounds()
    F = np.stack([second[f] for f in nas.objectives], axis=1)
    outside = int(np.count_nonzero(((F < np.asarray(ideal)) | (F > np.asarray(nadir))).any(axis=1)))
    return {"threshold": threshold, "quantile": share, "samples": n, "seed_threshold": seed,
            "seed_estimate": seed + 1, "feasible": feasible, "feasible_share": feasible / n,
            "sample_outside_bounds": outside}


# -- few-choice problems with interacting genes ----------------------------------------------------------

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


FAMILIES = ("zdt1", "zdt2", "zdt3", "dtlz2")
GRIDS = (8, 16, 32)
# the architecture-like cells: this project's layout and a 20- and a 40-gene instance of few-choice genes, with
# 1 to 4 interacting neighbours per gene (tuning uses other instances: other seeds and sizes)
FEW_CELLS = ("cifar-k1", "cifar-k3", "few-20-k2", "few-40-k4")
UNCONSTRAINED = tuple(f"{f}-{n}" for f in FAMILIES for n in GRIDS) + ("nas",) + FEW_CELLS
ALL = UNCONSTRAINED + ("nas-constrained",)


def make(name: str, threshold: float | None = None) -> Problem:
    """The problem called ``name`` (``zdt1-16``, ``dtlz2-8``, ``nas``, ``nas-constrained``; ``nas-4``: the
    NAS-like family with 4 stages, the tuning instance)."""
    if is_few_choice(name):
        return few_choice(name)
    if name == "nas":
        return NASLike()
    if name.startswith("nas-") and name[4:].isdigit():
        return NASLike(stages=int(name[4:]))
    if name == "nas-constrained":
        if threshold is None:
            raise ValueError("nas-constrained needs its macs threshold (macs_threshold())")
        return NASLike(threshold)
    family, _, levels = name.partition("-")
    if family in FAMILIES and levels.isdigit() and int(levels) >= 2:
        return DTLZ2(int(levels)) if family == "dtlz2" else ZDT(int(family[-1]), int(levels))
    raise ValueError(f"unknown problem {name!r}: use zdt1|zdt2|zdt3|dtlz2-<levels>, nas or nas-constrained")
