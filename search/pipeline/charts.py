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
from typing import Any

from search.pipeline.summary import front
from supernet.arch import ArchConfig

STYLE = {"winner": ("o", "tab:green", "Green CNN winners"), "scratch": ("x", "tab:gray", "same archs from scratch"),
         "multi-trial": ("^", "tab:blue", "multi-trial route")}


def choice_effects(history: Path) -> list[dict[str, Any]]:
    """Mean inherited accuracy and predicted energy of the evaluated subnets, per stage and choice.

    Depth is a per-stage choice; kernel size and expand ratio are per block, so each active block
    of a subnet counts once for its value (a marginal effect, read from the search history).
    """
    groups: dict[tuple, list[tuple[float, float]]] = defaultdict(list)
    with history.open() as f:
        for r in csv.DictReader(f):
            a, acc, en = ArchConfig.parse(r["arch"]), float(r["acc"]), float(r["energy_mj"])
            for s, (ks, es) in enumerate(zip(a.kernel_sizes, a.exp_ratios)):
                groups[(s, "depth", len(ks))].append((acc, en))
                for k, e in zip(ks, es):
                    groups[(s, "kernel", k)].append((acc, en))
                    groups[(s, "expand", e)].append((acc, en))
    return [{"stage": s, "choice": c, "value": v, "n": len(xs), "acc": statistics.mean(x[0] for x in xs),
             "energy_mj": statistics.mean(x[1] for x in xs)} for (s, c, v), xs in sorted(groups.items())]


# figures --------------------------------------------------------------------------------------------
def png(fig) -> bytes:
    """The figure as PNG bytes (tight bounding box), closed afterwards."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def chart(s: dict, cost: str, label: str) -> bytes:
    """Accuracy (mean over seeds, bars: std) vs ``cost``: winners (front joined), twins, multi-trial, baselines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for kind, (marker, colour, name) in STYLE.items():
        ms = [m for ms in s["models"].values() for m in ms if m["kind"] == kind]
        if not ms:
            continue
        ax.errorbar([m[cost] for m in ms], [m["test_acc"] for m in ms], yerr=[m["test_acc_std"] for m in ms],
                    fmt=marker, c=colour, label=name, zorder=3, capsize=2)
        if kind in ("winner", "multi-trial"):
            f = front(ms, cost)
            ax.plot([m[cost] for m in f], [m["test_acc"] for m in f], c=colour, lw=1, zorder=2)
    dom = set(s["dominated"]["beyond_noise"].get(cost, []))
    for b in s["baselines"]:
        ax.errorbar(b[cost], b["test_acc"], yerr=b["test_acc_std"], fmt="s", capsize=2, zorder=3,
                    c="tab:orange" if b["name"] in dom else "tab:red")
        ax.annotate(b["name"], (b[cost], b["test_acc"]), fontsize=7, xytext=(4, 3), textcoords="offset points")
    if s["baselines"]:
        ax.errorbar([], [], fmt="s", c="tab:red", label="baselines")
        if dom:
            ax.errorbar([], [], fmt="s", c="tab:orange", label="baselines dominated beyond noise")
    if cost in ("params", "total_train_kwh"):
        ax.set_xscale("log")
    ax.set_xlabel(label)
    ax.set_ylabel(f"test accuracy (mean of {s['seeds']} seed{'s' if s['seeds'] > 1 else ''})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    return png(fig)


def effects_chart(effects: list[dict]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(10, 5.5))
    stages = sorted({e["stage"] for e in effects})
    for j, choice in enumerate(("depth", "kernel", "expand")):
        for s in stages:
            es = [e for e in effects if e["stage"] == s and e["choice"] == choice]
            if len(es) < 2:
                continue
            xs = [e["value"] for e in es]
            axes[0, j].plot(xs, [e["acc"] for e in es], marker="o", label=f"stage {s}")
            axes[1, j].plot(xs, [e["energy_mj"] for e in es], marker="o", label=f"stage {s}")
        axes[0, j].set_title(choice)
        axes[1, j].set_xlabel(choice)
    axes[0, 0].set_ylabel("mean inherited val accuracy")
    axes[1, 0].set_ylabel("mean predicted energy (mJ)")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return png(fig)
