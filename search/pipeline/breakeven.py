"""When does the one-shot route pay? Break-even figures from the energy a run booked per stage.

The one-shot route pays a fixed price (training the supernet) and then little per candidate (BatchNorm
recalibration and a validation pass); the multi-trial route pays nothing up front and a short standalone
training per candidate. So the one-shot route is cheaper beyond a candidate count ``N*``:

    one_shot(N) = supernet + N * scoring        multi_trial(N) = N * trial
    N* = supernet / (trial - scoring)           (never, when a trial costs no more than scoring)

``energy_ratio`` is ``one_shot(N) / multi_trial(N)`` at the default search's candidate count ``N``. The cost
table (``green-lut``) serves both routes alike and is left out of both.

Deployments: a model taken from the supernet needs a fine-tune; the same arch trained from scratch to the
same accuracy needs the full scratch recipe. The supernet's training is paid back after ``K*`` deployed
models, ``K* = supernet / (scratch - finetune)`` (never, when fine-tuning costs as much as training from
scratch). All energies are one run's, from one measurement ledger (on a machine without an energy counter,
codecarbon's estimate, proportional to time).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from core.errors import GreenError
from core.jsontypes import JSONObject


@dataclass(frozen=True)
class BreakEven:
    """The break-even of one run: per-candidate and per-deployment energies (kWh) and the counts they give."""

    supernet_kwh: float
    scoring_kwh: float  # one-shot, per evaluated candidate
    trial_kwh: float  # multi-trial, per evaluated candidate
    candidates: int  # the default search's unique evaluations (N)
    finetune_kwh: float | None = None  # per deployed model via the supernet
    scratch_kwh: float | None = None  # per deployed model trained from scratch

    def __post_init__(self) -> None:
        for name in ("supernet_kwh", "scoring_kwh", "trial_kwh", "finetune_kwh", "scratch_kwh"):
            v = getattr(self, name)
            if v is not None and not (math.isfinite(v) and v >= 0):
                raise GreenError(f"break-even: {name} must be a finite energy >= 0, got {v}")
        if self.candidates < 1:
            raise GreenError(f"break-even: the search evaluated {self.candidates} candidates; it needs >= 1")

    @property
    def breakeven_candidates(self) -> float | None:
        """``N*``: beyond this many candidates the one-shot route costs less (None: never)."""
        gain = self.trial_kwh - self.scoring_kwh
        return self.supernet_kwh / gain if gain > 0 else None

    def one_shot(self, n: float) -> float:
        return self.supernet_kwh + n * self.scoring_kwh

    def multi_trial(self, n: float) -> float:
        return n * self.trial_kwh

    @property
    def energy_ratio(self) -> float | None:
        """One-shot over multi-trial energy at the default search's candidate count (below 1: one-shot cheaper)."""
        mt = self.multi_trial(self.candidates)
        return self.one_shot(self.candidates) / mt if mt > 0 else None

    @property
    def breakeven_deployments(self) -> float | None:
        """``K*``: after this many deployed models the supernet's training is paid back (None: never, or unknown)."""
        if self.finetune_kwh is None or self.scratch_kwh is None:
            return None
        gain = self.scratch_kwh - self.finetune_kwh
        return self.supernet_kwh / gain if gain > 0 else None

    def deployments_note(self, scratch_gap_points: float | None = None, unit: str = "kWh") -> str | None:
        """Why ``K*`` is absent (None when it is present). ``scratch_gap_points``: how far the scratch recipe ends
        below the fine-tuned winners (test accuracy points); above 0, training from scratch to the winners' accuracy
        would cost more than the recipe measured, so a missing ``K*`` is unknown rather than never. ``unit``: of the
        energies (``s`` for a break-even priced in seconds, :func:`from_ledger` with ``key="seconds"``)."""
        if self.breakeven_deployments is not None:
            return None
        if self.finetune_kwh is None or self.scratch_kwh is None:
            return "unknown: the run has no fine-tune or no scratch stage"
        note = (f"not at this run's recipes: a fine-tune costs {self.finetune_kwh:.3g} {unit} a model, at least "
                f"the scratch recipe's {self.scratch_kwh:.3g} {unit}")
        if scratch_gap_points is not None and scratch_gap_points > 0:
            note += (f"; but that recipe ends {scratch_gap_points:.1f} points below the winners, and the energy to "
                     "train from scratch to their accuracy is not measured: K* is unknown, not never")
        return note

    def curves(self, points: int = 50) -> dict[str, list[float]]:
        """Cumulative energy of both routes against candidates (0 .. max(2 N*, 2 N)) and, where known, against
        deployed models (0 .. max(2 K*, 10)): the break-even chart's lines."""
        top = max(2 * (self.breakeven_candidates or 0), 2 * self.candidates)
        n = [top * i / (points - 1) for i in range(points)]
        out = {"candidates": n, "one_shot_kwh": [self.one_shot(x) for x in n],
               "multi_trial_kwh": [self.multi_trial(x) for x in n]}
        if self.finetune_kwh is not None and self.scratch_kwh is not None:
            k_top = max(2 * (self.breakeven_deployments or 0), 10)
            k = [k_top * i / (points - 1) for i in range(points)]
            out.update({"deployments": k, "via_supernet_kwh": [self.supernet_kwh + x * self.finetune_kwh for x in k],
                        "from_scratch_kwh": [x * self.scratch_kwh for x in k]})
        return out

    def to_json(self) -> JSONObject:
        return {**asdict(self), "breakeven_candidates": self.breakeven_candidates,
                "energy_ratio": self.energy_ratio, "breakeven_deployments": self.breakeven_deployments}


def from_ledger(ledger: dict[str, JSONObject], one_shot_candidates: int, trial_candidates: int | None,
                deployed: int, seeds: int, key: str = "energy_kwh") -> BreakEven | None:
    """The run's break-even from its energy ledger (:func:`search.pipeline.summary.ledger`).

    ``one_shot_candidates`` and ``trial_candidates``: the unique evaluations of the search and of the
    multi-trial search (None: the multi-trial route did not run, so there is nothing to break even with);
    ``deployed``: the models fine-tuned and trained from scratch, each ``seeds`` times. ``key="seconds"``
    prices every stage's wall time at one power (the counts and ratios do not depend on its value): where the
    energies are estimates proportional to time but the supernet's was booked in other sessions, at another
    power figure, this puts all of them on one scale (the fields then hold seconds, not kWh)."""
    if not trial_candidates or one_shot_candidates < 1:
        return None
    per_model = max(deployed, 1) * max(seeds, 1)
    return BreakEven(
        supernet_kwh=ledger["train"][key],
        scoring_kwh=ledger["search"][key] / one_shot_candidates,
        trial_kwh=ledger["mt_search"][key] / trial_candidates,
        candidates=one_shot_candidates,
        finetune_kwh=ledger["finetune"][key] / per_model if ledger["finetune"]["files"] else None,
        scratch_kwh=ledger["scratch"][key] / per_model if ledger["scratch"]["files"] else None)
