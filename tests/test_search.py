import json
import random
import subprocess
import sys

import pytest

from search.hardware.lookup import TableError
from search.evolution.engine import Evolution
from search.evolution.settings import Settings
from search.evolution.front import Front
from search.evolution.objectives import hypervolume, parse_constraints, parse_objectives
from search.evolution.search import search
from core.errors import GreenError


def fake_costs(space):
    """Deterministic stand-ins: cost grows with size, accuracy with size but with diminishing returns."""
    from search.hardware.cost import count

    def cost_fn(arch):
        params, macs = count(space, arch, 10, 1)
        return {"params": params, "macs": macs, "latency_ms": macs / 1e5, "energy_mj": macs / 1e4,
                "energy_source": "test"}

    calls = []

    def eval_fn(arch):
        calls.append(str(arch))
        macs = count(space, arch, 10, 1)[1]
        wobble = (hash(str(arch)) % 97) / 9700  # arch-specific, deterministic within a process
        return {"acc": 1 - 1 / (1 + macs / 2e5) - wobble, "recall": 0.5, "eval_seconds": 0.0}
    return cost_fn, eval_fn, calls


def evo(space, tmp_path=None, **kw):
    """An evolution of ``space`` with settings ``kw`` on the fake costs, its evaluator and the evaluation log."""
    cost_fn, eval_fn, calls = fake_costs(space)
    kw.setdefault("objectives", ["acc", "macs"])
    return Evolution(space, Settings(**kw), cost_fn, run_dir=tmp_path, progress=False), eval_fn, calls


def test_hypervolume_with_fixed_reference():
    assert hypervolume([[0.5, 0.5]]) == pytest.approx(0.25)
    assert hypervolume([[0.5, 0.5], [0.25, 0.75]]) == pytest.approx(0.25 + 0.75 * 0.25 - 0.5 * 0.25)
    assert hypervolume([[1.5, 0.1]]) == 0.0


def test_budget_counts_unique_evaluations(tiny_space):
    e, score, calls = evo(tiny_space, population=8, generations=20, budget=30)
    e.run(score)
    assert len(e.records) == 30 == len(calls) == len(set(calls))
    hv = [row["hypervolume"] for row in e.logbook]
    assert hv == sorted(hv) and hv[-1] > 0  # the archive's front only improves


def test_front_is_non_dominated_and_complete(tiny_space):
    e, score, _ = evo(tiny_space, population=8, generations=3)
    front = e.run(score)
    pts = [e.norm(r) for r in front]
    others = [e.norm(r) for r in e.records.values()]
    from search.evolution.objectives import dominates
    assert not any(dominates(q, p) for p in pts for q in others)
    assert len(front) >= 2


@pytest.mark.parametrize("algorithm", ["nsga2", "nsga3", "random"])
def test_algorithms_run(tiny_space, algorithm):
    e, score, calls = evo(tiny_space, algorithm=algorithm, population=8, generations=2,
                   objectives=parse_objectives(["acc", "macs", "energy"]))
    e.run(score)
    assert len(e.records) == 24 and len(e.logbook) == 3


def test_constraints_are_checked_before_evaluation(tiny_space):
    limit = 5500
    e, score, calls = evo(tiny_space, population=8, generations=3, constraints=parse_constraints([f"params <= {limit}"]))
    e.run(score)
    assert all(r["params"] <= limit for r in e.records.values())
    assert len(calls) == len(e.records)  # no evaluation was spent on an infeasible candidate


def test_impossible_constraint_is_reported(tiny_space):
    e, score, calls = evo(tiny_space, population=8, generations=3, constraints=parse_constraints(["params <= 10"]))
    with pytest.raises(GreenError, match="no subnet of the space meets the constraints"):
        e.run(score)
    assert calls == []


def test_resume_after_interruption_gives_the_same_front(tiny_space, tmp_path):
    full, score, _ = evo(tiny_space, tmp_path / "full", population=8, generations=4, seed=3)
    want = full.run(score)

    cost_fn, eval_fn, _ = fake_costs(tiny_space)
    n = {"calls": 0}

    def dying(arch):
        n["calls"] += 1
        if n["calls"] == 21:  # in the middle of generation 2
            raise KeyboardInterrupt
        return eval_fn(arch)
    settings = Settings(objectives=["acc", "macs"], population=8, generations=4, seed=3)
    with pytest.raises(KeyboardInterrupt):
        Evolution(tiny_space, settings, cost_fn, run_dir=tmp_path / "cut", progress=False).run(dying)
    state = json.loads((tmp_path / "cut" / "checkpoint.json").read_text())
    assert state["gen"] == 1
    resumed = Evolution(tiny_space, settings, cost_fn, run_dir=tmp_path / "cut", progress=False)
    got = resumed.run(eval_fn)
    assert [r["arch"] for r in got] == [r["arch"] for r in want]
    assert list(resumed.records) == list(full.records)
    assert resumed.cache_hits >= 4  # the interrupted generation's evaluations came from the cache


def test_resume_with_other_settings_is_refused(tiny_space, tmp_path):
    e, score, _ = evo(tiny_space, tmp_path, population=8, generations=1)
    e.run(score)
    with pytest.raises(GreenError, match="other settings: the settings changed \\(algorithm 'nsga2' -> 'nsga3'\\)"):
        e, score, _ = evo(tiny_space, tmp_path, population=8, generations=1, algorithm="nsga3")
        e.run(score)
    # another objective: named as such, not blamed on the state files (which lack its figure)
    with pytest.raises(GreenError, match="other settings: the objectives changed \\(objectives \\["):
        e, score, _ = evo(tiny_space, tmp_path, population=8, generations=1, objectives=["acc", "params", "macs"])
        e.run(score)


@pytest.mark.parametrize("kwargs, message", [
    ({"objectives": ["acc", "speed"]}, "unknown objective"),
    ({"budget": 0}, "budget must be >= 1"),
    ({"population": 1}, "population must be >= 2"),
    ({"crossover": "onepoint"}, "unknown crossover 'onepoint'"),
    ({"mutation": "gauss"}, "unknown mutation 'gauss'"),
    ({"eta_cx": -1}, "eta_cx and eta_mut must be >= 0"),
    ({"algorithm": "sgd"}, "unknown algorithm"),
])
def test_bad_settings(tiny_space, kwargs, message):
    with pytest.raises(GreenError, match=message):
        evo(tiny_space, **{"population": 8, **kwargs})


def test_malformed_and_uncomputed_constraints():
    with pytest.raises(GreenError, match="malformed"):
        parse_constraints(["latency_ms == 5"])
    with pytest.raises(GreenError, match="'train_kwh' is not computed by the search"):
        parse_constraints(["train_kwh <= 0.9"])
    assert str(parse_constraints(["latency <= 5"])[0]) == "latency_ms <= 5"
    assert [str(c) for c in parse_constraints(["acc >= 0.9", "recall_min>=0.6", "recall:cat > 0.5"])] == \
        ["acc >= 0.9", "recall_min >= 0.6", "recall:cat > 0.5"]


def test_green_search_end_to_end(tmp_path, tiny_ckpt, tiny_table, search_cfg):
    res = search(search_cfg(tmp_path, tiny_ckpt, tiny_table, "search.constraints=['params<=6000']"))
    for name in ("pareto.json", "pareto.csv", "history.csv", "pareto.png", "logbook.json", "cache.jsonl",
                 "checkpoint.json", "energy_search.json"):
        assert (tmp_path / name).is_file(), name
    assert list((tmp_path / "tb").glob("events.out.tfevents*"))
    assert res.unique_evals == 24 and res.energy_source == "codecarbon-estimate"
    assert res.mode == "one_shot" and res.multi_trial is None  # inherited weights, no training budget
    assert all(m.params <= 6000 and 0 <= m.acc <= 1 for m in res.members)
    assert Front.read(tmp_path) == res  # the file reads back as the front the run returned
    lines = (tmp_path / "history.csv").read_text().splitlines()
    assert len(lines) == 25 and lines[0].startswith("arch,acc,recall")
    logbook = json.loads((tmp_path / "logbook.json").read_text())
    assert [r["gen"] for r in logbook["logbook"]] == [0, 1, 2]
    assert logbook["search_energy"]["source"].startswith("codecarbon")
    # rerunning on the finished folder changes nothing
    again = search(search_cfg(tmp_path, tiny_ckpt, tiny_table, "search.constraints=['params<=6000']"))
    assert again.members == res.members


def test_table_of_another_space_is_refused(tmp_path, tiny_ckpt, tiny_table, search_cfg):
    t = json.loads(tiny_table.read_text())
    t["fingerprint"]["space_digest"] = "0" * 16
    other = tmp_path / "other.json"
    other.write_text(json.dumps(t))
    with pytest.raises(TableError, match="built for search space"):
        search(search_cfg(tmp_path / "run", tiny_ckpt, other))
    assert not (tmp_path / "run" / "pareto.json").exists()


@pytest.mark.slow
def test_cli_bad_objective_is_one_line(tmp_path, tiny_ckpt, tiny_table):
    out = subprocess.run([sys.executable, "-m", "search.commands.search", f"ckpt={tiny_ckpt}", f"table={tiny_table}",
                          "search.objectives=[acc,speed]", f"hydra.run.dir={tmp_path}"], capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1].startswith("green-search: error: unknown objective")
    assert not (tmp_path / "cache.jsonl").exists()


def test_configured_space_must_be_the_checkpoints(tmp_path, tiny_ckpt, tiny_table, search_cfg):
    with pytest.raises(GreenError, match="is not the checkpoint's"):
        search(search_cfg(tmp_path, tiny_ckpt, tiny_table, "space=cifar"))


def test_evaluations_that_reseed_random_do_not_steer_the_evolution(tiny_space):
    """Lightning's seed_everything inside an evaluation (green-hpo's trials) must not change the draws."""
    cost_fn, eval_fn, _ = fake_costs(tiny_space)

    def reseeding(arch):
        random.seed(1234)
        return eval_fn(arch)

    settings = Settings(objectives=["acc", "macs"], population=8, generations=3, seed=5)
    pure = Evolution(tiny_space, settings, cost_fn, progress=False)
    pure.run(eval_fn)
    dirty = Evolution(tiny_space, settings, cost_fn, progress=False)
    dirty.run(reseeding)
    assert list(dirty.records) == list(pure.records)


def test_a_pareto_json_of_an_earlier_version_reads_as_a_one_shot_front(tmp_path, tiny_space, cifar_space):
    """Before the scoring fields existed, pareto.json had no mode, multi_trial or val_images: such a file reads
    as a one-shot search whose scored images are unknown, and is written back in today's layout."""
    arch = str(tiny_space.largest())
    old = {"objectives": [{"name": "acc", "field": "acc", "maximise": True},
                          {"name": "params", "field": "params", "maximise": False}],
           "constraints": [], "algorithm": "nsga2", "seed": 0, "space_digest": tiny_space.digest(),
           "energy_source": "codecarbon-estimate", "latency_batch_size": 1, "unique_evals": 8, "hypervolume": 0.25,
           "ckpt": "/x/last.ckpt", "table": "/x/lut.json",
           "front": [{"arch": arch, "acc": 0.5, "recall": 0.5, "params": 9000, "macs": 90000, "latency_ms": 1.5,
                      "energy_mj": 2.0, "energy_source": "codecarbon-estimate", "gen": 3, "genome": [1, 2]}]}
    (tmp_path / "pareto.json").write_text(json.dumps(old))
    front = Front.read(tmp_path, tiny_space)
    assert (front.mode, front.multi_trial, front.val_images, front.ckpt) == ("one_shot", None, None, "/x/last.ckpt")
    assert front.archs() == [arch] and front.members[0].genome == (1, 2) and front.members[0]["energy_mj"] == 2.0
    assert front.objectives[1].field == "params" and not front.objectives[1].maximise
    new = front.to_json()
    assert {**old, "val_images": None, "mode": "one_shot", "multi_trial": None, "algorithm_why": "",
            "status": "finished", "feasible": True} == new  # an older file's search ran to its end
    with pytest.raises(GreenError, match="comes from search space"):
        Front.read(tmp_path, cifar_space)
    (tmp_path / "pareto.json").write_text(json.dumps({**old, "front": [{"arch": arch}]}))
    with pytest.raises(GreenError, match="is not a green-search pareto.json"):
        Front.read(tmp_path)


def test_nsga3_does_not_depend_on_numpys_global_generator(tiny_space, tmp_path):
    """DEAP's NSGA-III niching shuffles with numpy's global generator: the search lends it a state derived from
    its own, so the survivors (and their order, which the next parents are drawn from) repeat whatever numpy's
    global state is."""
    import numpy as np

    populations = []
    for i, np_seed in enumerate((1, 2)):
        np.random.seed(np_seed)
        e, score, _ = evo(tiny_space, tmp_path / str(i), algorithm="nsga3", population=8, generations=3, seed=4,
                          objectives=["acc", "macs", "energy"])
        e.run(score)
        populations.append(json.loads((tmp_path / str(i) / "checkpoint.json").read_text())["population"])
    assert populations[0] == populations[1]
    state = np.random.get_state()
    e, score, _ = evo(tiny_space, None, algorithm="nsga3", population=8, generations=1)
    e.run(score)
    assert all((a == b).all() if isinstance(a, np.ndarray) else a == b for a, b in zip(state, np.random.get_state()))


def test_a_tight_constraint_is_met_by_repair_not_reported_empty(tiny_space, capsys):
    """A constraint only a handful of the space's subnets meet (far too few for 200 uniform draws to find
    a population of them): every one is found and evaluated, nothing infeasible is, and the early end of the
    search (the region is exhausted) is said, not silent."""
    import itertools

    cost_fn, _, _ = fake_costs(tiny_space)
    archs = {str(tiny_space.decode(g)) for g in itertools.product(*[range(n) for n in tiny_space.gene_sizes()])}
    params = sorted({cost_fn(tiny_space.validate(a))["params"] for a in archs})
    limit = params[1]
    feasible = {a for a in archs if cost_fn(tiny_space.validate(a))["params"] <= limit}
    assert 2 <= len(feasible) <= len(archs) / 50  # under 2 % of the subnets
    e, score, calls = evo(tiny_space, population=8, generations=4, constraints=[f"params <= {limit}"])
    e.run(score)
    assert set(e.records) == set(calls) == feasible
    assert "no unseen candidate that meets the constraints" in capsys.readouterr().out


def test_a_population_is_filled_where_uniform_draws_find_nothing_feasible(cifar_space):
    """In the CIFAR space no uniform draw comes near 170k params (the smallest subnet has 158k, 300 draws
    bottom out at 207k): the old 200 draws reported "no subnet meets the constraints"; the repair fills the
    first generation with feasible subnets and evaluates nothing else."""
    e, score, calls = evo(cifar_space, population=4, generations=1, constraints=["params <= 170000"])
    e.run(score)
    assert len(e.records) == 8 and len(calls) == 8  # two full generations, every evaluation feasible
    assert all(r["params"] <= 170000 for r in e.records.values())


def test_settings_are_a_value():
    """Settings compare and print as the value they are (a resumed run is checked against the saved settings)."""
    a = Settings(["acc", "latency"], constraints=["params <= 5000"], population=8)
    assert a == Settings(["acc", "latency"], constraints=["params <= 5000"], population=8)
    assert a != Settings(["acc", "latency"], population=8)
    assert a.budget == 8 * (10 + 1) and [o.field for o in a.objectives] == ["acc", "latency_ms"]
    assert str(a.constraints[0]) == "params <= 5000" and "nsga2" in repr(a)


@pytest.mark.parametrize("objectives, ran", [(["acc", "params"], "nsga2"), (["acc", "params", "latency"], "nsga3"),
                                             (["acc", "recall_min", "params", "energy"], "nsga3")])
def test_auto_runs_nsga2_on_two_objectives_and_nsga3_on_more(objectives, ran):
    """The default algorithm follows the number of objectives (NSGA-III was never worse than NSGA-II on the
    3-objective problems of bench/optimizer.py); the settings say which ran and why, an explicit choice stands."""
    s = Settings(objectives)
    assert s.algorithm == ran and s.algorithm_why.startswith(f"auto for {len(objectives)} objective(s): ")
    assert ("NSGA-III" if ran == "nsga3" else "NSGA-II,") in s.algorithm_why
    forced = Settings(objectives, algorithm="nsga2")
    assert forced.algorithm == "nsga2" and forced.algorithm_why == "nsga2: asked for (search.algorithm)"


def test_a_search_records_its_status_algorithm_and_why(tiny_space, tmp_path):
    e, score, _ = evo(tiny_space, tmp_path, population=8, generations=1)
    e.run(score)
    assert e.status == "finished"
    impossible = Settings(["acc", "params"], constraints=["acc >= 0.9"], population=4, generations=1)
    e2 = Evolution(tiny_space, impossible, lambda a: {"params": 1.0, "macs": 1.0}, progress=False)
    assert e2.run(lambda a: {"acc": 0.5}) == [] and e2.status == "infeasible"
