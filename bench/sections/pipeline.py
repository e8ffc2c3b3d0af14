"""The figure section (docs/benchmarks.md) of the pipeline at the reference scale: every final model's recipe and
test accuracy per seed, the winners against their scratch twins, the baselines dominated beyond noise, the
break-even from the run's own ledger and the multi-trial comparison, judged against the goals (``pipeline.json``).

Per-seed values are printed, not intervals, where there are fewer than 5; the twins' intervals are the paired
image bootstraps :mod:`search.pipeline.twins` computes (their ``interval`` field says which)."""
from __future__ import annotations

from search.pipeline.summary import own_lr
from bench.sections.text import RESULTS, interval_text, load_result, made_by, met

KINDS = (("finetune", "winner, inherited weights + fine-tune"), ("scratch", "twin from scratch, full recipe"),
         ("scratch_ft", "twin from scratch, fine-tune epochs"), ("baselines", "hand-designed baseline"),
         ("mt_train", "multi-trial final"), ("eq_finetune", "one-shot final at the multi-trial count"))


def _recipe(b: dict) -> str:
    """One model's training recipe in a few words: epochs, images, optimizer and learning rate, distillation."""
    init = "inherited" if b.get("init") == "inherited" else "scratch"
    return (f"{b['epochs']} ep x {b['train_images']} img, {b['optimizer']} lr {b['lr']:g}, {init}"
            + (", distilled" if b.get("distilled") else ""))


def _models(r: dict) -> list[str]:
    rows = ["| stage | model | recipe | test accuracy per seed | latency b1 ms | energy mJ/image | params |",
            "| --- | --- | --- | --- | ---: | ---: | ---: |"]
    for stage, label in KINDS:
        for m in r["raw"]["models"].get(stage, []):
            accs = ", ".join(f"{a:.4f}" for a in m["test_acc_per_seed"])
            rows.append(f"| {stage} ({label}) | {m['name']} | {_recipe(m['budget'])} | {accs} | "
                        f"{m['latency_ms']:.3f} | {m['energy_mj_per_image']:.3g} | {m['params']:,} |")
    return rows


def _twins(r: dict) -> list[str]:
    out = []
    for name, what in (("equal_epochs", "the same archs from scratch with the fine-tune's epochs"),
                       ("full_recipe", "the same archs from scratch with the full scratch recipe")):
        t = r["twins"].get(name)
        if not t:
            out.append(f"- Against {what}: no such stage in the run.")
            continue
        seeds = ", ".join(f"{v:+.2f}" for v in t["per_seed_points"])
        out.append(f"- Against {what}: {t['diff_points']:+.2f} points {interval_text(t['diff_ci'], '+.2f')} "
                   f"(per seed: {seeds}; {t['interval']}).")
    return out


def _own_lr(r: dict) -> str:
    """The baselines trained with their own learning rate (``model_lr``: they failed under the shared one)."""
    models = r["raw"]["models"]
    shared = {m["budget"]["lr"] for m in models["finetune"]}
    own = [f"{m['name']} at lr {m['budget']['lr']:g}" for m in own_lr(models["finetune"], models.get("baselines", []))]
    return (f" Given their own learning rate after failing under the shared {', '.join(map(format, shared))}: "
            f"{', '.join(own)}." if own else "")


def _k(b: dict) -> str:
    """K*, or why there is none (older results carry no note)."""
    if b["deployments"] is not None:
        return f"after {b['deployments']:.1f} deployed models"
    return b.get("deployments_note") or "never, or unknown"


def _breakeven(r: dict) -> list[str]:
    b, same = r.get("breakeven"), r.get("breakeven_same_scale")
    if not b:
        return ["No break-even: the run has no multi-trial search."]
    n = r["search_candidates"]
    text = (f"Break-even from the run's own ledger: the one-shot route is cheaper beyond **{b['candidates']:.0f}** "
            f"candidates; at the search's {n} its energy is {b['energy_ratio']:.3f} of the multi-trial route's; the "
            f"supernet's training is paid back against training the archs from scratch {_k(b)}.")
    if same:
        text += (f" On one scale (every stage's booked seconds at one power figure, the supernet's included): "
                 f"{same['candidates']:.0f} candidates, ratio {same['energy_ratio']:.3f}, deployments: {_k(same)}.")
    return [text]


def _multi_trial(r: dict) -> list[str]:
    mt = r.get("multi_trial")
    if not mt:
        return ["No multi-trial route in the run."]
    c = mt["candidates"]
    return [f"Multi-trial route ({c['multi_trial']} candidates, each trained standalone) against the one-shot route "
            f"at {mt['hv_at']} ({c.get('one_shot_equal') or c['one_shot']} candidates): test "
            f"hypervolume of the one-shot finals over the multi-trial finals' {mt['test_hv_ratio']:.3f} "
            f"{interval_text(mt['test_hv_ratio_ci95'], '.3f', mt['test_hv_ratio_per_seed'])}; "
            f"at the default search's {c['one_shot']} candidates {mt['test_hv_ratio_default_search']:.3f}. Energy "
            f"of the one-shot route over the multi-trial route's at {c['one_shot']} candidates: "
            f"{mt['energy_ratio']:.3f} (at each search's own count: {mt['energy_ratio_own_counts']:.3f})."]


def pipeline() -> str:
    """The run's budget, every final model, the twins, the baselines, the break-even, the multi-trial comparison
    and the goals (or, before the full run, that there is none)."""
    if not (RESULTS / "pipeline.json").is_file():
        return "No full run is committed yet: no figures here until `bench/results/pipeline.json` is."
    r = load_result("pipeline.json")
    d = r["dominated_beyond_noise"]
    names = lambda key: ", ".join(d["names"][key]) or "none"  # noqa: E731
    goals = r["goal"]
    lines = [f"{made_by(r)}: {r['train_images']} training images, {r['seeds']} seeds per final model, "
             f"{r['k']} winners from a search of {r['search_candidates']} candidates; energies "
             f"{', '.join(r['energy_sources'])} (proportional to time here, one power figure for the measurement "
             "session).", "", *_models(r), "", "Winners against their twins (test accuracy, points):", *_twins(r), "",
             f"Baselines some winner dominates beyond noise: on accuracy and latency {d['latency']} of {d['of']} "
             f"({names('latency_ms')}), on accuracy and energy {d['energy']} of {d['of']} "
             f"({names('energy_mj_per_image')}); without the noise margin {r['dominated_plain']['latency']} and "
             f"{r['dominated_plain']['energy']}."
             + (f" Failed trainings (within 5 points of chance): {', '.join(r['failed_trainings'])}."
                if r["failed_trainings"] else "") + _own_lr(r), "", *_breakeven(r), "", *_multi_trial(r), ""]
    if isinstance(goals, str):
        return "\n".join([*lines, f"Goals: {goals}."])
    rows = ["| goal | |", "| --- | --- |", *(f"| {k} | {met(v)} |" for k, v in goals.items())]
    return "\n".join([*lines, *rows])
