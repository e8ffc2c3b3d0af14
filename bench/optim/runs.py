"""The optimizer benchmark's runs: resumable (one file each), scored at each budget, and the overhead measurement."""
from __future__ import annotations

import hashlib
import json
import shutil
import statistics
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from bench import problems as P
from bench.common import ROOT
from bench.deap_loop import DEAP_CONFIGS, deap_version, run_deap
from bench.optim.figures import nondominated
from bench.optim.runners import deap_digest, engine_digest, pymoo_version, run_engine, run_pymoo, run_rejection
from bench.optim.setups import (ENGINE, OVERHEAD_PROBLEM, POPULATION, PYMOO_CONFIGS, REJECTION, REJECTION_CONFIG,
                                VARIANTS)
from core.io import write_atomic


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

