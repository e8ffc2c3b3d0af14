"""The timed pieces of ``bench/throughput.py``: the bare PyTorch loops each project path is held to, the Lightning
fit timed step by step, and the synthetic data both read.

A bare loop does the same arithmetic as the project's path on in-memory tensors (same subnets per step,
distillation, optimizer; or forward, loss, backward, step; or BN recalibration and inference) and returns its
per-step seconds after one untimed step; :class:`StepTimer` times a Lightning step end to end.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F


def synthetic_dm(image_size: int, channels: int, n: int, batch: int, fmt: str):
    """The project's data module over random uint8 images (transform and augmentation as for real data)."""
    from supernet.data import ImageDataModule, Splits
    from supernet.datasets import _TensorImages

    class Synthetic(ImageDataModule):
        def load(self) -> Splits:
            g = torch.Generator().manual_seed(0)
            x = torch.randint(0, 256, (n, channels, image_size, image_size), dtype=torch.uint8, generator=g)
            y = torch.randint(0, 10, (n,), generator=g)
            return Splits(_TensorImages(x, y), _TensorImages(x[:batch], y[:batch]), y.numpy(),
                          [str(i) for i in range(10)])

    dm = Synthetic(image_size=image_size, channels=channels, val_size=batch, batch_size=batch,
                   mean=[0.5] * channels, std=[0.25] * channels, memory_format=fmt)
    dm.setup()
    return dm


class StepTimer(pl.Callback):
    """Wall time between consecutive ends of training steps (the first step is untimed)."""

    def __init__(self):
        self.ends: list[float] = []

    def on_train_batch_end(self, *args: Any) -> None:
        self.ends.append(time.perf_counter())

    @property
    def steps(self) -> list[float]:
        return [b - a for a, b in zip(self.ends, self.ends[1:])]


def one_arch(arch):
    """A strategy training ``arch`` alone every step (the 'arch active' supernet step)."""
    from supernet.strategy import Phase, Strategy

    class OneArch(Strategy):
        def phases(self, epochs: int) -> list[Phase]:
            return [Phase("one", epochs)]

        def archs(self, space, phase, rng):
            return [("largest", arch)]
    return OneArch(kd_ratio=0.0)


def bare_supernet(net, strategy, space, x, y, steps: int, kd: float, autocast) -> list[float]:
    """The supernet step with nothing but PyTorch: same subnets per step, distillation, SGD; per-step seconds."""
    from supernet.module import distill_loss
    from supernet.strategy import step_rng

    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=4e-5)
    phase = strategy.phases(1)[0]
    times = []
    for step in range(steps + 1):
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        teacher = None
        for role, arch in strategy.archs(space, phase, step_rng(0, step)):
            with autocast():
                logits = net(x, arch)
                loss = F.cross_entropy(logits, y, label_smoothing=0.1)
                if teacher is not None and kd > 0:
                    loss = loss + kd * distill_loss(logits, teacher)
            loss.backward()
            if role == "largest":
                teacher = logits.detach()
        opt.step()
        times.append(time.perf_counter() - t)
    return times[1:]


def bare_fit(model, x, y, steps: int, autocast) -> list[float]:
    opt = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9, nesterov=True)
    model.train()
    times = []
    for _ in range(steps + 1):
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with autocast():
            loss = F.cross_entropy(model(x), y, label_smoothing=0.1)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t)
    return times[1:]


def bare_eval(model, calib: list[torch.Tensor], val: list[torch.Tensor], autocast) -> float:
    from supernet.bn import recalibrate_bn

    t = time.perf_counter()
    with autocast():
        recalibrate_bn(model, calib)
        with torch.inference_mode():
            for xb in val:
                model.eval()(xb).argmax(1)
    return time.perf_counter() - t


def lightning_fit(module, dm, steps: int, precision: str, out: Path) -> list[float]:
    from pytorch_lightning.loggers import TensorBoardLogger

    timer = StepTimer()
    trainer = pl.Trainer(accelerator="cpu", devices=1, precision=precision, max_epochs=1, limit_train_batches=steps + 1,
                         limit_val_batches=0, num_sanity_val_steps=0, enable_checkpointing=False,
                         enable_model_summary=False, enable_progress_bar=False, log_every_n_steps=10,
                         logger=TensorBoardLogger(str(out), name="tb"), callbacks=[timer])
    trainer.fit(module, datamodule=dm)
    return timer.steps
