"""What the figure sections share: reading a committed result and writing its figures as text."""
from __future__ import annotations

import json
from pathlib import Path

from core.jsontypes import JSONObject

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"


def load_result(name: str) -> JSONObject:
    return json.loads((RESULTS / name).read_text())


def variant_label(v: str) -> str:
    fmt, dtype, threads = v.split("-")
    return f"{'NCHW' if fmt == 'contiguous' else fmt} {dtype}, {'all cores' if threads == 'T' else '1 thread'}"


def pct(x: float | None, signed: bool = False) -> str:
    return "n/a" if x is None else (f"{x:+.1%}" if signed else f"{x:.1%}")


def interval_text(ci: list[float] | None, fmt: str = ".3f", values: list[float] | None = None) -> str:
    """An interval, or (below 5 values) the values themselves: no interval from fewer."""
    if ci is None or any(x is None or x != x for x in ci):
        return "no interval (fewer than 5 values" + (": " + ", ".join(format(v, fmt) for v in values) if values
                                                     else "") + ")"
    return f"[{ci[0]:{fmt}}, {ci[1]:{fmt}}]"


def met(flag: bool | None) -> str:
    return "n/a" if flag is None else ("met" if flag else "**not met**")


def made_by(r: JSONObject) -> str:
    """How a result was made: its command (paths relative to the repository) and commit."""
    return f"`{r['command']}` at {r['commit'][:7]}" + (" (**quick run**: reduced budget, not judged)"
                                                        if r.get("quick") else "")
