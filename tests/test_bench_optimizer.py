"""The optimizer benchmark's problems, indicators and statistics, and its headline recomputed from raw data.

Known answers of the discretised ZDT and DTLZ2 problems and their exact reference fronts, the NAS-like
problem's ranges and constraint, IGD and hypervolume, Holm's correction, A12 and the Mann-Whitney cell
verdicts on constructed data, ``bench/recompute.py`` catching an edited figure, and small end-to-end
runs of our engine (pymoo's run only where pymoo is installed: CI does not install it).
"""
import json
import math
import random

import numpy as np
import pytest

from bench import optimizer, problems, recompute
from bench.optim import figures, runners
from bench.optim.runs import at_budgets, do_run, parse_problems


# -- problems ---------------------------------------------------------------------------------------------

def test_zdt_known_answers():
    zero, first = [0] * 30, [7] + [0] * 29
    for k in (1, 2, 3):
        p = problems.ZDT(k, 8)
        assert p.one(zero) == pytest.approx({"f1": 0.0, "f2": 1.0})
        assert p.one(first)["f1"] == 1.0
    assert problems.ZDT(1, 8).one(first)["f2"] == pytest.approx(0.0)
    assert problems.ZDT(2, 8).one(first)["f2"] == pytest.approx(0.0)
    assert problems.ZDT(3, 8).one(first)["f2"] == pytest.approx(-math.sin(10 * math.pi), abs=1e-12)
    top = problems.ZDT(1, 8).one([7] * 30)  # g = 10
    assert top["f2"] == pytest.approx(10 * (1 - math.sqrt(0.1)))
    # x_2 = 3/7: g = 1 + 9 * (3/7) / 29
    g = 1 + 9 * (3 / 7) / 29
    assert problems.ZDT(2, 8).one([0, 3] + [0] * 28)["f2"] == pytest.approx(g)
    assert problems.ZDT(1, 8).bounds() == ([0.0, 0.0], [1.0, 10.0])


def test_zdt_reference_fronts_are_the_filtered_g1_line():
    for k, levels in ((1, 8), (2, 16), (3, 16)):
        p = problems.ZDT(k, levels)
        ref = p.reference_front()
        x1 = np.arange(levels) / (levels - 1)
        assert set(ref[:, 0]) <= set(x1)
        if k < 3:  # convex and concave fronts: every grid value of x1 is Pareto-optimal
            assert len(ref) == levels
        else:  # ZDT3's front is disconnected: the filter drops some
            assert 2 < len(ref) < levels
        # nothing on the grid dominates the front: random genomes never do
        G = np.random.default_rng(0).integers(0, levels, size=(2000, 30))
        F = p.evaluate(G)
        dominated = ((F[:, None, :] <= ref[None]).all(axis=2) & (F[:, None, :] < ref[None]).any(axis=2))
        assert not dominated.any()


def test_dtlz2_front_on_the_unit_sphere_when_half_is_on_the_grid():
    p = problems.DTLZ2(9)
    ref = p.reference_front()
    assert np.allclose(np.linalg.norm(ref, axis=1), 1.0, atol=1e-12)
    assert len(ref) == 8 * 9 + 1  # every position pair, the pole (x_1 = 1) once
    assert p.one([0] * 12) == pytest.approx({"f1": 3.5, "f2": 0.0, "f3": 0.0})  # g = 10 * 0.25
    even = problems.DTLZ2(8).reference_front()  # 0.5 is not on the grid: g = 10 (0.5 / 7)^2
    assert np.allclose(np.linalg.norm(even, axis=1), 1 + 10 * (0.5 / 7) ** 2)
    assert p.bounds() == ([0.0, 0.0, 0.0], [3.5, 3.5, 3.5])


@pytest.mark.parametrize("name", ["zdt1-8", "zdt3-16", "dtlz2-8", "nas"])
def test_bounds_hold_every_sampled_genome(name):
    p = problems.make(name)
    ideal, nadir = p.bounds()
    G = np.random.default_rng(1).integers(0, np.asarray(p.sizes), size=(5000, len(p.sizes)))
    F = p.evaluate(G)
    assert (F >= np.asarray(ideal) - 1e-12).all() and (F <= np.asarray(nadir) + 1e-12).all()


def test_nas_like_problem_ranges_and_monotone_costs():
    p = problems.NASLike()
    assert len(p.sizes) == 20 and set(p.sizes) <= {3, 4} and set(p.kinds) == {"ordinal"}
    s = p.sample_fields(20000, 3)
    assert ((s["error"] > 0) & (s["error"] < 1)).all()
    for f in ("macs", "latency"):
        assert ((s[f] > 0) & (s[f] <= 1)).all()
    assert p.one([n - 1 for n in p.sizes])["macs"] == 1.0
    # the costs grow with every gene; latency with depth more than with width
    base = [1] * 20
    for i in range(20):
        up = base[:i] + [2] + base[i + 1:]
        for f in ("macs", "latency"):
            assert p.one(up)[f] > p.one(base)[f]
    low = p.one(base)["latency"]
    assert p.one([1, 1, 2, 2, 2, 2, 2, 2] + [1] * 12)["latency"] - low > p.one([1, 2] + [1] * 18)["latency"] - low
    # error is deterministic, falls with capacity overall
    assert p.one([0] * 20)["error"] > p.one([n - 1 for n in p.sizes])["error"]
    assert p.one(base) == p.one(base)


def test_macs_threshold_leaves_under_one_in_a_thousand():
    est = problems.macs_threshold(n=100_000)
    assert est["feasible_share"] < 1e-3 and est["feasible"] > 0 and est["sample_outside_bounds"] == 0
    p = problems.make("nas-constrained", est["threshold"])
    assert p.constraint == ("macs", est["threshold"]) and p.name == "nas-constrained"
    with pytest.raises(ValueError, match="threshold"):
        problems.make("nas-constrained")
    with pytest.raises(ValueError, match="unknown problem"):
        problems.make("zdt9-8")


def test_grid_space_genome_interface():
    space = problems.GridSpace([3, 40, 70], ["ordinal", "categorical", "ordinal"])
    rng = random.Random(0)
    xs = [space.sample(rng) for _ in range(200)]
    assert all(space.decode(space.encode(x)) == x and str(space.decode(space.encode(x))) == str(x) for x in xs)
    assert len({str(x) for x in xs}) == len(set(xs))
    assert space.encode(space.largest()) == [2, 39, 69] and space.encode(space.smallest()) == [0, 0, 0]
    assert space.gene_kinds() == ["ordinal", "categorical", "ordinal"]
    assert str(space.decode([1, 2, 3])) != str(space.decode([1, 23]))  # keys of genes over 62 levels stay unique
    assert space.digest() == problems.GridSpace([3, 40, 70], ["ordinal", "categorical", "ordinal"]).digest()
    assert space.digest() != problems.GridSpace([3, 40, 70]).digest()
    with pytest.raises(ValueError):
        problems.GridSpace([3], ["nominal"])


# -- indicators and statistics ----------------------------------------------------------------------------

def test_igd_and_hypervolume_known_answers():
    ref = problems.ZDT(1, 16).reference_front()
    assert figures.igd(ref, ref) == 0.0
    assert figures.igd(np.array([[3.0, 4.0]]), np.array([[0.0, 0.0]])) == pytest.approx(5.0)
    assert figures.igd(np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([[0.0, 1.0], [1.0, 1.0]])) == pytest.approx(0.5)
    assert figures.igd(np.zeros((0, 2)), np.array([[0.1, 1.1]])) == pytest.approx(1.0)  # empty: (1.1, 1.1)
    assert figures.hypervolume(np.array([[0.1, 0.1]])) == pytest.approx(1.0)
    assert figures.hypervolume(np.array([[0.1, 0.6], [0.6, 0.1]])) == pytest.approx(0.75)
    assert figures.hypervolume(np.zeros((0, 2))) == 0.0
    assert figures.hypervolume(np.array([[1.2, 0.0]])) == 0.0  # beyond the reference point
    assert figures.normalise([[1.0, 5.0]], [0.0, 0.0], [2.0, 10.0]).tolist() == [[0.5, 0.5]]


def test_holm_a12_mann_whitney_known_answers():
    assert figures.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert figures.holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])
    assert figures.a12([2, 3], [1, 1]) == 1.0 and figures.a12([1, 1], [1, 1]) == 0.5
    assert figures.a12([1, 3], [2, 2]) == 0.5 and figures.a12([0], [1]) == 0.0
    assert figures.mann_whitney([1, 1, 1], [1, 1, 1]) == 1.0
    assert figures.mann_whitney(range(5), range(10, 15)) == pytest.approx(2 / 252)  # exact: 2 of C(10, 5)


@pytest.mark.parametrize("hv_p, hv_a, igd_p, igd_a, expected", [
    (0.01, 0.9, 0.5, 0.5, "better"),   # more hypervolume
    (0.5, 0.5, 0.01, 0.1, "better"),   # less IGD
    (0.01, 0.1, 0.5, 0.5, "worse"),    # less hypervolume
    (0.5, 0.5, 0.01, 0.9, "worse"),    # more IGD
    (0.01, 0.9, 0.01, 0.9, "worse"),   # better on one, worse on the other: worse
    (0.06, 0.0, 0.06, 1.0, "same"),    # not significant
])
def test_verdict(hv_p, hv_a, igd_p, igd_a, expected):
    assert figures.verdict(hv_p, hv_a, igd_p, igd_a) == expected


def _raw(budgets=(10, 20), seeds=5):
    """A 2-objective problem with the exact front {(0, 1), (1, 0)}: the engine finds it, pymoo a worse point,
    random search beats the engine at budget 20; one constrained problem where pymoo finds nothing feasible."""
    def run(pid, algo, seed, front, feasible=10):
        return {"problem": pid, "algorithm": algo, "seed": seed, "unique_evals": max(budgets),
                "budgets": {str(b): {"front": front(b, seed), "evaluated": b, "feasible": min(b, feasible),
                                     "generations": b // 5} for b in budgets}}

    good = lambda b, s: [[0.0, 1.0 + 0.01 * s], [1.0, 0.0]]           # noqa: E731
    bad = lambda b, s: [[0.9 + 0.01 * s, 0.95]]                        # noqa: E731
    best = lambda b, s: good(b, s) if b < 20 else [[0.0, 0.9 - 0.01 * s], [0.3, 0.3], [0.9, 0.0]]  # noqa: E731
    runs = [run("toy", "engine", s, good) for s in range(seeds)]
    runs += [run("toy", "pymoo", s, bad) for s in range(seeds)]
    runs += [run("toy", "random", s, best) for s in range(seeds)]
    runs += [run("toyc", "engine", s, good, feasible=max(budgets)) for s in range(seeds)]
    runs += [run("toyc", "pymoo", s, lambda b, s: [], feasible=s) for s in range(seeds)]
    plain = {"objectives": ["f1", "f2"], "ideal": [0.0, 0.0], "nadir": [1.0, 1.0], "constrained": False,
             "reference": "exact", "reference_front": [[0.0, 1.0], [1.0, 0.0]]}
    return {"budgets": list(budgets), "alpha": 0.05, "hv_ref": 1.1, "population": 20,
            "problems": {"toy": plain, "toyc": {**plain, "constrained": True, "reference": "union",
                                                "reference_front": None}},
            "runs": runs,
            "overhead": {"engine_run_dir": {"500": [{"wall_s": 2.0, "eval_s": 1.0, "unique_evals": 500},
                                                    {"wall_s": 3.0, "eval_s": 1.0, "unique_evals": 500},
                                                    {"wall_s": 9.0, "eval_s": 1.0, "unique_evals": 500}]},
                         "engine_no_run_dir": {"500": [{"wall_s": 1.5, "eval_s": 1.0, "unique_evals": 500}]}}}


def test_headline_cells_on_constructed_data():
    h = figures.headline({"raw": _raw()})
    # engine vs pymoo: better in both unconstrained cells, on both indicators
    assert (h["cells_better"], h["cells_worse"], h["cells_total"]) == (2, 0, 2)
    assert (h["cells_better_holm"], h["cells_worse_holm"]) == (2, 0)
    # vs random: equal at budget 10 (identical fronts), worse at 20
    assert h["vs_random"] == {"cells_worse": 1, "cells_better": 0, "cells_total": 2, "cells_worse_holm": 1,
                              "cells_better_holm": 0}
    cell = next(c for c in h["cells"] if c["problem"] == "toy" and c["budget"] == 10)
    assert cell["vs"]["random"]["verdict"] == "same" and cell["vs"]["random"]["hv_p"] == 1.0
    v = cell["vs"]["pymoo"]
    assert v["hv_a12"] == 1.0 and v["igd_a12"] == 0.0 and v["hv_p"] == pytest.approx(2 / 252)
    eng = cell["algorithms"]["engine"]
    assert eng["igd"]["mean"] == pytest.approx(0.01) and eng["generations_mean"] == 2.0
    # a front's hypervolume: (0, 1 + 0.01 s) and (1, 0) with reference 1.1
    assert eng["hv_per_seed"][0] == pytest.approx(1.1 * 0.1 + 0.1 * 1.0)
    # the constrained problem: the engine spent all of it on feasible genomes, pymoo's worst seed nothing
    assert h["constrained_feasible_share"] == 1.0 and h["constrained_feasible_share_pymoo"] == 0.0
    assert h["overhead_ms"] == {"500": pytest.approx(4.0)}  # median of 2, 4, 16 ms
    assert h["overhead_ms_no_run_dir"] == {"500": pytest.approx(1.0)} and h["overhead_ms_pymoo"] == {}
    assert h["reference_front_sizes"] == {"toy": 2, "toyc": 2}  # toyc: the union of the engine's fronts
    c = next(c for c in h["cells"] if c["problem"] == "toyc" and c["budget"] == 20)
    assert c["algorithms"]["pymoo"]["hv"]["mean"] == 0.0 and c["vs"]["pymoo"]["verdict_holm"] is None


def test_headline_recomputes_and_catches_an_edit(bench_result):
    path, result = bench_result(recompute, "optimizer", figures.headline, _raw())
    bad = json.loads(json.dumps(result))
    bad["cells_better"] = 1
    path.write_text(json.dumps(bad))
    assert any(p.startswith("cells_better:") for p in recompute.check(path))
    bad = json.loads(json.dumps(result))  # raw data that no longer supports the figure
    for r in bad["raw"]["runs"]:
        if r["problem"] == "toy" and r["algorithm"] == "pymoo":
            r["budgets"]["10"]["front"] = [[0.0, 0.0]]
    path.write_text(json.dumps(bad))
    assert any(p.startswith("cells_better") for p in recompute.check(path))


def test_parse_problems():
    assert parse_problems("zdt1") == ["zdt1-8", "zdt1-16", "zdt1-32"]
    assert parse_problems("zdt1-16,nas,zdt1-16") == ["zdt1-16", "nas"]
    assert len(parse_problems("all")) == 18 and {"cifar-k1", "few-40-k4"} <= set(parse_problems("all"))
    with pytest.raises(ValueError):
        parse_problems("zdt1-16,bogus")


# -- the engine and pymoo on small budgets -----------------------------------------------------------------

def test_engine_run_is_anytime_and_unique():
    p = problems.make("zdt1-8")
    long, short = runners.run_engine(p, "engine", 3, 100), runners.run_engine(p, "engine", 3, 60)
    assert long["unique_evals"] == 100 and long["duplicate_genomes"] == 0
    assert short["F"] == long["F"][:60]  # the first B evaluations of a longer run are the run with budget B
    at = at_budgets(long, [60, 100])
    assert at["60"]["evaluated"] == 60 and at["100"]["feasible"] == 100
    F = np.asarray(long["F"])
    assert sorted(map(tuple, at["100"]["front"])) == sorted(map(tuple, problems.nondominated(F)))


def test_engine_spends_a_tight_budget_on_feasible_genomes():
    est = problems.macs_threshold(n=100_000)
    p = problems.make("nas-constrained", est["threshold"])
    r = runners.run_engine(p, "engine", 0, 40)
    assert r["unique_evals"] == 40 and all(r["feasible"])


def test_pymoo_run_counts_unique_evaluations():
    pytest.importorskip("pymoo")
    p = problems.make("zdt1-8")
    r = runners.run_pymoo(p, 0, 70)
    assert r["unique_evals"] == 70 and len(set(map(tuple, r["F"]))) <= 70
    assert runners.run_pymoo(p, 0, 50)["F"] == r["F"][:50]  # seeded, and a shorter budget stops it earlier


def test_main_end_to_end_recomputes(tmp_path, monkeypatch):
    monkeypatch.setattr(recompute, "_headline_fn", lambda name: figures.headline)
    args = ["--seeds", "2", "--budgets", "20,40", "--problems", "zdt1-8,nas", "--algorithms", "engine,random",
            "--no-overhead", "--work", str(tmp_path / "runs"), "--out", str(tmp_path)]
    optimizer.main(args)
    files = sorted((tmp_path / "runs").glob("*.json"))
    assert len(files) == 8
    data = json.loads((tmp_path / "optimizer.json").read_text())
    assert recompute.check(tmp_path / "optimizer.json") == []
    assert data["vs_random"]["cells_total"] == 4 and data["cells_total"] == 0  # no pymoo asked for
    assert data["raw"]["problems"]["nas"]["reference"] == "union"
    stamp = files[0].stat().st_mtime_ns
    optimizer.main(args)  # resumed: every run is read back, none rerun
    assert files[0].stat().st_mtime_ns == stamp
    assert json.loads((tmp_path / "optimizer.json").read_text())["raw"]["runs"] == data["raw"]["runs"]


def test_nas_like_instances_of_other_sizes_for_tuning():
    four = problems.make("nas-4")
    assert four.name == "nas-4" and len(four.sizes) == 2 + 3 * 4 and list(four.pick) == [0, 2, 3, 5]
    assert four.digest() != problems.NASLike().digest()
    assert four.one([n - 1 for n in four.sizes])["macs"] == 1.0
    assert problems.make("nas").name == "nas" and len(problems.make("nas").sizes) == 20
    with pytest.raises(ValueError, match="2 to 6 stages"):
        problems.make("nas-7")
    assert parse_problems("nas-4,nas") == ["nas-4", "nas"]


def test_rejection_sampling_evaluates_only_feasible_unseen_genomes_within_its_checks():
    nas = problems.NASLike()
    loose = problems.NASLike(float(np.quantile(nas.sample_fields(2000, 0)["macs"], 0.5)))
    run = runners.run_rejection(loose, seed=0, budget=30, max_checks=10_000)
    assert run["unique_evals"] == len(run["F"]) == 30 and run["feasible"] == [True] * 30
    assert all(f[1] <= loose.constraint[1] for f in run["F"])  # macs is the second objective
    assert len({tuple(f) for f in run["F"]}) == 30 and run["cost_checks"] > 30  # about half were rejected
    tight = problems.NASLike(1e-9)  # nothing meets it: every check is a rejection
    none = runners.run_rejection(tight, seed=0, budget=30, max_checks=500)
    assert none["F"] == [] and none["cost_checks"] == 500 and none["n_obj"] == 3
    b = at_budgets({**none, "budget": 30}, [30])["30"]
    assert b["evaluated"] == 0 and b["feasible"] == 0 and b["front"] == []
    with pytest.raises(ValueError, match="constrained problem"):
        runners.run_rejection(nas, seed=0, budget=3, max_checks=10)


def test_rejection_gets_the_engines_cost_checks(tmp_path):
    thr = problems.macs_threshold(n=20000)["threshold"]
    spec = {"problem": "nas-constrained", "threshold": thr, "seed": 0, "budget": 40, "work": str(tmp_path)}
    engine = do_run({**spec, "algorithm": "engine"})
    rej = do_run({**spec, "algorithm": "rejection"})
    assert engine["cost_checks"] > 0 and rej["max_checks"] == engine["cost_checks"]
    assert rej["cost_checks"] <= engine["cost_checks"] and rej["unique_evals"] < engine["unique_evals"]
