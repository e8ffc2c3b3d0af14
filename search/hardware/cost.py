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
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from supernet.errors import GreenError
from supernet.net import NetBody
from supernet.ops import make_block
from supernet.space import ArchConfig, BlockSpec, SearchSpace
from supernet.validate import finite_number, of_type, read_json, whole_number

TABLE_KIND = "green-cnn-lut"
TABLE_VERSION = 1


class TableError(GreenError):
    """A lookup table that is corrupt, truncated or does not fit the space or device."""


@dataclass(frozen=True)
class Op:
    """One priced piece of a network: ``kind`` is stem, block or head; ``size`` its input side."""

    kind: str
    size: int
    spec: BlockSpec | None = None

    @property
    def key(self) -> str:
        if self.kind != "block":
            return f"{self.kind}_h{self.size}"
        s = self.spec
        e = f"{s.exp_ratio:g}"
        return f"block_i{s.in_chs}_o{s.out_chs}_s{s.stride}_k{s.kernel_size}_e{e}_h{self.size}_se{int(s.se)}_{s.act}"

    def input_shape(self, space: SearchSpace, in_chans: int, batch: int) -> tuple[int, ...]:
        chs = {"stem": in_chans, "head": space.stages[-1].out_chs}.get(self.kind) or self.spec.in_chs
        return (batch, chs, self.size, self.size)

    def module(self, space: SearchSpace, num_classes: int, in_chans: int) -> nn.Module:
        """A fresh module computing this op (random weights: cost does not depend on values)."""
        if self.kind == "block":
            return make_block(self.spec)
        body = NetBody(space, num_classes, in_chans, 0.0)  # the very modules the networks are built of
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
    return ops + [Op("head", size)]


def space_ops(space: SearchSpace) -> list[Op]:
    """Every distinct op any subnet of ``space`` can run (what a table must price)."""
    seen: dict[str, Op] = {}
    for res in space.resolutions:
        size = _down(res, space.stem_stride)
        seen.setdefault(f"stem_h{res}", Op("stem", res))
        in_chs = space.stem_chs
        for i, st in enumerate(space.stages):
            positions = [(in_chs, st.stride)] + ([(st.out_chs, 1)] if st.max_depth > 1 else [])
            for j, (c_in, stride) in enumerate(positions):
                h = size if j == 0 else _down(size, st.stride)
                for k in st.kernel_sizes:
                    for e in st.exp_ratios:
                        op = Op("block", h, BlockSpec(i, j, c_in, st.out_chs, stride, k, e, st.se, st.act))
                        seen.setdefault(op.key, op)
            size, in_chs = _down(size, st.stride), st.out_chs
        seen.setdefault(f"head_h{size}", Op("head", size))
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

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def fingerprint_mismatch(have: dict, want: dict, keys: tuple[str, ...]) -> list[str]:
    """Human-readable differences of ``keys`` between two fingerprints."""
    return [f"{k}: table {have.get(k)!r} vs here {want.get(k)!r}" for k in keys if have.get(k) != want.get(k)]


def read_table(path: str | Path) -> dict:
    """Load a table written by ``green-lut``; a corrupt or truncated file is a :class:`TableError`."""
    path = Path(path)
    table = read_json(path, "lookup table", TableError)
    if not isinstance(table, dict) or table.get("kind") != TABLE_KIND:
        raise TableError(f"{str(path)!r} is not a green-cnn lookup table")
    if table.get("version") != TABLE_VERSION:
        raise TableError(f"lookup table {str(path)!r} has version {table.get('version')}, expected {TABLE_VERSION}")
    for field in ("fingerprint", "entries", "correction", "energy"):
        if not isinstance(table.get(field), dict):
            raise TableError(f"lookup table {str(path)!r} is incomplete: no {field!r} section")
    check_numbers(table, str(path))
    return table


def check_numbers(table: dict, path: str) -> None:
    """Every figure that prices a subnet must be a finite number in range: a NaN median would price every
    subnet at 0 ms (NaN propagates, then ``max(0, NaN)`` is 0), a negative one below the truth, and a
    string would fail mid-search. The error names the file and the key."""
    def where(key: str) -> str:
        return f"lookup table {path!r}: {key}"

    fp = table["fingerprint"]
    for key in ("num_classes", "in_chans"):
        whole_number(fp.get(key), where(f"fingerprint.{key}"), 1, TableError)
    sizes = of_type(fp.get("batch_sizes"), list, where("fingerprint.batch_sizes"), TableError)
    for i, bs in enumerate(sizes):
        whole_number(bs, where(f"fingerprint.batch_sizes[{i}]"), 1, TableError)
    energy = table["energy"]
    of_type(energy.get("source"), str, where("energy.source"), TableError)
    if energy["source"] not in ("nvml", "rapl"):  # an estimate: power x latency prices the energy
        finite_number(energy.get("power_w"), where("energy.power_w"), 0.0, error=TableError)
    for key, entry in table["entries"].items():
        of_type(entry, dict, where(f"entries.{key}"), TableError)
        for bs, figures in entry.items():
            if bs in ("params", "macs"):
                whole_number(figures, where(f"entries.{key}.{bs}"), 0, TableError)
                continue
            for what, stats in of_type(figures, dict, where(f"entries.{key}.{bs}"), TableError).items():
                stats = of_type(stats, dict, where(f"entries.{key}.{bs}.{what}"), TableError)
                # a latency is never 0; an idle-subtracted energy may be
                finite_number(stats.get("median"), where(f"entries.{key}.{bs}.{what}.median"), 0.0,
                              low_open=what == "latency_ms", error=TableError)
    for bs, fits in table["correction"].items():
        for what, fit in of_type(fits, dict, where(f"correction.{bs}"), TableError).items():
            for coef in ("a", "b"):
                value = of_type(fit, dict, where(f"correction.{bs}.{what}"), TableError).get(coef)
                finite_number(value, where(f"correction.{bs}.{what}.{coef}"), error=TableError)


class CostModel:
    """Predicts :class:`Cost` of any subnet of ``space`` from a lookup table."""

    def __init__(self, table: dict, space: SearchSpace, allow_mismatch: bool = False, path: str = "<table>"):
        fp = table["fingerprint"]
        if fp.get("space_digest") != space.digest() and not allow_mismatch:
            raise TableError(f"lookup table {path!r} was built for search space {fp.get('space_name')!r} "
                             f"({fp.get('space_digest')}), not {space.name!r} ({space.digest()}); rebuild it "
                             "with green-lut or pass allow_mismatch=true")
        self.table, self.space, self.path = table, space, path
        self.num_classes, self.in_chans = int(fp["num_classes"]), int(fp["in_chans"])
        self.batch_sizes = [int(b) for b in fp["batch_sizes"]]
        self.energy_source = table["energy"]["source"]

    @classmethod
    def load(cls, path: str | Path, space: SearchSpace, device: dict | None = None, check_device: bool = False,
             allow_mismatch: bool = False) -> "CostModel":
        """Read ``path``; a table of another device than ``device`` (a fingerprint; with ``check_device``,
        this machine's for the table's device kind) or of another space is an error."""
        table = read_table(path)
        if device is None and check_device:
            from search.hardware.timing import device_fingerprint

            kind = str(table["fingerprint"].get("device", "cpu"))
            if kind == "cuda" and not torch.cuda.is_available():
                device = {"device": "no cuda here", "device_name": None, "threads": None}
            else:
                device = device_fingerprint(torch.device(kind))
        if device is not None and not allow_mismatch:
            # threads describe the deployment being priced, not the process reading the table
            diff = fingerprint_mismatch(table["fingerprint"], device, ("device", "device_name"))
            if diff:
                raise TableError(f"lookup table {str(path)!r} was measured on another device ({'; '.join(diff)}); "
                                 "rebuild it here or pass allow_mismatch=true")
        return cls(table, space, allow_mismatch, str(path))

    def op_sum(self, arch: ArchConfig, batch_size: int, what: str = "latency_ms") -> float:
        """Sum of the table's medians for the ops of ``arch`` (before the correction)."""
        entries, total = self.table["entries"], 0.0
        for op in arch_ops(self.space, arch):
            try:
                total += entries[op.key][str(batch_size)][what]["median"]
            except KeyError:
                raise TableError(f"lookup table {self.path!r} has no {what} for op {op.key} at batch "
                                 f"{batch_size}; was it built for this space?") from None
        return total

    def _corrected(self, raw: float, batch_size: int, what: str) -> float:
        fit = self.table["correction"].get(str(batch_size), {}).get(what)
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
            energy = self.table["energy"]["power_w"] * latency
        return Cost(params, macs, latency, energy, self.energy_source, bs)


def fit_line(x: list[float], y: list[float]) -> dict[str, float]:
    """Least-squares ``y = a x + b`` with its R^2 (identity when fewer than two points)."""
    n = len(x)
    if n < 2:
        return {"a": 1.0, "b": 0.0, "r2": float("nan"), "n": n}
    mx, my = sum(x) / n, sum(y) / n
    sxx = sum((v - mx) ** 2 for v in x)
    a = sum((u - mx) * (v - my) for u, v in zip(x, y)) / sxx if sxx else 1.0
    b = my - a * mx
    ss_res = sum((v - (a * u + b)) ** 2 for u, v in zip(x, y))
    ss_tot = sum((v - my) ** 2 for v in y)
    return {"a": a, "b": b, "r2": 1 - ss_res / ss_tot if ss_tot else float("nan"), "n": n}
