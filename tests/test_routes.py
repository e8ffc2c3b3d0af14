"""The report's section on the two search routes (search.pipeline.routes): what it says at each search's own count,
at equal candidates when the run has them, and nothing without a multi-trial route."""
from search.pipeline.routes import routes_lines


def _figs(ratio, per_seed, ci=None):
    return {"test_hv_ratio": ratio, "test_hv_ratio_ci95": ci, "test_hv_ratio_per_seed": per_seed}


def _mt(**more):
    return {"candidates": {"one_shot": 4000, "multi_trial": 48}, "one_shot_kwh": 0.3, "multi_trial_kwh": 0.5,
            "energy_ratio": 0.6, "trial_budget": {"epochs": 5}, **_figs(1.1, [1.0, 1.2]), **more}


def test_no_multi_trial_route_no_section():
    assert routes_lines(None, {}) == []


def test_own_counts_then_equal_candidates_with_intervals_only_from_five_seeds():
    text = "\n".join(routes_lines(_mt(), {}))
    assert "At 4000 vs 48 evaluated candidates" in text and "**1.100** (per seed 1.000, 1.200; no interval" in text
    assert "At equal candidates" not in text
    eq = {"candidates": 48, **_figs(0.95, [0.9, 0.93, 0.95, 0.97, 1.0], ci=[0.91, 0.99])}
    text = "\n".join(routes_lines(_mt(equal_candidates=eq), {}))
    assert "At equal candidates" in text and "48 evaluated" in text
    assert "**0.950** (95% bootstrap CI over seeds 0.910-0.990)" in text
