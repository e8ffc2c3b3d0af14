"""The NAS-like problem of the optimizer benchmark and the MACs bound of its constrained variant.

20 ordinal genes (resolution, width multiplier, and per stage of six a depth, a kernel size and an expansion
ratio) and three objectives: ``error`` (a smooth saturating function of capacity, with depth-expansion,
kernel-resolution and resolution-width interactions and a small deterministic ripple; in (0, 1)), ``macs``
(resolution^2 x width^2 x expansion and resolution^2 x width x kernel^2 products summed over blocks) and
``latency`` (a fixed cost per block plus a sublinear width term: depth weighs more than width); both costs are
divided by their value at the largest genome, so they lie in (0, 1]. Its bounds are estimated from its one-gene
extremes (the smallest and largest genome and every one-gene change of either). Its constrained variant bounds
``macs`` so that fewer than one genome in a thousand is feasible (:func:`macs_threshold`).
"""
from __future__ import annotations

import numpy as np

from bench.problems.base import Problem

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
