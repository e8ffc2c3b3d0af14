"""Supernet training strategies: which subnets each step trains, in which phase, against which teacher.

* :class:`Sandwich` (BigNAS, Yu et al. 2020; the "sandwich rule"): every step trains the largest,
  the smallest and ``num_random`` random subnets; all but the largest are distilled in place from
  the largest's soft predictions of the same batch.
* :class:`Progressive` (once-for-all progressive shrinking, Cai et al. 2020): phases first train
  the full network, then open kernel, then depth, then width choices, each phase with its own
  epochs and learning rate; subnets are distilled from a frozen copy of the full network taken
  when the first elastic phase starts.

Subnets are drawn from an RNG seeded by the global step, so every rank of a distributed run
trains the same subnets without communicating.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Sequence

from supernet.arch import ArchConfig
from core.errors import GreenError
from supernet.space import DIMS, SearchSpace


@dataclass(frozen=True)
class Phase:
    """A stretch of training with fixed open dimensions and its own learning-rate schedule."""

    name: str
    epochs: int
    lr: float | None = None  # None: the optimizer's configured learning rate
    open: tuple[str, ...] = DIMS

    def __post_init__(self) -> None:
        object.__setattr__(self, "open", tuple(self.open))
        if self.epochs < 1:
            raise GreenError(f"phase {self.name!r}: epochs must be >= 1, got {self.epochs}")
        if self.lr is not None and self.lr <= 0:
            raise GreenError(f"phase {self.name!r}: lr must be > 0, got {self.lr}")
        bad = set(self.open) - set(DIMS)
        if bad:
            raise GreenError(f"phase {self.name!r}: unknown dimension(s) {sorted(bad)}; choose from {DIMS}")


def step_rng(seed: int, step: int) -> random.Random:
    """The subnet sampler of one optimisation step: the same on every rank, independent of global RNGs."""
    return random.Random(seed * 1_000_003 + step)


class Strategy:
    """Base: ``phases`` lays out the schedule, ``archs`` names the subnets of one step."""

    teacher: str = "inplace"  # 'inplace' (largest of the same step) or 'frozen' (snapshot of the full net)

    def __init__(self, kd_ratio: float = 1.0):
        if kd_ratio < 0:
            raise GreenError(f"kd_ratio must be >= 0, got {kd_ratio}")
        self.kd_ratio = kd_ratio

    def phases(self, epochs: int) -> list[Phase]:
        raise NotImplementedError

    def archs(self, space: SearchSpace, phase: Phase, rng: random.Random) -> list[tuple[str, ArchConfig]]:
        raise NotImplementedError


class Sandwich(Strategy):
    """BigNAS sandwich rule with in-place distillation, one phase over all choices."""

    def __init__(self, num_random: int = 2, kd_ratio: float = 1.0):
        super().__init__(kd_ratio)
        if num_random < 0:
            raise GreenError(f"num_random must be >= 0, got {num_random}")
        self.num_random = num_random

    def phases(self, epochs: int) -> list[Phase]:
        return [Phase("sandwich", epochs)]

    def archs(self, space: SearchSpace, phase: Phase, rng: random.Random) -> list[tuple[str, ArchConfig]]:
        out = [("largest", space.largest()), ("smallest", space.smallest())]
        return out + [("random", space.sample(rng, phase.open)) for _ in range(self.num_random)]


class Progressive(Strategy):
    """Once-for-all progressive shrinking; ``phases`` is a list of ``{name, epochs, lr, open}``."""

    teacher = "frozen"

    def __init__(self, phases: Sequence[dict], num_subnets: int = 2, kd_ratio: float = 1.0):
        super().__init__(kd_ratio)
        if num_subnets < 1:
            raise GreenError(f"num_subnets must be >= 1, got {num_subnets}")
        self._phases = [p if isinstance(p, Phase) else Phase(**dict(p)) for p in phases]
        if not self._phases:
            raise GreenError("progressive strategy needs at least one phase")
        self.num_subnets = num_subnets

    def phases(self, epochs: int) -> list[Phase]:
        return list(self._phases)  # its own epochs per phase

    def archs(self, space: SearchSpace, phase: Phase, rng: random.Random) -> list[tuple[str, ArchConfig]]:
        if not phase.open:
            return [("largest", space.largest())]
        return [("random", space.sample(rng, phase.open)) for _ in range(self.num_subnets)]
