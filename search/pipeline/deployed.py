"""The report's section on the final models deployed to each target (``green-run targets=[torch,...]``): test
accuracy through each runtime, float and int8 side by side with the accuracy cost of quantisation per model, and
each target's latency and energy beside torch's, all from the run's one measurement session.

Nothing is re-measured here: the figures are ``measure/measure.json``'s (:mod:`search.deploy.served` for the
accuracies, :func:`search.hardware.measure.measure_models` for the costs). Int8 is not always faster on a CPU, so
the section prints both latencies and lets them say which is.
"""
from __future__ import annotations

from typing import Any, Sequence


def _fmt(v: Any, spec: str = ".4g") -> str:
    return "n/a" if v is None else format(v, spec) if isinstance(v, float) else str(v)


def _table(rows: Sequence[Sequence[Any]], head: Sequence[str]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head),
            *("| " + " | ".join(_fmt(v) for v in r) + " |" for r in rows)]


def quantisation_cost(s: dict) -> dict[str, dict[str, float]]:
    """``target -> {model: accuracy cost of quantisation in points}`` for every quantising target of the run."""
    return {t: {k: r["acc_drop_points"] for k, r in recs.items() if r.get("acc_drop_points") is not None}
            for t, recs in (s.get("deployed") or {}).items()}


def deployed_lines(s: dict) -> list[str]:
    """The markdown of the section (nothing for a run measured on torch alone)."""
    deployed, figures = s.get("deployed") or {}, s.get("target_figures") or {}
    if not deployed:
        return []
    models = {f"{m['stage']}/{m['name']}": m for ms in s["models"].values() for m in ms}
    session = s.get("session") or {}
    serving = (session.get("batch_sizes") or ["serving"])[-1]
    power = session.get("power") or {}
    energy_note = ("Energies come from each model's own power (a hardware counter, idle subtracted)."
                   if power.get("per_model") else
                   f"No energy counter here: every energy is the measured latency times one power figure "
                   f"({_fmt(power.get('watts'), '.3g')} W, {power.get('source', 'unknown')}), the same for every "
                   "target: an estimate proportional to time, not a measurement.")
    lines = ["## Deployed to each target", "",
             "Each final model (its first seed) served by each deployment target and timed in the same round-robin "
             "session as torch; its test accuracy is measured through that runtime (an int8 model's own logits). "
             "For a quantising target the float column is the same network in the same runtime without "
             "quantisation, on the same test images, so the accuracy cost of quantisation (float minus int8, "
             "points) is a measured difference. Int8 is not always faster on a CPU: compare the latency columns. "
             + energy_note, ""]
    for target, recs in deployed.items():
        costs = figures.get(target, {})
        drops = [r["acc_drop_points"] for r in recs.values() if r.get("acc_drop_points") is not None]
        float_name = next((r["float_target"] for r in recs.values() if r.get("float_target")), None)
        head = ["model", "kind", "torch test acc (first seed)"]
        head += [f"{float_name} test acc", f"{target} test acc", "accuracy cost of quantisation (points)"] \
            if float_name else [f"{target} test acc"]
        head += ["latency ms b1 (torch)", f"latency ms b1 ({target})", f"latency ms b{serving} (torch)",
                 f"latency ms b{serving} ({target})", f"energy mJ/image ({target})", "energy source"]
        rows = []
        for key, r in recs.items():
            m, c = models.get(key, {}), costs.get(key, {})
            row = [key.split("/", 1)[1], m.get("kind", key.split("/", 1)[0]),
                   (m.get("test_acc_per_seed") or [None])[0]]
            row += [r["float_test_acc"], r["test_acc"], r["acc_drop_points"]] if float_name else [r["test_acc"]]
            row += [m.get("latency_ms"), c.get("latency_ms"), m.get("latency_serving_ms"),
                    c.get(f"latency_ms_b{serving}"), c.get("energy_mj_per_image"), c.get("energy_source")]
            rows.append(row)
        lines += [f"### {target}", ""]
        if drops:
            lines += [f"Accuracy cost of quantisation: at most **{max(drops):+.2f} points**, mean "
                      f"{sum(drops) / len(drops):+.2f} over {len(drops)} models (positive: int8 is less accurate).", ""]
        lines += [*_table(rows, head), ""]
    return lines
