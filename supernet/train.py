"""``green-train``: train the elastic supernet once (a Hydra app).

``train(cfg)`` is the importable command; ``green-train`` is its thin Hydra wrapper in :mod:`supernet.commands`. The run folder
(Hydra's output dir) receives TensorBoard logs under ``tb/``, checkpoints (``last.ckpt`` and the
best by mean validation accuracy) under ``checkpoints/``, ``metrics.json`` and the energy of the
training booked by codecarbon (``energy_train.json``, by the ``callbacks.energy`` callback). Point ``resume=``
at a ``last.ckpt`` to continue a run: phase, epoch, optimizer state and schedule carry on.
"""
from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import TensorBoardLogger
from pytorch_lightning.utilities.exceptions import SIGTERMException

from supernet.checkpoint import AtomicCheckpointIO, read_checkpoint, refuse_unusable
from core.device import set_threads
from core.errors import CheckpointError, GreenError
from supernet.fewshot import FewShot, Split, SubSpace
from core.io import write_json
from supernet.module import SupernetModule
from supernet.net import SuperNet
from core.progress import ProgressLine
from core.signals import StopOnSignal

# the settings a user compares runs by in TensorBoard's HPARAMS tab; paths, threads, callbacks and green-run's own
# keys (stages, pipeline, top_k) would only add columns that never explain a difference in accuracy
HPARAMS = ("data", "space", "strategy", "model", "module", "optimizer", "scheduler", "fewshot", "epochs", "seed",
           "init_from")


def _without_targets(v: object) -> object:
    """``v`` without ``_target_``/``_partial_`` entries or the data's folder, at any depth: TensorBoard's HPARAMS
    tab shows what a user compares runs by, and a class path or a folder is not a hyperparameter."""
    if isinstance(v, dict):
        return {k: _without_targets(x) for k, x in v.items() if k not in ("_target_", "_partial_", "root")}
    return v


def build(cfg: DictConfig) -> tuple[pl.LightningDataModule, SupernetModule]:
    """Data module and Lightning module described by ``cfg`` (data is set up to size the net)."""
    dm = instantiate(cfg.data)
    dm.setup("fit")
    space = instantiate(cfg.space)
    # objects go in after instantiation: Hydra would turn a dataclass argument into a config
    net = instantiate(cfg.model.net)(space=space, num_classes=dm.num_classes, in_chans=dm.in_chans)
    strategy = instantiate(cfg.strategy)
    few = cfg.get("fewshot") or {}
    if few.get("split") is not None:
        if not cfg.get("init_from"):
            raise GreenError("a few-shot part (fewshot.split) starts from the one-shot supernet: pass init_from=")
        split = Split.parse(few.split)
        if few.get("value") is None:
            raise GreenError(f"fewshot.split={split} needs fewshot.value, one of {split.values(space)}")
        SubSpace(space, split, few.value)  # refuses a choice or value the space lacks
        strategy = FewShot(strategy, split, few.value)
    if cfg.get("init_from"):
        inherit(net, cfg.init_from, dm)
    module = SupernetModule(
        net=net, strategy=strategy, optimizer=instantiate(cfg.optimizer),
        scheduler=instantiate(cfg.scheduler) if cfg.get("scheduler") else None,
        epochs=cfg.epochs, seed=cfg.seed, **cfg.module,
    )
    if few.get("split") is not None:
        module.fewshot = {"split": str(split), "value": few.value, "init_from": str(cfg.init_from)}
    return dm, module


def inherit(net: SuperNet, ckpt: str, dm: Any) -> None:
    """Start ``net`` from the weights of the supernet checkpoint ``ckpt``: same space, classes and split (the
    images it validated on must stay unseen)."""
    from supernet.checkpoint import check_data, load_supernet

    if not Path(ckpt).is_file():
        raise CheckpointError(f"init_from checkpoint {str(ckpt)!r} does not exist")
    src, meta = load_supernet(ckpt)
    check_data(dm, meta)  # the same split: its validation images must stay unseen
    if src.space.digest() != net.space.digest():
        raise GreenError(f"init_from {str(ckpt)!r} is a supernet of another space ({src.space.name!r}, "
                         f"{src.space.digest()}; configured {net.space.name!r}, {net.space.digest()})")
    if (src.num_classes, src.in_chans) != (net.num_classes, net.in_chans):
        raise GreenError(f"init_from {str(ckpt)!r} has {src.num_classes} classes and {src.in_chans} channels, "
                         f"the data {net.num_classes} and {net.in_chans}")
    net.load_state_dict(src.state_dict())


def resume_path(cfg: DictConfig, out: Path) -> str | None:
    """The checkpoint to continue from: ``resume=<path>``, or with ``resume=auto`` the run folder's own
    ``last.ckpt`` if there is one (a requeued cluster job reruns the same line); a damaged one is refused."""
    resume = cfg.get("resume")
    if resume == "auto":
        last = out / "checkpoints" / "last.ckpt"
        resume = str(last) if last.exists() else None
    if resume:
        if not Path(resume).is_file():
            raise CheckpointError(f"resume checkpoint {resume!r} does not exist")
        refuse_unusable(resume)
    return resume


def finished(out: Path, resume: str | None, epochs: int) -> dict[str, float] | None:
    """The metrics of a run that already ended, after ``epochs`` epochs, at the checkpoint being resumed
    (nothing left to do), else None; a finished run resumed with more epochs goes on."""
    done = out / "metrics.json"
    if not resume or not done.is_file():
        return None
    import json

    try:
        record = json.loads(done.read_text())
        step, ended = int(record["global_step"]), int(record["epochs"])
    except (ValueError, KeyError, TypeError):
        return None  # an unreadable record: train (Lightning ends at once if the epochs are done)
    same = read_checkpoint(resume).get("global_step") == step and ended >= epochs
    return record.get("metrics", {}) if same else None


def train(cfg: DictConfig) -> dict[str, float]:
    """Train the supernet described by ``cfg``; returns the final logged metrics."""
    if cfg.epochs < 1:
        raise GreenError(f"epochs must be >= 1, got {cfg.epochs}")
    out = Path(cfg.paths.output_dir)
    resume = resume_path(cfg, out)
    total = sum(p.epochs for p in instantiate(cfg.strategy).phases(cfg.epochs))
    done = finished(out, resume, total)
    if done is not None:
        print(f"green-train: nothing to do: the run in {str(out)!r} already finished at this checkpoint "
              f"(metrics.json)", flush=True)
        return done
    if resume and Path(resume).resolve().parent.parent != out.resolve():
        # a branch (another run's checkpoint, this folder) with no epoch left would train nothing and publish
        # a metrics.json naming a last.ckpt that was never written
        have = int(read_checkpoint(resume).get("epoch", -1)) + 1
        if have >= total:
            raise GreenError(f"nothing to train: {resume!r} has trained {have} epochs and this run asks for {total} "
                             f"in all; ask for more (epochs=...) to continue it into {str(out)!r}")
    set_threads(cfg.get("threads"))
    pl.seed_everything(cfg.seed, workers=True)
    dm, module = build(cfg)
    logger = TensorBoardLogger(save_dir=str(out), name="tb", version="", default_hp_metric=False)
    # no version counter: a best.ckpt left by an attempt that stopped early (a full disk before last.ckpt) is
    # replaced by this run's, not kept beside a best-v1.ckpt
    best = ModelCheckpoint(dirpath=out / "checkpoints", filename="best", monitor="val/acc_mean", mode="max",
                           auto_insert_metric_name=False, enable_version_counter=False)
    # Lightning's save_last only copies a checkpoint when a top-k one is saved, so an epoch without a
    # new best would never reach last.ckpt; this one (no monitor) rewrites it after every epoch
    last = ModelCheckpoint(dirpath=out / "checkpoints", filename="last", save_top_k=1,
                           auto_insert_metric_name=False, enable_version_counter=False)
    stop = StopOnSignal(out / "checkpoints" / "last.ckpt")
    energy = instantiate(cfg.callbacks.energy, accumulate=bool(resume))  # a resumed run adds to what it booked before
    trainer: pl.Trainer = instantiate(cfg.trainer, max_epochs=module.total_epochs, logger=logger,
                                      callbacks=[energy, best, last, stop, ProgressLine("green-train supernet")],
                                      default_root_dir=str(out),
                                      plugins=[AtomicCheckpointIO()])
    hp = _without_targets(OmegaConf.to_container(OmegaConf.masked_copy(cfg, [k for k in HPARAMS if k in cfg]),
                                                 resolve=True))
    logger.log_hyperparams(hp)  # the logger flattens them to optimizer/lr keys
    try:
        trainer.fit(module, datamodule=dm, ckpt_path=resume, weights_only=True)
    except SIGTERMException:  # Lightning's own SIGTERM stop (its notifier ran before ours): same outcome
        stop.signum = stop.signum or signal.SIGTERM
        raise stop.interrupted(trainer) from None
    except RuntimeError as err:
        if resume and "checkpoint" in str(err).lower():
            raise CheckpointError(f"cannot resume from {resume!r}: {str(err).splitlines()[0]}") from None
        raise
    finally:
        stop.restore()
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if torch.is_tensor(v) and v.numel() == 1}
    metrics = {k: v for k, v in sorted(metrics.items())}
    # TensorBoard's HPARAMS tab: the run's config against its final validation figures
    logger.log_hyperparams(hp,
                           metrics={f"hp/{k}": v for k, v in metrics.items() if k.startswith("val/")})
    if trainer.is_global_zero:
        write_json(out / "metrics.json", {"metrics": metrics, "epochs": trainer.current_epoch,
                                          "global_step": trainer.global_step,
                                          "last_ckpt": str(out / "checkpoints" / "last.ckpt")})
        acc = f", val acc {metrics['val/acc_mean']:.4f} (mean over sampled subnets)" if "val/acc_mean" in metrics else ""
        print(f"green-train: {trainer.current_epoch} epochs{acc} -> {out / 'checkpoints' / 'last.ckpt'} "
              f"(TensorBoard: tensorboard --logdir {out})", flush=True)
    return metrics
