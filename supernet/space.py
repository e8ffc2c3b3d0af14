"""The search space of once-for-all's elastic kernel, depth and width, and of elastic channels and resolution.

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
from typing import Any, Iterable, Mapping

from timm.layers import make_divisible

from supernet.arch import ArchConfig, fmt_ratio
from core.errors import ArchError, SpaceError
from core.jsontypes import JSONObject
from supernet.genome import Genome

DIMS = ("kernel", "depth", "width", "channels", "resolution")  # width: expand ratio; channels: a stage's outputs


@dataclass(frozen=True)
class StageSpace:
    """Choices of one stage: output channels (``out_chs`` at width 1) and stride, elastic depth, kernel, expand
    ratio and output width (``widths``: fractions of ``out_chs``, rounded as timm rounds channels)."""

    out_chs: int
    stride: int
    depths: tuple[int, ...]
    kernel_sizes: tuple[int, ...]
    exp_ratios: tuple[float, ...]
    se: bool = False
    act: str = "relu"
    widths: tuple[float, ...] = (1.0,)

    def __post_init__(self) -> None:
        object.__setattr__(self, "depths", tuple(sorted({int(d) for d in self.depths})))
        object.__setattr__(self, "kernel_sizes", tuple(sorted({int(k) for k in self.kernel_sizes})))
        object.__setattr__(self, "exp_ratios", tuple(sorted({float(e) for e in self.exp_ratios})))
        object.__setattr__(self, "widths", tuple(sorted({float(w) for w in self.widths})))
        if not self.widths or not all(0 < w <= 1 for w in self.widths):
            raise SpaceError(f"stage widths are fractions of its channels in (0, 1], got {self.widths}")
        chs = [self.chs(w) for w in self.widths]
        if len(set(chs)) != len(chs):
            raise SpaceError(f"stage widths {self.widths} of {self.out_chs} channels round to {chs} "
                             "(multiples of 8): two choices would be the same subnet")
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

    def chs(self, width: float | None) -> int:
        """Output channels at ``width`` (None or 1: ``out_chs``), rounded with timm's ``make_divisible``."""
        return self.out_chs if width is None or width == 1.0 else make_divisible(self.out_chs * width)


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
class SearchSpace(Genome):
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
    def to_dict(self) -> JSONObject:
        """JSON-ready form; :meth:`from_dict` inverts it."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}
        d["stages"] = [dataclasses.asdict(s) for s in self.stages]
        d["resolutions"] = list(self.resolutions)
        for s in d["stages"]:
            for k in ("depths", "kernel_sizes", "exp_ratios", "widths"):
                s[k] = list(s[k])
            if s["widths"] == [1.0]:
                del s["widths"]  # no width choice: the form (and digest) of spaces from before widths existed
        return d

    @property
    def has_widths(self) -> bool:
        """Does any stage choose its output width? (Then every arch of the space carries widths.)"""
        return any(len(st.widths) > 1 for st in self.stages)

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
    def _build(self, res: int, pick_depth, pick_k, pick_e, pick_w) -> ArchConfig:
        ks, es, ws = [], [], []
        for s in self.stages:
            ws.append(pick_w(s))
            d = pick_depth(s)
            ks.append(tuple(pick_k(s) for _ in range(d)))
            es.append(tuple(pick_e(s) for _ in range(d)))
        return ArchConfig(res, tuple(ks), tuple(es), tuple(ws) if self.has_widths else None)

    def largest(self) -> ArchConfig:
        """Every choice at its maximum: the full network whose weights all others share."""
        return self._build(self.resolutions[-1], lambda s: s.depths[-1], lambda s: s.kernel_sizes[-1],
                           lambda s: s.exp_ratios[-1], lambda s: s.widths[-1])

    def smallest(self) -> ArchConfig:
        return self._build(self.resolutions[0], lambda s: s.depths[0], lambda s: s.kernel_sizes[0],
                           lambda s: s.exp_ratios[0], lambda s: s.widths[0])

    def middle(self) -> ArchConfig:
        """The median choice of every dimension.

        For even counts depth takes the upper and the other dimensions the lower median, so that
        with two choices per dimension the middle differs from both the smallest and the largest.
        """
        lo = lambda c: c[(len(c) - 1) // 2]  # noqa: E731
        return self._build(lo(self.resolutions), lambda s: s.depths[len(s.depths) // 2], lambda s: lo(s.kernel_sizes),
                           lambda s: lo(s.exp_ratios), lambda s: lo(s.widths))

    def sample(self, rng: random.Random, open: Iterable[str] = DIMS) -> ArchConfig:
        """A uniformly random arch; dimensions not in ``open`` stay at their largest choice.

        ``open`` is how progressive shrinking opens kernel, then depth, then width (expand ratio), then
        channel choices.
        """
        open = set(open)
        unknown = open - set(DIMS)
        if unknown:
            raise SpaceError(f"unknown elastic dimension(s) {sorted(unknown)}; choose from {DIMS}")
        pick = lambda dim, c: rng.choice(c) if dim in open else c[-1]  # noqa: E731
        res = pick("resolution", self.resolutions)
        # no draw for channels in a space without widths: its archs are drawn exactly as before widths existed
        chs = (lambda s: pick("channels", s.widths)) if self.has_widths else (lambda s: s.widths[-1])
        return self._build(res, lambda s: pick("depth", s.depths), lambda s: pick("kernel", s.kernel_sizes),
                           lambda s: pick("width", s.exp_ratios), chs)

    # ----------------------------------------------------------------- validation
    def validate(self, arch: ArchConfig | str) -> ArchConfig:
        """Return ``arch`` (parsed if a string) or raise an :class:`ArchError` naming the field."""
        if isinstance(arch, str):
            arch = ArchConfig.parse(arch)
        if arch.resolution not in self.resolutions:
            raise ArchError(f"arch {arch}: resolution {arch.resolution} not in choices {self.resolutions}")
        if len(arch.kernel_sizes) != len(self.stages):
            raise ArchError(f"arch {arch}: has {len(arch.kernel_sizes)} stages, the space has {len(self.stages)}")
        if self.has_widths and arch.widths is None:
            raise ArchError(f"arch {arch} has no width per stage, and this space chooses them "
                            f"({[list(s.widths) for s in self.stages]}): start each stage with w<width>, e.g. w1-k3e4")
        if not self.has_widths and arch.widths is not None:
            raise ArchError(f"arch {arch} has widths (w...), but this space has no width choice: leave them out")
        for i, (s, w) in enumerate(zip(self.stages, arch.widths or ())):
            if w not in s.widths:
                raise ArchError(f"arch {arch}: stage {i} width {fmt_ratio(w)} not in choices "
                                f"{tuple(fmt_ratio(x) for x in s.widths)}")
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
        widths = arch.widths or (None,) * len(self.stages)
        for i, (s, ks, es, w) in enumerate(zip(self.stages, arch.kernel_sizes, arch.exp_ratios, widths)):
            out = s.chs(w)
            for j, (k, e) in enumerate(zip(ks, es)):
                specs.append(BlockSpec(i, j, in_chs, out, s.stride if j == 0 else 1, k, e, s.se, s.act))
                in_chs = out
        return specs

    def out_chs(self, arch: ArchConfig) -> int:
        """Channels ``arch``'s last stage hands to the head."""
        return self.stages[-1].chs(arch.widths[-1] if arch.widths else None)
