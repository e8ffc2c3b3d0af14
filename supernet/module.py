"""LightningModule that trains the elastic supernet once (sandwich or progressive shrinking).

Manual optimisation: one backward per subnet (so activations of one subnet are freed before the
next runs), gradients accumulate, and one optimizer step follows. The learning rate follows a timm
scheduler built per phase and set from the step count, so a resumed run continues the exact
schedule. Validation extracts the smallest, a middle and the largest subnet, recalibrates their
BatchNorm on a fixed set of training images and reports accuracy and macro recall of each.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from timm.optim import param_groups_weight_decay
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix, MulticlassRecall

from core.device import batch_format, to_memory_format
from core.errors import CheckpointError, TrainingError
from supernet.net import SuperNet, extract_subnet
from core.errors import GreenError
from core.jsontypes import JSONObject
from supernet.data import class_weights_of
from supernet.identity import DataIdentity
from supernet.metrics import confusion_figures
from supernet.strategy import Phase, Strategy, step_rng

EVAL_ARCHS = ("smallest", "middle", "largest")


def distill_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """KL divergence from the teacher's soft predictions (temperature 1)."""
    return F.kl_div(F.log_softmax(student, 1), F.log_softmax(teacher, 1), reduction="batchmean", log_target=True)


class SupernetModule(pl.LightningModule):
    """Trains a :class:`SuperNet` with a :class:`Strategy`.

    Args:
        net: the supernet.
        strategy: which subnets each step trains, in which phases.
        optimizer: partial optimizer (Hydra ``_partial_``), given parameter groups.
        scheduler: partial timm scheduler, given the optimizer and ``t_initial`` (steps of a phase).
        epochs: training epochs for strategies that do not define their own phases.
        label_smoothing: of the hard-label cross-entropy.
        calib_images: training images used to recalibrate BatchNorm before validation.
        grad_clip: max gradient norm (None: no clipping).
        seed: seed of subnet sampling.
    """

    def __init__(self, net: SuperNet, strategy: Strategy, optimizer: Callable, scheduler: Callable | None = None,
                 epochs: int = 10, label_smoothing: float = 0.1, calib_images: int = 512,
                 grad_clip: float | None = None, seed: int = 0):
        super().__init__()
        self.automatic_optimization = False
        self.save_hyperparameters(ignore=["net", "strategy", "optimizer", "scheduler"], logger=False)  # in the ckpt;
        # TensorBoard gets the run's curated set (supernet.train.hparams) instead of a second, partial one
        self.net, self.strategy = net, strategy
        self.optimizer_fn, self.scheduler_fn = optimizer, scheduler
        self.phases: list[Phase] = strategy.phases(epochs)
        if net.space.has_widths and not any("channels" in p.open for p in self.phases):
            raise GreenError(f"the space {net.space.name!r} chooses its stages' widths, but no phase of the "
                             f"{type(strategy).__name__} strategy opens 'channels' (phases: "
                             f"{[(p.name, list(p.open)) for p in self.phases]}): its narrow subnets would be untrained")
        self.fewshot: dict[str, Any] | None = None  # {split, value, init_from} of a few-shot part (checkpoint meta)
        self.teacher: torch.nn.Module | None = None
        self.phase_idx = -1
        self._sched, self._sched_phase, self._base_lr = None, -1, None
        self._calib: list[torch.Tensor] | None = None
        self._eval: dict[str, torch.nn.Module] = {}
        self.class_weight: torch.Tensor | None = None  # data.balance=loss: set when fitting starts
        n = net.num_classes
        self.val_metrics = torch.nn.ModuleDict({
            name: MetricCollection({"acc": MulticlassAccuracy(n, average="micro"),
                                    "recall": MulticlassRecall(n, average="macro"),
                                    "confusion": MulticlassConfusionMatrix(n)})
            for name in EVAL_ARCHS
        })

    # ------------------------------------------------------------------ schedule
    @property
    def total_epochs(self) -> int:
        return sum(p.epochs for p in self.phases)

    def phase_at(self, epoch: int) -> int:
        """Index of the phase that ``epoch`` belongs to (the last one past the end)."""
        end = 0
        for i, p in enumerate(self.phases):
            end += p.epochs
            if epoch < end:
                return i
        return len(self.phases) - 1

    def _phase_start_step(self, idx: int) -> int:
        return sum(p.epochs for p in self.phases[:idx]) * self.trainer.num_training_batches

    def configure_optimizers(self):
        wd = getattr(self.optimizer_fn, "keywords", {}).get("weight_decay", 0.0)
        # no decay on norms, biases and the kernel transforms (initialised to the identity, not 0)
        groups = param_groups_weight_decay(self.net, wd, no_weight_decay_list=self._no_decay_names())
        opt = self.optimizer_fn(groups)
        # the configured rates, read before a resumed run restores the optimizer's scheduled ones
        self._base_lr = [g["lr"] for g in opt.param_groups]
        return opt

    def _no_decay_names(self) -> list[str]:
        return [n for n, _ in self.net.named_parameters() if "ks_transform" in n]

    def _enter_phase(self, idx: int) -> None:
        """Phase change: sort channels before width (or channel) choices open, snapshot the teacher before shrinking."""
        prev = self.phases[self.phase_idx] if self.phase_idx >= 0 else None
        phase = self.phases[idx]
        opt = self.optimizers()
        opens = {d for d in ("width", "channels") if d in phase.open and (prev is None or d not in prev.open)}
        if opens and self.phase_idx >= 0:
            self.net.sort_channels(getattr(opt, "optimizer", opt))
        if self.strategy.teacher == "frozen" and phase.open and self.teacher is None:
            self.teacher = self._make_teacher()
        self.phase_idx = idx

    def _make_teacher(self) -> torch.nn.Module:
        teacher = extract_subnet(self.net, self.net.space.largest()).eval()
        teacher.requires_grad_(False)
        return teacher

    def _lr_step(self, opt: torch.optim.Optimizer) -> None:
        """Set this step's learning rate from the phase's scheduler (stateless in the step count)."""
        if self._sched_phase != self.phase_idx:
            phase = self.phases[self.phase_idx]
            for g, base in zip(opt.param_groups, self._base_lr):
                g["initial_lr"] = g["lr"] = phase.lr if phase.lr is not None else base
            steps = phase.epochs * self.trainer.num_training_batches
            self._sched = self.scheduler_fn(opt, t_initial=steps) if self.scheduler_fn else None
            self._sched_phase = self.phase_idx
        if self._sched is not None:
            self._sched.step_update(self.global_step - self._phase_start_step(self.phase_idx))

    # ------------------------------------------------------------------ training
    def setup(self, stage: str) -> None:
        # the supernet (and a restored teacher) laid out as the data module's batches: channels_last by default
        fmt = batch_format(self._trainer)
        to_memory_format(self.net, fmt)
        if self.teacher is not None:
            to_memory_format(self.teacher, fmt)

    def on_fit_start(self) -> None:
        w = class_weights_of(self.trainer)
        self.class_weight = None if w is None else w.to(self.device)

    def on_train_epoch_start(self) -> None:
        idx = self.phase_at(self.current_epoch)
        if idx != self.phase_idx:
            self._enter_phase(idx)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        # dropout and any other global randomness restart from the step: exact resume
        torch.manual_seed(self.hparams.seed * 1_000_003 + self.global_step)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        opt = self.optimizers()
        raw_opt = getattr(opt, "optimizer", opt)
        self._lr_step(raw_opt)
        phase = self.phases[self.phase_idx]
        archs = self.strategy.archs(self.net.space, phase, step_rng(self.hparams.seed, self.global_step))
        opt.zero_grad(set_to_none=True)
        teacher_logits = None
        if self.teacher is not None:
            self.teacher.eval()
            with torch.no_grad():
                teacher_logits = self.teacher(x)
        losses, logs = [], defaultdict(list)
        for role, arch in archs:
            logits = self.net(x, arch)
            loss = F.cross_entropy(logits, y, weight=self.class_weight, label_smoothing=self.hparams.label_smoothing)
            if teacher_logits is not None and self.strategy.kd_ratio > 0:
                kd = distill_loss(logits, teacher_logits)
                loss = loss + self.strategy.kd_ratio * kd
                logs["train/kd"].append(kd.detach())
            self.manual_backward(loss)
            if role == "largest" and self.strategy.teacher == "inplace":
                teacher_logits = logits.detach()
            losses.append(loss.detach())
            logs[f"train/loss_{role}"].append(loss.detach())
        finite = torch.isfinite(torch.stack(losses))
        if not bool(finite.all()):
            i = int((~finite).nonzero()[0])
            role, arch = archs[i]
            raise TrainingError(f"non-finite loss {losses[i].item()} at step {self.global_step} "
                                f"(epoch {self.current_epoch}) for the {role} subnet {arch}; "
                                "lower the learning rate or enable grad_clip")
        if self.hparams.grad_clip:
            self.clip_gradients(opt, gradient_clip_val=self.hparams.grad_clip, gradient_clip_algorithm="norm")
        opt.step()
        bs = x.shape[0]
        for k, v in logs.items():
            self.log(k, torch.stack(v).mean(), on_step=True, on_epoch=True, batch_size=bs, prog_bar=k.endswith("largest"),
                     sync_dist=True)
        self.log("train/loss", torch.stack(losses).mean(), on_step=True, on_epoch=True, batch_size=bs, prog_bar=True,
                 sync_dist=True)
        self.log("train/lr", raw_opt.param_groups[0]["lr"], on_step=True, on_epoch=False, batch_size=bs)
        self.log("train/phase", float(self.phase_idx), on_step=False, on_epoch=True, batch_size=bs, sync_dist=True)

    # ------------------------------------------------------------------ validation
    def calib_batches(self) -> list[torch.Tensor]:
        """The fixed BatchNorm calibration images, on this module's device (built once)."""
        if self._calib is None:
            self._calib = self.trainer.datamodule.calib_batches(self.hparams.calib_images)
        return [x.to(self.device) for x in self._calib]

    def eval_archs(self) -> JSONObject:
        space = self.net.space
        return {"smallest": space.smallest(), "middle": space.middle(), "largest": space.largest()}

    def on_validation_epoch_start(self) -> None:
        calib = self.calib_batches()
        self._eval = {name: extract_subnet(self.net, arch, calib).eval() for name, arch in self.eval_archs().items()}

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        for name, model in self._eval.items():
            self.val_metrics[name].update(model(x), y)

    def on_validation_epoch_end(self) -> None:
        accs = []
        for name in EVAL_ARCHS:
            values = self.val_metrics[name].compute()
            self.val_metrics[name].reset()
            dm = getattr(self.trainer, "datamodule", None)
            cm = values.pop("confusion")
            per_class = confusion_figures(cm, [str(c) for c in (getattr(dm, "classes", None) or range(cm.shape[0]))])
            values["recall_min"] = torch.tensor(per_class["recall_min"], device=cm.device)
            for k, v in values.items():
                # torchmetrics already reduced over ranks; sync_dist only averages equal values
                self.log(f"val/{k}_{name}", v, prog_bar=(k == "acc" and name == "largest"), sync_dist=True)
            for c, r in per_class["class_recall"].items():  # TensorBoard: a curve per class and subnet
                self.log(f"val_class_recall_{name}/{c}", r, sync_dist=True)
            accs.append(values["acc"])
        self.log("val/acc_mean", torch.stack(accs).mean(), sync_dist=True)
        self._eval = {}

    # ------------------------------------------------------------------ checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["green"] = {
            "space": self.net.space.to_dict(), "space_digest": self.net.space.digest(),
            "num_classes": self.net.num_classes, "in_chans": self.net.in_chans,
            "phase_idx": self.phase_idx, "teacher": self.teacher is not None,
            "data": self._data_summary(), "fewshot": self.fewshot,
        }

    def _data_summary(self) -> JSONObject:
        """What later commands need to rebuild the same validation split (never trained on)."""
        dm = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if dm is None:
            return {}
        return {"class": type(dm).__name__, **DataIdentity.of(dm).to_json()}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        meta = checkpoint.get("green")
        if not isinstance(meta, dict):
            raise CheckpointError("checkpoint was not written by green-train (no 'green' section)")
        if meta.get("space_digest") != self.net.space.digest():
            raise CheckpointError(f"checkpoint is for search space {meta.get('space_digest')}, "
                                  f"the configured space is {self.net.space.digest()}")
        self.phase_idx = int(meta.get("phase_idx", -1))
        if meta.get("teacher") and self.teacher is None:
            self.teacher = self._make_teacher()  # its weights come with the state dict
