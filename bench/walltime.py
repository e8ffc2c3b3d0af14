"""Wall time of the README's two everyday commands, before and after a change: the quickstart and the tests.

For each ``--refs`` commit, a detached git worktree of it runs

- **quickstart**: ``green-run`` with no arguments (digits, tiny budgets), as ``python -m search.commands.run``
  from the worktree (so its own code and configs run, not the installed ones), into a fresh folder;
- **tests**: the README's test command, ``python -m pytest`` (the fast set its ``addopts`` select).

Each item records its wall seconds, exit status, pytest's closing line, and the machine's load average
before and after (``os.getloadavg``: the 1-minute figure says whether something else ran). Items are
resumable: each finished one lands in ``--run`` as ``<ref>_<item>.json`` and is not run again, so the
"before" items can run first and the "after" ones once the change is committed. The result holds every
item's raw record; its headline is the after/before ratio of each item.

    python bench/walltime.py --refs 9c2856f HEAD --run outputs/bench/walltime
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file, `python bench/<name>.py`: see bench/__init__.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.common import ROOT, save  # noqa: E402
from core.io import write_json  # noqa: E402
from core.jsontypes import JSONObject

ITEMS = ("quickstart", "tests")


def headline(result: JSONObject) -> JSONObject:
    """After/before wall-time ratio of each item, from the raw item records only."""
    raw = result["raw"]
    before, after = result["refs"]
    out: dict[str, Any] = {}
    for item in ITEMS:
        b, a = raw[f"{before}_{item}"], raw[f"{after}_{item}"]
        out[item] = {"before_s": b["wall_s"], "after_s": a["wall_s"], "ratio": a["wall_s"] / b["wall_s"],
                     "before_ok": b["returncode"] == 0, "after_ok": a["returncode"] == 0,
                     "load_1min_before_run": [b["load_before"][0], a["load_before"][0]]}
    return {"walltimes": out}


def _resolve(ref: str) -> str:
    return subprocess.run(["git", "rev-parse", "--short=7", ref], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.strip()


def run_item(ref: str, item: str, work: Path) -> JSONObject:
    """Run ``item`` on a worktree of ``ref``; its raw record."""
    tree = work / f"tree_{ref}"
    if not tree.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), ref], cwd=ROOT, check=True,
                       capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONUNBUFFERED": "1"}
    if item == "quickstart":
        out = work / f"run_{ref}"
        shutil.rmtree(out, ignore_errors=True)
        cmd = [sys.executable, "-m", "search.commands.run", f"hydra.run.dir={out}"]
    else:
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    load_before = list(os.getloadavg())
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
    summary = next((line for line in reversed(tail) if re.search(r"\d+ (passed|failed)", line)), None)
    return {"ref": ref, "item": item, "command": " ".join(cmd[1:]), "wall_s": wall, "returncode": proc.returncode,
            "summary": summary, "tail": tail, "load_before": load_before, "load_after": list(os.getloadavg()),
            "cpus": len(os.sched_getaffinity(0)), "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--refs", nargs="+", required=True, help="commits to time: before [after]")
    p.add_argument("--run", type=Path, default=ROOT / "outputs" / "bench" / "walltime")
    p.add_argument("--out", type=Path, default=None, help="folder of the result (default outputs/bench)")
    args = p.parse_args()
    if len(args.refs) > 2:
        sys.exit("walltime: --refs takes a before and an after commit")
    refs = [_resolve(r) for r in args.refs]
    args.run.mkdir(parents=True, exist_ok=True)
    for ref in refs:
        for item in ITEMS:
            f = args.run / f"{ref}_{item}.json"
            if f.exists():
                continue
            print(f"walltime: {item} at {ref} ...", flush=True)
            rec = run_item(ref, item, args.run)
            write_json(f, rec)
            print(f"walltime: {item} at {ref}: {rec['wall_s']:.0f} s, exit {rec['returncode']}, "
                  f"load {rec['load_before'][0]:.2f} -> {rec['load_after'][0]:.2f}", flush=True)
    for ref in refs:
        tree = args.run / f"tree_{ref}"
        if tree.exists():
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)
    if len(refs) < 2:
        print("walltime: items recorded; pass a before and an after ref to write the result")
        return
    # paths of this machine (run folders, a warning's file) are stored relative to the repository
    raw = {f"{r}_{i}": json.loads((args.run / f"{r}_{i}.json").read_text().replace(f"{ROOT}/", ""))
           for r in refs for i in ITEMS}
    result = {"refs": refs, "raw": raw,
              "protocol": "one run of each item per commit, before then after (not interleaved: a test suite "
                          "takes a quarter of an hour); the 1-minute load average before each run is recorded"}
    result.update(headline(result))
    path = save("walltime", result, args.out)
    print(f"walltime: {path}")
    for item, h in result["walltimes"].items():
        print(f"  {item}: {h['before_s']:.0f} s -> {h['after_s']:.0f} s (x{h['ratio']:.2f})")


if __name__ == "__main__":
    main()
