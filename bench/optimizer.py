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
:func:`bench.optim.figures.headline` from ``raw`` with numpy, scipy and moocore alone): ``cells_worse``,
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
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Sequence

if __package__ in (None, ""):  # run as a file, `python bench/<name>.py`: see bench/__init__.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench import problems as P  # noqa: E402
from bench.common import ROOT, save  # noqa: E402
from bench.deap_loop import DEAP_CONFIGS, deap_version  # noqa: E402
from bench.optim.figures import headline  # noqa: E402  (bench/recompute.py finds it here)
from bench.optim.runners import (available_variants, deap_digest, engine_digest, engine_settings,  # noqa: E402
                                 pymoo_version, settings_record)
from bench.optim.runs import do_run, measure_overhead, parse_problems, raw_run  # noqa: E402
from bench.optim.setups import (ALPHA, BUDGETS, ENGINE, HV_REF, OVERHEAD_BUDGETS, OVERHEAD_PROBLEM,  # noqa: E402
                                OVERHEAD_REPEATS, POPULATION, PYMOO_CONFIGS, PYMOO_NAME, RATE_RULES, REJECTION, SEEDS,
                                VARIANTS, WORK)


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
