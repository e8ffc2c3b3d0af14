"""The statistics behind every reported figure, in one place with known-answer tests.

Spearman's rho comes from scipy (Kendall's tau-b is counted here exactly as scipy counts it, without the
exact p-value scipy adds), hypervolume from moocore; what is added here is the protocol
around them: percentile bootstrap confidence intervals (resampling the items a figure is computed
over; none from fewer than 5 values; seeds then items for models trained with several seeds), the binomial standard error of an accuracy on ``n`` images (the noise floor of any single
accuracy), the mean and spread of a figure over seeds, and the prediction error of a cost model.
"""
from __future__ import annotations

import math
import statistics
from typing import Callable, Sequence

import moocore
import numpy as np


def mape(pred: Sequence[float], meas: Sequence[float]) -> float:
    """Mean absolute percentage error of ``pred`` against the measured ``meas`` (a fraction, 0.05 = 5%)."""
    if len(pred) != len(meas) or len(meas) == 0:  # len, not truthiness: numpy arrays are accepted too
        raise ValueError("mape needs two equally long, non-empty sequences")
    return sum(abs(p - m) / abs(m) for p, m in zip(pred, meas)) / len(meas)


def kendall(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b (ties handled) between ``x`` and ``y``; nan when either is constant or holds a nan (as
    scipy's default ``nan_policy='propagate'``).

    The statistic alone, computed as scipy's ``kendalltau`` computes it (the same integer counts and the same
    order of division, so the same bits): scipy also works out an exact p-value for small samples, which
    made every bootstrap interval of a rank correlation a thousand times slower than it needs to be.
    """
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("kendall needs two equally long 1-D sequences")
    if np.isnan(a).any() or np.isnan(b).any():
        return math.nan
    i, j = np.triu_indices(len(a), k=1)
    sx, sy = np.sign(a[i] - a[j]), np.sign(b[i] - b[j])
    untied_x, untied_y = int(np.count_nonzero(sx)), int(np.count_nonzero(sy))
    if untied_x == 0 or untied_y == 0:
        return math.nan
    tau = int(np.sum(sx * sy)) / np.sqrt(untied_x) / np.sqrt(untied_y)
    return float(min(1.0, max(-1.0, tau)))


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation between ``x`` and ``y``; nan when either is constant."""
    from scipy.stats import spearmanr

    if len(set(x)) < 2 or len(set(y)) < 2:  # undefined: said with nan, without scipy's warning
        return math.nan
    return float(spearmanr(x, y)[0])


def accuracy_se(acc: float, n: int) -> float:
    """Binomial standard error of an accuracy measured on ``n`` images: the noise of one evaluation."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    return math.sqrt(max(acc * (1.0 - acc), 0.0) / n)


def mean_spread(values: Sequence[float]) -> dict[str, float]:
    """Mean, sample standard deviation (0 for one value), min, max and count of repeated figures."""
    if not values:
        raise ValueError("mean_spread needs at least one value")
    vals = [float(v) for v in values]
    return {"mean": statistics.fmean(vals), "std": statistics.stdev(vals) if len(vals) > 1 else 0.0,
            "min": min(vals), "max": max(vals), "n": len(vals)}


def bootstrap_ci(stat: Callable[..., float], *columns: Sequence[float], n_boot: int = 2000, level: float = 0.95,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of ``stat(*columns)``, resampling the rows (items) with replacement.

    All columns are resampled with the same indices, so paired data (inherited vs standalone accuracy
    of one subnet) stay paired. Resamples where the statistic is undefined (nan, e.g. a constant
    column) are dropped; (nan, nan) when none is defined.
    """
    if not columns or len({len(c) for c in columns}) != 1 or len(columns[0]) < 2:
        raise ValueError("bootstrap_ci needs equally long columns of at least 2 items")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    arrays = [np.asarray(c, dtype=float) for c in columns]
    n = len(arrays[0])
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        v = stat(*(a[idx] for a in arrays))
        if v is not None and not math.isnan(v):
            vals.append(v)
    if not vals:
        return (math.nan, math.nan)
    lo, hi = np.quantile(vals, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


MIN_VALUES = 5  # no interval from fewer values: a bootstrap over 2-4 values looks tight and says nothing


def interval(stat: Callable[..., float], *columns: Sequence[float], n_boot: int = 2000, level: float = 0.95,
             seed: int = 0) -> list[float] | None:
    """:func:`bootstrap_ci` as a list, or None below :data:`MIN_VALUES` items: the caller prints the values."""
    if not columns or len(columns[0]) < MIN_VALUES:
        return None
    return list(bootstrap_ci(stat, *columns, n_boot=n_boot, level=level, seed=seed))


def two_level_ci(groups: Sequence[Sequence[float]], n_boot: int = 2000, level: float = 0.95,
                 seed: int = 0) -> list[float] | None:
    """Interval of a mean over several seeds of per-item values (e.g. each seed's per-image correctness, or a
    paired per-image difference of two models of that seed) that carries the seed-to-seed variance.

    Two levels: resample the seeds with replacement, then within each drawn seed its items; the statistic
    is the mean over drawn seeds of each one's item mean. An item-only bootstrap ignores that another
    seed trains another model and flatters "beyond noise". None below :data:`MIN_VALUES` seeds.
    """
    if len(groups) < MIN_VALUES:
        return None
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    arrays = [np.asarray(g, dtype=float) for g in groups]
    if any(a.size == 0 for a in arrays):
        raise ValueError("two_level_ci needs at least one item per seed")
    rng = np.random.default_rng(seed)
    vals = np.empty(n_boot)
    for b in range(n_boot):
        seeds = rng.integers(0, len(arrays), len(arrays))
        vals[b] = np.mean([arrays[s][rng.integers(0, arrays[s].size, arrays[s].size)].mean() for s in seeds])
    lo, hi = np.quantile(vals, [(1 - level) / 2, 1 - (1 - level) / 2])
    return [float(lo), float(hi)]


def hypervolume_2d(points: Sequence[tuple[float, float]], ref: tuple[float, float]) -> float:
    """Area dominated by ``(accuracy, cost)`` points (accuracy maximised, cost minimised) up to ``ref``.

    moocore's hypervolume; ``ref`` is (worst accuracy, worst cost) and points outside it add nothing.
    Used for the final, measured fronts (test accuracy vs energy), where the reference must be shared
    by the fronts being compared.
    """
    if ref[1] <= 0:
        raise ValueError("the reference cost must be > 0")
    if len(points) == 0:
        return 0.0
    return float(moocore.hypervolume(np.asarray(points, dtype=float), ref=ref, maximise=[True, False]))
