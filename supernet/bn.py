"""BatchNorm recalibration for a subnet (once-for-all, section 3.3; "BN calibration" in NAS).

Subnets share BatchNorm layers whose running statistics were accumulated while many different
subnets trained, so they fit none of them. Before a subnet is evaluated its statistics are
re-estimated on a few training batches with a cumulative (equal-weight) average.
"""
from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch import nn


@torch.no_grad()
def recalibrate_bn(model: nn.Module, batches: Iterable[torch.Tensor],
                   forward: Callable[[torch.Tensor], torch.Tensor] | None = None) -> int:
    """Re-estimate every BatchNorm's running mean/var of ``model`` over ``batches``.

    ``forward`` runs one batch (default ``model``); pass ``lambda x: supernet(x, arch)`` to
    calibrate a subnet in place. The rest of the model stays in eval mode (no dropout), and
    every module's mode and momentum are restored afterwards. Returns the number of batches used.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    modes = {m: m.training for m in model.modules()}
    momenta = {m: m.momentum for m in bns}
    forward = forward or model
    n = 0
    try:
        model.eval()
        for m in bns:
            m.reset_running_stats()
            m.momentum = None  # cumulative average: every batch weighs the same
            m.train()
        for x in batches:
            forward(x)
            n += 1
    finally:
        for m, mode in modes.items():
            m.training = mode
        for m, momentum in momenta.items():
            m.momentum = momentum
    return n
