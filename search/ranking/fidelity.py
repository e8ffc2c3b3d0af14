"""How far to trust a supernet's ranking: rank correlation and regret against standalone training.

Shared by ``bench/ranking.py`` (many methods against a full ground-truth table) and the
``fidelity`` stage of ``green-run`` (a few standalone checks every run pays for, so its report
says how far its own front can be trusted). The figures:

* Kendall tau and Spearman rho between a method's scores and the standalone test accuracy, with
  bootstrap intervals over subnets, also without the smallest and largest subnets (which make
  ranking look easy);
* top-k regret at three MAC budgets (the thirds of the sample's cost range): the standalone
  accuracy lost, in points, by training the method's k best-ranked subnets under the budget and
  keeping the best of them instead of the truly best one; beside it, the regret a random ranking
  is expected to have on the same subnets (:func:`random_regret`), the chance level it is judged by.
"""
from __future__ import annotations

import math
import statistics
from typing import Any, Sequence

from search.stats import MIN_VALUES, bootstrap_ci, kendall, spearman
from core.jsontypes import JSONObject

TOP_K = (1, 5)


def ci(stat, *cols: Sequence[float], n_boot: int, level: float, seed: int) -> list[float]:
    """Bootstrap interval of ``stat`` over paired ``cols`` (nan, nan with fewer than ``MIN_VALUES`` items: the
    caller shows the values)."""
    if len(cols[0]) < MIN_VALUES:
        return [math.nan, math.nan]
    return list(bootstrap_ci(stat, *cols, n_boot=n_boot, level=level, seed=seed))


def budgets(macs: Sequence[float]) -> list[float]:
    """Three MAC budgets: the costs a third, two thirds and all the way up the sorted MACs."""
    s = sorted(macs)
    return [s[max(0, math.ceil(len(s) * q) - 1)] for q in (1 / 3, 2 / 3, 1.0)]


def regret(scores: dict[str, float], truth: dict[str, float], macs: dict[str, float], budget: float,
           k: int) -> float:
    """Points of standalone accuracy lost under ``budget`` by keeping the best of the ``k`` subnets
    ``scores`` ranks highest instead of the truly best subnet (ties in a score: the cheaper first)."""
    pool = [a for a in truth if macs[a] <= budget]
    if not pool:
        return math.nan
    ranked = sorted(pool, key=lambda a: (-scores[a], macs[a], a))
    return (max(truth[a] for a in pool) - max(truth[a] for a in ranked[:k])) * 100


def random_regret(truth: dict[str, float], macs: dict[str, float], budget: float, k: int) -> float:
    """The expected :func:`regret` of a uniformly random ranking: the best standalone accuracy under
    ``budget`` less the expected best of ``k`` subnets drawn at random without replacement from the pool
    (exact: the i-th smallest of n is the best of the k drawn with probability C(i-1, k-1) / C(n, k)).
    A method's regret means something only well below this chance level."""
    vals = sorted(truth[a] for a in truth if macs[a] <= budget)
    n = len(vals)
    if not n:
        return math.nan
    k = min(k, n)
    expected_best = sum(v * math.comb(i, k - 1) for i, v in enumerate(vals)) / math.comb(n, k)
    return (vals[-1] - expected_best) * 100


def figures(scores: dict[str, float], truth: dict[str, float], roles: dict[str, str], macs: dict[str, float],
            n_boot: int = 2000, level: float = 0.95, seed: int = 0, intervals: bool = True) -> JSONObject:
    """Rank correlation (with and without the extremes) and top-k regret of one method's ``scores``
    against ``truth`` over the subnets of ``truth`` (``roles``: smallest, sampled or largest); without
    ``intervals`` the bootstrap intervals are left out (nan), for callers that only average the figures."""
    boot = {"n_boot": n_boot, "level": level, "seed": seed}

    def interval(stat, *cols: Sequence[float]) -> list[float]:
        return ci(stat, *cols, **boot) if intervals else [math.nan, math.nan]

    archs = list(truth)
    mid = [a for a in archs if roles[a] == "sampled"]
    x, y = [scores[a] for a in archs], [truth[a] for a in archs]
    mx, my = [scores[a] for a in mid], [truth[a] for a in mid]
    out: dict[str, Any] = {
        "kendall_tau": kendall(x, y), "kendall_tau_ci": interval(kendall, x, y),
        "spearman": spearman(x, y), "spearman_ci": interval(spearman, x, y),
        "kendall_tau_no_extremes": kendall(mx, my) if len(mid) >= 2 else math.nan,
        "kendall_tau_no_extremes_ci": interval(kendall, mx, my),
        "spearman_no_extremes": spearman(mx, my) if len(mid) >= 2 else math.nan,
        "spearman_no_extremes_ci": interval(spearman, mx, my),
    }
    b = budgets([macs[a] for a in archs])
    out["budgets_macs"] = b
    for k in TOP_K:
        per = [regret(scores, truth, macs, m, k) for m in b]
        out[f"top{k}_regret_points_per_budget"] = per
        out[f"top{k}_regret_points"] = statistics.fmean(per)
    return out
