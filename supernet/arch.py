"""A subnet as a value: :class:`ArchConfig` and its short string form (timm's arch strings).

A subnet is a frozen :class:`ArchConfig`: the input resolution and, per stage, the kernel size and
expand ratio of each *active* block (so the stage depth is the number of blocks) and, in spaces
with elastic channels, the stage's output width. Its short string form follows timm's arch strings::

    r32_k3e4_k5e6-k3e3_k7e6-k5e4-k3e3
    r28_w0.5-k3e4_w1-k5e6-k3e3_w0.75-k7e6-k5e4-k3e3     # with a width per stage

``r32`` is the resolution; stages are separated by ``_``; blocks of a stage by ``-``; ``k5e6`` is a
block with a 5x5 depthwise kernel and expand ratio 6; ``w0.5`` (first in its stage) says the stage
outputs half its channels. Spaces without a width choice keep the strings without ``w`` they
always had. Whether an arch belongs to a search space is the space's to say
(:meth:`supernet.space.SearchSpace.validate`).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Mapping

from core.errors import ArchError
from core.jsontypes import JSONObject

_BLOCK_RE = re.compile(r"^k(\d+)e(\d+(?:\.\d+)?)$")
_WIDTH_RE = re.compile(r"^w(\d*(?:\.\d+)?)$")


def fmt_ratio(e: float) -> str:
    """An expand ratio or width as arch strings and messages write it: ``6`` for 6.0, ``4.5`` for 4.5; exactly
    (``0.5000001``) where the short form would round it to a value that looks valid."""
    if float(e).is_integer():
        return str(int(e))
    short = f"{e:g}"
    return short if float(short) == float(e) else repr(float(e))


@dataclass(frozen=True)
class ArchConfig:
    """One subnet: input resolution, the (kernel size, expand ratio) of each active block and, in spaces with
    elastic channels, each stage's output width (a fraction of its channels; None: the space has no such
    choice)."""

    resolution: int
    kernel_sizes: tuple[tuple[int, ...], ...]
    exp_ratios: tuple[tuple[float, ...], ...]
    widths: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        ks = tuple(tuple(int(k) for k in s) for s in self.kernel_sizes)
        es = tuple(tuple(float(e) for e in s) for s in self.exp_ratios)
        object.__setattr__(self, "kernel_sizes", ks)
        object.__setattr__(self, "exp_ratios", es)
        object.__setattr__(self, "resolution", int(self.resolution))
        if self.widths is not None:
            ws = tuple(float(w) for w in self.widths)
            object.__setattr__(self, "widths", ws)
            if len(ws) != len(ks):
                raise ArchError(f"arch has {len(ks)} stages but {len(ws)} widths")
            bad = [w for w in ws if not 0 < w <= 1]
            if bad:
                raise ArchError(f"arch width {fmt_ratio(bad[0])} is outside (0, 1]: a width is a fraction of a stage's "
                                "channels")
        if len(ks) != len(es):
            raise ArchError(f"arch has {len(ks)} stages of kernel sizes but {len(es)} of expand ratios")
        for i, (k, e) in enumerate(zip(ks, es)):
            if len(k) != len(e):
                raise ArchError(f"arch stage {i}: {len(k)} kernel sizes but {len(e)} expand ratios")
            if not k:
                raise ArchError(f"arch stage {i} has no blocks (depth 0)")

    @property
    def depths(self) -> tuple[int, ...]:
        """Number of active blocks per stage."""
        return tuple(len(k) for k in self.kernel_sizes)

    def __str__(self) -> str:
        stages = [
            "-".join(f"k{k}e{fmt_ratio(e)}" for k, e in zip(ks, es))
            for ks, es in zip(self.kernel_sizes, self.exp_ratios)
        ]
        if self.widths is not None:
            stages = [f"w{fmt_ratio(w)}-{st}" for w, st in zip(self.widths, stages)]
        return "_".join([f"r{self.resolution}", *stages])

    @classmethod
    def parse(cls, text: str) -> "ArchConfig":
        """Read the short string form; a malformed string is an :class:`ArchError` saying where."""
        parts = str(text).strip().split("_")
        if len(parts) < 2 or not re.fullmatch(r"r\d+", parts[0]):
            raise ArchError(f"malformed arch string {text!r}: expected 'r<res>_k<k>e<e>-...'")
        kernel_sizes, exp_ratios, widths = [], [], []
        for i, stage in enumerate(parts[1:]):
            ks, es = [], []
            blocks = stage.split("-")
            w = _WIDTH_RE.match(blocks[0])
            if w:
                try:
                    widths.append(float(w.group(1)))
                except ValueError:
                    raise ArchError(f"malformed arch string {text!r}: stage {i} width {blocks[0]!r}") from None
                blocks = blocks[1:]
            for block in blocks:
                m = _BLOCK_RE.match(block)
                if not m:
                    raise ArchError(f"malformed arch string {text!r}: stage {i} block {block!r} is not 'k<k>e<e>'")
                ks.append(int(m.group(1)))
                es.append(float(m.group(2)))
            kernel_sizes.append(tuple(ks))
            exp_ratios.append(tuple(es))
        if widths and len(widths) != len(kernel_sizes):
            raise ArchError(f"malformed arch string {text!r}: a width (w<fraction>) starts every stage or none")
        return cls(int(parts[0][1:]), tuple(kernel_sizes), tuple(exp_ratios), tuple(widths) if widths else None)

    def to_dict(self) -> JSONObject:
        """JSON-ready form (also carries the string, for people reading the file)."""
        stages = [{"kernel_sizes": list(k), "exp_ratios": list(e)} for k, e in zip(self.kernel_sizes, self.exp_ratios)]
        if self.widths is not None:
            for st, w in zip(stages, self.widths):
                st["width"] = w
        return {"arch": str(self), "resolution": self.resolution, "stages": stages}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ArchConfig":
        """Inverse of :meth:`to_dict`."""
        try:
            stages = d["stages"]
            widths = [s["width"] for s in stages if "width" in s]
            return cls(
                int(d["resolution"]),
                tuple(tuple(s["kernel_sizes"]) for s in stages),
                tuple(tuple(s["exp_ratios"]) for s in stages),
                tuple(widths) if widths else None,
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ArchError(f"malformed arch dict: {err}") from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> "ArchConfig":
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as err:
            raise ArchError(f"malformed arch JSON: {err}") from None
