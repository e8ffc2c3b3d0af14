"""How busy the machine was while a run's stages ran: the report's one statement of it, and the marks.

Each stage's :class:`core.load.Load` is in ``run.json``. A stage during which other processes used more than
the cores the run left free is *under load*: its times are longer, and every energy estimated from them larger,
than the same work on a quiet machine (the same recipe measured 4.4x apart in kWh). The report says once how
busy the machine was and marks (``MARK``) every figure such a stage produced.
"""
from __future__ import annotations

import math
from typing import Mapping

from core.jsontypes import JSONObject
from core.load import Load

MARK = "†"


def stage_loads(stages: Mapping[str, Mapping[str, object]]) -> dict[str, Load]:
    """The stages of ``run.json`` that recorded their load, in the order they finished."""
    timed = sorted((rec.get("finished", 0), name, rec["load"]) for name, rec in stages.items() if rec.get("load"))
    return {name: Load.from_json(load) for _, name, load in timed}


def load_summary(stages: Mapping[str, Mapping[str, object]]) -> JSONObject | None:
    """The report's record: every stage's load and the stages under load (None: the run recorded none)."""
    loads = stage_loads(stages)
    if not loads:
        return None
    return {"stages": {n: load.to_json() for n, load in loads.items()}, "busy": [n for n, v in loads.items() if v.busy]}


def busy_stages(s: Mapping[str, object]) -> set[str]:
    """The stages of the summary ``s`` that ran under load."""
    return set((s.get("load") or {}).get("busy", []))


def mark(text: str, stage: str, busy: set[str]) -> str:
    """``text`` with the under-load mark when ``stage`` ran under load."""
    return f"{text} {MARK}" if stage in busy else text


def load_lines(summary: Mapping[str, object] | None) -> list[str]:
    """The report's statement: load average before the first stage and after the last, other processes' CPU use,
    and which stages ran under load (their figures carry ``MARK``)."""
    if not summary:
        return ["Machine load: not recorded (a run from before load was recorded).", ""]
    loads = {n: Load.from_json(r) for n, r in summary["stages"].items()}
    first, last = next(iter(loads.values())), list(loads.values())[-1]
    others = [v.others_cores for v in loads.values() if not math.isnan(v.others_cores)]
    used = (f"other processes used {min(others):.1f} to {max(others):.1f} of the {first.cpus} CPUs while the stages "
            "ran" if others else "other processes' CPU use could not be read")
    busy = summary["busy"]
    verdict = (f"**Under load** (other processes used more than the cores the run left free, so their times, and "
               f"the energies estimated from them, are inflated): {', '.join(busy)}; their figures are marked {MARK} "
               "below." if busy else "No stage ran under load.")
    return [f"Machine load: 1-minute load average {first.load_before:.1f} before the first stage and "
            f"{last.load_after:.1f} after the last; the run may use {first.cores} cores and trained on "
            f"{first.threads} thread(s); {used}. {verdict}", ""]
