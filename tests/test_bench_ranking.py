"""The ranking benchmark's protocol without training anything: the cost-stratified pick, the headline
figures that ``bench/recompute.py`` recomputes from the raw data (against a ground-truth table), regret
and the cross-validated predictor's figures."""
import json
import math
import random

import pytest

from bench import ranking, ranking_methods, recompute
from search.stats import accuracy_se, bootstrap_ci, kendall


class Opaque:
    """A subnet stand-in that fails on any look inside it: the pick may only move it around."""

    def __init__(self, i):
        object.__setattr__(self, "_i", i)

    def __getattr__(self, name):
        raise AssertionError(f"stratified_pool looked at .{name} of an item")

    __eq__ = __lt__ = __hash__ = lambda self, *a: (_ for _ in ()).throw(AssertionError("compared an item"))


def test_stratified_pool_reads_only_costs_and_covers_every_stratum():
    r = random.Random(1)
    macs = [r.uniform(1e6, 9e6) for _ in range(40)]
    items = [Opaque(i) for i in range(40)]
    picked = ranking.stratified_pool(items, macs, 4, 3, random.Random(0))
    assert [s for _, s in picked] == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 3
    ids = [object.__getattribute__(it, "_i") for it, _ in picked]
    assert len(set(ids)) == 12
    # bin s holds the items ranked 10 s .. 10 s + 9 by MACs
    rank = {i: r for r, i in enumerate(sorted(range(40), key=lambda i: macs[i]))}
    assert all(rank[i] // 10 == s for i, (_, s) in zip(ids, picked))


def test_stratified_pool_is_seeded_random_within_a_stratum():
    macs = list(range(100))
    a = ranking.stratified_pool(list(range(100)), macs, 2, 3, random.Random(0))
    assert a == ranking.stratified_pool(list(range(100)), macs, 2, 3, random.Random(0))
    draws = {tuple(ranking.stratified_pool(list(range(100)), macs, 2, 3, random.Random(s))) for s in range(5)}
    assert len(draws) > 1  # not the first or cheapest of each bin every time
    assert all(x < 50 for x, s in a if s == 0) and all(x >= 50 for x, s in a if s == 1)


def test_stratified_pool_takes_what_a_small_bin_has_and_rejects_bad_input():
    assert sorted(ranking.stratified_pool(["a", "b", "c"], [3, 1, 2], 3, 5, random.Random(0))) == \
        [("a", 2), ("b", 0), ("c", 1)]
    with pytest.raises(ValueError, match="cannot fill 3 strata"):
        ranking.stratified_pool(["a", "b"], [1, 2], 3, 1, random.Random(0))
    with pytest.raises(ValueError, match="MAC counts"):
        ranking.stratified_pool(["a", "b"], [1], 1, 1, random.Random(0))
    with pytest.raises(ValueError, match=">= 1"):
        ranking.stratified_pool(["a", "b"], [1, 2], 1, 0, random.Random(0))


@pytest.fixture
def fast_bootstrap(monkeypatch):
    """200 resamples instead of the protocol's 2000: scipy's Kendall tau costs about a millisecond a call."""
    monkeypatch.setattr(ranking, "N_BOOT", 200)


def test_bootstrap_protocol_is_2000_resamples_95pct_seed_0():
    assert (ranking.N_BOOT, ranking.LEVEL, ranking.SEED) == (2000, 0.95, 0)


# -- the ground-truth-table benchmark (issue 13) -------------------------------------------------

def test_budgets_are_the_thirds_of_the_cost_range():
    assert ranking.budgets(list(range(1, 10))) == [3, 6, 9]
    assert ranking.budgets([5, 1, 3]) == [1, 3, 5]
    assert ranking.budgets([7]) == [7, 7, 7]


def test_regret_known_answers():
    truth, macs = {"a": 0.5, "b": 0.6, "c": 0.7}, {"a": 1, "b": 2, "c": 3}
    scores = {"a": 0.9, "b": 0.1, "c": 0.2}
    assert ranking.regret(scores, truth, macs, 3, 1) == pytest.approx(20.0)
    assert ranking.regret(scores, truth, macs, 3, 2) == pytest.approx(0.0)
    assert ranking.regret(scores, truth, macs, 2, 1) == pytest.approx(10.0)
    assert ranking.regret(scores, truth, macs, 2, 5) == pytest.approx(0.0)
    assert math.isnan(ranking.regret(scores, truth, macs, 0.5, 1))
    # a tie in the score goes to the cheaper subnet
    assert ranking.regret({"a": 0.3, "b": 0.3, "c": 0.3}, truth, macs, 3, 1) == pytest.approx(20.0)


def _table_raw():
    # five subnets, two seeds; seed 1 swaps the middle pair, so the noise ceiling is 0.8
    s0 = [0.10, 0.20, 0.30, 0.40, 0.50]
    s1 = [0.12, 0.32, 0.28, 0.42, 0.52]
    roles = ["smallest", "sampled", "sampled", "sampled", "largest"]
    rows = [{"arch": f"a{i}", "seed": i + 1000 * rep, "replicate": rep, "role": roles[i], "stratum": 0,
             "macs": 10 * (i + 1), "params": i, "test_acc": (s0, s1)[rep][i], "val_acc": 0.0, "test_recall": 0.0,
             "train_kwh": 1e-6} for rep in (0, 1) for i in range(5)]
    perfect = {f"a{i}": (s0[i] + s1[i]) / 2 for i in range(5)}
    reverse = {f"a{i}": 1 - perfect[f"a{i}"] for i in range(5)}
    return {"table": rows, "default": "good",
            "methods": {"good": {"val_images": 100, "scores": perfect}, "bad": {"val_images": 100, "scores": reverse}}}


def test_table_headline_known_answers(fast_bootstrap):
    h = ranking.headline({"raw": _table_raw()})
    assert h["method"] == "good" and h["n_subnets"] == 5 and h["n_rows"] == 10
    assert h["noise_ceiling_tau"] == pytest.approx(0.8, rel=1e-12)
    assert h["noise_ceiling_tau_no_extremes"] == pytest.approx(1 / 3, rel=1e-12)
    assert h["kendall_tau"] == pytest.approx(1.0) and h["kendall_tau_no_extremes"] == pytest.approx(1.0)
    assert h["top5_regret_points"] == pytest.approx(0.0) and h["top1_regret_points"] == pytest.approx(0.0)
    bad = h["methods"]["bad"]
    assert bad["kendall_tau"] == pytest.approx(-1.0) and bad["spearman"] == pytest.approx(-1.0)
    # budgets 20, 40, 50 MACs; "bad" keeps the cheapest: truth 0.26 vs 0.11, 0.41 vs 0.11, 0.51 vs 0.11
    assert bad["budgets_macs"] == [20.0, 40.0, 50.0]
    assert bad["top1_regret_points_per_budget"] == pytest.approx([15.0, 30.0, 40.0])
    assert bad["top1_regret_points"] == pytest.approx(85 / 3)
    assert bad["score_se_max"] == pytest.approx(accuracy_se(0.49, 100))  # the score nearest one half
    assert h["goal"] == {"n_subnets_ge_32": False, "noise_ceiling_tau_ge_0.6": True,  # ceiling 0.8, few subnets
                         "kendall_tau_no_extremes_ge_0.6": True,
                         "kendall_tau_no_extremes_ge_0.8_noise_ceiling": True,
                         "top5_regret_le_0.5_random": True}  # no regret at all: within any share of chance
    # intervals resample whole subnets (paired) with the module's protocol (resamples cut to 200 here)
    s0, s1 = [0.10, 0.20, 0.30, 0.40, 0.50], [0.12, 0.32, 0.28, 0.42, 0.52]
    assert h["noise_ceiling_tau_ci"] == list(bootstrap_ci(kendall, s0, s1, n_boot=200, level=0.95, seed=0))
    # the paired comparison with the default (without the extremes): the reverse order loses 2 in tau
    assert bad["vs_default"]["kendall_tau_no_extremes_diff"] == pytest.approx(-2.0)
    assert bad["vs_default"]["better_beyond_noise"] is False and h["best_method"] == "good"
    raw = _table_raw()
    raw["default"] = "bad"
    h = ranking.headline({"raw": raw})
    assert h["goal"]["kendall_tau_no_extremes_ge_0.6"] is False
    good = h["methods"]["good"]["vs_default"]
    # ahead by 2, but over 3 subnets without the extremes: no interval below 5 values, so no claim beyond noise
    assert good["kendall_tau_no_extremes_diff"] == pytest.approx(2.0)
    assert all(math.isnan(x) for x in good["kendall_tau_no_extremes_diff_ci"])
    assert good["better_beyond_noise"] is False and h["best_method"] == "bad"


def test_better_beyond_noise_needs_the_whole_interval_above_zero():
    """A method ahead of the default on these subnets, but by less than the noise (its interval straddles 0),
    is not better beyond noise: the lower bound decides, not the upper one."""
    archs = [f"a{i}" for i in range(8)]
    truth = {a: float(i) for i, a in enumerate(archs)}
    base = dict(zip(archs, [1.0, 0.0, 3.0, 2.0, 4.0, 6.0, 5.0, 7.0]))    # three swapped pairs
    method = dict(zip(archs, [1.0, 0.0, 2.0, 3.0, 4.0, 5.0, 7.0, 6.0]))  # two
    out = ranking.versus(method, base, truth, archs)
    lo, hi = out["kendall_tau_no_extremes_diff_ci"]
    assert out["kendall_tau_no_extremes_diff"] > 0 and lo < 0 < hi
    assert out["better_beyond_noise"] is False
    ahead = ranking.versus(truth, dict(zip(archs, [7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0, 0.0])), truth, archs)
    assert ahead["kendall_tau_no_extremes_diff_ci"][0] > 0 and ahead["better_beyond_noise"] is True


def test_best_method_keeps_the_default_within_noise():
    ties = {"method": "a", "methods": {"a": {}, "b": {"vs_default": {"kendall_tau_no_extremes_diff": 0.3,
                                                                      "better_beyond_noise": False}},
                                       "a+predictor": {"splits": 3}}}
    assert ranking.best_method(ties) == "a"
    ties["methods"]["c"] = {"vs_default": {"kendall_tau_no_extremes_diff": 0.1, "better_beyond_noise": True}}
    ties["methods"]["d"] = {"vs_default": {"kendall_tau_no_extremes_diff": 0.2, "better_beyond_noise": True}}
    assert ranking.best_method(ties) == "d"


def test_table_headline_recomputes_and_catches_an_edit(bench_result, fast_bootstrap):
    path, result = bench_result(recompute, "ranking", ranking.headline, _table_raw())
    bad = json.loads(json.dumps(result))
    bad["raw"]["methods"]["good"]["scores"]["a1"] = 0.9  # a1 now ranked first: tau falls
    path.write_text(json.dumps(bad))
    assert any(p.startswith("kendall_tau:") for p in recompute.check(path))


@pytest.mark.parametrize("spec, message", [("x", "expected NAME=CHECKPOINT"), ("=a", "expected NAME=CHECKPOINT"),
                                           ("a=/no/such.ckpt", "no checkpoint")])
def test_parse_methods_bad_input(spec, message):
    with pytest.raises(ValueError, match=message):
        ranking_methods.parse_methods([spec])


def test_parse_methods_twice(tmp_path):
    ck = tmp_path / "a.ckpt"
    ck.write_text("x")
    assert ranking_methods.parse_methods([f"a={ck}"]) == {"a": [ck]}
    assert ranking_methods.parse_methods([f"f={ck},{ck}"]) == {"f": [ck, ck]}  # the parts of a few-shot split
    with pytest.raises(ValueError, match="are the predictors'"):
        ranking_methods.parse_methods([f"a+predictor={ck}"])
    with pytest.raises(ValueError, match="given twice"):
        ranking_methods.parse_methods([f"a={ck}", f"a={ck}"])


def test_cross_validated_predictor_known_answers(fast_bootstrap):
    raw = _table_raw()
    truth = raw["methods"]["good"]["scores"]
    # split 1 holds out a0, a1, a2, a3 and predicts them perfectly; split 2 holds out a1, a2, a3, a4 reversed
    raw["methods"]["bad+predictor"] = {"base": "bad", "kind": "ridge", "splits": [
        {"fit": ["a4"], "pred": {a: truth[a] for a in ("a0", "a1", "a2", "a3")}},
        {"fit": ["a0"], "pred": {a: -truth[a] for a in ("a1", "a2", "a3", "a4")}}]}
    f = ranking.headline({"raw": raw})["methods"]["bad+predictor"]
    assert (f["splits"], f["fit_subnets"], f["held_out_subnets"]) == (2, 1, 4)
    assert f["kendall_tau"] == pytest.approx(0.0) and f["kendall_tau_sd_over_splits"] == pytest.approx(2 ** 0.5)
    assert f["kendall_tau_base_same_subnets"] == pytest.approx(-1.0)  # "bad" reverses both held-out sets
    # without the extremes: a1, a2, a3 in both splits: +1 and -1
    assert f["kendall_tau_no_extremes"] == pytest.approx(0.0)
    # split 2 keeps a1 (0.26) under budgets 30, 40, 50 MACs (of the held-out costs): 3, 15 and 25 points lost
    assert f["top1_regret_points"] == pytest.approx((0.0 + (3 + 15 + 25) / 3) / 2)


def test_training_cost_adds_the_one_shot_supernet_under_few_shot_parts(tmp_path):
    def run(name, kwh, sec, source="codecarbon-estimate"):
        (tmp_path / name / "checkpoints").mkdir(parents=True)
        (tmp_path / name / "energy_train.json").write_text(json.dumps({"energy_kwh": kwh, "seconds": sec,
                                                                       "source": source}))
        return tmp_path / name / "checkpoints" / "last.ckpt"

    one = run("oneshot", 1.0, 100.0)
    parts = [run("p2", 0.25, 10.0), run("p3", 0.5, 20.0, "nvml")]
    metas = [{"fewshot": {"init_from": str(one)}}] * 2
    cost = ranking_methods.training_cost(metas, parts)
    assert cost["kwh"] == pytest.approx(1.75) and cost["seconds"] == pytest.approx(130.0)
    assert cost["sources"] == ["codecarbon-estimate", "nvml"]
    assert ranking_methods.training_cost([{}], [one])["kwh"] == pytest.approx(1.0)
    (tmp_path / "p2" / "energy_train.json").unlink()
    assert ranking_methods.training_cost(metas, parts)["kwh"] is None
