"""Break-even of the one-shot route (issue 32), with answers worked out by hand."""
from __future__ import annotations

import pytest
from pytest import approx

from search.pipeline.breakeven import BreakEven, from_ledger
from core.errors import GreenError


def test_known_answers():
    # supernet 1.0 kWh; scoring 0.001 and a trial 0.011 per candidate: N* = 1 / 0.01 = 100
    b = BreakEven(supernet_kwh=1.0, scoring_kwh=0.001, trial_kwh=0.011, candidates=400, finetune_kwh=0.05,
                  scratch_kwh=0.3)
    assert b.breakeven_candidates == approx(100.0)
    assert b.one_shot(100) == approx(b.multi_trial(100)) == approx(1.1)  # the two routes meet at N*
    assert b.energy_ratio == approx((1.0 + 0.4) / 4.4)  # at N = 400
    assert b.breakeven_deployments == approx(1.0 / 0.25)  # K* = 4
    j = b.to_json()
    assert j["breakeven_candidates"] == approx(100.0) and j["breakeven_deployments"] == approx(4.0)
    assert j["supernet_kwh"] == 1.0 and j["candidates"] == 400


def test_never_pays_when_a_trial_costs_no_more_than_scoring():
    b = BreakEven(supernet_kwh=1.0, scoring_kwh=0.01, trial_kwh=0.01, candidates=10, finetune_kwh=0.3,
                  scratch_kwh=0.2)
    assert b.breakeven_candidates is None and b.breakeven_deployments is None
    assert b.energy_ratio == approx(1.1 / 0.1)
    assert BreakEven(0.0, 0.0, 0.0, 5).energy_ratio is None  # nothing spent on either route: no ratio


def test_a_missing_k_star_says_why_and_is_unknown_when_scratch_ends_below_the_winners():
    b = BreakEven(supernet_kwh=1.0, scoring_kwh=0.0, trial_kwh=0.1, candidates=10, finetune_kwh=0.3, scratch_kwh=0.2)
    assert b.breakeven_deployments is None
    assert "0.3 kWh" in b.deployments_note() and "0.2 kWh" in b.deployments_note()
    assert "unknown, not never" not in b.deployments_note(-1.0)  # scratch reached the winners: at this recipe, never
    assert "12.8 points below" in b.deployments_note(12.8) and "unknown, not never" in b.deployments_note(12.8)
    assert "0.3 s a model" in b.deployments_note(unit="s")
    assert "no fine-tune or no scratch" in BreakEven(1.0, 0.0, 0.1, 10).deployments_note()
    assert BreakEven(1.0, 0.0, 0.1, 10, finetune_kwh=0.05, scratch_kwh=0.3).deployments_note(5.0) is None  # K* = 4


def test_curves_span_the_break_even_and_cross_there():
    b = BreakEven(supernet_kwh=2.0, scoring_kwh=0.0, trial_kwh=0.1, candidates=10, finetune_kwh=0.0, scratch_kwh=0.5)
    c = b.curves(points=5)
    assert c["candidates"] == approx([0, 10, 20, 30, 40])  # up to 2 N* = 40 (> 2 N = 20)
    assert c["one_shot_kwh"] == approx([2.0] * 5) and c["multi_trial_kwh"] == approx([0, 1, 2, 3, 4])
    assert c["deployments"] == approx([0, 2.5, 5, 7.5, 10])  # K* = 4: max(8, 10)
    assert c["from_scratch_kwh"][-1] == approx(5.0) and c["via_supernet_kwh"][-1] == approx(2.0)
    assert "deployments" not in BreakEven(1.0, 0.0, 0.1, 10).curves()


@pytest.mark.parametrize("kw, match", [
    ({"supernet_kwh": -1.0}, "supernet_kwh must be a finite energy"),
    ({"trial_kwh": float("nan")}, "trial_kwh must be a finite energy"),
    ({"candidates": 0}, "evaluated 0 candidates"),
])
def test_bad_figures_are_refused(kw, match):
    args = {"supernet_kwh": 1.0, "scoring_kwh": 0.0, "trial_kwh": 0.1, "candidates": 10, **kw}
    with pytest.raises(GreenError, match=match):
        BreakEven(**args)


def test_from_ledger_spreads_each_stage_over_its_candidates_and_models():
    e = lambda kwh, files=1: {"energy_kwh": kwh, "files": files}  # noqa: E731
    led = {"train": e(3.0), "search": e(0.2), "mt_search": e(4.0), "finetune": e(0.6), "scratch": e(1.8)}
    b = from_ledger(led, one_shot_candidates=100, trial_candidates=40, deployed=3, seeds=2)
    assert (b.supernet_kwh, b.scoring_kwh, b.trial_kwh, b.candidates) == approx((3.0, 0.002, 0.1, 100))
    assert (b.finetune_kwh, b.scratch_kwh) == approx((0.1, 0.3))  # over 3 models x 2 seeds
    assert b.breakeven_candidates == approx(3.0 / 0.098) and b.breakeven_deployments == approx(15.0)
    assert from_ledger(led, 100, None, 3, 2) is None  # no multi-trial route: nothing to break even with
    led["scratch"] = e(0.0, files=0)
    assert from_ledger(led, 100, 40, 3, 2).breakeven_deployments is None
