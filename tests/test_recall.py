"""Recall objectives (issue 18): worst-class and named-class recall as objectives and as bounds judged after
evaluation, computed alike by every evaluator."""
from __future__ import annotations

import pytest
import torch

from search.evolution.archive import Archive
from search.evolution.objectives import (Constraint, Normaliser, Objective, check_classes, parse_constraints,
                                         parse_objectives)
from search.tuning.hpo import HPO_OBJECTIVES
from core.errors import GreenError
from supernet.metrics import class_recall, scores, tracked_classes

from tests.test_engine import Grid, engine


def test_scores_known_answer():
    target = torch.tensor([0, 0, 0, 0, 1, 1, 2, 2])
    pred = torch.tensor([0, 0, 0, 1, 1, 0, 2, 0])
    out = scores(pred, target, ["a", "b", "c", "d"], track=["b"])
    assert out["acc"] == pytest.approx(5 / 8)
    assert out["recall_min"] == pytest.approx(0.5)  # b and c: 1 of 2 each; d has no image and no recall
    assert out["recall:b"] == pytest.approx(0.5)
    assert class_recall(pred, target, 4) == ([0.75, 0.5, 0.5, 0.0], [4, 2, 2, 0])
    with pytest.raises(GreenError, match="class 'd' has no image among the 8 scored"):
        scores(pred, target, ["a", "b", "c", "d"], track=["d"])
    assert tracked_classes(["acc", "recall:cat", "recall_min", "recall:sea lion", "recall:cat"]) == ["cat", "sea lion"]


def test_recall_objectives_parse_for_the_search_and_for_hpo():
    objs = parse_objectives(["acc", "recall_min", "recall:sea lion", "energy"])
    assert [(o.field, o.maximise) for o in objs[1:3]] == [("recall_min", True), ("recall:sea lion", True)]
    assert [o.field for o in parse_objectives(["acc", "recall:cat"], HPO_OBJECTIVES)] == ["select_acc",
                                                                                          "select_recall:cat"]
    with pytest.raises(GreenError, match=r"unknown objective\(s\) \['recall:'\]"):
        parse_objectives(["acc", "recall:"])


def test_a_class_the_data_lacks_is_one_line():
    check_classes(["acc", "recall:cat", "energy_mj"], ["cat", "dog"])
    with pytest.raises(GreenError, match=r"^objective or constraint 'recall:cow' names no class of the data "
                                         r"\(its classes: 'cat', 'dog'\)$"):
        check_classes(["recall:cat", "recall:cow"], ["cat", "dog"])


def test_a_record_that_misses_a_score_bound_stays_off_the_front_and_behind_every_one_that_meets_it():
    objs = [Objective("acc", "acc", True), Objective("params", "params", False)]
    arch = Archive(objs, Normaliser(objs, {"params": 100.0}), parse_constraints(["recall_min >= 0.5"]))

    def rec(name, acc, params, rmin):
        from search.evolution.records import Evaluation
        return Evaluation(name, (0,), 0, {"params": params}, {"acc": acc, "recall_min": rmin})

    good = arch.add(rec("good", 0.6, 50, 0.55))
    close = arch.add(rec("close", 0.9, 10, 0.45))  # better on both objectives, misses the bound by 10%
    far = arch.add(rec("far", 0.95, 5, 0.25))      # misses it by 50%
    assert [r.arch for r in arch.front()] == ["good"] and arch.missed == 2 and arch.best["acc"] == 0.6
    assert all(g < c < f for g, c, f in zip(good, close, far))  # feasible dominates; less violation dominates
    assert arch.hypervolume() == pytest.approx(0.6 * 0.5)


def test_the_engine_judges_score_bounds_after_evaluation_and_repairs_cost_bounds_before():
    space = Grid(genes=4, levels=8)
    evo = engine(space, constraints=[Constraint("f1", "<=", 0.5), Constraint("cost", "<=", 20.0)], population=8,
                 budget=64)
    evo.run(lambda x: {"f1": int(x[0]) / 7, "f2": 1 + sum(int(c) for c in x[1:]) / 7 - (int(x[0]) / 7) ** 0.5})
    assert evo.cost_bounds == [Constraint("cost", "<=", 20.0)] and evo.score_bounds == [Constraint("f1", "<=", 0.5)]
    records = list(evo.records.values())
    assert all(r["cost"] <= 20 for r in records)  # never evaluated beyond the cost bound
    assert evo.front() and all(r["f1"] <= 0.5 for r in evo.front())
    missed = sum(r["f1"] > 0.5 for r in records)
    assert missed > 0 and evo.archive.missed == missed and evo.logbook[-1]["missed_score_bounds"] == missed


def test_green_search_on_worst_class_recall_with_a_named_class_bound(tmp_path, tiny_ckpt, tiny_table, search_cfg):
    import csv
    import json

    from search.evolution.front import Front
    from search.evolution.search import search

    front = search(search_cfg(tmp_path, tiny_ckpt, tiny_table, "search.objectives=[acc,recall_min,params]",
                              "search.constraints=['recall:3 >= 0.05']"))
    assert front.members and all(m.recall_min is not None and m["recall:3"] >= 0.05 for m in front.members)
    assert [o.field for o in Front.read(tmp_path).objectives] == ["acc", "recall_min", "params"]
    row = json.loads((tmp_path / "pareto.json").read_text())["front"][0]
    assert {"recall_min", "recall:3"} <= set(row)
    with open(tmp_path / "history.csv") as fh:
        history = list(csv.DictReader(fh))
    assert all(float(r["recall_min"]) <= float(r["recall:3"]) for r in history)
    with pytest.raises(GreenError, match="'recall:cow' names no class of the data"):
        search(search_cfg(tmp_path / "bad", tiny_ckpt, tiny_table, "search.objectives=[acc,recall:cow]"))
    assert not (tmp_path / "bad" / "pareto.json").exists()


@pytest.mark.slow
def test_a_search_whose_every_candidate_misses_a_score_bound_says_so(tmp_path, tiny_ckpt, tiny_table, search_cfg):
    """No feasible point is not a finished search: a distinct error (exit 3 from the command, neither success nor
    bad input), its outputs written, and pareto.json saying feasible: false with an empty front."""
    import json
    import subprocess
    import sys

    from search.evolution.front import Front
    from search.evolution.search import search
    from core.errors import Infeasible

    with pytest.raises(Infeasible, match=r"none of the 24 evaluated subnets met recall_min >= 1 \(pareto.json says"):
        search(search_cfg(tmp_path, tiny_ckpt, tiny_table, "search.constraints=['recall_min >= 1.0']"))
    assert (tmp_path / "history.csv").is_file()
    data = json.loads((tmp_path / "pareto.json").read_text())
    assert (data["feasible"], data["status"], data["front"]) == (False, "infeasible", [])
    assert not Front.read(tmp_path).feasible
    from tests.conftest import SEARCH_FAST

    r = subprocess.run([sys.executable, "-m", "search.commands.search", f"ckpt={tiny_ckpt}", f"table={tiny_table}",
                        *SEARCH_FAST, "search.constraints=['recall_min >= 1.0']", f"hydra.run.dir={tmp_path / 'cli'}"],
                       capture_output=True, text=True)
    assert r.returncode == 3, r.stderr[-2000:]
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("green-search: error: none of the") and "feasible: false" in lines[0]
    assert json.loads((tmp_path / "cli" / "pareto.json").read_text())["feasible"] is False


def test_green_train_logs_worst_class_and_per_class_recall(tiny_ckpt):
    import json

    metrics = json.loads((tiny_ckpt.parent.parent / "metrics.json").read_text())["metrics"]
    rec = [metrics[f"val_class_recall_largest/{c}"] for c in range(10)]
    assert metrics["val/recall_min_largest"] == pytest.approx(min(rec))
    assert metrics["val/recall_largest"] == pytest.approx(sum(rec) / 10, abs=1e-6)


@pytest.mark.parametrize("overrides, message", [
    (["search.objectives=[acc,recall:cow]"], "objective or constraint 'recall:cow' names no class of the data"),
    (["search.constraints=['train_kwh <= 1']"], "'train_kwh' is not computed by the search"),
    (["data.val_size=5"], "has no validation image after stratification (5 validation images for 10 classes)"),
    (["data.imbalance_ratio=0.5"], "data.imbalance_ratio must be null or a number >= 1"),
    (["data.balance=equal"], "unknown data.balance 'equal'"),
])
@pytest.mark.slow
def test_recall_bad_input_is_one_line(tmp_path, tiny_ckpt, tiny_table, overrides, message):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "-m", "search.commands.search", f"ckpt={tiny_ckpt}", f"table={tiny_table}",
                        *overrides, f"hydra.run.dir={tmp_path}"], cwd=root, capture_output=True, text=True)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("green-search: error:"), r.stderr[-2000:]
    assert message in lines[0] and not (tmp_path / "pareto.json").exists()
