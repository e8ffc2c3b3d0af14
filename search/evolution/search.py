"""``green-search``: multi-objective search of a trained supernet's subnets (Hydra app, ``conf/search.yaml``).

Inputs: a ``green-train`` checkpoint (``ckpt=``), a ``green-lut`` table (``table=``) and the data the
supernet was trained on. Each candidate is priced by the table (constraints checked first), then
scored on the validation split: with inherited weights (``search.mode=one_shot``, the point of a
supernet), or trained standalone from scratch for a short stated budget (``search.mode=multi_trial``,
the classic multi-trial search it saves on; the supernet then only supplies the space and the data
summary). Outputs in the run folder: ``pareto.json`` (with the scoring mode and budget), ``pareto.csv``,
``history.csv``, ``pareto.png``, ``logbook.json``, TensorBoard logs under ``tb/``, and the evaluation
cache, checkpoint and ``scoring.json`` that make a rerun on the same folder resume.
"""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from search.hardware.cost import CostModel
from supernet.energy import track_energy
from search.evolution.evaluate import SubnetEvaluator
from search.evolution.engine import Evolution
from search.evolution.objectives import Objective, parse_constraints, parse_objectives
from search.hardware.timing import set_threads
from supernet.checkpoint import load_matching
from supernet.errors import GreenError
from supernet.io import write_atomic, write_csv, write_json

if TYPE_CHECKING:
    from search.evolution.standalone import StandaloneEvaluator

MODES = ("one_shot", "multi_trial")
RECORD_FIELDS = ("arch", "acc", "recall", "params", "macs", "latency_ms", "energy_mj", "energy_source", "gen")


def standalone_evaluator(cfg: DictConfig, scorer: SubnetEvaluator, dm: Any,
                         device: torch.device) -> StandaloneEvaluator:
    """Multi-trial scoring: candidates trained from scratch for ``cfg.multi_trial``, scored on ``scorer``'s images."""
    from search.evolution.standalone import StandaloneEvaluator  # here: search.deploy.finetune, which it uses, imports this module

    accelerator = str(cfg.trainer.get("accelerator", "auto"))
    if accelerator not in ("auto", device.type, "cpu" if device.type == "cpu" else "gpu"):
        raise GreenError(f"multi-trial candidates would train on trainer.accelerator={accelerator} but be scored "
                         f"(and their energy booked) on device={device.type}: pass a matching trainer= "
                         "(e.g. trainer=gpu with device=cuda)")
    m, net = cfg.multi_trial, scorer.net
    return StandaloneEvaluator(scorer, dm, net.space, net.num_classes, net.in_chans, instantiate(m.optimizer),
                               instantiate(cfg.trainer, _partial_=True), instantiate(m.scheduler), m.epochs,
                               m.train_subset, m.batch_size, m.label_smoothing, m.init, cfg.seed)


def build(cfg: DictConfig) -> tuple[Evolution, SubnetEvaluator | StandaloneEvaluator, CostModel]:
    """Everything a search needs, validated before anything is written."""
    s = cfg.search
    if s.mode not in MODES:
        raise GreenError(f"unknown search.mode {s.mode!r}; choose from {', '.join(MODES)}")
    objectives = parse_objectives(list(s.objectives))
    constraints = parse_constraints(list(s.constraints or []))
    if s.budget is not None and s.budget < 1:
        raise GreenError(f"search.budget must be >= 1 unique evaluation, got {s.budget}")
    device = torch.device(cfg.device)
    set_threads(cfg.threads)
    net, _, dm = load_matching(cfg, cfg.ckpt, device)
    space = net.space
    costs = CostModel.load(cfg.table, space, check_device=True, allow_mismatch=cfg.allow_mismatch)
    e = cfg.eval
    evaluator = SubnetEvaluator(net, dm, e.calib_images, e.val_images, e.batch_size)
    if s.mode == "multi_trial":
        evaluator = standalone_evaluator(cfg, evaluator, dm, device)
    if (cfg.get("predictor") or {}).get("table"):
        if s.mode != "one_shot":
            raise GreenError("predictor.table corrects inherited accuracy: it needs search.mode=one_shot")
        evaluator = predicted_evaluator(cfg.predictor, net, dm, evaluator)

    def cost_fn(arch):
        return costs.predict(arch, s.batch_size).to_dict()

    evo = Evolution(space, objectives, constraints, cost_fn, evaluator, algorithm=s.algorithm,
                    population=s.population, generations=s.generations, budget=s.budget, cx_prob=s.cx_prob,
                    mut_prob=s.mut_prob, mut_indpb=s.mut_indpb, nsga3_divisions=s.nsga3_divisions, seed=cfg.seed,
                    run_dir=cfg.paths.output_dir, progress=cfg.progress)
    return evo, evaluator, costs


def predicted_evaluator(p: DictConfig, net: Any, dm: Any, inner: SubnetEvaluator) -> Any:
    """``inner`` with its accuracy replaced by a predictor fitted on a ``green-table`` table of this space and
    data split: the table's standalone validation accuracies against ``inner``'s inherited ones."""
    from search.evolution.predictor import AccuracyPredictor, PredictedEvaluator
    from search.ranking.table import load_table

    table = load_table(p.table)
    if table.identity.get("space") != net.space.digest():
        raise GreenError(f"predictor.table {str(p.table)!r} is a table of another search space "
                         f"({table.identity.get('space_name')!r}, {table.identity.get('space')}; the supernet's is "
                         f"{net.space.digest()})")
    dm.setup()
    data = table.identity.get("data") or {}
    now = {"classes": list(dm.classes), "seed": dm.seed, "val_size": dm.val_size, "image_size": dm.image_size}
    diff = [f"{k}: table {data.get(k)!r} vs now {v!r}" for k, v in now.items() if data.get(k) != v]
    if diff:
        raise GreenError(f"predictor.table {str(p.table)!r} was trained on other data ({'; '.join(diff)})")
    by = table.by_arch()
    archs = list(by)
    target = [sum(r.val_acc for r in rs) / len(rs) for rs in by.values()]  # validation: test scores, never selects
    predictor = AccuracyPredictor(net.space, net.num_classes, net.in_chans, str(p.kind), int(p.min_results))
    predictor.require(len(archs))  # before scoring anything
    inherited = [inner(net.space.validate(a))["acc"] for a in archs]
    predictor.fit(archs, inherited, target)
    return PredictedEvaluator(inner, predictor)


def check_scoring(out: Path, scoring: dict[str, Any]) -> None:
    """A search resumes only under the scoring it began with: its cache holds that scoring's accuracies."""
    path = out / "scoring.json"
    if (out / "checkpoint.json").is_file():
        saved = json.loads(path.read_text()) if path.is_file() else {"mode": "one_shot", "multi_trial": None}
        if saved != scoring:
            raise GreenError(f"run folder {str(out)!r} holds a search scored otherwise (saved {saved} vs now "
                             f"{scoring}); use a new run folder")
    write_json(path, scoring)


def search(cfg: DictConfig) -> dict[str, Any]:
    """Run (or resume) the search described by ``cfg``; returns the content of ``pareto.json``."""
    evo, evaluator, costs = build(cfg)
    out = Path(cfg.paths.output_dir)
    budget = evaluator.budget() if cfg.search.mode == "multi_trial" else None
    predictor = getattr(evaluator, "predictor", None)
    scoring = {"mode": cfg.search.mode, "multi_trial": budget}
    if predictor is not None:
        scoring["predictor"] = {**predictor.info(), "table": str(Path(cfg.predictor.table).resolve())}
    scoring = json.loads(json.dumps(scoring))  # as read back
    check_scoring(out, scoring)
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(out / "tb"))

    def on_generation(gen: int, row: dict) -> None:
        for k in ("hypervolume", "front_size", "unique_evals", "cache_hits", "evals"):
            writer.add_scalar(f"search/{k}", row[k], gen)
        for o in evo.objectives:
            writer.add_scalar(f"search/{o.name}_best", row[f"{o.name}_best"], gen)
        fig = plot_front(list(evo.records.values()), evo.front(), evo.objectives, pairs_from_first=True)
        writer.add_figure("search/front", fig, gen)

    evo.on_generation = on_generation
    with track_energy(out, "search", torch.device(cfg.device), cfg.country_iso_code) as energy:
        front = evo.run()
    writer.close()
    result = write_outputs(out, evo, front, costs, energy.result,
                           inputs={"ckpt": str(Path(cfg.ckpt).resolve()), "table": str(Path(cfg.table).resolve()),
                                   # the validation images the front was selected on: later picks use others
                                   "val_images": getattr(evaluator, "val_images", None), **scoring})
    hv = result["hypervolume"]
    print(f"green-search {evo.algorithm} ({cfg.search.mode}): {len(front)} subnets on the front, "
          f"hypervolume {hv:.4f}, {len(evo.records)} unique evaluations ({evo.cache_hits} from cache) "
          f"-> {out / 'pareto.json'}")
    return result


def write_outputs(out: Path, evo: Evolution, front: Sequence[dict], costs: CostModel,
                  energy: dict | None, inputs: dict[str, str] | None = None) -> dict[str, Any]:
    """pareto.json/.csv, history.csv, pareto.png and logbook.json, each written atomically."""
    first = evo.objectives[0]
    front = sorted(front, key=lambda r: r[first.field], reverse=first.maximise)
    keep = [*RECORD_FIELDS, "genome"]
    result = {
        "objectives": [{"name": o.name, "field": o.field, "maximise": o.maximise} for o in evo.objectives],
        "constraints": [str(c) for c in evo.constraints], "algorithm": evo.algorithm, "seed": evo.seed,
        "space_digest": evo.space.digest(), "energy_source": costs.energy_source,
        "latency_batch_size": costs.batch_sizes[0], "unique_evals": len(evo.records),
        "hypervolume": evo.hypervolume(), **(inputs or {}), "front": [{k: r[k] for k in keep} for r in front],
    }
    write_json(out / "pareto.json", result)
    write_csv(out / "pareto.csv", front, RECORD_FIELDS)
    history = list(evo.records.values())
    extra = [k for k in ("images_seen", "train_seconds") if any(k in r for r in history)]  # multi-trial
    write_csv(out / "history.csv", history, (*RECORD_FIELDS, *extra, "eval_seconds"))
    write_json(out / "logbook.json", {"logbook": evo.logbook, "search_energy": energy})
    fig = plot_front(history, front, evo.objectives)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    write_atomic(out / "pareto.png", buf.getvalue())
    return result



def plot_front(history: Sequence[dict], front: Sequence[dict], objectives: Sequence[Objective],
               pairs_from_first: bool = True):
    """2-D projections: the first objective against each other one; evaluated points and the front."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first, others = objectives[0], objectives[1:]
    fig, axes = plt.subplots(1, len(others), figsize=(4 * len(others), 3.6), squeeze=False)
    for ax, o in zip(axes[0], others):
        ax.scatter([r[o.field] for r in history], [r[first.field] for r in history], s=8, c="0.7", label="evaluated")
        pts = sorted((r[o.field], r[first.field]) for r in front)
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=16, c="tab:green", label="Pareto front")
        ax.set_xlabel(o.field)
        ax.set_ylabel(first.field)
        if o.field in ("params", "macs"):
            ax.set_xscale("log")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    plt.close(fig)
    return fig
