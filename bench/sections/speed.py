"""The figure sections (docs/benchmarks.md) on speed: training paths against a bare loop, wall times, parallel jobs,
and the supernet's step against the static net's."""
from __future__ import annotations

from bench.sections.text import RESULTS, interval_text, load_result, made_by, met, variant_label


def throughput() -> str:
    """Project paths against a bare PyTorch loop, and channels_last against NCHW (``throughput.json``)."""
    r = load_result("throughput.json")
    head = (f"`python bench/throughput.py` at {r['commit'][:7]}: `{r['space']}` space, batch {r['batch_size']}, "
            f"{r['image_size']} px, {r['cores']} cores ({r['cpu_capability']}), torch {r['torch']}, "
            f"{r['rounds']} interleaved rounds (median img/s; the project at its default, "
            f"{variant_label(r['default_variant'])}; the bare loop in its fastest variant at the same threads).")
    rows = ["| path | project img/s | bare loop img/s (its best variant) | ratio | channels_last / NCHW |",
            "| --- | ---: | ---: | ---: | ---: |"]
    for path, p in r["paths"].items():
        sp = r["speedup_vs_nchw"].get(path)
        speedup = f"{sp['median']:.2f}x" if sp else "-"
        rows.append(f"| {path}{'' if p['held_to_ratio'] else ' (reported only)'} | {p['img_s']:.0f} | "
                    f"{p['bare_img_s']:.0f} ({variant_label(p['bare_best_variant'])}) | {p['ratio']:.2f} | {speedup} |")
    variants = ["| path | " + " | ".join(variant_label(v) for v in r["variants"]) + " |",
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
    r = load_result("walltime.json")
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
    r = load_result("parallel.json")
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


def supernet_overhead() -> str:
    """The supernet's step with an arch active against the extracted static net (``supernet_overhead.json``)."""
    r = load_result("supernet_overhead.json")
    sp = r["step_ratio_spread"]
    return (f"{made_by(r)}: {sp['n']} random archs of the `{r['space']}` space, a training step (batch {r['batch']}) "
            f"interleaved, {r['repeats']} repeats: median step ratio supernet / static **{r['median_step_ratio']:.3f}** "
            f"{interval_text(r['median_step_ratio_ci'])} (per arch {sp['min']:.2f}-{sp['max']:.2f}; goal <= "
            f"{r['goal']['median_step_ratio_max']} {met(r['goal']['met'])}); largest logit difference "
            f"{r['max_abs_logit_diff']:.3g}. Run in NCHW, before channels_last became the default.")


def first_hour() -> str:
    """The README's quickstart wall times: a newcomer's fresh clone, install, quickstart, tests (``first_hour.json``)."""
    if not (RESULTS / "first_hour.json").is_file():
        return "Wall times: not measured yet (`python bench/first_hour.py`)."
    r = load_result("first_hour.json")
    runs = ", ".join(f"{v:.0f}" for v in r["quickstart_values_s"])
    loaded = ", ".join(f"{v:.0f}" for v in r["quickstart_loaded_values_s"])
    return (f"Measured from a fresh clone at {r['ref']} on a 2-core VM (`python bench/first_hour.py`; pip's cache "
            f"warm, load recorded): install {r['install_s']:.0f} s; `green-run` {r['quickstart_s']:.0f} s idle (median "
            f"of {runs} s) and {r['quickstart_loaded_s']:.0f} s beside two busy processes ({loaded} s: "
            f"{r['loaded_over_idle']:.1f}x); the fast tests {r['tests_s']:.0f} s; `green-run --help` "
            f"{r['help_s']:.1f} s (median of {', '.join(f'{v:.1f}' for v in r['help_values_s'])} s).")
