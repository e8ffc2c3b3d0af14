"""``green-hpo``: multi-objective search of the training hyperparameters of the winners.

Inherited supernet weights say nothing about how to *train* a network, so the hyperparameters
(optimizer, learning rate, weight decay, an L1 penalty, dropout before the classifier, label
smoothing, and the initialisation: inherited weights, or from scratch with the constructor's,
Glorot or He initialisation) are searched per winner with short fine-tunes. The search is
:class:`~search.evolution.engine.Evolution` itself (NSGA-II/III or random) over a :class:`HyperSpace`
genome; the objectives are validation accuracy against the measured training energy
(codecarbon) or time. Hopeless trials stop early: at each rung epoch, a trial whose validation
accuracy falls below the best ``1/eta`` of the earlier trials at that rung is stopped
(asynchronous successive halving).

Held-out selection: the best of many noisy trials, scored on the images that picked it, looks
better than it is (the winner's curse). So the validation images are split once, with a seed of
their own, into two disjoint slices: trials are scored, pruned and chosen on the ``select`` slice
only; the chosen trial and the default recipe are then scored on the ``report`` slice, and that
accuracy (with its binomial standard error) is the one reported. The test split is never looked at.

Per winner, the folder ``<i>_<arch>/`` holds the search state (resumable, as ``green-search``),
``slices.json`` (which validation images each slice holds), ``trials.csv``, the chosen trial's
weights (``weights/``) and the chosen setting as a Hydra experiment for ``green-finetune``
(``configs/experiment/hpo_<i>.yaml``); ``hpo.json``/``hpo.csv`` gather every trial.

    green-hpo run=outputs/search/<run> top_k=1
    green-hpo ckpt=<last.ckpt> 'archs=[r16_k3e2_k3e2]' hpo.budget=12
    green-hpo model=outputs/extract/<folder>            # an extracted winner, no supernet needed
"""
from __future__ import annotations

import copy
import hashlib
import io
import json
import math
import pickle
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import TensorBoardLogger
from torch.utils.data import Subset

from supernet.energy import track_energy
from search.evolution.engine import Evolution
from search.deploy.export import load_subnet
from search.deploy.finetune import INITS, OPTIMIZERS, SubnetModule, init_weights, pick_archs, search_ckpt
from search.evolution.objectives import parse_objectives
from search.stats import accuracy_se
from search.hardware.timing import set_threads
from supernet.bn import recalibrate_bn
from supernet.checkpoint import check_data, check_space, load_supernet
from supernet.errors import GreenError, TrainingError
from supernet.io import write_atomic, write_csv, write_json
from supernet.net import GreenNet, extract_subnet
from supernet.space import ArchConfig
from supernet.validate import check_options, of_type, read_json

# objective name -> (trial record field, direction); accuracy and recall are the select slice's
HPO_OBJECTIVES = {"acc": ("select_acc", "max"), "recall": ("select_recall", "max"),
                  "train_energy": ("train_kwh", "min"), "train_time": ("train_seconds", "min")}
DIMS = ("optimizer", "lr", "weight_decay", "l1", "dropout", "label_smoothing", "init")
TRIAL_FIELDS = ("arch", "gen", "select_acc", "select_recall", "train_kwh", "train_seconds", "energy_source",
                "epochs_run", "pruned", "failed", "seed", *DIMS)
REPORT_FIELDS = ("report_acc", "report_recall", "report_images", "report_se")


@dataclass(frozen=True)
class HyperConfig:
    """One training setting; ``init`` is ``inherited`` (fine-tune) or a from-scratch initialisation."""

    optimizer: str
    lr: float
    weight_decay: float
    l1: float
    dropout: float
    label_smoothing: float
    init: str

    def __str__(self) -> str:
        return (f"{self.optimizer}-lr{self.lr:.3g}-wd{self.weight_decay:.3g}-l1{self.l1:.3g}-do{self.dropout:.3g}"
                f"-ls{self.label_smoothing:.3g}-{self.init}")

    def overrides(self) -> dict[str, Any]:
        """The setting as green-finetune config values."""
        return {"optimizer": {"name": self.optimizer, "lr": self.lr, "weight_decay": self.weight_decay},
                "l1": self.l1, "dropout": self.dropout, "label_smoothing": self.label_smoothing,
                "from_scratch": self.init != "inherited", "init": "default" if self.init == "inherited" else self.init}


def _grid(name: str, spec: Any) -> tuple:
    """A dimension's choices: an explicit list, or ``{low, high, steps, log}`` spaced evenly (in log if log)."""
    if OmegaConf.is_config(spec):
        spec = OmegaConf.to_container(spec, resolve=True)
    if isinstance(spec, dict):
        try:
            lo, hi, n, log = float(spec["low"]), float(spec["high"]), int(spec["steps"]), bool(spec.get("log", False))
        except (KeyError, TypeError, ValueError):
            raise GreenError(f"hpo.space.{name}: a range needs numeric low, high and steps, got {spec}") from None
        if n < 1 or lo > hi or (log and lo <= 0):
            raise GreenError(f"hpo.space.{name}: empty or invalid range {spec}")
        if n == 1:
            return (lo,)
        if log:
            return tuple(float(f"{math.exp(math.log(lo) + i * (math.log(hi) - math.log(lo)) / (n - 1)):.4g}")
                         for i in range(n))
        return tuple(float(f"{lo + i * (hi - lo) / (n - 1):.4g}") for i in range(n))
    if not isinstance(spec, (list, tuple)) or not spec:
        raise GreenError(f"hpo.space.{name} is empty: give a list of choices or a {{low, high, steps}} range")
    return tuple(spec)


class HyperSpace:
    """Every choice of the hyperparameter search, with the genome interface :class:`Evolution` uses."""

    def __init__(self, **dims: Any):
        missing = [d for d in DIMS if d not in dims]
        if missing:
            raise GreenError(f"hpo.space lacks {missing}")
        unknown = [d for d in dims if d not in DIMS]
        if unknown:
            raise GreenError(f"hpo.space has unknown dimension(s) {unknown}; dimensions are {list(DIMS)}")
        self.choices = {d: _grid(d, dims[d]) for d in DIMS}
        bad = [o for o in self.choices["optimizer"] if o not in OPTIMIZERS]
        if bad:
            raise GreenError(f"unknown optimizer(s) {bad}; choose from {', '.join(OPTIMIZERS)}")
        bad = [i for i in self.choices["init"] if i != "inherited" and i not in INITS]
        if bad:
            raise GreenError(f"unknown init(s) {bad}; choose from inherited, {', '.join(INITS)}")
        if any(v <= 0 for v in self.choices["lr"]):
            raise GreenError(f"hpo.space.lr must be > 0, got {self.choices['lr']}")
        if any(not 0 <= v < 1 for v in self.choices["dropout"]):
            raise GreenError(f"hpo.space.dropout must lie in [0, 1), got {self.choices['dropout']}")
        for d in ("weight_decay", "l1", "label_smoothing"):
            if any(v < 0 for v in self.choices[d]):
                raise GreenError(f"hpo.space.{d} must be >= 0, got {self.choices[d]}")
        if any(v >= 1 for v in self.choices["label_smoothing"]):
            raise GreenError(f"hpo.space.label_smoothing must lie in [0, 1), got {self.choices['label_smoothing']}")
        self.name = "hpo"

    def gene_sizes(self) -> list[int]:
        return [len(self.choices[d]) for d in DIMS]

    def decode(self, genome: Sequence[int]) -> HyperConfig:
        return HyperConfig(**{d: self.choices[d][int(g)] for d, g in zip(DIMS, genome)})

    def encode(self, hc: HyperConfig) -> list[int]:
        return [self.choices[d].index(getattr(hc, d)) for d in DIMS]

    def sample(self, rng: random.Random) -> HyperConfig:
        return self.decode([rng.randrange(n) for n in self.gene_sizes()])

    def nearest(self, **values: Any) -> HyperConfig:
        """The grid point nearest to a setting (log distance for positive numbers): the default recipe's."""
        def pick(d: str, v: Any) -> Any:
            choices = self.choices[d]
            if v in choices or not all(isinstance(c, (int, float)) for c in choices):
                return v if v in choices else choices[0]
            key = (lambda c: abs(math.log(c) - math.log(v))) if v > 0 and min(choices) > 0 else (lambda c: abs(c - v))
            return min(choices, key=key)
        return HyperConfig(**{d: pick(d, values[d]) for d in DIMS})

    def smallest(self) -> HyperConfig:
        return self.decode([0] * len(DIMS))

    largest = smallest  # no cost is known before a trial: Evolution gets explicit bounds

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.choices, sort_keys=True).encode()).hexdigest()[:12]


def _count(key: str, value: Any, n_val: int) -> int:
    """A slice size: a fraction in (0, 1) of the ``n_val`` validation images or a whole count (as data.val_size)."""
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0
            or (value >= 1 and not float(value).is_integer())):
        raise GreenError(f"hpo.{key} must be a fraction in (0, 1) or a whole count >= 1 of validation images, "
                         f"got {value!r}")
    n = int(round(value * n_val)) if value < 1 else int(value)
    if n < 1:
        raise GreenError(f"hpo.{key}={value} is less than one of the {n_val} validation images")
    return n


def slice_indices(n_val: int, select: float, report: float | None, seed: int) -> tuple[list[int], list[int]]:
    """Disjoint ``select`` and ``report`` positions in a validation split of ``n_val`` images.

    The permutation has a seed of its own (``hpo.slice_seed``), so a trial seed never moves the
    slices and every run on the same validation split scores on the same images. ``report=None``
    takes the images the select slice leaves.
    """
    n_sel = _count("select_images", select, n_val)
    if report is None and n_sel >= n_val:
        raise GreenError(f"hpo.select_images={select} takes all {n_val} validation images: none is left for "
                         "the report slice")
    n_rep = n_val - n_sel if report is None else _count("report_images", report, n_val)
    if n_sel + n_rep > n_val:
        raise GreenError(f"hpo.select_images ({n_sel}) and hpo.report_images ({n_rep}) need {n_sel + n_rep} "
                         f"validation images, the validation split (data.val_size) has {n_val}")
    perm = torch.randperm(n_val, generator=torch.Generator().manual_seed(int(seed))).tolist()
    return sorted(perm[:n_sel]), sorted(perm[n_sel:n_sel + n_rep])


def _on_val(dm: pl.LightningDataModule, idx: list[int]) -> pl.LightningDataModule:
    """A shallow copy of ``dm`` validating on ``idx`` of its validation images; training images,
    augmentation and seeds stay shared, so a trial trains exactly as on ``dm``."""
    view = copy.copy(dm)
    view.val_set = Subset(dm.val_set, idx)
    return view


@dataclass(frozen=True)
class Slices:
    """The validation split seen as two disjoint slices: ``select`` scores, prunes and chooses trials;
    ``report`` only scores the chosen trial and the default recipe, so the figure reported is not
    the one that picked. ``images`` are the slices' indices in the training split (before the
    validation split is carved), the identity a resumed folder is checked against."""

    select: pl.LightningDataModule
    report: pl.LightningDataModule
    images: tuple[tuple[int, ...], tuple[int, ...]]
    seed: int

    def info(self) -> dict[str, Any]:
        """Sizes, seed and a digest of the images: what hpo.json records."""
        digest = hashlib.sha256(json.dumps([list(s) for s in self.images]).encode()).hexdigest()[:12]
        return {"select_images": len(self.images[0]), "report_images": len(self.images[1]), "slice_seed": self.seed,
                "digest": digest}


def carve(cfg: DictConfig, dm: pl.LightningDataModule) -> Slices:
    """The select and report slices of ``cfg.hpo`` over ``dm``'s (set up) validation split."""
    limit = cfg.trainer.get("limit_val_batches")
    if limit is not None and not (isinstance(limit, float) and limit == 1.0):
        raise GreenError(f"trainer.limit_val_batches={limit} would cut the validation slices short: size them "
                         "with hpo.select_images and hpo.report_images instead")
    h = cfg.hpo
    sel, rep = slice_indices(len(dm.val_set), h.select_images, h.report_images, h.slice_seed)
    base = getattr(dm.val_set, "indices", range(len(dm.val_set)))
    images = (tuple(int(base[i]) for i in sel), tuple(int(base[i]) for i in rep))
    return Slices(_on_val(dm, sel), _on_val(dm, rep), images, int(h.slice_seed))


def _claim(folder: Path, data: Slices) -> None:
    """Tie a winner's folder to its slices: a resumed search on other images would mix two selections."""
    path, info = folder / "slices.json", data.info()
    if path.is_file():
        have = of_type(read_json(path, "validation slices"), dict, f"validation slices {str(path)!r}")
        if have.get("digest") != info["digest"]:
            raise GreenError(f"{str(folder)!r} holds trials scored on other validation slices "
                             f"({have.get('select_images')}/{have.get('report_images')} images, digest "
                             f"{have.get('digest')}; now {info['select_images']}/{info['report_images']}, "
                             f"{info['digest']}); use a new run folder")
    elif (folder / "cache.json").is_file():
        raise GreenError(f"{str(folder)!r} holds trials of a green-hpo without held-out slices; use a new run folder")
    else:
        write_json(path, {**info, "select": list(data.images[0]), "report": list(data.images[1])})


def choose(trials: Sequence[dict]) -> dict:
    """The chosen trial: the best select-slice accuracy, the cheaper training on a tie (then the earlier);
    a failed (diverged) trial is never chosen."""
    ok = [r for r in trials if not r.get("failed")]
    if not ok:
        raise TrainingError(f"every one of the {len(trials)} trials failed (first: {trials[0].get('failed')}); "
                            "narrow hpo.space (e.g. lower learning rates)")
    return max(ok, key=lambda r: (r["select_acc"], -r["train_kwh"]))


def failed_trial(hc: HyperConfig, reason: str, bounds: dict[str, float], seed: int) -> dict[str, Any]:
    """The record of a trial whose training diverged: the worst fitness (no accuracy, the energy and time
    bounds), so the search goes on around it and never chooses it, and the reason, so a rerun reads it back
    from the cache instead of training it again."""
    return {"select_acc": 0.0, "select_recall": 0.0, "eval_seconds": 0.0, "train_kwh": bounds["train_kwh"],
            "train_seconds": bounds["train_seconds"], "energy_source": "failed", "epochs_run": 0, "pruned": False,
            "rung_acc": {}, "seed": seed, "failed": reason, **asdict(hc)}


def score(model: torch.nn.Module, dm: pl.LightningDataModule, cfg: DictConfig, out: Path) -> dict[str, float]:
    """Accuracy and macro recall of a trained ``model`` on ``dm``'s validation images; nothing is trained."""
    module = SubnetModule(model, instantiate(cfg.optimizer), None, 0.0, None, 0.0, cfg.seed,
                          getattr(model, "num_classes", None), "score")
    trainer = instantiate(cfg.trainer, logger=False, enable_checkpointing=False, default_root_dir=str(out))
    val = trainer.validate(module, datamodule=dm, verbose=False)[0]
    return {"acc": float(val["val/acc"]), "recall": float(val["val/recall"])}


def report(model: torch.nn.Module, data: Slices, cfg: DictConfig, out: Path) -> dict[str, Any]:
    """The held-out figure: accuracy on the report slice with its binomial standard error."""
    s, n = score(model, data.report, cfg, out), len(data.images[1])
    return {"report_acc": s["acc"], "report_recall": s["recall"], "report_images": n,
            "report_se": accuracy_se(s["acc"], n)}


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


def run_trial(hc: HyperConfig, make_model: Callable[[bool], torch.nn.Module], data: Slices,
              calib: list[torch.Tensor], cfg: DictConfig, out: Path, name: str, seed: int,
              pruner: Pruner | None = None, keep: Path | None = None, held_out: bool = False) -> dict[str, Any]:
    """Train one setting for ``cfg.epochs`` (or until pruned); select-slice accuracy, energy and time.

    ``keep``: where the trained weights go, so that the trial, if chosen, is scored on the report
    slice afterwards. ``held_out``: score on the report slice right away (the default recipe, the
    reference, which is never chosen).
    """
    pl.seed_everything(seed, workers=True)
    model = make_model(hc.init == "inherited")
    if hc.init != "inherited":
        init_weights(model, hc.init)
    model.drop_rate = float(hc.dropout)
    opt = instantiate(cfg.optimizer, name=hc.optimizer, lr=hc.lr, weight_decay=hc.weight_decay)
    module = SubnetModule(model, opt, instantiate(cfg.scheduler), hc.label_smoothing, None, 0.0, seed,
                          getattr(model, "num_classes", None), name, hc.l1)
    logger = TensorBoardLogger(str(out / "tb"), name=name, version="", default_hp_metric=False)
    trainer = instantiate(cfg.trainer, max_epochs=cfg.epochs, logger=logger, enable_checkpointing=False,
                          default_root_dir=str(out), callbacks=[pruner] if pruner else [])
    t = time.perf_counter()
    with track_energy(out / "energy", name, torch.device(cfg.device), cfg.country_iso_code) as energy:
        # the trial's seed also drives its training order and augmentation (the slices stay fixed)
        trainer.fit(module, datamodule=data.select.reseeded(seed))
    recalibrate_bn(model, [x.to(module.device) for x in calib])
    val = trainer.validate(module, datamodule=data.select, verbose=False)[0]
    record = {"select_acc": float(val["val/acc"]), "select_recall": float(val["val/recall"]),
              "eval_seconds": time.perf_counter() - t, "train_kwh": energy.result["energy_kwh"],
              "train_seconds": energy.result["seconds"], "energy_source": energy.result["source"],
              "epochs_run": trainer.current_epoch, "pruned": pruner is not None and pruner.pruned_at is not None,
              "rung_acc": dict(pruner.rung_acc) if pruner else {}, "seed": seed, **asdict(hc)}
    if keep is not None:
        buf = io.BytesIO()
        torch.save(model.state_dict(), buf)
        write_atomic(keep, buf.getvalue())
    if held_out:
        record.update(report(model, data, cfg, out))
    return record


def _report_kept(hc: HyperConfig, make_model: Callable[[bool], torch.nn.Module], path: Path, data: Slices,
                 cfg: DictConfig, out: Path) -> dict[str, Any]:
    """The chosen trial, rebuilt from its kept weights, scored on the report slice."""
    if not path.is_file():
        raise GreenError(f"the chosen trial's weights {str(path)!r} are missing; use a new run folder")
    model = make_model(hc.init == "inherited")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)  # tensors only: a payload is refused
        model.load_state_dict(state)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, TypeError, AttributeError) as err:
        raise GreenError(f"the chosen trial's weights {str(path)!r} are corrupt, truncated or not this model's "
                         f"({type(err).__name__}); use a new run folder") from None
    model.drop_rate = float(hc.dropout)
    return report(model, data, cfg, out)


def _winners(cfg: DictConfig, dm: pl.LightningDataModule) -> list[tuple[str, Callable[[bool], torch.nn.Module]]]:
    """(arch, make_model(inherited)) for each winner: an extraction folder, or archs of a supernet."""
    if cfg.model:
        folder = Path(cfg.model)
        ref = load_subnet(folder)
        if ref.num_classes != dm.num_classes or ref.in_chans != dm.in_chans:
            raise GreenError(f"{str(folder)!r} was extracted for {ref.num_classes} classes and {ref.in_chans} channels, "
                             f"the data has {dm.num_classes} and {dm.in_chans}")
        return [(str(ref.arch), lambda inherited: load_subnet(folder).train() if inherited
                 else GreenNet(ref.space, ref.arch, ref.num_classes, ref.in_chans))]
    if not (cfg.ckpt or cfg.run):
        raise GreenError("pass model=<extraction folder>, or ckpt=<supernet> with archs=[...], or run=<search run>")
    net, meta = load_supernet(cfg.ckpt or search_ckpt(cfg.run))
    check_space(cfg, net.space)
    check_data(dm, meta)
    calib = dm.calib_batches(cfg.calib_images)
    out = []
    for arch in pick_archs(cfg, net.space):
        def make(inherited: bool, arch: ArchConfig = arch) -> torch.nn.Module:
            return extract_subnet(net, arch, calib) if inherited else GreenNet(net.space, arch, net.num_classes,
                                                                              net.in_chans)
        out.append((str(arch), make))
    return out


def experiment_yaml(hc: HyperConfig, arch: str, best: dict, default: dict, n_select: int, epochs: int) -> str:
    """The chosen setting as a Hydra experiment for green-finetune, its scores in the header."""
    body = OmegaConf.to_yaml(OmegaConf.create({**hc.overrides(), "epochs": epochs, "archs": [arch]}))
    return (f"# @package _global_\n# green-hpo's choice for {arch}, chosen on a select slice of {n_select} validation "
            f"images (accuracy {best['select_acc']:.4f}).\n# Held out: report-slice accuracy {best['report_acc']:.4f} "
            f"+- {best['report_se']:.4f} (binomial SE) on {best['report_images']} other validation images; the default "
            f"recipe {default['report_acc']:.4f} +- {default['report_se']:.4f} on the same.\n# Training energy "
            f"{best['train_kwh']:.3g} kWh ({best['energy_source']}).\n{body}")


def hpo(cfg: DictConfig) -> dict[str, Any]:
    """Search the training hyperparameters of each winner; returns what hpo.json holds."""
    h = cfg.hpo
    check_options(cfg)  # epochs, threads, device, the default recipe, before anything is trained
    if h.budget is not None and h.budget < 1:
        raise GreenError(f"hpo.budget must be >= 1 trial, got {h.budget}")
    space = HyperSpace(**h.space)
    objectives = parse_objectives(list(h.objectives), HPO_OBJECTIVES)
    set_threads(cfg.threads)
    out = Path(cfg.paths.output_dir)
    dm = instantiate(cfg.data)
    dm.setup("fit")
    data = carve(cfg, dm)  # bad slice sizes fail here, before anything is built or trained
    info = data.info()
    winners = _winners(cfg, dm)
    calib = dm.calib_batches(cfg.calib_images)
    result: dict[str, Any] = {"objectives": [o.name for o in objectives], "space": space.choices,
                              "epochs": cfg.epochs, "slices": info, "winners": []}
    rows = []
    for i, (arch, make) in enumerate(winners):
        folder = out / f"{i:02d}_{arch}"
        _claim(folder, data)
        default_path = folder / "default.json"
        default = of_type(read_json(default_path, "default recipe's record"), dict,
                          f"default recipe's record {str(default_path)!r}") if default_path.is_file() else {}
        if default.get("slices") != info["digest"]:  # the default recipe: the reference and the energy bound
            d = cfg.default
            default = run_trial(HyperConfig(d.optimizer, float(d.lr), float(d.weight_decay), float(d.l1),
                                            float(d.dropout), float(d.label_smoothing), d.init),
                                make, data, calib, cfg, folder, "default", cfg.seed, held_out=True)
            default["slices"] = info["digest"]
            write_json(default_path, default)
        bounds = {"train_kwh": h.bound_factor * default["train_kwh"],
                  "train_seconds": h.bound_factor * default["train_seconds"]}
        holder: dict[str, Evolution] = {}
        kept = folder / "weights"

        def history(epoch: int) -> list[float]:
            return [r["rung_acc"][str(epoch)] for r in holder["evo"].records.values() if str(epoch) in r["rung_acc"]]

        def evaluate(hc: HyperConfig) -> dict[str, Any]:
            pruner = Pruner(h.prune.rungs, h.prune.eta, h.prune.min_trials, history) if h.prune.enabled else None
            n = len(holder["evo"].records)
            try:
                return run_trial(hc, make, data, calib, cfg, folder, f"trial{n:03d}", cfg.seed + 1 + n, pruner,
                                 keep=kept / f"{hc}.pt")
            except TrainingError as err:  # one diverging setting must not end the search of the others
                print(f"green-hpo: trial {hc} failed: {err}")
                return failed_trial(hc, str(err), bounds, cfg.seed + 1 + n)

        warm = [space.nearest(**cfg.default)] if h.warm_start else []  # the default recipe, on the grid
        evo = Evolution(space, objectives, [], cost_fn=lambda hc: {}, eval_fn=evaluate, algorithm=h.algorithm,
                        population=h.population, generations=h.generations, budget=h.budget, seed=cfg.seed,
                        run_dir=folder, progress=cfg.progress, bounds=bounds, initial=warm)
        # Evolution leaves initial= out of random search; the baseline gets the same start as NSGA-II
        # here, so a comparison of the two measures the search, not the warm start (issue 12)
        evo.initial = list(warm)
        evo.label = "green-hpo"
        holder["evo"] = evo
        front = evo.run()
        trials = list(evo.records.values())
        best = choose(trials)
        chosen = space.decode(best["genome"])
        best = {**best, **_report_kept(chosen, make, kept / f"{best['arch']}.pt", data, cfg, folder)}
        for f in kept.glob("*.pt"):  # only the chosen trial's weights are read again
            if f.name != f"{best['arch']}.pt":
                f.unlink()
        exp = folder / "configs" / "experiment" / f"hpo_{i:02d}.yaml"
        write_atomic(exp, experiment_yaml(chosen, arch, best, default, info["select_images"], int(cfg.epochs)))
        write_csv(folder / "trials.csv", trials, TRIAL_FIELDS)
        rows += [{"winner": arch, **{k: r.get(k) for k in TRIAL_FIELDS}} for r in trials]
        figures = ("select_acc", "select_recall", *REPORT_FIELDS, "train_kwh", "train_seconds")
        result["winners"].append({
            "arch": arch, "default": {k: default[k] for k in figures},
            "best": {"arch": best["arch"], **{k: best[k] for k in figures}},
            "chosen": asdict(chosen), "n_trials": len(trials), "pruned": sum(bool(r["pruned"]) for r in trials),
            "failed": sum(bool(r.get("failed")) for r in trials),
            "trials": [{k: r.get(k) for k in ("arch", "gen", "select_acc", "train_kwh", "pruned", "epochs_run",
                                              "failed")}
                       for r in trials],
            "front": [r["arch"] for r in front], "hypervolume": evo.hypervolume(), "experiment": str(exp),
            "usage": f"green-finetune hydra.searchpath=[file://{(folder / 'configs').resolve()}] "
                     f"experiment=hpo_{i:02d} ckpt=<supernet checkpoint>"})
        print(f"green-hpo: {arch}: chose {best['arch']} on {info['select_images']} validation images (accuracy "
              f"{best['select_acc']:.4f}); held out on {info['report_images']} others: {best['report_acc']:.4f} "
              f"+- {best['report_se']:.4f} vs default {default['report_acc']:.4f}; {len(trials)} trials, "
              f"{result['winners'][-1]['pruned']} stopped early, {result['winners'][-1]['failed']} failed -> {exp}")
    write_json(out / "hpo.json", result)
    write_csv(out / "hpo.csv", rows, ("winner", *TRIAL_FIELDS))
    return result
