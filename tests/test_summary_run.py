"""Known answers for the report's summary of a run folder (search.pipeline.summary): the energy ledger, the
amortisation, the multi-trial comparison and what a run without optional stages gives. Each expected number is
worked out by hand in a comment."""
from __future__ import annotations

import json

import pytest

from search.pipeline.summary import ledger, summarise
from core.errors import GreenError


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
    assert led["train"] == {"energy_kwh": 0, "co2eq_kg": 0, "seconds": 0, "files": 0, "sources": [], "grids": []}
    assert list(led) == ["train", "lut", "search", "finetune", "scratch", "scratch_ft", "baselines", "fidelity", "mt_search",
                         "mt_train", "eq_search", "eq_finetune", "measure"]


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


def test_summarise_known_answer(tmp_path, write_front):
    _stage_models(tmp_path, "finetune", {"w1": (0.9, 0.25), "w2": (0.8, 0.25)})
    _stage_models(tmp_path, "scratch", {"w1": (0.7, 4.0), "w2": (0.6, 4.0)})
    _stage_models(tmp_path, "baselines", {"b1": (0.5, 0.5)})
    _stage_models(tmp_path, "mt_train", {"m1": (0.85, 2.0)})
    kwh = {"train": 2.0, "lut": 0.5, "search": 0.5, "finetune": 2.0, "scratch": 16.0, "baselines": 1.0,
           "mt_search": 9.0, "mt_train": 4.0}
    for stage, e in kwh.items():
        _energy(tmp_path, stage, f"energy_{stage}.json", e, seconds=e * 10)
    write_front(tmp_path / "search", unique_evals=30)
    write_front(tmp_path / "mt_search", unique_evals=31, multi_trial={"epochs": 1})
    _write(tmp_path / "train" / "metrics.json", {"epochs": 6})
    _write(tmp_path / "run.json", {"stages": {"train": {"seconds": 12.0}, "lut": {"seconds": 3.0}}})
    session = {"trials": 5, "power": {"watts": 2.0, "per_model": False}}
    _write(tmp_path / "measure" / "measure.json", {"session": session, "models": {
        "finetune/w1": _cost(2.0, 1.0), "finetune/w2": _cost(1.0, 0.4), "scratch/w1": _cost(2.0, 1.0),
        "scratch/w2": _cost(1.0, 0.4), "baselines/b1": _cost(3.0, 2.0), "mt_train/m1": _cost(2.0, 1.0)}})
    s = summarise(tmp_path)
    assert s["seeds"] == 2 and s["session"] == session and s["stage_seconds"] == {"train": 12.0, "lut": 3.0}
    assert s["load"] is None  # a run.json from before loads were recorded
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
    assert mt.pop("test_hv_ratio_ci95") is None and mt.pop("test_hv_interval") == "none: fewer than 5 seeds"
    assert mt.pop("test_hv_ratio_per_seed") == [pytest.approx(0.5 / 0.075)] * 2
    assert mt.pop("test_hv_reference") == [0.1, pytest.approx(1.1)]
    assert mt.pop("energy_ratio") == pytest.approx(4.0 / 11.5) and mt.pop("multi_trial_kwh") == pytest.approx(11.5)
    # break-even: supernet 2 kWh; per candidate scoring 0.5 / 30, a trial 9 / 31; per deployed model (2 x 2 seeds)
    # fine-tune 2 / 4, scratch 16 / 4
    b = mt.pop("breakeven")
    assert b["breakeven_candidates"] == pytest.approx(2.0 / (9 / 31 - 0.5 / 30))
    assert b["breakeven_deployments"] == pytest.approx(2.0 / (4.0 - 0.5)) and b["candidates"] == 30
    assert mt.pop("equal_candidates") is None  # no eq_search/eq_finetune stages in this run
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
                      "fidelity", "twins", "load", "deployed", "target_figures"}
    assert s["deployed"] == s["target_figures"] == {}  # measured on torch alone: no other target's figures
    assert s["twins"] == {"scratch": None, "scratch_ft": None}  # no per-image correctness in these rows


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


def test_a_nan_figure_or_a_damaged_stage_file_is_one_line_naming_the_file(tmp_path):
    _stage_models(tmp_path, "finetune", {"w1": (0.9, 0.25)})
    path = tmp_path / "finetune" / "finetune.json"
    path.write_text(path.read_text().replace('"test_acc": 0.9', '"test_acc": NaN'))
    with pytest.raises(GreenError, match=r"finetune\.json' holds NaN where a figure should be: the stage that wrote "
                                         r"it failed; rerun that stage"):
        summarise(tmp_path)
    path.write_text('{"models": [')
    with pytest.raises(GreenError, match=r"cannot read .*finetune\.json' \(JSONDecodeError\)"):
        summarise(tmp_path)
    _energy(tmp_path, "train", "energy_train.json", 1.0)
    (tmp_path / "train" / "energy_train.json").write_text('{"energy_kwh": Infinity}')
    with pytest.raises(GreenError, match="energy_train.json' holds Infinity"):
        ledger(tmp_path)
    (tmp_path / "train" / "energy_train.json").write_text('{"energy_kwh": 1.0}')
    with pytest.raises(GreenError, match="energy_train.json' has no co2eq_kg: rerun the train stage"):
        ledger(tmp_path)


def test_equal_candidates_compare_the_eq_finals_with_the_multi_trial_ones(tmp_path, write_front):
    """With the eq_search/eq_finetune stages, ``multi_trial.equal_candidates`` holds the eq finals' test
    hypervolume over the multi-trial finals' (identical models and costs here: ratio 1) and eq_search's count;
    the eq finals are charted as their own kind."""
    write_front(tmp_path / "search", unique_evals=30)
    write_front(tmp_path / "mt_search", unique_evals=8, multi_trial={"epochs": 1})
    write_front(tmp_path / "eq_search", unique_evals=8)
    assert _small_run(tmp_path)["multi_trial"]["equal_candidates"] is None  # not yet
    _stage_models(tmp_path, "eq_finetune", {"e1": (0.85, 0.1)}, seeds=1)
    measure = json.loads((tmp_path / "measure" / "measure.json").read_text())
    measure["models"]["eq_finetune/e1"] = _cost(2.0, 0.5)
    _write(tmp_path / "measure" / "measure.json", measure)
    s = summarise(tmp_path)
    eq = s["multi_trial"]["equal_candidates"]
    assert eq["candidates"] == 8 and eq["test_hv_ratio"] == pytest.approx(1.0)
    assert s["multi_trial"]["test_hv_ratio"] != pytest.approx(1.0)  # the winners' front: another figure
    assert [m["kind"] for m in s["models"]["eq_finetune"]] == ["one-shot-eq"]
