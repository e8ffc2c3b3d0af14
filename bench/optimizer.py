"""Does our evolution engine find fronts as good as pymoo's NSGA-II and DEAP's NSGA-II loop, and better than random search?

Runs :class:`~search.evolution.engine.Evolution` (``engine``: the engine's default algorithm for the
number of objectives, NSGA-II for 2 and NSGA-III for 3, with its default operators; ``engine-uniform``:
uniform crossover and uniform mutation, the engine's old operators, an ablation included when the
engine's ``Settings`` has the ``crossover`` and ``mutation`` fields; ``random``: the engine's random
search), pymoo's NSGA-II (``pymoo``, ``pymoo-eta3``) and DEAP's plain NSGA-II loop (``deap``,
``deap-int``: :mod:`bench.deap_loop`) on discretised standard problems, a NAS-like synthetic one and
architecture-like few-choice ones (:mod:`bench.problems`): ZDT1, ZDT2, ZDT3 (30 variables) and DTLZ2
(3 objectives, 12 variables) on grids of 8, 16 and 32 levels per variable, the NAS-like problem
(20 ordinal genes; error, MACs, latency), its constrained variant (a MACs bound that fewer than
one genome in a thousand meets), and NK-landscape-like problems of few-choice genes that interact
(error, cost): ``cifar-k1`` and ``cifar-k3`` at this project's ``cifar`` space's layout (37 genes of
2-4 choices, each gene's worth depending on 1 or 3 others), ``few-20-k2`` and ``few-40-k4`` (20 and 40
genes of 2-4 choices). Every algorithm has a population of 20 and the same number of *unique*
evaluations.

pymoo's NSGA-II runs in two set-ups on an integer problem with bounds ``0 .. levels - 1``, both
with ``IntegerRandomSampling``, rounding (``vtype=float, repair=RoundingRepair()``) and
``eliminate_duplicates=True``: ``pymoo`` with NSGA2's own operator defaults (SBX prob 0.9 eta 15, PM
eta 20) and ``pymoo-eta3`` as pymoo's guide to discrete variables sets them (SBX prob 1.0 eta 3, PM
prob 1.0 eta 3). Its duplicate elimination only looks at the current population, so evaluations go
through a cache: a genome seen before gets its cached values and does not count. The constraint is
pymoo's inequality ``G = macs - threshold <= 0`` (constraint-dominance); the engine checks it
before evaluating.

Each (problem, algorithm, seed) runs once, to the largest budget (1000 unique evaluations), and is
scored on its first 200, 500 and 1000 unique evaluations (anytime performance). A budget-limited
run only stops the same sequence of draws earlier, so this equals a run with that budget; the
algorithm's result at budget B is the non-dominated set of its first B unique evaluations (for the
engine also its archive's front), feasible ones only on the constrained problem.

Scores: hypervolume of the front normalised by the reference front's ideal and nadir (its least and
largest value of each objective, as ZDT and DTLZ are scored in the literature; the same for every
algorithm) with reference point 1.1 in every coordinate (moocore), and IGD (mean over the
reference front's points of the distance to the nearest front point, in the same normalised
space). Reference fronts are exact for ZDT and DTLZ2 (see :mod:`bench.problems`); the NAS-like problem's is
unknown, so its reference is the non-dominated union of every run of every algorithm on it (at the
largest budget). An empty front (no feasible evaluation yet) has hypervolume 0 and the IGD of the
single point (1.1, ..., 1.1).

Per cell (problem x grid x budget; one cell per budget for each NAS-like and few-choice problem), the engine
is compared with each pymoo and DEAP set-up and with random search by a two-sided Mann-Whitney U test over seeds on
hypervolume and on IGD (alpha 0.05), with the Vargha-Delaney A12 (the probability that the engine's
figure exceeds the peer's, ties counting half). A cell is "worse" when the engine is significantly
worse on either indicator, "better" when significantly better on at least one and worse on neither;
the ``_holm`` counts use Holm-corrected p-values over all tests of one comparison (every
unconstrained cell, both indicators). The constrained problem's cells are reported in ``cells`` but
not counted. The p-values are scipy's default method: exact without ties and fewer than 8 seeds a side
(n = 3 per side: the least two-sided p is 0.1, so nothing is significant), the tie-corrected normal
approximation otherwise (with ties, 3 seeds a side can reach p = 0.047: identical figures of every seed,
e.g. no feasible point at all, are such ties). Headline (top level of the result, recomputed by
:func:`headline` from ``raw`` with numpy, scipy and moocore alone): ``cells_worse``,
``cells_better``, ``cells_total``, ``cells_worse_holm``, ``cells_better_holm`` (unconstrained cells
where the engine is worse than any reference set-up, pymoo's two and DEAP's two (``reference_peers``),
so worse than the best of them, or better than all), each comparison's counts
under ``vs_<peer>`` (``vs_pymoo``, ``vs_pymoo-eta3``, ``vs_deap``, ``vs_deap-int``, ``vs_random``, ``vs_engine-uniform``),
``mean_rank`` and ``mean_rank_few_choice`` (each algorithm's mean rank by mean hypervolume and IGD over the
unconstrained cells, and over the few-choice ones alone), ``constrained_feasible_share`` (the engine's feasible unique evaluations / budget at the largest
budget, worst seed: 1.0 when every seed spent its whole budget on feasible genomes),
``constrained_feasible_share_pymoo``, and ``overhead_ms``: the engine's time per unique evaluation
outside ``eval_fn`` and ``cost_fn`` (wall time of ``run()`` minus the time inside them, over the
unique evaluations; median of 3 repeats) at budgets 1,000, 5,000 and 10,000 on the NAS-like problem, with a
run folder (cache and checkpoint on disk, as ``green-search`` runs), and ``overhead_growth`` (the figure at the
largest budget over the one at the smallest); ``overhead_ms_no_run_dir``
(``run_dir=None``) and ``overhead_ms_pymoo`` (pymoo's loop, for reference; its evaluation cache
counts as overhead, the objective functions do not) are measured alike, interleaved, with the machine's load
average before and after each budget in ``raw.overhead.load``. ``goals``: no cell worse than the
reference set-ups after Holm's correction, better than all of them in at least a quarter of the cells after
it, and the overhead with a run folder at most 0.3 ms at every budget and flat (growth at most 1.5).
``cells`` holds every cell's means, standard deviations and per-seed figures, mean generations run
and the tests.

Runs are resumable: each finished run is a small JSON in ``outputs/bench/optimizer_runs/`` (written
atomically), keyed by problem, algorithm, seed, run budget, the settings and a digest of the
engine's code (or pymoo's version), and skipped when present; delete the folder to start afresh.

    python bench/optimizer.py                     # the full benchmark (10 seeds, every problem)
    python bench/optimizer.py --quick             # a smoke test: 4 problems, 2 seeds, budgets 40/80; seconds
    python bench/optimizer.py --seeds 3 --problems zdt1-16,nas --budgets 200,500 --jobs 2

pymoo is a bench-only dependency (``pip install pymoo``); without it the pymoo runs are left out
with a warning. Writes ``outputs/bench/optimizer.json`` (``--quick``: ``outputs/bench/quick/``).
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

if __package__ in (None, ""):  # run as a file, `python bench/<name>.py`: see bench/__init__.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench import problems as P  # noqa: E402
import search.evolution.objectives as objectives  # noqa: E402
from bench.common import ROOT, save  # noqa: E402
from bench.deap_loop import DEAP_CONFIGS, deap_version, run_deap  # noqa: E402
from search.stats import mean_spread  # noqa: E402
from supernet.io import write_atomic  # noqa: E402

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


# -- indicators and statistics (numpy, scipy, moocore only: headline() recomputes with them) ---------

def normalise(F: Any, ideal: Sequence[float], nadir: Sequence[float]) -> np.ndarray:
    """Objective vectors scaled so the problem's ideal is 0 and its nadir 1 in every coordinate."""
    lo, hi = np.asarray(ideal, dtype=float), np.asarray(nadir, dtype=float)
    F = np.asarray(F, dtype=float).reshape(-1, len(lo))
    return (F - lo) / np.where(hi > lo, hi - lo, 1.0)


def nondominated(F: Any) -> np.ndarray:
    """Non-dominated rows of ``F`` (minimisation), equal rows kept once, in their order."""
    return P.nondominated(np.asarray(F, dtype=float))


def hypervolume(front: np.ndarray, ref: float = HV_REF) -> float:
    """Hypervolume of normalised points w.r.t. (ref, ..., ref); 0 for no points (the engine's indicator)."""
    return objectives.hypervolume(np.asarray(front, dtype=float), ref)


def igd(front: np.ndarray, reference: np.ndarray, empty: float = HV_REF) -> float:
    """Inverted generational distance: mean over ``reference`` of the distance to the nearest ``front`` point.

    An empty front counts as the single point (empty, ..., empty)."""
    reference = np.asarray(reference, dtype=float)
    front = np.asarray(front, dtype=float)
    if len(front) == 0:
        front = np.full((1, reference.shape[1]), empty)
    d = np.sqrt(((reference[:, None, :] - front[None, :, :]) ** 2).sum(axis=2))
    return float(d.min(axis=1).mean())


def a12(x: Sequence[float], y: Sequence[float]) -> float:
    """Vargha-Delaney A12: P(X > Y) + P(X = Y) / 2 for a draw of each sample."""
    xs, ys = np.asarray(x, dtype=float)[:, None], np.asarray(y, dtype=float)[None, :]
    return float(((xs > ys).sum() + 0.5 * (xs == ys).sum()) / (xs.size * ys.size))


def mann_whitney(x: Sequence[float], y: Sequence[float]) -> float:
    """Two-sided Mann-Whitney U p-value (scipy's default method); 1 when every value is the same."""
    from scipy.stats import mannwhitneyu

    if len(set(map(float, x)) | set(map(float, y))) <= 1:
        return 1.0
    return float(mannwhitneyu(x, y, alternative="two-sided").pvalue)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    out, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        out[i] = running
    return out


def verdict(hv_p: float, hv_a12: float, igd_p: float, igd_a12: float, alpha: float = ALPHA) -> str:
    """``worse``, ``better`` or ``same``: the engine (first sample) against a peer on both indicators.

    Larger hypervolume and smaller IGD are better; ``*_a12`` is P(engine > peer)."""
    hv_sig, igd_sig = hv_p < alpha, igd_p < alpha
    worse = (hv_sig and hv_a12 < 0.5) or (igd_sig and igd_a12 > 0.5)
    better = (hv_sig and hv_a12 > 0.5) or (igd_sig and igd_a12 < 0.5)
    return "worse" if worse else "better" if better else "same"


def _compare(mine: dict, theirs: dict, alpha: float) -> dict[str, Any]:
    hv_p, igd_p = mann_whitney(mine["hv"], theirs["hv"]), mann_whitney(mine["igd"], theirs["igd"])
    hv_a, igd_a = a12(mine["hv"], theirs["hv"]), a12(mine["igd"], theirs["igd"])
    return {"hv_p": hv_p, "hv_a12": hv_a, "igd_p": igd_p, "igd_a12": igd_a,
            "verdict": verdict(hv_p, hv_a, igd_p, igd_a, alpha)}


def reference_fronts(raw: dict) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Every problem's reference front (the stored exact one, or the union of every run's front), normalised,
    with the ideal and nadir it is normalised by: its own least and largest value of each objective, as the
    literature scores ZDT and DTLZ (whose fronts span [0, 1])."""
    budget = max(raw["budgets"])
    out = {}
    for pid, prob in raw["problems"].items():
        if prob["reference"] == "exact":
            front = np.asarray(prob["reference_front"], dtype=float)
        else:
            fronts = [r["budgets"][str(budget)]["front"] for r in raw["runs"] if r["problem"] == pid]
            fronts = [f for f in fronts if len(f)]
            if not fronts:
                raise ValueError(f"no run of {pid} has a front to make its reference of")
            front = nondominated(np.vstack([np.asarray(f, dtype=float) for f in fronts]))
        ideal, nadir = front.min(axis=0), front.max(axis=0)
        out[pid] = (normalise(front, ideal, nadir), ideal, nadir)
    return out


def score_runs(raw: dict, refs: dict[str, tuple]) -> dict[tuple[str, str, int], dict[str, Any]]:
    """(problem, algorithm, budget) -> per-seed hypervolume, IGD, generations, evaluations, feasible count."""
    out: dict[tuple[str, str, int], dict[str, Any]] = {}
    for run in sorted(raw["runs"], key=lambda r: (r["problem"], r["algorithm"], r["seed"])):
        ref, ideal, nadir = refs[run["problem"]]
        for b in raw["budgets"]:
            at = run["budgets"][str(b)]
            front = normalise(at["front"], ideal, nadir)
            s = out.setdefault((run["problem"], run["algorithm"], b),
                               {"seeds": [], "hv": [], "igd": [], "generations": [], "evaluated": [], "feasible": []})
            s["seeds"].append(run["seed"])
            s["hv"].append(hypervolume(front, raw["hv_ref"]))
            s["igd"].append(igd(front, ref, raw["hv_ref"]))
            for k in ("generations", "evaluated", "feasible"):
                s[k].append(at[k])
    return out


def mean_ranks(cells: Sequence[dict]) -> dict[str, float]:
    """Each algorithm's rank among all (1: best) by mean hypervolume and by mean IGD, averaged over the two
    indicators and the unconstrained cells where every algorithm ran: which set-up does best overall."""
    from scipy.stats import rankdata

    mine = [c for c in cells if not c["constrained"]]
    names = sorted(set.intersection(*(set(c["algorithms"]) for c in mine))) if mine else []
    ranks: dict[str, list[float]] = {a: [] for a in names}
    for c in mine:
        hv = rankdata([-c["algorithms"][a]["hv"]["mean"] for a in names])
        ig = rankdata([c["algorithms"][a]["igd"]["mean"] for a in names])
        for a, h, i in zip(names, hv, ig):
            ranks[a].append(float(h + i) / 2)
    return {a: statistics.fmean(r) for a, r in sorted(ranks.items(), key=lambda kv: statistics.fmean(kv[1]))}


def headline(result: dict[str, Any]) -> dict[str, Any]:
    """Every headline figure, from ``result["raw"]`` alone (fronts, reference fronts, bounds, timings)."""
    raw = result["raw"]
    alpha, budgets = raw["alpha"], list(raw["budgets"])
    refs = reference_fronts(raw)
    scores = score_runs(raw, refs)
    algos = sorted({a for _, a, _ in scores})
    peers = [a for a in algos if a != ENGINE]
    cells = []
    for pid, prob in raw["problems"].items():
        for b in budgets:
            cell: dict[str, Any] = {"problem": pid, "budget": b, "constrained": bool(prob["constrained"]),
                                    "algorithms": {}, "vs": {}}
            for a in algos:
                s = scores.get((pid, a, b))
                if s is None:
                    continue
                cell["algorithms"][a] = {
                    "hv": mean_spread(s["hv"]), "igd": mean_spread(s["igd"]),
                    "generations_mean": statistics.fmean(s["generations"]),
                    "evaluated_min": min(s["evaluated"]), "feasible_min": min(s["feasible"]),
                    "seeds": s["seeds"], "hv_per_seed": s["hv"], "igd_per_seed": s["igd"]}
            if (pid, ENGINE, b) in scores:
                for peer in peers:
                    if (pid, peer, b) in scores:
                        cell["vs"][peer] = _compare(scores[(pid, ENGINE, b)], scores[(pid, peer, b)], alpha)
            cells.append(cell)

    def counts(peer: str) -> dict[str, int]:
        mine = [c for c in cells if not c["constrained"] and peer in c["vs"]]
        ps = [c["vs"][peer][k] for c in mine for k in ("hv_p", "igd_p")]
        adj = holm(ps)
        for i, c in enumerate(mine):
            v = c["vs"][peer]
            v["hv_p_holm"], v["igd_p_holm"] = adj[2 * i], adj[2 * i + 1]
            v["verdict_holm"] = verdict(v["hv_p_holm"], v["hv_a12"], v["igd_p_holm"], v["igd_a12"], alpha)
        return {"cells_worse": sum(c["vs"][peer]["verdict"] == "worse" for c in mine),
                "cells_better": sum(c["vs"][peer]["verdict"] == "better" for c in mine),
                "cells_total": len(mine),
                "cells_worse_holm": sum(c["vs"][peer]["verdict_holm"] == "worse" for c in mine),
                "cells_better_holm": sum(c["vs"][peer]["verdict_holm"] == "better" for c in mine)}

    vs = {peer: counts(peer) for peer in peers}
    for c in cells:  # the constrained cells: tests without a family correction
        if c["constrained"]:
            for v in c["vs"].values():
                v["hv_p_holm"] = v["igd_p_holm"] = v["verdict_holm"] = None

    top = max(budgets)

    def feasible_share(algo: str) -> float | None:
        shares = [f / top for pid, prob in raw["problems"].items() if prob["constrained"]
                  for f in scores.get((pid, algo, top), {}).get("feasible", [])]
        return min(shares) if shares else None

    def overhead(kind: str) -> dict[str, float]:
        reps = raw.get("overhead", {}).get(kind, {})
        return {b: statistics.median(1000.0 * (r["wall_s"] - r["eval_s"]) / r["unique_evals"] for r in rs)
                for b, rs in reps.items()}

    references = [p for p in peers if p in PYMOO_CONFIGS or p in DEAP_CONFIGS]

    def against_references(key: str) -> dict[str, int]:
        """Cells where the engine is worse than any reference set-up (pymoo's NSGA-II, DEAP's loop), so worse
        than the best of them, and better than every one."""
        mine = [c for c in cells if not c["constrained"] and all(p in c["vs"] for p in references)] \
            if references else []
        return {"cells_worse": sum(any(c["vs"][p][key] == "worse" for p in references) for c in mine),
                "cells_better": sum(all(c["vs"][p][key] == "better" for p in references) for c in mine),
                "cells_total": len(mine)}

    plain, corrected = against_references("verdict"), against_references("verdict_holm")
    out = {**plain, "cells_worse_holm": corrected["cells_worse"], "cells_better_holm": corrected["cells_better"],
           "reference_peers": references}
    for peer in peers:
        out[f"vs_{peer}"] = vs[peer]
    share = feasible_share(ENGINE)
    # the feasibility repair against plain rejection sampling at equal cost checks, at the largest budget
    against_rejection = [c["vs"][REJECTION]["verdict"] for c in cells
                         if c["constrained"] and c["budget"] == top and REJECTION in c["vs"]]
    with_dir = overhead("engine_run_dir")
    by_budget = [with_dir[b] for b in sorted(with_dir, key=int)]
    growth = by_budget[-1] / by_budget[0] if by_budget and by_budget[0] > 0 else None
    out.update({
        "mean_rank": mean_ranks(cells),
        "mean_rank_few_choice": mean_ranks([c for c in cells if P.is_few_choice(c["problem"])]),
        "constrained_feasible_share": share, "constrained_feasible_share_pymoo": feasible_share(PYMOO_NAME),
        "constrained_feasible_share_peers": {p: feasible_share(p) for p in peers},
        "overhead_ms": with_dir, "overhead_ms_no_run_dir": overhead("engine_no_run_dir"),
        "overhead_growth": growth,
        "overhead_ms_pymoo": overhead("pymoo"),
        "reference_front_sizes": {pid: len(f[0]) for pid, f in refs.items()},
        "goals": {"no_cell_worse_than_peers_holm": out["cells_total"] > 0 and out["cells_worse_holm"] == 0,
                  "better_in_a_quarter_of_cells_holm": out["cells_total"] > 0 and
                  4 * out["cells_better_holm"] >= out["cells_total"],
                  "overhead_flat_at_most_0_3_ms": bool(by_budget) and max(by_budget) <= OVERHEAD_GOAL_MS and
                  growth is not None and growth <= OVERHEAD_FLAT,
                  "constrained_whole_budget_feasible": share == 1.0,
                  "constrained_better_than_rejection_sampling":
                      bool(against_rejection) and all(v == "better" for v in against_rejection)},
        "cells": cells,
    })
    return out


# -- running the algorithms ---------------------------------------------------------------------------

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


def available_variants() -> dict[str, dict[str, Any]]:
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


# per-gene mutation rates that depend on the genome's length, for --variant (``mut_indpb=1/n``): the engine's own
# rule and the one of earlier versions, so a tuning run can compare them on problems of several sizes
RATE_RULES: dict[str, Callable[[int], float]] = {"1/n": lambda n: 1.0 / n, "1/n>=0.05": lambda n: max(0.05, 1.0 / n)}


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


def settings_record(settings: Any) -> dict[str, Any]:
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


# -- resumable runs -------------------------------------------------------------------------------------

def run_key(problem: P.Problem, algorithm: str, seed: int, budget: int) -> str:
    """The run's file name: what it ran and with which code, so a stale run is never reused."""
    what = {"problem": problem.describe(), "algorithm": algorithm, "budget": budget, "population": POPULATION,
            "settings": (PYMOO_CONFIGS[algorithm] if algorithm in PYMOO_CONFIGS else
                         DEAP_CONFIGS[algorithm] if algorithm in DEAP_CONFIGS else
                         REJECTION_CONFIG if algorithm == REJECTION else VARIANTS[algorithm]),
            "code": (f"pymoo {pymoo_version()}" if algorithm in PYMOO_CONFIGS else
                     f"deap {deap_version()} {deap_digest()}" if algorithm in DEAP_CONFIGS else engine_digest())}
    digest = hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:12]
    return f"{problem.name}__{algorithm}__s{seed}__{digest}"


def do_run(spec: dict) -> dict:
    """Run one (problem, algorithm, seed) unless its file exists; returns the file's content."""
    problem = P.make(spec["problem"], spec.get("threshold"))
    path = Path(spec["work"]) / f"{run_key(problem, spec['algorithm'], spec['seed'], spec['budget'])}.json"
    if path.is_file():
        return json.loads(path.read_text())
    if spec["algorithm"] in PYMOO_CONFIGS:
        data = run_pymoo(problem, spec["seed"], spec["budget"], spec["algorithm"])
    elif spec["algorithm"] in DEAP_CONFIGS:
        data = run_deap(problem, spec["seed"], spec["budget"], POPULATION, spec["algorithm"])
    elif spec["algorithm"] == REJECTION:  # as many cost checks as the engine's run of this problem and seed made
        engine = do_run({**spec, "algorithm": ENGINE})
        data = run_rejection(problem, spec["seed"], spec["budget"], int(engine["cost_checks"]))
    else:
        data = run_engine(problem, spec["algorithm"], spec["seed"], spec["budget"])
    data = {"problem": problem.name, "algorithm": spec["algorithm"], "seed": spec["seed"], "budget": spec["budget"],
            "problem_digest": problem.digest(), "key": path.stem, **data}
    write_atomic(path, json.dumps(data))
    print(f"{problem.name:16s} {spec['algorithm']:15s} seed {spec['seed']:2d}: {data['unique_evals']} unique "
          f"evaluations in {data['generations']} generations, {data['wall_s']:.2f} s "
          f"(objective functions {data['eval_s']:.2f} s)", flush=True)
    return data


def at_budgets(run: dict, budgets: Sequence[int]) -> dict[str, dict]:
    """The run's front (feasible points only) and counts after its first ``b`` unique evaluations."""
    F = np.asarray(run["F"], dtype=float).reshape(-1, run.get("n_obj") or (len(run["F"][0]) if run["F"] else 1))
    feas = np.asarray(run["feasible"], dtype=bool)
    out = {}
    for b in budgets:
        n = min(b, len(F))
        ok = F[:n][feas[:n]]
        front = nondominated(ok) if len(ok) else np.zeros((0, F.shape[1]))
        out[str(b)] = {"evaluated": n, "feasible": int(feas[:n].sum()),
                       "generations": int(run["gen"][n - 1]) if n else 0,
                       "front": [[float(v) for v in row] for row in front]}
    return out


def raw_run(run: dict, budgets: Sequence[int]) -> dict:
    return {"problem": run["problem"], "algorithm": run["algorithm"], "seed": run["seed"],
            "run_budget": run["budget"], "unique_evals": run["unique_evals"],
            "stopped_early": run["unique_evals"] < run["budget"], "duplicate_genomes": run["duplicate_genomes"],
            "cost_checks": run.get("cost_checks"), "n_obj": run.get("n_obj"),
            "wall_s": run["wall_s"], "eval_s": run["eval_s"], "key": run["key"], "budgets": at_budgets(run, budgets)}


# -- overhead -----------------------------------------------------------------------------------------------

def measure_overhead(budgets: Sequence[int], repeats: int, with_pymoo: bool, work: Path) -> dict[str, dict]:
    """Repeated runs on the NAS-like problem: wall time, time inside the objective functions, unique evaluations.

    The kinds are interleaved (A, B, C, A, B, C, ...) at each budget, so a change of machine load falls on all of
    them; the 1-minute load average before and after each budget is kept under ``load``."""
    import os

    problem = P.make(OVERHEAD_PROBLEM)
    kinds = ["engine_no_run_dir", "engine_run_dir"] + (["pymoo"] if with_pymoo else [])
    out: dict[str, dict] = {k: {} for k in kinds}
    out["load"] = {}
    scratch = ROOT / "outputs" / "bench"
    for b in budgets:
        load_before = os.getloadavg()[0]
        reps: dict[str, list] = {k: [] for k in kinds}
        for _ in range(repeats):
            for kind in kinds:
                if kind == "pymoo":
                    r = run_pymoo(problem, 0, b)
                elif kind == "engine_run_dir":
                    folder = Path(tempfile.mkdtemp(prefix="optimizer_overhead_", dir=scratch))
                    try:
                        r = run_engine(problem, ENGINE, 0, b, run_dir=folder)
                    finally:
                        shutil.rmtree(folder, ignore_errors=True)
                else:
                    r = run_engine(problem, ENGINE, 0, b)
                reps[kind].append({"wall_s": r["wall_s"], "eval_s": r["eval_s"], "unique_evals": r["unique_evals"],
                                   "fn_calls": r["fn_calls"]})
        out["load"][str(b)] = {"before": load_before, "after": os.getloadavg()[0]}
        for kind in kinds:
            out[kind][str(b)] = reps[kind]
            ms = statistics.median(1000 * (r["wall_s"] - r["eval_s"]) / r["unique_evals"] for r in reps[kind])
            print(f"overhead {kind:18s} budget {b:5d}: {ms:.3f} ms per unique evaluation "
                  f"(walls {[round(r['wall_s'], 2) for r in reps[kind]]} s)", flush=True)
    return out


# -- the benchmark -------------------------------------------------------------------------------------------

def parse_problems(text: str) -> list[str]:
    """Problem names from ``zdt1-16,nas``; a family name (``zdt1``) means every grid, ``all`` everything."""
    out: list[str] = []
    for part in [p.strip() for p in text.split(",") if p.strip()]:
        names = (list(P.ALL) if part == "all" else
                 [f"{part}-{n}" for n in P.GRIDS] if part in P.FAMILIES else [part])
        for name in names:
            P.make(name, 1.0)  # validates the name
            if name not in out:
                out.append(name)
    if not out:
        raise ValueError("--problems names no problem")
    return out


def _value(text: str) -> Any:
    """A --variant value: a number if it reads as one, else the text."""
    try:
        return float(text) if any(c in text for c in ".e") else int(text)
    except ValueError:
        return text


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="smoke test: zdt1-8, nas, cifar-k1, nas-constrained; 2 seeds; budgets 40,80")
    p.add_argument("--seeds", type=int, default=SEEDS, help="seeds per problem and algorithm")
    p.add_argument("--first-seed", type=int, default=0, help="seeds first .. first + N - 1 (another set: held out)")
    p.add_argument("--budgets", default=",".join(map(str, BUDGETS)),
                   help="unique evaluations scored, e.g. 200,500,1000")
    p.add_argument("--problems", default="all", help="e.g. zdt1-16,dtlz2,nas,nas-constrained (a family: every grid)")
    p.add_argument("--variant", action="append", default=[], metavar="NAME:FIELD=VALUE,...",
                   help="another engine set-up to run, e.g. cx3:eta_cx=3,crossover=sbx (Settings fields; repeatable; "
                        "mut_indpb=1/n or 1/n>=0.05: a rate by the genome's length)")
    p.add_argument("--algorithms", default=None,
                   help="subset of engine,engine-uniform,random,pymoo,pymoo-eta3,deap,deap-int (default: all)")
    p.add_argument("--overhead-budgets", default=",".join(map(str, OVERHEAD_BUDGETS)))
    p.add_argument("--overhead-repeats", type=int, default=OVERHEAD_REPEATS)
    p.add_argument("--no-overhead", action="store_true", help="skip the overhead measurement")
    p.add_argument("--jobs", type=int, default=1, help="runs in parallel processes (the overhead is measured alone)")
    p.add_argument("--work", type=Path, default=None, help=f"folder of finished runs (default {WORK})")
    p.add_argument("--out", type=Path, default=None, help="folder of optimizer.json (default outputs/bench)")
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.budgets, args.problems = 2, "40,80", "zdt1-8,nas,cifar-k1,nas-constrained"
        args.overhead_budgets, args.overhead_repeats = "100,200", 1
    work = args.work or (WORK.with_name(WORK.name + "_quick") if args.quick else WORK)
    out_dir = args.out or (ROOT / "outputs" / "bench" / "quick" if args.quick else None)
    budgets = sorted(set(_ints(args.budgets)))
    overhead_budgets = [] if args.no_overhead else _ints(args.overhead_budgets)
    try:
        names = parse_problems(args.problems)
    except ValueError as err:
        p.error(str(err))
    for text in args.variant:
        name, _, fields = text.partition(":")
        try:
            kw = {k: _value(v) for k, v in (f.split("=", 1) for f in fields.split(",") if f)}
        except ValueError:
            p.error(f"--variant {text!r}: expected NAME:FIELD=VALUE,...")
        if isinstance(kw.get("mut_indpb"), str) and kw["mut_indpb"] not in RATE_RULES:
            p.error(f"--variant {text!r}: mut_indpb must be a number or one of {', '.join(RATE_RULES)}")
        VARIANTS[name] = {"algorithm": "auto", **kw}
    variants = available_variants()  # imports the engine
    engine_digest()
    algorithms = list(variants) + (list(PYMOO_CONFIGS) if pymoo_version() else []) + list(DEAP_CONFIGS) + [REJECTION]
    if not pymoo_version():
        print("optimizer: pymoo is not installed (pip install pymoo): its runs are left out", file=sys.stderr)
    if args.algorithms:
        wanted = [a.strip() for a in args.algorithms.split(",") if a.strip()]
        unknown = [a for a in wanted if a not in algorithms]
        if unknown:
            raise SystemExit(f"optimizer: algorithm(s) {unknown} unavailable here; choose from {algorithms}")
        algorithms = wanted
    if ENGINE not in algorithms:
        raise SystemExit("optimizer: the engine must be among the algorithms: the comparisons are about it")
    run_budget = max(budgets)

    threshold = None
    problems_raw: dict[str, dict] = {}
    if "nas-constrained" in names:
        threshold = P.macs_threshold()
        if threshold["feasible_share"] >= 1e-3:
            raise SystemExit(f"optimizer: the MACs bound leaves {threshold['feasible_share']} feasible, not < 1/1000")
    for name in names:
        prob = P.make(name, None if threshold is None else threshold["threshold"])
        ideal, nadir = prob.bounds()
        ref = prob.reference_front()
        problems_raw[name] = {
            "objectives": list(prob.objectives), "ideal": ideal, "nadir": nadir,
            "bounds_from": ("one-gene extremes (estimate)" if isinstance(prob, P.NASLike) else
                            "analytic" if isinstance(prob, P.FewChoice) else "exact over the grid"),
            "reference": prob.reference,
            "reference_front": None if ref is None else [[float(v) for v in row] for row in ref],
            "reference_note": ("exact front of the discretised problem" if ref is not None else
                               "unknown: the non-dominated union of every run of every algorithm at the "
                               "largest budget"),
            "constrained": prob.constraint is not None,
            "constraint": None if prob.constraint is None else {"field": prob.constraint[0], "op": "<=", **threshold},
            "definition": prob.describe(), "digest": prob.digest()}

    specs = [{"problem": n, "threshold": None if threshold is None else threshold["threshold"], "algorithm": a,
              "seed": s, "budget": run_budget, "work": str(work)} for n in names for a in algorithms
             for s in range(args.first_seed, args.first_seed + args.seeds)
             if a != REJECTION or P.make(n, 1.0).constraint is not None]
    # rejection sampling reads the engine's run of its problem and seed (its cost checks): after the others
    specs.sort(key=lambda s: s["algorithm"] == REJECTION)
    print(f"optimizer: {len(specs)} runs ({len(names)} problems x {len(algorithms)} algorithms x {args.seeds} seeds) "
          f"to {run_budget} unique evaluations, work folder {work}", flush=True)
    t0 = time.perf_counter()
    if args.jobs > 1:
        from concurrent.futures import ProcessPoolExecutor

        first = [s for s in specs if s["algorithm"] != REJECTION]
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            runs = list(pool.map(do_run, first))
        runs += [do_run(s) for s in specs[len(first):]]
    else:
        runs = [do_run(s) for s in specs]
    runs_seconds = time.perf_counter() - t0

    overhead = {}
    if overhead_budgets:
        overhead = measure_overhead(overhead_budgets, args.overhead_repeats, PYMOO_NAME in algorithms, work)

    raw = {"budgets": budgets, "population": POPULATION, "alpha": ALPHA, "hv_ref": HV_REF, "engine": ENGINE,
           "anytime": ("each run goes to the largest budget once and is scored on its first B unique evaluations; "
                       "a budget-limited run stops the same draws earlier, so this equals a run with budget B"),
           "problems": problems_raw, "runs": [raw_run(r, budgets) for r in runs], "overhead": overhead}
    fig = headline({"raw": raw})
    stopped = [f"{r['problem']} {r['algorithm']} seed {r['seed']}: {r['unique_evals']}" for r in raw["runs"]
               if r["stopped_early"]]
    dups = sum(r["duplicate_genomes"] for r in raw["runs"])
    result = {**fig, "raw": raw, "runs_seconds": runs_seconds, "stopped_early": stopped,
              "duplicate_genomes": dups, "quick": args.quick,
              "seconds_per_run": {a: statistics.fmean(r["wall_s"] for r in raw["runs"] if r["algorithm"] == a)
                                  for a in algorithms if any(r["algorithm"] == a for r in raw["runs"])}}
    config = {"problems": names, "budgets": budgets, "seeds": list(range(args.first_seed, args.first_seed + args.seeds)), "population": POPULATION,
              "run_budget": run_budget, "algorithms": algorithms,
              "engine_variants": {a: VARIANTS[a] for a in algorithms if a in VARIANTS},
              "engine_settings": {a: {k: v for k, v in settings_record(engine_settings(
                  P.make(names[0], 1.0), a, 0, run_budget)).items() if k not in ("objectives", "constraints", "seed")}
                  for a in algorithms if a in VARIANTS},
              "engine_objectives": "each problem's objectives (raw.problems), minimised, normaliser bounds = nadir; "
                                   "the constrained problem's constraint as Constraint(field, '<=', threshold)",
              "engine_code_digest": engine_digest(), "pymoo": PYMOO_CONFIGS, "pymoo_version": pymoo_version(),
              "deap": DEAP_CONFIGS, "deap_version": deap_version(), "deap_loop_digest": deap_digest(),
              "alpha": ALPHA, "hv_ref": HV_REF, "overhead": {"budgets": overhead_budgets,
                                                             "repeats": args.overhead_repeats,
                                                             "problem": OVERHEAD_PROBLEM},
              "jobs": args.jobs, "work": str(work), "quick": args.quick}
    path = save("optimizer", result, out_dir=out_dir, config=config, compact=True)
    report(result, algorithms)
    print(f"optimizer: {len(specs)} runs in {runs_seconds:.0f} s -> {path}")


def report(result: dict, algorithms: Sequence[str]) -> None:
    """The cells in a few lines: engine's mean hypervolume and IGD against every peer's, and the verdicts."""
    for c in result["cells"]:
        algs = c["algorithms"]
        line = " ".join(f"{a}={algs[a]['hv']['mean']:.4f}/{algs[a]['igd']['mean']:.4f}"
                        for a in algorithms if a in algs)
        vs = " ".join(f"vs {p}: {v['verdict']}" for p, v in c["vs"].items())
        print(f"{c['problem']:16s} {c['budget']:5d}  hv/igd {line}  {vs}")
    print(f"engine vs the reference set-ups {result['reference_peers']} (worse than any, better than all): "
          f"{result['cells_worse']} worse, {result['cells_better']} better of {result['cells_total']} "
          f"cells (Holm: {result['cells_worse_holm']} worse, {result['cells_better_holm']} better)")
    for k, v in result.items():
        if k.startswith("vs_"):
            print(f"engine {k.replace('_', ' ')}: {v['cells_worse']} worse, {v['cells_better']} better of "
                  f"{v['cells_total']} (Holm: {v['cells_worse_holm']} worse, {v['cells_better_holm']} better)")
    print(f"constrained feasible share (worst seed): engine {result['constrained_feasible_share']}, "
          f"pymoo {result['constrained_feasible_share_pymoo']}; overhead ms/eval: run folder {result['overhead_ms']}, "
          f"none {result['overhead_ms_no_run_dir']}, pymoo {result['overhead_ms_pymoo']}")
    if result["stopped_early"]:
        print(f"runs that stopped before their budget: {result['stopped_early']}")


if __name__ == "__main__":
    main()
