"""What each ``green-run`` stage does, and the stage table (:data:`STAGE_TABLE`): one list, in run order, of
each stage's name, what it does, when it is done and its function. The runner
(:class:`~search.pipeline.run.Pipeline`) walks it, and the report lists stage times in its order.

A stage is a function of the run (:class:`Run`: the few fields and helpers of the runner it needs, so this
module never imports the runner). Every stage is the library function behind its own command; the imports are
local so that a run loads only what its stages need, and ``green-run --help`` (which prints this table) none of
them: torch and Lightning alone take seconds to import."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

from hydra.utils import instantiate
from omegaconf import DictConfig

from core.device import DEFAULT_MEMORY_FORMAT
from core.errors import GreenError
from core.io import write_json
from search.pipeline import given
from search.pipeline.tablestage import extra_tables, lut, lut_done

TRAINED = ("finetune", "scratch", "scratch_ft", "baselines", "mt_train", "eq_finetune")  # final models: seeds, one session


class Run(Protocol):
    """What a stage needs of its run (the runner, :class:`search.pipeline.run.Pipeline`, provides it)."""

    cfg: DictConfig
    root: Path

    @property
    def ckpt(self) -> Path: ...

    def compose(self, name: str, stage: str, extra: Sequence[str] = ()) -> DictConfig: ...

    def route_epochs(self) -> int: ...

    def equal_budget(self, cfg: DictConfig, stage: str, epochs: int | None, default: int) -> DictConfig: ...


def train(p: Run) -> None:
    """The supernet (green-train), resumed from its last checkpoint when one exists; a given ``ckpt`` is not
    trained, its training energy is booked instead (:mod:`search.pipeline.given`)."""
    from supernet.train import train

    if p.cfg.ckpt:
        return given.book(Path(p.cfg.ckpt), p.root / "train")
    cfg = p.compose("train", "train")
    last = p.root / "train" / "checkpoints" / "last.ckpt"
    if last.is_file():
        cfg.resume = str(last)
        print(f"green-run: train: resuming {last}")
    train(cfg)


def search(p: Run, stage: str = "search", extra: Sequence[str] = ()) -> None:
    """The evolutionary search on the table, scoring on the part of the validation split winners are not picked on."""
    from search.evolution.search import search

    cfg = p.compose("search", stage, extra)
    cfg.ckpt, cfg.table = str(p.ckpt), str(p.root / "lut" / "lut.json")
    tables = {n: str(path) for n, (_, path) in extra_tables(p).items()}
    if tables:  # the run's tables join any the stage's entry names (pipeline.search.tables)
        cfg.tables = {**(cfg.tables or {}), **tables}
    if cfg.eval.val_images is None and p.cfg.select_fraction > 0:
        # the search selects on the first part of the validation split; winners are picked on the rest
        dm = instantiate(cfg.data)
        dm.setup()
        cfg.eval.val_images = max(1, int(len(dm.val_set) * (1 - float(p.cfg.select_fraction))))
    search(cfg)


def finetune(p: Run, stage: str = "finetune", source: str = "search") -> None:
    """The ``top_k`` winners fine-tuned from the supernet's weights, picked on the held-out validation images."""
    from search.deploy.finetune import finetune

    cfg = p.compose("finetune", stage, [] if stage == "finetune" else [*_entry(p, "finetune"), *_entry(p, stage)])
    cfg.run, cfg.ckpt, cfg.top_k = str(p.root / source), str(p.ckpt), int(p.cfg.top_k)
    if p.cfg.select_fraction == 0:
        cfg.select_images = 0
    finetune(cfg)


def scratch(p: Run) -> None:
    """The winners' archs trained from scratch with the winners' budget (their twins)."""
    from search.deploy.finetune import finetune

    winners = json.loads((p.root / "finetune" / "finetune.json").read_text())["models"]
    cfg = p.compose("finetune", "scratch", ["from_scratch=true", "distill=false", "onnx=false"])
    cfg.ckpt, cfg.archs = str(p.ckpt), list(dict.fromkeys(w["arch"] for w in winners))
    finetune(p.equal_budget(cfg, "scratch", p.cfg.scratch_epochs, p.route_epochs()))


def scratch_ft(p: Run) -> None:
    """The winners' archs from scratch for the fine-tune's epochs alone, with its recipe otherwise (twins at equal
    fine-tune epochs): what the supernet's weights give a fine-tune of that length. Their budget is unequal to
    the winners' route by design, and each row states it."""
    from search.deploy.finetune import finetune

    winners = json.loads((p.root / "finetune" / "finetune.json").read_text())["models"]
    cfg = p.compose("finetune", "scratch_ft", ["from_scratch=true", "distill=false", "onnx=false"])
    cfg.ckpt, cfg.archs = str(p.ckpt), list(dict.fromkeys(w["arch"] for w in winners))
    cfg.epochs = int(p.compose("finetune", "finetune").epochs)
    finetune(cfg)


def baselines(p: Run) -> None:
    """The hand-designed baselines, trained with the winners' budget."""
    from search.deploy.baselines import baselines

    cfg = p.compose("baselines", "baselines")
    if p.cfg.get("n_baselines") is not None:  # a quick run's few (the report says how many of how many)
        cfg.models = list(cfg.models)[:int(p.cfg.n_baselines)]
    baselines(p.equal_budget(cfg, "baselines", p.cfg.baseline_epochs, p.route_epochs()))


def fidelity(p: Run) -> None:
    """A small ground-truth table trained with the twins' recipe and route epochs, scored with inherited
    weights on the validation images the search did not select on: how far this run's front can be
    trusted (:mod:`search.ranking.fidelity`)."""
    from search.evolution.evaluate import SubnetEvaluator
    from search.evolution.front import Front
    from search.ranking.build import build
    from search.ranking.fidelity import figures
    from supernet.checkpoint import load_supernet

    twin = p.compose("finetune", "scratch")
    cfg = p.compose("table", "fidelity")
    for key in ("optimizer", "scheduler", "label_smoothing", "dropout", "l1", "init", "calib_images"):
        cfg[key] = twin[key]
    cfg.epochs = p.route_epochs() if p.cfg.scratch_epochs is None else int(p.cfg.scratch_epochs)
    table = build(cfg)
    net, _ = load_supernet(p.ckpt)
    dm = instantiate(cfg.data)
    dm.setup()
    used = Front.read(p.root / "search").val_images or 0
    if used >= len(dm.val_set):
        raise GreenError("fidelity: the search scored on every validation image, none is left to score the "
                         "standalone checks on; keep select_fraction above 0")
    ev = SubnetEvaluator(net, dm, int(twin.calib_images), None, val_offset=int(used))
    by = table.by_arch()
    scores = {a: ev(net.space.validate(a))["acc"] for a in by}
    truth = table.mean_test()
    f = figures(scores, truth, {a: rs[0].role for a, rs in by.items()}, {a: rs[0].macs for a, rs in by.items()})
    write_json(p.root / "fidelity" / "fidelity.json", {
        **f, "n_subnets": len(truth), "val_images": ev.val_images, "val_offset": ev.val_offset,
        "subnets": [{"arch": a, "role": by[a][0].role, "macs": by[a][0].macs, "inherited_val_acc": scores[a],
                     "standalone_test_acc": truth[a]} for a in by],
        "recipe": table.identity["recipe"], "table": table.summary()})


def mt_search(p: Run) -> None:
    """The multi-trial search: the same NSGA-II over the same number of candidates, each trained."""
    search(p, "mt_search", ["search.mode=multi_trial"])


def _entry(p: Run, stage: str, skip: str = "") -> list[str]:
    """A stage's ``pipeline`` entry as overrides (keys starting with ``skip`` left out), for a stage run like it."""
    from search.pipeline.overrides import stage_overrides

    return [o for o in stage_overrides(p.cfg.pipeline.get(stage)) if not skip or not o.lstrip("+").startswith(skip)]


def eq_search(p: Run) -> None:
    """The one-shot search at the multi-trial search's candidate count (its population, generations and budget on
    top of the search's settings): the one-shot front the multi-trial one is compared with at equal candidates."""
    search(p, "eq_search", [*_entry(p, "search"), *_entry(p, "mt_search", "multi_trial"), "search.mode=one_shot",
                            *_entry(p, "eq_search")])  # its own entry last: it wins


def eq_finetune(p: Run) -> None:
    """That front's ``top_k`` fine-tuned with the winners' recipe (their pipeline entry, then eq_finetune's)."""
    finetune(p, "eq_finetune", "eq_search")


def mt_train(p: Run) -> None:
    """The multi-trial route's top_k, trained from scratch with the scratch twins' recipe and epochs: every
    final model of the report gets the same budget (the candidates' short trials are the search's cost)."""
    from search.deploy.finetune import finetune

    cfg = p.compose("finetune", "mt_train", ["from_scratch=true", "distill=false", "onnx=false", "select_images=0"])
    cfg.run, cfg.ckpt, cfg.top_k = str(p.root / "mt_search"), str(p.ckpt), int(p.cfg.top_k)
    finetune(p.equal_budget(cfg, "mt_train", p.cfg.scratch_epochs, p.route_epochs()))


def measure(p: Run) -> None:
    """Every final model (first seed of each) timed in one session; see :mod:`search.hardware.measure`. Each
    deployment target of ``targets`` other than torch serves every model in the same round-robin, and its test
    accuracy through that runtime is recorded (``deployed``: :mod:`search.deploy.served`)."""
    import torch

    from core.device import Device
    from search.deploy.baselines import load_baseline
    from search.deploy.export import load_subnet
    from search.deploy.served import serve
    from search.hardware.measure import measure_models
    from search.targets import target_of

    m = p.cfg.measure
    models: dict[str, tuple[Any, int, int]] = {}
    for stage in TRAINED:
        meta_file = "model.json" if stage == "baselines" else "arch.json"
        for folder in sorted((p.root / stage / "models").glob(f"[!.]*/{meta_file}")):
            folder = folder.parent
            if json.loads((folder / meta_file).read_text())["result"].get("replicate", 0) != 0:
                continue  # replicates share their arch: the first seed's model stands for all
            if stage == "baselines":
                model = load_baseline(folder)
                models[f"{stage}/{model.meta['name']}"] = (model, model.meta["in_chans"], model.meta["image_size"])
            else:
                model = load_subnet(folder)
                models[f"{stage}/{model.arch}"] = (model, model.in_chans, model.arch.resolution)
    fmt = str(m.get("memory_format", DEFAULT_MEMORY_FORMAT))
    targets = [target_of(t) for t in dict.fromkeys(p.cfg.get("targets") or ["torch"])]
    served, deployed = {}, {}
    if any(t.name != "torch" for t in targets):
        dm = instantiate(p.cfg.data)
        served, deployed = serve({n: net for n, (net, _, _) in models.items()}, targets, dm,
                                 Device.of(m.device, m.threads, fmt, key="measure.device"))
    result = measure_models(models, torch.device(m.device), list(m.batch_sizes), m.trials, m.warmup,
                            m.min_call_ms, m.power_window_s, m.country_iso_code, m.threads, int(p.cfg.seed), fmt,
                            served)
    write_json(p.root / "measure" / "measure.json", {
        **result.to_json(), "target_specs": {t.name: t.spec().to_json() for t in targets},
        "deployed": {t: {n: d.to_json() for n, d in ds.items()} for t, ds in deployed.items()}})


def report(p: Run) -> None:
    """report.md and report.html from what the stages wrote (:mod:`search.pipeline.report`)."""
    from search.pipeline.report import write_report

    write_report(p.root)


@dataclass(frozen=True)
class Stage:
    """One row of the stage table: ``done(run)`` says its outputs exist (then a rerun skips it)."""

    name: str
    what: str
    done: Callable[[Run], bool]
    run: Callable[[Run], None]


def _wrote(rel: str) -> Callable[[Run], bool]:
    return lambda p: (p.root / rel).is_file()


STAGE_TABLE: tuple[Stage, ...] = (
    Stage("train", "green-train: the supernet (resumes its last.ckpt)",
          lambda p: (p.root / "train" / (given.RECORD if p.cfg.ckpt else "metrics.json")).is_file(), train),
    Stage("lut", "green-lut build + validate: the cost table", lut_done, lut),
    Stage("search", "green-search on the table (resumes itself)", _wrote("search/pareto.json"), search),
    Stage("finetune", "green-finetune of the top_k winners, picked on held-out validation images",
          _wrote("finetune/finetune.json"), finetune),
    Stage("scratch", "the same winners trained from scratch (their twins)", _wrote("scratch/finetune.json"), scratch),
    Stage("scratch_ft", "optional: the same winners from scratch for the fine-tune's epochs alone",
          _wrote("scratch_ft/finetune.json"), scratch_ft),
    Stage("baselines", "green-baselines: the hand-designed compact CNNs", _wrote("baselines/baselines.json"),
          baselines),
    Stage("fidelity", "optional: cost-stratified subnets trained standalone against their inherited accuracy",
          _wrote("fidelity/fidelity.json"), fidelity),
    Stage("mt_search", "optional: the multi-trial search the supernet replaces (same candidates)",
          _wrote("mt_search/pareto.json"), mt_search),
    Stage("mt_train", "optional: its top_k trained", _wrote("mt_train/finetune.json"), mt_train),
    Stage("eq_search", "optional: the one-shot search at the multi-trial one's candidate count",
          _wrote("eq_search/pareto.json"), eq_search),
    Stage("eq_finetune", "optional: its top_k fine-tuned like the winners (the fronts at equal candidates)",
          _wrote("eq_finetune/finetune.json"), eq_finetune),
    Stage("measure", "every final model timed in one session", _wrote("measure/measure.json"), measure),
    Stage("report", "report.md + report.html (always rewritten: cheap)", lambda p: False, report),
)
STAGES = tuple(s.name for s in STAGE_TABLE)
