"""The figure sections (docs/benchmarks.md) on what the search rests on: ranking methods against a ground-truth
table, the space's cost range, the cost table against measurement, and the engine against its peers."""
from __future__ import annotations


from bench.sections.text import RESULTS, interval_text, load_result, made_by, met, pct
from core.jsontypes import JSONObject


def ranking() -> str:
    """Ranking methods against the standalone ground-truth table (``ranking.json``; before the reference-scale one
    is committed, the archived small-table result, said to be archived)."""
    if not (RESULTS / "ranking.json").is_file():
        r = load_result("archive/ranking_c10_small.json")
        return ("No reference-scale ranking is committed yet. The archived small-table result "
                f"(`bench/results/archive/ranking_c10_small.json`, at {r['commit'][:7]}): {r['n_subnets']} subnets x "
                f"{r['n_rows'] // r['n_subnets']} seeds of the `{r['table_identity']['space_name']}` space at "
                f"{r['table_identity']['data']['image_size']} px; its noise ceiling was tau "
                f"{r['noise_ceiling_tau']:.3f} {interval_text(r['noise_ceiling_tau_ci'])}, too low to judge any "
                "method by, "
                f"and the default `{r['method']}` supernet ranked at tau {r['kendall_tau_no_extremes']:.3f} "
                f"{interval_text(r['kendall_tau_no_extremes_ci'])} without the extremes.")
    r = load_result("ranking.json")
    rows = ["| method | Kendall tau without extremes [95% CI] | top-5 / top-1 regret (points) | supernet kWh | "
            "tau difference from the default [95% CI] |", "| --- | --- | --- | ---: | --- |"]
    for name, m in r["methods"].items():
        if "kendall_tau_no_extremes_ci" not in m:
            continue
        vs, splits = m.get("vs_default"), m.get("splits")
        diff = (f"{vs['kendall_tau_no_extremes_diff']:+.3f} "
                f"{interval_text(vs['kendall_tau_no_extremes_diff_ci'], '+.3f')}"
                + (" beyond noise" if vs["better_beyond_noise"] else "") if vs else
                "-" if splits else "(the default)")
        tau_ci = (f"(mean over {len(splits) if isinstance(splits, list) else splits} splits of held-out subnets)"
                  if splits else interval_text(m["kendall_tau_no_extremes_ci"]))
        kwh = m.get("training_kwh")
        rows.append(f"| {name} | {m['kendall_tau_no_extremes']:.3f} {tau_ci} | "
                    f"{m['top5_regret_points']:.2f} / {m['top1_regret_points']:.2f} | "
                    f"{'-' if kwh is None else f'{kwh:.2g}'} | {diff} |")
    g = r["goal"]
    return "\n".join([f"{made_by(r).split(' --method')[0]}` ... at {r['commit'][:7]} (the full command is in the "
                      "JSON): "
                      f"{r['n_subnets']} subnets x {r['n_rows'] // r['n_subnets']} seeds of the `{r['table_identity']['space_name']}` "
                      f"space at {r['table_identity']['data']['image_size']} px. Noise ceiling (seed-to-seed tau of the "
                      f"table): **{r['noise_ceiling_tau']:.3f}** {interval_text(r['noise_ceiling_tau_ci'])}, "
                      f"{r['noise_ceiling_tau_no_extremes']:.3f} without the extremes.", "", *rows, "",
                      f"Method kept: `{r['best_method']}` (another replaces the default only beyond noise). Goals for "
                      f"the default: tau >= 0.6 {met(g['kendall_tau_no_extremes_ge_0.6'])}, >= 0.8 x ceiling "
                      f"{met(g['kendall_tau_no_extremes_ge_0.8_noise_ceiling'])}, top-5 regret "
                      f"{r['top5_regret_points']:.2f} points <= half of a random ranking's expected "
                      f"{r['random_top5_regret_points']:.2f} {met(g['top5_regret_le_0.5_random'])}; the table: "
                      f"ceiling tau >= 0.6 {met(g['noise_ceiling_tau_ge_0.6'])}, >= 32 subnets "
                      f"{met(g['n_subnets_ge_32'])}."])


def cost_range() -> str:
    """The space's smallest, middle and largest subnet against the baselines (``cost_range.json``)."""
    r = load_result("cost_range.json")
    rows = ["| model | M MACs | k params | ms, batch 1 | ms, serving batch |", "| --- | ---: | ---: | ---: | ---: |"]
    for name, m in [*((k, r[k]) for k in ("smallest", "middle", "largest")), *r["baselines"].items()]:
        rows.append(f"| {name} | {m['macs'] / 1e6:.2f} | {m['params'] / 1e3:.1f} | {m['latency_ms_b1']:.2f} | "
                    f"{m['latency_ms_serving']:.2f} |")
    g = r["goals"]
    return "\n".join([f"{made_by(r)}: MACs and parameters counted, latency timed in one interleaved session "
                      f"(random weights). The space spans {r['macs_range']:.1f}x in MACs.", "", *rows, "",
                      f"Goals: smallest below the cheapest baseline in MACs {met(g['smallest_below_cheapest_baseline_macs'])}, "
                      f"at batch 1 {met(g['smallest_below_cheapest_baseline_latency_ms_b1'])}, at the serving batch "
                      f"{met(g['smallest_below_cheapest_baseline_latency_ms_serving'])}; largest above MobileNetV2 "
                      f"0.5 in MACs {met(g['largest_above_mobilenetv2_050_macs'])}."])


def lut_accuracy() -> str:
    """The cost table against end-to-end measurement, per batch size and round (``lut_accuracy.json``)."""
    r = load_result("lut_accuracy.json")
    rows = ["| batch | MAPE (per round) | signed bias (per round) | retest MAPE | tables apart | drift between rounds "
            "| round 1's table vs round 2's machine |", "| ---: | --- | --- | ---: | ---: | ---: | ---: |"]
    for bs, b in r["by_batch"].items():
        rows.append(f"| {bs} | {pct(b['mape'])} ({', '.join(pct(x) for x in b['mape_per_round'])}) | "
                    f"{pct(b['bias'], True)} ({', '.join(pct(x, True) for x in b['bias_per_round'])}) | "
                    f"{pct(b['retest_mape'])} | {pct(b.get('table_retest_mape'))} | "
                    + (f"{b['drift_between_rounds']:.3f}x" if "drift_between_rounds" in b else "n/a")
                    + f" | {pct(b.get('cross_round_mape'))} |")
    builds = ", ".join(f"{x['build_seconds']:.0f} s" for x in r["raw"]["rounds"])
    g = r["goals"]
    return "\n".join([f"{made_by(r)}: the `{r['space']}` space's table ({r['n_ops']} ops, built in {builds}, "
                      f"{r['threads']} thread(s)) against {r['n_subnets']} random subnets, in {r['rounds']} rounds of "
                      "(build the table, validate it), each subnet timed twice per validation, interleaved trial by "
                      "trial.", "", *rows, "",
                      f"Batch {r['batch_size']}: MAPE over the retest's {r['mape_over_retest']:.2f} "
                      f"{interval_text(r['mape_over_retest_ci'], '.2f')} "
                      f"(goal <= 1.1 {met(g['lut_mape_le_1.1x_retest'])}), "
                      f"Spearman {r['lut_spearman']:.3f} {interval_text(r['lut_spearman_ci'])} "
                      f"(retest {r['retest_spearman']:.3f}; "
                      f"goal >= 0.9 {met(g['lut_spearman_ge_0.9'])}), bias {pct(r['bias'], True)} "
                      f"{interval_text(r['bias_ci'], '+.1%')}, build under 10 minutes {met(g['build_under_10_min'])}. "
                      "Bootstrap 95% intervals over subnets."])


def _optimizer_common(r: JSONObject) -> list[str]:
    ranks = ", ".join(f"{k} {v:.2f}" for k, v in r["mean_rank"].items())
    return [f"Mean rank over hypervolume and IGD in the unconstrained cells (1 = best of {len(r['mean_rank'])}): "
            f"{ranks}."]


def optimizer() -> str:
    """The engine against pymoo, DEAP's loop, random search and rejection sampling (``optimizer.json``)."""
    r = load_result("optimizer.json")
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
    return "\n".join([f"{made_by(r)}: population {c['population']}, seeds {c['seeds'][0]}-{c['seeds'][-1]}, budgets "
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
                      f"{met(g['no_cell_worse_than_peers_holm'])}; better than all of them in a quarter of the cells "
                      f"after Holm {met(g['better_in_a_quarter_of_cells_holm'])}; overhead flat and at most 0.3 ms "
                      f"{met(g['overhead_flat_at_most_0_3_ms'])}; whole budget feasible "
                      f"{met(g['constrained_whole_budget_feasible'])}; better than rejection sampling beyond noise "
                      f"{met(g.get('constrained_better_than_rejection_sampling'))}.", "",
                      f"Engine overhead per unique evaluation with a run folder (ms, median of repeats): {oh} "
                      f"(growth {r['overhead_growth']:.2f}x from the smallest budget to the largest)."])


def optimizer_tuning() -> str:
    """How the engine's defaults were chosen, on instances the benchmark does not score."""
    r, bench = load_result("optimizer_tuning/optimizer.json"), load_result("optimizer.json")
    c, seeds = r["config"], bench["config"]["seeds"]
    e = c["engine_settings"]["engine"]
    overlap = sorted(set(c["problems"]) & set(bench["config"]["problems"]))
    few = ", ".join(f"{k} {v:.2f}" for k, v in r.get("mean_rank_few_choice", {}).items())
    variants = "; ".join(f"`{k}`: " + ", ".join(f"{f} {v}" for f, v in kw.items() if f != "algorithm")
                         for k, kw in c["engine_variants"].items() if k != "engine")
    return "\n".join([f"{made_by(r)}: problems {', '.join(c['problems'])} ("
                      + (f"shared with the benchmark: {', '.join(overlap)}" if overlap else "none of them a benchmark cell")
                      + f"), seeds {c['seeds'][0]}-{c['seeds'][-1]} (the benchmark's are {seeds[0]}-{seeds[-1]}), budgets "
                      f"{', '.join(map(str, c['budgets']))}. `engine` is the default set-up ({e['crossover']} crossover, "
                      f"{e['mutation']} mutation, eta {e['eta_mut']}, per-gene rate 1 / genome length, at least 0.05); "
                      f"the others: {variants} (a rate `1/n`: 1 / genome length).", "", *_optimizer_common(r), "",
                      f"Mean rank in the few-choice cells alone: {few}.", "",
                      "The crossover and its distribution indices were chosen by an earlier run on the ZDT, DTLZ2 and "
                      "`nas-4` instances alone (`bench/results/archive/optimizer_tuning_crossover.json`)."])


def budget_pilot() -> str:
    """The budget pilot of issue 32 (``budget_pilot.json``): the noise ceiling of a ground-truth table per recipe."""
    r = load_result("budget_pilot.json")
    rows = ["| recipe | images x epochs | trainings | seed-to-seed tau [95% CI] | without extremes | mean test acc | "
            "32 x 2 table (CPU h, this machine) |", "| --- | --- | --- | --- | --- | ---: | ---: |"]
    for name, f in r["recipes"].items():
        t, tn = f["seed_tau"], f["seed_tau_no_extremes"]
        if t["tau"] is None:
            rows.append(f"| {name} | {f['train_images']} x {f['epochs']} | {f['trainings_done']}/"
                        f"{f['trainings_planned']} | not run | - | - | - |")
            continue
        rows.append(f"| {name} | {f['train_images']} x {f['epochs']} | {f['trainings_done']}/{f['trainings_planned']} | "
                    f"{t['tau']:.3f} {interval_text(t['ci'])} (n={t['n']}) | "
                    f"{'-' if tn['tau'] is None else format(tn['tau'], '.3f')} | "
                    f"{f['mean_test_acc']:.3f} | {f['table_cpu_hours']:.1f} |")
    pick = r["pick"]
    return "\n".join([f"{made_by(r)}: each recipe trains the same {r['raw']['recipes'][0]['planned'] // r['raw']['seeds']} "
                      f"cost-stratified subnets x {r['raw']['seeds']} seeds; energy {', '.join(r['energy_source'])} "
                      "(proportional to time here).", "", *rows, "",
                      f"Pick (the cheapest complete recipe whose ceiling reaches {r['goal_tau']}): "
                      + (f"**{pick}**, a full table in about {r['pick_table_cpu_hours']:.1f} CPU hours." if pick else
                         "**none**: no complete recipe reaches the goal.")])


def reference() -> str:
    """The reference supernet of issue 32 (``reference/reference.json``): how it was trained and whether it plateaued."""
    r = load_result("reference/reference.json")
    c, data = r["config"], r["config"]["data"]
    acc, pts = r["final_val_acc"], r["plateau_points"]
    logged = r["epochs_logged"]
    return "\n".join([
        f"{made_by(r)}: the `cifar` space trained once on CIFAR-10 at {data['image_size']} px "
        f"({'every training image outside' if data['train_subset'] is None else str(data['train_subset']) + ' images beside'} "
        f"a {data['split']} validation split of {data['val_size']}; the test split untouched) with "
        f"`{c['strategy']['_target_'].rsplit('.', 1)[-1]}` for {r['epochs_done']} of {r['epochs_planned']} planned "
        f"epochs. Every benchmark of the reference scale loads `bench/results/reference/supernet.ckpt`.", "",
        "| subnet | validation accuracy after the last epoch | moved over the last 3 epochs (points) |",
        "| --- | ---: | ---: |",
        *(f"| {s} | {acc[s]:.4f} | {'n/a' if pts[s] is None else format(pts[s], '.2f')} |"
          for s in ("largest", "middle", "smallest")), "",
        f"Plateau (largest and smallest below 0.5 points over the last 3 epochs of an ended schedule): "
        f"{met(r['plateau_reached'])}. Validation figures are logged for epochs {logged[0]}-{logged[-1]} (the "
        "TensorBoard files of the earlier sessions were not kept). Training energy: "
        f"{r['train_kwh']:.4f} kWh over {r['train_seconds'] / 3600:.1f} h in {r['train_sessions']} sessions of the "
        f"command ({r['energy_source']}, proportional to time here; an upper bound, as the wall time includes "
        "sessions where the training was paused or shared the machine)."])


def breakeven() -> str:
    """The two search routes' per-candidate costs measured interleaved (``breakeven.json``) and the break-even."""
    r = load_result("breakeven.json")
    raw, s, t = r["raw"], r["scoring_seconds"], r["trial_seconds"]
    b = raw["budget"]
    n_star = "never (a trial costs no more than scoring)" if r["breakeven_candidates"] is None else \
        f"**{r['breakeven_candidates']:.0f}** candidates"
    per_round = ", ".join("never" if x is None else f"{x:.0f}" for x in r["breakeven_candidates_per_round"])
    return "\n".join([
        f"{made_by(r)}: {len(raw['rounds'])} rounds, each {len(raw['rounds'][0]['scoring'])} candidates scored with "
        f"the supernet's weights (BN recalibration, {raw['val_images']} validation images) and one trained standalone "
        f"({b['epochs']} epochs on {b['train_images']} images, batch {b['batch_size']}, {b['optimizer']} lr {b['lr']}) "
        f"and scored on the same images, the order alternating by round, on {raw['threads']} thread(s); "
        f"{r['busy_items']} of {r['items']} items ran while other processes were busy.", "",
        "| per candidate | median s | p10-p90 s | kWh (median) |", "| --- | ---: | ---: | ---: |",
        f"| one-shot scoring | {s['median']:.2f} | {s['p10']:.2f}-{s['p90']:.2f} | {r['scoring_kwh']:.3g} |",
        f"| multi-trial trial | {t['median']:.1f} | {t['p10']:.1f}-{t['p90']:.1f} | {r['trial_kwh']:.3g} |", "",
        f"A trial costs {r['trial_over_scoring']:.0f} scorings. Against the supernet's training "
        f"({raw['supernet_kwh']:.4f} kWh, its booked record) the one-shot route is cheaper beyond {n_star} (per round: "
        f"{per_round}; {r['interval']}"
        + (f", {interval_text(r['breakeven_candidates_ci95'], '.0f')}" if r["breakeven_candidates_ci95"] else "")
        + f"); at {r['candidates']} candidates its energy is {r['energy_ratio']:.3f} of the multi-trial route's. "
        f"On one scale (the supernet's {raw['supernet_record']['seconds'] / 3600:.1f} booked hours priced at this "
        f"session's power figure: {r['same_scale']['supernet_kwh']:.4f} kWh) the break-even is "
        + ("never" if r["same_scale"]["breakeven_candidates"] is None else
           f"{r['same_scale']['breakeven_candidates']:.0f} candidates")
        + f" and the ratio at {r['candidates']} is {r['same_scale']['energy_ratio']:.3f}. "
        f"Energy: {r['energy_source']}."])
