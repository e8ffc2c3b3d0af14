"""Few-shot supernets (Zhao et al., ICML 2021): split the space on one choice, one sub-supernet per value.

One supernet shares every weight between all subnets, and the interference between them is what
blurs its ranking. Few-shot NAS splits the space on one choice into a few parts; each part's
sub-supernet starts from the one-shot weights and is trained briefly on its own subnets only, and
a subnet is then scored by the sub-supernet of its part. Here a split is a typed value with a
short string form (:class:`Split`):

* ``depth:<stage>``: the depth of one stage (one part per allowed depth);
* ``kernel:<stage>`` / ``expand:<stage>``: the kernel size / expansion ratio of that stage's first
  block (present in every subnet);
* ``resolution``: the input resolution.

A sub-supernet is the full :class:`~supernet.net.SuperNet` (same weights, same space); only what
its training samples is restricted, by :class:`SubSpace` (the space seen through the split) and
:class:`FewShot` (a strategy that draws from it).
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from supernet.arch import ArchConfig
from core.errors import GreenError
from supernet.space import DIMS, SearchSpace
from supernet.strategy import Phase, Strategy

CHOICES = ("depth", "kernel", "expand", "resolution")


@dataclass(frozen=True)
class Split:
    """The choice a few-shot split fixes: ``dim`` of ``stage`` (None for the resolution)."""

    dim: str
    stage: int | None = None

    def __post_init__(self) -> None:
        if self.dim not in CHOICES:
            raise GreenError(f"unknown few-shot split {self.dim!r}; choose from depth:<stage>, kernel:<stage>, "
                             "expand:<stage> or resolution")
        if (self.dim == "resolution") != (self.stage is None):
            raise GreenError(f"few-shot split {self.dim!r}: "
                             + ("takes no stage" if self.dim == "resolution" else "needs a stage, e.g. depth:1"))

    def __str__(self) -> str:
        return self.dim if self.stage is None else f"{self.dim}:{self.stage}"

    @classmethod
    def parse(cls, text: str) -> "Split":
        dim, sep, stage = str(text).partition(":")
        if sep and not stage.isdigit():
            raise GreenError(f"few-shot split {text!r}: the stage must be a number, e.g. depth:1")
        return cls(dim, int(stage) if sep else None)

    def values(self, space: SearchSpace) -> list[Any]:
        """The values this choice takes in ``space``: one sub-supernet each. Refuses a choice the space lacks."""
        if self.dim == "resolution":
            vals: Sequence[Any] = space.resolutions
        else:
            if not 0 <= self.stage < len(space.stages):
                raise GreenError(f"few-shot split {self}: the space {space.name!r} has stages 0 to "
                                 f"{len(space.stages) - 1}")
            st = space.stages[self.stage]
            vals = {"depth": st.depths, "kernel": st.kernel_sizes, "expand": st.exp_ratios}[self.dim]
        vals = sorted(set(vals))
        if len(vals) < 2:
            raise GreenError(f"few-shot split {self}: the space {space.name!r} has one value ({vals[0]}) there, "
                             "nothing to split")
        return vals

    def value_of(self, arch: ArchConfig) -> Any:
        """The value ``arch`` has for this choice: the part it is routed to."""
        if self.dim == "resolution":
            return arch.resolution
        if self.dim == "depth":
            return arch.depths[self.stage]
        return (arch.kernel_sizes if self.dim == "kernel" else arch.exp_ratios)[self.stage][0]

    def force(self, arch: ArchConfig, value: Any, space: SearchSpace, rng: random.Random | None = None,
              fill: str = "random") -> ArchConfig:
        """``arch`` with this choice set to ``value``; blocks a deeper stage gains get ``fill`` choices
        (``random`` from ``rng``, ``largest`` or ``smallest``)."""
        ks = [list(s) for s in arch.kernel_sizes]
        es = [list(s) for s in arch.exp_ratios]
        res = arch.resolution
        if self.dim == "resolution":
            res = int(value)
        elif self.dim == "depth":
            st, i = space.stages[self.stage], self.stage
            while len(ks[i]) > value:
                ks[i].pop()
                es[i].pop()
            while len(ks[i]) < value:
                if fill == "random":
                    ks[i].append(rng.choice(st.kernel_sizes))
                    es[i].append(rng.choice(st.exp_ratios))
                else:
                    pick = max if fill == "largest" else min
                    ks[i].append(pick(st.kernel_sizes))
                    es[i].append(pick(st.exp_ratios))
        elif self.dim == "kernel":
            ks[self.stage][0] = int(value)
        else:
            es[self.stage][0] = float(value)
        return space.validate(ArchConfig(res, tuple(map(tuple, ks)), tuple(map(tuple, es)), arch.widths))


class SubSpace:
    """``space`` seen through a split fixed at ``value``: what one sub-supernet trains on.

    It answers the calls a training strategy makes (``largest``, ``smallest``, ``middle``,
    ``sample``) within the part; everything else (digest, stages, validation) is the full space's,
    since the sub-supernet keeps all of the supernet's weights.
    """

    def __init__(self, space: SearchSpace, split: Split, value: Any):
        if value not in split.values(space):
            raise GreenError(f"few-shot split {split}: value {value!r} is not one of {split.values(space)}")
        self.space, self.split, self.value = space, split, value

    def largest(self) -> ArchConfig:
        return self.split.force(self.space.largest(), self.value, self.space, fill="largest")

    def smallest(self) -> ArchConfig:
        return self.split.force(self.space.smallest(), self.value, self.space, fill="smallest")

    def middle(self) -> ArchConfig:
        return self.split.force(self.space.middle(), self.value, self.space, fill="smallest")

    def sample(self, rng: random.Random, open: Iterable[str] = DIMS) -> ArchConfig:
        return self.split.force(self.space.sample(rng, open), self.value, self.space, rng)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.space, name)


class FewShot(Strategy):
    """A strategy whose subnets all come from one part of a split: the training of one sub-supernet."""

    def __init__(self, inner: Strategy, split: Split, value: Any):
        super().__init__(inner.kd_ratio)
        self.inner, self.split, self.value = inner, split, value
        self.teacher = inner.teacher

    def phases(self, epochs: int) -> list[Phase]:
        return self.inner.phases(epochs)

    def archs(self, space: SearchSpace, phase: Phase, rng: random.Random) -> list[tuple[str, ArchConfig]]:
        return self.inner.archs(SubSpace(space, self.split, self.value), phase, rng)  # type: ignore[arg-type]
