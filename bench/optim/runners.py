"""One run of each algorithm the optimizer benchmark compares: the engine, pymoo's NSGA-II, rejection sampling.

Each returns what ``bench/optimizer.py`` stores of a run: every unique evaluation's objectives, generation and
feasibility in order, and the run's timings (DEAP's loop is :func:`bench.deap_loop.run_deap`).
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from bench import problems as P
from bench.common import ROOT
from bench.optim.setups import (GENERATIONS, POPULATION, PYMOO_CONFIGS, PYMOO_NAME, RATE_RULES, REJECTION_CONFIG,
                                VARIANTS)

from core.jsontypes import JSONObject


class Timer:
    """Seconds spent inside the wrapped functions."""

    def __init__(self) -> None:
        self.seconds, self.calls = 0.0, 0

    def wrap(self, fn: Callable) -> Callable:
        def timed(*args: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*args)
            finally:
                self.seconds += time.perf_counter() - t
                self.calls += 1
        return timed


def available_variants() -> dict[str, JSONObject]:
    """The engine variants this checkout's ``Settings`` can express."""
    from search.evolution.settings import Settings

    fields = {f.name for f in dataclasses.fields(Settings)}
    return {name: kw for name, kw in VARIANTS.items() if set(kw) <= fields}


@functools.lru_cache(maxsize=None)
def engine_digest() -> str:
    """A digest of the engine's code (``search/evolution/*.py``): a run of another engine version is not reused.

    Taken once, when the engine is imported (:func:`main`): files edited during a benchmark do not relabel it."""
    h = hashlib.sha256()
    for path in sorted((ROOT / "search" / "evolution").glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:12]


@functools.lru_cache(maxsize=None)
def deap_digest() -> str:
    """A digest of ``bench/deap_loop.py``: a run of another version of the DEAP peer is not reused."""
    return hashlib.sha256((ROOT / "bench" / "deap_loop.py").read_bytes()).hexdigest()[:12]


def pymoo_version() -> str | None:
    try:
        import pymoo
    except ImportError:
        return None
    return pymoo.__version__


def engine_settings(problem: P.Problem, variant: str, seed: int, budget: int):
    from search.evolution.settings import Settings
    from search.evolution.objectives import Constraint, Objective

    kw = dict(VARIANTS[variant])
    if isinstance(kw.get("mut_indpb"), str):
        if kw["mut_indpb"] not in RATE_RULES:
            raise ValueError(f"variant {variant}: mut_indpb {kw['mut_indpb']!r} is no number nor one of {list(RATE_RULES)}")
        kw["mut_indpb"] = RATE_RULES[kw["mut_indpb"]](len(problem.sizes))

    objectives = [Objective(f, f, False) for f in problem.objectives]
    constraints = [] if problem.constraint is None else [Constraint(problem.constraint[0], "<=", problem.constraint[1])]
    return Settings(objectives=objectives, constraints=constraints, population=POPULATION, generations=GENERATIONS,
                    budget=budget, seed=seed, **kw)


def settings_record(settings: Any) -> JSONObject:
    """A Settings object as JSON (objectives and constraints as text)."""
    out = {}
    for f in dataclasses.fields(settings):
        v = getattr(settings, f.name)
        if f.name == "objectives":
            v = [f"{o.name} ({'max' if o.maximise else 'min'} {o.field})" for o in v]
        elif f.name == "constraints":
            v = [str(c) for c in v]
        out[f.name] = v
    return out


def run_engine(problem: P.Problem, variant: str, seed: int, budget: int, run_dir: Path | None = None) -> dict:
    """One run of our engine: every unique evaluation's objectives, generation and feasibility, in order."""
    from search.evolution.engine import Evolution

    settings = engine_settings(problem, variant, seed, budget)
    _, nadir = problem.bounds()
    timer = Timer()
    checks = [0]

    def cost_fn(x: Any) -> dict[str, float]:
        checks[0] += 1
        return problem.cost_fn(x)
    ev = Evolution(problem.space(), settings, timer.wrap(cost_fn), run_dir=run_dir,
                   bounds=dict(zip(problem.objectives, nadir)), label=f"{problem.name} {variant} {seed}",
                   progress=False)
    timer.seconds, timer.calls, checks[0] = 0.0, 0, 0
    t = time.perf_counter()
    ev.run(timer.wrap(problem.eval_fn))
    wall = time.perf_counter() - t
    recs = list(ev.records.values())
    thr = problem.constraint
    return {"F": [[float(r[f]) for f in problem.objectives] for r in recs], "gen": [int(r.gen) for r in recs],
            "feasible": [bool(thr is None or r[thr[0]] <= thr[1]) for r in recs],
            "unique_evals": len(recs), "duplicate_genomes": len(recs) - len({tuple(r.genome) for r in recs}),
            "cache_hits": ev.cache_hits, "generations": len(ev.logbook) - 1, "wall_s": wall, "eval_s": timer.seconds,
            "fn_calls": timer.calls, "cost_checks": checks[0], "n_obj": len(problem.objectives),
            "settings": settings_record(settings)}


def run_rejection(problem: P.Problem, seed: int, budget: int, max_checks: int) -> dict:
    """Plain rejection sampling: uniform genomes checked on the cost model, the feasible unseen ones evaluated,
    until ``budget`` evaluations or ``max_checks`` cost checks."""
    if problem.constraint is None:
        raise ValueError(f"rejection sampling runs on a constrained problem, not {problem.name}")
    rng = np.random.default_rng(seed)
    field, threshold = problem.constraint
    seen: set[tuple[int, ...]] = set()
    F: list[list[float]] = []
    t = time.perf_counter()
    checks = 0
    while len(F) < budget and checks < max_checks:
        genome = tuple(int(rng.integers(0, n)) for n in problem.sizes)
        checks += 1
        vals = problem.one(genome)
        if vals[field] <= threshold and genome not in seen:
            seen.add(genome)
            F.append([float(vals[f]) for f in problem.objectives])
    wall = time.perf_counter() - t
    return {"F": F, "gen": [0] * len(F), "feasible": [True] * len(F), "unique_evals": len(F), "duplicate_genomes": 0,
            "cache_hits": 0, "generations": 0, "wall_s": wall, "eval_s": wall, "fn_calls": checks,
            "cost_checks": checks, "max_checks": max_checks, "n_obj": len(problem.objectives),
            "settings": REJECTION_CONFIG}


def run_pymoo(problem: P.Problem, seed: int, budget: int, name: str = PYMOO_NAME) -> dict:
    """One run of pymoo's NSGA-II set up as ``PYMOO_CONFIGS[name]``, stopped at ``budget`` unique evaluations."""
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.config import Config
    from pymoo.core.problem import Problem as PymooProblem
    from pymoo.operators.crossover.sbx import SBX
    from pymoo.operators.mutation.pm import PM
    from pymoo.operators.repair.rounding import RoundingRepair
    from pymoo.operators.sampling.rnd import IntegerRandomSampling

    Config.warnings["not_compiled"] = False
    sizes = np.asarray(problem.sizes, dtype=np.int64)
    thr = problem.constraint
    timer = Timer()
    one = timer.wrap(problem.one)
    cache: dict[tuple, tuple[list[float], list[float]]] = {}
    F, gens, feas = [], [], []
    state = {"gen": 0, "repeats": 0}

    class Cached(PymooProblem):
        def __init__(self) -> None:
            super().__init__(n_var=len(sizes), n_obj=len(problem.objectives), n_ieq_constr=0 if thr is None else 1,
                             xl=np.zeros(len(sizes)), xu=(sizes - 1).astype(float), vtype=int)

        def _evaluate(self, X: np.ndarray, out: dict, *args: Any, **kwargs: Any) -> None:
            G = np.clip(np.rint(np.asarray(X, dtype=float)).astype(np.int64), 0, sizes - 1)
            fs, gs = [], []
            for row in G:
                key = tuple(row.tolist())
                if key in cache:
                    state["repeats"] += 1
                else:
                    vals = one(key)  # one genome at a time, as the engine's eval_fn
                    f = [vals[o] for o in problem.objectives]
                    g = [] if thr is None else [vals[thr[0]] - thr[1]]
                    cache[key] = (f, g)
                    if len(F) < budget:
                        F.append(f)
                        gens.append(state["gen"])
                        feas.append(thr is None or vals[thr[0]] <= thr[1])
                fs.append(cache[key][0])
                gs.append(cache[key][1])
            out["F"] = np.asarray(fs, dtype=float)
            if thr is not None:
                out["G"] = np.asarray(gs, dtype=float)

    cx, mut = PYMOO_CONFIGS[name]["crossover"], PYMOO_CONFIGS[name]["mutation"]
    algo = NSGA2(pop_size=POPULATION, sampling=IntegerRandomSampling(),
                 crossover=SBX(prob=cx["prob"], eta=cx["eta"], vtype=float, repair=RoundingRepair()),
                 mutation=PM(prob=mut["prob"], eta=mut["eta"], vtype=float, repair=RoundingRepair()),
                 eliminate_duplicates=True)
    t = time.perf_counter()
    algo.setup(Cached(), termination=("n_gen", GENERATIONS), seed=seed, verbose=False)
    stalled = 0
    while len(F) < budget and algo.has_next():
        before = len(F)
        algo.next()
        state["gen"] += 1
        stalled = 0 if len(F) > before else stalled + 1
        if stalled >= 1000:  # a converged population that offers nothing new: say so, do not spin
            print(f"pymoo on {problem.name} seed {seed}: no new genome in 1000 generations, stopped at {len(F)}",
                  flush=True)
            break
    wall = time.perf_counter() - t
    return {"F": F, "gen": gens, "feasible": feas, "unique_evals": len(F), "duplicate_genomes": 0,
            "cache_hits": state["repeats"], "generations": state["gen"] - 1, "wall_s": wall, "eval_s": timer.seconds,
            "fn_calls": timer.calls, "settings": PYMOO_CONFIGS[name]}

