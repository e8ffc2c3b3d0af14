"""Mutation testing of the code behind every reported figure: run mutmut, write ``mutation.json``.

A figure can be wrong while every test passes: the tests may never look at it. Mutation testing changes
the code one small edit at a time (a ``<`` for a ``<=``, a constant, a dropped argument) and runs the
tests: a mutant no test fails on ("survivor") is a change to a figure nobody would notice.

**Scope, fixed before the run and never narrowed to dodge a survivor.** Every function of the statistics
modules (``STATS_MODULES``: statistics, the report's figures and dominance, the measurement session, the
objectives, the ranking figures) and, in the benchmark scripts (``BENCH_MODULES``), every function that
``bench/recompute.py`` executes when it recomputes the committed results: the ``headline()`` and
``inputs()`` functions and every helper they call, found by tracing that recomputation (:func:`traced`).
The rest of a benchmark script (timing loops, training, argument parsing) produces raw data and is
covered by the scripts' own runs, not by known-answer tests: its mutants are generated but not run, and
counted under ``not_run``.

A mutant that cannot change behaviour (equivalent) is listed in ``EQUIVALENT`` with a one-line reason;
any other survivor is a survivor. ``bench/results/mutation.json`` holds the tool and its version, the
modules, the traced functions, every mutant run with its outcome, and the headline :func:`headline`
recomputes from those outcomes: ``killed`` (a count), ``survivors`` (a list), ``equivalent`` (mutant
and reason).

    python bench/mutation.py                # generate, run the in-scope mutants, write the result
    python bench/mutation.py --max-children 2
    python bench/mutation.py --rerun-survivors  # after adding tests: only what the last run left alive
"""
from __future__ import annotations

import argparse
import functools
import importlib.metadata
import json
import re
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file, `python bench/<name>.py`: see bench/__init__.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from core.jsontypes import JSONObject  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

STATS_MODULES = ("search/stats.py", "search/pipeline/summary.py", "search/hardware/measure.py",
                 "search/evolution/objectives.py", "search/ranking/fidelity.py")
BENCH_MODULES = ("bench/ranking.py", "bench/pipeline.py", "bench/lut_accuracy.py", "bench/parallel.py",
                 "bench/throughput.py", "bench/walltime.py", "bench/cost_range.py", "bench/supernet_overhead.py",
                 "bench/optim/figures.py", "bench/hpo.py", "bench/recall.py", "bench/bad_input.py",
                 "bench/search_quality.py", "bench/recompute.py", "bench/mutation.py", "bench/budget_pilot.py",
                 "bench/deploy.py", "bench/first_hour.py", "bench/reference.py", "bench/same_front.py",
                 "bench/breakeven.py")
# mutant name -> why it cannot change behaviour (checked: a listed mutant that is killed is reported stale)
EQUIVALENT: dict[str, str] = {
    'bench.optim.figures.x_holm__mutmut_11':
        'out initialised to [1.0]*m instead of [0.0]*m: the loop visits a permutation of range(m) and overwrites every slot',
    'bench.optim.figures.x_hypervolume__mutmut_6':
        'np.asarray(front, dtype=None): objectives.hypervolume checks len() and converts with np.asarray(points, dtype=float) itself',
    'bench.optim.figures.x_hypervolume__mutmut_8':
        'np.asarray(front) without dtype: objectives.hypervolume converts with dtype=float itself',
    'bench.optim.figures.x_igd__mutmut_18':
        'empty front filled as 2 identical (e, ..., e) points instead of 1: the nearest distance of every reference point is unchanged',
    'bench.optim.figures.x_mann_whitney__mutmut_10':
        'alternative omitted: scipy.stats.mannwhitneyu\'s default alternative is "two-sided"',
    'bench.optim.figures.x_mann_whitney__mutmut_12':
        'alternative="TWO-SIDED": scipy lower-cases `alternative` before validating it (checked: identical p-values)',
    'bench.optim.figures.x_nondominated__mutmut_3':
        'np.asarray(F, dtype=None): problems.nondominated converts with np.asarray(F, dtype=float) itself, same array for every input',
    'bench.optim.figures.x_nondominated__mutmut_5':
        'np.asarray(F) without dtype: problems.nondominated converts with np.asarray(F, dtype=float) itself',
    'bench.optim.figures.x_normalise__mutmut_20':
        'reshape(-2, n): numpy (2.4, installed) treats any negative size as the one unknown dimension, same shape as reshape(-1, n)',
    'bench.optim.figures.x_reference_fronts__mutmut_38':
        'np.asarray(f, dtype=None) before vstack: nondominated() then converts the stacked array to float (problems.nondominated too)',
    'bench.optim.figures.x_reference_fronts__mutmut_40':
        'np.asarray(f) without dtype before vstack: nondominated() converts the stacked array to float',
    'bench.parallel.x_headline__mutmut_26':
        "drops n_boot=2000 from bootstrap_ci(...): search.stats.bootstrap_ci's default n_boot is 2000, same call",
    'bench.parallel.x_headline__mutmut_27':
        "drops level=0.95 from bootstrap_ci(...): bootstrap_ci's default level is 0.95, same call",
    'bench.parallel.x_headline__mutmut_28':
        "drops seed=0 from bootstrap_ci(...): bootstrap_ci's default seed is 0, same call",
    'bench.ranking.x_cross_validated__mutmut_12':
        "figures' intervals only fill the *_ci keys, which cross_validated never reads (it averages the point figures CV_FIGURES and the top-5 regret): intervals=None (falsy, as False) gives the same output, only slower",
    'bench.ranking.x_cross_validated__mutmut_17':
        "figures' intervals only fill the *_ci keys, which cross_validated never reads (it averages the point figures CV_FIGURES and the top-5 regret): figures' default intervals=True gives the same output, only slower",
    'bench.ranking.x_cross_validated__mutmut_20':
        "figures' intervals only fill the *_ci keys, which cross_validated never reads (it averages the point figures CV_FIGURES and the top-5 regret): intervals=True gives the same output, only slower",
    'bench.ranking.x_cross_validated__mutmut_26':
        "figures' intervals only fill the *_ci keys, which cross_validated never reads (it averages the point figures CV_FIGURES and the top-5 regret): intervals=None (falsy, as False) gives the same output, only slower",
    'bench.ranking.x_cross_validated__mutmut_31':
        "figures' intervals only fill the *_ci keys, which cross_validated never reads (it averages the point figures CV_FIGURES and the top-5 regret): figures' default intervals=True gives the same output, only slower",
    'bench.ranking.x_cross_validated__mutmut_32':
        "figures' intervals only fill the *_ci keys, which cross_validated never reads (it averages the point figures CV_FIGURES and the top-5 regret): intervals=True gives the same output, only slower",
    'bench.ranking.x_headline__mutmut_53':
        'noise_ceiling_tau computed even with < 2 subnets: search.stats.kendall returns nan for 0 or 1 items (no untied pair), as the else branch',
    'bench.ranking.x_headline__mutmut_71':
        'noise_ceiling_tau_no_extremes computed with < 2 mid subnets: kendall returns nan for 0 or 1 items, as the else branch',
    'bench.ranking.x_versus__mutmut_25':
        'diff computed with < 2 subnets: kendall(a, t) - kendall(b, t) is nan - nan = nan for 0 or 1 items, as the else branch',
    'bench.recompute.x_absolute_paths__mutmut_21':
        'm.group(1)[2:] vs [1:]: ABSOLUTE\'s group is \'/\' then [\\w.+-]+, so index 1 is never \'/\' and the test "/" in ... is the same',
    'bench.recompute.x_mismatches__mutmut_47':
        'drops rel_tol=1e-9 from math.isclose: its default rel_tol is 1e-09, same call',
    'search.evolution.objectives.x_hypervolume__mutmut_7':
        'np.asarray(points, dtype=None): pts.shape is the same and moocore.hypervolume converts pts with np.asarray(dtype=float) itself',
    'search.evolution.objectives.x_hypervolume__mutmut_9':
        'np.asarray(points) without dtype: as _7',
    'search.evolution.objectives.x_pareto_front__mutmut_10':
        'np.array(...) without dtype: as _8',
    'search.evolution.objectives.x_pareto_front__mutmut_4':
        "keep_weakly=None instead of False: moocore passes ffi.cast('bool', bool(keep_weakly)), and bool(None) is False",
    'search.evolution.objectives.x_pareto_front__mutmut_6':
        "keep_weakly argument dropped: moocore.is_nondominated's default is keep_weakly=False, the value passed",
    'search.evolution.objectives.x_pareto_front__mutmut_8':
        'np.array(..., dtype=None): Normaliser returns lists of Python floats (float64 array either way) and is_nondominated re-converts with np.asarray(dtype=float)',
    'search.pipeline.summary.x__read__mutmut_10':
        "float('NAN') instead of float('nan'): Python parses the string case-insensitively, both are the same nan",
    'search.pipeline.summary.x_front__mutmut_4':
        'np.array(..., dtype=None): moocore.is_nondominated converts points with np.asarray(points, dtype=float) before use',
    'search.pipeline.summary.x_front__mutmut_6':
        'np.array(...) without dtype: as _4',
    'search.ranking.fidelity.x_figures__mutmut_58':
        "'len(mid) >= 2 or True': below 2 sampled subnets kendall(mx, my) has no pair (untied counts 0) and returns nan, the else value",
    'search.ranking.fidelity.x_figures__mutmut_76':
        "'len(mid) >= 2 or True': scipy's spearmanr of 0 or 1 items returns nan (no warning, no error), the else value",
    'search.stats.x_hypervolume_2d__mutmut_18':
        'np.asarray(points, dtype=None) instead of dtype=float: moocore.hypervolume itself converts with np.asarray(points, dtype=float) (asarray_maybe_copy) before use, so the values reaching the C code are identical for every input',
    'search.stats.x_hypervolume_2d__mutmut_20':
        'np.asarray(points) without dtype: same as _18, moocore.hypervolume re-converts with dtype=float',
}
STATUS = re.compile(r"^\s+(\S+): (.+)$")


def module_name(path: str) -> str:
    return path[:-3].replace("/", ".")


def mutmut_function(module: str, qualname: str) -> str:
    """mutmut's name of the function holding ``qualname`` (a nested function belongs to its outer one)."""
    parts = qualname.split(".<locals>.")[0].split(".")
    if len(parts) == 1:
        return f"{module}.x_{parts[0]}"
    return f"{module}.x\u01c1{parts[-2]}\u01c1{parts[-1]}"


def traced(results: list[Path]) -> list[str]:
    """mutmut names of the bench functions ``bench/recompute.py`` runs on ``results`` (headline code)."""
    files = {str((ROOT / p).resolve()): module_name(p) for p in BENCH_MODULES}
    hit: set[str] = set()

    @functools.cache
    def module_of(filename: str) -> str | None:  # a code object's file as imported, resolved once
        return files.get(str(Path(filename).resolve()))

    def profile(frame, event, arg):  # noqa: ARG001 - sys.setprofile's signature
        if event == "call":
            mod = module_of(frame.f_code.co_filename)
            if mod is not None and frame.f_code.co_qualname != "<module>":
                hit.add(mutmut_function(mod, frame.f_code.co_qualname))

    from bench import recompute

    sys.setprofile(profile)
    try:
        for f in results:
            problems = recompute.check(f)
            if not problems:
                recompute.inputs_of(f)
    finally:
        sys.setprofile(None)
    own = {mutmut_function("bench.mutation", n) for n in ("headline",)}  # this result's own headline
    return sorted(hit | own)


def committed_results() -> list[Path]:
    from bench import recompute

    return [f for f in sorted(recompute.RESULTS.rglob("*.json"))
            if not recompute.is_archived(f) and recompute.is_result(f)
            and json.loads(f.read_text()).get("benchmark") != "mutation"]


def outcomes() -> dict[str, str]:
    """Every generated mutant's status, as ``mutmut results --all true`` prints it."""
    out = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    return {m.group(1): m.group(2).strip() for m in map(STATUS.match, out.splitlines()) if m}


def in_scope(name: str, functions: list[str]) -> bool:
    if any(name.startswith(module_name(p) + ".") for p in STATS_MODULES):
        return True
    return name.split("__mutmut_")[0] in functions


def headline(result: JSONObject) -> JSONObject:
    """Killed, survivors and equivalent mutants, from the per-mutant outcomes in ``result["raw"]``."""
    raw = result["raw"]
    run = {k: v for k, v in raw["mutants"].items() if v != "not checked"}
    equivalent = [{"mutant": k, "reason": raw["equivalent"][k]} for k in sorted(run)
                  if k in raw["equivalent"] and run[k] != "killed"]
    stale = sorted(k for k in raw["equivalent"] if run.get(k) == "killed")
    survivors = sorted(k for k, v in run.items() if v != "killed" and k not in raw["equivalent"])
    by_status: dict[str, int] = {}
    for v in run.values():
        by_status[v] = by_status.get(v, 0) + 1
    return {"killed": by_status.get("killed", 0), "survivors": survivors, "equivalent": equivalent,
            "stale_equivalent": stale, "mutants_run": len(run), "by_status": dict(sorted(by_status.items())),
            "not_run": raw["not_run"], "goal": {"no_survivor": not survivors}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--max-children", type=int, default=2)
    p.add_argument("--reuse", action="store_true", help="read the outcomes of the last run instead of running")
    p.add_argument("--rerun-survivors", action="store_true",
                   help="run again only the in-scope mutants the last run did not kill (sound when tests were only "
                        "added and the mutated modules are unchanged since: a killed mutant stays killed)")
    args = p.parse_args(argv)
    functions = traced(committed_results())
    t = time.perf_counter()
    if args.rerun_survivors:
        last = {k: v for k, v in outcomes().items() if in_scope(k, functions)}
        patterns = sorted(k for k, v in last.items() if v != "killed")
        print(f"mutation: {len(patterns)} of {len(last)} in-scope mutants were not killed last time: running them again")
    else:
        patterns = [f"{module_name(m)}.*" for m in STATS_MODULES] + [f"{f}__mutmut_*" for f in functions]
    for _ in range(2 if args.rerun_survivors else 1):
        if args.reuse or not patterns:
            break
        r = subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", str(args.max_children),
                            *patterns], cwd=ROOT)
        if r.returncode not in (0, 1):
            print(f"mutation: mutmut run exited {r.returncode}", file=sys.stderr)
            return 1
        # a function edited since the last run has its mutants made anew and unchecked: run those too
        patterns = sorted(k for k, v in outcomes().items() if in_scope(k, functions) and v == "not checked")
    seconds = time.perf_counter() - t
    every = outcomes()
    mutants = {k: v for k, v in every.items() if in_scope(k, functions)}
    unknown = [k for k, v in mutants.items() if v == "not checked"]
    if unknown and not args.reuse:
        print(f"mutation: {len(unknown)} in-scope mutants were not checked", file=sys.stderr)
    raw = {"mutants": mutants, "equivalent": EQUIVALENT, "traced_functions": functions,
           "not_run": sum(1 for k in every if k not in mutants)}
    from bench.common import save

    result = {**headline({"raw": raw}), "raw": raw, "tool": "mutmut", "version": importlib.metadata.version("mutmut"),
              "modules": [*STATS_MODULES, *BENCH_MODULES], "run_seconds": seconds,
              "scope": "every function of the statistics modules; in the bench scripts, the functions "
                       "bench/recompute.py runs on the committed results (traced)"}
    config = {"stats_modules": STATS_MODULES, "bench_modules": BENCH_MODULES, "max_children": args.max_children,
              "rerun_survivors": args.rerun_survivors,
              "mutmut": {"pyproject": "[tool.mutmut] of pyproject.toml"}}
    path = save("mutation", result, config=config)
    print(f"mutation: {result['killed']} killed, {len(result['survivors'])} survivors, "
          f"{len(result['equivalent'])} equivalent of {result['mutants_run']} run ({result['not_run']} outside "
          f"the scope, not run) -> {path}")
    for s in result["survivors"]:
        print(f"  survivor: {s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
