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

from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from search.deploy.export import load_subnet
from search.deploy.winners import pick_archs, read_run, search_ckpt
from search.evolution.engine import Evolution
from search.evolution.settings import Settings
from search.evolution.objectives import check_classes, parse_constraints, parse_objectives
from search.jobs.launch import Job, launcher_of, memo, replicate_jobs, results
from search.tuning.slices import carve, claim
from search.tuning.space import DIMS, OPTIONAL_DIMS, HyperConfig, HyperSpace
from search.tuning.trials import Pruner, choose, failed_trial, report_kept, run_trial
from core.device import set_threads
from supernet.arch import ArchConfig
from supernet.checkpoint import check_data, check_space, load_supernet
from core.errors import GreenError, TrainingError
from core.io import write_atomic, write_csv, write_json
from supernet.net import GreenNet, extract_subnet
from core.validate import of_type, read_json
from core.jsontypes import JSONObject

# objective name -> (trial record field, direction); accuracy and recall are the select slice's
HPO_OBJECTIVES = {"acc": ("select_acc", "max"), "recall": ("select_recall", "max"),
                  "recall_min": ("select_recall_min", "max"),
                  "train_energy": ("train_kwh", "min"), "train_time": ("train_seconds", "min")}
TRIAL_FIELDS = ("arch", "gen", "select_acc", "select_recall", "select_recall_min",
                "train_kwh", "train_seconds", "energy_source",
                "epochs_run", "pruned", "failed", "seed", *DIMS, *OPTIONAL_DIMS)
REPORT_FIELDS = ("report_acc", "report_recall", "report_recall_min", "report_images", "report_se")


def _winners(cfg: DictConfig, dm: pl.LightningDataModule) -> list[tuple[str, Callable[[bool], torch.nn.Module]]]:
    """(arch, make_model(inherited)) for each winner: an extraction folder, or archs of a supernet."""
    given = [k for k in ("archs", "ckpt", "run") if cfg.get(k)]
    if cfg.model and given:  # one would be silently ignored
        raise GreenError(f"model= names one extraction folder to tune; it cannot be combined with {', '.join(given)}=: "
                         "pass model=<folder> alone, or ckpt=<supernet> with archs=[...], or run=<search run>")
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
    front = read_run(cfg)  # pareto.json, read once
    net, meta = load_supernet(cfg.ckpt or search_ckpt(front, cfg.run))
    check_space(cfg, net.space)
    check_data(dm, meta)
    calib = dm.calib_batches(cfg.calib_images)
    out = []
    for arch in pick_archs(cfg, net.space, front):
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


def _state(cfg: DictConfig) -> tuple[Any, Any, list, list]:
    """The data, its select/report slices, the winners (arch, make_model) and the calibration batches."""
    dm = instantiate(cfg.data)
    dm.setup("fit")
    data = carve(cfg, dm)  # bad slice sizes fail here, before anything is built or trained
    return dm, data, _winners(cfg, dm), dm.calib_batches(cfg.calib_images)


def hpo_job(cfg: DictConfig, job: Job) -> None:
    """The hyperparameter search of one winner (``job.index``); ``winner.json`` in its folder holds the result."""
    h = cfg.hpo
    dm, data, winners, calib = memo(cfg, _state)
    space = HyperSpace(**h.space)
    bounds_on = parse_constraints(list(h.get("constraints") or ()), HPO_OBJECTIVES)
    objectives = parse_objectives(list(h.objectives), HPO_OBJECTIVES)
    info = data.info()
    i, (arch, make) = job.index, winners[job.index]
    folder = Path(job.folder)
    claim(folder, data)
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
    kept = folder / "weights"
    # the default recipe, on the grid, starts random search too: a comparison of the algorithms
    # measures the search, not the warm start (issue 12)
    warm = [space.nearest(**cfg.default, balance=cfg.data.get("balance", "none"))] if h.warm_start else []
    settings = Settings(objectives, bounds_on, algorithm=h.algorithm, population=h.population,
                        generations=h.generations, budget=h.budget, crossover=h.crossover, mutation=h.mutation,
                        seed=cfg.seed)
    evo = Evolution(space, settings, cost_fn=lambda hc: {}, run_dir=folder, bounds=bounds, initial=warm,
                    label="green-hpo", progress=cfg.progress)

    def history(epoch: int) -> list[float]:
        """Validation accuracies of the trials so far at rung ``epoch``, for the pruner (resumed ones too)."""
        rungs = (r.get("rung_acc", {}) for r in evo.records.values())
        return [acc[str(epoch)] for acc in rungs if str(epoch) in acc]

    def evaluate(hc: HyperConfig) -> JSONObject:
        pruner = Pruner(h.prune.rungs, h.prune.eta, h.prune.min_trials, history) if h.prune.enabled else None
        n = len(evo.records)
        try:
            return run_trial(hc, make, data, calib, cfg, folder, f"trial{n:03d}", cfg.seed + 1 + n, pruner,
                             keep=kept / f"{hc}.safetensors")
        except TrainingError as err:  # one diverging setting must not end the search of the others
            print(f"green-hpo: trial {hc} failed: {err}")
            return failed_trial(hc, str(err), bounds, cfg.seed + 1 + n, dm.classes)

    front = evo.run(evaluate)
    trials = [r.row() for r in evo.records.values()]
    best = choose(trials, bounds_on)
    chosen = space.decode(best["genome"])
    best = {**best, **report_kept(chosen, make, kept / f"{best['arch']}.safetensors", data, cfg, folder)}
    for f in kept.glob("*.safetensors"):  # only the chosen trial's weights are read again
        if f.name != f"{best['arch']}.safetensors":
            f.unlink()
    exp = folder / "configs" / "experiment" / f"hpo_{i:02d}.yaml"
    write_atomic(exp, experiment_yaml(chosen, arch, best, default, info["select_images"], int(cfg.epochs)))
    write_csv(folder / "trials.csv", trials, TRIAL_FIELDS)
    rows = [{"winner": arch, **{k: r.get(k) for k in TRIAL_FIELDS}} for r in trials]
    figures = ("select_acc", "select_recall", *REPORT_FIELDS, "train_kwh", "train_seconds")
    entry = {
        "arch": arch, "default": {k: default[k] for k in figures},
        "best": {"arch": best["arch"], **{k: best[k] for k in figures}},
        "chosen": asdict(chosen), "n_trials": len(trials), "pruned": sum(bool(r["pruned"]) for r in trials),
        "failed": sum(bool(r.get("failed")) for r in trials),
        "trials": [{k: r.get(k) for k in ("arch", "gen", "select_acc", "train_kwh", "pruned", "epochs_run",
                                          "failed")}
                   for r in trials],
        "front": [r.arch for r in front], "hypervolume": evo.hypervolume(), "experiment": str(exp),
        "usage": f"green-finetune hydra.searchpath=[file://{(folder / 'configs').resolve()}] "
                 f"experiment=hpo_{i:02d} ckpt=<supernet checkpoint>"}
    print(f"green-hpo: {arch}: chose {best['arch']} on {info['select_images']} validation images (accuracy "
          f"{best['select_acc']:.4f}); held out on {info['report_images']} others: {best['report_acc']:.4f} "
          f"+- {best['report_se']:.4f} vs default {default['report_acc']:.4f}; {len(trials)} trials, "
          f"{entry['pruned']} stopped early, {entry['failed']} failed -> {exp}")
    write_json(folder / "winner.json", {"result": {"winner": entry, "rows": rows}})


def hpo(cfg: DictConfig) -> JSONObject:
    """Search the training hyperparameters of each winner, one job per winner through the config's launcher;
    returns what hpo.json holds."""
    h = cfg.hpo
    launcher_of(cfg).check(cfg, "green-hpo")
    if h.budget is not None and h.budget < 1:
        raise GreenError(f"hpo.budget must be >= 1 trial, got {h.budget}")
    space = HyperSpace(**h.space)
    objectives = parse_objectives(list(h.objectives), HPO_OBJECTIVES)
    bounds_on = parse_constraints(list(h.get("constraints") or ()), HPO_OBJECTIVES)
    set_threads(cfg.threads)
    out = Path(cfg.paths.output_dir)
    dm, data, winners, _ = memo(cfg, _state)
    check_classes([o.field for o in objectives] + [c.field for c in bounds_on], dm.classes)
    # every winner's job runs again: its search resumes from its own cache (no trial is trained twice) and
    # re-reads the chosen trial's weights, so a rerun checks them and picks up changed settings
    jobs = replicate_jobs([f"{i:02d}_{arch}" for i, (arch, _) in enumerate(winners)], 1, int(cfg.seed), out)
    launcher_of(cfg).run(jobs, hpo_job, cfg, out / "jobs", "green-hpo")
    done_rows = results(jobs, "winner.json")
    result: dict[str, Any] = {"objectives": [o.name for o in objectives], "space": space.choices,
                              "epochs": cfg.epochs, "slices": data.info(),
                              "winners": [r["winner"] for r in done_rows]}
    write_json(out / "hpo.json", result)
    write_csv(out / "hpo.csv", [row for r in done_rows for row in r["rows"]], ("winner", *TRIAL_FIELDS))
    print(f"green-hpo: {len(done_rows)} winners searched -> {out / 'hpo.json'} (each winner's chosen setting: "
          f"{out}/<i>_<arch>/configs/experiment/)")
    return result
