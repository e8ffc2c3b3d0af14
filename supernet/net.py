"""The elastic supernet, the static network of one subnet, and extraction between the two.

Both networks share one stem/head builder and one block builder (see :mod:`supernet.ops`), so an
extracted subnet is exactly the supernet running that arch (once-for-all's ``get_active_subnet``).
The active subnet is set in one place: the ``arch`` argument of :meth:`SuperNet.forward`, or the
:meth:`SuperNet.active` context manager (which restores the previous arch) for code that can only
call ``model(x)``.
"""
from __future__ import annotations

import contextlib
from typing import Iterable, Iterator

import torch
import torch.nn.functional as F
from timm.layers import BatchNormAct2d, SelectAdaptivePool2d, create_conv2d, get_act_layer
from torch import nn

from supernet.arch import ArchConfig
from supernet.bn import recalibrate_bn
from core.device import format_of, to_memory_format
from supernet.ops import ElasticInvertedResidual, make_block, sort_outputs
from supernet.space import SearchSpace


def _resize(x: torch.Tensor, resolution: int) -> torch.Tensor:
    """Elastic resolution: bring the input to the arch's size (a no-op when it already is)."""
    if x.shape[-1] == resolution and x.shape[-2] == resolution:
        return x
    return F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False, antialias=False)


class NetBody(nn.Module):
    """Stem, head and classifier shared by the supernet and every static subnet."""

    def __init__(self, space: SearchSpace, num_classes: int, in_chans: int, drop_rate: float, last: int | None = None):
        super().__init__()
        self.space, self.num_classes, self.in_chans, self.drop_rate = space, num_classes, in_chans, drop_rate
        act = get_act_layer(space.stages[0].act)
        self.conv_stem = create_conv2d(in_chans, space.stem_chs, 3, stride=space.stem_stride)
        self.bn1 = BatchNormAct2d(space.stem_chs, act_layer=act)
        last = last or space.stages[-1].out_chs  # the last stage's channels (at the arch's width)
        if space.head_chs:
            self.conv_head = create_conv2d(last, space.head_chs, 1)
            self.bn2 = BatchNormAct2d(space.head_chs, act_layer=get_act_layer(space.stages[-1].act))
        else:
            self.conv_head, self.bn2 = nn.Identity(), nn.Identity()
        self.num_features = space.head_chs or last
        self.global_pool = SelectAdaptivePool2d(pool_type="avg", flatten=True)
        self.classifier = nn.Linear(self.num_features, num_classes)

    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn1(self.conv_stem(x))

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        """Head and classifier over the first ``x.shape[1]`` channels: all of them in a static subnet, the last
        stage's active width in a supernet running a narrower arch."""
        c = x.shape[1]
        if self.space.head_chs and c != self.conv_head.weight.shape[1]:
            x = F.conv2d(x, self.conv_head.weight[:, :c], self.conv_head.bias)
        else:
            x = self.conv_head(x)
        x = self.global_pool(self.bn2(x))
        if self.drop_rate:
            x = F.dropout(x, self.drop_rate, self.training)
        if self.space.head_chs or c == self.classifier.in_features:
            return self.classifier(x)
        return F.linear(x, self.classifier.weight[:, :c], self.classifier.bias)


class GreenNet(NetBody):
    """A static subnet: stem, timm ``InvertedResidual`` blocks grouped by stage, head.

    ``self.arch`` is the architecture it implements; inputs of another size are resized to
    ``arch.resolution`` first.
    """

    def __init__(self, space: SearchSpace, arch: ArchConfig | str, num_classes: int, in_chans: int = 3,
                 drop_rate: float = 0.0):
        arch = space.validate(arch)
        super().__init__(space, num_classes, in_chans, drop_rate, space.out_chs(arch))
        self.arch = arch
        specs = space.block_specs(self.arch)
        self.blocks = nn.Sequential(*[
            nn.Sequential(*[make_block(s) for s in specs if s.stage == i]) for i in range(len(space.stages))
        ])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.forward_stem(_resize(x, self.arch.resolution))
        return self.forward_head(self.blocks(x))


class SuperNet(NetBody):
    """Weight-sharing supernet over a :class:`SearchSpace` with elastic depth, kernel, width and channels."""

    def __init__(self, space: SearchSpace, num_classes: int, in_chans: int = 3, drop_rate: float = 0.0):
        super().__init__(space, num_classes, in_chans, drop_rate)
        specs = space.block_specs(space.largest())
        self.blocks = nn.ModuleList([
            nn.ModuleList([ElasticInvertedResidual(s, st.kernel_sizes) for s in specs if s.stage == i])
            for i, st in enumerate(space.stages)
        ])
        self._arch = space.largest()

    @property
    def arch(self) -> ArchConfig:
        """The arch that ``forward`` runs when none is passed (the largest unless set by :meth:`active`)."""
        return self._arch

    @contextlib.contextmanager
    def active(self, arch: ArchConfig | str) -> Iterator["SuperNet"]:
        """Run ``arch`` for calls without an explicit arch inside the block; restore afterwards."""
        prev, self._arch = self._arch, self.space.validate(arch)
        try:
            yield self
        finally:
            self._arch = prev

    def forward(self, x: torch.Tensor, arch: ArchConfig | None = None) -> torch.Tensor:
        arch = self._arch if arch is None else arch
        x = self.forward_stem(_resize(x, arch.resolution))
        widths = arch.widths or (None,) * len(self.blocks)
        for blocks, ks, es, st, w in zip(self.blocks, arch.kernel_sizes, arch.exp_ratios, self.space.stages, widths):
            for block, k, e in zip(blocks, ks, es):  # depth: the first len(ks) blocks run
                x = block(x, k, e, st.chs(w))
        return self.forward_head(x)

    @torch.no_grad()
    def sort_channels(self, optimizer: torch.optim.Optimizer | None = None) -> None:
        """Put the most important hidden channels first in every block, and the most important output channels
        first in every stage with a width choice (and permute momenta); what the largest net computes is unchanged."""
        for blocks in self.blocks:
            for block in blocks:
                block.sort_channels(optimizer)
        sort_outputs(self, optimizer)


@torch.no_grad()
def extract_subnet(net: SuperNet, arch: ArchConfig | str, batches: Iterable[torch.Tensor] | None = None) -> GreenNet:
    """Static network of ``arch`` with the supernet's weights (transformed kernels, sliced channels).

    With ``batches`` (training images), its BatchNorm statistics are recalibrated for this subnet;
    without, they are the supernet's sliced running statistics, so in eval mode its logits equal
    ``net(x, arch)`` (exactly in NCHW; to float rounding in channels_last, where a sliced and a
    contiguous weight may take different kernels). It has the supernet's memory format.
    """
    arch = net.space.validate(arch)
    # built without initialising its weights (every tensor is copied below: a search extracts thousands of
    # subnets, and random initialisation cost as much as the copy), on the supernet's device and layout
    with torch.device("meta"):
        static = GreenNet(net.space, arch, net.num_classes, net.in_chans, net.drop_rate)
    static.to_empty(device=next(net.parameters()).device)
    to_memory_format(static, format_of(net))  # laid out as the supernet it comes from (and as its inputs)
    for name in ("conv_stem", "bn1", "conv_head", "bn2", "classifier"):  # the head may read fewer channels
        src = getattr(net, name).state_dict()
        getattr(static, name).load_state_dict({k: src[k][tuple(slice(0, n) for n in v.shape)]
                                               for k, v in getattr(static, name).state_dict().items()})
    for stage, blocks, ks, es in zip(static.blocks, net.blocks, arch.kernel_sizes, arch.exp_ratios):
        for block, target, k, e in zip(blocks, stage, ks, es):
            block.copy_to(target, k, e)
    static.train(net.training)
    if batches is not None:
        recalibrate_bn(static, batches)
    return static
