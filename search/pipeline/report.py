"""The Green report of a ``green-run`` folder: ``report.md`` (+ PNGs) and a self-contained ``report.html``.

The figures come from :mod:`search.pipeline.summary` (nothing is re-measured). Every sentence stating a budget, a
seed count or an energy source is built from the run's own records: it cannot claim a protocol the run did not follow.
"""
from __future__ import annotations

import base64
import math
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt

from search.pipeline.charts import breakeven_chart, chart, choice_effects, effects_chart, effects_lines, labels
from search.pipeline.classes import chosen_winner, class_models, class_pngs
from search.pipeline.deployed import deployed_charts, deployed_lines
from search.pipeline.fronts import target_fronts, target_lines
from search.pipeline.machine import busy_stages, load_lines, mark
from search.pipeline.markdown import fmt as _fmt, table as _table
from search.pipeline.routes import routes_lines
from search.pipeline.recommend import recommend_lines, recommended, scope_lines
from search.pipeline.summary import own_lr, summarise
from core.io import write_atomic, write_json
from core.jsontypes import JSONObject

CHARTS = (("latency_ms", "measured latency (ms per batch of 1)"),
          ("energy_mj_per_image", "energy per image (mJ, at the serving batch of {serving})"),
          ("params", "parameters (count)"), ("total_train_kwh", "total training energy (kWh; winners incl. their share "
                                                                  "of the supernet route)"))
READ = {"latency_ms": "time to classify one image on this machine, at batch 1",
        "energy_mj_per_image": "energy to classify one image when images are served in batches of {serving}",
        "params": "model size",
        "total_train_kwh": "energy spent to produce the model, its share of the supernet, cost table and search included"}


def serving_batch(s: dict) -> int | str:
    """The serving batch size of the run's measurement session (the last size it timed)."""
    return ((s.get("session") or {}).get("batch_sizes") or ["the last measured"])[-1]


def chart_labels(s: dict) -> list[tuple[str, str]]:
    """The charts' (cost, axis label), the serving batch filled in from the measurement session."""
    return [(cost, label.format(serving=serving_batch(s))) for cost, label in CHARTS]
# documents ------------------------------------------------------------------------------------------
def _epochs(values: set) -> str:
    """A set of epoch counts as prose (``3 epochs``, ``1 or 2 epochs``), not a Python list; unknown: n/a."""
    known = sorted(v for v in values if v is not None)
    if not known:
        return "n/a epochs"
    return " or ".join(map(str, known)) + (" epoch" if known == [1] else " epochs")


def _distilled(values: set) -> str:
    """Whether the winners were distilled from the supernet, as prose."""
    return {frozenset({True}): "distilled from it", frozenset({False}): "not distilled"}.get(
        frozenset(values), "some distilled from it")


def _budget_rows(s: dict) -> list[list[Any]]:
    rows, busy = [], busy_stages(s)
    for m in [m for ms in s["models"].values() for m in ms]:
        b = m["budget"]
        rows.append([m["name"], m["kind"], b.get("epochs"), b.get("images_seen"), b.get("optimizer"), b.get("lr"),
                     b.get("schedule"), b.get("init"), b.get("distilled"), mark(_fmt(m["train_kwh"]), m["stage"], busy),
                     m["total_train_kwh"]])
    return rows


def _own_lr(s: dict) -> str:
    shared = {m["budget"].get("lr") for m in s["winners"]}
    own = [f"{m['name']} at {m['budget'].get('lr')}" for m in own_lr(s["winners"], s["baselines"])]
    return (f" Baselines given their own learning rate (`model_lr`), not the shared recipe's {_fmt(min(shared))}: "
            f"{', '.join(own)}." if own and shared else "")


def markdown(s: dict, effects: list[dict], images: dict[str, str], root: Path) -> str:
    a, led, d = s["amortisation"], s["ledger"], s["dominated"]
    ws = s["winners"]
    route_epochs = {m["budget"].get("epochs") for m in s["scratch"] + s["baselines"]}
    srcs = sorted({m["energy_source"] for ms in s["models"].values() for m in ms})
    session = s.get("session") or {}
    power = (session.get("power") or {})
    about = ["## This run", "",
             f"{len(ws)} fine-tuned winners of the search, {len(s['scratch'])} of them also trained from scratch, "
             f"{len(s['baselines'])} hand-designed baseline{'s' if len(s['baselines']) != 1 else ''}"
             + (f" and {len(s['multi_trial_models'])} models of the multi-trial route" if s["multi_trial_models"]
                else "") + f"; every model trained with {s['seeds']} seed{'s' if s['seeds'] > 1 else ''} "
             + ("(accuracy: mean over seeds, with the standard deviation). " if s["seeds"] > 1 else
                "(one seed: no standard deviation, so no seed-to-seed noise is known; seeds=3 gives one). ")
             + f"Winners inherit the supernet's weights ({_distilled({m['budget'].get('distilled') for m in ws})}) "
             f"and are fine-tuned for {_epochs({m['budget'].get('epochs') for m in ws})} after a supernet of "
             f"{_epochs({a.get('supernet_epochs')})}; twins and baselines are trained from scratch for "
             f"{_epochs(route_epochs)}. The budgets table below states every model's own." + _own_lr(s), "",
             "Costs come from " + ("one measurement session: all models timed round-robin "
                                  f"({session.get('trials')} interleaved trials, {session.get('threads')} thread(s)), "
                                  if session else "each model's own measurement (no measure stage), ")
             + f"energy sources: {', '.join(srcs)}"
             + (f"; without a hardware counter one power figure ({power.get('watts', 0):.3g} W, codecarbon's model: "
                "an estimate proportional to time) prices every model, so energies share one scale."
                if power and not power.get("per_model") else "."), "", *load_lines(s.get("load"))]
    serving, busy = serving_batch(s), busy_stages(s)
    lines = [f"# Green CNN report: `{root.name}`", "", *recommend_lines(recommended(s, root), busy), *scope_lines(s),
             "## Pareto charts", "",
              "How to read them: each point is a model, at its mean test accuracy over seeds (the bar is the "
              "standard deviation) and its cost; up and to the left is better. W1, W2, ... are the winners, T1, ... "
              "the same archs trained from scratch, M1, ... the multi-trial route's models (the table below names "
              "them); the line joins the winners that no other winner beats on both axes.", ""]
    for cost, label in chart_labels(s):
        n_plain, n_noise = len(d["plain"][cost]), len(d["beyond_noise"][cost])
        lines += [f"### Accuracy vs {label}", "", f"![accuracy vs {label}]({images[cost]})", "",
                  f"The cost axis is the {READ[cost].format(serving=serving)}.",
                  f"Baselines dominated by a winner beyond noise: **{n_noise} of {d['of']}**"
                  + (f" ({', '.join(d['beyond_noise'][cost])})" if n_noise else "")
                  + f"; plainly (ignoring noise): {n_plain}.", ""]
    lines += [f"Dominated beyond noise on both latency and energy: **{len(d['beyond_noise']['total'])} of "
              f"{d['of']}**. Beyond noise means more accurate by more than the larger seed-to-seed "
              "standard deviation (or the test-set standard error) and cheaper with non-overlapping p10-p90 "
              "measurement ranges.", "", *about]
    if d["failed"]:
        lines += [f"Failed trainings, not counted: {', '.join(d['failed'])} ended within 5 points of chance accuracy "
                  "(1 / classes), so beating them says nothing; give them their own stated learning rate or epochs.",
                  ""]
    names, sb = labels(s), f"b{serving}" if isinstance(serving, int) else "serving batch"
    lines += ["## Every model", "",
              f"Latency is measured at batch 1 and at the serving batch of {serving}; energy per image at the serving "
              "batch (batching shares fixed costs, so it is far below batch 1's; the choice table at the end gives "
              "batch-1 predictions, which is why its energies are higher).", ""]
    head = ["label", "model", "kind", "test acc", "std", "macro recall", "held-out select acc", "params", "MACs",
            "latency ms (b1)", f"latency ms ({sb})", f"energy mJ/image ({sb})", "energy source"]
    rows = [[names[(m["kind"], m["name"])], m["name"], m["kind"], m["test_acc"],
             m["test_acc_std"] if len(m.get("test_acc_per_seed", ())) > 1 else "n/a (1 seed)", m["test_recall"],
             m["select_acc"], m["params"], m["macs"], m["latency_ms"], m["latency_serving_ms"],
             m["energy_mj_per_image"], mark(m["energy_source"], "measure" if session else m["stage"], busy)]
            for ms in s["models"].values() for m in ms]
    lines += [*_table(rows, head), ""]
    lines += class_lines(s, images)
    lines += ["## Training budgets", "", *_table(_budget_rows(s), [
        "model", "kind", "epochs", "images seen", "optimizer", "lr", "schedule", "start", "distilled", "train kWh",
        "total kWh (with route share)"]), ""]
    grids = sorted({g for v in led.values() for g in v.get("grids", [])}) or ["unrecorded"]
    spent = {k: v for k, v in led.items() if v["files"]}
    lines += ["## Energy ledger", "",
              "The energy each stage spent (codecarbon). CO2eq uses the carbon intensity of the grid of "
              f"**{', '.join(grids)}** (`country_iso_code`; set `country_iso_code=<your ISO 3166 code>`, e.g. FRA, to "
              "price it on yours).", "", *_table([*([mark(k, k, busy), v["energy_kwh"], v["co2eq_kg"] * 1000, v["seconds"],
                                                  ", ".join(v["sources"])] for k, v in spent.items()),
                                                ["**total**", *(sum(v[f] for v in spent.values()) * scale for f, scale
                                                                in (("energy_kwh", 1), ("co2eq_kg", 1000), ("seconds", 1))),
                                                 ", ".join(sorted({x for v in spent.values() for x in v["sources"]}))]],
                                               ["stage", "kWh", "g CO2eq", "seconds", "source"]), ""]
    lines += routes_lines(s.get("multi_trial"), images)
    for stage, tw in (s.get("twins") or {}).items():
        if not (tw and tw["all"]):
            continue
        d, ci = tw["all"], tw["all"]["diff_ci"]
        how = "for the fine-tune's epochs alone" if stage == "scratch_ft" else "with the scratch recipe"
        lines += [f"### Winners against their scratch twins ({how})", "",
                  f"Test accuracy of the winners minus their twins (the same archs from scratch), paired by seed and "
                  f"by image, over {len(tw['archs'])} arch(s) and {d['seeds']} seed(s): **{d['diff_points']:+.2f} "
                  f"points** (95% CI {ci[0]:+.2f} to {ci[1]:+.2f}; {d['interval']}). Per arch: "
                  + ", ".join(f"{a} {v['diff_points']:+.2f}" for a, v in tw["per_arch"].items()) + ".", ""]
    ratio = "n/a (no scratch stage)" if a["ratio"] is None else f"**{a['ratio']:.3f}**"
    lines += ["### Amortisation over training the K winners from scratch", "",
              f"Per seed, producing the K = {a['k']} winners through the supernet took {a['supernet_route_kwh']:.4g} "
              f"kWh; training the same archs from scratch for {a['scratch_epochs']} epochs each took "
              f"{a['scratch_kwh']:.4g} kWh: ratio {ratio}. How to read it: below 1 the supernet route was cheaper "
              "than training the winners' archs from scratch; above 1 it cost more (the supernet pays off when "
              f"many subnets are wanted, or a search replaces many trainings). ({a['note']}.)", ""]
    fid = s.get("fidelity")
    if fid:
        lines += fidelity_lines(fid)
    lines += effects_lines(effects, images.get("effects"))
    if s["stage_seconds"]:
        from search.pipeline.stages import STAGE_TABLE

        what = {st.name: st.what for st in STAGE_TABLE}  # in run order, whatever order run.json holds
        rows = [[mark(st.name, st.name, busy), what[st.name], s["stage_seconds"][st.name]] for st in STAGE_TABLE
                if st.name in s["stage_seconds"]]
        lines += ["## Stage times", "", *_table(rows, ["stage", "what", "seconds"]), ""]
    return "\n".join(lines)


def class_lines(s: dict, images: dict[str, str]) -> list[str]:
    """The markdown of the section (nothing for runs whose rows carry no per-class figures)."""
    models = class_models(s)
    if not models:
        return []
    classes = list(models[0]["test_class_recall"])
    lines = ["## Recall per class", "",
             "Test recall of each class (the share of its test images the model gets right), mean over seeds. "
             "Worst-class recall is the lowest of them: a model can be accurate and still miss a rare class.", ""]
    if "recall" in images:
        lines += [f"![recall per class]({images['recall']})", ""]
    rows = [[m["name"], m["kind"], m["test_acc"], m["test_recall_min"], *(m["test_class_recall"][c] for c in classes)]
            for m in models]
    lines += [*_table(rows, ["model", "kind", "test acc", "worst-class recall", *classes]), ""]
    chosen = chosen_winner(s)
    if chosen is not None and "confusion" in images:
        lines += ["### Confusion matrix of the chosen winner", "",
                  f"`{chosen['name']}`, the winner with the best held-out selection accuracy; rows are the true "
                  "classes (each normalised to 1), columns the predicted ones, test images summed over seeds.", "",
                  f"![confusion matrix]({images['confusion']})", ""]
    return lines


def _num(x: Any, spec: str = ".3f") -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def _ci_text(ci: Any, n: int) -> str:
    """A bootstrap interval, or why there is none (fewer than 5 values give no interval)."""
    if ci is None or any(x is None or (isinstance(x, float) and math.isnan(x)) for x in ci):
        return f"{n} values: no interval below 5"
    return f"95% bootstrap CI {_num(ci[0])} to {_num(ci[1])}"


def fidelity_lines(f: JSONObject) -> list[str]:
    """The report's section on how far the front can be trusted: the run's own standalone checks."""
    ci, ci_mid = f["kendall_tau_ci"], f["kendall_tau_no_extremes_ci"]
    regret = ", ".join(f"{_num(r, '.2f')} (<= {b:,.0f} MACs)"
                       for r, b in zip(f["top1_regret_points_per_budget"], f["budgets_macs"]))
    rec, tab = f["recipe"], f["table"]
    return ["## How far to trust the front", "",
            f"{f['n_subnets']} subnets drawn by cost (MACs; never by accuracy) were trained standalone from scratch "
            f"({rec['epochs']} epochs, {rec['optimizer']} lr {rec['lr']}, {tab['rows']} trainings, "
            f"{tab['build_kwh']:.3g} kWh) and compared with their inherited accuracy on {f['val_images']} validation "
            "images the search did not select on.", "",
            f"Kendall tau **{_num(f['kendall_tau'])}** ({_ci_text(ci, f['n_subnets'])}), "
            f"{_num(f['kendall_tau_no_extremes'])} without the smallest and largest subnets "
            f"({_ci_text(ci_mid, f['n_subnets'] - 2)}); Spearman {_num(f['spearman'])}. Standalone accuracy lost by trusting the supernet's "
            f"best subnet under a MAC budget (top-1 regret, points): {regret}. With so few checks the intervals "
            "are wide: a tau near 0 without the extremes means the front's order among ordinary subnets is noise.",
            ""]


def to_html(md: str, images: dict[str, str], pngs: dict[str, bytes]) -> str:
    """A self-contained HTML rendering of the report's markdown (CommonMark and tables, by markdown-it-py) with
    its images embedded. Raw HTML in the text is escaped, not passed through: model names are untrusted."""
    parser = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = parser.parse(md)
    by_file = {v: k for k, v in images.items()}
    for child in (c for t in tokens for c in t.children or () if c.type == "image"):
        png = pngs[by_file[child.attrGet("src")]]  # every image is one of ours: the page stays self-contained
        child.attrSet("src", f"data:image/png;base64,{base64.b64encode(png).decode()}")
    return ("<!doctype html><html><head><meta charset='utf-8'><title>Green CNN report</title><style>"
            "body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse;"
            "font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px}</style></head><body>\n"
            + parser.renderer.render(tokens, parser.options, {}) + "</body></html>")


def write_report(root: str | Path) -> JSONObject:
    """Write report.md (+ report_*.png), report.html and report.json in the run folder; returns the summary."""
    root = Path(root)
    s = summarise(root)
    rec = recommended(s, root)
    s["recommended"] = rec.to_json() if rec else None  # report.json's copy
    history = root / "search" / "history.csv"
    effects = choice_effects(history) if history.is_file() else []
    pngs = {cost: chart(s, cost, label) for cost, label in chart_labels(s)}
    if effects:
        pngs["effects"] = effects_chart(effects)
    if (s.get("multi_trial") or {}).get("breakeven"):
        pngs["breakeven"] = breakeven_chart(s["multi_trial"]["breakeven"], ", ".join(s["energy_sources"]) or "unknown")
    pngs.update(class_pngs(s))
    fronts = target_fronts(root / "search")  # the search's front, one chart per target it traded accuracy against
    pngs.update({c.key: c.png for c in fronts})
    pngs.update(deployed_charts(s))  # one chart per deployment target: torch against the target, per model
    images = {k: f"report_{k}.png" for k in pngs}
    for k, data in pngs.items():
        write_atomic(root / images[k], data)
    md = markdown(s, effects, images, root) + "\n".join([*deployed_lines(s, images), *target_lines(fronts, images)])
    write_atomic(root / "report.md", md)
    write_atomic(root / "report.html", to_html(md, images, pngs))
    write_json(root / "report.json", {k: v for k, v in s.items() if k != "models"} | {"choice_effects": effects})
    return s
