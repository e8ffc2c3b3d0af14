"""``green-run``: from data to a Green report in one run folder, resumable stage by stage.

Stages, each the library function behind its own command, composed from that command's config
with the run's shared overrides (``experiment``, ``data``, ``space``, ``trainer``, ``seed``) plus
the stage's entry of ``pipeline``:

========== ======================================= ==========================================
stage      what                                    done when (then skipped on a rerun)
========== ======================================= ==========================================
train      green-train: the supernet               ``train/metrics.json`` (else resumes last.ckpt)
lut        green-lut build + validate              ``lut/lut.json``, ``lut/lut_validate.json``
search     green-search on the table               ``search/pareto.json`` (else resumes itself)
finetune   green-finetune of the top_k winners,    ``finetune/finetune.json`` (else per model)
           picked on held-out validation images
scratch    the same winners trained from scratch   ``scratch/finetune.json`` (else per model)
baselines  green-baselines                         ``baselines/baselines.json`` (else per model)
fidelity   a few cost-stratified subnets trained   ``fidelity/fidelity.json`` (else per training)
           standalone (green-table), against their
           inherited accuracy: the run's own tau
           and regret
mt_search  optional: the multi-trial search the    ``mt_search/pareto.json``
           supernet replaces (same candidates)
mt_train   optional: its top_k trained             ``mt_train/finetune.json``
measure    every final model timed in one session  ``measure/measure.json``
report     report.md + report.html                 always rewritten (cheap)
========== ======================================= ==========================================

**Equal budgets.** A winner's route is the supernet's epochs plus its fine-tuning epochs; by
default the scratch twins and the baselines are trained with the same recipe for that many
epochs (``scratch_epochs``/``baseline_epochs`` null), ``seeds`` times each. Any other epochs or
recipe for them is refused unless ``allow_unequal_budget=true``: an unequal comparison is then a
stated choice, never an accident. The multi-trial route's models get its trial epochs plus the
same fine-tuning epochs, from scratch.

``run.json`` records each stage's seconds. ``tensorboard --logdir <run folder>`` shows every stage.
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from hydra import compose
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from supernet.energy import track_energy
from supernet.errors import GreenError
from supernet.io import write_json

STAGES = ("train", "lut", "search", "finetune", "scratch", "baselines", "fidelity", "mt_search", "mt_train", "measure",
          "report")
TRAINED = ("finetune", "scratch", "baselines", "mt_train")  # final models: the shared recipe, seeds, one session
SHARED = ("experiment", "data", "space", "trainer", "seed")  # command-line overrides every stage receives
UNTRAINED = ("lut",)  # configs without a trainer: trainer overrides are not passed to them


def shared_overrides(task: Sequence[str]) -> list[str]:
    """The command-line overrides of green-run that concern every stage (data, space, trainer, seed)."""
    return [o for o in task if _key(o).split(".", 1)[0].split("@", 1)[0] in SHARED]


def stage_overrides(node: Any) -> list[str]:
    """A ``pipeline`` entry (nested or dotted keys: ``{epochs: 3, calib.subnets: 8, strategy: progressive}``)
    as the command-line overrides of the stage's command."""
    if node is None:
        return []
    if OmegaConf.is_config(node):
        node = OmegaConf.to_container(node, resolve=True)
    if not isinstance(node, dict):
        raise GreenError(f"a pipeline entry must be a mapping of settings, got {node!r}")
    out = []

    def walk(d: dict, prefix: str) -> None:
        for k, v in d.items():
            if isinstance(v, dict) and v:
                walk(v, f"{prefix}{k}.")
            else:
                out.append(f"{prefix}{k}={_value(v)}")

    walk(node, "")
    return out


def _value(v: Any) -> str:
    """A value in Hydra's override grammar."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(f"{k}:{_value(x)}" for k, x in v.items()) + "}"
    if isinstance(v, str) and not re.fullmatch(r"[\w./\-:+]+", v):
        return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return str(v)


def _key(override: str) -> str:
    return override.lstrip("+~").split("=", 1)[0]


class Pipeline:
    """The stages of one run folder; ``shared`` are the overrides that every stage is composed with."""

    def __init__(self, cfg: DictConfig, shared: Sequence[str] = ()):
        self.cfg, self.shared = cfg, list(shared)
        self.root = Path(cfg.paths.output_dir)
        unknown = [s for s in cfg.stages if s not in STAGES]
        if unknown:
            raise GreenError(f"unknown stage {unknown[0]!r}: stages are {', '.join(STAGES)}")
        for s in cfg.pipeline:
            if s not in STAGES and s != "recipe":
                raise GreenError(f"pipeline.{s}: unknown stage (stages are {', '.join(STAGES)}, and recipe)")
        if int(cfg.top_k) < 1:
            raise GreenError(f"top_k must be >= 1, got {cfg.top_k}")
        if int(cfg.seeds) < 1:
            raise GreenError(f"seeds must be >= 1 (training runs per final model), got {cfg.seeds}")
        if not 0 <= float(cfg.select_fraction) < 1:
            raise GreenError(f"select_fraction must lie in [0, 1), got {cfg.select_fraction}")
        self.log_path = self.root / "run.json"
        self.log: dict[str, Any] = json.loads(self.log_path.read_text()) if self.log_path.is_file() else {"stages": {}}

    def compose(self, name: str, stage: str, extra: Sequence[str] = ()) -> DictConfig:
        """The config ``name`` as its command would see it with the run's overrides; output in ``<run>/<stage>``."""
        shared = [o for o in self.shared if name not in UNTRAINED or not _key(o).startswith("trainer")]
        recipe = self.cfg.pipeline.get("recipe") if stage in TRAINED else None
        overrides = [*shared, *stage_overrides(recipe), *stage_overrides(self.cfg.pipeline.get(stage)), *extra]
        try:
            cfg = compose(config_name=name, overrides=[str(o) for o in overrides])
        except Exception as err:  # a bad override names itself in Hydra's message
            raise GreenError(f"stage {stage}: {str(err).splitlines()[0]}") from None
        cfg.paths.output_dir = str(self.root / stage)
        if stage in TRAINED:  # every final model: the run's seeds, timed later in one session
            cfg.seeds, cfg.measure.enabled = int(self.cfg.seeds), False
        return cfg

    def stage(self, name: str, done: Callable[[], bool], fn: Callable[[], Any]) -> None:
        """Run one stage unless it is switched off or its outputs already exist; record its seconds."""
        if name not in self.cfg.stages:
            return
        if done():
            print(f"green-run: {name}: outputs exist, skipped")
            return
        print(f"green-run: {name} ...")
        t, threads = time.perf_counter(), torch.get_num_threads()
        try:
            fn()
        finally:  # a stage's thread setting (green-lut measures on 1 thread) must not leak into the next stages
            torch.set_num_threads(threads)
        self.log["stages"][name] = {"seconds": time.perf_counter() - t, "finished": time.time(), "threads": threads}
        write_json(self.log_path, self.log)

    # stages ---------------------------------------------------------------------------------------
    def train(self) -> None:
        from supernet.train import train

        cfg = self.compose("train", "train")
        last = self.root / "train" / "checkpoints" / "last.ckpt"
        if last.is_file():
            cfg.resume = str(last)
            print(f"green-run: train: resuming {last}")
        train(cfg)

    @property
    def ckpt(self) -> Path:
        return Path(self.cfg.ckpt) if self.cfg.ckpt else self.root / "train" / "checkpoints" / "last.ckpt"

    def lut(self) -> None:
        from search.hardware.lut import build_table, validate_table

        out = self.root / "lut"
        cfg = self.compose("lut", "lut")
        device = torch.device(cfg.device)
        if not (out / "lut.json").is_file():
            with track_energy(out, "lut", device, cfg.energy.country_iso_code):
                build_table(cfg)
        if self.cfg.lut_validate:
            cfg.mode = "validate"
            with track_energy(out, "lut_validate", device, cfg.energy.country_iso_code):
                validate_table(cfg)

    def lut_done(self) -> bool:
        out = self.root / "lut"
        return (out / "lut.json").is_file() and (not self.cfg.lut_validate or (out / "lut_validate.json").is_file())

    def search(self, stage: str = "search", extra: Sequence[str] = ()) -> None:
        from search.evolution.search import search

        cfg = self.compose("search", stage, extra)
        cfg.ckpt, cfg.table = str(self.ckpt), str(self.root / "lut" / "lut.json")
        if cfg.eval.val_images is None and self.cfg.select_fraction > 0:
            # the search selects on the first part of the validation split; winners are picked on the rest
            dm = instantiate(cfg.data)
            dm.setup()
            cfg.eval.val_images = max(1, int(len(dm.val_set) * (1 - float(self.cfg.select_fraction))))
        search(cfg)

    def finetune(self) -> None:
        from search.deploy.finetune import finetune

        cfg = self.compose("finetune", "finetune")
        cfg.run, cfg.ckpt, cfg.top_k = str(self.root / "search"), str(self.ckpt), int(self.cfg.top_k)
        if self.cfg.select_fraction == 0:
            cfg.select_images = 0
        finetune(cfg)

    def supernet_epochs(self) -> int:
        """Epochs the supernet was trained for (its metrics.json, else its checkpoint)."""
        metrics = self.root / "train" / "metrics.json"
        if metrics.is_file():
            return int(json.loads(metrics.read_text())["epochs"])
        from supernet.checkpoint import read_checkpoint

        return int(read_checkpoint(self.ckpt)["epoch"]) + 1

    def route_epochs(self) -> int:
        """A winner's training budget in epochs: the supernet's plus its fine-tuning's."""
        return self.supernet_epochs() + int(self.compose("finetune", "finetune").epochs)

    def equal_budget(self, cfg: DictConfig, stage: str, epochs: int | None, default: int) -> DictConfig:
        """``cfg`` trained for ``epochs`` (None: ``default``), refused if that or its recipe differs from
        the winners' without ``allow_unequal_budget``."""
        from search.deploy.finetune import recipe

        cfg.epochs = int(default if epochs is None else epochs)
        if not self.cfg.allow_unequal_budget:
            want = {**recipe(self.compose("finetune", "finetune")), "epochs": int(default)}
            got = recipe(cfg)
            diff = [f"{k} {got[k]!r} vs {want[k]!r}" for k in want if got[k] != want[k]]
            if diff:
                raise GreenError(f"{stage}: unequal training budget ({'; '.join(diff)} for the winners' route); "
                                 "pass allow_unequal_budget=true if that is intended")
        return cfg

    def scratch(self) -> None:
        from search.deploy.finetune import finetune

        winners = json.loads((self.root / "finetune" / "finetune.json").read_text())["models"]
        cfg = self.compose("finetune", "scratch", ["from_scratch=true", "distill=false", "onnx=false"])
        cfg.ckpt, cfg.archs = str(self.ckpt), list(dict.fromkeys(w["arch"] for w in winners))
        finetune(self.equal_budget(cfg, "scratch", self.cfg.scratch_epochs, self.route_epochs()))

    def baselines(self) -> None:
        from search.deploy.baselines import baselines

        cfg = self.compose("baselines", "baselines")
        baselines(self.equal_budget(cfg, "baselines", self.cfg.baseline_epochs, self.route_epochs()))

    def fidelity(self) -> None:
        """A small ground-truth table trained with the twins' recipe and route epochs, scored with inherited
        weights on the validation images the search did not select on: how far this run's front can be
        trusted (:mod:`search.ranking.fidelity`)."""
        from search.evolution.evaluate import SubnetEvaluator
        from search.ranking.fidelity import figures
        from search.ranking.table import build
        from supernet.checkpoint import load_supernet

        twin = self.compose("finetune", "scratch")
        cfg = self.compose("table", "fidelity")
        for key in ("optimizer", "scheduler", "label_smoothing", "dropout", "l1", "init", "calib_images"):
            cfg[key] = twin[key]
        cfg.epochs = self.route_epochs() if self.cfg.scratch_epochs is None else int(self.cfg.scratch_epochs)
        table = build(cfg)
        net, _ = load_supernet(self.ckpt)
        dm = instantiate(cfg.data)
        dm.setup()
        used = json.loads((self.root / "search" / "pareto.json").read_text()).get("val_images") or 0
        if used >= len(dm.val_set):
            raise GreenError("fidelity: the search scored on every validation image, none is left to score the "
                             "standalone checks on; keep select_fraction above 0")
        ev = SubnetEvaluator(net, dm, int(twin.calib_images), None, val_offset=int(used))
        by = table.by_arch()
        scores = {a: ev(net.space.validate(a))["acc"] for a in by}
        truth = table.mean_test()
        f = figures(scores, truth, {a: rs[0].role for a, rs in by.items()}, {a: rs[0].macs for a, rs in by.items()})
        write_json(self.root / "fidelity" / "fidelity.json", {
            **f, "n_subnets": len(truth), "val_images": ev.val_images, "val_offset": ev.val_offset,
            "subnets": [{"arch": a, "role": by[a][0].role, "macs": by[a][0].macs, "inherited_val_acc": scores[a],
                         "standalone_test_acc": truth[a]} for a in by],
            "recipe": table.identity["recipe"], "table": table.summary()})

    def mt_search(self) -> None:
        """The multi-trial search: the same NSGA-II over the same number of candidates, each trained."""
        self.search("mt_search", ["search.mode=multi_trial"])

    def mt_train(self) -> None:
        """The multi-trial route's top_k, trained from scratch for its trial epochs plus the recipe's."""
        from search.deploy.finetune import finetune

        pareto = json.loads((self.root / "mt_search" / "pareto.json").read_text())
        trial_epochs = int(pareto["multi_trial"]["epochs"])
        cfg = self.compose("finetune", "mt_train", ["from_scratch=true", "distill=false", "onnx=false",
                                                    "select_images=0"])
        cfg.run, cfg.ckpt, cfg.top_k = str(self.root / "mt_search"), str(self.ckpt), int(self.cfg.top_k)
        cfg.epochs = trial_epochs + int(self.compose("finetune", "finetune").epochs)
        finetune(cfg)

    def measure(self) -> None:
        """Every final model (first seed of each) timed in one session; see :mod:`search.hardware.measure`."""
        from search.deploy.baselines import load_baseline
        from search.deploy.export import load_subnet
        from search.hardware.measure import measure_models

        m = self.cfg.measure
        models: dict[str, tuple[Any, int, int]] = {}
        for stage in TRAINED:
            meta_file = "model.json" if stage == "baselines" else "arch.json"
            for folder in sorted((self.root / stage / "models").glob(f"[!.]*/{meta_file}")):
                folder = folder.parent
                if json.loads((folder / meta_file).read_text())["result"].get("replicate", 0) != 0:
                    continue  # replicates share their arch: the first seed's model stands for all
                if stage == "baselines":
                    model = load_baseline(folder)
                    models[f"{stage}/{model.meta['name']}"] = (model, model.meta["in_chans"], model.meta["image_size"])
                else:
                    model = load_subnet(folder)
                    models[f"{stage}/{model.arch}"] = (model, model.in_chans, model.arch.resolution)
        result = measure_models(models, torch.device(m.device), list(m.batch_sizes), m.trials, m.warmup,
                                m.min_call_ms, m.power_window_s, m.country_iso_code, m.threads, int(self.cfg.seed))
        write_json(self.root / "measure" / "measure.json", result)

    def report(self) -> None:
        from search.pipeline.report import write_report

        write_report(self.root)

    def run(self) -> Path:
        done = lambda rel: (lambda: (self.root / rel).is_file())  # noqa: E731
        self.stage("train", lambda: bool(self.cfg.ckpt) or done("train/metrics.json")(), self.train)
        self.stage("lut", self.lut_done, self.lut)
        self.stage("search", done("search/pareto.json"), self.search)
        self.stage("finetune", done("finetune/finetune.json"), self.finetune)
        self.stage("scratch", done("scratch/finetune.json"), self.scratch)
        self.stage("baselines", done("baselines/baselines.json"), self.baselines)
        self.stage("fidelity", done("fidelity/fidelity.json"), self.fidelity)
        self.stage("mt_search", done("mt_search/pareto.json"), self.mt_search)
        self.stage("mt_train", done("mt_train/finetune.json"), self.mt_train)
        self.stage("measure", done("measure/measure.json"), self.measure)
        self.stage("report", lambda: False, self.report)
        return self.root


def run(cfg: DictConfig, shared: Sequence[str] = ()) -> Path:
    """Run (or resume) the pipeline described by ``cfg``; returns the run folder."""
    return Pipeline(cfg, shared).run()
