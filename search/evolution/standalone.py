"""Multi-trial scoring: each candidate trained standalone from scratch for a short, stated budget.

One-shot NAS (once-for-all) scores a candidate with weights inherited from the supernet; the
classic alternative it saves on is *multi-trial* search, where every candidate is trained on its
own (Zoph & Le's NAS, and the "short training" proxies of later work). :class:`StandaloneEvaluator`
is that scorer with the interface of :class:`~search.evolution.evaluate.SubnetEvaluator`, so the same
evolution runs in either mode: a candidate is built from a random initialisation seeded by the
search seed and its arch string (its score does not depend on when it is evaluated), trained
with Lightning for ``epochs`` over the first ``train_subset`` training images, and scored on the
very validation images the one-shot scorer uses (never the test split).
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import logging
import time
from typing import Callable, Iterator

import pytorch_lightning as pl
import torch
from torch.utils.data import Subset

from search.evolution.evaluate import SubnetEvaluator
from search.training.fit import INITS, init_weights
from search.training.module import SubnetModule
from supernet.arch import ArchConfig
from supernet.data import ImageDataModule
from core.errors import GreenError
from core.jsontypes import JSONObject
from supernet.net import GreenNet
from supernet.space import SearchSpace


def candidate_seed(seed: int, arch: ArchConfig | str) -> int:
    """A seed for one candidate from the search seed and its arch string (stable across processes)."""
    digest = hashlib.sha256(f"{seed}:{arch}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


@contextlib.contextmanager
def quiet_lightning() -> Iterator[None]:
    """Lightning's per-Trainer notices (accelerators, tips, "fit stopped") off, warnings kept."""
    log = logging.getLogger("pytorch_lightning.utilities.rank_zero")
    level = log.level
    log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        log.setLevel(level)


class StandaloneEvaluator:
    """Validation accuracy and macro recall of a subnet trained from scratch for a fixed budget.

    Args:
        scorer: the one-shot evaluator of the same data; its validation images (and only those)
            score the trained candidates, so both modes rank on the same images.
        dm: the data module (its training split is trained on, with its augmentation).
        space, num_classes, in_chans: what the candidates are built for.
        optimizer: ``params -> Optimizer`` (``search.training.fit.make_optimizer`` partial).
        scheduler: ``(optimizer, t_initial) -> scheduler`` stepped per batch (timm), or None.
        trainer: ``**kwargs -> pl.Trainer`` (a partial of the trainer config).
        epochs: training epochs per candidate.
        train_subset: the first this many training images (None: the whole training split).
        batch_size: training batch size.
        label_smoothing: of the cross-entropy.
        init: ``default`` (the constructor's), ``glorot`` or ``he``.
        seed: the search seed; each candidate's seed derives from it and its arch.
    """

    def __init__(self, scorer: SubnetEvaluator, dm: ImageDataModule, space: SearchSpace, num_classes: int,
                 in_chans: int, optimizer: Callable, trainer: Callable[..., pl.Trainer],
                 scheduler: Callable | None = None, epochs: int = 1, train_subset: int | None = None,
                 batch_size: int = 64, label_smoothing: float = 0.1, init: str = "default", seed: int = 0):
        if epochs < 1:
            raise GreenError(f"multi_trial.epochs must be >= 1, got {epochs}")
        if batch_size < 1 or (train_subset is not None and train_subset < 1):
            raise GreenError(f"multi_trial.batch_size and train_subset must be >= 1, got {batch_size} and "
                             f"{train_subset}")
        if not 0 <= label_smoothing < 1:
            raise GreenError(f"multi_trial.label_smoothing must lie in [0, 1), got {label_smoothing}")
        if init not in INITS:
            raise GreenError(f"unknown multi_trial.init {init!r}; choose from {', '.join(INITS)}")
        optimizer([torch.nn.Parameter(torch.zeros(1))])  # a bad optimizer name or lr fails now, not mid-search
        dm.setup()
        n = len(dm.train_set) if train_subset is None else min(int(train_subset), len(dm.train_set))
        # the same split, normalisation, augmentation and seeded order, fewer images and the budget's batch size
        self.data = copy.copy(dm)
        self.data.train_set, self.data.batch_size = Subset(dm.train_set, range(n)), int(batch_size)
        self.scorer, self.space, self.num_classes, self.in_chans = scorer, space, num_classes, in_chans
        self.optimizer, self.scheduler, self.trainer = optimizer, scheduler, trainer
        self.epochs, self.label_smoothing, self.init, self.seed = int(epochs), float(label_smoothing), init, seed

    @property
    def val_images(self) -> int:
        """How many validation images score a candidate (the one-shot scorer's)."""
        return len(self.scorer.val_y)

    def budget(self) -> JSONObject:
        """The stated training budget of every candidate (the keys of ``recipe.recipe`` where shared)."""
        n, bs = len(self.data.train_set), self.data.batch_size
        steps = n // bs if n > bs else 1  # the loader drops a last partial batch when there is more than one
        opt = dict(getattr(self.optimizer, "keywords", {}))
        sched = getattr(self.scheduler, "func", self.scheduler)
        return {"epochs": self.epochs, "optimizer": opt.pop("name", None), "lr": opt.pop("lr", None),
                "weight_decay": opt.pop("weight_decay", 0.0), "optimizer_args": opt,
                "schedule": "constant" if sched is None else getattr(sched, "__name__", str(sched)),
                "label_smoothing": self.label_smoothing, "batch_size": bs, "init": self.init,
                "train_images": n, "steps_per_candidate": self.epochs * steps,
                "images_per_candidate": self.epochs * min(n, steps * bs), "val_images": self.val_images}

    def train(self, arch: ArchConfig) -> tuple[torch.nn.Module, int]:
        """The candidate trained from scratch for the budget (in eval mode) and the images it saw."""
        seed = candidate_seed(self.seed, arch)
        torch.manual_seed(seed)  # the initialisation; SubnetModule reseeds every step from ``seed``
        model = init_weights(GreenNet(self.space, arch, self.num_classes, self.in_chans), self.init)
        module = SubnetModule(model, self.optimizer, self.scheduler, self.label_smoothing, seed=seed,
                              num_classes=self.num_classes, name=str(arch))
        with quiet_lightning():  # one candidate of many: the search's own progress bar reports
            trainer = self.trainer(max_epochs=self.epochs, logger=False, enable_checkpointing=False,
                                   enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                                   num_sanity_val_steps=0)
            trainer.fit(module, datamodule=self.data)
        return model.to(self.scorer.val_y.device).eval(), module.images_seen

    def __call__(self, arch: ArchConfig) -> dict[str, float]:
        """The scorer's figures (``acc``, ``recall``, ``recall_min``, tracked ``recall:<class>``) on the validation
        images, training ``images_seen``, ``train_seconds`` and ``eval_seconds`` (training included)."""
        t = time.perf_counter()
        model, seen = self.train(arch)
        trained = time.perf_counter()
        out = self.scorer.score(self.scorer.predict(model))
        return {**out, "images_seen": seen, "train_seconds": trained - t, "eval_seconds": time.perf_counter() - t}
