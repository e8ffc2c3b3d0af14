"""Known answers for the figures of the search side: ``search.stats``, ``search.ranking.fidelity``,
``search.evolution.objectives``, ``search.pipeline.summary`` and ``search.hardware.measure``.

What the other known-answer files leave open: exact boundaries (a tie, a fifth value, a single item), default
arguments (resample count, level, seed) and the draws of the bootstraps, which a published interval depends on
bit for bit. Every expected value is worked out by hand in a comment; where a figure depends on a random draw,
the draw is replayed from the documented protocol (numpy's ``default_rng(seed)``, rows with replacement) rather
than copied from the code's own output. Fast: no training, no timing, no network.
"""
from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import torch

import search.hardware.measure as measure
from search.evolution.objectives import (Constraint, Normaliser, check_classes, hypervolume, lookup,
                                         parse_constraints, parse_objectives, pareto_front, penalised)
from search.pipeline.summary import class_figures, failed_trainings, front, ledger, summarise
from search.ranking.fidelity import budgets, ci, figures, regret
from search.stats import (accuracy_se, bootstrap_ci, hypervolume_2d, interval, kendall, mean_spread, spearman,
                          two_level_ci)
from core.errors import GreenError


def _counter():
    """A 'statistic' returning 0, 1, 2, ... on successive calls: its bootstrap distribution is known exactly."""
    c = itertools.count()
    return lambda *cols: float(next(c))


def _recorder(seen):
    """A statistic that keeps every resample it is given (a float copy of each column) and returns its sum."""
    def stat(*cols):
        seen.append([c.copy() for c in cols])
        return float(sum(c.sum() for c in cols))
    return stat


# --- search.stats: kendall, spearman ----------------------------------------------------------------------------

def test_kendall_clamps_a_perfect_order_to_exactly_one():
    """Three untied pairs: 3 / sqrt(3) / sqrt(3) is 1.0000000000000002 in floating point. scipy clamps tau to
    [-1, 1] and so must this copy: a report must never print a tau above 1 (or below -1)."""
    assert kendall([1, 2, 3], [10, 20, 30]) == 1.0
    assert kendall([1, 2, 3], [30, 20, 10]) == -1.0


def test_kendall_tau_b_divides_by_both_untied_counts():
    """tau-b = S / sqrt(n_x) / sqrt(n_y) with the untied pair counts of each column; swapping the columns must not
    change it, and a tie in y (whose sign is 0) contributes nothing rather than a division by it."""
    # x = (1, 1, 2): pairs (0,1) tied, (0,2) and (1,2) concordant with y = (5, 6, 7): S = 2, n_x = 2, n_y = 3
    assert kendall([1, 1, 2], [5, 6, 7]) == pytest.approx(2 / math.sqrt(6), rel=1e-12)
    assert kendall([5, 6, 7], [1, 1, 2]) == pytest.approx(2 / math.sqrt(6), rel=1e-12)
    # y = (1, 1, 2) against increasing x: the same counts
    assert kendall([1, 2, 3], [1, 1, 2]) == pytest.approx(2 / math.sqrt(6), rel=1e-12)
    # one swapped pair of 4: (5 - 1) / 6
    assert kendall([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6, rel=1e-12)


def test_kendall_of_two_items_is_defined_and_of_a_constant_is_nan():
    """One untied pair per column is enough for a tau (+-1); nan is only for a column with no untied pair."""
    assert kendall([1, 2], [3, 4]) == 1.0
    assert kendall([1, 2], [4, 3]) == -1.0
    assert math.isnan(kendall([1, 1, 1], [1, 2, 3]))
    assert math.isnan(kendall([1, 2, 3], [4, 4, 4]))


def test_kendall_ranks_an_infinite_score_above_every_finite_one():
    """inf > 1 while y rises: the one pair is discordant, tau = -1. Only pairs i < j are compared: pairing an item
    with itself would give inf - inf = nan and no tau at all."""
    assert kendall([math.inf, 1.0], [1.0, 2.0]) == -1.0


def test_kendall_converts_unsigned_scores_before_subtracting():
    """Scores given as a uint8 array (counts of correct images, say): 1 - 2 must be -1, not 255 after wrap-around.
    (3, 1, 2) against itself is a perfect ranking: tau = 1."""
    u = np.array([3, 1, 2], dtype=np.uint8)
    assert kendall(u, [3, 1, 2]) == 1.0
    assert kendall([3, 1, 2], u) == 1.0


@pytest.mark.parametrize("x, y", [([1, 2, 3], [1, 2]), ([[1, 2], [3, 4]], [[1, 2], [3, 4]])])
def test_kendall_rejects_unequal_or_non_1d_input(x, y):
    with pytest.raises(ValueError, match=r"^kendall needs two equally long 1-D sequences$"):
        kendall(x, y)


def test_spearman_is_the_statistic_not_the_p_value():
    """rank differences (0, 1, -1, 0): rho = 1 - 6 * 2 / (4 * 15) = 0.8 (its p-value is another number)."""
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8, rel=1e-12)


# --- search.stats: accuracy_se, mean_spread ---------------------------------------------------------------------

def test_accuracy_se_known_answers():
    """sqrt(acc (1 - acc) / n): one image is a legal (if noisy) evaluation."""
    assert accuracy_se(0.5, 1) == 0.5                                 # sqrt(0.25)
    assert accuracy_se(0.5, 100) == pytest.approx(0.05, rel=1e-12)     # sqrt(0.25 / 100)
    assert accuracy_se(0.75, 3) == pytest.approx(0.25, rel=1e-12)      # sqrt(0.1875 / 3) = sqrt(1/16)
    assert accuracy_se(1.0, 7) == 0.0 and accuracy_se(0.0, 7) == 0.0
    with pytest.raises(ValueError, match=r"^n must be >= 1, got 0$"):
        accuracy_se(0.5, 0)


def test_mean_spread_whole_output():
    """Sample standard deviation (n - 1), 0 for a single value, and the exact keys a report reads."""
    # [1, 3]: mean 2, squared deviations 1 + 1 over n - 1 = 1: std sqrt(2)
    assert mean_spread([3, 1]) == {"mean": 2.0, "std": pytest.approx(math.sqrt(2), rel=1e-12), "min": 1.0,
                                   "max": 3.0, "n": 2}
    # [2, 4, 9]: mean 5, deviations -3, -1, 4: (9 + 1 + 16) / 2 = 13
    assert mean_spread([2, 4, 9]) == {"mean": 5.0, "std": pytest.approx(math.sqrt(13), rel=1e-12), "min": 2.0,
                                      "max": 9.0, "n": 3}
    assert mean_spread([7]) == {"mean": 7.0, "std": 0.0, "min": 7.0, "max": 7.0, "n": 1}
    with pytest.raises(ValueError, match=r"^mean_spread needs at least one value$"):
        mean_spread([])


# --- search.stats: bootstrap_ci, interval -----------------------------------------------------------------------

def test_bootstrap_draws_rows_with_replacement_from_default_rng_seed_0():
    """The resamples are numpy's default_rng(seed).integers(0, n, n), the same rows for every column; seed 0 by
    default. Column (0, 1, 2, 3) shows the drawn rows; the second column is the first plus 10 in every resample."""
    seen = []
    bootstrap_ci(_recorder(seen), [0, 1, 2, 3], [10, 11, 12, 13], n_boot=3)
    rng = np.random.default_rng(0)
    want = [rng.integers(0, 4, 4) for _ in range(3)]
    assert [list(a) for a, _ in seen] == [list(w.astype(float)) for w in want]
    assert all(list(b) == list(a + 10) for a, b in seen)
    seen7 = []
    bootstrap_ci(_recorder(seen7), [0, 1, 2, 3], n_boot=2, seed=7)
    rng = np.random.default_rng(7)
    assert [list(a) for (a,) in seen7] == [list(rng.integers(0, 4, 4).astype(float)) for _ in range(2)]


def test_bootstrap_default_count_and_percentiles_are_exact():
    """With a counter statistic the resampled values are 0..n_boot-1: linear quantiles at (1 - level) / 2 and
    1 - (1 - level) / 2 of them are known."""
    # 2000 resamples by default: 0.025 * 1999 = 49.975 and 0.975 * 1999 = 1949.025
    assert bootstrap_ci(_counter(), [1, 2, 3]) == pytest.approx((49.975, 1949.025), rel=1e-12)
    # 0..99 at level 0.8: 0.1 * 99 = 9.9 and 0.9 * 99 = 89.1
    assert bootstrap_ci(_counter(), [1, 2, 3], n_boot=100, level=0.8) == pytest.approx((9.9, 89.1), rel=1e-12)


def test_bootstrap_drops_undefined_resamples():
    """nan and None (a statistic that declines) are dropped: only 0 and 2 of 0..3 remain, whose 25% and 75%
    quantiles are 0.5 and 1.5; nothing defined gives (nan, nan)."""
    c = itertools.count()
    nan_odd = lambda *a: (lambda k: math.nan if k % 2 else float(k))(next(c))  # noqa: E731
    assert bootstrap_ci(nan_odd, [1, 2], n_boot=4, level=0.5) == pytest.approx((0.5, 1.5), rel=1e-12)
    d = itertools.count()
    none_odd = lambda *a: (lambda k: None if k % 2 else float(k))(next(d))  # noqa: E731
    assert bootstrap_ci(none_odd, [1, 2], n_boot=4, level=0.5) == pytest.approx((0.5, 1.5), rel=1e-12)
    lo, hi = bootstrap_ci(lambda a: math.nan, [1, 2], n_boot=5)
    assert math.isnan(lo) and math.isnan(hi)


def test_bootstrap_gives_the_statistic_float_columns():
    """Integer scores arrive as float64 arrays, so a statistic divides and averages them as numbers."""
    assert bootstrap_ci(lambda a: float(a.dtype == np.float64), [1, 2, 3], n_boot=5) == (1.0, 1.0)


@pytest.mark.parametrize("columns", [(), ([1.0],), ([1.0, 2.0], [1.0, 2.0, 3.0]), ([1.0, 2.0, 3.0], [1.0, 2.0])])
def test_bootstrap_rejects_bad_columns(columns):
    with pytest.raises(ValueError, match=r"^bootstrap_ci needs equally long columns of at least 2 items$"):
        bootstrap_ci(lambda *a: 0.0, *columns, n_boot=5)


def test_bootstrap_accepts_two_items():
    assert bootstrap_ci(lambda a, b: float(len(a) + len(b)), [1, 2], [3, 4], n_boot=5) == (4.0, 4.0)


@pytest.mark.parametrize("level", [0.0, 1.0, 1.5, -0.1])
def test_bootstrap_rejects_a_level_outside_0_1(level):
    with pytest.raises(ValueError, match=rf"^level must lie in \(0, 1\), got {level}$"):
        bootstrap_ci(lambda *a: 0.0, [1, 2], n_boot=5, level=level)


def test_interval_passes_its_protocol_through_and_needs_five_values():
    """interval() is bootstrap_ci as a list from 5 values on, with the caller's count, level and seed."""
    five = [0.0, 1.0, 2.0, 3.0, 4.0]
    assert interval(_counter(), five) == pytest.approx([49.975, 1949.025], rel=1e-12)  # defaults 2000, 0.95
    assert interval(_counter(), five, n_boot=100, level=0.5) == pytest.approx([24.75, 74.25], rel=1e-12)
    assert interval(_counter(), five[:4]) is None
    assert interval(_counter()) is None  # no column at all: nothing to interval
    for seed, kw in ((0, {}), (5, {"seed": 5})):  # seed 0 unless given
        seen = []
        interval(_recorder(seen), five, n_boot=2, **kw)
        rng = np.random.default_rng(seed)
        assert [list(a) for (a,) in seen] == [list(rng.integers(0, 5, 5).astype(float)) for _ in range(2)]


# --- search.stats: two_level_ci ---------------------------------------------------------------------------------

def _two_level_reference(groups, n_boot, level, seed):
    """The documented protocol, spelled out: per resample draw len(groups) seeds with replacement, then within each
    drawn seed as many of its items with replacement, in that order from one default_rng(seed); the value is the
    mean over drawn seeds of their item means (in float64); the interval is the percentile pair."""
    rng = np.random.default_rng(seed)
    g = [np.array([float(v) for v in grp], dtype=np.float64) for grp in groups]
    vals = []
    for _ in range(n_boot):
        picked = rng.integers(0, len(g), len(g))
        means = []
        for s in picked:
            rows = rng.integers(0, len(g[s]), len(g[s]))
            means.append(sum(g[s][r] for r in rows) / len(rows))
        vals.append(sum(means) / len(means))
    lo, hi = np.quantile(vals, [(1 - level) / 2, 1 - (1 - level) / 2])
    return [float(lo), float(hi)]


def test_two_level_ci_replays_the_documented_draws():
    """Seeds first, then the items of each drawn seed, from default_rng(0), 2000 resamples at 95% by default: a
    changed count, seed, draw order or draw size moves the published interval."""
    # continuous values of unequal counts, so that no two resample means coincide by accident
    groups = [[0.11, 0.93, 0.47], [0.62, 0.05], [0.38, 0.71, 0.24, 0.99], [0.56, 0.13], [0.87, 0.31, 0.68]]
    assert two_level_ci(groups) == pytest.approx(_two_level_reference(groups, 2000, 0.95, 0), rel=1e-9)
    assert two_level_ci(groups, n_boot=300, level=0.8, seed=4) == pytest.approx(
        _two_level_reference(groups, 300, 0.8, 4), rel=1e-9)


def test_two_level_ci_averages_float32_items_in_float64():
    """Per-image values handed over as float32 (a tensor's .numpy()) are averaged in float64, as every other figure."""
    rng = np.random.default_rng(11)
    groups = [rng.random(7).astype(np.float32) for _ in range(5)]
    assert two_level_ci(groups, n_boot=50) == pytest.approx(_two_level_reference(groups, 50, 0.95, 0), rel=1e-13)


def test_two_level_ci_boundaries():
    """From 5 seeds on; a seed of a single item is legal (its resample is itself); identical seeds: a point."""
    assert two_level_ci([[1.0]] * 4) is None
    assert two_level_ci([[0.25]] * 5, n_boot=20) == [0.25, 0.25]
    assert two_level_ci([[0.25, 0.25]] * 5, n_boot=20) == [0.25, 0.25]
    with pytest.raises(ValueError, match=r"^two_level_ci needs at least one item per seed$"):
        two_level_ci([[1.0]] * 4 + [[]])


@pytest.mark.parametrize("level", [0.0, 1.0, 1.5])
def test_two_level_ci_rejects_a_level_outside_0_1(level):
    with pytest.raises(ValueError, match=rf"^level must lie in \(0, 1\), got {level}$"):
        two_level_ci([[1.0]] * 5, level=level)


# --- search.stats: hypervolume_2d -------------------------------------------------------------------------------

def test_hypervolume_2d_maximises_accuracy_and_minimises_cost():
    """(0.75, 2) and (0.5, 1) against ref (0.25, 4): boxes 0.5 x 2 = 1 and 0.25 x 3 = 0.75 overlapping in
    0.25 x 2 = 0.5: 1.25. A single point is its own box; no point, no area."""
    assert hypervolume_2d([(0.75, 2.0), (0.5, 1.0)], (0.25, 4.0)) == pytest.approx(1.25, rel=1e-12)
    assert hypervolume_2d([(0.75, 2.0)], (0.25, 4.0)) == pytest.approx(1.0, rel=1e-12)
    assert hypervolume_2d([], (0.25, 4.0)) == 0.0
    # a reference cost below 1 is a legal one (energy in J): 0.5 x 0.25
    assert hypervolume_2d([(0.75, 0.25)], (0.25, 0.5)) == pytest.approx(0.125, rel=1e-12)
    for cost in (0.0, -1.0):
        with pytest.raises(ValueError, match=r"^the reference cost must be > 0$"):
            hypervolume_2d([(0.75, 0.25)], (0.25, cost))


# --- search.ranking.fidelity ------------------------------------------------------------------------------------

def test_budgets_are_the_thirds_of_the_sorted_costs():
    """Index ceil(n q) - 1 of the sorted MACs for q = 1/3, 2/3, 1."""
    assert budgets([30, 10, 20]) == [10, 20, 30]          # n = 3: indices 0, 1, 2
    assert budgets([40, 10, 30, 20]) == [20, 30, 40]      # n = 4: ceil(4/3) - 1 = 1, ceil(8/3) - 1 = 2, 3
    assert budgets([60, 50, 40, 30, 20, 10]) == [20, 40, 60]  # n = 6: 1, 3, 5
    assert budgets([5]) == [5, 5, 5]


# standalone accuracies in eighths, so that every regret in points is exact
TRUTH = {"a": 0.625, "b": 0.75, "c": 0.875, "d": 0.5}
MACS = {"a": 10, "b": 20, "c": 30, "d": 40}
SCORES = {"a": 0.5, "b": 0.9, "c": 0.3, "d": 0.95}


def test_regret_is_the_points_lost_under_the_budget():
    """Under 30 MACs (c included: the budget is inclusive) the best is c (0.875); the method ranks b, a, c."""
    assert regret(SCORES, TRUTH, MACS, 30, 1) == 12.5   # (0.875 - 0.75) * 100
    assert regret(SCORES, TRUTH, MACS, 30, 2) == 12.5   # b and a: best 0.75
    assert regret(SCORES, TRUTH, MACS, 30, 3) == 0.0    # c is kept
    assert regret(SCORES, TRUTH, MACS, 40, 1) == 37.5   # d ranked first: 0.875 - 0.5
    assert regret(SCORES, TRUTH, MACS, 20, 1) == 0.0    # pool a, b: b is the best and ranked first
    assert math.isnan(regret(SCORES, TRUTH, MACS, 5, 1))  # nothing under the budget


def test_regret_breaks_score_ties_by_cost_then_name():
    """Equal scores: the cheaper subnet is trained first; equal score and cost: the name decides."""
    truth, scores = {"x": 0.75, "y": 0.5}, {"x": 0.5, "y": 0.5}
    assert regret(scores, truth, {"x": 20, "y": 10}, 20, 1) == 25.0   # y (cheaper) first: 0.75 - 0.5
    assert regret(scores, truth, {"x": 10, "y": 20}, 20, 1) == 0.0    # x cheaper
    truth2 = {"q": 0.75, "p": 0.5}
    assert regret({"q": 0.5, "p": 0.5}, truth2, {"q": 10, "p": 10}, 10, 1) == 25.0  # p before q


def test_ci_needs_five_items_and_passes_the_protocol():
    """ci() is the bootstrap interval from 5 paired items on (nan, nan below), with the given count, level, seed."""
    five = [0.0, 1.0, 2.0, 3.0, 4.0]
    assert ci(_counter(), five, n_boot=100, level=0.5, seed=0) == pytest.approx([24.75, 74.25], rel=1e-12)
    low = ci(_counter(), five[:4], n_boot=100, level=0.5, seed=0)
    assert len(low) == 2 and all(math.isnan(v) for v in low)
    seen = []
    ci(_recorder(seen), five, five, n_boot=2, level=0.5, seed=3)
    rng = np.random.default_rng(3)
    assert [list(a) for a, _ in seen] == [list(rng.integers(0, 5, 5).astype(float)) for _ in range(2)]


def _fidelity_case():
    """Seven subnets: the smallest, the largest and five sampled; scores rank all but one pair right."""
    names = ["s", "m1", "m2", "m3", "m4", "m5", "l"]
    truth = dict(zip(names, [0.5, 0.625, 0.75, 0.6875, 0.8125, 0.875, 0.9375]))
    scores = dict(zip(names, [0.1, 0.2, 0.3, 0.35, 0.4, 0.5, 0.6]))   # m2 and m3 swapped
    roles = {n: "sampled" for n in names} | {"s": "smallest", "l": "largest"}
    macs = dict(zip(names, [10, 20, 30, 40, 50, 60, 70]))
    return scores, truth, roles, macs


def test_fidelity_figures_known_answer():
    """Every figure of one method. tau over 7: 21 pairs, one discordant (m2, m3): (20 - 1) / 21; without the
    extremes 5 sampled, 10 pairs: (9 - 1) / 10; Spearman 1 - 6 * 2 / (n (n^2 - 1)). Budgets: the MACs at index
    ceil(7/3) - 1 = 2, ceil(14/3) - 1 = 4 and 6. Regret at 30 MACs (s, m1, m2): ranked m2 first, the best: 0;
    at 50 (up to m4) and 70 (all) the top-ranked is the best too. The intervals are the bootstrap's with the same
    protocol over the same columns."""
    scores, truth, roles, macs = _fidelity_case()
    out = figures(scores, truth, roles, macs, n_boot=40, level=0.8, seed=2)
    x, y = list(scores.values()), list(truth.values())
    mid = ["m1", "m2", "m3", "m4", "m5"]
    mx, my = [scores[a] for a in mid], [truth[a] for a in mid]
    boot = {"n_boot": 40, "level": 0.8, "seed": 2}
    assert out == {
        "kendall_tau": pytest.approx(19 / 21, rel=1e-12),
        "kendall_tau_ci": list(bootstrap_ci(kendall, x, y, **boot)),
        "spearman": pytest.approx(1 - 12 / 336, rel=1e-12),
        "spearman_ci": list(bootstrap_ci(spearman, x, y, **boot)),
        "kendall_tau_no_extremes": pytest.approx(0.8, rel=1e-12),
        "kendall_tau_no_extremes_ci": list(bootstrap_ci(kendall, mx, my, **boot)),
        "spearman_no_extremes": pytest.approx(1 - 12 / 120, rel=1e-12),
        "spearman_no_extremes_ci": list(bootstrap_ci(spearman, mx, my, **boot)),
        "budgets_macs": [30, 50, 70],
        "top1_regret_points_per_budget": [0.0, 0.0, 0.0], "top1_regret_points": 0.0,
        "top5_regret_points_per_budget": [0.0, 0.0, 0.0], "top5_regret_points": 0.0,
    }


def test_fidelity_regret_and_its_mean_over_budgets():
    """A method that ranks the cheapest subnets first (scores fall with cost): regret per budget and its mean.
    Budgets 30, 50, 70. At 30 (s, m1, m2) it ranks s first: 0.75 - 0.5 = 25 points; top-5 keeps m2: 0.
    At 50 (up to m4, the best at 0.8125) s first again: 31.25; the top 5 are all 5: 0.
    At 70: best l (0.9375), s first: 43.75; top 5 = s, m1, m2, m3, m4: 0.9375 - 0.8125 = 12.5."""
    scores, truth, roles, macs = _fidelity_case()
    scores = dict(zip(scores, [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3]))
    out = figures(scores, truth, roles, macs, intervals=False)
    assert out["top1_regret_points_per_budget"] == [25.0, 31.25, 43.75]
    assert out["top1_regret_points"] == pytest.approx((25.0 + 31.25 + 43.75) / 3, rel=1e-12)
    assert out["top5_regret_points_per_budget"] == [0.0, 0.0, 12.5]
    assert out["top5_regret_points"] == pytest.approx(12.5 / 3, rel=1e-12)
    assert all(math.isnan(v) for k, ci_ in out.items() if k.endswith("_ci") for v in ci_)


def test_fidelity_defaults_are_2000_resamples_95pct_seed_0_with_intervals():
    """Ten subnets with unequal gaps, so that a bootstrap tau takes many values and another count or seed moves the
    interval's bits; four sampled (too few for the intervals without the extremes, which stay nan)."""
    names = [f"n{i}" for i in range(10)]
    x = [0.1, 0.2, 0.3, 0.35, 0.4, 0.5, 0.6, 0.65, 0.7, 0.8]
    y = [0.5, 0.625, 0.75, 0.6875, 0.8125, 0.875, 0.9375, 0.7, 0.95, 0.9]
    roles = {n: ("sampled" if n in ("n1", "n2", "n3", "n4") else "largest") for n in names}
    out = figures(dict(zip(names, x)), dict(zip(names, y)), roles, dict(zip(names, range(10))))
    assert out["kendall_tau_ci"] == list(bootstrap_ci(kendall, x, y, n_boot=2000, level=0.95, seed=0))
    assert all(math.isnan(v) for v in out["kendall_tau_no_extremes_ci"])


def test_fidelity_without_the_extremes_needs_two_sampled_subnets():
    """Two sampled subnets give a tau and a rho of +-1; one gives none (nan), and no interval below 5."""
    scores, truth, roles, macs = _fidelity_case()
    roles2 = {n: ("sampled" if n in ("m2", "m3") else "smallest") for n in truth}
    out = figures(scores, truth, roles2, macs, intervals=False)
    assert out["kendall_tau_no_extremes"] == -1.0 and out["spearman_no_extremes"] == pytest.approx(-1.0)
    roles1 = {n: ("sampled" if n == "m2" else "largest") for n in truth}
    out = figures(scores, truth, roles1, macs, n_boot=10)
    assert math.isnan(out["kendall_tau_no_extremes"]) and math.isnan(out["spearman_no_extremes"])
    assert all(math.isnan(v) for v in out["kendall_tau_no_extremes_ci"] + out["spearman_no_extremes_ci"])


# --- search.evolution.objectives --------------------------------------------------------------------------------

def test_lookup_of_per_class_recall():
    """``recall:<class>`` reads the recall field with the class appended, maximised; a bare prefix names no class,
    and a registry without a recall objective has no per-class recall either."""
    assert lookup("acc") == ("acc", "max") and lookup("latency") == ("latency_ms", "min")
    assert lookup("recall:cat") == ("recall:cat", "max")
    assert lookup("recall:cat", {"recall": ("rec", "max"), "x": ("x", "min")}) == ("rec:cat", "max")
    assert lookup("recall:") is None
    assert lookup("recall:cat", {"acc": ("acc", "max")}) is None
    assert lookup("speed") is None


def test_objective_errors_name_the_choices():
    """The message lists the registry, where the registry has a recall the per-class form, and for the search's
    own registry the named-table form."""
    with pytest.raises(GreenError, match=r"^unknown objective\(s\) \['speed'\]; choose from \['acc', 'energy', "
                                         r"'latency', 'macs', 'params', 'recall', 'recall_min'\], recall:<class>, "
                                         r"<cost>@<table>\[/b<batch size>\]$"):
        parse_objectives(["acc", "speed"])
    with pytest.raises(GreenError, match=r"^unknown objective\(s\) \['c'\]; choose from \['a', 'b'\]$"):
        parse_objectives(["a", "c"], {"a": ("fa", "max"), "b": ("fb", "min")})
    with pytest.raises(GreenError, match=r"^objectives must be at least two distinct names, got \['acc', 'acc'\]$"):
        parse_objectives(["acc", "acc"])
    with pytest.raises(GreenError, match=r"^objectives must be at least two distinct names, got \['acc'\]$"):
        parse_objectives(["acc"])
    objs = parse_objectives(["acc", "recall:cat", "energy"])
    assert [(o.name, o.field, o.maximise) for o in objs] == [("acc", "acc", True), ("recall:cat", "recall:cat", True),
                                                             ("energy", "energy_mj", False)]


def test_constraints_use_the_given_registry_and_accept_the_ends_of_0_1():
    """A score bound may be exactly 0 or 1 (recall_min >= 1: every class perfect); a custom registry's names
    resolve through that registry, not the default one."""
    assert parse_constraints(["recall_min >= 0", "acc <= 1", "acc >= 0.5", "recall:cat > 0.25"]) == [
        Constraint("recall_min", ">=", 0.0), Constraint("acc", "<=", 1.0), Constraint("acc", ">=", 0.5),
        Constraint("recall:cat", ">", 0.25)]
    reg = {"a": ("fa", "max"), "b": ("params", "min")}
    assert parse_constraints(["a >= 0.5", "b <= 300"], reg) == [Constraint("fa", ">=", 0.5),
                                                                Constraint("params", "<=", 300.0)]


@pytest.mark.parametrize("text, message", [
    ("latency == 5", r"^malformed constraint 'latency == 5': expected e\.g\. 'latency_ms <= 5'$"),
    ("eval_seconds <= 5", r"^constraint 'eval_seconds <= 5': 'eval_seconds' is not computed by the search; constrain "
                          r"a cost \(params, macs, latency_ms, energy_mj\) or a score \(acc, recall, recall_min, "
                          r"recall:<class>\)$"),
    ("params <= 1.2.3", r"^malformed constraint 'params <= 1\.2\.3': '1\.2\.3' is not a number$"),
    ("acc >= 1e999", r"^constraint 'acc >= 1e999': the bound 1e999 is not a finite number$"),
    ("recall_min >= 1.5", r"^constraint 'recall_min >= 1\.5': recall_min is a fraction in \[0, 1\], so the bound 1\.5 "
                          r"can never be met or is always met$"),
    ("acc >= -0.25", r"^constraint 'acc >= -0\.25': acc is a fraction in \[0, 1\], so the bound -0\.25 can never"),
])
def test_constraint_errors_are_exact(text, message):
    with pytest.raises(GreenError, match=message):
        parse_constraints([text])


def test_constraint_excess_is_relative_to_the_bound():
    """How far a bound is missed, relative to it: 7.5 against <= 5 misses by 2.5 / 5 = 0.5; 0.25 against
    >= 0.5 by 0.25 / 0.5 = 0.5 (a bound below 1 is not floored at 1); a strict bound met with equality still
    counts (1e-12); a zero bound divides by 1e-12 instead of 0."""
    assert Constraint("latency_ms", "<=", 5.0).excess({"latency_ms": 7.5}) == 0.5
    assert Constraint("latency_ms", "<=", 5.0).excess({"latency_ms": 5.0}) == 0.0
    assert Constraint("recall_min", ">=", 0.5).excess({"recall_min": 0.25}) == 0.5
    assert Constraint("params", "<", 10.0).excess({"params": 10}) == 1e-12
    assert Constraint("macs", "<=", 0.0).excess({"macs": 3.0}) == pytest.approx(3e12, rel=1e-12)


def test_penalised_point_lies_beyond_the_reference_in_every_objective():
    assert penalised(0.5, 3) == [1.5, 1.5, 1.5]
    assert penalised(0.25, 2) == [1.25, 1.25]


def test_check_classes_names_the_unknown_class():
    """Only ``recall:<class>`` fields are checked; the message shows at most 12 classes, then ', ...'."""
    check_classes(["acc", "recall", "recall:cat", "latency_ms", "foo:cow"], ["cat", "dog"])
    with pytest.raises(GreenError, match=r"^objective or constraint 'recall:cow' names no class of the data "
                                         r"\(its classes: 'cat', 'dog'\)$"):
        check_classes(["recall:cat", "recall:cow"], ["cat", "dog"])
    with pytest.raises(GreenError, match=r"^constraint 'recall:a:b' names no class"):  # split at the first colon
        check_classes(["recall:a:b"], ["a", "b"], what="constraint")
    twelve = [f"c{i}" for i in range(12)]
    shown12 = ", ".join(repr(c) for c in twelve)
    with pytest.raises(GreenError, match=rf"\(its classes: {shown12}\)$"):
        check_classes(["recall:x"], twelve)
    with pytest.raises(GreenError, match=rf"\(its classes: {shown12}, \.\.\.\)$"):
        check_classes(["recall:x"], twelve + ["c12"])


def test_objectives_hypervolume_known_answers():
    """Boxes up to the point (ref, ..., ref): one point, two overlapping, none; the default reference is 1."""
    assert hypervolume([[0.5, 0.25]]) == pytest.approx(0.375, rel=1e-12)            # 0.5 x 0.75
    assert hypervolume([[0.5, 0.25], [0.25, 0.5]]) == pytest.approx(0.5, rel=1e-12)  # 0.375 + 0.375 - 0.5 x 0.5
    assert hypervolume([[0.5, 0.25]], ref=2.0) == pytest.approx(2.625, rel=1e-12)    # 1.5 x 1.75
    assert hypervolume([]) == 0.0 and hypervolume(np.zeros((0, 2))) == 0.0


def test_pareto_front_drops_repeats_of_a_point():
    """keep_weakly=False: a record equal to an earlier one is not a second front member."""
    norm = Normaliser(parse_objectives(["acc", "macs"]), {"macs": 100.0})
    recs = [{"id": 0, "acc": 0.5, "macs": 50}, {"id": 1, "acc": 0.5, "macs": 50}, {"id": 2, "acc": 0.75, "macs": 75}]
    assert [r["id"] for r in pareto_front(recs, norm)] == [0, 2]


# --- search.pipeline.summary ------------------------------------------------------------------------------------

def test_class_figures_average_recalls_and_sum_confusions_over_seeds():
    """Two seeds: class recalls averaged, worst-class recall averaged and kept per seed, confusion matrices summed
    cell by cell, classes in the order the first seed lists them."""
    reps = [{"test_class_recall": {"cat": 0.5, "dog": 0.75}, "test_recall_min": 0.5,
             "test_confusion": [[2, 2], [1, 3]]},
            {"test_class_recall": {"dog": 1.0, "cat": 0.25}, "test_recall_min": 0.25,
             "test_confusion": [[1, 3], [0, 4]]}]
    out = class_figures(reps)
    assert out == {"test_recall_min": 0.375, "test_recall_min_per_seed": [0.5, 0.25],
                   "test_class_recall": {"cat": 0.375, "dog": 0.875}, "test_confusion": [[3, 5], [1, 7]]}
    assert list(out["test_class_recall"]) == ["cat", "dog"]
    assert class_figures([reps[0], {"test_recall_min": 0.5}]) == {}  # a row from before the figures were kept


def test_failed_trainings_is_strictly_within_the_margin():
    """Chance for 2 classes is 0.5: 0.55 (chance + 5 points exactly) trained, anything below failed."""
    models = [{"name": "z", "test_acc": 0.5 + 0.05}, {"name": "b", "test_acc": 0.5499}, {"name": "a", "test_acc": 0.1}]
    assert failed_trainings(models, 2) == ["a", "b"]


def test_front_keeps_equal_models_cheapest_first():
    """Two identical models are both on the front (neither dominates the other), sorted by the cost."""
    a = {"name": "a", "test_acc": 0.75, "latency_ms": 2.0}
    a2 = {"name": "a2", "test_acc": 0.75, "latency_ms": 2.0}
    b = {"name": "b", "test_acc": 0.5, "latency_ms": 1.0}
    c = {"name": "c", "test_acc": 0.5, "latency_ms": 3.0}
    assert [m["name"] for m in front([a, c, a2, b], "latency_ms")] == ["b", "a", "a2"]
    assert front([], "latency_ms") == []


def test_read_refuses_non_finite_figures_and_damaged_files(tmp_path):
    """Missing: {}. NaN: refused unless the caller allows it (fidelity's undefined tau); an infinity always."""
    from search.pipeline.summary import _read

    assert _read(tmp_path / "none.json") == {}
    p = tmp_path / "s.json"
    p.write_text('{"a": NaN, "b": 1}')
    with pytest.raises(GreenError, match=rf"^{repr(str(p))} holds NaN where a figure should be: the stage that wrote "
                                         r"it failed; rerun that stage$"):
        _read(p)
    out = _read(p, allow_nan=True)
    assert math.isnan(out["a"]) and out["b"] == 1
    p.write_text('{"a": Infinity}')
    with pytest.raises(GreenError, match=rf"^{repr(str(p))} holds Infinity where"):
        _read(p, allow_nan=True)
    p.write_text('{"a": [1, ')
    with pytest.raises(GreenError, match=rf"^cannot read {repr(str(p))} \(JSONDecodeError\): rerun the stage that "
                                         r"wrote it$"):
        _read(p)
    p.write_bytes(b'{"a": "\xff"}')
    with pytest.raises(GreenError, match=r"\(UnicodeDecodeError\)"):
        _read(p)
    p.write_text("[1, 2]")
    with pytest.raises(GreenError, match=rf"^{repr(str(p))} is not a JSON object: rerun the stage that wrote it$"):
        _read(p)


def _energy_file(path, **rec):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rec))


def test_ledger_whole_output(tmp_path):
    """Sums per stage over every codecarbon file below it, the sources and grids named once each, sorted."""
    _energy_file(tmp_path / "train" / "energy_a.json", energy_kwh=0.5, co2eq_kg=0.25, seconds=10.0,
                 source="codecarbon:rapl", country_iso_code="FRA")
    _energy_file(tmp_path / "train" / "sub" / "energy_b.json", energy_kwh=0.25, co2eq_kg=0.125, seconds=5.0,
                 source="codecarbon-estimate", country_iso_code="")
    _energy_file(tmp_path / "train" / "other.json", energy_kwh=9.0, co2eq_kg=9.0, seconds=9.0, source="x")
    _energy_file(tmp_path / "search" / "energy_c.json", energy_kwh=1.0, co2eq_kg=0.5, seconds=2.0,
                 source="codecarbon:rapl", country_iso_code="USA")
    _energy_file(tmp_path / "search" / "energy_d.json", energy_kwh=1.0, co2eq_kg=0.5, seconds=2.0,
                 source="codecarbon:rapl", country_iso_code="DEU")
    led = ledger(tmp_path)
    empty = {"energy_kwh": 0, "co2eq_kg": 0, "seconds": 0, "files": 0, "sources": [], "grids": []}
    assert led == {
        "train": {"energy_kwh": 0.75, "co2eq_kg": 0.375, "seconds": 15.0, "files": 2,
                  "sources": ["codecarbon-estimate", "codecarbon:rapl"], "grids": ["FRA"]},
        "lut": empty, "search": {"energy_kwh": 2.0, "co2eq_kg": 1.0, "seconds": 4.0, "files": 2,
                                 "sources": ["codecarbon:rapl"], "grids": ["DEU", "USA"]},
        "finetune": empty, "scratch": empty, "scratch_ft": empty, "baselines": empty, "fidelity": empty, "mt_search": empty,
        "mt_train": empty, "eq_search": empty, "eq_finetune": empty, "measure": empty}


def test_ledger_names_the_first_missing_field(tmp_path):
    _energy_file(tmp_path / "lut" / "energy_a.json", energy_kwh=0.5, source="x")
    with pytest.raises(GreenError, match=r"energy_a\.json' has no co2eq_kg: rerun the lut stage$"):
        ledger(tmp_path)
    _energy_file(tmp_path / "lut" / "energy_a.json", co2eq_kg=0.5, seconds=1.0)
    with pytest.raises(GreenError, match=r"energy_a\.json' has no energy_kwh: rerun the lut stage$"):
        ledger(tmp_path)
    _energy_file(tmp_path / "lut" / "energy_a.json", energy_kwh=0.5, co2eq_kg=0.5, source="x")
    with pytest.raises(GreenError, match=r"energy_a\.json' has no seconds: rerun the lut stage$"):
        ledger(tmp_path)
    _energy_file(tmp_path / "lut" / "energy_a.json", energy_kwh=0.5, co2eq_kg=0.5, seconds=1.0)
    with pytest.raises(GreenError, match=rf"^{repr(str(tmp_path / 'lut' / 'energy_a.json'))} has no source"):
        ledger(tmp_path)


# --- search.hardware.measure ------------------------------------------------------------------------------------

def test_measure_models_names_its_device_key():
    """A bad device is refused with the config key the user must fix."""
    with pytest.raises(GreenError, match=r"^measure\.device='meta': only cpu and cuda are supported$"):
        measure.measure_models({"a": (torch.nn.Identity(), 1, 4)}, torch.device("meta"), [1])


def test_summarise_keeps_the_fidelity_figures_with_their_undefined_values(tmp_path):
    """fidelity.json may hold NaN (a tau over too few subnets): the report shows it as n/a instead of refusing the
    run; an empty fidelity file is no fidelity section (None)."""
    row = {"name": "w1", "arch": "w1", "params": 10, "macs": 20, "seed": 0, "replicate": 0, "test_acc": 0.75,
           "test_recall": 0.75, "test_images": 0, "train_energy_kwh": 0.5, "budget": {"epochs": 1}}
    cost = {"latency_ms": 2.0, "energy_mj_per_image": 1.0, "energy_batch_size": 1, "energy_source": "nvml"}
    files = {"finetune/finetune.json": {"models": [row]}, "measure/measure.json": {"models": {"finetune/w1": cost}},
             "fidelity/fidelity.json": {"n": 3}, "run.json": {"stages": {"train": {"seconds": 4.0}}}}
    for rel, data in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(json.dumps(data))
    path = tmp_path / "fidelity" / "fidelity.json"
    path.write_text('{"kendall_tau": NaN, "n": 3}')
    s = summarise(tmp_path)
    assert set(s["fidelity"]) == {"kendall_tau", "n"} and math.isnan(s["fidelity"]["kendall_tau"])
    assert s["fidelity"]["n"] == 3 and s["stage_seconds"] == {"train": 4.0}
    path.write_text("{}")
    assert summarise(tmp_path)["fidelity"] is None


@pytest.mark.parametrize("x, y", [([1.0, math.nan, 3.0, 4.0], [1.0, 2.0, 3.0, 5.0]),
                                  ([1.0, 2.0, 3.0, 4.0], [2.0, 1.0, 4.0, math.nan])])
def test_kendall_propagates_a_nan_like_scipy(x, y):
    """A nan in either sequence (a failed evaluation) gives nan, as scipy's kendalltau does by default, instead
    of an error from counting signs of nan."""
    from scipy.stats import kendalltau

    assert math.isnan(kendall(x, y)) and math.isnan(kendalltau(x, y)[0])
