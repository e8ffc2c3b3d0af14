"""The LightningModule of every standalone training: one static network, its loss and its metrics.

Label-smoothed cross-entropy with an optional L1 penalty and knowledge distillation from a frozen teacher,
the per-step timm scheduler, and the validation/test metrics each report reads (accuracy, macro recall,
per-class recall from the confusion matrix, and each test image's correctness for paired bootstraps).
:func:`search.training.fit.fit` builds it from a config; nothing else should need to.
"""
from __future__ import annotations

from typing import Any, Callable

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from timm.optim import param_groups_weight_decay
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix, MulticlassRecall

from supernet.data import class_weights_of
from core.device import batch_format, to_memory_format
from core.errors import TrainingError
from supernet.metrics import confusion_figures
from supernet.module import distill_loss


class SubnetModule(pl.LightningModule):
    """Trains one static network: label-smoothed cross-entropy, optionally + KD from a frozen teacher."""

    def __init__(self, model: torch.nn.Module, optimizer: Callable, scheduler: Callable | None = None,
                 label_smoothing: float = 0.1, teacher: torch.nn.Module | None = None, kd_ratio: float = 1.0,
                 seed: int = 0, num_classes: int | None = None, name: str | None = None, l1: float = 0.0):
        super().__init__()
        self.model, self.optimizer_fn, self.scheduler_fn = model, optimizer, scheduler
        self.label_smoothing, self.kd_ratio, self.seed, self.l1 = label_smoothing, kd_ratio, seed, l1
        self.name = name or str(getattr(model, "arch", type(model).__name__))
        self._teacher = [teacher.eval().requires_grad_(False)] if teacher is not None else []  # not a submodule
        self._sched = None
        self.images_seen = 0  # training images actually processed: the budget a report states
        self.class_weight: torch.Tensor | None = None
        n = num_classes or model.num_classes
        self.metrics = torch.nn.ModuleDict({
            split: MetricCollection({"acc": MulticlassAccuracy(n, average="micro"),
                                     "recall": MulticlassRecall(n, average="macro"),
                                     "confusion": MulticlassConfusionMatrix(n)}) for split in ("val", "test")})
        self.class_figures: dict[str, dict[str, Any]] = {}  # split -> confusion_figures of the last evaluation
        self.test_correct: list[torch.Tensor] = []  # the last test's, batch by batch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def configure_optimizers(self):
        wd = getattr(self.optimizer_fn, "keywords", {}).get("weight_decay", 0.0)
        return self.optimizer_fn(param_groups_weight_decay(self.model, wd))

    def setup(self, stage: str) -> None:
        for m in (self.model, *self._teacher):  # laid out as the data module's batches (channels_last by default)
            to_memory_format(m, batch_format(self._trainer))

    def on_fit_start(self) -> None:
        self.model.train()  # an extracted subnet arrives in eval mode; Lightning keeps modes as found
        w = class_weights_of(self.trainer)  # data.balance=loss
        self.class_weight = None if w is None else w.to(self.device)

    def on_train_start(self) -> None:
        if self.scheduler_fn is not None:
            steps = self.trainer.max_epochs * self.trainer.num_training_batches
            self._sched = self.scheduler_fn(self.optimizers().optimizer, t_initial=steps)
        if self._teacher:
            self._teacher[0].to(self.device)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        torch.manual_seed(self.seed * 1_000_003 + self.global_step)
        if self._sched is not None:
            self._sched.step_update(self.global_step)

    def training_step(self, batch, batch_idx):
        x, y = batch
        self.images_seen += int(x.shape[0])
        logits = self.model(x)
        loss = F.cross_entropy(logits, y, weight=self.class_weight, label_smoothing=self.label_smoothing)
        if self._teacher and self.kd_ratio > 0:
            with torch.no_grad():
                soft = self._teacher[0](x)
            loss = loss + self.kd_ratio * distill_loss(logits, soft)
        if self.l1 > 0:  # L1 penalty on weights (not biases or norm parameters)
            loss = loss + self.l1 * sum(p.abs().sum() for p in self.model.parameters() if p.ndim > 1)
        if not torch.isfinite(loss):
            raise TrainingError(f"non-finite loss {loss.item()} at step {self.global_step} training {self.name}")
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=x.shape[0])
        self.log("train/lr", self.optimizers().optimizer.param_groups[0]["lr"], on_step=True, batch_size=x.shape[0])
        return loss

    def _eval_step(self, batch, split: str) -> None:
        x, y = batch
        logits = self.model(x)
        self.metrics[split].update(logits, y)
        if split == "test":  # per image, in the test set's order: what paired bootstraps over images need
            self.test_correct.append((logits.argmax(1) == y).cpu())

    def validation_step(self, batch, batch_idx):
        self._eval_step(batch, "val")

    def test_step(self, batch, batch_idx):
        self._eval_step(batch, "test")

    def _eval_end(self, split: str) -> None:
        figures = self.metrics[split].compute()
        self.metrics[split].reset()
        dm = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        cm = figures.pop("confusion")
        classes = list(getattr(dm, "classes", None) or range(cm.shape[0]))
        per_class = confusion_figures(cm, [str(c) for c in classes])
        self.class_figures[split] = per_class
        for k, v in figures.items():
            self.log(f"{split}/{k}", v, prog_bar=(k == "acc"), sync_dist=True)
        self.log(f"{split}/recall_min", per_class["recall_min"], sync_dist=True)
        for c, r in per_class["class_recall"].items():  # TensorBoard: one curve per class
            self.log(f"{split}_class_recall/{c}", r, sync_dist=True)

    def on_validation_epoch_end(self) -> None:
        self._eval_end("val")

    def on_test_epoch_start(self) -> None:
        self.test_correct = []

    def on_test_epoch_end(self) -> None:
        self._eval_end("test")
