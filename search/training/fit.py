"""The shared training recipe of every standalone network: one optimizer factory, one init, one fit.

``green-finetune`` (winners), ``green-baselines`` (hand-designed CNNs), ``green-table`` (the
ground-truth table), ``green-hpo`` (each trial, with its setting merged into the config), the scratch
twins and the multi-trial route of ``green-run`` train through :func:`fit`, so their figures differ
only in what the config says: the optimizer (:func:`make_optimizer`, timm's factory), the per-step
scheduler, the loss (:class:`search.training.module.SubnetModule`), dropout before the classifier, the
initialisation (:func:`starting_model`) and the Lightning trainer. :func:`fit_and_measure` adds the
test and the on-device latency and energy; :func:`train_batch` names, seeds and resumes the models of
a command alike. This package sits below every consumer (ranking, evolution, deploy, tuning, pipeline)
so none of them imports another to train.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from pytorch_lightning.loggers import TensorBoardLogger

from search.hardware.measure import measure_deployed
from search.jobs.launch import Job, finished, launcher_of, replicate_jobs, results
from search.training.module import SubnetModule
from search.training.records import Budget, ModelResult, Recipe
from supernet.bn import recalibrate_bn
from core.energy import EnergyUse, track_energy
from core.progress import ProgressLine
from core.signals import SafePoints
from core.errors import GreenError
from supernet.metrics import pack_correct
from core.validate import finite_number
from core.jsontypes import JSONObject


OPTIMIZERS = ("sgd", "momentum", "adamw", "adam", "rmsprop", "rmsproptf", "lamb", "lion", "nadamw")
INITS = ("default", "glorot", "he")


def make_optimizer(params: Any, name: str = "sgd", lr: float = 0.02, weight_decay: float = 0.0,
                   momentum: float = 0.9) -> torch.optim.Optimizer:
    """timm's optimizer factory by name: ``sgd`` (Nesterov momentum), ``adamw``, ``rmsprop``, ..."""
    from timm.optim import create_optimizer_v2

    if name not in OPTIMIZERS:
        raise GreenError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")
    finite_number(lr, "learning rate", 0.0, low_open=True)
    return create_optimizer_v2(params, opt=name, lr=lr, weight_decay=weight_decay, momentum=momentum)


def init_weights(model: torch.nn.Module, scheme: str) -> torch.nn.Module:
    """Re-initialise convolution and linear weights: ``glorot`` (Xavier uniform), ``he`` (Kaiming normal,
    fan-out, as for ReLU networks) or ``default`` (the constructor's, untouched); biases to zero."""
    if scheme not in INITS:
        raise GreenError(f"unknown init {scheme!r}; choose from {', '.join(INITS)}")
    if scheme == "default":
        return model
    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            if scheme == "glorot":
                torch.nn.init.xavier_uniform_(m.weight)
            else:
                torch.nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                torch.nn.init.zeros_(m.bias)
    return model


def recipe(cfg: DictConfig) -> Recipe:
    """The training recipe of a fine-tuning config (:meth:`Recipe.of`)."""
    return Recipe.of(cfg)


def starting_model(cfg: DictConfig, make_model: Callable[[bool], torch.nn.Module]) -> torch.nn.Module:
    """The recipe's starting weights: inherited (``make_model(True)``), or with ``from_scratch`` a fresh
    ``make_model(False)`` re-initialised by ``init`` (:func:`init_weights`)."""
    if cfg.get("from_scratch"):
        return init_weights(make_model(False), cfg.get("init", "default"))
    return make_model(True)


def fit(model: torch.nn.Module, name: str, dm: pl.LightningDataModule, cfg: DictConfig, out: Path, seed: int,
        device: torch.device, country_iso_code: str, teacher: torch.nn.Module | None = None,
        num_classes: int | None = None, calib: list[torch.Tensor] | None = None,
        callbacks: Sequence[pl.Callback] = ()) -> tuple[SubnetModule, pl.Trainer, EnergyUse]:
    """Train ``model`` on ``dm`` for ``cfg.epochs`` with the config's recipe (optimizer, scheduler, label
    smoothing, L1, dropout, distillation from ``teacher``), its energy booked for ``device`` (codecarbon).

    The one place a standalone training is assembled. With ``calib`` batches BN is recalibrated
    afterwards. Returns the trained module, its trainer (to test or validate with) and the energy record.
    """
    if cfg.get("dropout") is not None:
        if not 0 <= cfg.dropout < 1:
            raise GreenError(f"dropout must lie in [0, 1), got {cfg.dropout}")
        model.drop_rate = float(cfg.dropout)  # dropout before the classifier (GreenNet and timm models)
    module = SubnetModule(model, optimizer=instantiate(cfg.optimizer), scheduler=instantiate(cfg.scheduler),
                          label_smoothing=cfg.label_smoothing, teacher=teacher, kd_ratio=cfg.get("kd_ratio", 1.0),
                          seed=seed, num_classes=num_classes, name=name, l1=float(cfg.get("l1") or 0.0))
    logger = TensorBoardLogger(str(out / "tb"), name=name, version="", default_hp_metric=False)
    if not any(isinstance(c, ProgressLine) for c in callbacks):  # a batch's jobs bring theirs (model i/n)
        callbacks = [*callbacks, ProgressLine(name)]
    callbacks = [*callbacks, SafePoints()]  # a stop whose raise Python dropped is raised at the next batch end
    trainer: pl.Trainer = instantiate(cfg.trainer, max_epochs=cfg.epochs, logger=logger, callbacks=list(callbacks),
                                      enable_checkpointing=False, default_root_dir=str(out))
    with track_energy(out / "energy", name, device, country_iso_code) as energy:
        trainer.fit(module, datamodule=dm)
    if calib is not None:  # short recipes leave BN running statistics behind the weights
        recalibrate_bn(model, [x.to(module.device) for x in calib])
    assert energy.result is not None  # filled when the block ends
    return module, trainer, energy.result


def fit_and_measure(model: torch.nn.Module, name: str, dm: pl.LightningDataModule, cfg: DictConfig, out: Path,
                    calib: list[torch.Tensor], teacher: torch.nn.Module | None, seed: int, resolution: int,
                    num_classes: int, in_chans: int, callbacks: Sequence[pl.Callback] = ()) -> ModelResult:
    """Train one standalone network with the config's recipe, test it, measure it on the device.

    Shared by ``green-finetune`` and ``green-baselines`` so that winners and hand-designed networks are trained
    and measured exactly the same way. ``seed`` drives the initialisation, the training order and the
    augmentation (never the splits), so replicates are independent runs. The row states the budget the model
    really got (``budget``: recipe, images seen, training kWh) and each test image's correctness
    (``test_correct``, :func:`supernet.metrics.pack_correct`). ``measure.enabled=false`` skips the
    latency/energy measurement (``green-run`` times every final model in one session instead).
    ``callbacks`` join the trainer (``green-table`` records its accuracy curves with one).
    """
    device = torch.device(cfg.measure.device)
    dm = dm.reseeded(seed)  # the replicate's own training order and augmentation, the same splits
    module, trainer, energy = fit(model, name, dm, cfg, out, seed, device, cfg.measure.country_iso_code, teacher,
                                  num_classes, calib if cfg.recalibrate_bn else None, callbacks)
    test = trainer.test(module, datamodule=dm, verbose=False)[0]
    budget = Budget(recipe(cfg), module.images_seen, len(dm.train_set), teacher is not None, energy.energy_kwh)
    if trainer.logger is not None:  # TensorBoard's HPARAMS tab: the recipe against the test figures
        trainer.logger.log_hyperparams({**budget.to_json(), "seed": seed, "model": name},
                                       metrics={"hp/test_acc": test["test/acc"], "hp/test_recall": test["test/recall"]})
    measured = (measure_deployed(model.cpu() if device.type == "cpu" else model, in_chans, resolution, device,
                                 list(cfg.measure.batch_sizes), cfg.measure)
                if cfg.measure.get("enabled", True) else None)
    per_class = module.class_figures["test"]
    return ModelResult(int(cfg.epochs), seed, test["test/acc"], test["test/recall"], per_class["recall_min"],
                       per_class["class_recall"], per_class["confusion"], len(dm.test_set), measured,
                       pack_correct(torch.cat(module.test_correct)) if module.test_correct else None, energy, budget)


def train_batch(cfg: DictConfig, names: Sequence[str], models: Path, meta_file: str, command: str,
                fn: Callable[[DictConfig, Job], Any], payloads: Sequence[JSONObject] | None = None,
                seeds: int | None = None, done: str = "trained") -> list[JSONObject]:
    """Train every model of ``names`` x ``seeds`` (``fn(cfg, job)`` each) through the config's launcher and
    return every result row in job order; finished ones (their ``meta_file`` exists) are skipped.

    Shared by ``green-finetune``, ``green-baselines`` and ``green-table``, so all name, seed, resume and
    launch replicates alike (:mod:`search.jobs.launch`).
    """
    seeds = int(cfg.get("seeds", 1)) if seeds is None else seeds
    jobs = replicate_jobs(names, seeds, int(cfg.seed), models, payloads)
    todo = []
    for job in jobs:
        if finished(job, meta_file) is not None:
            print(f"{command}: {job.key} already {done}, skipped")
        else:
            todo.append(job)
    launcher_of(cfg).run(todo, fn, cfg, models.parent / "jobs", command)
    return results(jobs, meta_file)
