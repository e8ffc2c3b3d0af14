"""``green-search``: multi-objective search of a trained supernet's subnets (Hydra app, ``conf/search.yaml``).

Inputs: a ``green-train`` checkpoint (``ckpt=``), a ``green-lut`` table (``table=``), optional further tables
by name (``tables={int8: <lut.json>}``, priced by objectives such as ``latency@int8``:
:mod:`search.objectives.tables`) and the data the supernet was trained on. Each candidate is priced by the
tables (constraints checked first), then
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
from search.objectives import Pricing, price
from search.objectives.tables import TableInfo, check_tables, load_tables, table_paths
from supernet.arch import ArchConfig
from search.ranking.table import load_table
from core.device import Device
from core.energy import EnergyUse, track_energy
from search.evolution.evaluate import SubnetEvaluator
from search.evolution.engine import Evolution
from search.evolution.state import CACHE, CHECKPOINT
from search.evolution.settings import Settings
from search.evolution.front import MEMBER_FIELDS, Front, Member
from search.evolution.objectives import check_classes
from search.evolution.plots import plot_front
from supernet.checkpoint import load_matching
from core.errors import GreenError, Infeasible
from supernet.identity import SPLIT_KEYS, DataIdentity, data_differences
from supernet.metrics import CLASS_PREFIX, tracked_classes
from core.io import write_atomic, write_csv, write_json
from core.jsontypes import JSONObject

if TYPE_CHECKING:
    from search.evolution.standalone import StandaloneEvaluator

RECORD_FIELDS = tuple(f for f in MEMBER_FIELDS if f not in ("genome", "class_recalls", "more"))  # pareto.csv, history.csv


def standalone_evaluator(cfg: DictConfig, scorer: SubnetEvaluator, dm: Any,
                         device: torch.device) -> StandaloneEvaluator:
    """Multi-trial scoring: candidates trained from scratch for ``cfg.multi_trial``, scored on ``scorer``'s images."""
    accelerator = str(cfg.trainer.get("accelerator", "auto"))
    if accelerator not in ("auto", device.type, "cpu" if device.type == "cpu" else "gpu"):
        raise GreenError(f"multi-trial candidates would train on trainer.accelerator={accelerator} but be scored "
                         f"(and their energy booked) on device={device.type}: pass a matching trainer= "
                         "(e.g. trainer=gpu with device=cuda)")
    net = scorer.net  # the multi_trial node is a partial StandaloneEvaluator holding the stated budget
    return instantiate(cfg.multi_trial)(scorer=scorer, dm=dm, space=net.space, num_classes=net.num_classes,
                                        in_chans=net.in_chans, trainer=instantiate(cfg.trainer, _partial_=True),
                                        seed=cfg.seed)


def build(cfg: DictConfig) -> tuple[Evolution, SubnetEvaluator | StandaloneEvaluator, tuple[TableInfo, ...]]:
    """Everything a search needs, validated before anything is written; the tables it prices with are described
    last (its own first, then the named ones)."""
    settings: Settings = instantiate(cfg.search, seed=cfg.seed)
    fields = [o.field for o in settings.objectives] + [c.field for c in settings.constraints]
    named = table_paths(cfg.get("tables"))
    check_tables(fields, dict.fromkeys(named))  # an unknown table name: one line before anything loads
    device = Device.of(cfg.device, cfg.threads).activate().torch
    net, _, dm = load_matching(cfg, cfg.ckpt, device)
    space = net.space
    costs = CostModel.load(cfg.table, space, check_device=True, allow_mismatch=cfg.allow_mismatch)
    tables = load_tables(named, space, cfg.allow_mismatch)  # loaded once; any device (only the space is checked)
    check_tables(fields, tables)
    e = cfg.eval
    check_classes(fields, dm.classes)
    evaluator = SubnetEvaluator(net, dm, e.calib_images, e.val_images, e.batch_size, track=tracked_classes(fields))
    if settings.mode == "multi_trial":
        evaluator = standalone_evaluator(cfg, evaluator, dm, device)
    if (cfg.get("predictor") or {}).get("table"):
        if settings.mode != "one_shot":
            raise GreenError("predictor.table corrects inherited accuracy: it needs search.mode=one_shot")
        evaluator = predicted_evaluator(cfg.predictor, net, dm, evaluator)

    def cost_fn(arch: ArchConfig) -> dict[str, float | str]:
        cost = costs.predict(arch, settings.batch_size)  # the table's figures, then any plug-in cost in use
        return {**cost.to_dict(), **price(Pricing(arch, cost, costs, tables), fields)}

    evo = Evolution(space, settings, cost_fn, run_dir=cfg.paths.output_dir, progress=cfg.progress)
    info = (TableInfo.of(costs, None, settings.batch_size), *(TableInfo.of(m, n) for n, m in tables.items()))
    return evo, evaluator, info


def predicted_evaluator(p: DictConfig, net: Any, dm: Any, inner: SubnetEvaluator) -> Any:
    """``inner`` with its accuracy replaced by a predictor fitted on a ``green-table`` table of this space and
    data split: the table's standalone validation accuracies against ``inner``'s inherited ones."""
    from search.evolution.predictor import AccuracyPredictor, PredictedEvaluator  # scikit-learn: only when asked

    table = load_table(p.table)
    if table.identity.get("space") != net.space.digest():
        raise GreenError(f"predictor.table {str(p.table)!r} is a table of another search space "
                         f"({table.identity.get('space_name')!r}, {table.identity.get('space')}; the supernet's is "
                         f"{net.space.digest()})")
    recorded = DataIdentity.from_json(table.identity.get("data") or {}, f"the data of table {str(p.table)!r}")
    diff = data_differences(dm, recorded, (*SPLIT_KEYS, "image_size"), was="table")
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


def check_scoring(out: Path, scoring: JSONObject) -> None:
    """A search resumes only under the scoring it began with: its cache holds that scoring's accuracies."""
    path = out / "scoring.json"
    if (out / "checkpoint.json").is_file():
        saved = json.loads(path.read_text()) if path.is_file() else {"mode": "one_shot", "multi_trial": None}
        if saved != scoring:
            raise GreenError(f"run folder {str(out)!r} holds a search scored otherwise (saved {saved} vs now "
                             f"{scoring}); use a new run folder")
    write_json(path, scoring)


def search(cfg: DictConfig) -> Front:
    """Run (or resume) the search described by ``cfg``; returns its front (also written as ``pareto.json``)."""
    evo, evaluator, tables = build(cfg)
    out = Path(cfg.paths.output_dir)
    budget = evaluator.budget() if evo.settings.mode == "multi_trial" else None
    predictor = getattr(evaluator, "predictor", None)
    scoring = {"mode": evo.settings.mode, "multi_trial": budget}
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
            if f"{o.name}_best" in row:  # absent while no candidate meets the score bounds
                writer.add_scalar(f"search/{o.name}_best", row[f"{o.name}_best"], gen)
        writer.add_figure("search/front", plot_front(list(evo.records.values()), evo.front(), evo.objectives, tables),
                          gen)

    # a folder with search state is a resumed search: its earlier part (booked when it was interrupted) is added to
    resumed = any((out / f).is_file() for f in (CHECKPOINT, CACHE))
    with track_energy(out, "search", torch.device(cfg.device), cfg.country_iso_code, accumulate=resumed) as energy:
        evo.run(evaluator, on_generation)
    writer.close()
    # the validation images the front was selected on: later picks use others
    front = write_outputs(out, evo, tables, energy.result, ckpt=str(Path(cfg.ckpt).resolve()),
                          table=str(Path(cfg.table).resolve()), val_images=getattr(evaluator, "val_images", None),
                          **scoring)
    if evo.status == "infeasible":
        bounds = ", ".join(str(c) for c in evo.score_bounds)
        raise Infeasible(f"none of the {len(evo.records)} evaluated subnets met {bounds} (pareto.json says feasible: "
                         f"false; their scores are in {out / 'history.csv'}); relax the bound, train the supernet "
                         "longer or search more")
    print(f"green-search {evo.algorithm} ({evo.settings.mode}): {len(front.members)} subnets on the front, "
          f"hypervolume {front.hypervolume:.4f}, {len(evo.records)} unique evaluations ({evo.cache_hits} from cache) "
          f"-> {out / 'pareto.json'}")
    return front


def write_outputs(out: Path, evo: Evolution, tables: Sequence[TableInfo], energy: EnergyUse | None,
                  **inputs: Any) -> Front:
    """pareto.json/.csv, history.csv, pareto.png and logbook.json, each written atomically; ``tables`` describe the
    search's cost tables (its own first); ``inputs`` are :class:`Front`'s fields that say how the search ran
    (``ckpt``, ``table``, ``val_images``, ``mode``, ...)."""
    first = evo.objectives[0]
    records = sorted(evo.front(), key=lambda r: r[first.field], reverse=first.maximise)
    fields = [*(o.field for o in evo.objectives), *(c.field for c in evo.constraints)]
    more = [f for f in dict.fromkeys(fields) if f not in MEMBER_FIELDS and not f.startswith(CLASS_PREFIX)]
    members = tuple(Member.of(r.row(), more) for r in records)
    front = Front(tuple(evo.objectives), tuple(str(c) for c in evo.constraints), evo.algorithm, evo.seed,
                  evo.space.digest(), tables[0].energy_source, tables[0].batch_size, len(evo.records),
                  evo.hypervolume(), members, **inputs, algorithm_why=evo.settings.algorithm_why, status=evo.status,
                  cost_tables=tuple(tables))
    front.write(out)
    history = [r.row() for r in evo.records.values()]
    tracked = [k for k in dict.fromkeys(k for r in history for k in r) if k.startswith(CLASS_PREFIX)]
    write_csv(out / "pareto.csv", [r.row() for r in records], (*RECORD_FIELDS, *more, *tracked))
    extra = [k for k in ("images_seen", "train_seconds") if any(k in r for r in history)]  # multi-trial
    write_csv(out / "history.csv", history, (*RECORD_FIELDS, *more, *tracked, *extra, "eval_seconds"))
    write_json(out / "logbook.json", {"logbook": evo.logbook, "search_energy": energy and energy.to_json()})
    fig = plot_front(list(evo.records.values()), records, evo.objectives, tables)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    write_atomic(out / "pareto.png", buf.getvalue())
    return front
