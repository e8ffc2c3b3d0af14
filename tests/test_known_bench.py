"""Known-answer tests of the benchmark scripts' headline code (the functions bench/recompute.py runs).

Each test builds a tiny hand-made ``raw`` in the shape the script writes, calls the function and compares the
*whole* output with an answer worked out by hand (the arithmetic is in the comments). They are fast (no
training, no timing, no committed result is read), so that every mutant of the headline code is killed by a
known answer rather than by the recomputation of the committed results.
"""
from __future__ import annotations

import json
import math
import statistics
import sys

import pytest

from bench import bad_input, cost_range, mutation, parallel, recompute
from bench import lut_accuracy as lut
from bench import supernet_overhead as so
from bench import throughput as tp
from bench import walltime as wt
from bench.throughput_loops import StepTimer
from search import stats


def A(x):
    """``x`` with every float compared to a relative 1e-12 (nested dicts and lists; bools and the rest exactly)."""
    if isinstance(x, dict):
        return {k: A(v) for k, v in x.items()}
    if isinstance(x, list):
        return [A(v) for v in x]
    if isinstance(x, float):
        return pytest.approx(x, rel=1e-12, abs=1e-15, nan_ok=True)
    return x


# ------------------------------------------------------------------------------------------------ bad_input

def test_bad_input_headline_counts_the_passed_cases_and_names_the_failed():
    """Cases, passes and the failed cases' names in their order: 4 cases, b and d failed -> 2 passed."""
    cases = [{"name": "a", "passed": True}, {"name": "b", "passed": False}, {"name": "c", "passed": True},
             {"name": "d", "passed": False}]
    assert bad_input.headline({"raw": {"cases": cases, "work": "outputs/bench/x"}}) == {
        "cases": 4, "passed": 2, "failed": ["b", "d"]}


# ----------------------------------------------------------------------------------------------- cost_range

def _cost_raw(baselines, **models):
    def m(macs, params, b1, b8, arch=None):
        # a b32 latency too: the serving batch (8) must pick its own latency, not another batch's
        d = {"macs": macs, "params": params, "latency_ms_b1": b1, "latency_ms_b8": b8, "latency_ms_b32": 999.0}
        return d if arch is None else {**d, "arch": arch}
    return {"serving_batch": 8, "baselines": list(baselines), "models": {k: m(*v) for k, v in models.items()}}


def test_cost_range_headline_table_cheapest_and_strict_goals():
    """The table holds every model's four figures (serving = the b8 latency); the cheapest baseline is taken per
    field (each field's minimum from another baseline); a goal is a strict comparison, so a tie fails it."""
    raw = _cost_raw(["base_a", "mobilenetv2_050"],
                    smallest=(100, 10, 0.4, 4.0, "r16_s"), middle=(400, 40, 2.0, 9.0, "r24_m"),
                    largest=(1000, 100, 3.0, 20.0, "r32_l"),
                    base_a=(100, 50, 1.5, 3.0), mobilenetv2_050=(1000, 5, 0.5, 6.0))
    row = lambda macs, params, b1, bs, arch: {"macs": macs, "params": params, "latency_ms_b1": b1,  # noqa: E731
                                              "latency_ms_serving": bs, "arch": arch}
    assert cost_range.headline({"raw": raw}) == {
        "smallest": row(100, 10, 0.4, 4.0, "r16_s"), "middle": row(400, 40, 2.0, 9.0, "r24_m"),
        "largest": row(1000, 100, 3.0, 20.0, "r32_l"),
        "baselines": {"base_a": row(100, 50, 1.5, 3.0, None), "mobilenetv2_050": row(1000, 5, 0.5, 6.0, None)},
        # min per field: macs 100 (a), params 5 (mnv2), b1 0.5 (mnv2), serving 3.0 (a)
        "cheapest_baseline": {"macs": 100, "params": 5, "latency_ms_b1": 0.5, "latency_ms_serving": 3.0},
        "macs_range": 10.0,  # 1000 / 100
        "goals": {"smallest_below_cheapest_baseline_macs": False,        # 100 < 100: a tie is not below
                  "smallest_below_cheapest_baseline_latency_ms_b1": True,  # 0.4 < 0.5
                  "smallest_below_cheapest_baseline_latency_ms_serving": False,  # 4.0 < 3.0
                  "largest_above_mobilenetv2_050_macs": False}}             # 1000 > 1000: a tie is not above


def test_cost_range_headline_goals_met_and_no_reference_no_largest_goal():
    """Every goal met (strictly); without mobilenetv2_050 among the baselines the largest-subnet goal is absent."""
    models = dict(smallest=(50, 10, 0.4, 2.0, "s"), middle=(400, 40, 2.0, 9.0, "m"), largest=(2000, 100, 3.0, 20.0, "l"),
                  base_a=(100, 50, 1.5, 3.0), mobilenetv2_050=(1999, 5, 0.5, 6.0))
    h = cost_range.headline({"raw": _cost_raw(["base_a", "mobilenetv2_050"], **models)})
    assert h["goals"] == {"smallest_below_cheapest_baseline_macs": True, "smallest_below_cheapest_baseline_latency_ms_b1": True,
                          "smallest_below_cheapest_baseline_latency_ms_serving": True,
                          "largest_above_mobilenetv2_050_macs": True}  # 2000 > 1999
    assert h["macs_range"] == 40.0  # 2000 / 50
    del models["mobilenetv2_050"]
    h = cost_range.headline({"raw": _cost_raw(["base_a"], **models)})
    assert h["goals"] == {"smallest_below_cheapest_baseline_macs": True, "smallest_below_cheapest_baseline_latency_ms_b1": True,
                          "smallest_below_cheapest_baseline_latency_ms_serving": True}  # no largest goal
    assert h["cheapest_baseline"] == {"macs": 100, "params": 50, "latency_ms_b1": 1.5, "latency_ms_serving": 3.0}


# --------------------------------------------------------------------------------------------- lut_accuracy

def test_lut_helpers_within_10pct_and_bias():
    """Within 10% counts |p - m| / |m| <= 0.10 inclusive (11 vs 10 and 9 vs 10 are in, 8.9 and 12 out: 2 of 4);
    the bias is the mean *signed* relative error: (+0.1 - 0.1 + 0.2 - 0.4) / 4 = -0.05."""
    assert lut._within_10pct([11.0, 9.0, 8.9, 12.0], [10.0, 10.0, 10.0, 10.0]) == 0.5
    assert lut._within_10pct([11.0], [10.0]) == 1.0 and lut._within_10pct([12.0], [10.0]) == 0.0
    assert lut._bias([11.0, 9.0, 12.0, 6.0], [10.0, 10.0, 10.0, 10.0]) == pytest.approx(-0.05, rel=1e-12)
    assert lut._bias([3.0], [2.0]) == pytest.approx(0.5, rel=1e-12)  # over-prediction: positive


def test_lut_rounds_and_retest_pair_the_right_columns():
    """Columns come three per round (prediction, measurement 1, measurement 2). With one-value columns
    1, 2, 4 | 8, 16, 32 and stat(a, b) = a + 100 b (order matters): _rounds averages pred-vs-m1 and
    pred-vs-m2 of each round, (201 + 401 + 1608 + 3208) / 4 = 1354.5; _retest averages m1-vs-m2 per round,
    (2 + 400 + 16 + 3200) / 2 = 1809."""
    stat = lambda a, b: a[0] + 100 * b[0]  # noqa: E731
    cols = [[1.0], [2.0], [4.0], [8.0], [16.0], [32.0]]
    assert lut._rounds(stat)(*cols) == 1354.5
    assert lut._retest(stat)(*cols) == 1809.0
    assert lut._rounds(stat)(*cols[:3]) == 301.0  # one round: (201 + 401) / 2
    assert lut._retest(stat)(*cols[:3]) == 402.0


def test_lut_over_retest_is_nan_without_retest_noise():
    """MAPE over retest MAPE: prediction p, measurements p and 2p -> MAPE (0 + 0.5) / 2 = 0.25, retest
    MAPE(p vs 2p) = 0.5 -> 0.5; measurements that agree exactly give no noise floor: nan, not a division."""
    p = [1.0, 2.0, 4.0]
    assert lut._over_retest(p, p, [2 * x for x in p]) == pytest.approx(0.5, rel=1e-12)
    assert math.isnan(lut._over_retest([2 * x for x in p], p, p))


def test_lut_ci_follows_the_modules_bootstrap_protocol(monkeypatch):
    """The interval is search.stats.interval with the module's protocol (N_BOOT, LEVEL, SEED): changed
    constants change it; none from fewer than 5 subnets."""
    mean = lambda a: sum(a) / len(a)  # noqa: E731
    col = [0.3, 1.7, 0.2, 2.9, 1.1, 0.8, 2.2, 0.05, 1.4, 3.3]
    assert (lut.N_BOOT, lut.LEVEL, lut.SEED) == (2000, 0.95, 0)
    assert lut._ci(mean, col) == stats.interval(mean, col, n_boot=2000, level=0.95, seed=0)
    monkeypatch.setattr(lut, "N_BOOT", 37)
    monkeypatch.setattr(lut, "LEVEL", 0.5)
    monkeypatch.setattr(lut, "SEED", 3)
    got = lut._ci(mean, col)
    assert got == stats.interval(mean, col, n_boot=37, level=0.5, seed=3)
    # the three settings each matter for this column (so the check above can tell a dropped one)
    assert got != stats.interval(mean, col, level=0.5, seed=3)
    assert got != stats.interval(mean, col, n_boot=37, seed=3)
    assert got != stats.interval(mean, col, n_boot=37, level=0.5)
    assert lut._ci(mean, col[:4]) is None


def _lut_round(bs_data, build_seconds=None):
    r = {"batches": {bs: {"subnets": [{"predicted_ms": p, "measured_ms": [a, b]} for p, a, b in zip(*cols)]}
                     for bs, cols in bs_data.items()}}
    return r if build_seconds is None else {"build_seconds": build_seconds, **r}


P = [1.0, 2.0, 3.0, 4.0, 5.0]
Q = [1.1 * x for x in P]  # round 2's table predicts 10% higher


def _lut_rounds(builds=(100.0, 700.0)):
    exact = (P, P, P)  # batch 1: prediction = both measurements, both rounds
    r1 = _lut_round({"1": exact, "4": (P, [2 * x for x in P], P)}, builds[0])
    r2 = _lut_round({"1": exact, "4": (Q, [1.25 * y for y in Q], [0.8 * y for y in Q])}, builds[1])
    return [r1, r2]


# batch 4: round 1: MAPE of p vs 2p (measurement 1) = 0.5, vs p = 0; bias -0.5, 0; retest MAPE(2p vs p) = 1.
#          round 2: MAPE of q vs 1.25q = 0.25/1.25 = 0.2, vs 0.8q = 0.2/0.8 = 0.25; bias -0.2, +0.25;
#                   retest MAPE(1.25q vs 0.8q) = 0.45/0.8 = 0.5625.
#          the mean measurement: 1.5p in round 1, 1.025q = 1.1275p in round 2.
B4 = {"mape": (0 + 0.5 + 0.2 + 0.25) / 4, "mape_per_round": [0.25, 0.225],
      "bias": (0 - 0.5 - 0.2 + 0.25) / 4, "bias_per_round": [-0.25, 0.025],
      "retest_mape": (1.0 + 0.5625) / 2, "retest_mape_per_round": [1.0, 0.5625],
      "spearman": 1.0, "within_10pct": 0.25,  # only round 1's p vs p is within 10%: 1 of 4 comparisons
      "table_retest_mape": 0.1,  # round 2's table against round 1's: |1.1p - p| / p
      "drift_between_rounds": 1.1275 / 1.5,  # round 2 measured over round 1 measured
      "cross_round_mape": 0.1275 / 1.1275}  # round 1's table against round 2's mean measurement
B1 = {"mape": 0.0, "mape_per_round": [0.0, 0.0], "bias": 0.0, "bias_per_round": [0.0, 0.0], "retest_mape": 0.0,
      "retest_mape_per_round": [0.0, 0.0], "spearman": 1.0, "within_10pct": 1.0, "table_retest_mape": 0.0,
      "drift_between_rounds": 1.0, "cross_round_mape": 0.0}


def test_lut_columns_three_per_round_of_the_batch_size():
    """_columns: (prediction, measurement 1, measurement 2) of each round, for the batch size asked."""
    rounds = _lut_rounds()
    assert lut._columns(rounds, "4") == [P, [2 * x for x in P], P, Q, [1.25 * y for y in Q], [0.8 * y for y in Q]]
    assert lut._columns(rounds[:1], "1") == [P, P, P]


def test_lut_batch_figures_known_answers():
    """MAPE, bias and retest per round and averaged, table-vs-table, drift and the stale table's error."""
    rounds = _lut_rounds()
    assert lut._batch(rounds, "4") == A(B4)
    assert lut._batch(rounds, "1") == A(B1)
    one = {k: v[:1] if k.endswith("per_round") else v for k, v in B4.items() if k not in
           ("table_retest_mape", "drift_between_rounds", "cross_round_mape")}
    # one round (round 1 alone): its own figures, no drift to show
    assert lut._batch(rounds[:1], "4") == A({**one, "mape": 0.25, "bias": -0.25, "retest_mape": 1.0,
                                             "within_10pct": 0.5})


def test_lut_headline_known_answers(monkeypatch):
    """The headline at raw["batch_size"] (4, not the first batch of the dict), every interval over the right
    statistic and the columns of all rounds (``_ci`` replaced by its point value to make that visible), the
    goals, and by_batch for every batch size."""
    monkeypatch.setattr(lut, "_ci", lambda stat, *cols: ["ci", stat(*cols), len(cols)])
    h = lut.headline({"raw": {"batch_size": 4, "rounds": _lut_rounds()}})
    over = B4["mape"] / B4["retest_mape"]  # 0.2375 / 0.78125
    assert h == A({
        "lut_mape": B4["mape"], "lut_mape_ci": ["ci", B4["mape"], 6],
        "bias": B4["bias"], "bias_ci": ["ci", B4["bias"], 6],
        "retest_mape": B4["retest_mape"], "retest_mape_ci": ["ci", B4["retest_mape"], 6],
        "mape_over_retest": over, "mape_over_retest_ci": ["ci", over, 6],
        "lut_spearman": 1.0, "lut_spearman_ci": ["ci", 1.0, 6],
        "retest_spearman": 1.0, "lut_kendall": 1.0, "lut_kendall_ci": ["ci", 1.0, 6],
        "within_10pct": 0.25, "within_10pct_ci": ["ci", 0.25, 6],
        "batch_size": 4, "n_subnets": 5, "rounds": 2,
        "goals": {"lut_mape_le_1.1x_retest": True,   # 0.2375 <= 1.1 x 0.78125
                  "lut_spearman_ge_0.9": True,
                  "build_under_10_min": False},       # the slower build (700 s) counts
        "by_batch": {"1": B1, "4": B4}})
    assert list(h["by_batch"]) == ["1", "4"]
    # batch 4 in round 1 alone, with no build time recorded: no build goal
    r1 = _lut_rounds()[0]
    del r1["build_seconds"]
    h1 = lut.headline({"raw": {"batch_size": 4, "rounds": [r1]}})
    assert h1["goals"]["build_under_10_min"] is None and h1["rounds"] == 1 and h1["n_subnets"] == 5
    assert h1["mape_over_retest"] == pytest.approx(0.25 / 1.0) and h1["lut_mape_ci"] == ["ci", 0.25, 3]
    # two rounds, the second's build time missing: no build goal either (not the first round's time alone)
    r1, r2 = _lut_rounds()
    del r2["build_seconds"]
    assert lut.headline({"raw": {"batch_size": 4, "rounds": [r1, r2]}})["goals"]["build_under_10_min"] is None


def test_lut_headline_goal_boundaries(monkeypatch):
    """The goals are inclusive (MAPE <= 1.1 x retest, Spearman >= 0.9) and the build strictly under 600 s;
    each is decided by the slowest build and the first batch's own figures (_batch replaced to set them)."""
    monkeypatch.setattr(lut, "_ci", lambda stat, *cols: None)

    def goals(mape, retest, rho, builds):
        fig = {"mape": mape, "retest_mape": retest, "spearman": rho, "bias": 0.0, "within_10pct": 0.0}
        monkeypatch.setattr(lut, "_batch", lambda rounds, bs: fig)
        return lut.headline({"raw": {"batch_size": 4, "rounds": _lut_rounds(builds)}})["goals"]

    at = 1.1 * 0.2
    assert goals(at, 0.2, 0.9, (599.0, 100.0)) == {"lut_mape_le_1.1x_retest": True, "lut_spearman_ge_0.9": True,
                                                   "build_under_10_min": True}
    assert goals(math.nextafter(at, 1.0), 0.2, math.nextafter(0.9, 0.0), (100.0, 600.0)) == {
        "lut_mape_le_1.1x_retest": False, "lut_spearman_ge_0.9": False, "build_under_10_min": False}


# ------------------------------------------------------------------------------------------------- mutation

def test_mutation_headline_whole_report():
    """Outcomes of 8 mutants, one 'not checked' (not run): 7 run, 3 killed. An equivalent counts only if not
    killed (a killed one is stale, sorted); survivors are the rest not killed, sorted (a timeout is not a kill);
    by_status sorted by status."""
    raw = {"mutants": {"m.x_b__mutmut_2": "survived", "m.x_a__mutmut_1": "killed", "m.x_d__mutmut_1": "timeout",
                       "m.x_c__mutmut_1": "not checked", "m.x_a__mutmut_2": "survived", "m.x_b__mutmut_1": "killed",
                       "m.x_a__mutmut_3": "suspicious", "m.x_e__mutmut_1": "killed"},
           "equivalent": {"m.x_b__mutmut_2": "why b2", "m.x_b__mutmut_1": "stale b1", "m.x_a__mutmut_2": "why a2",
                          "m.x_a__mutmut_1": "stale a1", "m.x_c__mutmut_1": "not run", "m.x_z__mutmut_9": "gone"},
           "not_run": 3}
    h = mutation.headline({"raw": raw})
    assert h == {"killed": 3, "survivors": ["m.x_a__mutmut_3", "m.x_d__mutmut_1"],
                 "equivalent": [{"mutant": "m.x_a__mutmut_2", "reason": "why a2"},
                                {"mutant": "m.x_b__mutmut_2", "reason": "why b2"}],
                 "stale_equivalent": ["m.x_a__mutmut_1", "m.x_b__mutmut_1"], "mutants_run": 7,
                 "by_status": {"killed": 3, "survived": 2, "suspicious": 1, "timeout": 1},
                 "not_run": 3, "goal": {"no_survivor": False}}
    assert list(h["by_status"]) == ["killed", "survived", "suspicious", "timeout"]
    none_killed = mutation.headline({"raw": {"mutants": {"m.x_a__mutmut_1": "survived"},
                                             "equivalent": {"m.x_a__mutmut_1": "same value"}, "not_run": 0}})
    assert none_killed == {"killed": 0, "survivors": [], "equivalent": [{"mutant": "m.x_a__mutmut_1",
                                                                         "reason": "same value"}],
                           "stale_equivalent": [], "mutants_run": 1, "by_status": {"survived": 1}, "not_run": 0,
                           "goal": {"no_survivor": True}}


# ------------------------------------------------------------------------------------------------- parallel

def _fp(w):
    return {"rows": [{"test_acc": 0.5}], "weights_sha256": {"00_x": w}}


def _par_raw(seq, par, fps=None, fit=None):
    n = len(seq)
    fps = fps or {"sequential": [_fp("a")] * n, "parallel": [_fp("a")] * n, "control": _fp("a")}
    raw = {"sequential_s": seq, "parallel_s": par, "fingerprints": fps, "jobs": 2, "launcher": "joblib", "models": 4}
    return raw if fit is None else {**raw, "fit_s": fit}


def test_parallel_headline_known_answers():
    """5 rounds: ratios 60/100, 84/120, 63/80, 50/100, 77/110 = 0.6, 0.7, 0.7875, 0.5, 0.7 -> median 0.7
    (<= 0.75: goal met), spread 0.7875 - 0.5; sequential spread (120 - 80) / median 100 = 0.4.
    Fits (4 jobs a round): sequential 20 s each (24 s once), parallel 30 s each (40 s once) -> per-job medians
    20 and 30, slowdown 1.5, bound 30 / (20 x 2 jobs) = 0.75; overhead = wall - fit seconds (divided by the
    2 jobs in parallel): sequential 100-84, 120-80, 80-80, 100-80, 110-80 -> median 20; parallel 60-65,
    84-60, 63-60, 50-60, 77-60 -> median 3. The interval: the documented protocol (median, 2000, 95%, seed 0)."""
    seq, par = [100.0, 120.0, 80.0, 100.0, 110.0], [60.0, 84.0, 63.0, 50.0, 77.0]
    fit = {"sequential": [[20.0, 20.0, 20.0, 24.0]] + [[20.0] * 4] * 4,
           "parallel": [[30.0, 30.0, 30.0, 40.0]] + [[30.0] * 4] * 4}
    ratios = [0.6, 0.7, 0.7875, 0.5, 0.7]
    h = parallel.headline({"raw": _par_raw(seq, par, fit=fit)})
    ci = list(stats.bootstrap_ci(statistics.median, ratios, n_boot=2000, level=0.95, seed=0))
    assert h == A({"wall_ratio": 0.7, "wall_ratio_ci95": ci, "wall_ratios": ratios,
                   "bound": {"fit_s_per_job_sequential": 20.0, "fit_s_per_job_parallel": 30.0, "thread_slowdown": 1.5,
                             "ratio_without_overhead": 0.75, "overhead_s": {"sequential": 20.0, "parallel": 3.0}},
                   "identical": True, "identical_at_equal_threads": True, "jobs": 2, "launcher": "joblib",
                   "models": 4, "noise": {"sequential_spread": 0.4, "ratio_spread": 0.2875},
                   "goal": {"wall_ratio_at_most_0.75": True}})


def test_parallel_interval_is_the_documented_bootstrap():
    """With these 14 rounds the interval tells the protocol apart (2000 vs 2001 resamples, seed 0 vs 1; the
    ratios were picked for that): it must be the median's 2000-resample 95% interval with seed 0 exactly."""
    ratios = [0.517, 0.761, 0.671, 0.56, 0.651, 0.645, 0.607, 0.604, 0.662, 0.687, 0.684, 0.637, 0.508, 0.569]
    h = parallel.headline({"raw": _par_raw([100.0] * 14, [100.0 * r for r in ratios])})
    want = list(stats.bootstrap_ci(statistics.median, h["wall_ratios"], n_boot=2000, level=0.95, seed=0))
    assert h["wall_ratios"] == pytest.approx(ratios, rel=1e-12)
    assert h["wall_ratio_ci95"] == want
    assert want != list(stats.bootstrap_ci(statistics.median, h["wall_ratios"], n_boot=2001, level=0.95, seed=0))
    assert want != list(stats.bootstrap_ci(statistics.median, h["wall_ratios"], n_boot=2000, level=0.95, seed=1))


def test_parallel_headline_boundaries_and_fingerprints():
    """No interval below 5 rounds (4: none; 5: one); a ratio of exactly 0.75 meets the goal; no fit times (absent
    or empty): no bound. 'identical' compares every run with the first sequential one; the control (sequential
    on the parallel thread count) is compared with the first parallel run."""
    four = parallel.headline({"raw": _par_raw([4.0] * 4, [3.0] * 4)})
    assert four["wall_ratio_ci95"] is None and four["goal"] == {"wall_ratio_at_most_0.75": True}
    assert four["bound"] is None and four["noise"] == {"sequential_spread": 0.0, "ratio_spread": 0.0}
    five = parallel.headline({"raw": _par_raw([4.0] * 5, [3.0] * 5, fit={})})
    assert five["wall_ratio_ci95"] == [0.75, 0.75] and five["bound"] is None
    one = parallel.headline({"raw": _par_raw([100.0], [60.0])})  # a single round (--rounds 1)
    assert one == A({"wall_ratio": 0.6, "wall_ratio_ci95": None, "wall_ratios": [0.6], "bound": None,
                     "identical": True, "identical_at_equal_threads": True, "jobs": 2, "launcher": "joblib",
                     "models": 4, "noise": {"sequential_spread": 0.0, "ratio_spread": 0.0},
                     "goal": {"wall_ratio_at_most_0.75": True}})
    over = parallel.headline({"raw": _par_raw([4.0] * 3, [3.01] * 3)})
    assert over["goal"] == {"wall_ratio_at_most_0.75": False}

    def flags(seq, par, control):
        fps = {"sequential": [_fp(w) for w in seq], "parallel": [_fp(w) for w in par], "control": _fp(control)}
        h = parallel.headline({"raw": _par_raw([1.0] * 3, [1.0] * 3, fps=fps)})
        return h["identical"], h["identical_at_equal_threads"]

    assert flags("aaa", "aaa", "a") == (True, True)
    assert flags("aaa", "aba", "a") == (False, True)   # one parallel model differs; the control matches run 1
    assert flags("aba", "aaa", "a") == (False, True)   # sequential runs disagree among themselves
    assert flags("aaa", "bbb", "a") == (False, False)  # thread count alone does not explain it: control = seq
    assert flags("aaa", "baa", "b") == (False, True)   # control vs the first parallel run, not the second


# ---------------------------------------------------------------------------------------- supernet_overhead

def _arch(name, sup, sta, logit):
    return {"arch": name, "supernet_step_s": sup, "static_step_s": sta, "max_abs_logit_diff": logit}


def test_supernet_overhead_headline_known_answers():
    """Per arch the supernet/static ratio of each repeat (median, min, max, n) and each network's median step:
    A: 3/1, 2/2, 4/2 = 3, 1, 2 -> median 2; B: 1.1, 1.0, 1.2, 0.9 -> median 1.05 (even count); C: 0.5.
    Over archs: median of 2, 1.05, 0.5 = 1.05 <= 1.10 (goal met), spread 0.5..2, largest logit diff (B's)."""
    archs = [_arch("A", [3.0, 2.0, 4.0], [1.0, 2.0, 2.0], 1e-5), _arch("B", [1.1, 1.0, 1.2, 0.9], [1.0] * 4, 3e-5),
             _arch("C", [1.0], [2.0], 2e-5)]
    h = so.headline({"raw": {"archs": archs}})
    assert h == A({
        "median_step_ratio": 1.05, "median_step_ratio_ci": None,  # 3 archs: no interval below 5 values (issue 29)
        "step_ratio_spread": {"median": 1.05, "min": 0.5, "max": 2.0, "n": 3},
        "max_abs_logit_diff": 3e-5, "goal": {"median_step_ratio_max": 1.1, "met": True},
        "archs": [
            {"arch": "A", "ratio": {"median": 2.0, "min": 1.0, "max": 3.0, "n": 3}, "supernet_step_s": 3.0,
             "static_step_s": 2.0, "max_abs_logit_diff": 1e-5},
            {"arch": "B", "ratio": {"median": 1.05, "min": 0.9, "max": 1.2, "n": 4}, "supernet_step_s": 1.05,
             "static_step_s": 1.0, "max_abs_logit_diff": 3e-5},
            {"arch": "C", "ratio": {"median": 0.5, "min": 0.5, "max": 0.5, "n": 1}, "supernet_step_s": 1.0,
             "static_step_s": 2.0, "max_abs_logit_diff": 2e-5}]})
    assert isinstance(h["archs"][0]["static_step_s"], float)


def test_supernet_overhead_median_is_a_float():
    """_median of integer step counts is still a float (a JSON figure), and the middle value, not the mean."""
    got = so._median([1, 2, 9])
    assert got == 2.0 and isinstance(got, float)


def test_supernet_overhead_boundaries_and_protocol(monkeypatch):
    """Below 5 archs no interval (None; 4 is the last without, 5 the first with); a ratio of exactly 1.10 meets
    the goal, just above does not; the repeats of the two networks must pair up (unequal counts fail); the
    interval follows the module's protocol (N_BOOT, LEVEL, SEED)."""
    one = so.headline({"raw": {"archs": [_arch("A", [1.1], [1.0], 0.0)]}})
    assert one["median_step_ratio_ci"] is None
    assert one["goal"] == {"median_step_ratio_max": 1.1, "met": True}
    above = so.headline({"raw": {"archs": [_arch("A", [1.2], [1.0], 0.0), _arch("B", [1.2], [1.0], 0.0)]}})
    assert above["goal"]["met"] is False and above["median_step_ratio_ci"] is None
    four = [_arch(str(i), [1.2], [1.0], 0.0) for i in range(4)]
    assert so.headline({"raw": {"archs": four}})["median_step_ratio_ci"] is None
    five = so.headline({"raw": {"archs": four + [_arch("4", [1.2], [1.0], 0.0)]}})["median_step_ratio_ci"]
    assert five == pytest.approx([1.2, 1.2], rel=1e-12)
    with pytest.raises(ValueError):
        so.headline({"raw": {"archs": [_arch("A", [1.0, 1.0], [1.0], 0.0)]}})
    ratios = [1.27, 0.95, 1.39, 1.34, 1.44, 1.01, 1.35, 0.94, 1.29, 1.06]  # picked so each setting matters
    archs = [_arch(str(i), [r], [1.0], 0.0) for i, r in enumerate(ratios)]
    mid = lambda xs: float(statistics.median(xs))  # noqa: E731
    assert so.headline({"raw": {"archs": archs}})["median_step_ratio_ci"] == list(
        stats.bootstrap_ci(mid, ratios, n_boot=2000, level=0.95, seed=0))
    monkeypatch.setattr(so, "N_BOOT", 41)
    monkeypatch.setattr(so, "LEVEL", 0.5)
    monkeypatch.setattr(so, "SEED", 5)
    got = so.headline({"raw": {"archs": archs}})["median_step_ratio_ci"]
    assert got == list(stats.bootstrap_ci(mid, ratios, n_boot=41, level=0.5, seed=5))
    assert got != list(stats.bootstrap_ci(mid, ratios, level=0.5, seed=5))
    assert got != list(stats.bootstrap_ci(mid, ratios, n_boot=41, seed=5))
    assert got != list(stats.bootstrap_ci(mid, ratios, n_boot=41, level=0.5))


# ----------------------------------------------------------------------------------------------- throughput

CL, NCHW, ONE = "channels_last-fp32-T", "contiguous-fp32-T", "channels_last-fp32-1"


def _tp(path, variant, kind, rnd, images, steps):
    return {"round": rnd, "path": path, "variant": variant, "kind": kind, "images": images, "step_s": steps}


def test_throughput_headline_whole_output():
    """img/s of a record = images / median step (a round's median: 100 / 0.5 = 200, not the mean of its steps);
    a figure = the median over rounds. Largest: CL 200, 400, 100 -> 200 vs bare 250 (NCHW bare 125; the
    1-thread variant's 10000 never counts) -> 0.8; speedup CL/NCHW per round 2, 2, 2. Middle: 90 vs bare
    max(100, NCHW 200) -> 0.45, speedups 90/60, 90/30, 90/72 -> median 1.5. LUT: 10 vs 40 -> 0.25 but not held.
    min ratio over the held paths 0.45 < 0.9; middle's speedup 1.5 < 2: both goals fail."""
    L, M, U = "supernet_largest", "supernet_middle", "lut"
    recs = []
    for r in range(3):
        recs += [_tp(L, CL, "project", r, 100, [[0.5, 0.25, 2.0], [0.25], [1.0]][r]),
                 _tp(L, CL, "bare", r, 100, [[0.4], [0.2], [0.8]][r]),
                 _tp(L, NCHW, "project", r, 100, [[1.0], [0.5], [2.0]][r]),
                 _tp(L, NCHW, "bare", r, 100, [[0.8], [0.4], [1.6]][r]),
                 _tp(L, ONE, "project", r, 100, [0.05]), _tp(L, ONE, "bare", r, 100, [0.01]),
                 _tp(M, CL, "project", r, 90, [1.0]), _tp(M, CL, "bare", r, 100, [1.0]),
                 _tp(M, NCHW, "project", r, 90, [[1.5], [3.0], [1.25]][r]), _tp(M, NCHW, "bare", r, 100, [0.5]),
                 _tp(U, CL, "project", r, 10, [1.0]), _tp(U, CL, "bare", r, 20, [1.0]),
                 _tp(U, NCHW, "project", r, 10, [1.0]), _tp(U, NCHW, "bare", r, 40, [1.0])]
    h = tp.headline({"raw": {"rounds": recs}})
    assert h == A({
        "paths": {L: {"img_s": 200.0, "bare_img_s": 250.0, "bare_best_variant": CL, "ratio": 0.8, "held_to_ratio": True},
                  M: {"img_s": 90.0, "bare_img_s": 200.0, "bare_best_variant": NCHW, "ratio": 0.45,
                      "held_to_ratio": True},
                  U: {"img_s": 10.0, "bare_img_s": 40.0, "bare_best_variant": NCHW, "ratio": 0.25,
                      "held_to_ratio": False}},
        "img_s": {L: {CL: {"project": 200.0, "bare": 250.0}, NCHW: {"project": 100.0, "bare": 125.0},
                      ONE: {"project": 2000.0, "bare": 10000.0}},
                  M: {CL: {"project": 90.0, "bare": 100.0}, NCHW: {"project": 60.0, "bare": 200.0}},
                  U: {CL: {"project": 10.0, "bare": 20.0}, NCHW: {"project": 10.0, "bare": 40.0}}},
        "min_ratio_vs_bare": 0.45,
        "speedup_vs_nchw": {L: {"median": 2.0, "per_round": [2.0, 2.0, 2.0]},
                            M: {"median": 1.5, "per_round": [1.5, 3.0, 1.25]}},
        "goals": {"min_ratio_vs_bare_at_least_0.9": False, "supernet_speedup_at_least_2": False}})


def test_throughput_headline_goal_boundaries_and_paths():
    """Both goals inclusive: a held ratio of exactly 0.9 (180 / 200) and speedups of exactly 2 meet them.
    Speedups are reported for the sandwich, largest, middle and fit paths present (not evaluation); the speedup
    goal looks at largest and middle only, each alone deciding it; a bare tie goes to the first variant."""
    S, M, F, E, L = "supernet_sandwich", "supernet_middle", "fit", "evaluation", "supernet_largest"

    def path(p, proj, bare, nproj, nbare):  # images over a 0.5 s step: img/s = 2 x images
        return [_tp(p, CL, "project", 0, proj / 2, [0.5]), _tp(p, CL, "bare", 0, bare / 2, [0.5]),
                _tp(p, NCHW, "project", 0, nproj / 2, [0.5]), _tp(p, NCHW, "bare", 0, nbare / 2, [0.5])]

    recs = [*path(S, 180, 200, 90, 100), _tp(S, ONE, "bare", 0, 1000, [0.5]), *path(M, 200, 200, 100, 20),
            *path(F, 200, 200, 200, 200), *path(E, 200, 200, 100, 100)]
    h = tp.headline({"raw": {"rounds": recs}})
    assert h["paths"][S] == {"img_s": 180.0, "bare_img_s": 200.0, "bare_best_variant": CL, "ratio": 0.9,
                             "held_to_ratio": True}
    assert h["paths"][F]["bare_best_variant"] == CL and h["paths"][E]["held_to_ratio"] is True
    assert h["min_ratio_vs_bare"] == 0.9
    assert h["speedup_vs_nchw"] == {S: {"median": 2.0, "per_round": [2.0]}, M: {"median": 2.0, "per_round": [2.0]},
                                    F: {"median": 1.0, "per_round": [1.0]}}
    assert h["goals"] == {"min_ratio_vs_bare_at_least_0.9": True, "supernet_speedup_at_least_2": True}
    low = tp.headline({"raw": {"rounds": path(L, 190, 190, 100, 100)}})  # largest alone, 1.9x
    assert low["speedup_vs_nchw"] == A({L: {"median": 1.9, "per_round": [1.9]}})
    assert low["goals"] == {"min_ratio_vs_bare_at_least_0.9": True, "supernet_speedup_at_least_2": False}
    both = tp.headline({"raw": {"rounds": [*path(L, 200, 200, 100, 100), *path(M, 200, 200, 100, 100)]}})
    assert both["goals"]["supernet_speedup_at_least_2"] is True
    under = tp.headline({"raw": {"rounds": [*path(L, 200, 200, 100, 100), *path(M, 100, 100, 100, 100)]}})
    assert under["goals"]["supernet_speedup_at_least_2"] is False  # middle at 1x fails it although largest is 2x


def test_throughput_step_timer_records_each_step_end():
    """StepTimer starts empty and records the time of each training step's end; steps are the differences."""
    t = StepTimer()
    assert t.ends == [] and t.steps == []
    t.on_train_batch_end(None, None, None, None, 0)
    t.on_train_batch_end(None, None, None, None, 1)
    assert len(t.ends) == 2 and all(isinstance(x, float) for x in t.ends)
    assert len(t.steps) == 1 and t.steps[0] >= 0.0


# ------------------------------------------------------------------------------------------------- walltime

def test_walltime_headline_whole_output():
    """Each item's before/after wall time, after/before ratio (300/200 = 1.5, 450/900 = 0.5), exit status 0 = ok
    (1 and 2 are failures), and the 1-minute load (first of the three) before each run."""
    raw = {"old_quickstart": {"wall_s": 200.0, "returncode": 1, "load_before": [0.1, 0.5, 0.6]},
           "new_quickstart": {"wall_s": 300.0, "returncode": 0, "load_before": [0.2, 0.7, 0.8]},
           "old_tests": {"wall_s": 900.0, "returncode": 0, "load_before": [1.1, 1.5, 1.6]},
           "new_tests": {"wall_s": 450.0, "returncode": 2, "load_before": [1.2, 1.7, 1.8]}}
    assert wt.headline({"refs": ["old", "new"], "raw": raw}) == {"walltimes": {
        "quickstart": {"before_s": 200.0, "after_s": 300.0, "ratio": 1.5, "before_ok": False, "after_ok": True,
                       "load_1min_before_run": [0.1, 0.2]},
        "tests": {"before_s": 900.0, "after_s": 450.0, "ratio": 0.5, "before_ok": True, "after_ok": False,
                  "load_1min_before_run": [1.1, 1.2]}}}


# ------------------------------------------------------------------------------------------------ recompute

SCRIPTS = {
    "kt_with": "def headline(result):\n    return {'a': 1.0, 'b': [1, 2], 'n': len(result['raw'])}\n",
    "kt_without": "X = 1\n",
    "kt_inputs": ("def headline(result):\n    return {}\n\n"
                  "def inputs(result, results_dir):\n    return [results_dir / 'x.json'], [result['benchmark']]\n"),
    "kt_raise": ("ERRORS = {'key': KeyError, 'type': TypeError, 'value': ValueError, 'zero': ZeroDivisionError,\n"
                 "          'runtime': RuntimeError}\n\n"
                 "def headline(result):\n    raise ERRORS[result['raw']['err']]('boom')\n"),
}


@pytest.fixture(name="rc")
def _rc(tmp_path, monkeypatch):
    """bench/recompute.py reading scripts from a folder of fake ones (SCRIPTS), imported from there as
    ``bench.<name>``, and results from tmp/results; the package's path and the modules it imports are restored
    afterwards."""
    import bench

    here = tmp_path / "scripts"
    here.mkdir()
    for name, text in SCRIPTS.items():
        (here / f"{name}.py").write_text(text)
    (tmp_path / "results").mkdir()
    monkeypatch.setattr(recompute, "HERE", here)
    monkeypatch.setattr(recompute, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(bench, "__path__", [str(here), *bench.__path__])  # where the import finds them
    yield recompute
    for name in SCRIPTS:
        sys.modules.pop(f"bench.{name}", None)
        vars(bench).pop(name, None)


def test_recompute_module_loads_a_script_as_bench_name(rc):
    """A script is imported as ``bench.<name>`` (mutation testing names it so), registered in sys.modules (dataclasses
    look their module up there), from bench/ (``HERE``); a missing one is named."""
    mod = rc._module("kt_with")
    assert mod.__name__ == "bench.kt_with" and sys.modules["bench.kt_with"] is mod
    assert mod.__file__ == str(rc.HERE / "kt_with.py")
    assert mod.headline({"raw": [1, 2, 3]}) == {"a": 1.0, "b": [1, 2], "n": 3}
    with pytest.raises(LookupError) as e:
        rc._module("kt_missing")
    assert str(e.value) == "no script bench/kt_missing.py"


def test_recompute_headline_fn(rc):
    """The script's own headline function; a script without one is a LookupError that says so."""
    fn = rc._headline_fn("kt_with")
    assert fn.__module__ == "bench.kt_with" and fn({"raw": {}}) == {"a": 1.0, "b": [1, 2], "n": 0}
    with pytest.raises(LookupError) as e:
        rc._headline_fn("kt_without")
    assert str(e.value) == "bench/kt_without.py has no headline(result) function"
    with pytest.raises(LookupError) as e:
        rc._headline_fn("kt_missing")
    assert str(e.value) == "no script bench/kt_missing.py"


def test_recompute_mismatches_known_answers():
    """Paths of the differences (a.b[1].c), floats to a relative 1e-9 or an absolute 1e-12, nan = nan, a bool is
    not a number, a missing figure is '<missing>', a stored non-mapping or a list of another length is reported
    whole; extra stored keys are not figures."""
    m = recompute.mismatches
    assert m({"a": {"b": [1, {"c": 2}]}, "z": 9}, {"a": {"b": [1, {"c": 2}]}}) == []
    assert m({"a": {"b": [1, {"c": 2}]}}, {"a": {"b": [1, {"c": 3}]}}) == ["a.b[1].c: stored 2 vs recomputed 3"]
    assert m({"a": 1, "b": 2}, {"b": 3, "a": 0, "c": 1.5}) == [
        "b: stored 2 vs recomputed 3", "a: stored 1 vs recomputed 0", "c: stored '<missing>' vs recomputed 1.5"]
    assert m({"a": 5}, {"a": {"b": 1}}) == ["a: stored 5 is not a mapping"]
    assert m(5, {"b": 1}) == [": stored 5 is not a mapping"]
    assert m({"a": "x"}, {"a": [1]}) == ["a: stored 'x' vs recomputed [1]"]
    assert m({"a": [1, 2, 3]}, {"a": [1, 2]}) == ["a: stored [1, 2, 3] vs recomputed [1, 2]"]
    assert m([1, 2], (1, 2)) == [] and m((1, 2), [1, 2]) == [] and m([[1.0]], [[1.0]]) == []
    assert m([1, 2], [1, 5]) == ["[1]: stored 2 vs recomputed 5"]
    assert m(1.0, 1.0 + 0.5e-9) == [] and m(1.0, 1.0 + 2e-9) == [f": stored 1.0 vs recomputed {1.0 + 2e-9!r}"]
    assert m(0.0, 5e-13) == [] and m(0.0, 2e-12) == [": stored 0.0 vs recomputed 2e-12"]
    assert m(float("nan"), float("nan")) == [] and m(2, 2.0) == []
    assert m(1.0, float("nan")) == [": stored 1.0 vs recomputed nan"]
    assert m(float("nan"), 1.0) == [": stored nan vs recomputed 1.0"]
    # a stored flag is not a number within the tolerance (it is compared with ==)
    assert m(True, 1.0 + 1e-12) == [f": stored True vs recomputed {1.0 + 1e-12!r}"] and m(1.0, 1.0 + 1e-12) == []
    assert m("1.0", 1.0) == [": stored '1.0' vs recomputed 1.0"]
    assert m(None, 1.0) == [": stored None vs recomputed 1.0"]
    assert m({"k": None}, {"k": "v"}) == ["k: stored None vs recomputed 'v'"] and m("v", "v") == []


def test_recompute_absolute_paths_known_answers():
    """Every absolute path in every string, keyed by where it sits; a root-level name ('/tmp') or '/' alone is
    not a machine's path; tuples and numbers hold none."""
    ap = recompute.absolute_paths
    obj = {"a": "/abs/x y /tmp", "b": ["ok", {"c": "x=/etc/passwd,/usr/lib/y"}], "t": ("/a/b",), "n": 3, "s": "/",
           "r": "outputs/bench/x"}
    assert ap(obj) == ["a: absolute path '/abs/x'", "b[1].c: absolute path '/etc/passwd'",
                       "b[1].c: absolute path '/usr/lib/y'"]
    assert ap(["/a/b", ["/c/d"]]) == ["[0]: absolute path '/a/b'", "[1][0]: absolute path '/c/d'"]
    assert ap("/a/b") == [": absolute path '/a/b'"] and ap({}) == [] and ap(None) == []


def _write(path, data):
    path.write_text(json.dumps(data))
    return path


PROV = {"commit": "abc", "command": "python bench/x.py", "config": {}}


def test_recompute_check_known_answers(rc, tmp_path):
    """check(): unreadable, no 'benchmark', no provenance (the missing fields named in order), an absolute path
    (only under bench/results/, before anything is recomputed), no script, raw data that cannot give the figures
    (the four errors a headline may raise, named), and the mismatches of the recomputed figures."""
    missing = tmp_path / "none.json"
    assert rc.check(missing) == [f"cannot read it ([Errno 2] No such file or directory: '{missing}')"]
    (tmp_path / "bad.json").write_text("nope")
    assert rc.check(tmp_path / "bad.json") == ["cannot read it (Expecting value: line 1 column 1 (char 0))"]
    no_bench = ["no 'benchmark' field naming the script that wrote it"]
    assert rc.check(_write(tmp_path / "l.json", [1])) == no_bench
    assert rc.check(_write(tmp_path / "d.json", {"commit": "abc"})) == no_bench
    assert rc.check(_write(tmp_path / "p.json", {"benchmark": "kt_with"})) == [
        "no provenance (commit, command, config missing)"]
    assert rc.check(_write(tmp_path / "p.json", {"benchmark": "kt_with", "command": "c"})) == [
        "no provenance (commit, config missing)"]
    good = {"benchmark": "kt_with", **PROV, "a": 1.0, "b": [1, 2], "n": 2, "raw": {"x": "/abs/run/y", "z": 1}}
    assert rc.check(_write(tmp_path / "g.json", good)) == []  # outside bench/results/: paths are not its business
    assert rc.check(_write(rc.RESULTS / "g.json", good)) == ["raw.x: absolute path '/abs/run/y'"]
    assert rc.check(_write(rc.RESULTS / "m.json", {**good, "benchmark": "kt_missing", "raw": {}})) == [
        "no script bench/kt_missing.py"]
    assert rc.check(_write(rc.RESULTS / "w.json", {**good, "benchmark": "kt_without", "raw": {}})) == [
        "bench/kt_without.py has no headline(result) function"]
    assert rc.check(_write(rc.RESULTS / "e.json", {**good, "a": 1.5, "n": 3, "raw": {"z": 1}})) == [
        "a: stored 1.5 vs recomputed 1.0", "n: stored 3 vs recomputed 1"]
    # a KeyError in the raw data is the data's fault too, though it is a LookupError like a missing script
    for err, text in (("key", "KeyError: 'boom'"), ("type", "TypeError: boom"), ("value", "ValueError: boom"),
                      ("zero", "ZeroDivisionError: boom")):
        r = _write(tmp_path / "r.json", {"benchmark": "kt_raise", **PROV, "raw": {"err": err}})
        assert rc.check(r) == [f"raw data cannot give the headline figures ({text})"]
    with pytest.raises(RuntimeError):  # any other error is a bug of the script, not of the data: it propagates
        rc.check(_write(tmp_path / "r.json", {"benchmark": "kt_raise", **PROV, "raw": {"err": "runtime"}}))


def test_recompute_check_names_the_script_by_the_benchmark_field(rc, tmp_path, monkeypatch):
    """The script is the result's 'benchmark' field as a string (a number names bench/7.py), and its headline is
    given the whole result."""
    seen = []
    monkeypatch.setattr(rc, "_headline_fn", lambda name: seen.append(name) or (lambda d: {"v": d["v"]}))
    assert rc.check(_write(tmp_path / "n.json", {"benchmark": 7, **PROV, "v": 2})) == []
    assert seen == ["7"]


def test_recompute_inputs_of(rc, tmp_path):
    """A script's inputs(result, results_dir) gets the result and bench/results/; a script without one has none."""
    f = _write(tmp_path / "i.json", {"benchmark": "kt_inputs", **PROV})
    assert rc.inputs_of(f) == ([rc.RESULTS / "x.json"], ["kt_inputs"])
    assert rc.inputs_of(_write(tmp_path / "j.json", {"benchmark": "kt_with", **PROV})) == ([], [])
