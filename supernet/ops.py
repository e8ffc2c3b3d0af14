"""Elastic operations of the supernet (once-for-all, Cai et al., ICLR 2020).

One set of arguments, :func:`block_kwargs`, builds both timm's static ``InvertedResidual`` (for extracted
subnets) and :class:`ElasticInvertedResidual` (for the supernet), so the two cannot drift apart.
The elastic block stores the largest kernel and the widest hidden layer and, for a smaller choice,

* elastic kernel: takes the centre of the stored kernel and passes it through a learned
  kernel-transform matrix (7x7 -> 5x5 -> 3x3, each matrix shared by all channels, initialised to
  the identity);
* elastic width: uses the first ``mid_chs`` hidden channels of every tensor that touches them
  (expansion conv, its BN, depthwise conv, its BN, SE, projection). :func:`sort_channels` puts
  the most important channels first (L1 norm of the projection weights, once-for-all's
  re-organisation) without changing what the largest network computes;
* elastic channels (BigNAS): the block reads the first channels of its input, however many it gets,
  and writes the first ``out_chs`` of its outputs (projection and its BN); the residual applies when
  input and output widths match at stride 1, as in the static block. The supernet sorts a stage's
  output channels by importance across all its blocks and their readers (:mod:`supernet.net`).

BatchNorm statistics are sliced with the channels, so one BN serves every width.
"""
from __future__ import annotations

import dataclasses
from functools import partial

import torch
import torch.nn.functional as F
from timm.layers import BatchNormAct2d, get_act_layer, make_divisible
from timm.models._efficientnet_blocks import InvertedResidual, SqueezeExcite
from torch import nn

from supernet.space import BlockSpec

SE_RATIO = 0.25


def se_layer(act: str):
    """The SE used by every block; its reduced width follows the (elastic) hidden width."""
    gate = "hard_sigmoid" if act == "hard_swish" else "sigmoid"
    return partial(SqueezeExcite, rd_ratio=SE_RATIO, rd_round_fn=make_divisible, gate_layer=gate)


def block_kwargs(spec: BlockSpec) -> dict:
    """Arguments of timm's ``InvertedResidual`` for ``spec``: shared by static and elastic blocks."""
    return dict(
        in_chs=spec.in_chs, out_chs=spec.out_chs, dw_kernel_size=spec.kernel_size, stride=spec.stride,
        exp_ratio=spec.exp_ratio, act_layer=get_act_layer(spec.act),
        se_layer=se_layer(spec.act) if spec.se else None,
    )


def make_block(spec: BlockSpec) -> InvertedResidual:
    """The static block described by ``spec``."""
    return InvertedResidual(**block_kwargs(spec))


def _sliced_bn(bn: nn.BatchNorm2d, x: torch.Tensor, chs: int) -> torch.Tensor:
    """Batch norm over the first ``chs`` channels of ``bn`` (then its activation, if it has one).

    Mirrors ``BatchNorm2d.forward``; slices of the running buffers are views, so training updates
    the statistics of exactly the channels in use.
    """
    factor = 0.0
    if bn.training and bn.track_running_stats:
        bn.num_batches_tracked.add_(1)
        factor = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
    use_batch_stats = bn.training or bn.running_mean is None
    x = F.batch_norm(
        x, bn.running_mean[:chs], bn.running_var[:chs], bn.weight[:chs], bn.bias[:chs],
        use_batch_stats, factor, bn.eps,
    )
    if isinstance(bn, BatchNormAct2d):
        x = bn.act(bn.drop(x))
    return x


class ElasticInvertedResidual(InvertedResidual):
    """timm's inverted-residual block at its largest size, runnable at any smaller kernel and width.

    ``forward(x, kernel_size, exp_ratio)`` runs that sub-block; :meth:`to_static` returns it as a
    plain ``InvertedResidual`` holding the inherited (transformed, sliced) weights.
    """

    def __init__(self, spec: BlockSpec, kernel_sizes: tuple[int, ...]):
        super().__init__(**block_kwargs(spec))
        self.spec = spec
        self.kernel_sizes = tuple(sorted(kernel_sizes))
        if self.kernel_sizes[-1] != spec.kernel_size:
            raise ValueError("an elastic block is built at its largest kernel size")
        # one transform per step down the kernel ladder, e.g. '7to5' and '5to3'
        self.ks_transform = nn.ParameterDict({
            f"{big}to{small}": nn.Parameter(torch.eye(small * small))
            for big, small in zip(self.kernel_sizes[1:], self.kernel_sizes[:-1])
        })

    def mid_chs(self, exp_ratio: float, in_chs: int | None = None) -> int:
        return make_divisible((in_chs or self.spec.in_chs) * exp_ratio)

    def dw_weight(self, kernel_size: int, chs: int | None = None) -> torch.Tensor:
        """Depthwise kernel of size ``kernel_size`` for the first ``chs`` channels."""
        w = self.conv_dw.weight[:chs]
        size = self.kernel_sizes[-1]
        for small in reversed(self.kernel_sizes):
            if small >= size or small < kernel_size:
                continue
            lo = (size - small) // 2
            w = w[:, :, lo:lo + small, lo:lo + small]
            w = (w.reshape(-1, small * small) @ self.ks_transform[f"{size}to{small}"]).reshape(w.shape)
            size = small
        return w

    def forward(self, x: torch.Tensor, kernel_size: int | None = None, exp_ratio: float | None = None,
                out_chs: int | None = None):
        k = kernel_size or self.spec.kernel_size
        e = exp_ratio or self.spec.exp_ratio
        out, cin = out_chs or self.spec.out_chs, x.shape[1]
        if k == self.spec.kernel_size and e == self.spec.exp_ratio and out == self.spec.out_chs and cin == self.spec.in_chs:
            return super().forward(x)
        mid = self.mid_chs(e, cin)
        shortcut = x
        x = F.conv2d(x, self.conv_pw.weight[:mid, :cin])
        x = _sliced_bn(self.bn1, x, mid)
        x = F.conv2d(x, self.dw_weight(k, mid), None, self.spec.stride, k // 2, 1, mid)
        x = _sliced_bn(self.bn2, x, mid)
        if self.spec.se:
            x = self._se(x, mid)
        x = F.conv2d(x, self.conv_pwl.weight[:out, :mid])
        x = _sliced_bn(self.bn3, x, out)
        if self.spec.stride == 1 and cin == out:  # timm's rule (blocks here never set noskip), on the widths in use
            x = self.drop_path(x) + shortcut
        return x

    def _se(self, x: torch.Tensor, mid: int) -> torch.Tensor:
        se = self.se
        rd = make_divisible(mid * SE_RATIO)
        s = x.mean((2, 3), keepdim=True)
        s = F.conv2d(s, se.conv_reduce.weight[:rd, :mid], se.conv_reduce.bias[:rd])
        s = se.act1(s)
        s = F.conv2d(s, se.conv_expand.weight[:mid, :rd], se.conv_expand.bias[:mid])
        return x * se.gate(s)

    @torch.no_grad()
    def to_static(self, kernel_size: int, exp_ratio: float, in_chs: int | None = None,
                  out_chs: int | None = None) -> InvertedResidual:
        """The sub-block (reading ``in_chs`` channels, writing ``out_chs``; None: all) as a static timm
        ``InvertedResidual`` with the inherited weights."""
        cin, out = in_chs or self.spec.in_chs, out_chs or self.spec.out_chs
        spec = dataclasses.replace(self.spec, kernel_size=kernel_size, exp_ratio=exp_ratio, in_chs=cin, out_chs=out)
        return self.copy_to(make_block(spec).to(self.conv_pw.weight.device), kernel_size, exp_ratio)

    @torch.no_grad()
    def copy_to(self, block: InvertedResidual, kernel_size: int, exp_ratio: float) -> InvertedResidual:
        """Write the inherited weights of the sub-block into ``block``, a static block of its shape (every
        parameter and buffer, so a block built without initialising its weights is complete); returns it."""
        cin, out = block.conv_pw.in_channels, block.conv_pwl.out_channels
        mid = self.mid_chs(exp_ratio, cin)
        if mid != block.conv_pw.out_channels:
            raise AssertionError("static and elastic blocks disagree on the hidden width")
        block.conv_pw.weight.copy_(self.conv_pw.weight[:mid, :cin])
        block.conv_dw.weight.copy_(self.dw_weight(kernel_size, mid))
        block.conv_pwl.weight.copy_(self.conv_pwl.weight[:out, :mid])
        for src, dst, chs in ((self.bn1, block.bn1, mid), (self.bn2, block.bn2, mid), (self.bn3, block.bn3, out)):
            for name in ("weight", "bias", "running_mean", "running_var"):
                getattr(dst, name).copy_(getattr(src, name)[:chs])
            dst.num_batches_tracked.copy_(src.num_batches_tracked)
            dst.momentum = src.momentum
        if self.spec.se:
            rd = block.se.conv_reduce.out_channels
            block.se.conv_reduce.weight.copy_(self.se.conv_reduce.weight[:rd, :mid])
            block.se.conv_reduce.bias.copy_(self.se.conv_reduce.bias[:rd])
            block.se.conv_expand.weight.copy_(self.se.conv_expand.weight[:mid, :rd])
            block.se.conv_expand.bias.copy_(self.se.conv_expand.bias[:mid])
        block.train(self.training)
        return block

    @torch.no_grad()
    def sort_channels(self, optimizer: torch.optim.Optimizer | None = None) -> None:
        """Reorder hidden channels by importance; the largest block computes exactly the same."""
        importance = self.conv_pwl.weight.abs().sum(dim=(0, 2, 3))
        perm = torch.argsort(importance, descending=True)
        moves = [(self.conv_pw.weight, 0), (self.conv_dw.weight, 0), (self.conv_pwl.weight, 1)]
        moves += [(t, 0) for bn in (self.bn1, self.bn2) for t in (bn.weight, bn.bias, bn.running_mean, bn.running_var)]
        if self.spec.se:
            moves += [(self.se.conv_reduce.weight, 1), (self.se.conv_expand.weight, 0), (self.se.conv_expand.bias, 0)]
        _permute(moves, perm, optimizer)
        if self.spec.se:
            rd_perm = torch.argsort(self.se.conv_expand.weight.abs().sum(dim=(0, 2, 3)), descending=True)
            se_moves = [(self.se.conv_reduce.weight, 0), (self.se.conv_reduce.bias, 0), (self.se.conv_expand.weight, 1)]
            _permute(se_moves, rd_perm, optimizer)


def _permute(moves, perm: torch.Tensor, optimizer: torch.optim.Optimizer | None) -> None:
    """Permute tensors along a dim, and the optimizer state (momenta) of parameters among them."""
    for t, dim in moves:
        t.copy_(t.index_select(dim, perm))
        state = optimizer.state.get(t, {}) if optimizer is not None else {}
        for v in state.values():
            if torch.is_tensor(v) and v.shape == t.shape:
                v.copy_(v.index_select(dim, perm))


@torch.no_grad()
def sort_outputs(net: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> None:
    """Reorder the output channels of supernet ``net``'s stages with a width choice, most important first.

    The channels a stage writes are one space: every block of the stage writes them (its residuals add
    them), its later blocks and the next stage's first block (or the head) read them. Where a stage's
    first block adds its input too (stride 1, as many channels in as out), that input's channels (the
    previous stage's, or the stem's) are the same space, so such stages move together. One permutation
    per space moves its writers (projections and their BNs, the stem's conv and BN) and its readers
    (expansions, the head); importance is the L1 norm of the weights reading each channel. The largest
    network computes what it did.
    """
    stages = net.space.stages
    groups: list[list[int]] = []  # stage indices sharing one channel space; -1 is the stem
    for i, blocks in enumerate(net.blocks):
        if not blocks[0].has_skip:
            groups.append([i])
        elif groups:
            groups[-1].append(i)  # the previous stage's channels flow through the residual
        else:
            groups.append([-1, i])  # the stem's do
    for group in groups:
        if not any(i >= 0 and len(stages[i].widths) > 1 for i in group):
            continue
        writers, readers = [], []
        for i in group:
            if i < 0:
                writers += [(net.conv_stem.weight, 0)] + [(t, 0) for t in _bn_tensors(net.bn1)]
                continue
            blocks = net.blocks[i]
            writers += [(t, 0) for b in blocks for t in (b.conv_pwl.weight, *_bn_tensors(b.bn3))]
            readers += [(b.conv_pw.weight, 1) for b in (blocks if i != group[0] else blocks[1:])]
        last = group[-1]
        if last + 1 < len(net.blocks):
            readers.append((net.blocks[last + 1][0].conv_pw.weight, 1))
        else:
            readers.append((net.conv_head.weight if net.space.head_chs else net.classifier.weight, 1))
        importance = sum(w.abs().transpose(0, d).reshape(w.shape[d], -1).sum(1) for w, d in readers)
        _permute(writers + readers, torch.argsort(importance, descending=True), optimizer)


def _bn_tensors(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, ...]:
    return bn.weight, bn.bias, bn.running_mean, bn.running_var
