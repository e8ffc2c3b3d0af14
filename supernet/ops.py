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
  re-organisation) without changing what the largest network computes.

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

    def mid_chs(self, exp_ratio: float) -> int:
        return make_divisible(self.spec.in_chs * exp_ratio)

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

    def forward(self, x: torch.Tensor, kernel_size: int | None = None, exp_ratio: float | None = None):
        k = kernel_size or self.spec.kernel_size
        e = exp_ratio or self.spec.exp_ratio
        if k == self.spec.kernel_size and e == self.spec.exp_ratio:
            return super().forward(x)
        mid = self.mid_chs(e)
        shortcut = x
        x = F.conv2d(x, self.conv_pw.weight[:mid])
        x = _sliced_bn(self.bn1, x, mid)
        x = F.conv2d(x, self.dw_weight(k, mid), None, self.spec.stride, k // 2, 1, mid)
        x = _sliced_bn(self.bn2, x, mid)
        if self.spec.se:
            x = self._se(x, mid)
        x = F.conv2d(x, self.conv_pwl.weight[:, :mid])
        x = self.bn3(x)
        if self.has_skip:
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
    def to_static(self, kernel_size: int, exp_ratio: float) -> InvertedResidual:
        """The sub-block as a static timm ``InvertedResidual`` with the inherited weights."""
        spec = dataclasses.replace(self.spec, kernel_size=kernel_size, exp_ratio=exp_ratio)
        block = make_block(spec).to(self.conv_pw.weight.device)
        mid = self.mid_chs(exp_ratio)
        if mid != block.conv_pw.out_channels:
            raise AssertionError("static and elastic blocks disagree on the hidden width")
        block.conv_pw.weight.copy_(self.conv_pw.weight[:mid])
        block.conv_dw.weight.copy_(self.dw_weight(kernel_size, mid))
        block.conv_pwl.weight.copy_(self.conv_pwl.weight[:, :mid])
        for src, dst, chs in ((self.bn1, block.bn1, mid), (self.bn2, block.bn2, mid), (self.bn3, block.bn3, None)):
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
