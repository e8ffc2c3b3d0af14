"""One ``green-hpo`` trial: a short fine-tune with one setting, stopped early when hopeless, then scored.

A trial trains through the shared recipe (:func:`search.training.fit.fit`) with its setting merged
into the config (:func:`trial_cfg`), exactly as ``green-finetune`` would train with the experiment
``green-hpo`` writes for it. :class:`Pruner` is asynchronous successive halving; :func:`choose`
picks the best trial on the select slice, :func:`report` scores it on the report slice.
"""
from __future__ import annotations

import copy
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Sequence

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, open_dict
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors, save as save_tensors

from search.training.fit import fit, starting_model
from search.training.module import SubnetModule
from search.evolution.objectives import Constraint
from search.stats import accuracy_se
from search.tuning.slices import Slices
from search.tuning.space import HyperConfig
from core.errors import GreenError, TrainingError
from core.io import write_atomic
from core.jsontypes import JSONObject


def choose(trials: Sequence[dict], bounds: Sequence[Constraint] = ()) -> dict:
    """The chosen trial: the best select-slice accuracy, the cheaper training on a tie (then the earlier);
    a failed (diverged) trial, or one that misses a score bound (``hpo.constraints``), is never chosen."""
    ok = [r for r in trials if not r.get("failed")]
    if not ok:
        raise TrainingError(f"every one of the {len(trials)} trials failed (first: {trials[0].get('failed')}); "
                            "narrow hpo.space (e.g. lower learning rates)")
    ok = [r for r in ok if all(c.ok(r) for c in bounds)]
    if not ok:
        raise TrainingError(f"no trial of {len(trials)} met {', '.join(map(str, bounds))} on the select slice; "
                            "relax hpo.constraints or search more")
    return max(ok, key=lambda r: (r["select_acc"], -r["train_kwh"]))


def failed_trial(hc: HyperConfig, reason: str, bounds: dict[str, float], seed: int,
                 classes: Sequence[str] = ()) -> JSONObject:
    """The record of a trial whose training diverged: the worst fitness (no accuracy, the energy and time
    bounds), so the search goes on around it and never chooses it, and the reason, so a rerun reads it back
    from the cache instead of training it again."""
    return {"select_acc": 0.0, "select_recall": 0.0, "select_recall_min": 0.0,
            **{f"select_recall:{c}": 0.0 for c in classes}, "eval_seconds": 0.0, "train_kwh": bounds["train_kwh"],
            "train_seconds": bounds["train_seconds"], "energy_source": "failed", "epochs_run": 0, "pruned": False,
            "rung_acc": {}, "seed": seed, "failed": reason, **asdict(hc)}


def score(model: torch.nn.Module, dm: pl.LightningDataModule, cfg: DictConfig, out: Path) -> dict[str, float]:
    """Accuracy and macro recall of a trained ``model`` on ``dm``'s validation images; nothing is trained."""
    module = SubnetModule(model, optimizer=instantiate(cfg.optimizer), label_smoothing=0.0, kd_ratio=0.0,
                          seed=cfg.seed, num_classes=getattr(model, "num_classes", None), name="score")
    trainer = instantiate(cfg.trainer, logger=False, enable_checkpointing=False, default_root_dir=str(out))
    val = trainer.validate(module, datamodule=dm, verbose=False)[0]
    per_class = module.class_figures["val"]
    return {"acc": float(val["val/acc"]), "recall": float(val["val/recall"]), "recall_min": per_class["recall_min"],
            "class_recall": per_class["class_recall"]}


def report(model: torch.nn.Module, data: Slices, cfg: DictConfig, out: Path) -> JSONObject:
    """The held-out figure: accuracy on the report slice with its binomial standard error."""
    s, n = score(model, data.report, cfg, out), len(data.images[1])
    return {"report_acc": s["acc"], "report_recall": s["recall"], "report_recall_min": s["recall_min"],
            "report_class_recall": s["class_recall"], "report_images": n, "report_se": accuracy_se(s["acc"], n)}


class Pruner(pl.Callback):
    """Asynchronous successive halving: stop a trial below the best ``1/eta`` of earlier trials at a rung."""

    def __init__(self, rungs: Sequence[int], eta: float, min_trials: int, history: Callable[[int], list[float]]):
        self.rungs, self.eta, self.min_trials, self.history = set(int(r) for r in rungs), eta, min_trials, history
        self.rung_acc: dict[str, float] = {}
        self.pruned_at: int | None = None

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        acc = trainer.callback_metrics.get("val/acc")
        if epoch not in self.rungs or acc is None:
            return
        acc = float(acc)
        self.rung_acc[str(epoch)] = acc
        past = sorted(self.history(epoch))
        if len(past) >= self.min_trials:
            cut = past[min(len(past) - 1, int(len(past) * (1 - 1 / self.eta)))]
            if acc < cut:
                self.pruned_at = epoch
                trainer.should_stop = True


def trial_cfg(cfg: DictConfig, hc: HyperConfig) -> DictConfig:
    """``cfg`` with ``hc`` merged in as green-finetune config values (:meth:`HyperConfig.overrides`): the
    recipe one trial trains with (optimizer, lr, weight decay, L1, dropout, label smoothing, init)."""
    run = copy.deepcopy(cfg)
    with open_dict(run):
        run.merge_with(hc.overrides())
    return run


def run_trial(hc: HyperConfig, make_model: Callable[[bool], torch.nn.Module], data: Slices,
              calib: list[torch.Tensor], cfg: DictConfig, out: Path, name: str, seed: int,
              pruner: Pruner | None = None, keep: Path | None = None, held_out: bool = False) -> JSONObject:
    """Train one setting for ``cfg.epochs`` (or until pruned); select-slice accuracy, energy and time.

    ``keep``: where the trained weights go, so that the trial, if chosen, is scored on the report
    slice afterwards. ``held_out``: score on the report slice right away (the default recipe, the
    reference, which is never chosen).
    """
    pl.seed_everything(seed, workers=True)
    run = trial_cfg(cfg, hc)
    model = starting_model(run, make_model)
    t = time.perf_counter()
    # the trial's seed also drives its training order and augmentation (the slices stay fixed)
    dm = data.select.reseeded(seed)
    if hc.balance is not None:  # the trial's class-aware training
        dm = dm.rebalanced(hc.balance)
    module, trainer, energy = fit(model, name, dm, run, out, seed, torch.device(cfg.device),
                                  cfg.country_iso_code, num_classes=getattr(model, "num_classes", None), calib=calib,
                                  callbacks=[pruner] if pruner else [])
    val = trainer.validate(module, datamodule=data.select, verbose=False)[0]
    per_class = module.class_figures["val"]
    record = {"select_acc": float(val["val/acc"]), "select_recall": float(val["val/recall"]),
              "select_recall_min": per_class["recall_min"],
              **{f"select_recall:{c}": r for c, r in per_class["class_recall"].items()},
              "eval_seconds": time.perf_counter() - t, "train_kwh": energy.energy_kwh,
              "train_seconds": energy.seconds, "energy_source": energy.source,
              "epochs_run": trainer.current_epoch, "pruned": pruner is not None and pruner.pruned_at is not None,
              "rung_acc": dict(pruner.rung_acc) if pruner else {}, "seed": seed, **asdict(hc)}
    if keep is not None:  # safetensors: tensors only, nothing a load could execute (and no pickle at all)
        write_atomic(keep, save_tensors({k: v.detach().contiguous() for k, v in model.state_dict().items()}))
    if held_out:
        record.update(report(model, data, cfg, out))
    return record


def report_kept(hc: HyperConfig, make_model: Callable[[bool], torch.nn.Module], path: Path, data: Slices,
                cfg: DictConfig, out: Path) -> JSONObject:
    """The chosen trial, rebuilt from its kept weights, scored on the report slice."""
    if not path.is_file():
        raise GreenError(f"the chosen trial's weights {str(path)!r} are missing; use a new run folder")
    model = make_model(hc.init == "inherited")
    try:
        model.load_state_dict(load_tensors(path.read_bytes()))  # safetensors: a pickle payload is not even read
    except (SafetensorError, RuntimeError, EOFError, OSError, ValueError, TypeError, AttributeError) as err:
        raise GreenError(f"the chosen trial's weights {str(path)!r} are corrupt, truncated or not this model's "
                         f"({type(err).__name__}); use a new run folder") from None
    model.drop_rate = float(hc.dropout)
    return report(model, data, cfg, out)
