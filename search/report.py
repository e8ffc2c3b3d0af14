"""The Green report of a ``green-run`` folder: ``report.md`` (+ PNGs) and a self-contained ``report.html``.

It reads only what the stages wrote: ``finetune/finetune.json`` (the winners), ``scratch/finetune.json``
(the same archs trained from scratch), ``baselines/baselines.json``, ``search/history.csv`` and every
``energy_*.json`` booked by codecarbon. Nothing is re-measured. :func:`summarise` returns the figures
(dominated baselines, energy ledger, amortisation) that ``bench/pipeline.py`` records.
"""
from __future__ import annotations

import base64
import csv
import html
import io
import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

from supernet.errors import GreenError
from supernet.io import write_atomic, write_json
from supernet.space import ArchConfig

CHARTS = (("latency_ms", "measured latency (ms, batch 1)"), ("energy_mj_per_image", "energy per image (mJ)"),
          ("params", "parameters"))
LEDGER = ("train", "lut", "search", "finetune", "scratch", "baselines")


def _read_models(path: Path) -> list[dict]:
    return json.loads(path.read_text())["models"] if path.is_file() else []


def dominates(a: dict, b: dict, cost: str) -> bool:
    """``a`` is at least as accurate and as cheap on ``cost`` as ``b``, and better on one of them."""
    return (a["test_acc"] >= b["test_acc"] and a[cost] <= b[cost]) and (a["test_acc"] > b["test_acc"] or a[cost] < b[cost])


def front(rows: Sequence[dict], cost: str) -> list[dict]:
    """Rows not dominated by any other on (test accuracy, ``cost``), cheapest first."""
    return sorted([r for r in rows if not any(dominates(o, r, cost) for o in rows if o is not r)], key=lambda r: r[cost])


def ledger(root: Path) -> dict[str, dict[str, Any]]:
    """kWh and CO2eq per stage, summed over the stage's codecarbon files, with their sources."""
    out = {}
    for stage in LEDGER:
        files = sorted((root / stage).rglob("energy_*.json")) if (root / stage).is_dir() else []
        recs = [json.loads(f.read_text()) for f in files]
        out[stage] = {"energy_kwh": sum(r["energy_kwh"] for r in recs), "co2eq_kg": sum(r["co2eq_kg"] for r in recs),
                      "seconds": sum(r["seconds"] for r in recs), "files": len(recs),
                      "sources": sorted({r["source"] for r in recs})}
    return out


def summarise(root: str | Path) -> dict[str, Any]:
    """The report's figures: models, fronts, dominated baselines, energy ledger and amortisation."""
    root = Path(root)
    winners = _read_models(root / "finetune" / "finetune.json")
    if not winners:
        raise GreenError(f"{str(root)!r} has no fine-tuned winners (finetune/finetune.json): run the finetune stage")
    scratch = _read_models(root / "scratch" / "finetune.json")
    base = _read_models(root / "baselines" / "baselines.json")
    dominated = {}
    for cost, _ in CHARTS:
        names = [b["name"] for b in base if any(dominates(w, b, cost) for w in winners)]
        dominated[cost] = {"count": len(names), "of": len(base), "names": names}
    led = ledger(root)
    route = sum(led[s]["energy_kwh"] for s in ("train", "lut", "search", "finetune"))
    from_scratch = led["scratch"]["energy_kwh"]
    k = len(winners)
    amort = {"k": k, "supernet_route_kwh": route, "scratch_kwh": from_scratch,
             "ratio": route / from_scratch if from_scratch > 0 else None,
             "scratch_models": len(scratch), "scratch_epochs": scratch[0]["epochs"] if scratch else None,
             "note": "supernet route = train + cost table + search + fine-tuning of the K winners; "
                     "scratch = the same K archs trained from random initialisation for as many epochs as the "
                     "supernet (codecarbon, both)"}
    sources = sorted({s for v in led.values() for s in v["sources"]})
    return {"winners": winners, "scratch": scratch, "baselines": base, "dominated": dominated, "ledger": led,
            "amortisation": amort, "energy_sources": sources,
            "stage_seconds": {k: v["seconds"] for k, v in _run_log(root).get("stages", {}).items()}}


def _run_log(root: Path) -> dict:
    p = root / "run.json"
    return json.loads(p.read_text()) if p.is_file() else {}


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
def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def chart(s: dict, cost: str, label: str) -> bytes:
    """Accuracy vs ``cost``: winners (their front joined), from-scratch twins, baselines named."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    w = s["winners"]
    ax.scatter([r[cost] for r in w], [r["test_acc"] for r in w], c="tab:green", label="Green CNN winners", zorder=3)
    f = front(w, cost)
    ax.plot([r[cost] for r in f], [r["test_acc"] for r in f], c="tab:green", lw=1, zorder=2)
    if s["scratch"]:
        ax.scatter([r[cost] for r in s["scratch"]], [r["test_acc"] for r in s["scratch"]], marker="x",
                   c="tab:gray", label="same archs from scratch", zorder=2)
    dom = set(s["dominated"][cost]["names"])
    for b in s["baselines"]:
        ax.scatter(b[cost], b["test_acc"], marker="s", c="tab:red" if b["name"] not in dom else "tab:orange", zorder=3)
        ax.annotate(b["name"], (b[cost], b["test_acc"]),
                    fontsize=7, xytext=(4, 3), textcoords="offset points")
    ax.scatter([], [], marker="s", c="tab:red", label="baselines (not dominated)")
    ax.scatter([], [], marker="s", c="tab:orange", label="baselines dominated by a winner")
    if cost == "params":
        ax.set_xscale("log")
    ax.set_xlabel(label)
    ax.set_ylabel("test accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    return _png(fig)


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
    return _png(fig)


# documents ------------------------------------------------------------------------------------------
def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)


def _table(rows: Sequence[Sequence[Any]], head: Sequence[str]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head),
            *("| " + " | ".join(_fmt(v) for v in r) + " |" for r in rows)]


def markdown(s: dict, effects: list[dict], images: dict[str, str], root: Path) -> str:
    a, led = s["amortisation"], s["ledger"]
    lines = [f"# Green CNN report: `{root.name}`", "",
             f"{len(s['winners'])} fine-tuned winners of the search, the same archs trained from scratch "
             f"({len(s['scratch'])}), and {len(s['baselines'])} hand-designed baselines, all trained with the same "
             "recipe on the same data and measured on the same device. Energy sources: "
             f"{', '.join(s['energy_sources']) or 'none'}"
             + (" (codecarbon's power model: an estimate, not a measurement)."
                if any("estimate" in x for x in s["energy_sources"]) else "."), ""]
    lines += ["## Pareto charts", ""]
    for cost, label in CHARTS:
        d = s["dominated"][cost]
        lines += [f"### Accuracy vs {label}", "", f"![accuracy vs {label}]({images[cost]})", "",
                  f"Baselines dominated by a winner: **{d['count']} of {d['of']}**"
                  + (f" ({', '.join(d['names'])})." if d["names"] else "."), ""]
    lines += ["## Every model", ""]
    head = ["model", "kind", "test acc", "macro recall", "params", "MACs", "latency ms (b1)", "energy mJ/image",
            "energy source", "train kWh", "train energy source"]
    rows = [[r["name"], r["kind"], r["test_acc"], r["test_recall"], r["params"], r["macs"], r["latency_ms"],
             r["energy_mj_per_image"], r["energy_source"], r["train_energy_kwh"], r["train_energy_source"]]
            for r in [*s["winners"], *s["scratch"], *s["baselines"]]]
    lines += [*_table(rows, head), ""]
    lines += ["## Energy ledger", "", *_table([[k, v["energy_kwh"], v["co2eq_kg"] * 1000, v["seconds"],
                                                ", ".join(v["sources"])] for k, v in led.items()],
                                               ["stage", "kWh", "g CO2eq", "seconds", "source"]), ""]
    ratio = "n/a (no scratch stage)" if a["ratio"] is None else f"**{a['ratio']:.3f}**"
    lines += ["### Amortisation", "", f"Producing the K = {a['k']} winners through the supernet took "
              f"{a['supernet_route_kwh']:.4g} kWh; training the same {a['scratch_models']} archs from scratch for "
              f"{a['scratch_epochs']} epochs each took {a['scratch_kwh']:.4g} kWh: ratio {ratio}. ({a['note']}.)", ""]
    if effects:
        lines += ["## What each architecture choice does", "", f"![choice effects]({images['effects']})", "",
                  "Read from the search history (inherited accuracy, predicted energy): mean over the evaluated "
                  "subnets having that choice in that stage.", "",
                  *_table([[e["stage"], e["choice"], e["value"], e["n"], e["acc"], e["energy_mj"]] for e in effects],
                          ["stage", "choice", "value", "n", "mean acc", "mean energy mJ"]), ""]
    if s["stage_seconds"]:
        lines += ["## Stage times", "", *_table([[k, v] for k, v in s["stage_seconds"].items()],
                                                 ["stage", "seconds"]), ""]
    return "\n".join(lines)


def to_html(md: str, images: dict[str, str], pngs: dict[str, bytes]) -> str:
    """A self-contained HTML rendering of the report's markdown (tables, headings, embedded images)."""
    out, table = ["<!doctype html><html><head><meta charset='utf-8'><title>Green CNN report</title><style>"
                  "body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse;"
                  "font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px}</style></head><body>"], []
    by_file = {v: k for k, v in images.items()}

    def flush() -> None:
        if table:
            out.append("<table>" + "".join(table) + "</table>")
            table.clear()

    def inline(t: str) -> str:
        t = html.escape(t)
        while t.count("**") >= 2:
            t = t.replace("**", "<b>", 1).replace("**", "</b>", 1)
        while t.count("`") >= 2:
            t = t.replace("`", "<code>", 1).replace("`", "</code>", 1)
        return t

    for line in md.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if all(set(c) <= {"-", " "} for c in cells):
                continue
            tag = "th" if not table else "td"
            table.append("<tr>" + "".join(f"<{tag}>{inline(c)}</{tag}>" for c in cells) + "</tr>")
            continue
        flush()
        if line.startswith("!["):
            key = by_file[line[line.rindex("](") + 2:-1]]
            out.append(f"<img alt='{key}' src='data:image/png;base64,{base64.b64encode(pngs[key]).decode()}'>")
        elif line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level}>{inline(line[level:].strip())}</h{level}>")
        elif line.strip():
            out.append(f"<p>{inline(line)}</p>")
    flush()
    out.append("</body></html>")
    return "\n".join(out)


def write_report(root: str | Path) -> dict[str, Any]:
    """Write report.md (+ report_*.png), report.html and report.json in the run folder; returns the summary."""
    root = Path(root)
    s = summarise(root)
    history = root / "search" / "history.csv"
    effects = choice_effects(history) if history.is_file() else []
    pngs = {cost: chart(s, cost, label) for cost, label in CHARTS}
    if effects:
        pngs["effects"] = effects_chart(effects)
    images = {k: f"report_{k}.png" for k in pngs}
    for k, data in pngs.items():
        write_atomic(root / images[k], data)
    md = markdown(s, effects, images, root)
    write_atomic(root / "report.md", md)
    write_atomic(root / "report.html", to_html(md, images, pngs))
    write_json(root / "report.json", {k: v for k, v in s.items()} | {"choice_effects": effects})
    return s
