"""Does a change of the code change what ``green-search`` finds? The same searches at two revisions.

A refactor that promises "behaviour unchanged" (issue 15) is held to it here: the base revision
(checked out into a temporary git worktree) and this checkout run ``green-search`` on the same
supernet checkpoint and lookup table, for NSGA-II, NSGA-III and random search, one thread each. The
fronts (every member's arch and figures), hypervolumes, evaluation orders and saved random states
must be equal, not close: the search is deterministic given its seed. Then the base's finished
NSGA-II run folder is resumed by this checkout with more generations and compared with a fresh run
of those generations here, which checks that state files written by the old code are read right.

    python bench/same_front.py --base aad06cf                 # a digits supernet and table are made first
    python bench/same_front.py --base aad06cf --ckpt <last.ckpt> --table <lut.json>

Writes ``outputs/bench/same_front.json`` (commit, command line, per-run raw comparisons).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a file, `python bench/<name>.py`: see bench/__init__.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.common import ROOT, input_ref, quick_supernet, save  # noqa: E402
from core.jsontypes import JSONObject  # noqa: E402
from search.evolution.state import read_cache  # noqa: E402

ALGOS = ("nsga2", "nsga3", "random")


def run_search(tree: Path, out: Path, args: list[str]) -> None:
    """green-search of the revision checked out at ``tree`` (its own packages and conf), into ``out``."""
    # the console script's module: search.commands.search since issue 15, search.search before
    module = "search.commands.search" if (tree / "search" / "commands" / "search.py").is_file() else "search.search"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("PYTHONPATH", None)  # python -m puts ``tree`` first on the path: its packages, its conf
    r = subprocess.run([sys.executable, "-m", module, *args, f"hydra.run.dir={out}"], cwd=tree, env=env,
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"green-search at {tree} failed: {r.stderr.strip().splitlines()[-1:]}")


def compare(a: Path, b: Path) -> JSONObject:
    """Front, hypervolume, evaluation order and search state of two run folders, field by field."""
    pa, pb = (json.loads((d / "pareto.json").read_text()) for d in (a, b))
    ca, cb = (read_cache(d) for d in (a, b))  # cache.jsonl, or cache.json of revisions before issue 16
    sa, sb = (json.loads((d / "checkpoint.json").read_text()) for d in (a, b))
    return {"same_front": pa["front"] == pb["front"], "same_hypervolume": pa["hypervolume"] == pb["hypervolume"],
            "same_evaluation_order": list(ca) == list(cb), "same_random_state": sa["random_state"] == sb["random_state"],
            "same_population": sa["population"] == sb["population"], "hypervolume": [pa["hypervolume"], pb["hypervolume"]],
            "front_size": [len(pa["front"]), len(pb["front"])], "unique_evals": [pa["unique_evals"], pb["unique_evals"]],
            "front": [[m["arch"] for m in pa["front"]], [m["arch"] for m in pb["front"]]]}


def headline(result: JSONObject) -> JSONObject:
    """How many of the compared runs agree in every respect."""
    runs = result["raw"]["runs"]
    same = [r["name"] for r in runs if all(v for k, v in r.items() if k.startswith("same_"))]
    return {"runs_compared": len(runs), "runs_identical": len(same),
            "differing": [r["name"] for r in runs if r["name"] not in same]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, help="the git revision to compare against")
    ap.add_argument("--ckpt", help="a green-train checkpoint (default: a digits smoke supernet made here)")
    ap.add_argument("--table", help="a green-lut table of its space on this machine (default: made here)")
    ap.add_argument("--population", type=int, default=8)
    ap.add_argument("--generations", type=int, default=3)
    args = ap.parse_args()
    (ROOT / "outputs" / "bench").mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="same_front_", dir=ROOT / "outputs" / "bench"))
    base = work / "base"
    subprocess.run(["git", "worktree", "add", "--detach", "-f", str(base), args.base], cwd=ROOT, check=True,
                   capture_output=True)
    try:
        ckpt = Path(args.ckpt) if args.ckpt else quick_supernet(work)
        table = Path(args.table) if args.table else None
        if table is None:
            from hydra import compose, initialize_config_dir

            from search.hardware.lut import build_table
            with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
                cfg = compose("lut", overrides=[f"table={work / 'lut.json'}", "calib.subnets=4", "protocol.trials=3",
                                                f"paths.output_dir={work / 'lut'}", "threads=1"])
            table = build_table(cfg)
        common = [f"ckpt={ckpt.resolve()}", f"table={table.resolve()}", f"search.population={args.population}",
                  "progress=false", "threads=1"]
        runs = []
        for algo in ALGOS:
            opts = [*common, f"search.generations={args.generations}", f"search.algorithm={algo}"]
            run_search(base, work / f"base_{algo}", opts)
            run_search(ROOT, work / f"head_{algo}", opts)
            runs.append({"name": algo, **compare(work / f"base_{algo}", work / f"head_{algo}")})
            print(f"same_front {algo}: {runs[-1]}", flush=True)
        more = [*common, f"search.generations={args.generations + 2}"]
        run_search(ROOT, work / "base_nsga2", more)  # the base's folder, resumed by this checkout
        run_search(ROOT, work / "head_fresh", more)
        runs.append({"name": "nsga2 resumed from the base's run folder",
                     **compare(work / "base_nsga2", work / "head_fresh")})
        print(f"same_front resumed: {runs[-1]}", flush=True)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=ROOT, capture_output=True)
    raw = {"runs": runs}
    result = {**headline({"raw": raw}), "base": args.base, "ckpt": str(ckpt), "table": str(table),
              "inputs": {"ckpt": input_ref(ckpt), "table": input_ref(table)}, "raw": raw,
              "budget": {"population": args.population, "generations": args.generations}}
    path = save("same_front", result, config={"bench": vars(args)})
    print(f"same_front: {result['runs_identical']} of {result['runs_compared']} runs identical -> {path}")


if __name__ == "__main__":
    main()
