"""DEAP's plain NSGA-II loop, the second peer of ``bench/optimizer.py`` beside pymoo's NSGA-II.

The loop is the one of DEAP's own NSGA-II example (``examples/ga/nsga2.py``): a random population,
``selNSGA2`` once to assign crowding distances, then per generation binary tournaments by dominance and
crowding (``selTournamentDCD``) for ``len(pop)`` parents, each pair crossed with probability 0.9, both
children always mutated, the invalid ones evaluated, and ``selNSGA2`` over parents + children. Nothing of
this repository's engine is used: no archive, no duplicate handling, no repair.

Two operator set-ups, as for pymoo (:data:`DEAP_CONFIGS`):

* ``deap``: the example's real-coded operators on the genes' choice indices as reals in ``[0, n - 1]``
  (``cxSimulatedBinaryBounded`` eta 20, ``mutPolynomialBounded`` eta 20 with per-gene rate ``1 / n_genes``),
  a genome rounded to the grid when it is evaluated;
* ``deap-int``: DEAP's integer operators (``cxTwoPoint``, ``mutUniformInt`` with per-gene rate
  ``1 / n_genes``), the usual choice for a genome of integers.

DEAP has no constraint handling in its loop; on a constrained problem the documented
``tools.DeltaPenalty`` gives an infeasible genome each objective's value 2 plus its violation (the
problems' objectives lie in [0, 1]), so infeasible genomes lose to feasible ones and less infeasible
ones win among themselves. Evaluations go through a cache, as pymoo's do: a genome seen before gets its
cached values and does not count as a unique evaluation. A run stops at ``budget`` unique evaluations, or
after 1,000 generations that offered nothing new.
"""
from __future__ import annotations

import random
import time
from typing import Any

DEAP_LOOP = {"source": "DEAP's examples/ga/nsga2.py", "selection": "selTournamentDCD, then selNSGA2(parents + children)",
             "cx_prob": 0.9, "mutation": "every child", "constraint": "DeltaPenalty(delta = 2 + violation)",
             "cache": "a repeated genome gets cached values, not counted"}
DEAP_CONFIGS: dict[str, dict[str, Any]] = {
    "deap": {**DEAP_LOOP, "genome": "reals in [0, n - 1], rounded when evaluated",
             "crossover": {"name": "cxSimulatedBinaryBounded", "eta": 20.0},
             "mutation_operator": {"name": "mutPolynomialBounded", "eta": 20.0, "indpb": "1 / n_genes"}},
    "deap-int": {**DEAP_LOOP, "genome": "integers in [0, n - 1]",
                 "crossover": {"name": "cxTwoPoint"},
                 "mutation_operator": {"name": "mutUniformInt", "indpb": "1 / n_genes"}},
}
STALL_GENERATIONS = 1000
PENALTY = 2.0


def deap_version() -> str:
    import deap

    return deap.__version__


def run_deap(problem: Any, seed: int, budget: int, population: int, name: str = "deap") -> dict:
    """One run of DEAP's NSGA-II loop set up as ``DEAP_CONFIGS[name]`` on a ``bench/problems.py`` problem,
    stopped at ``budget`` unique evaluations. Returns what ``bench/optimizer.py`` stores of every run."""
    from deap import base, tools

    if name not in DEAP_CONFIGS:
        raise ValueError(f"unknown DEAP set-up {name!r}; choose from {sorted(DEAP_CONFIGS)}")
    if population % 4:
        raise ValueError(f"selTournamentDCD needs a population divisible by 4, got {population}")
    sizes = [int(n) for n in problem.sizes]
    n_obj, thr = len(problem.objectives), problem.constraint
    real = name == "deap"
    low, up = [0] * len(sizes), [n - 1 for n in sizes]
    indpb = 1.0 / len(sizes)

    class Fitness(base.Fitness):
        weights = (-1.0,) * n_obj

    class Individual(list):
        def __init__(self, genes: Any) -> None:
            super().__init__(genes)
            self.fitness = Fitness()

    rng = random.Random(seed)
    cache: dict[tuple[int, ...], tuple[list[float], float]] = {}
    F: list[list[float]] = []
    gens: list[int] = []
    feas: list[bool] = []
    state = {"gen": 0, "hits": 0, "eval_s": 0.0, "calls": 0}

    def lookup(ind: Individual) -> tuple[list[float], float]:
        key = tuple(min(max(round(v), 0), n - 1) for v, n in zip(ind, sizes))
        if key in cache:
            state["hits"] += 1
            return cache[key]
        t = time.perf_counter()
        vals = problem.one(key)
        state["eval_s"] += time.perf_counter() - t
        state["calls"] += 1
        f = [float(vals[o]) for o in problem.objectives]
        violation = 0.0 if thr is None else max(0.0, float(vals[thr[0]]) - thr[1])
        cache[key] = (f, violation)
        if len(F) < budget:
            F.append(f)
            gens.append(state["gen"])
            feas.append(violation == 0.0)
        return cache[key]

    toolbox = base.Toolbox()
    toolbox.register("evaluate", lambda ind: tuple(lookup(ind)[0]))
    if thr is not None:
        toolbox.decorate("evaluate", tools.DeltaPenalty(lambda ind: lookup(ind)[1] == 0.0, [PENALTY] * n_obj,
                                                        lambda ind: lookup(ind)[1]))
    if real:
        toolbox.register("mate", tools.cxSimulatedBinaryBounded, low=low, up=up, eta=20.0)
        toolbox.register("mutate", tools.mutPolynomialBounded, low=low, up=up, eta=20.0, indpb=indpb)
    else:
        toolbox.register("mate", tools.cxTwoPoint)
        toolbox.register("mutate", tools.mutUniformInt, low=low, up=up, indpb=indpb)

    def evaluate(inds: list) -> None:
        for ind in inds:
            if not ind.fitness.valid:
                ind.fitness.values = toolbox.evaluate(ind)

    t0 = time.perf_counter()
    state_random = random.getstate()  # DEAP's operators draw from the module-level generator: give it ours
    random.seed(rng.random())
    try:
        pop = [Individual(float(random.randint(0, n - 1)) if real else random.randint(0, n - 1) for n in sizes)
               for _ in range(population)]
        evaluate(pop)
        pop = tools.selNSGA2(pop, population)  # assigns the crowding distances the tournament reads
        stalled = 0
        while len(F) < budget:
            state["gen"] += 1
            before = len(F)
            kids = [toolbox.clone(ind) for ind in tools.selTournamentDCD(pop, len(pop))]
            for a, b in zip(kids[::2], kids[1::2]):
                if random.random() <= 0.9:
                    toolbox.mate(a, b)
                toolbox.mutate(a)
                toolbox.mutate(b)
                del a.fitness.values, b.fitness.values
            evaluate(kids)
            pop = tools.selNSGA2(pop + kids, population)
            stalled = 0 if len(F) > before else stalled + 1
            if stalled >= STALL_GENERATIONS:
                print(f"{name} on {problem.name} seed {seed}: no new genome in {STALL_GENERATIONS} generations, "
                      f"stopped at {len(F)}", flush=True)
                break
    finally:
        random.setstate(state_random)
    wall = time.perf_counter() - t0
    return {"F": F, "gen": gens, "feasible": feas, "unique_evals": len(F), "duplicate_genomes": 0,
            "cache_hits": state["hits"], "generations": state["gen"], "wall_s": wall, "eval_s": state["eval_s"],
            "fn_calls": state["calls"], "n_obj": n_obj, "settings": DEAP_CONFIGS[name]}

