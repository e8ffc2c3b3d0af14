"""bench/pipeline.py: the headline's energy figures are known answers of the stage ledger (the one-shot route's
kWh and the multi-trial route's, the cost table counted in both)."""
import copy
import json
from pathlib import Path

import pytest

from bench import pipeline

BENCH = Path(__file__).resolve().parents[1] / "bench"


def test_route_energies_are_known_answers_of_the_ledger():
    result = copy.deepcopy(json.loads((BENCH / "results" / "archive" / "issue29" / "pipeline.json").read_text()))
    raw = result["raw"]
    kwh = {"train": 2.0, "lut": 0.5, "search": 0.5, "finetune": 2.0, "scratch": 16.0, "mt_search": 9.0,
           "mt_train": 2.0}
    for stage, v in kwh.items():
        raw["ledger"][stage]["energy_kwh"] = v
    raw["seeds"] = 2
    h = pipeline.headline(result)
    # per seed: one-shot = train 2 + lut 0.5 + search 0.5 + finetune 2/2; multi-trial = lut 0.5 + mt_search 9
    # + mt_train 2/2 (the cost table prices both searches); from scratch: 16/2
    mt = h["multi_trial"]
    assert mt["one_shot_kwh"] == pytest.approx(4.0) and mt["multi_trial_kwh"] == pytest.approx(10.5)
    assert mt["energy_ratio_own_counts"] == pytest.approx(4.0 / 10.5) and h["amortisation_ratio"] == pytest.approx(0.5)


def test_energy_ratio_is_at_the_one_shot_count_and_hv_at_equal_candidates():
    """``multi_trial.energy_ratio`` is the break-even's, at the one-shot search's count N (the multi-trial route's
    per-candidate energy extrapolated to N); the test hypervolume ratio compares the eq_finetune finals (the one-shot
    route at the multi-trial count) with the multi-trial ones when the run has them, and says which it compares."""
    result = copy.deepcopy(json.loads((BENCH / "results" / "archive" / "issue29" / "pipeline.json").read_text()))
    raw = result["raw"]
    for stage, v in {"train": 2.0, "search": 0.5, "mt_search": 9.0}.items():
        raw["ledger"][stage]["energy_kwh"] = v
    raw["candidates"] = {"one_shot": 100, "multi_trial": 10}
    h = pipeline.headline(result)
    # one-shot at 100: 2 + 100 x 0.5/100 = 2.5; multi-trial at 100: 100 x 9/10 = 90
    assert h["multi_trial"]["energy_ratio"] == pytest.approx(2.5 / 90)
    assert h["multi_trial"]["hv_at"].startswith("each search's own count")
    assert h["multi_trial"]["test_hv_ratio"] == pytest.approx(1.570291916543931)
    assert h["goal"]["one_shot_energy_le_0.2_of_multi_trial_with_hv_ge_0.98"] is False  # not at equal candidates
    raw["models"]["eq_finetune"] = copy.deepcopy(raw["models"]["mt_train"])  # the same front: ratio 1
    h = pipeline.headline(result)
    assert h["multi_trial"]["hv_at"] == "equal candidates" and h["multi_trial"]["test_hv_ratio"] == pytest.approx(1.0)
    assert h["multi_trial"]["test_hv_ratio_default_search"] == pytest.approx(1.570291916543931)
    assert h["goal"]["one_shot_energy_le_0.2_of_multi_trial_with_hv_ge_0.98"] is True


def test_twins_breakeven_and_budget_come_from_the_raw_rows_and_ledger():
    """The issue-32 figures on a constructed run: winners right on 3 of 4 images where their equal-epoch twins are
    right on 1 and their full-recipe twins on 3 (2 seeds: paired image bootstraps), the break-even from the
    ledger (the test above's), the stated budget."""
    from supernet.metrics import pack_correct

    result = copy.deepcopy(json.loads((BENCH / "results" / "archive" / "issue29" / "pipeline.json").read_text()))
    raw = result["raw"]
    for stage, v in {"train": 2.0, "search": 0.5, "finetune": 2.0, "scratch": 16.0, "mt_search": 9.0}.items():
        raw["ledger"][stage]["energy_kwh"] = v
    raw["seeds"], raw["train_images"] = 2, 45000
    raw["candidates"] = {"one_shot": 12, "multi_trial": 12}
    row = lambda st, rep, bits: {"arch": "a", "replicate": rep, "test_images": 4, "test_correct": pack_correct(bits)}  # noqa: E731
    raw["rows"] = {"finetune": [row("f", i, [1, 1, 1, 0]) for i in (0, 1)],
                   "scratch": [row("s", i, [1, 1, 0, 1]) for i in (0, 1)],
                   "scratch_ft": [row("e", i, [1, 0, 0, 0]) for i in (0, 1)]}
    h = pipeline.headline(result)
    assert h["twins"]["equal_epochs"]["diff_points"] == pytest.approx(50.0)
    assert h["twins"]["full_recipe"]["diff_points"] == pytest.approx(0.0) and h["twins"]["full_recipe"]["seeds"] == 2
    k = len(raw["models"]["finetune"])  # the winners of the archived run, each per seed
    assert h["breakeven"]["candidates"] == pytest.approx(2.0 / (9 / 12 - 0.5 / 12))
    assert h["breakeven"]["deployments"] == pytest.approx(2.0 / (16.0 / (2 * k) - 2.0 / (2 * k)))
    assert h["search_candidates"] == 12 and h["train_images"] == 45000
    assert h["goal"]["train_images_ge_20000_and_seeds_ge_3"] is False  # 2 seeds
    assert h["goal"]["search_candidates_gt_5_breakeven"] is False  # 12 < 5 x 2.8


def test_break_even_on_one_scale_prices_every_stage_s_seconds_alike():
    """``breakeven_same_scale``: the ledger's seconds instead of its kWh (the supernet's kWh was booked in other
    sessions at another power figure): known answers from the stage seconds alone."""
    result = copy.deepcopy(json.loads((BENCH / "results" / "archive" / "issue29" / "pipeline.json").read_text()))
    raw = result["raw"]
    for stage, sec in {"train": 100.0, "search": 10.0, "mt_search": 90.0}.items():
        raw["ledger"][stage]["seconds"] = sec
        raw["ledger"][stage]["energy_kwh"] = sec * 1e-6 * (3 if stage == "train" else 1)  # another scale for train
    raw["candidates"] = {"one_shot": 12, "multi_trial": 12}
    h = pipeline.headline(result)
    same = h["breakeven_same_scale"]
    assert same["candidates"] == pytest.approx(100.0 / (90 / 12 - 10 / 12))
    assert same["energy_ratio"] == pytest.approx((100.0 + 10.0) / 90.0)
    assert h["breakeven"]["candidates"] == pytest.approx(300e-6 / (90e-6 / 12 - 10e-6 / 12))


def test_the_docs_section_is_written_from_the_result(tmp_path, monkeypatch):
    """The section of docs/benchmarks.md lists every final model with its recipe and per-seed accuracies, the twins'
    differences, the baselines' counts and every goal's verdict; before the full run it says there is none."""
    from bench.sections import pipeline as section

    result = copy.deepcopy(json.loads((BENCH / "results" / "archive" / "issue29" / "pipeline.json").read_text()))
    result["raw"]["candidates"] = {"one_shot": 100, "multi_trial": 10}
    result["raw"]["train_images"] = 20000
    result.update(pipeline.headline(result))
    (tmp_path / "pipeline.json").write_text(json.dumps(result))
    monkeypatch.setattr(section, "RESULTS", tmp_path)
    monkeypatch.setattr(section, "load_result", lambda name: json.loads((tmp_path / name).read_text()))
    text = section.pipeline()
    models = [m for ms in result["raw"]["models"].values() for m in ms]
    assert text.count("\n| finetune (winner") == len(result["raw"]["models"]["finetune"])
    assert all(", ".join(f"{a:.4f}" for a in m["test_acc_per_seed"]) in text for m in models)
    d = result["dominated_beyond_noise"]
    assert f"on accuracy and latency {d['latency']} of {d['of']}" in text
    assert "at the search's 100 its energy is" in text and "20000 training images" in text
    assert all(f"| {k} | {'met' if v else '**not met**'} |" in text for k, v in result["goal"].items())
    (tmp_path / "pipeline.json").unlink()
    assert section.pipeline().startswith("No full run is committed yet")


def test_the_docs_section_names_a_baseline_given_its_own_learning_rate(tmp_path, monkeypatch):
    from bench.sections import pipeline as section

    result = copy.deepcopy(json.loads((BENCH / "results" / "archive" / "issue29" / "pipeline.json").read_text()))
    result.update(pipeline.headline(result))
    base = result["raw"]["models"]["baselines"]
    assert "Given their own learning rate" not in (section._own_lr(result))
    base[-1]["budget"]["lr"] = 0.0123
    assert section._own_lr(result).endswith(f"{base[-1]['name']} at lr 0.0123.")
