"""Write the README's benchmark figures from the committed results: no figure there is typed by hand.

Each section of the README between ``<!-- figures:NAME -->`` and ``<!-- /figures:NAME -->`` is rendered by
``SECTIONS[NAME]`` from the JSONs in ``bench/results/``. ``--check`` rewrites nothing and exits 1 when a
section differs from what the results give (the test suite runs it, so a README that drifts from its
results fails CI).

    python bench/readme.py            # rewrite the sections
    python bench/readme.py --check    # exit 1 if any section is stale
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any, Callable

if __package__ in (None, ""):  # run as a file, `python bench/<name>.py`: see bench/__init__.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
README = ROOT / "README.md"


def _load(name: str) -> dict[str, Any]:
    return json.loads((RESULTS / name).read_text())


def _variant(v: str) -> str:
    fmt, dtype, threads = v.split("-")
    return f"{'NCHW' if fmt == 'contiguous' else fmt} {dtype}, {'all cores' if threads == 'T' else '1 thread'}"


def throughput() -> str:
    """Project paths against a bare PyTorch loop, and channels_last against NCHW (``throughput.json``)."""
    r = _load("throughput.json")
    head = (f"`python bench/throughput.py` at {r['commit'][:7]}: `{r['space']}` space, batch {r['batch_size']}, "
            f"{r['image_size']} px, {r['cores']} cores ({r['cpu_capability']}), torch {r['torch']}, "
            f"{r['rounds']} interleaved rounds (median img/s; the project at its default, "
            f"{_variant(r['default_variant'])}; the bare loop in its fastest variant at the same threads).")
    rows = ["| path | project img/s | bare loop img/s (its best variant) | ratio | channels_last / NCHW |",
            "| --- | ---: | ---: | ---: | ---: |"]
    for path, p in r["paths"].items():
        sp = r["speedup_vs_nchw"].get(path)
        speedup = f"{sp['median']:.2f}x" if sp else "-"
        rows.append(f"| {path}{'' if p['held_to_ratio'] else ' (reported only)'} | {p['img_s']:.0f} | "
                    f"{p['bare_img_s']:.0f} ({_variant(p['bare_best_variant'])}) | {p['ratio']:.2f} | {speedup} |")
    variants = ["| path | " + " | ".join(_variant(v) for v in r["variants"]) + " |",
                "| --- |" + " ---: |" * len(r["variants"])]
    for path, by in r["img_s"].items():
        variants.append(f"| {path} | " + " | ".join(f"{by[v]['project']:.0f} / {by[v]['bare']:.0f}"
                                                    for v in r["variants"]) + " |")
    goals = r["goals"]
    tail = (f"Lowest ratio of a held path to the bare loop: **{r['min_ratio_vs_bare']:.2f}** (goal >= 0.9 "
            f"{'met' if goals['min_ratio_vs_bare_at_least_0.9'] else '**not met**'}); supernet step speedup over "
            f"NCHW {'>= 2x on the largest and middle arch: met' if goals['supernet_speedup_at_least_2'] else 'goal of 2x **not met**'}.")
    return "\n".join([head, "", *rows, "", tail, "", "Every variant (project / bare img/s):", "", *variants])


def walltime() -> str:
    """The quickstart and the test suite before and after (``walltime.json``)."""
    r = _load("walltime.json")
    before, after = r["refs"]
    rows = [f"| command | before ({before}) | after ({after}) | ratio | 1-min load before each run |",
            "| --- | ---: | ---: | ---: | --- |"]
    names = {"quickstart": "`green-run` (quickstart)", "tests": "`pytest` (fast suite)"}
    for item, w in r["walltimes"].items():
        load = ", ".join(f"{x:.2f}" for x in w["load_1min_before_run"])
        rows.append(f"| {names[item]} | {w['before_s']:.0f} s | {w['after_s']:.0f} s | {w['ratio']:.2f} | {load} |")
    return "\n".join([f"`python bench/walltime.py --refs {before} {after}`: one run of each, not interleaved.",
                      "", *rows])


def parallel() -> str:
    """Parallel fine-tunes through the joblib launcher against one after another (``parallel.json``)."""
    r = _load("parallel.json")
    b, raw = r["bound"], r["raw"]
    ratios = ", ".join(f"{x:.3f}" for x in r["wall_ratios"])
    ci = r["wall_ratio_ci95"]
    ci_text = (f", bootstrap 95% interval {ci[0]:.3f}-{ci[1]:.3f}" if len(r["wall_ratios"]) >= 5 else
               f" (per round: {ratios}; too few rounds for an interval)")
    return "\n".join([
        f"`{r['command'].split(' ', 1)[1]}` at {r['commit'][:7]}: {r['models']} fine-tunes "
        f"({raw['budgets']['finetune_epochs']} epoch each, from a {raw['budgets']['supernet_epochs']}-epoch supernet), "
        f"{r['jobs']} jobs at a time through Hydra's {r['launcher']} launcher against one after another on "
        f"{raw['cores']} cores, {raw['budgets']['rounds']} interleaved rounds.",
        "",
        "| figure | value |", "| --- | ---: |",
        f"| wall time, parallel / sequential (median) | {r['wall_ratio']:.3f}{ci_text} |",
        f"| the bound with no setup cost (a fit on its share of the cores / all cores / jobs) | "
        f"{b['ratio_without_overhead']:.3f} |",
        f"| within 5% of the bound (ratio <= {1.05 * b['ratio_without_overhead']:.3f}) | "
        f"{'yes' if r['wall_ratio'] <= 1.05 * b['ratio_without_overhead'] else '**no**'} |",
        f"| a fit's seconds: all cores / its share | {b['fit_s_per_job_sequential']:.1f} / "
        f"{b['fit_s_per_job_parallel']:.1f} (slowdown {b['thread_slowdown']:.2f}) |",
        f"| setup seconds per batch: sequential / parallel | {b['overhead_s']['sequential']:.1f} / "
        f"{b['overhead_s']['parallel']:.1f} |",
        f"| same weights as the serial run at equal threads | {'yes' if r['identical_at_equal_threads'] else 'no'} |",
        f"| same weights as the serial run on all cores | {'yes' if r['identical'] else 'no'} |"])


def _pct(x: float | None, signed: bool = False) -> str:
    return "n/a" if x is None else (f"{x:+.1%}" if signed else f"{x:.1%}")


def _ci(ci: list[float] | None, fmt: str = ".3f", values: list[float] | None = None) -> str:
    """An interval, or (below 5 values) the values themselves: no interval from fewer."""
    if ci is None or any(x is None or x != x for x in ci):
        return "no interval (fewer than 5 values" + (": " + ", ".join(format(v, fmt) for v in values) if values
                                                     else "") + ")"
    return f"[{ci[0]:{fmt}}, {ci[1]:{fmt}}]"


def _met(flag: bool | None) -> str:
    return "n/a" if flag is None else ("met" if flag else "**not met**")


def _ran(r: dict[str, Any]) -> str:
    """How a result was made: its command (paths relative to the repository) and commit."""
    return f"`{r['command']}` at {r['commit'][:7]}" + (" (**quick run**: reduced budget, not judged)"
                                                        if r.get("quick") else "")


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


def cost_range() -> str:
    """The space's smallest, middle and largest subnet against the baselines (``cost_range.json``)."""
    r = _load("cost_range.json")
    rows = ["| model | M MACs | k params | ms, batch 1 | ms, serving batch |", "| --- | ---: | ---: | ---: | ---: |"]
    for name, m in [*((k, r[k]) for k in ("smallest", "middle", "largest")), *r["baselines"].items()]:
        rows.append(f"| {name} | {m['macs'] / 1e6:.2f} | {m['params'] / 1e3:.1f} | {m['latency_ms_b1']:.2f} | "
                    f"{m['latency_ms_serving']:.2f} |")
    g = r["goals"]
    return "\n".join([f"{_ran(r)}: MACs and parameters counted, latency timed in one interleaved session "
                      f"(random weights). The space spans {r['macs_range']:.1f}x in MACs.", "", *rows, "",
                      f"Goals: smallest below the cheapest baseline in MACs {_met(g['smallest_below_cheapest_baseline_macs'])}, "
                      f"at batch 1 {_met(g['smallest_below_cheapest_baseline_latency_ms_b1'])}, at the serving batch "
                      f"{_met(g['smallest_below_cheapest_baseline_latency_ms_serving'])}; largest above MobileNetV2 "
                      f"0.5 in MACs {_met(g['largest_above_mobilenetv2_050_macs'])}."])


def lut_accuracy() -> str:
    """The cost table against end-to-end measurement, per batch size and round (``lut_accuracy.json``)."""
    r = _load("lut_accuracy.json")
    rows = ["| batch | MAPE (per round) | signed bias (per round) | retest MAPE | tables apart | drift between rounds "
            "| round 1's table vs round 2's machine |", "| ---: | --- | --- | ---: | ---: | ---: | ---: |"]
    for bs, b in r["by_batch"].items():
        rows.append(f"| {bs} | {_pct(b['mape'])} ({', '.join(_pct(x) for x in b['mape_per_round'])}) | "
                    f"{_pct(b['bias'], True)} ({', '.join(_pct(x, True) for x in b['bias_per_round'])}) | "
                    f"{_pct(b['retest_mape'])} | {_pct(b.get('table_retest_mape'))} | "
                    + (f"{b['drift_between_rounds']:.3f}x" if "drift_between_rounds" in b else "n/a")
                    + f" | {_pct(b.get('cross_round_mape'))} |")
    builds = ", ".join(f"{x['build_seconds']:.0f} s" for x in r["raw"]["rounds"])
    g = r["goals"]
    return "\n".join([f"{_ran(r)}: the `{r['space']}` space's table ({r['n_ops']} ops, built in {builds}, "
                      f"{r['threads']} thread(s)) against {r['n_subnets']} random subnets, in {r['rounds']} rounds of "
                      "(build the table, validate it), each subnet timed twice per validation, interleaved trial by "
                      "trial.", "", *rows, "",
                      f"Batch {r['batch_size']}: MAPE over the retest's {r['mape_over_retest']:.2f} "
                      f"{_ci(r['mape_over_retest_ci'], '.2f')} (goal <= 1.1 {_met(g['lut_mape_le_1.1x_retest'])}), "
                      f"Spearman {r['lut_spearman']:.3f} {_ci(r['lut_spearman_ci'])} (retest {r['retest_spearman']:.3f}; "
                      f"goal >= 0.9 {_met(g['lut_spearman_ge_0.9'])}), bias {_pct(r['bias'], True)} "
                      f"{_ci(r['bias_ci'], '+.1%')}, build under 10 minutes {_met(g['build_under_10_min'])}. "
                      "Bootstrap 95% intervals over subnets."])


def _optimizer_common(r: dict[str, Any]) -> list[str]:
    ranks = ", ".join(f"{k} {v:.2f}" for k, v in r["mean_rank"].items())
    return [f"Mean rank over hypervolume and IGD in the unconstrained cells (1 = best of {len(r['mean_rank'])}): "
            f"{ranks}."]


def optimizer() -> str:
    """The engine against pymoo, DEAP's loop, random search and rejection sampling (``optimizer.json``)."""
    r = _load("optimizer.json")
    c = r["config"]
    rows = ["| against | cells worse | better | of | worse after Holm | better after Holm |",
            "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for k, v in r.items():
        if k.startswith("vs_") and v["cells_total"]:
            rows.append(f"| {k[3:]} | {v['cells_worse']} | {v['cells_better']} | {v['cells_total']} | "
                        f"{v['cells_worse_holm']} | {v['cells_better_holm']} |")
    shares = ", ".join(f"{k} {v:.3f}" for k, v in r["constrained_feasible_share_peers"].items() if v is not None)
    oh = ", ".join(f"{b}: {v:.2f}" for b, v in r["overhead_ms"].items())
    refs = ", ".join(r.get("reference_peers", r.get("pymoo_setups", [])))
    g = r["goals"]
    top = max(c["budget"] for c in r["cells"])
    con = [c for c in r["cells"] if c["constrained"] and c["budget"] == top]
    hv = "; ".join(", ".join(f"{a} {v['hv']['mean']:.3f}" for a, v in c["algorithms"].items()) for c in con)
    return "\n".join([f"{_ran(r)}: population {c['population']}, seeds {c['seeds'][0]}-{c['seeds'][-1]}, budgets "
                      f"{', '.join(map(str, c['budgets']))} unique evaluations, problems {', '.join(c['problems'])}; "
                      "two-sided Mann-Whitney per cell (alpha 0.05), Holm's correction over each comparison's "
                      "tests.", "", *rows, "",
                      f"Against the best of the reference set-ups ({refs}): worse in {r['cells_worse']} and better than "
                      f"all in {r['cells_better']} of {r['cells_total']} cells ({r['cells_worse_holm']} and "
                      f"{r['cells_better_holm']} after Holm).", "", *_optimizer_common(r), "",
                      f"Constrained NAS-like problem, feasible share of the budget (worst seed): engine "
                      f"{r['constrained_feasible_share']:.3f}; {shares}; normalised hypervolume at {top} evaluations "
                      f"(mean over seeds): {hv}. Rejection sampling gets as many cost-model checks as the engine made "
                      "in the same run (the project's random search repairs infeasible draws as the engine does). "
                      "Goals: never worse than a reference set-up in a cell after Holm "
                      f"{_met(g['no_cell_worse_than_peers_holm'])}; better than all of them in a quarter of the cells "
                      f"after Holm {_met(g['better_in_a_quarter_of_cells_holm'])}; overhead flat and at most 0.3 ms "
                      f"{_met(g['overhead_flat_at_most_0_3_ms'])}; whole budget feasible "
                      f"{_met(g['constrained_whole_budget_feasible'])}; better than rejection sampling beyond noise "
                      f"{_met(g.get('constrained_better_than_rejection_sampling'))}.", "",
                      f"Engine overhead per unique evaluation with a run folder (ms, median of repeats): {oh} "
                      f"(growth {r['overhead_growth']:.2f}x from the smallest budget to the largest)."])


def optimizer_tuning() -> str:
    """How the engine's defaults were chosen, on instances the benchmark does not score."""
    r, bench = _load("optimizer_tuning/optimizer.json"), _load("optimizer.json")
    c, seeds = r["config"], bench["config"]["seeds"]
    e = c["engine_settings"]["engine"]
    overlap = sorted(set(c["problems"]) & set(bench["config"]["problems"]))
    few = ", ".join(f"{k} {v:.2f}" for k, v in r.get("mean_rank_few_choice", {}).items())
    variants = "; ".join(f"`{k}`: " + ", ".join(f"{f} {v}" for f, v in kw.items() if f != "algorithm")
                         for k, kw in c["engine_variants"].items() if k != "engine")
    return "\n".join([f"{_ran(r)}: problems {', '.join(c['problems'])} ("
                      + (f"shared with the benchmark: {', '.join(overlap)}" if overlap else "none of them a benchmark cell")
                      + f"), seeds {c['seeds'][0]}-{c['seeds'][-1]} (the benchmark's are {seeds[0]}-{seeds[-1]}), budgets "
                      f"{', '.join(map(str, c['budgets']))}. `engine` is the default set-up ({e['crossover']} crossover, "
                      f"{e['mutation']} mutation, eta {e['eta_mut']}, per-gene rate 1 / genome length, at least 0.05); "
                      f"the others: {variants} (a rate `1/n`: 1 / genome length).", "", *_optimizer_common(r), "",
                      f"Mean rank in the few-choice cells alone: {few}.", "",
                      "The crossover and its distribution indices were chosen by an earlier run on the ZDT, DTLZ2 and "
                      "`nas-4` instances alone (`bench/results/archive/optimizer_tuning_crossover.json`)."])


def supernet_overhead() -> str:
    """The supernet's step with an arch active against the extracted static net (``supernet_overhead.json``)."""
    r = _load("supernet_overhead.json")
    sp = r["step_ratio_spread"]
    return (f"{_ran(r)}: {sp['n']} random archs of the `{r['space']}` space, a training step (batch {r['batch']}) "
            f"interleaved, {r['repeats']} repeats: median step ratio supernet / static **{r['median_step_ratio']:.3f}** "
            f"{_ci(r['median_step_ratio_ci'])} (per arch {sp['min']:.2f}-{sp['max']:.2f}; goal <= "
            f"{r['goal']['median_step_ratio_max']} {_met(r['goal']['met'])}); largest logit difference "
            f"{r['max_abs_logit_diff']:.3g}. Run in NCHW, before channels_last became the default.")


def bad_input() -> str:
    """The hostile-user list against the console scripts (``bad_input.json``)."""
    r = _load("bad_input.json")
    n = r["passed"] + len(r["failed"])
    return (f"{_ran(r)}: **{r['passed']} of {n}** faults and bad inputs keep the promise (one line, exit status, "
            "nothing lost or half-written)" + (f"; failing: {', '.join(r['failed'])}." if r["failed"] else "."))


def ranking() -> str:
    """Ranking methods against the standalone ground-truth table (``ranking.json``; before the reference-scale one
    is committed, the archived small-table result, said to be archived)."""
    if not (RESULTS / "ranking.json").is_file():
        r = _load("archive/ranking_c10_small.json")
        return ("No reference-scale ranking is committed yet. The archived small-table result "
                f"(`bench/results/archive/ranking_c10_small.json`, at {r['commit'][:7]}): {r['n_subnets']} subnets x "
                f"{r['n_rows'] // r['n_subnets']} seeds of the `{r['table_identity']['space_name']}` space at "
                f"{r['table_identity']['data']['image_size']} px; its noise ceiling was tau "
                f"{r['noise_ceiling_tau']:.3f} {_ci(r['noise_ceiling_tau_ci'])}, too low to judge any method by, "
                f"and the default `{r['method']}` supernet ranked at tau {r['kendall_tau_no_extremes']:.3f} "
                f"{_ci(r['kendall_tau_no_extremes_ci'])} without the extremes.")
    r = _load("ranking.json")
    rows = ["| method | Kendall tau without extremes [95% CI] | top-5 / top-1 regret (points) | supernet kWh | "
            "tau difference from the default [95% CI] |", "| --- | --- | --- | ---: | --- |"]
    for name, m in r["methods"].items():
        if "kendall_tau_no_extremes_ci" not in m:
            continue
        vs, splits = m.get("vs_default"), m.get("splits")
        diff = (f"{vs['kendall_tau_no_extremes_diff']:+.3f} {_ci(vs['kendall_tau_no_extremes_diff_ci'], '+.3f')}"
                + (" beyond noise" if vs["better_beyond_noise"] else "") if vs else
                "-" if splits else "(the default)")
        tau_ci = (f"(mean over {len(splits) if isinstance(splits, list) else splits} splits of held-out subnets)"
                  if splits else _ci(m["kendall_tau_no_extremes_ci"]))
        kwh = m.get("training_kwh")
        rows.append(f"| {name} | {m['kendall_tau_no_extremes']:.3f} {tau_ci} | "
                    f"{m['top5_regret_points']:.2f} / {m['top1_regret_points']:.2f} | "
                    f"{'-' if kwh is None else f'{kwh:.2g}'} | {diff} |")
    g = r["goal"]
    return "\n".join([f"{_ran(r).split(' --method')[0]}` ... at {r['commit'][:7]} (the full command is in the JSON): "
                      f"{r['n_subnets']} subnets x {r['n_rows'] // r['n_subnets']} seeds of the `{r['table_identity']['space_name']}` "
                      f"space at {r['table_identity']['data']['image_size']} px. Noise ceiling (seed-to-seed tau of the "
                      f"table): **{r['noise_ceiling_tau']:.3f}** {_ci(r['noise_ceiling_tau_ci'])}, "
                      f"{r['noise_ceiling_tau_no_extremes']:.3f} without the extremes.", "", *rows, "",
                      f"Method kept: `{r['best_method']}` (another replaces the default only beyond noise). Goals for "
                      f"the default: tau >= 0.6 {_met(g['kendall_tau_no_extremes_ge_0.6'])}, >= 0.8 x ceiling "
                      f"{_met(g['kendall_tau_no_extremes_ge_0.8_noise_ceiling'])}, top-5 regret "
                      f"{r['top5_regret_points']:.2f} points <= half of a random ranking's expected "
                      f"{r['random_top5_regret_points']:.2f} {_met(g['top5_regret_le_0.5_random'])}; the table: "
                      f"ceiling tau >= 0.6 {_met(g['noise_ceiling_tau_ge_0.6'])}, >= 32 subnets "
                      f"{_met(g['n_subnets_ge_32'])}."])


def mutation() -> str:
    """Mutants killed, surviving and equivalent in the figure code (``mutation.json``)."""
    if not (RESULTS / "mutation.json").is_file():
        return "No mutation run is committed yet."
    r = _load("mutation.json")
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
    return (f"{_ran(r)}{rerun} with {r['tool']} {r['version']}: **{r['killed']} killed of {r['mutants_run']}** "
            f"mutants run (mutmut's statuses: {by}; an equivalent mutant is one mutmut calls survived) over "
            f"{len(r['modules'])} modules ({len(r['raw']['traced_functions'])} traced bench "
            f"functions; {r['not_run']} mutants outside the scope not run"
            + (f"; **{pending} in-scope mutants not yet run**: the run was stopped, so the figures are partial"
               if pending else "") + f"). Survivors by module (the list is in the JSON): {surv} (goal none: "
            f"{_met(r['goal']['no_survivor'])}). Equivalent: {eq}.")


SECTIONS: dict[str, Callable[[], str]] = {"throughput": throughput, "walltime": walltime, "parallel": parallel,
                                          "results": results, "cost_range": cost_range,
                                          "lut_accuracy": lut_accuracy, "optimizer": optimizer,
                                          "optimizer_tuning": optimizer_tuning,
                                          "supernet_overhead": supernet_overhead, "bad_input": bad_input,
                                          "ranking": ranking, "mutation": mutation}


def render(text: str) -> str:
    """``text`` with every figures section rewritten from the results."""
    for name, fn in SECTIONS.items():
        pattern = re.compile(rf"(<!-- figures:{name} -->\n)(?:.*?\n)?(<!-- /figures:{name} -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"readme: README.md has no <!-- figures:{name} --> section")
        body = fn()
        text = pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)
    return text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="exit 1 if a section is stale; write nothing")
    args = p.parse_args(argv)
    text = README.read_text()
    fresh = render(text)
    if args.check:
        if fresh != text:
            print("readme: README.md's figures differ from bench/results (run python bench/readme.py)",
                  file=sys.stderr)
            return 1
        print(f"readme: {len(SECTIONS)} figure sections match bench/results")
        return 0
    if fresh != text:
        from supernet.io import write_atomic

        write_atomic(README, fresh)
    print(f"readme: {len(SECTIONS)} figure sections written from bench/results")
    return 0


if __name__ == "__main__":
    sys.exit(main())
