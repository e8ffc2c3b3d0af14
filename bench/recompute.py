"""Recompute every headline figure of the committed results from their raw data; fail on a mismatch.

Each ``bench/results/<name>.json`` is written by ``bench/<name>.py`` (its ``benchmark`` field),
which exposes ``headline(result) -> dict``: the headline figures as a pure function of the raw
per-item data stored in the same JSON. This script calls it on every committed result and compares
each figure with the stored one (floats to a relative 1e-9), so a figure edited by hand, or raw
data that does not support its figure, fails here and in CI. A result without provenance
(``commit``, ``command``, ``config``) fails too. ``bench/results/archive/`` holds results written
before this protocol; they are kept for the record and not checked.

    python bench/recompute.py                       # every bench/results/*.json
    python bench/recompute.py bench/results/pipeline.json
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
PROVENANCE = ("commit", "command", "config")


def _headline_fn(name: str):
    path = HERE / f"{name}.py"
    if not path.is_file():
        raise LookupError(f"no script bench/{name}.py")
    sys.path.insert(0, str(HERE))
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses in a script look their module up there
    spec.loader.exec_module(mod)
    if not hasattr(mod, "headline"):
        raise LookupError(f"bench/{name}.py has no headline(result) function")
    return mod.headline


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


def check(path: Path) -> list[str]:
    """Problems with one result file (empty when every headline figure recomputes)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        return [f"cannot read it ({err})"]
    if not isinstance(data, dict) or "benchmark" not in data:
        return ["no 'benchmark' field naming the script that wrote it"]
    missing = [k for k in PROVENANCE if k not in data]
    if missing:
        return [f"no provenance ({', '.join(missing)} missing)"]
    try:
        fresh = _headline_fn(str(data["benchmark"]))(data)
    except LookupError as err:
        return [str(err)]
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as err:
        return [f"raw data cannot give the headline figures ({type(err).__name__}: {err})"]
    return mismatches(data, fresh)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="*", type=Path, help="result files (default: bench/results/*.json)")
    args = p.parse_args(argv)
    files = args.files or sorted(RESULTS.glob("*.json"))
    if not files:
        print("recompute: no result files found", file=sys.stderr)
        return 2
    bad = 0
    for f in files:
        problems = check(f)
        if problems:
            bad += 1
            print(f"recompute: {f}: {problems[0]}" + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""),
                  file=sys.stderr)
        else:
            print(f"recompute: {f.name}: every headline figure matches its raw data")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
