"""The report's section on the final models deployed to each target (``green-run targets=[torch,...]``): test
accuracy through each runtime, float and int8 side by side with the accuracy cost of quantisation per model, and
each target's latency and energy beside torch's, all from the run's one measurement session.

Nothing is re-measured here: the figures are ``measure/measure.json``'s (:mod:`search.deploy.served` for the
accuracies, :func:`search.hardware.measure.measure_models` for the costs). Int8 is not always faster on a CPU, so
the section prints both latencies and lets them say which is.
"""
from __future__ import annotations

from typing import Mapping

from search.evolution.plots import log_axis
from search.pipeline.charts import png
from search.pipeline.markdown import fmt as _fmt, table as _table


def quantisation_cost(s: dict) -> dict[str, dict[str, float]]:
    """``target -> {model: accuracy cost of quantisation in points}`` for every quantising target of the run."""
    return {t: {k: r["acc_drop_points"] for k, r in recs.items() if r.get("acc_drop_points") is not None}
            for t, recs in (s.get("deployed") or {}).items()}


def final_models(s: dict) -> dict[str, dict]:
    """The run's final models by ``<stage>/<name>``, the key the measurement session files them under."""
    return {f"{m['stage']}/{m['name']}": m for ms in s["models"].values() for m in ms}


def _points(s: dict, target: str) -> list[tuple[str, float, float, float | None, float | None]]:
    """Per final model served by ``target``: (name, torch latency at batch 1, torch test accuracy of the first seed,
    the target's latency at batch 1, its test accuracy through that runtime); None where a figure is missing."""
    models = final_models(s)
    costs = (s.get("target_figures") or {}).get(target, {})
    out = []
    for key, r in (s.get("deployed") or {}).get(target, {}).items():
        m, c = models.get(key, {}), costs.get(key, {})
        out.append((key.split("/", 1)[1], m.get("latency_ms"), (m.get("test_acc_per_seed") or [None])[0],
                    c.get("latency_ms_b1", c.get("latency_ms")), r.get("test_acc")))
    return out


def deployed_charts(s: dict) -> dict[str, bytes]:
    """One chart per deployment target other than torch (report key ``deployed_<target>``): each final model's test
    accuracy against its latency at batch 1 in torch (hollow grey) and through the target (green), joined by a line,
    so what deploying to the target does to both is read per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = {}
    for target in s.get("deployed") or {}:
        pts = [p for p in _points(s, target) if None not in p]
        if not pts:
            continue
        fig, ax = plt.subplots(figsize=(7.6, 4.6))
        for name, tx, ty, dx, dy in pts:
            ax.plot([tx, dx], [ty, dy], c="0.7", lw=0.8, zorder=1)
            ax.annotate(name, (dx, dy), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.scatter([p[1] for p in pts], [p[2] for p in pts], marker="o", facecolors="none", edgecolors="tab:gray",
                   label="torch (PyTorch eager)", zorder=2)
        ax.scatter([p[3] for p in pts], [p[4] for p in pts], marker="o", c="tab:green", label=target, zorder=3)
        log_axis(ax)
        ax.set_xlabel("measured latency (ms per batch of 1, log scale)")
        ax.set_ylabel("test accuracy (first seed, through the runtime)")
        ax.set_title(f"Final models deployed to {target}", fontsize=9)
        ax.grid(alpha=0.3)
        ax.margins(0.12)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
        out[f"deployed_{target}"] = png(fig)
    return out


def deployed_lines(s: dict, images: Mapping[str, str] | None = None) -> list[str]:
    """The markdown of the section (nothing for a run measured on torch alone); ``images`` maps the keys of
    :func:`deployed_charts` to the files the report wrote them to."""
    deployed, figures = s.get("deployed") or {}, s.get("target_figures") or {}
    if not deployed:
        return []
    models = final_models(s)
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
             "A deployed file takes the data's images and resizes them inside its graph for a subnet of another "
             "resolution, while the torch columns time each subnet at its own resolution (a resize of one image "
             "is microseconds beside a network's milliseconds). "
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
        chart = (images or {}).get(f"deployed_{target}")
        if chart:
            lines += [f"![Final models deployed to {target}]({chart})", ""]
        if drops:
            lines += [f"Accuracy cost of quantisation: at most **{max(drops):+.2f} points**, mean "
                      f"{sum(drops) / len(drops):+.2f} over {len(drops)} models (positive: int8 is less accurate).", ""]
        lines += [*_table(rows, head), ""]
    return lines
