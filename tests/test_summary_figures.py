"""Known answers for the report's figures (search.pipeline.summary) from models in memory: aggregation over seeds,
noise, dominance and hypervolume ratios. Each expected number is worked out by hand in a comment."""
from __future__ import annotations

import math

import pytest

from search.pipeline.summary import acc_noise, aggregate, dominated_counts, dominates, front, hv_ratio
from search.pipeline.summary import test_hypervolume as hv_of
from core.errors import GreenError


def _rows(name, accs, kwh=(0.1, 0.3), **extra):
    return [{"name": name, "arch": "a", "params": 10, "macs": 20, "seed": i, "replicate": i, "test_acc": a,
             "test_recall": a / 2, "test_images": 400, "train_energy_kwh": kwh[i % len(kwh)],
             "train_energy_source": "codecarbon-estimate", "budget": {"epochs": 3}, **extra}
            for i, a in enumerate(accs)]


SESSION = {"latency_ms": 2.0, "latency_ms_b1_p10": 1.5, "latency_ms_b1_p90": 3.0, "latency_ms_b8": 8.0,
           "latency_ms_b8_p10": 6.0, "latency_ms_b8_p90": 12.0, "energy_mj_per_image": 4.0, "energy_batch_size": 8,
           "energy_source": "codecarbon-estimate (one power figure per session)", "power_w": 4.0}


def test_aggregate_takes_accuracy_over_seeds_and_costs_from_the_session():
    (m,) = aggregate(_rows("w", [0.6, 0.8]), "finetune", {"finetune/w": SESSION}, share_kwh=1.0)
    assert m["kind"] == "winner" and m["seeds"] == [0, 1] and m["test_acc_per_seed"] == [0.6, 0.8]
    assert m["test_acc"] == pytest.approx(0.7) and m["test_acc_std"] == pytest.approx(math.sqrt(0.02))
    assert m["test_recall"] == pytest.approx(0.35) and m["test_images"] == 400
    assert (m["latency_ms"], m["latency_ms_p10"], m["latency_ms_p90"]) == (2.0, 1.5, 3.0)
    assert (m["latency_serving_ms"], m["latency_serving_ms_p10"], m["latency_serving_ms_p90"]) == (8.0, 6.0, 12.0)
    assert m["serving_batch_size"] == 8 and m["energy_mj_per_image"] == 4.0 and m["power_w"] == 4.0
    # one power figure: energy spreads as the serving latency does (6/8 and 12/8 of 4 mJ)
    assert (m["energy_mj_per_image_p10"], m["energy_mj_per_image_p90"]) == (3.0, 6.0)
    assert m["train_kwh"] == pytest.approx(0.2) and m["total_train_kwh"] == pytest.approx(1.2)
    assert m["budget"] == {"epochs": 3} and m["train_energy_source"] == "codecarbon-estimate"


def test_aggregate_orders_replicates_and_refuses_unmeasured_models():
    rows = _rows("b", [0.5, 0.9])[::-1]
    (m,) = aggregate(rows, "baselines", {"baselines/b": SESSION})
    assert m["kind"] == "baseline" and m["test_acc_per_seed"] == [0.5, 0.9] and m["total_train_kwh"] == m["train_kwh"]
    with pytest.raises(GreenError, match="scratch/b has no latency measurement"):
        aggregate(_rows("b", [0.5]), "scratch", {})
    own = {**SESSION, "energy_batch_size": 1, "latency_ms_b1": 2.0}  # measured by its command (no session)
    (m,) = aggregate(_rows("m", [0.5], **own), "mt_train", {})
    assert m["kind"] == "multi-trial" and m["latency_serving_ms"] == 2.0 and m["energy_mj_per_image_p90"] == 6.0


def _m(acc, cost, std=0.0, n=0, spread=0.0, seeds=1):
    return {"name": f"{acc}@{cost}", "test_acc": acc, "test_acc_std": std, "test_images": n,
            "test_acc_per_seed": [acc] * seeds, "latency_ms": cost, "latency_ms_p10": cost - spread,
            "latency_ms_p90": cost + spread, "latency_serving_ms": cost, "latency_serving_ms_p10": cost - spread,
            "latency_serving_ms_p90": cost + spread, "params": cost, "total_train_kwh": cost,
            "energy_mj_per_image": cost,
            "energy_mj_per_image_p10": cost - spread, "energy_mj_per_image_p90": cost + spread}


def test_acc_noise_is_the_larger_of_the_seed_spreads_and_the_test_error():
    assert acc_noise(_m(0.8, 1, std=0.03), _m(0.7, 1, std=0.01)) == 0.03
    assert acc_noise(_m(0.8, 1, std=0.01), _m(0.7, 1, std=0.02)) == 0.02
    # SE of a difference of means over 4 seeds on 100 images: sqrt(.16/100/4 + .21/100/4)
    a, b = _m(0.8, 1, n=100, seeds=4), _m(0.7, 1, n=100, seeds=4)
    assert acc_noise(a, b) == pytest.approx(math.sqrt(0.16 / 400 + 0.21 / 400))
    assert acc_noise(_m(0.8, 1), _m(0.7, 1)) == 0.0  # no test-set size known, no seeds spread


def test_plain_dominance_needs_one_strict_gain():
    assert dominates(_m(0.8, 1), _m(0.8, 2), "latency_ms") and dominates(_m(0.9, 2), _m(0.8, 2), "latency_ms")
    assert not dominates(_m(0.8, 2), _m(0.8, 2), "latency_ms")
    assert not dominates(_m(0.9, 3), _m(0.8, 2), "latency_ms") and not dominates(_m(0.7, 1), _m(0.8, 2), "latency_ms")


def test_dominance_beyond_noise_is_strict_on_both_axes():
    b = _m(0.70, 2.0, std=0.01, spread=0.2)
    assert dominates(_m(0.75, 1.0, std=0.02, spread=0.2), b, "latency_ms", beyond_noise=True)
    assert not dominates(_m(0.715, 1.0, std=0.02, spread=0.2), b, "latency_ms", beyond_noise=True)  # gap < 0.02
    assert not dominates(_m(0.75, 1.6, std=0.02, spread=0.2), b, "latency_ms", beyond_noise=True)  # 1.8 vs 1.8
    assert dominates(_m(0.75, 1.59, std=0.02, spread=0.2), b, "latency_ms", beyond_noise=True)
    assert dominates(_m(0.75, 1.99, std=0.02), _m(0.70, 2.0, std=0.01), "params", beyond_noise=True)  # exact count
    assert not dominates(_m(0.75, 2.0, std=0.02), _m(0.70, 2.0, std=0.01), "params", beyond_noise=True)


def test_front_and_dominated_counts():
    a, b, c = _m(0.9, 3.0), _m(0.8, 1.0), _m(0.7, 2.0)
    assert front([a, b, c], "latency_ms") == [b, a]
    base = [{**_m(0.6, 5.0), "name": "slow"}, {**_m(0.85, 0.5), "name": "fast"}]
    d = dominated_counts([a, b], base, 10)
    assert d["plain"]["latency_ms"] == ["slow"] and d["plain"]["total"] == ["slow"]
    assert d["failed"] == [] and d["of"] == 2
    assert d["beyond_noise"]["energy_mj_per_image"] == ["slow"] and d["beyond_noise"]["total"] == ["slow"]
    assert set(d["plain"]) == {"latency_ms", "latency_serving_ms", "energy_mj_per_image", "params",
                               "total_train_kwh", "total"}


def test_test_hypervolume_and_its_ratio():
    one = [_m(0.9, 1.0, seeds=2), _m(0.6, 0.5, seeds=2)]
    multi = [_m(0.8, 1.0, seeds=2)]
    # over ref (0.1, 1.1): (0.6, 0.5) covers 0.5 x 0.6 = 0.30, (0.9, 1.0) adds (0.9 - 0.6) x 0.1 = 0.03
    assert hv_of(one, (0.1, 1.1)) == pytest.approx(0.33)
    assert hv_of(multi, (0.1, 1.1)) == pytest.approx(0.1 * 0.7)
    r = hv_ratio(one, multi, 10)
    assert r["reference"] == [0.1, pytest.approx(1.1)] and r["seeds"] == 2
    assert r["one_shot_hv"] == pytest.approx(0.33) and r["multi_trial_hv"] == pytest.approx(0.07)
    assert r["ratio"] == pytest.approx(0.33 / 0.07)
    assert r["ratio_per_seed"] == [pytest.approx(0.33 / 0.07)] * 2
    assert r["ratio_ci95"] is None and r["interval"] == "none: fewer than 5 seeds"  # 2 seeds: the values only
    five = hv_ratio([_m(0.9, 1.0, seeds=5), _m(0.6, 0.5, seeds=5)], [_m(0.8, 1.0, seeds=5)], 10)
    assert five["ratio_ci95"] == [pytest.approx(0.33 / 0.07)] * 2  # identical seeds: no spread
    assert five["interval"] == "bootstrap over seeds"
    single = hv_ratio([_m(0.9, 1.0)], [_m(0.8, 1.0)], 10)
    assert single["seeds"] == 1 and single["ratio_ci95"] is None
    assert hv_ratio(one, [_m(0.05, 1.0, seeds=2)], 10)["ratio"] is None  # below chance: nothing to compare


def test_hv_ratio_resamples_the_seeds_of_every_model_together():
    one = [{**_m(0.9, 1.0), "test_acc_per_seed": [0.8, 1.0, 0.8, 1.0, 0.8]}]
    multi = [{**_m(0.5, 1.0), "test_acc_per_seed": [0.4, 0.6, 0.4, 0.6, 0.4]}]
    r = hv_ratio(one, multi, 10)
    # (acc - 0.1) / (acc - 0.1) per seed: 0.7/0.3 for seeds 0, 2, 4 and 0.9/0.5 for seeds 1, 3
    assert r["ratio_per_seed"] == [pytest.approx(x) for x in (7 / 3, 1.8, 7 / 3, 1.8, 7 / 3)]
    # resampled together, a model pair's seeds move together: every resample lies between the two per-seed
    # ratios (resampled apart, 0.9/0.3 = 3 would be reachable)
    lo, hi = r["ratio_ci95"]
    assert 1.8 - 1e-9 <= lo < hi <= 7 / 3 + 1e-9


def test_a_baseline_at_chance_is_a_failed_training_never_counted_as_dominated():
    w = _m(0.9, 1.0)
    base = [{**_m(0.149, 5.0), "name": "chance"}, {**_m(0.16, 5.0), "name": "weak"}]
    d = dominated_counts([w], base, 10)  # chance 0.1: within 5 points is a failed training
    assert d["failed"] == ["chance"] and d["of"] == 1
    assert d["plain"]["latency_ms"] == ["weak"] and d["beyond_noise"]["total"] == ["weak"]
    assert dominated_counts([w], base, 100)["failed"] == []  # chance 0.01: both trained


AGGREGATE_KEYS = {"name", "kind", "stage", "arch", "params", "macs", "seeds", "test_acc_per_seed", "test_acc",
                  "test_acc_std", "test_recall", "test_images", "select_acc", "latency_ms", "latency_ms_p10",
                  "latency_ms_p90", "latency_serving_ms", "latency_serving_ms_p10", "latency_serving_ms_p90",
                  "serving_batch_size", "energy_mj_per_image", "energy_source", "power_w", "train_kwh",
                  "total_train_kwh", "train_energy_source", "budget", "energy_mj_per_image_p10",
                  "energy_mj_per_image_p90"}


def test_aggregate_names_every_field_and_keeps_the_selection_score():
    rows = [{**r, "select_acc": 0.55, "macs": 30} for r in _rows("w", [0.6, 0.8])]
    (m,) = aggregate(rows, "finetune", {"finetune/w": SESSION})
    assert set(m) == AGGREGATE_KEYS
    assert (m["stage"], m["arch"], m["macs"], m["params"], m["select_acc"]) == ("finetune", "a", 30, 10, 0.55)
    assert m["energy_source"] == SESSION["energy_source"]
    (b,) = aggregate(_rows("b", [0.5]), "baselines", {"baselines/b": SESSION})
    assert b["select_acc"] is None  # only winners were selected on held-out images


def test_aggregate_without_a_session_falls_back_to_the_median_for_the_spread():
    # a model measured by its own command has medians only: its p10-p90 range collapses onto them
    own = {"latency_ms": 2.0, "latency_ms_b1": 2.0, "latency_ms_b4": 5.0, "energy_mj_per_image": 1.0,
           "energy_batch_size": 4, "energy_source": "codecarbon-estimate"}
    (m,) = aggregate(_rows("m", [0.5], **own), "mt_train", {})
    assert (m["latency_ms_p10"], m["latency_ms_p90"]) == (2.0, 2.0)
    assert m["latency_serving_ms"] == 5.0 and (m["latency_serving_ms_p10"], m["latency_serving_ms_p90"]) == (2.0, 2.0)
    assert m["power_w"] is None and m["serving_batch_size"] == 4


def test_dominance_beyond_noise_needs_more_than_the_noise():
    a, b = _m(0.75, 1.0, std=0.25), _m(0.5, 2.0)
    assert acc_noise(a, b) == 0.25 and a["test_acc"] - b["test_acc"] == 0.25
    assert not dominates(a, b, "params", beyond_noise=True)  # exactly the noise is not beyond it
    assert dominates(_m(0.875, 1.0, std=0.25), b, "params", beyond_noise=True)


def test_dominated_total_needs_both_latency_and_energy():
    w = {**_m(0.9, 1.0), "energy_mj_per_image": 5.0, "energy_mj_per_image_p10": 5.0, "energy_mj_per_image_p90": 5.0}
    base = [{**_m(0.5, 2.0), "name": "slow"}]  # slower than the winner, but cheaper in energy (2 < 5)
    d = dominated_counts([w], base, 10)
    assert d["plain"]["latency_ms"] == ["slow"] and d["plain"]["energy_mj_per_image"] == []
    assert d["plain"]["total"] == [] and d["beyond_noise"]["total"] == []


def test_hv_ratio_reference_is_beyond_the_costliest_model():
    r = hv_ratio([_m(0.9, 20.0)], [_m(0.8, 10.0)], 4)
    assert r["reference"] == [0.25, pytest.approx(22.0)]
    assert r["one_shot_hv"] == pytest.approx(0.65 * 2.0) and r["multi_trial_hv"] == pytest.approx(0.55 * 12.0)
