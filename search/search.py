"""``green-search``: multi-objective search of a trained supernet's subnets (Hydra app, ``conf/search.yaml``).

Inputs: a ``green-train`` checkpoint (``ckpt=``), a ``green-lut`` table (``table=``) and the data the
supernet was trained on. Each candidate is priced by the table (constraints checked first), then
scored with inherited weights on the validation split. Outputs in the run folder: ``pareto.json``,
``pareto.csv``, ``history.csv``, ``pareto.png``, ``logbook.json``, TensorBoard logs under ``tb/``,
the evaluation cache and the checkpoint that make a rerun on the same folder resume.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Sequence

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from search.cost import CostModel
from search.energy import track_energy
from search.evaluate import SubnetEvaluator
from search.evolution import Evolution
from search.objectives import Objective, parse_constraints, parse_objectives
from search.timing import set_threads
from supernet.checkpoint import load_supernet
from supernet.cli import command
from supernet.errors import GreenError
from supernet.space import SearchSpace
from supernet.io import write_atomic, write_csv, write_json

RECORD_FIELDS = ("arch", "acc", "recall", "params", "macs", "latency_ms", "energy_mj", "energy_source", "gen")


def check_data(dm: Any, meta: dict) -> None:
    """The data must give the split the supernet was trained with: same classes, seed and val size."""
    trained = meta.get("data") or {}
    if not trained:
        return  # checkpoints of early versions carry no data summary
    dm.setup()
    now = {"classes": list(dm.classes), "seed": dm.seed, "val_size": dm.val_size}
    diff = [f"{k}: trained {trained.get(k)!r} vs now {v!r}" for k, v in now.items() if trained.get(k) != v]
    if diff:
        raise GreenError("the data differs from the supernet's training data, so validation images may have been "
                         f"trained on ({'; '.join(diff)}); pass the same data settings")


def check_space(cfg: DictConfig, space: SearchSpace) -> None:
    """A configured space (e.g. from an experiment preset) must be the checkpoint's."""
    if cfg.get("space"):
        given = instantiate(cfg.space)
        if given.digest() != space.digest():
            raise GreenError(f"the configured search space {given.name!r} ({given.digest()}) is not the checkpoint's "
                             f"{space.name!r} ({space.digest()})")


def build(cfg: DictConfig) -> tuple[Evolution, SubnetEvaluator, CostModel]:
    """Everything a search needs, validated before anything is written."""
    s = cfg.search
    objectives = parse_objectives(list(s.objectives))
    constraints = parse_constraints(list(s.constraints or []))
    if s.budget is not None and s.budget < 1:
        raise GreenError(f"search.budget must be >= 1 unique evaluation, got {s.budget}")
    device = torch.device(cfg.device)
    set_threads(cfg.threads)
    net, meta = load_supernet(cfg.ckpt, device)
    space = net.space
    check_space(cfg, space)
    costs = CostModel.load(cfg.table, space, check_device=True, allow_mismatch=cfg.allow_mismatch)
    dm = instantiate(cfg.data)
    check_data(dm, meta)
    e = cfg.eval
    evaluator = SubnetEvaluator(net, dm, e.calib_images, e.val_images, e.batch_size)

    def cost_fn(arch):
        return costs.predict(arch, s.batch_size).to_dict()

    evo = Evolution(space, objectives, constraints, cost_fn, evaluator, algorithm=s.algorithm,
                    population=s.population, generations=s.generations, budget=s.budget, cx_prob=s.cx_prob,
                    mut_prob=s.mut_prob, mut_indpb=s.mut_indpb, nsga3_divisions=s.nsga3_divisions, seed=cfg.seed,
                    run_dir=cfg.paths.output_dir, progress=cfg.progress)
    return evo, evaluator, costs


def search(cfg: DictConfig) -> dict[str, Any]:
    """Run (or resume) the search described by ``cfg``; returns the content of ``pareto.json``."""
    evo, _, costs = build(cfg)
    out = Path(cfg.paths.output_dir)
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
                           inputs={"ckpt": str(Path(cfg.ckpt).resolve()), "table": str(Path(cfg.table).resolve())})
    hv = result["hypervolume"]
    print(f"green-search {evo.algorithm}: {len(front)} subnets on the front, hypervolume {hv:.4f}, "
          f"{len(evo.records)} unique evaluations ({evo.cache_hits} from cache) -> {out / 'pareto.json'}")
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
    write_csv(out / "history.csv", history, (*RECORD_FIELDS, "eval_seconds"))
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


main = command("green-search", "search")(search)


if __name__ == "__main__":
    main()
