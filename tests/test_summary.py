"""Known answers for the report's figures (search.pipeline.summary): aggregation over seeds, noise, dominance,
hypervolume ratios and the energy ledger. Each expected number is worked out by hand in a comment."""
from __future__ import annotations

import json
import math

import pytest

from search.pipeline.summary import (acc_noise, aggregate, dominated_counts, dominates, front, hv_ratio, ledger, summarise,
                            test_hypervolume as hv_of)
from supernet.errors import GreenError


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
    d = dominated_counts([a, b], base)
    assert d["plain"]["latency_ms"] == ["slow"] and d["plain"]["total"] == ["slow"]
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
    assert r["ratio_ci95"] == [pytest.approx(0.33 / 0.07)] * 2  # identical seeds: no spread
    single = hv_ratio([_m(0.9, 1.0)], [_m(0.8, 1.0)], 10)
    assert single["seeds"] == 1 and all(math.isnan(x) for x in single["ratio_ci95"])
    assert hv_ratio(one, [_m(0.05, 1.0, seeds=2)], 10)["ratio"] is None  # below chance: nothing to compare


def test_hv_ratio_resamples_the_seeds_of_every_model_together():
    one = [{**_m(0.9, 1.0), "test_acc_per_seed": [0.8, 1.0]}]
    multi = [{**_m(0.5, 1.0), "test_acc_per_seed": [0.4, 0.6]}]
    r = hv_ratio(one, multi, 10)
    # (acc - 0.1) / (acc - 0.1): both seeds 1 -> 0.9/0.5, mixed -> 0.8/0.4, both seeds 0 -> 0.7/0.3
    assert r["ratio"] == pytest.approx(0.8 / 0.4)
    assert r["ratio_ci95"] == [pytest.approx(0.9 / 0.5), pytest.approx(0.7 / 0.3)]


def _energy(root, stage, name, kwh, seconds=1.0, source="codecarbon-estimate"):
    (root / stage).mkdir(parents=True, exist_ok=True)
    (root / stage / name).write_text(json.dumps({"energy_kwh": kwh, "co2eq_kg": kwh / 4, "seconds": seconds,
                                                 "source": source}))


def test_ledger_sums_every_codecarbon_file_of_a_stage(tmp_path):
    _energy(tmp_path, "finetune", "energy_a.json", 0.5, 2.0)
    (tmp_path / "finetune" / "energy").mkdir()
    _energy(tmp_path, "finetune/energy", "energy_b.json", 0.25, 3.0, "codecarbon:rapl")
    led = ledger(tmp_path)
    f = led["finetune"]
    assert (f["energy_kwh"], f["co2eq_kg"], f["seconds"], f["files"]) == (0.75, 0.1875, 5.0, 2)
    assert f["sources"] == ["codecarbon-estimate", "codecarbon:rapl"]
    assert led["train"] == {"energy_kwh": 0, "co2eq_kg": 0, "seconds": 0, "files": 0, "sources": []}
    assert list(led) == ["train", "lut", "search", "finetune", "scratch", "baselines", "fidelity", "mt_search",
                         "mt_train", "measure"]


def test_summarise_needs_winners(tmp_path):
    with pytest.raises(GreenError, match="has no fine-tuned winners"):
        summarise(tmp_path)


def _write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def _stage_models(root, stage, specs, seeds=2):
    """``specs``: name -> (accuracy, own kWh per run); written as ``seeds`` replicates each."""
    rows = [{"name": n, "arch": n, "params": 10, "macs": 20, "seed": 100 * r, "replicate": r, "test_acc": acc,
             "test_recall": acc, "test_images": 0, "train_energy_kwh": kwh, "train_energy_source": "codecarbon-estimate",
             "epochs": 7, "budget": {"epochs": 7}} for r in range(seeds) for n, (acc, kwh) in specs.items()]
    _write(root / stage / ("baselines.json" if stage == "baselines" else "finetune.json"),
           {"models": rows, "num_classes": 10})


def _cost(lat, energy):
    return {"latency_ms": lat, "latency_ms_b1_p10": lat, "latency_ms_b1_p90": lat, "energy_mj_per_image": energy,
            "energy_batch_size": 1, "energy_source": "codecarbon-estimate (one power figure per session)",
            "power_w": 2.0}


def test_summarise_known_answer(tmp_path):
    _stage_models(tmp_path, "finetune", {"w1": (0.9, 0.25), "w2": (0.8, 0.25)})
    _stage_models(tmp_path, "scratch", {"w1": (0.7, 4.0), "w2": (0.6, 4.0)})
    _stage_models(tmp_path, "baselines", {"b1": (0.5, 0.5)})
    _stage_models(tmp_path, "mt_train", {"m1": (0.85, 2.0)})
    kwh = {"train": 2.0, "lut": 0.5, "search": 0.5, "finetune": 2.0, "scratch": 16.0, "baselines": 1.0,
           "mt_search": 9.0, "mt_train": 4.0}
    for stage, e in kwh.items():
        _energy(tmp_path, stage, f"energy_{stage}.json", e, seconds=e * 10)
    _write(tmp_path / "search" / "pareto.json", {"unique_evals": 30})
    _write(tmp_path / "mt_search" / "pareto.json", {"unique_evals": 31, "multi_trial": {"epochs": 1}})
    _write(tmp_path / "train" / "metrics.json", {"epochs": 6})
    _write(tmp_path / "run.json", {"stages": {"train": {"seconds": 12.0}, "lut": {"seconds": 3.0}}})
    session = {"trials": 5, "power": {"watts": 2.0, "per_model": False}}
    _write(tmp_path / "measure" / "measure.json", {"session": session, "models": {
        "finetune/w1": _cost(2.0, 1.0), "finetune/w2": _cost(1.0, 0.4), "scratch/w1": _cost(2.0, 1.0),
        "scratch/w2": _cost(1.0, 0.4), "baselines/b1": _cost(3.0, 2.0), "mt_train/m1": _cost(2.0, 1.0)}})
    s = summarise(tmp_path)
    assert s["seeds"] == 2 and s["session"] == session and s["stage_seconds"] == {"train": 12.0, "lut": 3.0}
    assert s["energy_sources"] == ["codecarbon-estimate"]
    assert s["ledger"]["scratch"]["energy_kwh"] == 16.0 and s["ledger"]["measure"]["files"] == 0
    # per seed: supernet route 2 + 0.5 + 0.5 + 2/2 = 4; K archs from scratch 16/2 = 8
    a = dict(s["amortisation"])
    assert a.pop("note").startswith("per seed: supernet + cost table + search + fine-tuning of the K winners")
    assert a == {"k": 2, "seeds": 2, "supernet_epochs": 6, "supernet_route_kwh": 4.0, "scratch_kwh": 8.0,
                 "ratio": 0.5, "scratch_epochs": 7}
    # multi-trial route: table 0.5 + its search 9 + its K models 4/2 = 11.5
    mt = dict(s["multi_trial"])
    assert mt.pop("test_hv_ratio") == pytest.approx(0.5 / 0.075)
    assert mt.pop("test_hv_one_shot_hv") == pytest.approx(0.5) and mt.pop("test_hv_multi_trial_hv") == pytest.approx(0.075)
    assert mt.pop("test_hv_ratio_ci95") == [pytest.approx(0.5 / 0.075)] * 2
    assert mt.pop("test_hv_reference") == [0.1, pytest.approx(1.1)]
    assert mt.pop("energy_ratio") == pytest.approx(4.0 / 11.5) and mt.pop("multi_trial_kwh") == pytest.approx(11.5)
    assert mt == {"candidates": {"one_shot": 30, "multi_trial": 31}, "one_shot_kwh": 4.0,
                  "trial_budget": {"epochs": 1}, "test_hv_seeds": 2}
    # each winner carries half of supernet, table and search (3 kWh); the multi-trial model the whole of its route
    by = {(m["kind"], m["name"]): m for ms in s["models"].values() for m in ms}
    assert by[("winner", "w1")]["total_train_kwh"] == pytest.approx(0.25 + 1.5)
    assert by[("multi-trial", "m1")]["total_train_kwh"] == pytest.approx(2.0 + 9.5)
    assert by[("scratch", "w1")]["total_train_kwh"] == by[("scratch", "w1")]["train_kwh"] == 4.0
    assert [m["name"] for m in s["winners"]] == ["w1", "w2"] and [m["name"] for m in s["scratch"]] == ["w1", "w2"]
    assert [m["name"] for m in s["baselines"]] == ["b1"] and [m["name"] for m in s["multi_trial_models"]] == ["m1"]
    assert s["dominated"]["beyond_noise"]["total"] == ["b1"] and s["dominated"]["plain"]["params"] == ["b1"]
    assert s["dominated"]["beyond_noise"]["params"] == []  # as many parameters: not cheaper
    assert set(s) == {"models", "winners", "scratch", "baselines", "multi_trial_models", "dominated", "ledger",
                      "amortisation", "multi_trial", "energy_sources", "session", "seeds", "stage_seconds",
                      "fidelity"}


def test_summarise_without_the_optional_stages(tmp_path):
    _stage_models(tmp_path, "finetune", {"w1": (0.9, 0.25)}, seeds=1)
    _write(tmp_path / "measure" / "measure.json", {"session": None, "models": {"finetune/w1": _cost(2.0, 1.0)}})
    _energy(tmp_path, "train", "energy_train.json", 1.0)
    s = summarise(tmp_path)
    assert s["multi_trial"] is None and s["baselines"] == [] and s["scratch"] == [] and s["seeds"] == 1
    assert s["fidelity"] is None
    assert s["amortisation"]["ratio"] is None and s["amortisation"]["scratch_epochs"] is None
    assert s["amortisation"]["supernet_epochs"] is None and s["amortisation"]["supernet_route_kwh"] == 1.0
    assert s["stage_seconds"] == {} and s["winners"][0]["total_train_kwh"] == pytest.approx(1.25)


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
    d = dominated_counts([w], base)
    assert d["plain"]["latency_ms"] == ["slow"] and d["plain"]["energy_mj_per_image"] == []
    assert d["plain"]["total"] == [] and d["beyond_noise"]["total"] == []


def test_hv_ratio_reference_is_beyond_the_costliest_model():
    r = hv_ratio([_m(0.9, 20.0)], [_m(0.8, 10.0)], 4)
    assert r["reference"] == [0.25, pytest.approx(22.0)]
    assert r["one_shot_hv"] == pytest.approx(0.65 * 2.0) and r["multi_trial_hv"] == pytest.approx(0.55 * 12.0)


def _small_run(root, num_classes=10, mt_models=("m1",), scratch_kwh=0.5, mt_kwh=(0.5, 1.0, 1.0)):
    """A one-seed run with kWh below 1 (as real runs have), ``mt_models`` multi-trial models."""
    _stage_models(root, "finetune", {"w1": (0.9, 0.1)}, seeds=1)
    fin = json.loads((root / "finetune" / "finetune.json").read_text())
    if num_classes is None:
        fin.pop("num_classes")
    else:
        fin["num_classes"] = num_classes
    _write(root / "finetune" / "finetune.json", fin)
    _stage_models(root, "scratch", {"w1": (0.7, scratch_kwh)}, seeds=1)
    if mt_models:
        _stage_models(root, "mt_train", {n: (0.85, 0.1) for n in mt_models}, seeds=1)
    for stage, e in {"train": 0.2, "lut": mt_kwh[0], "search": 0.1, "finetune": 0.1, "scratch": scratch_kwh,
                     "mt_search": mt_kwh[1], "mt_train": mt_kwh[2]}.items():
        if e:
            _energy(root, stage, f"energy_{stage}.json", e)
    models = {"finetune/w1": _cost(2.0, 1.0), "scratch/w1": _cost(2.0, 1.0),
              **{f"mt_train/{n}": _cost(2.0, 0.5) for n in mt_models}}
    _write(root / "measure" / "measure.json", {"session": {"trials": 3}, "models": models})
    return summarise(root)


def test_summarise_with_kwh_below_one_and_two_multi_trial_models(tmp_path):
    s = _small_run(tmp_path, mt_models=("m1", "m2"))
    # per seed: supernet route 0.2 + 0.5 + 0.1 + 0.1 = 0.9 over 0.5 from scratch
    assert s["amortisation"]["ratio"] == pytest.approx(0.9 / 0.5) and s["amortisation"]["scratch_epochs"] == 7
    assert s["amortisation"]["note"] == (
        "per seed: supernet + cost table + search + fine-tuning of the K winners, over the same K archs trained "
        "from scratch for the winners' total epochs (codecarbon, both); above 1 the supernet route cost more")
    # each of the two multi-trial models carries half of the table and its search: (0.5 + 1.0) / 2
    by = {m["name"]: m for m in s["multi_trial_models"]}
    assert by["m1"]["total_train_kwh"] == pytest.approx(0.1 + 0.75)
    assert s["multi_trial"]["multi_trial_kwh"] == pytest.approx(0.5 + 1.0 + 1.0)
    # chance accuracy of 10 classes is the hypervolume's reference accuracy
    assert s["multi_trial"]["test_hv_reference"][0] == pytest.approx(0.1)


def test_summarise_reads_the_number_of_classes(tmp_path):
    assert _small_run(tmp_path / "a", num_classes=2)["multi_trial"]["test_hv_reference"][0] == pytest.approx(0.5)
    assert _small_run(tmp_path / "b", num_classes=None)["multi_trial"]["test_hv_reference"][0] == pytest.approx(0.1)


def test_summarise_without_multi_trial_energy_or_a_session(tmp_path):
    s = _small_run(tmp_path / "a", mt_kwh=(0.0, 0.0, 0.0))
    assert s["multi_trial"]["energy_ratio"] is None  # nothing booked: no ratio rather than a division by 0
    s = _small_run(tmp_path / "b", mt_models=())
    assert s["multi_trial_models"] == [] and s["multi_trial"] is None
    # no measurement session: every model must carry its own measurement
    (tmp_path / "b" / "measure" / "measure.json").unlink()
    with pytest.raises(GreenError, match="finetune/w1 has no latency measurement"):
        summarise(tmp_path / "b")


def test_summarise_names_the_folder_without_winners(tmp_path):
    with pytest.raises(GreenError, match=f"'{tmp_path}' has no fine-tuned winners"):
        summarise(tmp_path)
