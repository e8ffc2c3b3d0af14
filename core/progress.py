"""One progress line every few seconds for each training: which model of how many, its epoch, img/s, ETA.

Why: a stage trains several models (baselines, winners, twins, a ground-truth table), and Lightning's
bar shows only the steps of the current epoch of the current fit. A user waiting on a small machine
wants to know which model is training, how fast and how long the stage still has; a log file (no
terminal, no carriage returns) wants whole lines, not a redrawn bar. The commands turn Lightning's bar
off (``trainer.enable_progress_bar: false``) and put a :class:`ProgressLine` on every trainer instead.
"""
from __future__ import annotations

import math
import sys
import time
from typing import Any, TextIO

import pytorch_lightning as pl


def clock(seconds: float) -> str:
    """``m:ss`` (``h:mm:ss`` from an hour on); ``?`` when not known yet."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    return f"{h}:{rem // 60:02d}:{rem % 60:02d}" if h else f"{rem // 60}:{rem % 60:02d}"


def batch_images(batch: Any) -> int:
    """Images in a training batch: the first tensor's leading size (``(x, y)`` batches), else 0."""
    first = batch[0] if isinstance(batch, (tuple, list)) and batch else batch
    shape = getattr(first, "shape", None)
    return int(shape[0]) if shape else 0


class ProgressLine(pl.Callback):
    """Prints ``<label> model i/n <name>: epoch e/E, <r> img/s, ETA m:ss (i..n: m:ss)`` at most every ``every_s``
    seconds and once when the training ends.

    The stage ETA assumes the models still to come take as long as this one (a stage's models share a
    recipe): a guess, labelled as the time of all ``n``. A resumed training counts from where it resumed.
    """

    def __init__(self, label: str, position: int = 1, total: int = 1, every_s: float = 10.0,
                 out: TextIO | None = None):
        if not 1 <= position <= total:
            raise ValueError(f"model {position} of {total}")
        self.label, self.position, self.total, self.every_s = label, position, total, float(every_s)
        self.out = out
        self.t0 = self.last = 0.0
        self.images = 0
        self.start_epoch = 0

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.t0 = self.last = time.monotonic()
        self.images, self.start_epoch = 0, int(trainer.current_epoch)

    def fraction(self, trainer: pl.Trainer, batch_idx: int | None) -> float:
        """Share of this training done: whole epochs since the start, plus the batches of the current one."""
        total = int(trainer.max_epochs or 0) - self.start_epoch
        if total <= 0:
            return math.nan
        done = trainer.current_epoch - self.start_epoch
        batches = trainer.num_training_batches
        if batch_idx is not None and isinstance(batches, (int, float)) and math.isfinite(batches) and batches > 0:
            done += min(1.0, (batch_idx + 1) / batches)
        return done / total

    def line(self, trainer: pl.Trainer, batch_idx: int | None, now: float) -> str:
        elapsed = max(now - self.t0, 1e-9)
        f = self.fraction(trainer, batch_idx)
        per_model = elapsed / f if f > 0 else math.nan
        left = per_model - elapsed
        stage = left + (self.total - self.position) * per_model
        epoch = min(trainer.current_epoch + 1, int(trainer.max_epochs or 0)) if batch_idx is not None \
            else trainer.current_epoch
        rest = f", all {self.total}: {clock(stage)}" if self.total > 1 else ""
        return (f"{self.label}: epoch {epoch}/{trainer.max_epochs}, {self.images / elapsed:.0f} img/s, "
                f"ETA {clock(left)}{rest}")

    def emit(self, trainer: pl.Trainer, batch_idx: int | None, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < self.every_s:
            return
        self.last = now
        if trainer.is_global_zero:
            print(self.line(trainer, batch_idx, now), file=self.out or sys.stdout, flush=True)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        self.images += batch_images(batch)
        self.emit(trainer, batch_idx)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.emit(trainer, None, force=True)


def model_label(command: str, position: int, total: int, name: str) -> str:
    """The label of one model of a command's batch: ``green-baselines model 2/6 mobilenetv2_050``."""
    return f"{command} model {position}/{total} {name}"
