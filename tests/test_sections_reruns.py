"""The docs sections of the headlines rerun on the reference supernet (bench/sections/reruns.py): each renders its
result's per-seed values and goals, and says so when the result is not committed."""
import json
import shutil
from pathlib import Path

import pytest

from bench import hpo, recall
from bench.sections import reruns

RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results"


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.setattr(reruns, "RESULTS", tmp_path)
    monkeypatch.setattr(reruns, "load_result", lambda name: json.loads((tmp_path / name).read_text()))
    return tmp_path


def _made(result):
    return {**result, "command": "python bench/x.py", "commit": "0123456789abcdef", "quick": False}


def test_search_quality_prints_every_seed_and_the_ratio(results):
    assert reruns.search_quality().startswith("No full run is committed yet")
    src = RESULTS / "search_quality.json"
    if not src.is_file():
        pytest.skip("no committed search_quality.json")
    shutil.copy(src, results / "search_quality.json")
    r = json.loads(src.read_text())
    text = reruns.search_quality()
    assert all(f"{v:.4f}" in text for v in r["hv_per_seed"]["nsga2"] + r["hv_per_seed"]["random"])
    assert f"hypervolume ratio {r['hv_ratio_mean']:.3f}" in text and f"{r['n_seeds']} seeds" in text


def _hpo_row(seed, default, chosen):
    trials = [{"setting": "a", "select_acc": 0.70, "train_kwh": 1e-4, "pruned": False},
              {"setting": "b", "select_acc": 0.72, "train_kwh": 1e-4, "pruned": False}]
    run = {"trials": trials, "chosen": "b", "select_acc": 0.72, "report_acc": chosen, "pruned": 0,
           "hypervolume": 0.1}
    return {"seed": seed, "default": {"select_acc": 0.7, "report_acc": default}, "hpo": run,
            "random": {**run, "report_acc": chosen - 0.01}}


def test_hpo_prints_per_seed_accuracies_and_an_interval_from_5_seeds(results):
    assert reruns.hpo().startswith("No full run is committed yet")
    rows = [_hpo_row(s, 0.70 + 0.001 * s, 0.72 + 0.002 * s) for s in range(5)]
    result = {"per_seed": rows, "slices": {"report_images": 2500},
              "setup": {"arch": "r32_x", "budget": 8, "population": 4, "epochs": 2, "seeds": list(range(5))}}
    result.update(hpo.headline(result))
    (results / "hpo.json").write_text(json.dumps(_made(result)))
    text = reruns.hpo()
    assert text.count("\n| ") == 7 and "| 4 | 0.7040 | 0.7280 | 0.7180 |" in text
    assert "green-hpo minus the default: +0.0220 [" in text  # 5 seeds: an interval, not the values
    assert "Gain over the default beyond its interval met" in text
    result = {**result, "per_seed": rows[:3], "setup": {**result["setup"], "seeds": [0, 1, 2]}}
    result.update(hpo.headline(result))
    (results / "hpo.json").write_text(json.dumps(_made(result)))
    assert "no interval (fewer than 5 values: +0.0200, +0.0210, +0.0220)" in reruns.hpo()


def _recall_raw(seeds):
    front = [{"arch": "b", "energy_mj": 2.0, "select_acc": 0.70, "select_recall_min": 0.20},
             {"arch": "c", "energy_mj": 2.5, "select_acc": 0.695, "select_recall_min": 0.45}]

    def tuned(arch, acc, rmin):
        return {"arch": arch, "test_acc": acc, "test_recall_min": rmin, "test_class_recall": {"0": 0.9, "1": rmin},
                "test_class_support": {"0": 1000, "1": 100}, "test_images": 1100}
    runs = []
    for s in range(seeds):
        runs.append({"seed": s, "setting": "with_recall_min", "front": front, "finetuned": tuned("c", 0.70, 0.45 + 0.01 * s)})
        runs.append({"seed": s, "setting": "without", "front": front, "finetuned": tuned("b", 0.70, 0.40)})
    return {"imbalance_ratio": 10.0, "energy_sample": [1.0, 3.0, 5.0], "runs": runs, "baselines": [],
            "budgets": {"supernet_epochs": 8, "finetune_epochs": 1, "population": 8, "generations": 3}}


@pytest.mark.parametrize("seeds, beyond", [(5, True), (3, False)])
def test_recall_prints_both_settings_per_seed_and_judges_the_gain_against_noise(results, seeds, beyond):
    assert reruns.recall().startswith("No full run is committed yet")
    raw = _recall_raw(seeds)
    result = {**recall.headline({"raw": raw}), "raw": raw}
    assert result["goal"]["higher_worst_class_recall_beyond_noise"] is beyond  # no interval from 3 seeds
    (results / "recall.json").write_text(json.dumps(_made(result)))
    text = reruns.recall()
    assert text.count("\n| ") == seeds + 2 and "| 2 | 0.470 / 0.7000 | 0.400 / 0.7000 |" in text
    assert f"the gain beyond noise (interval above 0) {'met' if beyond else '**not met**'}" in text


def test_the_readme_rows_appear_only_for_committed_results(results):
    assert [f() for f in (reruns.pipeline_row, reruns.search_quality_row, reruns.hpo_row, reruns.recall_row)] \
        == [None] * 4
    raw = _recall_raw(5)
    (results / "recall.json").write_text(json.dumps(_made({**recall.headline({"raw": raw}), "raw": raw})))
    at, headline, goals = reruns.recall_row()
    assert at == "0123456" and "0.470 searched with recall_min, 0.400 without: +0.070 [" in headline
    assert goals == "gain beyond noise met"
    src = RESULTS / "pipeline.json"
    if not src.is_file():
        pytest.skip("no committed pipeline.json")
    shutil.copy(src, results / "pipeline.json")
    r = json.loads(src.read_text())
    at, headline, goals = reruns.pipeline_row()
    assert f"{r['twins']['full_recipe']['diff_points']:+.1f} points" in headline
    assert goals.count("met") == len(r["goal"]) and goals.count("**not met**") == list(r["goal"].values()).count(False)
