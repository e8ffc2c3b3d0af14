"""The README's results table: one row per committed benchmark, its headline figure and its goals, each row linking
to the benchmark's section in docs/benchmarks.md (where :mod:`.speed`, :mod:`.search` and :mod:`.checks` write the
full figures from the same JSONs)."""
from __future__ import annotations

from typing import Callable

from bench.sections.reruns import hpo_row, pipeline_row, recall_row, search_quality_row
from bench.sections.text import RESULTS, interval_text, load_result, met, pct

PAGE = "docs/benchmarks.md"
Row = tuple[str, str, str]  # the commit it ran at, the headline, the goals


def _at(commit: str, quick: bool | None) -> str:
    return commit[:7] + (" (quick run: reduced budget, not judged)" if quick else "")


def _cost_range() -> Row:
    r = load_result("cost_range.json")
    ours = [r[k]["macs"] / 1e6 for k in ("smallest", "largest")]
    base = sorted(m["macs"] / 1e6 for m in r["baselines"].values())
    g = r["goals"]
    space = r["config"]["composed"]["space"]["name"]
    return (_at(r["commit"], r.get("quick")),
            f"the `{space}` space's subnets span {ours[0]:.2f}-{ours[1]:.2f} M MACs ({r['macs_range']:.1f}x); "
            f"the {len(base)} baselines {base[0]:.2f}-{base[-1]:.2f} M",
            f"smallest below the cheapest baseline in MACs {met(g['smallest_below_cheapest_baseline_macs'])}, in "
            f"latency at batch 1 {met(g['smallest_below_cheapest_baseline_latency_ms_b1'])}, at the serving batch "
            f"{met(g['smallest_below_cheapest_baseline_latency_ms_serving'])}; largest above MobileNetV2 0.5 in MACs "
            f"{met(g['largest_above_mobilenetv2_050_macs'])}")


def _lut_accuracy() -> Row:
    r = load_result("lut_accuracy.json")
    b, g = r["by_batch"][str(r["batch_size"])], r["goals"]
    return (_at(r["commit"], r.get("quick")),
            f"batch {r['batch_size']}: the table's predictions are off by {pct(b['mape'])} (MAPE; the machine's "
            f"own retest: {pct(b['retest_mape'])}), Spearman {r['lut_spearman']:.3f} over {r['n_subnets']} subnets",
            f"Spearman >= 0.9 {met(g['lut_spearman_ge_0.9'])}; MAPE <= 1.1x the retest's "
            f"{met(g['lut_mape_le_1.1x_retest'])}; build under 10 minutes {met(g['build_under_10_min'])}")


def _optimizer() -> Row:
    r = load_result("optimizer.json")
    g, ranks = r["goals"], r["mean_rank"]
    refs = ", ".join(r.get("reference_peers", r.get("pymoo_setups", [])))
    return (_at(r["commit"], r.get("quick")),
            f"against pymoo's and DEAP's NSGA-II ({refs}): worse in {r['cells_worse_holm']} and better than all "
            f"in {r['cells_better_holm']} of {r['cells_total']} cells after Holm; mean rank "
            f"{ranks['engine']:.2f} (1 = best of {len(ranks)})",
            f"never worse after Holm {met(g['no_cell_worse_than_peers_holm'])}; better than all in a quarter of the "
            f"cells {met(g['better_in_a_quarter_of_cells_holm'])}; overhead flat, <= 0.3 ms "
            f"{met(g['overhead_flat_at_most_0_3_ms'])}; constrained: whole budget feasible "
            f"{met(g['constrained_whole_budget_feasible'])}, beats rejection sampling "
            f"{met(g.get('constrained_better_than_rejection_sampling'))}")


def _ranking() -> Row:
    if not (RESULTS / "ranking.json").is_file():
        r = load_result("archive/ranking_c10_small.json")
        return (_at(r["commit"], r.get("quick")),
                "no reference-scale ranking committed yet; the archived small table's noise ceiling (tau "
                f"{r['noise_ceiling_tau']:.3f}) was too low to judge a ranking method by", "not judged (archived)")
    r = load_result("ranking.json")
    g = r["goal"]
    return (_at(r["commit"], r.get("quick")),
            f"default `{r['method']}`: Kendall tau {r['kendall_tau_no_extremes']:.3f} "
            f"{interval_text(r['kendall_tau_no_extremes_ci'])} without the extremes against a noise ceiling of "
            f"{r['noise_ceiling_tau']:.3f}; method kept: `{r['best_method']}`",
            f"tau >= 0.6 {met(g['kendall_tau_no_extremes_ge_0.6'])}; >= 0.8 x ceiling "
            f"{met(g['kendall_tau_no_extremes_ge_0.8_noise_ceiling'])}; top-5 regret <= half a random ranking's "
            f"{met(g['top5_regret_le_0.5_random'])}")


def _throughput() -> Row:
    r = load_result("throughput.json")
    sp, g = r["speedup_vs_nchw"], r["goals"]
    held = {k: v["ratio"] for k, v in r["paths"].items() if v["held_to_ratio"]}
    slowest = min(held, key=held.__getitem__)
    return (_at(r["commit"], r.get("quick")),
            f"channels_last trains the supernet {sp['supernet_largest']['median']:.2f}x (largest subnet) and "
            f"{sp['supernet_middle']['median']:.2f}x (middle) as fast as NCHW; the slowest path ({slowest}) runs at "
            f"{r['min_ratio_vs_bare']:.2f}x the speed of a bare PyTorch loop doing the same arithmetic",
            f"speedup >= 2x {met(g['supernet_speedup_at_least_2'])}; every path >= 0.9x the bare loop "
            f"{met(g['min_ratio_vs_bare_at_least_0.9'])}")


def _walltime() -> Row:
    r = load_result("walltime.json")
    w = r["walltimes"]
    return (_at(r["commit"], r.get("quick")),
            f"the quickstart's `green-run` took {w['quickstart']['after_s']:.0f} s and `pytest` "
            f"{w['tests']['after_s']:.0f} s at {r['refs'][1]} (one run each)", "-")


def _first_hour() -> Row | None:
    if not (RESULTS / "first_hour.json").is_file():
        return None
    r = load_result("first_hour.json")
    return (_at(r["commit"], r.get("quick")),
            f"fresh clone: install {r['install_s']:.0f} s, quickstart {r['quickstart_s']:.0f} s idle and "
            f"{r['loaded_over_idle']:.1f}x that beside two busy processes, fast tests {r['tests_s']:.0f} s, "
            f"`green-run --help` {r['help_s']:.1f} s",
            f"quickstart <= 120 s {met(r['goals']['quickstart_within_120s'])}; loaded within 3x "
            f"{met(r['goals']['loaded_within_3x'])}; tests <= 300 s {met(r['goals']['tests_within_300s'])}; "
            f"--help <= 3 s {met(r['goals']['help_within_3s'])}")


def _parallel() -> Row:
    r = load_result("parallel.json")
    bound = r["bound"]["ratio_without_overhead"]
    return (_at(r["commit"], r.get("quick")),
            f"{r['models']} fine-tunes, {r['jobs']} at a time on {r['raw']['cores']} cores: "
            f"{r['wall_ratio']:.3f}x the wall time of one after another; the same weights at equal threads: "
            f"{'yes' if r['identical_at_equal_threads'] else 'no'}",
            f"within 5% of the bound without setup cost ({bound:.3f}) {met(r['wall_ratio'] <= 1.05 * bound)}")


def _supernet_overhead() -> Row:
    r = load_result("supernet_overhead.json")
    return (_at(r["commit"], r.get("quick")),
            f"a supernet training step takes {r['median_step_ratio']:.3f}x "
            f"{interval_text(r['median_step_ratio_ci'])} the extracted static network's",
            f"<= {r['goal']['median_step_ratio_max']} {met(r['goal']['met'])}")


def _bad_input() -> Row:
    r = load_result("bad_input.json")
    n = r["passed"] + len(r["failed"])
    return (_at(r["commit"], r.get("quick")),
            f"{r['passed']} of {n} faults and bad inputs keep the promise (one line, exit status, nothing lost or "
            "half-written)", f"all {met(not r['failed'])}")


def _mutation() -> Row | None:
    if not (RESULTS / "mutation.json").is_file():
        return None
    r = load_result("mutation.json")
    return (_at(r["commit"], r.get("quick")),
            f"{r['killed']} of {r['mutants_run']} mutants of the figure code killed by the tests; "
            f"{len(r['equivalent'])} equivalent, each with its reason; {len(r['survivors'])} survivors",
            f"no survivor {met(r['goal']['no_survivor'])}")


ROWS: tuple[tuple[str, str, Callable[[], Row | None]], ...] = (
    ("The pipeline at the reference scale", "the-pipeline-at-the-reference-scale", pipeline_row),
    ("Search quality on the reference supernet", "search-hpo-and-recall-on-the-reference-supernet",
     search_quality_row),
    ("Training-hyperparameter search", "search-hpo-and-recall-on-the-reference-supernet", hpo_row),
    ("Worst-class recall on long-tailed data", "search-hpo-and-recall-on-the-reference-supernet", recall_row),
    ("Cost range of the space", "cost-range-of-the-space", _cost_range),
    ("Cost table against measurement", "cost-table-against-measurement", _lut_accuracy),
    ("Search engine", "search-engine", _optimizer),
    ("Ranking methods", "ranking-methods", _ranking),
    ("Training speed", "training-speed", _throughput),
    ("Wall time of the quickstart", "training-speed", _walltime),
    ("A newcomer's first hour", "a-newcomers-first-hour", _first_hour),
    ("Parallel jobs", "parallel-jobs-wall-time-and-setup", _parallel),
    ("Supernet overhead", "supernet-overhead", _supernet_overhead),
    ("Bad input", "bad-input", _bad_input),
    ("Mutation testing", "mutation-testing-of-the-figure-code", _mutation),
)


def headlines() -> str:
    """One row per committed result: what it says, the commit it ran at and its goals (met or **not met**)."""
    rows = ["| benchmark | at | headline | goals |", "| --- | --- | --- | --- |"]
    for title, anchor, fn in ROWS:
        row = fn()
        if row is not None:
            when, headline, goals = row
            rows.append(f"| [{title}]({PAGE}#{anchor}) | {when} | {headline} | {goals} |")
    return "\n".join(rows)
