"""The report's section on the two search routes: the one-shot route (a supernet, then cheap scoring of each
candidate) against the multi-trial route it replaces (a short training per candidate), by energy and by the test
hypervolume of their final fronts, at the candidate counts each search used and, where the run has the
``eq_search``/``eq_finetune`` stages, with the one-shot route searched at the multi-trial route's count; then the
break-even counts (:mod:`search.pipeline.breakeven`)."""
from __future__ import annotations

from typing import Any


def _hv_text(figs: dict) -> str:
    """A hypervolume ratio with its interval, or its per-seed values where there are too few seeds for one."""
    ci = figs["test_hv_ratio_ci95"]
    return f"**{figs['test_hv_ratio']:.3f}** (" + (
        f"95% bootstrap CI over seeds {ci[0]:.3f}-{ci[1]:.3f}" if ci else
        "per seed " + ", ".join(f"{x:.3f}" for x in figs["test_hv_ratio_per_seed"]) + "; no interval below 5 seeds") + ")"


def routes_lines(mt: dict | None, images: dict[str, str]) -> list[str]:
    """Markdown lines of the section (none when the run has no multi-trial route)."""
    if not mt:
        return []
    lines: list[Any] = []
    eq = mt.get("equal_candidates")
    lines += ["### One-shot vs multi-trial search", "",
              f"At {mt['candidates']['one_shot']} vs {mt['candidates']['multi_trial']} evaluated candidates, the "
              f"one-shot route took {mt['one_shot_kwh']:.4g} kWh and the multi-trial route "
              f"{mt['multi_trial_kwh']:.4g} kWh: energy ratio **{mt['energy_ratio']:.3f}** (below 1 the supernet "
              f"saves energy). Test hypervolume (accuracy vs energy) of the one-shot final front over the "
              f"multi-trial one: {_hv_text(mt)}. Trial budget: {mt['trial_budget']}.", ""]
    if eq:
        lines += [f"At equal candidates (the one-shot route searched with the multi-trial route's "
                  f"{mt['candidates']['multi_trial']}: {eq['candidates']} evaluated, its top models fine-tuned like "
                  f"the winners, E1, ... on the charts), the test hypervolume ratio is {_hv_text(eq)}.", ""]
    b = mt.get("breakeven")
    if b:
        n_star = "never (a trial costs no more than scoring)" if b["breakeven_candidates"] is None else \
            f"**{b['breakeven_candidates']:.0f}** candidates"
        k_star = f"paid back after **{b['breakeven_deployments']:.1f}** deployed models" \
            if b["breakeven_deployments"] is not None else f"paid back: {b.get('deployments_note') or 'never, or unknown'}"
        lines += [f"Break-even: the supernet's training ({b['supernet_kwh']:.4g} kWh) against {b['trial_kwh']:.3g} "
                  f"kWh per multi-trial candidate and {b['scoring_kwh']:.3g} kWh per one-shot one: the one-shot "
                  f"route is cheaper beyond {n_star}; at this search's {b['candidates']} the energy ratio is "
                  f"{b['energy_ratio']:.3f}. Against training from scratch (this run's scratch recipe) it is "
                  f"{k_star}. The cost table serves both routes and is left out.", "",
                  f"![break-even]({images['breakeven']})", ""]
    return lines
