"""The report's charts: accuracy against each cost, and what each architecture choice does.

Each function returns PNG bytes, so the report writes them atomically and embeds the same bytes in
its self-contained HTML.
"""
from __future__ import annotations

import csv
import io
import statistics
from collections import defaultdict
from pathlib import Path

from search.evolution.plots import log_axis
from search.pipeline.summary import front
from supernet.arch import ArchConfig
from core.jsontypes import JSONObject

STYLE = {"winner": ("o", "tab:green", "Green CNN winners"), "scratch": ("x", "tab:gray", "same archs from scratch"),
         "scratch-ft": ("+", "tab:brown", "same archs from scratch, fine-tune epochs"),
         "multi-trial": ("^", "tab:blue", "multi-trial route"),
         "one-shot-eq": ("v", "tab:olive", "one-shot route at the multi-trial candidate count")}


def choice_effects(history: Path) -> list[JSONObject]:
    """Per stage and choice value, the evaluated subnets' inherited accuracy and predicted energy: the plain mean
    over the subnets having it (``acc``, ``energy_mj``) and the effect adjusted for every other choice
    (``acc_adjusted``, ``energy_adjusted``).

    Depth is a per-stage choice; kernel size and expand ratio are per block, so each active block of a subnet
    counts once for its value in the plain means. The search does not draw choices independently (its front pulls
    deep stages and wide blocks together), so a plain mean mixes one choice's effect with the choices it came
    with. The adjusted effect is a partial dependence on one ridge regression over all choices at once (per stage:
    depth one-hot, share of active blocks per kernel size and per expand ratio): the mean prediction over the
    evaluated subnets with that stage's choice set to the value and everything else as evaluated.
    """
    import numpy as np
    from sklearn.linear_model import Ridge

    groups: dict[tuple, list[tuple[float, float]]] = defaultdict(list)
    feats: list[dict[tuple, float]] = []
    ys: list[tuple[float, float]] = []
    with history.open() as f:
        for r in csv.DictReader(f):
            a, acc, en = ArchConfig.parse(r["arch"]), float(r["acc"]), float(r["energy_mj"])
            x: dict[tuple, float] = {}
            for s, (ks, es) in enumerate(zip(a.kernel_sizes, a.exp_ratios)):
                groups[(s, "depth", len(ks))].append((acc, en))
                x[(s, "depth", len(ks))] = 1.0
                for k, e in zip(ks, es):
                    groups[(s, "kernel", k)].append((acc, en))
                    groups[(s, "expand", e)].append((acc, en))
                    x[(s, "kernel", k)] = x.get((s, "kernel", k), 0.0) + 1.0 / len(ks)
                    x[(s, "expand", e)] = x.get((s, "expand", e), 0.0) + 1.0 / len(ks)
            feats.append(x)
            ys.append((acc, en))
    keys = sorted(groups)
    adjusted: dict[tuple, tuple[float, float]] = {}
    if feats:
        X = np.array([[x.get(k, 0.0) for k in keys] for x in feats])
        Y = np.array(ys)
        mu_x, mu_y = X.mean(axis=0), Y.mean(axis=0)
        # the one-hots of a stage sum to 1 (collinear with the intercept): a small ridge picks one solution
        coef = Ridge(alpha=1e-3 * len(X)).fit(X, Y).coef_.T
        for i, (s, c, v) in enumerate(keys):
            same = [j for j, k in enumerate(keys) if k[:2] == (s, c)]  # that stage's choice, set to the value
            delta = -mu_x[same] @ coef[same] + coef[i]
            adjusted[(s, c, v)] = (float(mu_y[0] + delta[0]), float(mu_y[1] + delta[1]))
    return [{"stage": s, "choice": c, "value": v, "n": len(groups[(s, c, v)]),
             "acc": statistics.mean(x[0] for x in groups[(s, c, v)]),
             "energy_mj": statistics.mean(x[1] for x in groups[(s, c, v)]),
             "acc_adjusted": adjusted[(s, c, v)][0], "energy_adjusted": adjusted[(s, c, v)][1]}
            for (s, c, v) in keys]


def png(fig) -> bytes:
    """The figure as PNG bytes (tight bounding box), closed afterwards."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def labels(s: dict) -> dict[tuple[str, str], str]:
    """A short label for every model of the report, keyed by (kind, name): W1.. winners, T1.. their twins
    from scratch, M1.. multi-trial models, and the baselines' own names (the model table repeats them)."""
    prefix = {"winner": "W", "scratch": "T", "scratch-ft": "F", "multi-trial": "M", "one-shot-eq": "E"}
    out, count = {}, defaultdict(int)
    for ms in s["models"].values():
        for m in ms:
            if m["kind"] in prefix:
                count[m["kind"]] += 1
                out[(m["kind"], m["name"])] = f"{prefix[m['kind']]}{count[m['kind']]}"
            else:
                out[(m["kind"], m["name"])] = m["name"]
    return out


def labels_inside(fig) -> bool:
    """Whether every text label of the figure's axes lies inside its axes (the report's promise)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)  # a closed figure keeps no drawing canvas: give it one
    canvas.draw()
    renderer = canvas.get_renderer()
    for ax in fig.axes:
        box = ax.get_window_extent(renderer)
        for t in ax.texts:
            b = t.get_window_extent(renderer)
            if b.x0 < box.x0 - 1 or b.x1 > box.x1 + 1 or b.y0 < box.y0 - 1 or b.y1 > box.y1 + 1:
                return False
    return True


def chart(s: dict, cost: str, label: str, fig_out: list | None = None) -> bytes:
    """Accuracy (mean over seeds, bars: std) vs ``cost``: winners (front joined), twins, multi-trial, baselines;
    every point labelled (:func:`labels`, placed by adjustText inside the frame), the legend beside the axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from adjustText import adjust_text

    names = labels(s)
    fig, ax = plt.subplots(figsize=(7.6, 4.6))
    texts, xs, ys = [], [], []

    def tag(m: dict, kind: str) -> None:
        texts.append(ax.text(m[cost], m["test_acc"], names[(kind, m["name"])], fontsize=7))
        xs.append(m[cost])
        ys.append(m["test_acc"])

    for kind, (marker, colour, name) in STYLE.items():
        ms = [m for ms in s["models"].values() for m in ms if m["kind"] == kind]
        if not ms:
            continue
        ax.errorbar([m[cost] for m in ms], [m["test_acc"] for m in ms], yerr=[m["test_acc_std"] for m in ms],
                    fmt=marker, c=colour, label=name, zorder=3, capsize=2)
        if kind in ("winner", "multi-trial"):
            f = front(ms, cost)
            ax.plot([m[cost] for m in f], [m["test_acc"] for m in f], c=colour, lw=1, zorder=2)
        for m in ms:
            tag(m, kind)
    dom = set(s["dominated"]["beyond_noise"].get(cost, []))
    for b in s["baselines"]:
        ax.errorbar(b[cost], b["test_acc"], yerr=b["test_acc_std"], fmt="s", capsize=2, zorder=3,
                    c="tab:orange" if b["name"] in dom else "tab:red")
        tag(b, b["kind"])
    if any(b["name"] not in dom for b in s["baselines"]):
        ax.errorbar([], [], fmt="s", c="tab:red", label="baselines (not dominated)" if dom else "baselines")
    if dom:
        ax.errorbar([], [], fmt="s", c="tab:orange", label="baselines dominated beyond noise")
    if cost in ("params", "total_train_kwh"):
        log_axis(ax)
    ax.set_xlabel(label)
    ax.set_ylabel(f"test accuracy (mean of {s['seeds']} seed{'s' if s['seeds'] > 1 else ''})")
    ax.grid(alpha=0.3)
    ax.margins(0.12)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    if texts:
        adjust_text(texts, x=xs, y=ys, ax=ax, ensure_inside_axes=True, expand_axes=False, time_lim=2,
                    arrowprops={"arrowstyle": "-", "color": "0.5", "lw": 0.5})
    if fig_out is not None:
        fig_out.append(fig)
    return png(fig)


def breakeven_chart(b: dict, source: str) -> bytes:
    """Cumulative energy of both routes against evaluated candidates and, where known, against deployed models,
    with the break-even counts marked (``b``: :meth:`search.pipeline.breakeven.BreakEven.to_json` + ``curves``;
    ``source``: where the energies come from, on every axis)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = b["curves"]
    n_star, k_star = b["breakeven_candidates"], b["breakeven_deployments"]
    panels = [("candidates", "evaluated candidates", ("one_shot_kwh", "one-shot (supernet + scoring)"),
               ("multi_trial_kwh", "multi-trial (a short training each)"),
               None if n_star is None else (n_star, f"break-even N* = {n_star:.0f}"))]
    if "deployments" in c:
        panels.append(("deployments", "deployed models", ("via_supernet_kwh", "supernet + a fine-tune each"),
                       ("from_scratch_kwh", "each trained from scratch"),
                       None if k_star is None else (k_star, f"paid back at K* = {k_star:.1f}")))
    fig, axes = plt.subplots(1, len(panels), figsize=(10 if len(panels) == 2 else 5.5, 3.8), squeeze=False)
    for ax, (x, xlabel, first, second, cross) in zip(axes[0], panels):
        for key, label in (first, second):
            ax.plot(c[x], c[key], label=label)
        if x == "candidates":
            ax.axvline(b["candidates"], color="grey", ls=":", lw=1, label=f"this search: {b['candidates']}")
        if cross is not None:
            ax.axvline(cross[0], color="black", ls="--", lw=1, label=cross[1])
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"cumulative energy (kWh, {source})")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return png(fig)


def effects_chart(effects: list[dict]) -> bytes:
    """Inherited accuracy and predicted energy per choice value, adjusted for the other choices
    (:func:`choice_effects`), one line per stage; ticks at the choices."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(10, 5.5))
    stages = sorted({e["stage"] for e in effects})
    for j, choice in enumerate(("depth", "kernel", "expand")):
        values = sorted({e["value"] for e in effects if e["choice"] == choice})
        for s in stages:
            es = [e for e in effects if e["stage"] == s and e["choice"] == choice]
            if len(es) < 2:
                continue
            xs = [e["value"] for e in es]
            line = axes[0, j].plot(xs, [e.get("acc_adjusted", e["acc"]) for e in es], marker="o",
                                   label=f"stage {s}")[0]
            axes[1, j].plot(xs, [e.get("energy_adjusted", e["energy_mj"]) for e in es], marker="o",
                            c=line.get_color(), label=f"stage {s}")
        for row in (0, 1):
            axes[row, j].set_xticks(values)  # the discrete choices, never 1.25 or 2.5
        axes[0, j].set_title({"depth": "depth (blocks per stage)", "kernel": "kernel size",
                              "expand": "expand ratio"}[choice])
        axes[1, j].set_xlabel({"depth": "blocks", "kernel": "kernel size (pixels)", "expand": "expand ratio"}[choice])
    axes[0, 0].set_ylabel("inherited val accuracy\n(adjusted for the other choices)")
    axes[1, 0].set_ylabel("predicted energy, mJ per image\n(batch 1, adjusted)")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return png(fig)


EFFECT_KEYS = ("stage", "choice", "value", "n", "acc", "acc_adjusted", "energy_mj", "energy_adjusted")
EFFECT_HEAD = ("stage", "choice", "value", "n", "mean acc", "adjusted acc", "mean energy mJ (b1)", "adjusted (b1)")


def effects_lines(effects: list[dict], image: str | None) -> list[str]:
    """The report's section on what each architecture choice does (none without a search history)."""
    from search.pipeline.markdown import table

    if not effects:
        return []
    return ["## What each architecture choice does", "", f"![choice effects]({image})", "",
            "Read from the search history (inherited accuracy, predicted energy at batch 1). The search does not "
            "draw choices independently, so the plain mean over the subnets having a choice mixes in the choices it "
            "came with; the chart and the *adjusted* columns hold every other choice as evaluated (partial "
            "dependence on one ridge regression over all choices).", "",
            *table([[e[k] for k in EFFECT_KEYS] for e in effects], EFFECT_HEAD), ""]
