"""DEAP's plain NSGA-II loop, the second peer of bench/optimizer.py (issue 31): it runs DEAP's example loop, counts
unique evaluations as pymoo's peer does, and is reproducible by seed."""
from __future__ import annotations

import random

import numpy as np
import pytest

import bench.deap_loop
import bench.problems


@pytest.fixture
def deap_loop():
    return bench.deap_loop


@pytest.fixture
def problems():
    return bench.problems


@pytest.mark.parametrize("name", ["deap", "deap-int"])
def test_stops_at_the_budget_of_unique_evaluations_and_repeats_by_seed(deap_loop, problems, name):
    p = problems.make("few-12-k2")
    state = random.getstate()
    a = deap_loop.run_deap(p, 3, 150, 20, name)
    assert random.getstate() == state  # the module-level generator is left as it was
    b = deap_loop.run_deap(p, 3, 150, 20, name)
    c = deap_loop.run_deap(p, 4, 150, 20, name)
    assert a["unique_evals"] == len(a["F"]) == 150 and a["F"] == b["F"] and a["F"] != c["F"]
    assert 150 <= a["fn_calls"] < 150 + 20 and a["generations"] >= 150 // 20 and a["gen"][0] == 0
    assert a["gen"] == sorted(a["gen"]) and all(a["feasible"])
    # the last generation is evaluated whole (as pymoo does), but only the first 150 unique evaluations count
    genomes = {tuple(v) for v in a["F"]}
    assert len(genomes) > 100


def test_evaluates_rounded_genomes_on_the_grid(deap_loop, problems):
    p = problems.make("few-8-k1-s2")
    seen = []
    one = p.one
    p.one = lambda g: (seen.append(tuple(g)), one(g))[1]
    r = deap_loop.run_deap(p, 0, 60, 20, "deap")
    assert len(seen) == len(set(seen)) == r["fn_calls"] >= 60  # each genome evaluated once (cached after)
    assert r["cache_hits"] > 0
    assert all(0 <= v < n and isinstance(v, int) for g in seen for v, n in zip(g, p.sizes))


def test_constrained_problem_flags_infeasible_and_moves_towards_feasible(deap_loop, problems):
    thr = problems.macs_threshold(n=20_000, share=0.02)["threshold"]
    p = problems.make("nas-constrained", thr)
    r = deap_loop.run_deap(p, 0, 300, 20, "deap-int")
    feas = np.asarray(r["feasible"])
    assert r["unique_evals"] == 300 and 0 < feas.sum() < 300
    assert feas[150:].mean() > feas[:20].mean()  # the penalty steers the population into the feasible region


def test_bad_setups_are_refused(deap_loop, problems):
    p = problems.make("few-8-k1")
    with pytest.raises(ValueError, match="unknown DEAP set-up"):
        deap_loop.run_deap(p, 0, 10, 20, "deap-float")
    with pytest.raises(ValueError, match="divisible by 4"):
        deap_loop.run_deap(p, 0, 10, 18, "deap")
