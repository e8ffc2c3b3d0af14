"""The budget pilot of issue 32: seed-to-seed tau per recipe, the projected cost of a full table, and the pick
(the cheapest complete recipe whose ceiling reaches the goal), with known answers."""
from __future__ import annotations

import pytest
from pytest import approx
from scipy.stats import kendalltau

from bench import budget_pilot


@pytest.fixture
def pilot():
    return budget_pilot


def _rows(acc0, acc1, secs=10.0, kwh=1e-4, plateau=0.3):
    roles = ["smallest", "largest"] + ["sampled"] * (len(acc0) - 2)
    out = []
    for i, (a, b) in enumerate(zip(acc0, acc1)):
        for rep, acc in ((0, a), (1, b)):
            out.append({"arch": f"a{i}", "replicate": rep, "stratum": i, "role": roles[i], "macs": i, "params": i,
                        "test_acc": acc, "val_acc": acc, "train_seconds": secs, "train_kwh": kwh,
                        "energy_source": "codecarbon-estimate", "plateau_points": plateau, "epochs": 1,
                        "images_seen": 1})
    return out


def _raw(recipes, goal=0.6):
    return {"recipes": recipes, "table_subnets": 32, "seeds": 2, "goal": goal,
            "bootstrap": {"n_boot": 2000, "level": 0.95, "seed": 0}}


def test_seed_tau_is_kendalls_over_pairs_and_drops_the_extremes(pilot):
    a0 = [0.10, 0.90, 0.30, 0.50, 0.40, 0.70, 0.60]
    a1 = [0.20, 0.80, 0.50, 0.30, 0.45, 0.75, 0.55]
    rows = _rows(a0, a1)
    t = pilot.seed_tau(rows)
    assert t["n"] == 7 and t["tau"] == approx(kendalltau(a0, a1).statistic)
    lo, hi = t["ci"]
    assert lo <= t["tau"] <= hi
    tn = pilot.seed_tau(rows, pilot.EXTREMES)
    assert tn["n"] == 5 and tn["tau"] == approx(kendalltau(a0[2:], a1[2:]).statistic)
    # a subnet with one seed only is left out; fewer than 3 pairs give no tau
    assert pilot.seed_tau([r for r in rows if not (r["arch"] == "a3" and r["replicate"] == 1)])["n"] == 6
    assert pilot.seed_tau(rows[:4]) == {"tau": None, "ci": None, "n": 2}


def test_pick_is_the_cheapest_complete_recipe_at_the_goal(pilot):
    agree = [0.1, 0.9, 0.3, 0.4, 0.5, 0.6, 0.7]  # seeds agree: tau 1
    shuffled = [0.1, 0.9, 0.7, 0.3, 0.6, 0.4, 0.5]
    cheap_noisy = {"name": "a", "train_images": 100, "epochs": 1, "rows": _rows(agree, shuffled, secs=5), "planned": 14}
    mid = {"name": "b", "train_images": 200, "epochs": 2, "rows": _rows(agree, agree, secs=20), "planned": 14}
    dear = {"name": "c", "train_images": 400, "epochs": 4, "rows": _rows(agree, agree, secs=90), "planned": 14}
    h = pilot.headline({"raw": _raw([cheap_noisy, mid, dear])})
    noisy = kendalltau(agree, shuffled).statistic
    assert noisy < 0.6 and h["recipes"]["a"]["seed_tau"]["tau"] == approx(noisy)
    assert h["pick"] == "b" and h["pick_table_cpu_hours"] == approx(20 * 32 * 2 / 3600)
    f = h["recipes"]["b"]
    assert f["images_per_training"] == 400 and f["pilot_cpu_hours"] == approx(14 * 20 / 3600)
    assert f["table_kwh"] == approx(1e-4 * 64) and f["complete"] and f["mean_test_acc"] == approx(0.5)
    assert h["goals"] == {"a_recipe_reaches_the_ceiling": True}
    # an unfinished recipe is never the pick, however good its partial tau
    mid_partial = {**mid, "planned": 20}
    assert pilot.headline({"raw": _raw([cheap_noisy, mid_partial, dear])})["pick"] == "c"
    h = pilot.headline({"raw": _raw([cheap_noisy], goal=0.9)})
    assert h["pick"] is None and h["pick_table_cpu_hours"] is None and not h["goals"]["a_recipe_reaches_the_ceiling"]


def test_an_unstarted_recipe_reports_nothing_and_is_no_pick(pilot):
    h = pilot.headline({"raw": _raw([{"name": "z", "train_images": 1, "epochs": 1, "rows": [], "planned": 20}])})
    f = h["recipes"]["z"]
    assert f["trainings_done"] == 0 and f["seed_tau"]["tau"] is None and f["table_cpu_hours"] is None
    assert h["pick"] is None and h["energy_source"] == []


@pytest.mark.parametrize("text", ["x", "x=1", "x=a:2", "x=0:2", "=10:2", "x=10:0"])
def test_bad_recipes_are_refused(pilot, text):
    with pytest.raises(ValueError, match="expected NAME=IMAGES:EPOCHS"):
        pilot.parse_recipe(text)
    with pytest.raises(SystemExit) as err:
        pilot.main(["--recipe", text, "--steps", "report"])
    assert err.value.code == 2


def test_run_without_data_is_refused(pilot, tmp_path, capsys):
    with pytest.raises(SystemExit) as err:
        pilot.main(["--data-root", str(tmp_path), "--recipe", "a=10:1"])
    assert err.value.code == 2 and "not a CIFAR-10 ImageFolder" in capsys.readouterr().err


def test_rows_are_read_from_each_finished_training_of_a_build_under_way(pilot, tmp_path, monkeypatch):
    import json

    monkeypatch.setattr(pilot, "ROOT", tmp_path)
    recipe = {"name": "r", "train_images": 10, "epochs": 1}
    assert pilot.read_rows(recipe, False) == ([], pilot.SUBNETS * pilot.SEEDS, {})  # not started
    folder = tmp_path / "outputs" / "pilot" / "r"
    (folder / "runs" / "00_a").mkdir(parents=True)
    (folder / "runs" / "01_b").mkdir(parents=True)  # a training under way: no row yet
    (folder / "identity.json").write_text(json.dumps(
        {"data": {"d": 1}, "recipe": {"epochs": 1}, "plan": {"subnets": 3, "seeds": 2}, "space": {}}))
    row = {"arch": "a", "replicate": 0, "role": "smallest", "test_acc": 0.4, "plateau_points": float("nan"),
           "train_seconds": 3.0, "extra": "dropped"}
    (folder / "runs" / "00_a" / "row.json").write_text(json.dumps({"result": row}))
    rows, planned, ident = pilot.read_rows(recipe, False)
    assert planned == 6 and ident == {"data": {"d": 1}, "recipe": {"epochs": 1}, "plan": {"subnets": 3, "seeds": 2}}
    assert len(rows) == 1 and rows[0]["plateau_points"] is None and "extra" not in rows[0]
    assert rows[0]["test_acc"] == 0.4 and rows[0]["stratum"] is None
