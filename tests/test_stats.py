"""Known answers for every statistic in ``search.stats``, worked by hand so a wrong formula fails.

Each expected value below is computed on paper (the comment shows how), never by calling the same
library the implementation calls. The file is also the test set of the mutation run over
``search/stats.py`` (``mutmut run``, configured in pyproject.toml): every mutant of that module must
fail at least one test here.
"""
import itertools
import math

import numpy as np
import pytest

from search.stats import (MIN_VALUES, accuracy_se, bootstrap_ci, hypervolume_2d, interval, kendall, mape, mean_spread,
                          spearman, two_level_ci)


# --- mape -------------------------------------------------------------------------------------------------------

def test_mape_divides_by_the_measured_value():
    # |110-100|/100 = |90-100|/100 = 0.10; dividing by the prediction would give (10/110 + 10/90)/2 = 0.10101
    assert mape([110, 90], [100, 100]) == pytest.approx(0.10, rel=1e-12)
    # 50/100 = 0.5, not 50/150
    assert mape([150], [100]) == pytest.approx(0.5, rel=1e-12)
    # mean, not sum: (0.5 + 0.25) / 2
    assert mape([150, 75], [100, 100]) == pytest.approx(0.375, rel=1e-12)


def test_mape_uses_the_magnitude_of_negative_measurements():
    assert mape([-90], [-100]) == pytest.approx(0.10, rel=1e-12)  # 10 / |-100|, never negative
    assert mape([100], [100]) == 0.0


@pytest.mark.parametrize("pred, meas", [([1.0], [1.0, 2.0]), ([1.0, 2.0], [1.0]), ([], [])])
def test_mape_rejects_unequal_or_empty_input(pred, meas):
    with pytest.raises(ValueError, match=r"^mape needs two equally long, non-empty sequences$"):
        mape(pred, meas)


# --- rank correlations ------------------------------------------------------------------------------------------

def test_kendall_and_spearman_on_one_swapped_pair():
    x, y = [1, 2, 3, 4], [1, 3, 2, 4]
    # 6 pairs, 5 concordant and 1 discordant (2,3): tau = (5 - 1) / 6
    assert kendall(x, y) == pytest.approx(4 / 6, rel=1e-12)
    # rank differences (0, 1, -1, 0): rho = 1 - 6 * 2 / (4 * (16 - 1)) = 0.8
    assert spearman(x, y) == pytest.approx(0.8, rel=1e-12)


def test_kendall_and_spearman_of_a_reversed_order_are_minus_one():
    assert kendall([1, 2, 3, 4, 5], [50, 40, 30, 20, 10]) == pytest.approx(-1.0, rel=1e-12)
    assert spearman([1, 2, 3, 4, 5], [50, 40, 30, 20, 10]) == pytest.approx(-1.0, rel=1e-12)


def test_rank_correlations_handle_ties():
    x, y = [1, 2, 2, 3], [1, 2, 3, 4]
    # tau-b: 5 concordant, 0 discordant, one pair tied in x: 5 / sqrt((6 - 1) * (6 - 0)); tau-a would be 5/6
    assert kendall(x, y) == pytest.approx(5 / math.sqrt(30), rel=1e-12)
    # Pearson of the mid-ranks (1, 2.5, 2.5, 4) and (1, 2, 3, 4): 4.5 / sqrt(4.5 * 5) = sqrt(0.9);
    # the no-ties shortcut 1 - 6 sum d^2 / (n (n^2 - 1)) would give 0.95
    assert spearman(x, y) == pytest.approx(math.sqrt(0.9), rel=1e-12)


def test_rank_correlations_of_a_constant_are_nan():
    assert math.isnan(kendall([1, 1, 1], [1, 2, 3]))
    assert math.isnan(spearman([1, 2, 3], [5, 5, 5]))


# --- accuracy_se, mean_spread -----------------------------------------------------------------------------------

def test_accuracy_se_is_the_binomial_standard_error():
    assert accuracy_se(0.5, 100) == pytest.approx(0.05, rel=1e-12)  # sqrt(0.25 / 100)
    assert accuracy_se(0.9, 100) == pytest.approx(0.03, rel=1e-12)  # sqrt(0.09 / 100)
    assert accuracy_se(0.5, 1) == pytest.approx(0.5, rel=1e-12)     # one image is allowed
    assert accuracy_se(1.0, 50) == 0.0
    assert accuracy_se(1.0 + 1e-12, 50) == 0.0  # rounding above 1 must not reach sqrt of a negative


@pytest.mark.parametrize("n", [0, -3])
def test_accuracy_se_rejects_no_images(n):
    with pytest.raises(ValueError, match=rf"^n must be >= 1, got {n}$"):
        accuracy_se(0.5, n)


def test_mean_spread_uses_the_sample_standard_deviation():
    # deviations from 2.5: squares 2.25, 0.25, 0.25, 2.25 sum to 5; sample sd sqrt(5/3), not sqrt(5/4)
    assert mean_spread([1, 2, 3, 4]) == pytest.approx({"mean": 2.5, "std": math.sqrt(5 / 3), "min": 1, "max": 4,
                                                       "n": 4}, rel=1e-12)
    assert mean_spread([1, 3]) == pytest.approx({"mean": 2.0, "std": math.sqrt(2), "min": 1, "max": 3, "n": 2},
                                                rel=1e-12)
    assert mean_spread([7]) == {"mean": 7.0, "std": 0.0, "min": 7.0, "max": 7.0, "n": 1}


def test_mean_spread_rejects_no_values():
    with pytest.raises(ValueError, match=r"^mean_spread needs at least one value$"):
        mean_spread([])


# --- bootstrap_ci -----------------------------------------------------------------------------------------------

def _counter():
    """A 'statistic' returning 0, 1, 2, ... on successive calls: its bootstrap distribution is known exactly."""
    c = itertools.count()
    return lambda *cols: float(next(c))


def test_bootstrap_percentiles_and_resample_count_are_exact():
    # the values 0..1999: numpy's linear quantiles at 2.5% and 97.5% are 0.025 * 1999 and 0.975 * 1999
    assert bootstrap_ci(_counter(), [1, 2, 3]) == pytest.approx((49.975, 1949.025), rel=1e-12)
    # 0..99 at level 0.5: the 25% and 75% quantiles 0.25 * 99 and 0.75 * 99
    assert bootstrap_ci(_counter(), [1, 2, 3], n_boot=100, level=0.5) == pytest.approx((24.75, 74.25), rel=1e-12)


def test_bootstrap_resamples_rows_with_replacement_and_stays_paired():
    x = [5.0, 0.0, 0.0]
    # each resample has n rows drawn from all n; item 0 is missed with probability (2/3)^3, so the max spans 0..5
    assert bootstrap_ci(lambda a: float(a.max()), x) == (0.0, 5.0)
    assert bootstrap_ci(lambda a: float(len(a)), x) == (3.0, 3.0)
    # the same indices for every column: equal columns stay equal in every resample
    assert bootstrap_ci(lambda a, b: float(np.array_equal(a, b)), [1, 2, 3, 4], [1, 2, 3, 4]) == (1.0, 1.0)
    # the statistic receives float arrays, so integer columns divide and average as numbers
    assert bootstrap_ci(lambda a: float(a.dtype == np.float64), [1, 2, 3]) == (1.0, 1.0)


def test_bootstrap_ci_of_a_clear_correlation_contains_it_and_is_seeded():
    x = list(range(12))
    y = [0.1, 1.3, 1.9, 3.2, 4.1, 4.8, 6.3, 6.9, 8.2, 8.8, 10.4, 10.9]
    y[3], y[4] = y[4], y[3]  # one swapped pair: tau = 1 - 2 * 1/66
    point = kendall(x, y)
    lo, hi = bootstrap_ci(kendall, x, y, n_boot=500)
    assert point == pytest.approx(64 / 66)
    assert 0.5 < lo <= point <= hi <= 1.0
    assert bootstrap_ci(kendall, x, y, n_boot=500) == (lo, hi)  # same seed, same interval


def test_bootstrap_defaults_are_2000_resamples_95pct_seed_0():
    data = [0.3, 1.7, 2.2, 5.9, 4.4, 0.8, 3.1]
    mean = lambda a: float(a.mean())  # noqa: E731 -- a continuous statistic: any change of draw moves its quantiles
    default = bootstrap_ci(mean, data)
    assert default == bootstrap_ci(mean, data, n_boot=2000, level=0.95, seed=0)
    assert default != bootstrap_ci(mean, data, seed=1)
    # the default count and level are pinned exactly by test_bootstrap_percentiles_and_resample_count_are_exact


def test_bootstrap_drops_undefined_resamples():
    # a resample of only the tied items has a constant x, where Spearman is undefined (nan): it is dropped
    x, y = [1, 1, 1, 2], [1, 2, 3, 4]
    lo, hi = bootstrap_ci(spearman, x, y, n_boot=200)
    assert not math.isnan(lo) and not math.isnan(hi) and lo <= hi
    assert bootstrap_ci(lambda a: math.nan, [1, 2]) == pytest.approx((math.nan, math.nan), nan_ok=True)
    # None (a statistic that declines) is dropped as well: only the other calls' values (2.0) remain
    c = itertools.count()
    every_other = lambda a: None if next(c) % 2 else float(len(a))  # noqa: E731
    assert bootstrap_ci(every_other, [1, 2], n_boot=200) == (2.0, 2.0)


@pytest.mark.parametrize("columns", [(), ([1.0],), ([1.0, 2.0], [1.0, 2.0, 3.0])])
def test_bootstrap_rejects_bad_columns(columns):
    with pytest.raises(ValueError, match=r"^bootstrap_ci needs equally long columns of at least 2 items$"):
        bootstrap_ci(kendall, *columns)


def test_bootstrap_accepts_two_items_and_two_columns():
    assert bootstrap_ci(lambda a, b: float(len(a) + len(b)), [1, 2], [3, 4]) == (4.0, 4.0)


@pytest.mark.parametrize("level", [0.0, 1.0, 1.5, -0.1])
def test_bootstrap_rejects_a_level_outside_0_1(level):
    with pytest.raises(ValueError, match=rf"^level must lie in \(0, 1\), got {level}$"):
        bootstrap_ci(kendall, [1, 2], [1, 2], level=level)


# --- hypervolume_2d ---------------------------------------------------------------------------------------------

def test_hypervolume_of_one_point_is_its_rectangle():
    # (0.8 - 0.5) accuracy above the reference times (100 - 50) cost below it
    assert hypervolume_2d([(0.8, 50.0)], (0.5, 100.0)) == pytest.approx(15.0, rel=1e-12)
    assert hypervolume_2d([(0.9, 10.0)], (0.0, 20.0)) == pytest.approx(9.0, rel=1e-12)
    # a reference cost below 1 (energy in J, say) is as valid as any positive one: 0.4 x 0.25
    assert hypervolume_2d([(0.9, 0.25)], (0.5, 0.5)) == pytest.approx(0.1, rel=1e-12)


def test_hypervolume_of_two_points_counts_their_overlap_once():
    # rectangles 0.3 x 50 = 15 and 0.1 x 80 = 8 overlap in 0.1 x 50 = 5: 15 + 8 - 5
    pts = [(0.8, 50.0), (0.6, 20.0)]
    assert hypervolume_2d(pts, (0.5, 100.0)) == pytest.approx(18.0, rel=1e-12)
    # a dominated point adds nothing
    assert hypervolume_2d(pts + [(0.7, 60.0)], (0.5, 100.0)) == pytest.approx(18.0, rel=1e-12)


def test_points_outside_the_reference_add_nothing():
    ref = (0.5, 100.0)
    outside = [(0.4, 10.0), (0.9, 150.0), (0.5, 10.0), (0.9, 100.0)]  # worse accuracy, worse cost, on the edges
    assert hypervolume_2d(outside, ref) == 0.0
    assert hypervolume_2d([(0.8, 50.0), *outside], ref) == pytest.approx(15.0, rel=1e-12)
    assert hypervolume_2d([], ref) == 0.0
    # no accuracy can beat a perfect reference
    assert hypervolume_2d([(0.9, 10.0)], (1.0, 100.0)) == 0.0


@pytest.mark.parametrize("cost", [0.0, -1.0])
def test_hypervolume_rejects_a_reference_cost_that_is_not_positive(cost):
    with pytest.raises(ValueError, match=r"^the reference cost must be > 0$"):
        hypervolume_2d([(0.9, 0.5)], (0.5, cost))


def test_kendall_is_bit_identical_to_scipy_with_ties_and_degenerate_columns():
    import math
    import random

    from scipy.stats import kendalltau

    from search.stats import kendall

    r = random.Random(0)
    for _ in range(500):
        n = r.randint(2, 30)
        x = [r.choice([0.1, 0.2, r.random()]) for _ in range(n)]
        y = [r.choice([0.5, r.random()]) for _ in range(n)]
        want = float(kendalltau(x, y)[0])
        got = kendall(x, y)
        assert (math.isnan(want) and math.isnan(got)) or got == want
    assert math.isnan(kendall([1, 1, 1], [1, 2, 3])) and math.isnan(kendall([0.5], [0.5]))
    assert kendall([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)


def test_interval_gives_none_below_five_values_and_the_bootstrap_from_five():
    four, five = [0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4, 0.5]
    assert MIN_VALUES == 5
    assert interval(np.mean, four) is None
    assert interval(np.mean, five) == list(bootstrap_ci(np.mean, five))
    assert interval(np.mean, five, n_boot=50, seed=3) == list(bootstrap_ci(np.mean, five, n_boot=50, seed=3))


def test_two_level_ci_needs_five_seeds_and_carries_the_seed_to_seed_variance():
    assert two_level_ci([[1, 0, 1]] * 4) is None
    # identical seeds with identical items: no spread at either level
    assert two_level_ci([[1.0, 1.0]] * 5) == [1.0, 1.0]
    # each seed's items all equal but the seeds differ: an item-only bootstrap would be a point, the two-level
    # interval spans the seed means; its bounds are means of 5 drawn seeds, so they lie within [0, 1]
    lo, hi = two_level_ci([[0.0] * 50, [1.0] * 50, [0.0] * 50, [1.0] * 50, [1.0] * 50], n_boot=4000)
    assert 0.0 <= lo <= 0.2 and 0.8 <= hi <= 1.0 + 1e-12
    # one seed, items varying, the others constant: the items of a drawn seed are resampled too
    mixed = [[0.5] * 10] * 4 + [[0.0] * 5 + [1.0] * 5]
    lo, hi = two_level_ci(mixed, n_boot=2000, seed=1)
    assert lo < 0.5 < hi and hi - lo < 0.5
    assert two_level_ci([[0.2, 0.4]] * 5, seed=7) == two_level_ci([[0.2, 0.4]] * 5, seed=7)  # seeded


@pytest.mark.parametrize("groups", [[[1.0]] * 4 + [[]], ])
def test_two_level_ci_rejects_a_seed_without_items(groups):
    with pytest.raises(ValueError, match="at least one item per seed"):
        two_level_ci(groups)


def test_two_level_ci_rejects_a_level_outside_0_1():
    with pytest.raises(ValueError, match="level"):
        two_level_ci([[1.0]] * 5, level=1.0)
