"""Pricing a subnet without running it: exact params/MACs, and latency/energy from a lookup table.

A subnet decomposes into ops (the stem, each active block, the head) whose cost depends only on
their own configuration and input size, so a table measured once per device and space prices
any of the space's subnets by a sum (nn-Meter / once-for-all's latency table). Per-op sums miss
framework overhead and fusion, so the table also stores a linear correction
``measured = a * sum + b`` fitted on subnets measured end to end.

Params and MACs are counted exactly on the static network built on the ``meta`` device (no
memory, no weights) with torch's own FLOP counter (MACs = FLOPs / 2 of convolutions and
matmuls; norms, activations and pooling are not counted, as is customary).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from supernet.arch import ArchConfig
from core.device import available
from core.jsontypes import JSONObject
from search.hardware.lookup import LookupTable, TableError, fingerprint_mismatch
from supernet.net import NetBody
from supernet.ops import make_block
from supernet.space import BlockSpec, SearchSpace

@dataclass(frozen=True)
class Op:
    """One priced piece of a network: ``kind`` is stem, block or head; ``size`` its input side; ``chs`` a head's
    input channels where the last stage's width is a choice (None: the stage's channels)."""

    kind: str
    size: int
    spec: BlockSpec | None = None
    chs: int | None = None

    @property
    def key(self) -> str:
        if self.kind == "head" and self.chs is not None:
            return f"head_c{self.chs}_h{self.size}"
        if self.kind != "block":
            return f"{self.kind}_h{self.size}"
        s = self.spec
        e = f"{s.exp_ratio:g}"
        return f"block_i{s.in_chs}_o{s.out_chs}_s{s.stride}_k{s.kernel_size}_e{e}_h{self.size}_se{int(s.se)}_{s.act}"

    def input_shape(self, space: SearchSpace, in_chans: int, batch: int) -> tuple[int, ...]:
        chs = {"stem": in_chans, "head": self.chs or space.stages[-1].out_chs}.get(self.kind) or self.spec.in_chs
        return (batch, chs, self.size, self.size)

    def module(self, space: SearchSpace, num_classes: int, in_chans: int) -> nn.Module:
        """A fresh module computing this op (random weights: cost does not depend on values)."""
        if self.kind == "block":
            return make_block(self.spec)
        body = NetBody(space, num_classes, in_chans, 0.0, self.chs)  # the very modules the networks are built of
        if self.kind == "stem":
            return nn.Sequential(body.conv_stem, body.bn1)
        return nn.Sequential(body.conv_head, body.bn2, body.global_pool, body.classifier)


def _down(size: int, stride: int) -> int:
    return -(-size // stride)  # a padded k x k conv with stride s: ceil(size / s)


def arch_ops(space: SearchSpace, arch: ArchConfig) -> list[Op]:
    """The ops that ``arch`` runs, in order."""
    size = _down(arch.resolution, space.stem_stride)
    ops = [Op("stem", arch.resolution)]
    for spec in space.block_specs(arch):
        ops.append(Op("block", size, spec))
        size = _down(size, spec.stride)
    return ops + [Op("head", size, chs=space.out_chs(arch) if space.has_widths else None)]


def space_ops(space: SearchSpace) -> list[Op]:
    """Every distinct op any subnet of ``space`` can run (what a table must price)."""
    seen: dict[str, Op] = {}
    for res in space.resolutions:
        size = _down(res, space.stem_stride)
        seen.setdefault(f"stem_h{res}", Op("stem", res))
        ins = [space.stem_chs]  # the channels a stage may be handed (one per width of the stage before)
        for i, st in enumerate(space.stages):
            outs = [st.chs(w) for w in st.widths]
            first = [(0, c_in, o, st.stride, size) for c_in in ins for o in outs]
            later = [(1, o, o, 1, _down(size, st.stride)) for o in outs] if st.max_depth > 1 else []
            for j, c_in, out, stride, h in first + later:
                for k in st.kernel_sizes:
                    for e in st.exp_ratios:
                        op = Op("block", h, BlockSpec(i, j, c_in, out, stride, k, e, st.se, st.act))
                        seen.setdefault(op.key, op)
            size, ins = _down(size, st.stride), outs
        for c in ins:
            op = Op("head", size, chs=c if space.has_widths else None)
            seen.setdefault(op.key, op)
    return list(seen.values())


def count_module(module: nn.Module, shape: tuple[int, ...]) -> tuple[int, int]:
    """(params, MACs per image) of ``module`` (built on the meta device) on an input of ``shape``."""
    params = sum(p.numel() for p in module.parameters())
    x = torch.empty(shape, device="meta")
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        module.eval()(x)
    return params, fc.get_total_flops() // 2 // shape[0]


@functools.lru_cache(maxsize=4096)
def count_op(space: SearchSpace, op: Op, num_classes: int, in_chans: int) -> tuple[int, int]:
    """Exact (params, MACs per image) of one op, counted once and cached."""
    with torch.device("meta"):
        module = op.module(space, num_classes, in_chans)
    return count_module(module, op.input_shape(space, in_chans, 1))


def count(space: SearchSpace, arch: ArchConfig, num_classes: int, in_chans: int) -> tuple[int, int]:
    """Exact (params, MACs per image) of the static network of ``arch``: the sum of its ops' counts.

    Equal to counting the whole :class:`~supernet.net.GreenNet` (tested), but a few dictionary
    look-ups per arch once the ops are counted, so the search can afford it for every candidate.
    """
    params = macs = 0
    for op in arch_ops(space, arch):
        p, m = count_op(space, op, num_classes, in_chans)
        params, macs = params + p, macs + m
    return params, macs


def count_net(net: nn.Module, resolution: int, in_chans: int) -> tuple[int, int]:
    """(params, MACs per image) of a built network, counted on a meta-device copy."""
    import copy

    meta = copy.deepcopy(net).to("meta")
    return count_module(meta, (1, in_chans, resolution, resolution))


@dataclass(frozen=True)
class Cost:
    """What a subnet costs on the table's device at ``batch_size``."""

    params: int
    macs: int
    latency_ms: float
    energy_mj: float
    energy_source: str
    batch_size: int

    def to_dict(self) -> JSONObject:
        return dict(self.__dict__)


class CostModel:
    """Predicts :class:`Cost` of any subnet of ``space`` from a lookup table."""

    def __init__(self, table: LookupTable, space: SearchSpace, allow_mismatch: bool = False, path: str = "<table>"):
        fp = table.fingerprint
        if fp.get("space_digest") != space.digest() and not allow_mismatch:
            raise TableError(f"lookup table {path!r} was built for search space {fp.get('space_name')!r} "
                             f"({fp.get('space_digest')}), not {space.name!r} ({space.digest()}); rebuild it "
                             "with green-lut or pass allow_mismatch=true")
        self.table, self.space, self.path = table, space, path
        self.num_classes, self.in_chans = table.num_classes, table.in_chans
        self.batch_sizes = table.batch_sizes
        self.energy_source = table.energy_source

    @classmethod
    def load(cls, path: str | Path, space: SearchSpace, device: dict | None = None, check_device: bool = False,
             allow_mismatch: bool = False) -> "CostModel":
        """Read ``path``; a table of another device than ``device`` (a fingerprint; with ``check_device``,
        this machine's for the table's device kind) or of another space is an error."""
        table = LookupTable.read(path)
        if device is None and check_device:
            from search.hardware.timing import device_fingerprint

            kind = str(table.fingerprint.get("device", "cpu"))
            if not available(kind):
                device = {"device": "no cuda here", "device_name": None, "threads": None}
            else:
                device = device_fingerprint(torch.device(kind))
        if device is not None and not allow_mismatch:
            # threads describe the deployment being priced, not the process reading the table
            diff = fingerprint_mismatch(table.fingerprint, device, ("device", "device_name"))
            if diff:
                raise TableError(f"lookup table {str(path)!r} was measured on another device ({'; '.join(diff)}); "
                                 "rebuild it here or pass allow_mismatch=true")
        return cls(table, space, allow_mismatch, str(path))

    def op_sum(self, arch: ArchConfig, batch_size: int, what: str = "latency_ms") -> float:
        """Sum of the table's medians for the ops of ``arch`` (before the correction)."""
        total = 0.0
        for op in arch_ops(self.space, arch):
            try:
                total += self.table.median(op.key, batch_size, what)
            except KeyError:
                raise TableError(f"lookup table {self.path!r} has no {what} for op {op.key} at batch "
                                 f"{batch_size}; was it built for this space?") from None
        return total

    def _corrected(self, raw: float, batch_size: int, what: str) -> float:
        fit = self.table.fit(batch_size, what)
        return raw if not fit else max(0.0, fit["a"] * raw + fit["b"])

    def predict(self, arch: ArchConfig | str, batch_size: int | None = None) -> Cost:
        """Params, MACs, predicted latency and energy (with its source) of ``arch``."""
        arch = self.space.validate(arch)
        bs = self.batch_sizes[0] if batch_size is None else int(batch_size)
        if bs not in self.batch_sizes:
            raise TableError(f"lookup table {self.path!r} has batch sizes {self.batch_sizes}, not {bs}")
        params, macs = count(self.space, arch, self.num_classes, self.in_chans)
        latency = self._corrected(self.op_sum(arch, bs), bs, "latency_ms")
        if self.energy_source in ("nvml", "rapl"):
            energy = self._corrected(self.op_sum(arch, bs, "energy_mj"), bs, "energy_mj")
        else:  # an estimate: average power x time, as codecarbon would book it
            energy = self.table.energy["power_w"] * latency
        return Cost(params, macs, latency, energy, self.energy_source, bs)


def fit_line(x: list[float], y: list[float]) -> dict[str, float]:
    """Least-squares ``y = a x + b`` with its R^2 (scipy's ``linregress``).

    Degenerate fits stay usable as a correction: the identity for fewer than two points, slope 1 through
    the means for a constant ``x`` (no slope can be fitted), R^2 nan for a constant ``y``.
    """
    from scipy.stats import linregress

    n = len(x)
    if n < 2:
        return {"a": 1.0, "b": 0.0, "r2": float("nan"), "n": n}
    r2_nan = min(y) == max(y)  # nothing to explain (scipy's own answer here depends on its version)
    if min(x) == max(x):
        return {"a": 1.0, "b": sum(y) / n - sum(x) / n, "r2": float("nan") if r2_nan else 0.0, "n": n}
    fit = linregress(x, y)
    return {"a": float(fit.slope), "b": float(fit.intercept), "r2": float("nan") if r2_nan else float(fit.rvalue) ** 2,
            "n": n}
