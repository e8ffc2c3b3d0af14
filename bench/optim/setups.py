"""The optimizer benchmark's constants and the set-ups of the algorithms it compares (``bench/optimizer.py``)."""
from __future__ import annotations

from typing import Any, Callable

from bench.common import ROOT

POPULATION = 20
BUDGETS = (200, 500, 1000)
SEEDS = 10
ALPHA = 0.05
HV_REF = 1.1
OVERHEAD_BUDGETS = (1000, 5000, 10000)
OVERHEAD_GOAL_MS = 0.3  # per unique evaluation with a run folder, at every overhead budget
OVERHEAD_FLAT = 1.5  # "flat": the figure at the largest budget at most this many times the one at the smallest
OVERHEAD_REPEATS = 3
OVERHEAD_PROBLEM = "nas"
GENERATIONS = 10 ** 6  # the budget stops every run
ENGINE, PYMOO_NAME = "engine", "pymoo"
WORK = ROOT / "outputs" / "bench" / "optimizer_runs"

# The engine's algorithms compared here: name -> the Settings fields that make it ("auto": the default, NSGA-II for 2
# objectives and NSGA-III for 3, as green-search runs; --variant set-ups too). A variant needing a
# field this engine's Settings lacks is left out (engine-uniform before the operators became settings).
VARIANTS: dict[str, dict[str, Any]] = {
    "engine": {"algorithm": "auto"},
    "engine-uniform": {"algorithm": "auto", "crossover": "uniform", "mutation": "uniform"},
    "random": {"algorithm": "random"},
}
# pymoo's NSGA-II in two set-ups, both with rounding to the integer grid: ``pymoo`` with NSGA2's own operator
# defaults (SBX prob 0.9 eta 15, PM eta 20), ``pymoo-eta3`` as pymoo's guide to discrete variables sets them
# (SBX prob 1.0 eta 3, PM prob 1.0 eta 3). The engine is "worse" in a cell if it is worse than either.
_PYMOO_COMMON = {"algorithm": "NSGA2", "pop_size": POPULATION, "sampling": "IntegerRandomSampling",
                 "eliminate_duplicates": True, "problem": "integer, xl = 0, xu = levels - 1",
                 "constraint": "G = value - threshold <= 0", "cache": "a repeated genome gets cached values, not counted"}
PYMOO_CONFIGS: dict[str, dict[str, Any]] = {
    "pymoo": {**_PYMOO_COMMON,
              "crossover": {"name": "SBX", "prob": 0.9, "eta": 15, "vtype": "float", "repair": "RoundingRepair"},
              "mutation": {"name": "PM", "prob": 1.0, "eta": 20, "vtype": "float", "repair": "RoundingRepair"}},
    "pymoo-eta3": {**_PYMOO_COMMON,
                   "crossover": {"name": "SBX", "prob": 1.0, "eta": 3, "vtype": "float", "repair": "RoundingRepair"},
                   "mutation": {"name": "PM", "prob": 1.0, "eta": 3, "vtype": "float", "repair": "RoundingRepair"}},
}
PYMOO = PYMOO_CONFIGS[PYMOO_NAME]
# Plain rejection sampling, on the constrained problems only (unconstrained it is random search): uniform
# genomes, each checked on the cost model; an infeasible one is rejected unevaluated, a feasible unseen one is
# evaluated. It may make as many cost-model checks as the engine made in the same (problem, seed) run: the
# engine's feasibility repair also checks costs, so at equal checks the two differ only in how they propose.
REJECTION = "rejection"
REJECTION_CONFIG = {"sampling": "uniform over the grid", "checks": "the engine's cost-model calls in the same run",
                    "evaluated": "feasible genomes not seen before"}


# per-gene mutation rates that depend on the genome's length, for --variant (``mut_indpb=1/n``): the engine's own
# rule and the one of earlier versions, so a tuning run can compare them on problems of several sizes
RATE_RULES: dict[str, Callable[[int], float]] = {"1/n": lambda n: 1.0 / n, "1/n>=0.05": lambda n: max(0.05, 1.0 / n)}
