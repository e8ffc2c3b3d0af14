"""The search space of once-for-all's elastic kernel, depth and width (and resolution).

:class:`SearchSpace` owns every choice: sampling, smallest/middle/largest, validation of an
:class:`~supernet.arch.ArchConfig`, the integer genome used by the evolution (with a canonical form
where genes of skipped blocks are zero) and the block layout (:class:`BlockSpec`) that both the
supernet and the extracted static networks are built from.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import random
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from timm.layers import make_divisible

from supernet.arch import ArchConfig, fmt_ratio
from supernet.errors import ArchError, SpaceError

DIMS = ("kernel", "depth", "width", "resolution")


@dataclass(frozen=True)
class StageSpace:
    """Choices of one stage: fixed output channels and stride, elastic depth, kernel and width."""

    out_chs: int
    stride: int
    depths: tuple[int, ...]
    kernel_sizes: tuple[int, ...]
    exp_ratios: tuple[float, ...]
    se: bool = False
    act: str = "relu"

    def __post_init__(self) -> None:
        object.__setattr__(self, "depths", tuple(sorted({int(d) for d in self.depths})))
        object.__setattr__(self, "kernel_sizes", tuple(sorted({int(k) for k in self.kernel_sizes})))
        object.__setattr__(self, "exp_ratios", tuple(sorted({float(e) for e in self.exp_ratios})))
        if self.out_chs <= 0 or self.stride not in (1, 2):
            raise SpaceError(f"stage needs out_chs > 0 and stride 1 or 2, got {self.out_chs}, {self.stride}")
        if not self.depths or self.depths[0] < 1:
            raise SpaceError(f"stage depths must be positive integers, got {self.depths}")
        if not self.kernel_sizes or any(k < 1 or k % 2 == 0 for k in self.kernel_sizes):
            raise SpaceError(f"stage kernel sizes must be odd positive integers, got {self.kernel_sizes}")
        if not self.exp_ratios or self.exp_ratios[0] <= 0:
            raise SpaceError(f"stage expand ratios must be positive, got {self.exp_ratios}")

    @property
    def max_depth(self) -> int:
        return self.depths[-1]


@dataclass(frozen=True)
class BlockSpec:
    """Everything needed to build one inverted-residual block (static or elastic)."""

    stage: int
    index: int
    in_chs: int
    out_chs: int
    stride: int
    kernel_size: int
    exp_ratio: float
    se: bool
    act: str

    @property
    def mid_chs(self) -> int:
        """Hidden (expanded) channels, rounded as timm's ``InvertedResidual`` rounds them."""
        return make_divisible(self.in_chs * self.exp_ratio)


@dataclass(frozen=True)
class SearchSpace:
    """Owner of every architecture choice of a MobileNetV3-style supernet.

    Besides the stages it fixes the stem (``stem_chs`` channels, ``stem_stride``) and the head
    (a 1x1 conv to ``head_chs`` before pooling, skipped when 0), which are not elastic.
    """

    stages: tuple[StageSpace, ...]
    stem_chs: int = 16
    stem_stride: int = 1
    head_chs: int = 0
    resolutions: tuple[int, ...] = (32,)
    name: str = "custom"
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        stages = tuple(s if isinstance(s, StageSpace) else StageSpace(**dict(s)) for s in self.stages)
        object.__setattr__(self, "stages", stages)
        object.__setattr__(self, "resolutions", tuple(sorted({int(r) for r in self.resolutions})))
        if not stages:
            raise SpaceError("search space has no stages")
        if not self.resolutions or self.resolutions[0] < 1:
            raise SpaceError(f"resolutions must be positive, got {self.resolutions}")
        if self.stem_chs <= 0 or self.head_chs < 0 or self.stem_stride not in (1, 2):
            raise SpaceError("stem_chs must be > 0, head_chs >= 0 and stem_stride 1 or 2")

    # ----------------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; :meth:`from_dict` inverts it."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}
        d["stages"] = [dataclasses.asdict(s) for s in self.stages]
        d["resolutions"] = list(self.resolutions)
        for s in d["stages"]:
            for k in ("depths", "kernel_sizes", "exp_ratios"):
                s[k] = list(s[k])
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "SearchSpace":
        d = dict(d)
        d.pop("_target_", None)
        try:
            return cls(**d)
        except TypeError as err:
            raise SpaceError(f"bad search space definition: {err}") from None

    def digest(self) -> str:
        """Short hash of every choice: tables, caches and checkpoints are keyed by it."""
        if "digest" not in self._cache:
            d = self.to_dict()
            d.pop("name")
            blob = json.dumps(d, sort_keys=True).encode()
            self._cache["digest"] = hashlib.sha256(blob).hexdigest()[:16]
        return self._cache["digest"]

    # ----------------------------------------------------------------- named archs
    def _build(self, res: int, pick_depth, pick_k, pick_e) -> ArchConfig:
        ks, es = [], []
        for s in self.stages:
            d = pick_depth(s)
            ks.append(tuple(pick_k(s) for _ in range(d)))
            es.append(tuple(pick_e(s) for _ in range(d)))
        return ArchConfig(res, tuple(ks), tuple(es))

    def largest(self) -> ArchConfig:
        """Every choice at its maximum: the full network whose weights all others share."""
        return self._build(self.resolutions[-1], lambda s: s.depths[-1], lambda s: s.kernel_sizes[-1],
                           lambda s: s.exp_ratios[-1])

    def smallest(self) -> ArchConfig:
        return self._build(self.resolutions[0], lambda s: s.depths[0], lambda s: s.kernel_sizes[0],
                           lambda s: s.exp_ratios[0])

    def middle(self) -> ArchConfig:
        """The median choice of every dimension.

        For even counts depth takes the upper and the other dimensions the lower median, so that
        with two choices per dimension the middle differs from both the smallest and the largest.
        """
        lo = lambda c: c[(len(c) - 1) // 2]  # noqa: E731
        return self._build(lo(self.resolutions), lambda s: s.depths[len(s.depths) // 2], lambda s: lo(s.kernel_sizes),
                           lambda s: lo(s.exp_ratios))

    def sample(self, rng: random.Random, open: Iterable[str] = DIMS) -> ArchConfig:
        """A uniformly random arch; dimensions not in ``open`` stay at their largest choice.

        ``open`` is how progressive shrinking opens kernel, then depth, then width choices.
        """
        open = set(open)
        unknown = open - set(DIMS)
        if unknown:
            raise SpaceError(f"unknown elastic dimension(s) {sorted(unknown)}; choose from {DIMS}")
        pick = lambda dim, c: rng.choice(c) if dim in open else c[-1]  # noqa: E731
        res = pick("resolution", self.resolutions)
        return self._build(res, lambda s: pick("depth", s.depths), lambda s: pick("kernel", s.kernel_sizes),
                           lambda s: pick("width", s.exp_ratios))

    # ----------------------------------------------------------------- validation
    def validate(self, arch: ArchConfig | str) -> ArchConfig:
        """Return ``arch`` (parsed if a string) or raise an :class:`ArchError` naming the field."""
        if isinstance(arch, str):
            arch = ArchConfig.parse(arch)
        if arch.resolution not in self.resolutions:
            raise ArchError(f"arch {arch}: resolution {arch.resolution} not in choices {self.resolutions}")
        if len(arch.kernel_sizes) != len(self.stages):
            raise ArchError(f"arch {arch}: has {len(arch.kernel_sizes)} stages, the space has {len(self.stages)}")
        for i, (s, ks, es) in enumerate(zip(self.stages, arch.kernel_sizes, arch.exp_ratios)):
            if len(ks) not in s.depths:
                raise ArchError(f"arch {arch}: stage {i} depth {len(ks)} not in choices {s.depths}")
            for j, (k, e) in enumerate(zip(ks, es)):
                if k not in s.kernel_sizes:
                    raise ArchError(f"arch {arch}: stage {i} block {j} kernel_size {k} not in choices {s.kernel_sizes}")
                if e not in s.exp_ratios:
                    raise ArchError(
                        f"arch {arch}: stage {i} block {j} exp_ratio {fmt_ratio(e)} not in choices "
                        f"{tuple(fmt_ratio(x) for x in s.exp_ratios)}")
        return arch

    def contains(self, arch: ArchConfig) -> bool:
        try:
            self.validate(arch)
        except ArchError:
            return False
        return True

    # ----------------------------------------------------------------- layout
    def block_specs(self, arch: ArchConfig) -> list[BlockSpec]:
        """The active blocks of ``arch`` in order; the supernet is built from ``largest()``'s."""
        specs, in_chs = [], self.stem_chs
        for i, (s, ks, es) in enumerate(zip(self.stages, arch.kernel_sizes, arch.exp_ratios)):
            for j, (k, e) in enumerate(zip(ks, es)):
                specs.append(BlockSpec(i, j, in_chs, s.out_chs, s.stride if j == 0 else 1, k, e, s.se, s.act))
                in_chs = s.out_chs
        return specs

    # ----------------------------------------------------------------- genome
    def gene_sizes(self) -> list[int]:
        """Number of choices of each gene: [resolution] + depth per stage + (kernel, width) per block."""
        sizes = [len(self.resolutions)] + [len(s.depths) for s in self.stages]
        for s in self.stages:
            sizes += [len(s.kernel_sizes), len(s.exp_ratios)] * s.max_depth
        return sizes

    def gene_kinds(self) -> list[str]:
        """How each gene's choices relate: all ``ordinal`` here (resolutions, depths, kernel sizes and expand
        ratios are kept sorted), so the evolution moves a gene to neighbouring choices."""
        return ["ordinal"] * len(self.gene_sizes())

    def encode(self, arch: ArchConfig) -> list[int]:
        """Integer genome of ``arch`` in canonical form (genes of skipped blocks are 0)."""
        arch = self.validate(arch)
        genome = [self.resolutions.index(arch.resolution)]
        genome += [s.depths.index(len(ks)) for s, ks in zip(self.stages, arch.kernel_sizes)]
        for s, ks, es in zip(self.stages, arch.kernel_sizes, arch.exp_ratios):
            for j in range(s.max_depth):
                if j < len(ks):
                    genome += [s.kernel_sizes.index(ks[j]), s.exp_ratios.index(es[j])]
                else:
                    genome += [0, 0]
        return genome

    def decode(self, genome: Sequence[int]) -> ArchConfig:
        """Arch of an integer genome; genes of skipped blocks are ignored."""
        sizes = self.gene_sizes()
        if len(genome) != len(sizes):
            raise ArchError(f"genome has {len(genome)} genes, the space needs {len(sizes)}")
        for i, (g, n) in enumerate(zip(genome, sizes)):
            if not 0 <= int(g) < n:
                raise ArchError(f"gene {i} is {g}, must be in [0, {n})")
        n_st = len(self.stages)
        res = self.resolutions[genome[0]]
        depths = [s.depths[g] for s, g in zip(self.stages, genome[1:1 + n_st])]
        pos, ks, es = 1 + n_st, [], []
        for s, d in zip(self.stages, depths):
            genes = genome[pos:pos + 2 * s.max_depth]
            ks.append(tuple(s.kernel_sizes[genes[2 * j]] for j in range(d)))
            es.append(tuple(s.exp_ratios[genes[2 * j + 1]] for j in range(d)))
            pos += 2 * s.max_depth
        return ArchConfig(res, tuple(ks), tuple(es))

    def canonical(self, genome: Sequence[int]) -> tuple[int, ...]:
        """Canonical genome: the cache key under which equal subnets meet."""
        return tuple(self.encode(self.decode(genome)))
