"""bench/recall.py: the choice rules, the headline recomputed from raw data, and a run whose fine-tuned winner is
not the one the rule chooses is refused."""
import json

import pytest

from bench import recall, recompute


FRONT = [  # energy, held-out accuracy and worst-class recall of one re-scored front
    {"arch": "a", "energy_mj": 1.0, "select_acc": 0.60, "select_recall_min": 0.30},
    {"arch": "b", "energy_mj": 2.0, "select_acc": 0.70, "select_recall_min": 0.20},
    {"arch": "c", "energy_mj": 2.5, "select_acc": 0.695, "select_recall_min": 0.45},
    {"arch": "d", "energy_mj": 9.0, "select_acc": 0.80, "select_recall_min": 0.60},  # over the budget
]


def test_the_rules_choose_under_the_energy_budget():
    assert recall.choose(FRONT, 3.0, recall.WITHOUT)["arch"] == "b"  # most accurate under 3 mJ
    assert recall.choose(FRONT, 3.0, recall.WITH)["arch"] == "c"  # within 1 point of b, better worst class
    assert recall.choose(FRONT, 0.5, recall.WITH)["arch"] == "a"  # nothing under the budget: the cheapest


def _tuned(arch, acc, rmin, support=100):
    rec = {"0": 0.9, "1": rmin}
    return {"arch": arch, "test_acc": acc, "test_recall_min": rmin, "test_class_recall": rec,
            "test_class_support": {"0": 1000, "1": support}, "test_images": 1000 + support}


def _raw():
    runs = []
    for seed, (gain, loss) in enumerate([(0.10, 0.004), (0.06, 0.0), (0.08, 0.008)]):
        runs.append({"seed": seed, "setting": "with_recall_min", "front": FRONT,
                     "finetuned": _tuned("c", 0.70 - loss, 0.40 + gain)})
        runs.append({"seed": seed, "setting": "without", "front": FRONT, "finetuned": _tuned("b", 0.70, 0.40)})
    base = [{"name": "lcnet_050", "seed": s, "test_acc": 0.6, "test_recall_min": 0.3, "macs": 3_900_000,
             "test_class_recall": {"0": 0.9, "1": 0.3}, "test_class_support": {"0": 1000, "1": 100}} for s in range(3)]
    return {"imbalance_ratio": 10.0, "energy_sample": [1.0, 3.0, 5.0], "runs": runs, "baselines": base}


def test_recall_headline_recomputes_and_an_edit_is_caught(bench_result):
    path, result = bench_result(recompute, "recall", recall.headline, _raw())
    assert result["energy_budget_mj"] == 3.0 and result["seeds"] == 3
    assert result["worst_class_recall"]["with_recall_min"] == pytest.approx(0.48)
    assert result["worst_class_recall_gain"] == pytest.approx(0.08) and result["test_acc_loss"] == pytest.approx(0.004)
    assert result["goal"]["higher_worst_class_recall_at_most_1_point_acc_lost"] is True
    assert result["noise"]["se_worst_class_recall"] > 0.04  # 100 test images of the rare class: SE ~ 0.05
    assert result["winners_vs_baselines"] == {"with_recall_min": 1, "without": 1}
    result["test_acc"]["without"] = 0.9
    path.write_text(json.dumps(result))
    assert any("test_acc.without" in m for m in recompute.check(path))


def test_a_fine_tuned_winner_the_rule_did_not_choose_is_refused():
    raw = _raw()
    raw["runs"][1]["finetuned"]["arch"] = "c"
    with pytest.raises(ValueError, match="seed 0 without: fine-tuned c, the rule chooses b"):
        recall.headline({"raw": raw})
