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
"""
from __future__ import annotations

import argparse
import importlib.metadata
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "bench"

STATS_MODULES = ("search/stats.py", "search/pipeline/summary.py", "search/hardware/measure.py",
                 "search/evolution/objectives.py", "search/ranking/fidelity.py")
BENCH_MODULES = ("bench/ranking.py", "bench/pipeline.py", "bench/lut_accuracy.py", "bench/parallel.py",
                 "bench/throughput.py", "bench/walltime.py", "bench/cost_range.py", "bench/supernet_overhead.py",
                 "bench/optimizer.py", "bench/hpo.py", "bench/recall.py", "bench/bad_input.py",
                 "bench/search_quality.py", "bench/recompute.py", "bench/mutation.py")
# mutant name -> why it cannot change behaviour (checked: a listed mutant that is killed is reported stale)
EQUIVALENT: dict[str, str] = {}
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

    def profile(frame, event, arg):  # noqa: ARG001 - sys.setprofile's signature
        if event == "call":
            mod = files.get(frame.f_code.co_filename)
            if mod is not None and frame.f_code.co_qualname != "<module>":
                hit.add(mutmut_function(mod, frame.f_code.co_qualname))

    sys.path.insert(0, str(HERE))
    import recompute

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
    sys.path.insert(0, str(HERE))
    import recompute

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


def headline(result: dict[str, Any]) -> dict[str, Any]:
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
    args = p.parse_args(argv)
    functions = traced(committed_results())
    t = time.perf_counter()
    if not args.reuse:
        patterns = [f"{module_name(m)}.*" for m in STATS_MODULES] + [f"{f}__mutmut_*" for f in functions]
        r = subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", str(args.max_children),
                            *patterns], cwd=ROOT)
        if r.returncode not in (0, 1):
            print(f"mutation: mutmut run exited {r.returncode}", file=sys.stderr)
            return 1
    seconds = time.perf_counter() - t
    every = outcomes()
    mutants = {k: v for k, v in every.items() if in_scope(k, functions)}
    unknown = [k for k, v in mutants.items() if v == "not checked"]
    if unknown and not args.reuse:
        print(f"mutation: {len(unknown)} in-scope mutants were not checked", file=sys.stderr)
    raw = {"mutants": mutants, "equivalent": EQUIVALENT, "traced_functions": functions,
           "not_run": sum(1 for k in every if k not in mutants)}
    sys.path.insert(0, str(HERE))
    from common import save

    result = {**headline({"raw": raw}), "raw": raw, "tool": "mutmut", "version": importlib.metadata.version("mutmut"),
              "modules": [*STATS_MODULES, *BENCH_MODULES], "run_seconds": seconds,
              "scope": "every function of the statistics modules; in the bench scripts, the functions "
                       "bench/recompute.py runs on the committed results (traced)"}
    config = {"stats_modules": STATS_MODULES, "bench_modules": BENCH_MODULES, "max_children": args.max_children,
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
