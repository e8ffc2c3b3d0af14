"""Recompute every headline figure of the committed results from their raw data; fail on a mismatch.

Each result ``bench/results/**/<name>.json`` is written by ``bench/<name>.py`` (its ``benchmark`` field),
which exposes ``headline(result) -> dict``: the headline figures as a pure function of the raw
per-item data stored in the same JSON. This script calls it on every committed result and compares
each figure with the stored one (floats to a relative 1e-9), so a figure edited by hand, or raw
data that does not support its figure, fails here and in CI. A result without provenance
(``commit``, ``command``, ``config``) fails too.

Every JSON file under ``bench/results/`` (subfolders included) is accounted for: a **result**
(recomputed), an **input** of one (a script's ``inputs(result, results_dir)`` names the committed files
its result was computed from, such as a ground-truth table's rows, and checks that they agree with the
result's raw data), or **archived** (``bench/results/archive/`` holds results written before this
protocol, or results whose inputs are gone or whose figures a later fix changed, each with a line in its
README saying why; kept for the record, not checked). A file that is none of the three fails, and the
counts printed add up to the number of JSON files there. A result holding an absolute path of the machine
that ran it fails too: paths are relative to the repository, inputs from elsewhere named by their sha256.

    python bench/recompute.py                       # everything under bench/results/
    python bench/recompute.py bench/results/pipeline.json
"""
from __future__ import annotations

import argparse
import importlib
import json
import math
import re
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file, `python bench/<name>.py`: see bench/__init__.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
PROVENANCE = ("commit", "command", "config")


def _headline_fn(name: str):
    mod = _module(name)
    if not hasattr(mod, "headline"):
        raise LookupError(f"bench/{name}.py has no headline(result) function")
    return mod.headline


def _module(name: str):
    """The script ``bench/<name>.py`` imported as the module ``bench.<name>`` (the name mutation testing gives it)."""
    if not (HERE / f"{name}.py").is_file():
        raise LookupError(f"no script bench/{name}.py")
    return importlib.import_module(f"bench.{name}")


def mismatches(stored: Any, fresh: Any, key: str = "") -> list[str]:
    """Paths where ``fresh`` (recomputed) differs from ``stored``."""
    if isinstance(fresh, dict):
        if not isinstance(stored, dict):
            return [f"{key}: stored {stored!r} is not a mapping"]
        out = []
        for k, v in fresh.items():
            out += mismatches(stored.get(k, "<missing>"), v, f"{key}.{k}" if key else str(k))
        return out
    if isinstance(fresh, (list, tuple)):
        if not isinstance(stored, (list, tuple)) or len(stored) != len(fresh):
            return [f"{key}: stored {stored!r} vs recomputed {fresh!r}"]
        return [m for i, (s, f) in enumerate(zip(stored, fresh)) for m in mismatches(s, f, f"{key}[{i}]")]
    if isinstance(fresh, float) and isinstance(stored, (int, float)) and not isinstance(stored, bool):
        if math.isnan(fresh) and math.isnan(stored):
            return []
        if math.isclose(fresh, stored, rel_tol=1e-9, abs_tol=1e-12):
            return []
    elif stored == fresh:
        return []
    return [f"{key}: stored {stored!r} vs recomputed {fresh!r}"]


ABSOLUTE = re.compile(r"(?:^|[\s=,:;(\[\"'])(/(?:[\w.+-]+/)*[\w.+-]+)")


def absolute_paths(obj: Any, key: str = "") -> list[str]:
    """Where ``obj`` holds an absolute path of some machine (a result stores paths relative to the repository,
    and names an input from elsewhere by its sha256)."""
    if isinstance(obj, dict):
        return [m for k, v in obj.items() for m in absolute_paths(v, f"{key}.{k}" if key else str(k))]
    if isinstance(obj, list):
        return [m for i, v in enumerate(obj) for m in absolute_paths(v, f"{key}[{i}]")]
    if isinstance(obj, str):
        return [f"{key}: absolute path {m.group(1)!r}" for m in ABSOLUTE.finditer(obj) if "/" in m.group(1)[1:]]
    return []


def check(path: Path) -> list[str]:
    """Problems with one result file (empty when every headline figure recomputes; a committed one, under
    ``bench/results/``, must also hold no absolute path)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        return [f"cannot read it ({err})"]
    if not isinstance(data, dict) or "benchmark" not in data:
        return ["no 'benchmark' field naming the script that wrote it"]
    missing = [k for k in PROVENANCE if k not in data]
    if missing:
        return [f"no provenance ({', '.join(missing)} missing)"]
    paths = absolute_paths(data) if path.resolve().is_relative_to(RESULTS.resolve()) else []
    if paths:
        return paths
    try:
        fn = _headline_fn(str(data["benchmark"]))
    except LookupError as err:  # no script, or a script without a headline
        return [str(err)]
    try:  # apart from the lookup: a KeyError or IndexError (LookupErrors) in the raw data is the data's fault
        fresh = fn(data)
    except (LookupError, TypeError, ValueError, ZeroDivisionError) as err:
        return [f"raw data cannot give the headline figures ({type(err).__name__}: {err})"]
    return mismatches(data, fresh)


def inputs_of(path: Path) -> tuple[list[Path], list[str]]:
    """The committed files the result ``path`` was computed from, and their disagreements with it."""
    data = json.loads(path.read_text())
    fn = getattr(_module(str(data["benchmark"])), "inputs", None)
    return fn(data, RESULTS) if fn else ([], [])


def is_archived(path: Path) -> bool:
    return "archive" in path.resolve().relative_to(RESULTS.resolve()).parts


def is_result(path: Path) -> bool:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return isinstance(data, dict) and "benchmark" in data


def _report(f: Path, problems: list[str]) -> int:
    name = f.resolve().relative_to(RESULTS.resolve()) if f.resolve().is_relative_to(RESULTS.resolve()) else f
    if problems:
        print(f"recompute: {name}: {problems[0]}" + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""),
              file=sys.stderr)
        return 1
    print(f"recompute: {name}: every headline figure matches its raw data")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="*", type=Path, help="result files (default: every JSON under bench/results/)")
    args = p.parse_args(argv)
    if args.files:
        return 1 if sum(_report(f, check(f)) for f in args.files) else 0
    every = sorted(RESULTS.rglob("*.json"))
    if not every:
        print("recompute: no result files found", file=sys.stderr)
        return 2
    archived = [f for f in every if is_archived(f)]
    results = [f for f in every if not is_archived(f) and is_result(f)]
    bad, read = 0, set()
    for f in results:
        problems = check(f)
        if not problems:
            used, problems = inputs_of(f)
            read |= {u.resolve() for u in used}
        bad += _report(f, problems)
    inputs = [f for f in every if f.resolve() in read and f not in results]
    for f in every:
        if f not in archived and f not in results and f not in inputs:
            bad += 1
            print(f"recompute: {f}: neither a result, an input a result was computed from, nor archived",
                  file=sys.stderr)
    print(f"recompute: {len(results)} results recomputed + {len(inputs)} files read as their inputs + "
          f"{len(archived)} archived (not checked) = {len(results) + len(inputs) + len(archived)} of "
          f"{len(every)} JSON files under bench/results/")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
