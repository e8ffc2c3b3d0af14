"""The ``torch`` target: PyTorch eager in eval mode under ``torch.inference_mode``, in the served dtype and layout.

This is how every cost table was measured before targets existed, and it stays the default: a table without a
recorded target is this one's.
"""
from __future__ import annotations

import copy
from typing import Callable

import torch
from torch import nn

from core.device import Device, to_memory_format
from core.errors import GreenError
from search.targets import TARGETS, Session, Target, TargetSpec
from search.targets.calibration import CalibrationSet

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class TorchSession(Session):
    """``module`` in eval mode on ``device``, in ``dtype`` and ``memory_format`` (a cost is measured as served)."""

    target = "torch"

    def __init__(self, module: nn.Module, shape: tuple[int, ...], device: torch.device,
                 dtype: torch.dtype = torch.float32, memory_format: str = "channels_last"):
        self.shape, self.device, self.dtype, self.memory_format = tuple(shape), device, dtype, memory_format
        self.module = to_memory_format(module.to(device=device, dtype=dtype), memory_format).eval()

    def _input(self, x: torch.Tensor) -> torch.Tensor:
        return to_memory_format(x.to(device=self.device, dtype=self.dtype), self.memory_format)

    def run(self, x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self.module(self._input(x)).float().cpu()

    def caller(self, batch_size: int, seed: int | None = None) -> Callable[[], None]:
        """The call on a fixed random batch; ``seed`` None draws it from torch's global generator (as the cost
        table always has)."""
        g = None if seed is None else torch.Generator().manual_seed(seed)
        x = self._input(torch.randn((batch_size, *self.shape[1:]), generator=g))
        module = self.module

        def call() -> None:
            with torch.inference_mode():
                module(x)
        return call


@TARGETS.decorator("torch")
class TorchTarget(Target):
    """PyTorch eager: the module itself, on the command's device (CPU or CUDA), dtype and memory format."""

    name = "torch"

    def check(self, device: Device, dtype: str) -> None:
        if dtype not in DTYPES:
            raise GreenError(f"unknown dtype {dtype!r}; choose from {sorted(DTYPES)}")

    def session(self, module: nn.Module, shape: tuple[int, ...], device: Device, dtype: str = "float32",
                calib: CalibrationSet | None = None) -> TorchSession:
        self.check(device, dtype)
        # a copy: serving a model in another dtype or layout must not change the caller's model
        return TorchSession(copy.deepcopy(module), shape, device.torch, DTYPES[dtype], device.memory_format)

    def spec(self) -> TargetSpec:
        return TargetSpec(self.name, "torch", torch.__version__, "float", "eval + torch.inference_mode")
