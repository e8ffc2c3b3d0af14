"""green-table: the stratified plan, the resumable build, its identity checks and its statistics."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import search.ranking.build as table_mod
from search.hardware.cost import count
from search.ranking.build import build, plan
from search.ranking.table import Table, TableRow, load_table, mismatch
from core.errors import GreenError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def built(ground_table):
    return ground_table


def _row(arch, rep, acc, curve=(0.5, 0.5)):
    return TableRow(arch=arch, seed=rep, replicate=rep, stratum=0, role="sampled", params=1, macs=1, val_acc=acc,
                    test_acc=acc, test_recall=acc, epochs=2, images_seen=10, train_kwh=1e-6,
                    energy_source="codecarbon-estimate", train_seconds=1.0, test_curve=curve, val_curve=curve)


def test_plan_is_stratified_deterministic_and_keeps_the_extremes(tiny_space):
    a = plan(tiny_space, 8, 3, 300, 0, 10, 1)
    assert a == plan(tiny_space, 8, 3, 300, 0, 10, 1)
    assert a != plan(tiny_space, 8, 3, 300, 1, 10, 1)
    assert [p.role for p in (a[0], a[-1])] == ["smallest", "largest"]
    assert str(a[0].arch) == str(tiny_space.smallest()) and str(a[-1].arch) == str(tiny_space.largest())
    sampled = [p for p in a if p.role == "sampled"]
    assert [p.stratum for p in sampled] == [0, 0, 1, 1, 2, 2]
    assert len({str(p.arch) for p in a}) == 8
    macs = [count(tiny_space, p.arch, 10, 1)[1] for p in sampled]
    assert max(macs[:2]) <= min(macs[4:])  # the lowest stratum is cheaper than the highest


@pytest.mark.parametrize("subnets, strata, message", [(2, 1, "must be >= 3"), (7, 2, "split evenly"),
                                                      (8, 0, "split evenly")])
def test_plan_bad_sizes(tiny_space, subnets, strata, message):
    with pytest.raises(GreenError, match=message):
        plan(tiny_space, subnets, strata, 300, 0, 10, 1)


def test_plan_pool_too_small(tiny_space):
    with pytest.raises(GreenError, match="raise table.pool"):
        plan(tiny_space, 12, 5, 3, 0, 10, 1)


def test_build_trains_every_subnet_and_seed_and_records_curves(built):
    out, t = built
    assert t.complete() and len(t.rows) == 6 and len(t.archs()) == 3
    assert sorted({r.replicate for r in t.rows}) == [0, 1]
    assert len({r.seed for r in t.rows}) == 6  # every training its own seed
    for r in t.rows:
        assert len(r.test_curve) == 2 and len(r.val_curve) == 2 and r.epochs == 2
        assert 0 <= r.test_acc <= 1 and r.images_seen > 0 and r.train_kwh > 0
        assert r.plateau_points == pytest.approx(abs(r.test_curve[1] - r.test_curve[0]) * 100)
        assert r.test_curve[-1] == r.test_acc  # the final point is the row's test
    back = load_table(out)
    assert back.rows == t.rows and back.identity == t.identity
    saved = json.loads((out / "table.json").read_text())
    assert saved["summary"]["rows"] == 6 and saved["identity"]["recipe"]["epochs"] == 2
    assert saved["identity"]["data"]["train_images"] == 256


def test_a_one_epoch_recipe_has_a_one_point_curve(monkeypatch, tmp_path, table_cfg):
    """Only the epochs before the final one get an extra test pass; the final point is the row's test."""
    import search.ranking.build as t

    seen = []
    real = t.TestCurve.on_train_epoch_end

    def spy(self, trainer, pl_module):
        real(self, trainer, pl_module)
        seen.append(list(self.test))

    monkeypatch.setattr(t.TestCurve, "on_train_epoch_end", spy)
    tab = build(table_cfg(tmp_path, "table.seeds=1", "epochs=1"))
    assert all(len(r.test_curve) == 1 and r.test_curve[0] == r.test_acc for r in tab.rows)  # no earlier point
    assert seen == [[]] * 3


def test_build_resumes_without_training_again(built, monkeypatch, table_cfg):
    out, t = built
    monkeypatch.setattr(table_mod, "fit_and_measure", lambda *a, **k: pytest.fail("trained a finished row"))
    again = build(table_cfg(out))
    assert again.rows == t.rows


def test_build_resumes_a_partial_table(built, tmp_path, table_cfg):
    out, t = built
    import shutil

    shutil.copytree(out, tmp_path / "t")
    shutil.rmtree(tmp_path / "t" / "runs" / f"02_{t.rows[2].arch}_s1")  # the last training, as if killed
    calls = []
    real = table_mod.fit_and_measure
    monkey = pytest.MonkeyPatch()
    monkey.setattr(table_mod, "fit_and_measure", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    try:
        again = build(table_cfg(tmp_path / "t"))
    finally:
        monkey.undo()
    assert calls == [f"02_{t.rows[2].arch}_s1"] and again.complete()


def test_validation_every_n_epochs_keeps_the_curve_aligned(tmp_path, table_cfg):
    tab = build(table_cfg(tmp_path, "table.seeds=1", "epochs=2", "trainer.check_val_every_n_epoch=2"))
    assert all(len(r.val_curve) == 1 and not math.isnan(r.val_acc) for r in tab.rows)
    assert all(len(r.test_curve) == 2 for r in tab.rows)


@pytest.mark.parametrize("override, part", [("epochs=3", "recipe"), ("data.train_subset=200", "data"),
                                            ("table.seeds=3", "plan"), ("optimizer.lr=0.2", "recipe")])
def test_build_refuses_a_folder_of_another_table(built, table_cfg, override, part):
    out, _ = built
    with pytest.raises(GreenError, match=f"another {part}"):
        build(table_cfg(out, override))


def test_load_table_checks_space_data_and_recipe(built):
    out, t = built
    want = json.loads(json.dumps(t.identity))
    assert load_table(out, want).rows == t.rows
    for part, key, value in [("space", None, "0" * 12), ("data", "image_size", 64), ("recipe", "lr", 9.0)]:
        w = json.loads(json.dumps(t.identity))
        if key is None:
            w[part] = value
        else:
            w[part][key] = value
        with pytest.raises(GreenError, match=f"of another {part}"):
            load_table(out, w)


def test_load_table_bad_files(tmp_path):
    with pytest.raises(GreenError, match="cannot read"):
        load_table(tmp_path / "none.json")
    (tmp_path / "x.json").write_text(json.dumps({"front": []}))
    with pytest.raises(GreenError, match="not a green-table table"):
        load_table(tmp_path / "x.json")
    (tmp_path / "y.json").write_text(json.dumps({"version": 1, "identity": {}, "rows": [{"arch": "a"}]}))
    with pytest.raises(GreenError, match="lacks seed"):
        load_table(tmp_path / "y.json")


def test_noise_ceiling_known_answers():
    same = [_row(a, rep, acc) for rep in (0, 1) for a, acc in zip("abcd", (0.1, 0.2, 0.3, 0.4))]
    assert Table({"plan": {"subnets": 4, "seeds": 2}}, tuple(same)).noise_ceiling()["tau"] == pytest.approx(1.0)
    flip = [_row(a, 0, acc) for a, acc in zip("abcd", (0.1, 0.2, 0.3, 0.4))]
    flip += [_row(a, 1, acc) for a, acc in zip("abcd", (0.4, 0.3, 0.2, 0.1))]
    t = Table({"plan": {"subnets": 4, "seeds": 2}}, tuple(flip))
    nc = t.noise_ceiling()
    assert nc["tau"] == pytest.approx(-1.0) and nc["n"] == 4 and nc["ci"][0] <= nc["ci"][1]
    assert t.mean_test() == pytest.approx({a: 0.25 for a in "abcd"})
    one_seed = Table({"plan": {"subnets": 4, "seeds": 1}}, tuple(flip[:4]))
    assert math.isnan(one_seed.noise_ceiling()["tau"])


def test_plateau_points_and_summary():
    r = _row("a", 0, 0.5, curve=(0.500, 0.504))
    assert r.plateau_points == pytest.approx(0.4)
    assert math.isnan(_row("a", 0, 0.5, curve=(0.5,)).plateau_points)
    t = Table({"plan": {"subnets": 2, "seeds": 1}, "plateau_points": 0.5},
              (r, _row("b", 0, 0.6, curve=(0.50, 0.52))))
    s = t.summary()
    assert (s["plateau_reached"], s["plateau_checked"]) == (1, 2)
    assert s["plateau_points_max"] == pytest.approx(2.0) and s["complete"]


def test_mismatch_names_the_part_and_keys():
    assert mismatch({"space": "a", "data": {"x": 1}}, {"space": "a", "data": {"x": 1}}) is None
    assert mismatch({"space": "a"}, {"space": "b"}) == "space ('a' vs 'b')"
    assert mismatch({"space": "a", "data": {"x": 1, "y": 2}}, {"space": "a", "data": {"x": 1, "y": 3}}) \
        == "data (y: 2 vs 3)"


@pytest.mark.slow
def test_cli_bad_input_is_one_line_and_nonzero(tmp_path):
    r = subprocess.run([sys.executable, "-m", "search.commands.table", "table.subnets=2", f"hydra.run.dir={tmp_path / 'o'}"],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode != 0
    assert r.stderr.strip().splitlines()[-1].startswith("green-table: error: table.subnets must be >= 3")
    assert not (tmp_path / "o").exists()  # refused before identity.json: no folder that looks like a table


def test_a_killed_table_refuses_to_resume_with_another_recipe(built, tmp_path, table_cfg, monkeypatch):
    """Killed before table.json was written and rerun with other epochs: refused, naming the key, instead of
    appending rows of the new recipe to rows of the old; force_new=true discards the old rows."""
    import shutil

    out, t = built
    part = tmp_path / "t"
    shutil.copytree(out, part)
    (part / "table.json").unlink()  # killed before the end: only identity.json and the finished rows
    shutil.rmtree(part / "runs" / f"02_{t.rows[2].arch}_s1")
    assert (part / "identity.json").is_file()
    monkeypatch.setattr(table_mod, "fit_and_measure", lambda *a, **k: pytest.fail("trained under a mixed recipe"))
    with pytest.raises(GreenError, match=r"another recipe \(epochs: 2 vs 3\).*force_new=true"):
        build(table_cfg(part, "epochs=3"))
    monkeypatch.undo()
    fresh = build(table_cfg(part, "table.seeds=1", "epochs=1", "force_new=true"))
    assert {r.epochs for r in fresh.rows} == {1} and len(fresh.rows) == len(t.rows) // 2
    assert json.loads((part / "identity.json").read_text())["recipe"]["epochs"] == 1
