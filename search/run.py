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
finetune   green-finetune of the top_k winners     ``finetune/finetune.json`` (else per model)
scratch    the same winners trained from scratch   ``scratch/finetune.json`` (else per model)
           as long as the supernet was: the
           energy the supernet route is compared to
baselines  green-baselines with the same recipe    ``baselines/baselines.json`` (else per model)
report     report.md + report.html                 always rewritten (cheap)
========== ======================================= ==========================================

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
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from search.energy import track_energy
from supernet.cli import command
from supernet.errors import GreenError
from supernet.io import write_json

STAGES = ("train", "lut", "search", "finetune", "scratch", "baselines", "report")
SHARED = ("experiment", "data", "space", "trainer", "seed")  # command-line overrides every stage receives
UNTRAINED = ("lut", "search")  # configs without a trainer: trainer overrides are not passed to them


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
        self.log_path = self.root / "run.json"
        self.log: dict[str, Any] = json.loads(self.log_path.read_text()) if self.log_path.is_file() else {"stages": {}}

    def compose(self, name: str, stage: str, extra: Sequence[str] = ()) -> DictConfig:
        """The config ``name`` as its command would see it with the run's overrides; output in ``<run>/<stage>``."""
        shared = [o for o in self.shared if name not in UNTRAINED or not _key(o).startswith("trainer")]
        recipe = self.cfg.pipeline.get("recipe") if stage in ("finetune", "scratch", "baselines") else None
        overrides = [*shared, *stage_overrides(recipe), *stage_overrides(self.cfg.pipeline.get(stage)), *extra]
        try:
            cfg = compose(config_name=name, overrides=[str(o) for o in overrides])
        except Exception as err:  # a bad override names itself in Hydra's message
            raise GreenError(f"stage {stage}: {str(err).splitlines()[0]}") from None
        cfg.paths.output_dir = str(self.root / stage)
        return cfg

    def stage(self, name: str, done: Callable[[], bool], fn: Callable[[], Any]) -> None:
        """Run one stage unless it is switched off or its outputs already exist; record its seconds."""
        if name not in self.cfg.stages:
            return
        if done():
            print(f"green-run: {name}: outputs exist, skipped")
            return
        print(f"green-run: {name} ...")
        t = time.perf_counter()
        fn()
        self.log["stages"][name] = {"seconds": time.perf_counter() - t, "finished": time.time()}
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
        from search.lut import build_table, validate_table

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

    def search(self) -> None:
        from search.search import search

        cfg = self.compose("search", "search")
        cfg.ckpt, cfg.table = str(self.ckpt), str(self.root / "lut" / "lut.json")
        search(cfg)

    def finetune(self) -> None:
        from search.finetune import finetune

        cfg = self.compose("finetune", "finetune")
        cfg.run, cfg.ckpt, cfg.top_k = str(self.root / "search"), str(self.ckpt), int(self.cfg.top_k)
        finetune(cfg)

    def scratch(self) -> None:
        from search.finetune import finetune

        winners = json.loads((self.root / "finetune" / "finetune.json").read_text())["models"]
        cfg = self.compose("finetune", "scratch", ["from_scratch=true", "distill=false", "onnx=false"])
        cfg.ckpt, cfg.archs = str(self.ckpt), [w["arch"] for w in winners]
        if self.cfg.scratch_epochs:
            cfg.epochs = int(self.cfg.scratch_epochs)
        else:  # as long as the supernet was trained: what each model would get without the supernet
            metrics = self.root / "train" / "metrics.json"
            if not metrics.is_file():
                raise GreenError(f"scratch: no {str(metrics)!r} to take the supernet's epochs from; pass scratch_epochs=")
            cfg.epochs = int(json.loads(metrics.read_text())["epochs"])
        finetune(cfg)

    def baselines(self) -> None:
        from search.baselines import baselines

        baselines(self.compose("baselines", "baselines"))

    def report(self) -> None:
        from search.report import write_report

        write_report(self.root)

    def run(self) -> Path:
        done = lambda rel: (lambda: (self.root / rel).is_file())  # noqa: E731
        self.stage("train", lambda: bool(self.cfg.ckpt) or done("train/metrics.json")(), self.train)
        self.stage("lut", self.lut_done, self.lut)
        self.stage("search", done("search/pareto.json"), self.search)
        self.stage("finetune", done("finetune/finetune.json"), self.finetune)
        self.stage("scratch", done("scratch/finetune.json"), self.scratch)
        self.stage("baselines", done("baselines/baselines.json"), self.baselines)
        self.stage("report", lambda: False, self.report)
        return self.root


def run(cfg: DictConfig, shared: Sequence[str] = ()) -> Path:
    """Run (or resume) the pipeline described by ``cfg``; returns the run folder."""
    return Pipeline(cfg, shared).run()


def _cli(cfg: DictConfig) -> None:
    path = run(cfg, shared_overrides(HydraConfig.get().overrides.task))
    print(f"green-run: report at {path / 'report.md'} and {path / 'report.html'}")


main = command("green-run", "run")(_cli)


if __name__ == "__main__":
    main()
