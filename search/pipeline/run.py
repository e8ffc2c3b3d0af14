"""``green-run``: from data to a Green report in one run folder, resumable stage by stage.

Stages, each the library function behind its own command, composed from that command's config
with the run's shared overrides (``experiment``, ``data``, ``space``, ``trainer``, ``seed``) plus
the stage's entry of ``pipeline``. The stage table, in run order with what each stage does and when it is
done (then skipped on a rerun), is :data:`search.pipeline.stages.STAGE_TABLE`: ``python -c "from
search.pipeline.stages import STAGE_TABLE as T; [print(s.name, '-', s.what) for s in T]"``.

**Equal budgets.** A winner's route is the supernet's epochs plus its fine-tuning epochs; by
default the scratch twins and the baselines are trained with the same recipe for that many
epochs (``scratch_epochs``/``baseline_epochs`` null), ``seeds`` times each. Any other epochs or
recipe for them is refused unless ``allow_unequal_budget=true``: an unequal comparison is then a
stated choice, never an accident. The multi-trial route's models get its trial epochs plus the
same fine-tuning epochs, from scratch.

What each stage does is in :mod:`search.pipeline.stages`, which overrides it is composed with in
:mod:`search.pipeline.overrides`. ``run.json`` records each stage's seconds and the machine's load around it
(:mod:`core.load`). ``tensorboard --logdir
<run folder>`` shows every stage.
"""
from __future__ import annotations

import json
import time
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from hydra import compose
from omegaconf import DictConfig

from search.pipeline.overrides import shared_for, stage_overrides
from search.pipeline.stages import STAGE_TABLE, STAGES, TRAINED
from search.pipeline.tablestage import extra_tables
from search.training.fit import recipe
from core.device import Device
from core.errors import GreenError
from core.io import write_json
from core.load import Load, snapshot
from core.stop import check_stop
from core.validate import check_options



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
        from search.targets import target_of

        for t in cfg.get("targets") or ():  # an unknown target or table: one line before any stage runs
            target_of(str(t)).check(Device.of(cfg.measure.device, key="measure.device"), "float32")
        extra_tables(self)
        self.log_path = self.root / "run.json"
        self.log: dict[str, Any] = json.loads(self.log_path.read_text()) if self.log_path.is_file() else {"stages": {}}

    def compose(self, name: str, stage: str, extra: Sequence[str] = ()) -> DictConfig:
        """The config ``name`` as its command would see it with the run's overrides; output in ``<run>/<stage>``."""
        recipe = self.cfg.pipeline.get("recipe") if stage in TRAINED else None
        overrides = [*shared_for(name, self.shared), *stage_overrides(recipe),
                     *stage_overrides(self.cfg.pipeline.get(stage)), *extra]
        try:
            cfg = compose(config_name=name, overrides=[str(o) for o in overrides])
        except Exception as err:  # a bad override names itself in Hydra's message
            raise GreenError(f"stage {stage}: {str(err).splitlines()[0]}") from None
        cfg.paths.output_dir = str(self.root / stage)
        if stage in TRAINED:  # every final model: the run's seeds, timed later in one session
            cfg.seeds, cfg.measure.enabled = int(self.cfg.seeds), False
        try:  # checked once, here, as a command's wrapper checks its own config (core.cli.command)
            check_options(cfg)
        except GreenError as err:
            raise GreenError(f"stage {stage}: {err}") from None
        return cfg

    def stage(self, name: str, done: Callable[[], bool], fn: Callable[[], Any]) -> None:
        """Run one stage unless it is switched off or its outputs already exist; record its seconds."""
        if name not in self.cfg.stages:
            return
        check_stop()  # a safe point between stages (a signal's stop that Python dropped)
        todo = [s for s in STAGES if s in self.cfg.stages]
        at = f"[{todo.index(name) + 1}/{len(todo)}]"
        if done():
            print(f"green-run: {at} {name}: outputs exist, skipped")
            return
        print(f"green-run: {at} {name} ...", flush=True)
        t, threads, before = time.perf_counter(), torch.get_num_threads(), snapshot()
        try:
            fn()
            used = torch.get_num_threads()  # the stage's own count (null threads: the cores free when it began)
        finally:  # a stage's thread setting (green-lut measures on 1 thread) must not leak into the next stages
            torch.set_num_threads(threads)
        seconds = time.perf_counter() - t
        load = Load.between(before, snapshot(), used)  # its times and energies follow the machine's load
        self.log["stages"][name] = {"seconds": seconds, "finished": time.time(), "threads": used,
                                    "load": load.to_json()}
        write_json(self.log_path, self.log)
        print(f"green-run: {at} {name} done in {_duration(seconds)}"
              + (f" (under load: {load.brief()})" if load.busy else ""), flush=True)

    @property
    def ckpt(self) -> Path:
        """The supernet checkpoint the later stages start from (``ckpt``, else the train stage's last)."""
        return Path(self.cfg.ckpt) if self.cfg.ckpt else self.root / "train" / "checkpoints" / "last.ckpt"

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
        cfg.epochs = int(default if epochs is None else epochs)
        if not self.cfg.allow_unequal_budget:
            want = replace(recipe(self.compose("finetune", "finetune")), epochs=int(default))
            diff = recipe(cfg).differences(want)
            if diff:
                raise GreenError(f"{stage}: unequal training budget ({'; '.join(diff)} for the winners' route); "
                                 "pass allow_unequal_budget=true if that is intended")
        return cfg

    def run(self) -> Path:
        """Every stage in order, each unless switched off or done; returns the run folder."""
        for st in STAGE_TABLE:
            self.stage(st.name, partial(st.done, self), partial(st.run, self))
        took = ", ".join(f"{k} {_duration(v['seconds'])}" for k, v in self.log["stages"].items()
                         if k in self.cfg.stages)
        report = self.root / "report.html"
        print(f"green-run: done ({took}) -> {report if report.is_file() else self.root}"
              + (f" (and {self.root / 'report.md'})" if report.is_file() else ""))
        return self.root


def _duration(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``1 h 02 min``: a stage's time at a glance."""
    s = int(round(seconds))
    if s < 60:
        return f"{seconds:.0f} s" if seconds >= 1 else f"{seconds:.1f} s"
    return f"{s // 60} min {s % 60:02d} s" if s < 3600 else f"{s // 3600} h {s % 3600 // 60:02d} min"


def run(cfg: DictConfig, shared: Sequence[str] = ()) -> Path:
    """Run (or resume) the pipeline described by ``cfg``; returns the run folder."""
    return Pipeline(cfg, shared).run()
