"""The figure sections (docs/benchmarks.md) of the headlines rerun on the reference supernet: NSGA-II against
random search (``search_quality.json``), the training-hyperparameter search (``hpo.json``) and the search on
worst-class recall on long-tailed data (``recall.json``). Each says so when its result is not committed yet, and
prints per-seed values where an interval would rest on fewer than 5."""
from __future__ import annotations

from bench.sections.text import RESULTS, interval_text, load_result, made_by, met


def _committed(name: str) -> dict | None:
    """The committed result, or None before it is (a README row is then left out)."""
    return load_result(name) if (RESULTS / name).is_file() else None


def _missing(name: str) -> str | None:
    return None if (RESULTS / name).is_file() else f"No full run is committed yet: no figures here until " \
                                                     f"`bench/results/{name}` is."


def search_quality() -> str:
    """Hypervolume of NSGA-II's front against random search's (and the uniform-operator ablation), same budget."""
    if (gone := _missing("search_quality.json")):
        return gone
    r = load_result("search_quality.json")
    per = r["hv_per_seed"]
    rows = ["| seed | " + " | ".join(a for a in ("nsga2", "random", "nsga2_uniform") if a in per) + " |",
            "| --- |" + " ---: |" * (len(per) - 1)]
    for i, s in enumerate(per["seeds"]):
        rows.append(f"| {s} | " + " | ".join(f"{per[a][i]:.4f}" for a in ("nsga2", "random", "nsga2_uniform")
                                            if a in per) + " |")
    g = r["goals"]
    return "\n".join([
        f"{made_by(r)}: {r['n_seeds']} seeds, {r['budget']} unique evaluations per run (population "
        f"{r['population']}), objectives accuracy (on {r['eval_images']} validation images, BN recalibrated on "
        f"{r['calib_images']}), latency and parameters; {r['distinct_archs_evaluated']} distinct subnets evaluated in "
        f"{r['search_seconds'] / 60:.0f} min. Random search is the chance line: the same budget drawn uniformly.", "",
        *rows, "",
        f"NSGA-II over random search, hypervolume ratio {r['hv_ratio_mean']:.3f} "
        f"{interval_text(r['hv_ratio_mean_ci'], '.3f', r['hv_ratio_per_seed'])} (bootstrap over seeds); NSGA-II ahead "
        f"in {r['nsga2_wins']} of {r['n_seeds']} seeds (goal 4 of 5: {met(g['nsga2_wins_ge_4_of_5'])}; goal ratio >= "
        f"1.05: {met(g['hv_ratio_mean_ge_1.05'])})."
        + (f" Against its uniform-operator ablation: {r['hv_ratio_vs_uniform_mean']:.3f} "
           f"{interval_text(r['hv_ratio_vs_uniform_mean_ci'], '.3f', r['hv_ratio_vs_uniform_per_seed'])}, ahead in "
           f"{r['wins_vs_uniform']} of {r['n_seeds']}." if "hv_ratio_vs_uniform_mean" in r else "")
        + f" One inherited-weight evaluation costs {r['eval_cost_ratio']:.2f} "
        f"{interval_text(r['eval_cost_ratio_ci'], '.2f', r['eval_cost_ratios'])} plain inference passes over the "
        f"same images (goal <= 1.5: {met(g['eval_cost_ratio_le_1.5'])})."])


def hpo() -> str:
    """Held-out (report-slice) accuracy of the default recipe, green-hpo's choice and random search's."""
    if (gone := _missing("hpo.json")):
        return gone
    r = load_result("hpo.json")
    s = r["setup"]
    rows = ["| seed | default | green-hpo | random search |", "| --- | ---: | ---: | ---: |",
            *(f"| {p['seed']} | {p['default']['report_acc']:.4f} | {p['hpo']['report_acc']:.4f} | "
              f"{p['random']['report_acc']:.4f} |" for p in r["per_seed"])]
    d, x = r["hpo_minus_default"], r["hpo_minus_random"]
    return "\n".join([
        f"{made_by(r)}: arch `{s['arch']}`, {s['budget']} trials per search (population {s['population']}), "
        f"{s['epochs']} epochs per trial, {len(s['seeds'])} seeds. Trials are chosen on the select slice; the "
        f"accuracies below are on the {r['report_images']} held-out report images (binomial SE about "
        f"{r['acc_se']['hpo']:.4f}).", "", *rows, "",
        f"green-hpo minus the default: {d['mean']:+.4f} {interval_text(d['ci95'], '+.4f', d['per_seed'])}; minus "
        f"random search: {x['mean']:+.4f} {interval_text(x['ci95'], '+.4f', x['per_seed'])} ({r['interval']}). "
        f"Gain over the default beyond its interval {met(r['goal']['hpo_above_default'])}; over random search "
        f"{met(r['goal']['hpo_above_random'])}."])


def recall() -> str:
    """Worst-class test recall of the winners searched with and without ``recall_min`` on long-tailed data."""
    if (gone := _missing("recall.json")):
        return gone
    r = load_result("recall.json")
    w, a, b = r["worst_class_recall"], r["test_acc"], r["raw"]["budgets"]
    rows = ["| seed | with recall_min: worst-class recall / test acc | without: worst-class recall / test acc |",
            "| --- | --- | --- |"]
    for x, y in zip(r["chosen"]["with_recall_min"], r["chosen"]["without"]):
        rows.append(f"| {x['seed']} | {x['test_recall_min']:.3f} / {x['test_acc']:.4f} | "
                    f"{y['test_recall_min']:.3f} / {y['test_acc']:.4f} |")
    n = r["noise"]
    return "\n".join([
        f"{made_by(r)}: imbalance ratio {r['imbalance_ratio']}, a supernet trained {b['supernet_epochs']} epochs on "
        f"the long-tailed data itself, searches of population {b['population']} x {b['generations']} generations, "
        f"winners fine-tuned {b['finetune_epochs']} epoch(s) under an energy budget of {r['energy_budget_mj']:.3g} "
        f"mJ; {r['seeds']} seeds.", "", *rows, "",
        f"Worst-class test recall {w['with_recall_min']:.3f} with the objective, {w['without']:.3f} without: gain "
        f"{r['worst_class_recall_gain']:+.3f} {interval_text(r['worst_class_recall_gain_ci95'], '+.3f', r['worst_class_recall_gain_per_seed'])}"
        f"; test accuracy {a['with_recall_min']:.4f} against {a['without']:.4f}, loss {r['test_acc_loss']:+.4f} "
        f"{interval_text(r['test_acc_loss_ci95'], '+.4f')}. Noise: binomial SE of a worst-class recall about "
        f"{n['se_worst_class_recall']:.3f}. Goal (higher worst-class recall, at most 1 point of accuracy lost): "
        f"{met(r['goal']['higher_worst_class_recall_at_most_1_point_acc_lost'])}; the gain beyond noise "
        f"(interval above 0) {met(r['goal'].get('higher_worst_class_recall_beyond_noise'))}."])


Row = tuple[str, str, str]  # as bench.sections.headlines: the commit it ran at, the headline, the goals


def pipeline_row() -> Row | None:
    """The pipeline at the reference scale, for the README's table: the winners against their twins and the
    baselines, and the two routes' energies."""
    if (r := _committed("pipeline.json")) is None:
        return None
    t, d, b, m, g = r["twins"], r["dominated_beyond_noise"], r["breakeven"], r["multi_trial"], r["goal"]
    accs = [a for x in r["raw"]["models"]["finetune"] for a in x["test_acc_per_seed"]]
    return (r["commit"][:7],
            f"{r['k']} winners from {r['search_candidates']} candidates, {r['seeds']} seeds, {r['train_images']} "
            f"images: test accuracy {min(accs):.3f}-{max(accs):.3f}, "
            f"{t['full_recipe']['diff_points']:+.1f} points {interval_text(t['full_recipe']['diff_ci'], '+.1f')} over "
            f"the same archs from scratch (full recipe) and {t['equal_epochs']['diff_points']:+.1f} at equal epochs; "
            f"baselines dominated beyond noise {d['latency']}/{d['of']} on latency, {d['energy']}/{d['of']} on "
            f"energy; one-shot cheaper beyond {b['candidates']:.0f} candidates (energy ratio {b['energy_ratio']:.3f} "
            f"at {r['search_candidates']}); test HV over the multi-trial route {m['test_hv_ratio']:.3f} at equal "
            f"candidates",
            "; ".join(f"`{k}` {met(v)}" for k, v in g.items()))


def search_quality_row() -> Row | None:
    if (r := _committed("search_quality.json")) is None:
        return None
    g = r["goals"]
    return (r["commit"][:7],
            f"NSGA-II over random search at {r['budget']} evaluations: hypervolume ratio {r['hv_ratio_mean']:.3f} "
            f"{interval_text(r['hv_ratio_mean_ci'], '.3f')}, ahead in {r['nsga2_wins']}/{r['n_seeds']} seeds",
            f"ahead in 4 of 5 {met(g['nsga2_wins_ge_4_of_5'])}; ratio >= 1.05 {met(g['hv_ratio_mean_ge_1.05'])}")


def hpo_row() -> Row | None:
    if (r := _committed("hpo.json")) is None:
        return None
    d = r["hpo_minus_default"]
    return (r["commit"][:7],
            f"green-hpo minus the default recipe on {r['report_images']} held-out images: {d['mean']:+.4f} "
            f"{interval_text(d['ci95'], '+.4f', d['per_seed'])} ({len(r['per_seed'])} seeds)",
            f"gain beyond its interval {met(r['goal']['hpo_above_default'])}")


def recall_row() -> Row | None:
    if (r := _committed("recall.json")) is None:
        return None
    return (r["commit"][:7],
            f"worst-class test recall {r['worst_class_recall']['with_recall_min']:.3f} searched with recall_min, "
            f"{r['worst_class_recall']['without']:.3f} without: {r['worst_class_recall_gain']:+.3f} "
            f"{interval_text(r['worst_class_recall_gain_ci95'], '+.3f', r['worst_class_recall_gain_per_seed'])}",
            f"gain beyond noise {met(r['goal'].get('higher_worst_class_recall_beyond_noise'))}")
