"""The figure sections (docs/benchmarks.md) on how the figures are checked: bad input, mutation testing of the
figure code, and the list of committed results."""
from __future__ import annotations

import json

from bench.sections.text import RESULTS, load_result, made_by, met


def bad_input() -> str:
    """The hostile-user list against the console scripts (``bad_input.json``)."""
    r = load_result("bad_input.json")
    n = r["passed"] + len(r["failed"])
    return (f"{made_by(r)}: **{r['passed']} of {n}** faults and bad inputs keep the promise (one line, exit status, "
            "nothing lost or half-written)" + (f"; failing: {', '.join(r['failed'])}." if r["failed"] else "."))


def mutation() -> str:
    """Mutants killed, surviving and equivalent in the figure code (``mutation.json``)."""
    if not (RESULTS / "mutation.json").is_file():
        return "No mutation run is committed yet."
    r = load_result("mutation.json")
    eq_modules: dict[str, int] = {}
    for e in r["equivalent"]:
        mod = e["mutant"].split(".x", 1)[0]
        eq_modules[mod] = eq_modules.get(mod, 0) + 1
    eq = (f"{len(r['equivalent'])} (" + ", ".join(f"{m} {n}" for m, n in sorted(eq_modules.items(), key=lambda x: -x[1]))
          + "), each with its one-line reason in the JSON and in `bench/mutation.py`") if r["equivalent"] else "none"
    pending = sum(v == "not checked" for v in r["raw"]["mutants"].values())
    by = ", ".join(f"{k} {v}" for k, v in r["by_status"].items())
    per_module: dict[str, int] = {}
    for s in r["survivors"]:
        mod = s.split(".x", 1)[0]
        per_module[mod] = per_module.get(mod, 0) + 1
    surv = ", ".join(f"{m} {n}" for m, n in sorted(per_module.items(), key=lambda x: -x[1])) or "none"
    rerun = (" (it ran again only the in-scope mutants the previous full run had not killed, after known-answer "
             "tests were added; the mutated code was unchanged)") if r["config"].get("rerun_survivors") else ""
    return (f"{made_by(r)}{rerun} with {r['tool']} {r['version']}: **{r['killed']} killed of {r['mutants_run']}** "
            f"mutants run (mutmut's statuses: {by}; an equivalent mutant is one mutmut calls survived) over "
            f"{len(r['modules'])} modules ({len(r['raw']['traced_functions'])} traced bench "
            f"functions; {r['not_run']} mutants outside the scope not run"
            + (f"; **{pending} in-scope mutants not yet run**: the run was stopped, so the figures are partial"
               if pending else "") + f"). Survivors by module (the list is in the JSON): {surv} (goal none: "
            f"{met(r['goal']['no_survivor'])}). Equivalent: {eq}.")


def results() -> str:
    """Every committed result, the script and commit that wrote it, and the archived ones apart."""
    rows = ["| result | written by | commit | written | quick |", "| --- | --- | --- | --- | --- |"]
    archived = []
    for f in sorted(RESULTS.rglob("*.json")):
        rel = f.relative_to(RESULTS)
        if rel.parts[0] == "archive":
            if len(rel.parts) > 2 and rel.parts[1] not in archived:
                archived.append(rel.parts[1])
            continue
        try:
            r = json.loads(f.read_text())
        except json.JSONDecodeError:
            continue
        if not isinstance(r, dict) or "benchmark" not in r:
            continue  # an input of a result (a table's rows)
        rows.append(f"| `{rel}` | `bench/{r['benchmark']}.py` | {r['commit'][:7]} | {r['written'][:10]} | "
                    f"{'yes' if r.get('quick') else 'no'} |")
    return "\n".join([*rows, "", "Archived (kept for the record, not evidence; each folder's reason is in "
                      "`bench/results/archive/README.md`): `archive/` itself and "
                      + ", ".join(f"`archive/{a}/`" for a in archived) + "."])
