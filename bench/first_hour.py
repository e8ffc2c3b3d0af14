"""A newcomer's first hour, timed: install, the quickstart idle and beside two busy processes, the fast tests.

From a fresh ``git clone`` of the repository at ``--ref`` (default HEAD), as the README's Quickstart says:

- **install**: ``pip install -e .`` into a new virtual environment (pip's cache warm: the wheels were
  downloaded before, so this times unpacking and installing, not the network);
- **quickstart**: ``green-run`` with no arguments in the clone, into a fresh folder; and **quickstart_loaded**:
  the same beside two busy-looping processes (other work holding both cores of a 2-core machine), to check
  that a loaded run stays within 3x of an idle one; the two alternate (idle, loaded, idle, loaded, ...);
- **help**: ``green-run --help`` (imports and config composition: what every bad-input message costs too);
- **tests**: ``pip install -e ".[test]" && pytest`` (the fast set its ``addopts`` select).

Each item records its wall seconds, exit status, the closing line, and the machine's load around it (1-minute
load average before and after, and other processes' CPU use over it, :mod:`core.load`, the busy loops of the
loaded runs included as *other* processes). Items are resumable: each finished one lands in ``--run`` as
``<ref>_<item>_<i>.json``. The headline: each item's median seconds (every value listed), the loaded/idle
ratio, and the goals (``goals``: quickstart <= 120 s idle, loaded within 3x, fast tests <= 300 s, ``--help``
<= 3 s).

    python bench/first_hour.py --run outputs/bench/first_hour --out bench/results
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file, `python bench/<name>.py`: see bench/__init__.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.common import ROOT, save  # noqa: E402
from core.io import write_json  # noqa: E402
from core.jsontypes import JSONObject  # noqa: E402
from core.load import Load, snapshot  # noqa: E402

LOADED_LIMIT = 3.0   # a loaded quickstart within 3x of the idle one
GOALS_S = {"quickstart": 120.0, "tests": 300.0, "help": 3.0}  # idle medians a newcomer is promised
README_TOLERANCE = 0.25
BUSY = "while True: pass"


def headline(result: JSONObject) -> JSONObject:
    """Median seconds of every item over its repeats, the loaded/idle ratio, from the raw records only."""
    raw = result["raw"]
    out: JSONObject = {}
    for item in ("install", "help", "quickstart", "quickstart_loaded", "tests"):
        recs = [r for r in raw.values() if r["item"] == item]
        out[f"{item}_s"] = statistics.median(r["wall_s"] for r in recs) if recs else None
        out[f"{item}_values_s"] = [round(r["wall_s"], 1) for r in sorted(recs, key=lambda r: r["repeat"])]
        out[f"{item}_ok"] = all(r["returncode"] == 0 for r in recs)
    idle, loaded = out["quickstart_s"], out["quickstart_loaded_s"]
    out["loaded_over_idle"] = loaded / idle if idle and loaded else None
    out["loaded_within_3x"] = out["loaded_over_idle"] is not None and out["loaded_over_idle"] <= LOADED_LIMIT
    out["tests_passed"] = next((int(m.group(1)) for r in raw.values() if r["item"] == "tests"
                                for m in [re.search(r"(\d+) passed", r.get("summary") or "")] if m), None)
    out["goals"] = {**{f"{item}_within_{limit:g}s": out[f"{item}_s"] is not None and out[f"{item}_ok"]
                       and out[f"{item}_s"] <= limit for item, limit in GOALS_S.items()},
                    "loaded_within_3x": out["loaded_within_3x"]}
    return out


def busy_loops(n: int) -> list[int]:
    """Start ``n`` busy-looping processes that are not this process's descendants (so core.load counts them as
    other processes); returns their pids."""
    pids = []
    for _ in range(n):
        sh = subprocess.run(["sh", "-c", f"{sys.executable} -c '{BUSY}' >/dev/null 2>&1 & echo $!"],
                            capture_output=True, text=True, check=True)
        pids.append(int(sh.stdout.strip()))
    return pids


def stop(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, 15)
        except ProcessLookupError:
            pass


def timed(cmd: list[str] | str, cwd: Path, env: dict[str, str]) -> JSONObject:
    """Run ``cmd`` and record its wall time, exit status, closing lines and the load around it."""
    before, t = snapshot(), time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, shell=isinstance(cmd, str))
    wall = time.perf_counter() - t
    load = Load.between(before, snapshot(), threads=os.cpu_count() or 1)
    out = proc.stdout.strip().splitlines()
    tail = out[-3:] + proc.stderr.strip().splitlines()[-2:]  # the command's closing lines, then its last errors
    summary = next((ln for ln in reversed(out) if re.search(r"\d+ (passed|failed|errors?)\b", ln)), None)
    failed = [ln for ln in out if ln.startswith(("FAILED ", "ERROR "))]
    return {"command": cmd if isinstance(cmd, str) else " ".join(cmd), "wall_s": wall, "returncode": proc.returncode,
            "summary": summary, "failed": failed, "tail": tail, "load": load.to_json(),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def run_item(item: str, repeat: int, clone: Path, venv: Path) -> JSONObject:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update({"PATH": f"{venv / 'bin'}:{env.get('PATH', '')}", "PYTHONUNBUFFERED": "1"})
    pids: list[int] = []
    if item == "install":
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        rec = timed(f"{venv / 'bin' / 'pip'} install -q -e .", clone, env)
    elif item in ("quickstart", "quickstart_loaded"):
        out = clone / "outputs" / "run" / f"{item}_{repeat}"
        shutil.rmtree(out, ignore_errors=True)
        if item == "quickstart_loaded":
            pids = busy_loops(2)
            time.sleep(2)
        try:
            rec = timed([str(venv / "bin" / "green-run"), f"hydra.run.dir={out}"], clone, env)
        finally:
            stop(pids)
        rec["busy_loops"] = len(pids)
    elif item == "help":
        rec = timed([str(venv / "bin" / "green-run"), "--help"], clone, env)
    else:
        rec = timed(f"{venv / 'bin' / 'pip'} install -q -e '.[test]' && {venv / 'bin' / 'python'} -m pytest -q "
                    "-p no:cacheprovider", clone, env)
    return {"item": item, "repeat": repeat, **rec}


def plan(repeats: int) -> list[tuple[str, int]]:
    """install first, then ``--help`` (its first call warms the bytecode cache like a newcomer's), then idle and
    loaded quickstarts alternating, then the tests."""
    order = [("install", 0), *(("help", i) for i in range(repeats + 1))]
    for i in range(repeats):
        order += [("quickstart", i), ("quickstart_loaded", i)]
    return order + [("tests", 0)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ref", default="HEAD", help="the commit a newcomer clones")
    p.add_argument("--repeats", type=int, default=2, help="idle and loaded quickstarts, alternating")
    p.add_argument("--run", type=Path, default=ROOT / "outputs" / "bench" / "first_hour")
    p.add_argument("--out", type=Path, default=None, help="folder of the result (default outputs/bench)")
    args = p.parse_args()
    if args.repeats < 1:
        sys.exit("first_hour: --repeats must be >= 1")
    try:
        ref = subprocess.run(["git", "rev-parse", "--short=7", args.ref], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.strip()
    except subprocess.CalledProcessError:
        sys.exit(f"first_hour: unknown commit {args.ref!r}")
    args.run = args.run.resolve()  # the items run in the clone: every path absolute
    args.run.mkdir(parents=True, exist_ok=True)
    clone, venv = args.run / f"clone_{ref}", args.run / f"venv_{ref}"
    if not clone.exists():
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        subprocess.run(["git", "checkout", "-q", ref], cwd=clone, check=True)
    for item, i in plan(args.repeats):
        f = args.run / f"{ref}_{item}_{i}.json"
        if f.exists():
            continue
        print(f"first_hour: {item} #{i} at {ref} ...", flush=True)
        rec = run_item(item, i, clone, venv)
        if item == "install" and rec["returncode"] != 0:  # nothing else can run: say why, keep no record
            sys.exit(f"first_hour: the install failed (exit {rec['returncode']}): {' | '.join(rec['tail'])}")
        write_json(f, rec)
        print(f"first_hour: {item} #{i}: {rec['wall_s']:.0f} s, exit {rec['returncode']}, "
              f"{Load.from_json(rec['load']).brief()}", flush=True)
    raw = {f"{item}_{i}": json.loads((args.run / f"{ref}_{item}_{i}.json").read_text()
                                     .replace(f"{clone}/", "").replace(f"{venv}/", "venv/"))
           for item, i in plan(args.repeats)}
    result = {"ref": ref, "repeats": args.repeats, "raw": raw,
              "protocol": "a fresh clone, a new virtual environment (pip's cache warm), the README's commands; "
                          "idle and loaded (two busy loops) quickstarts alternate; load recorded around each item"}
    result.update(headline(result))
    path = save("first_hour", result, args.out)
    h = result
    print(f"first_hour: {path}\n  install {h['install_s']:.0f} s, quickstart {h['quickstart_s']:.0f} s idle "
          f"({h['quickstart_values_s']}), {h['quickstart_loaded_s']:.0f} s loaded (x{h['loaded_over_idle']:.2f}), "
          f"tests {h['tests_s']:.0f} s, --help {h['help_s']:.1f} s; goals {h['goals']}")


if __name__ == "__main__":
    main()
