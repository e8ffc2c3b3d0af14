"""``green-table``: build a standalone ground-truth table of one space, data and recipe (Hydra app).

``table.subnets`` subnets stratified by MACs over the whole space (always with the smallest and
the largest) are each trained standalone from scratch with the shared recipe
(:func:`search.training.fit.fit_and_measure`), ``table.seeds`` times, and tested; the result is a
:class:`~search.ranking.table.Table`. Each training lands in its own folder with an atomic
``row.json``, and ``table.json`` is rewritten after every row, so a killed build resumes where it
stopped and a partial table is already usable.
"""
from __future__ import annotations

import json
import math
import random
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence, TypeVar

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from search.training.fit import fit_and_measure, init_weights, train_batch
from search.hardware.cost import count
from search.jobs.launch import Job, launcher_of, memo
from search.ranking.table import Table, TableRow, identity, load_table, mismatch
from core.device import set_threads
from supernet.arch import ArchConfig
from supernet.bn import recalibrate_bn
from core.errors import GreenError
from core.io import write_json
from core.jsontypes import JSONObject
from supernet.net import GreenNet
from supernet.space import SearchSpace

T = TypeVar("T")


def stratified_pool(items: Sequence[T], macs: Sequence[float], strata: int, per_stratum: int,
                    rng: random.Random) -> list[tuple[T, int]]:
    """``per_stratum`` items drawn at random from each of ``strata`` MAC-quantile bins, as (item, stratum).

    The bins hold equal shares of the items ordered by MACs (ties broken by position), so the
    sample covers the cost range evenly. Only the costs are read, never an accuracy: a sample
    chosen by inherited accuracy would favour what the supernet happens to rank well.
    """
    n = len(items)
    if len(macs) != n:
        raise ValueError(f"{n} items but {len(macs)} MAC counts")
    if strata < 1 or per_stratum < 1:
        raise ValueError(f"strata and per_stratum must be >= 1, got {strata} and {per_stratum}")
    if n < strata:
        raise ValueError(f"{n} items cannot fill {strata} strata")
    order = sorted(range(n), key=lambda i: (macs[i], i))
    picked = []
    for s in range(strata):
        members = order[s * n // strata:(s + 1) * n // strata]
        picked += [(items[members[j]], s) for j in sorted(rng.sample(range(len(members)),
                                                                     min(per_stratum, len(members))))]
    return picked


@dataclass(frozen=True)
class Pick:
    """One subnet of the table's plan: where it sits in the cost range and why it is there."""

    arch: ArchConfig
    stratum: int
    role: str  # smallest, sampled or largest


def plan(space: SearchSpace, subnets: int, strata: int, pool: int, seed: int, num_classes: int,
         in_chans: int) -> list[Pick]:
    """The table's subnets: the smallest, the largest and ``subnets - 2`` drawn evenly from ``strata``
    MAC-quantile bins of ``pool`` random subnets (seeded); deterministic in its arguments."""
    if subnets < 3:
        raise GreenError(f"table.subnets must be >= 3 (the smallest, the largest and one sampled), got {subnets}")
    if strata < 1 or (subnets - 2) % strata:
        raise GreenError(f"table.subnets - 2 ({subnets - 2}) must split evenly over table.strata ({strata})")
    rng = random.Random(seed)
    small, large = space.smallest(), space.largest()
    draws = {str(a): a for a in (space.sample(rng) for _ in range(pool))}
    for a in (small, large):
        draws.pop(str(a), None)
    cands = list(draws.values())
    per = (subnets - 2) // strata
    if len(cands) < strata * per:
        raise GreenError(f"table.pool={pool} random draws gave {len(cands)} distinct subnets, too few for "
                         f"{strata} strata of {per}: raise table.pool")
    macs = [count(space, a, num_classes, in_chans)[1] for a in cands]
    sampled = stratified_pool(cands, macs, strata, per, rng)
    if len(sampled) < subnets - 2:
        raise GreenError(f"table.pool={pool} leaves a MAC stratum with fewer than {per} subnets: raise table.pool")
    return [Pick(small, 0, "smallest"), *(Pick(a, s, "sampled") for a, s in sampled),
            Pick(large, strata - 1, "largest")]



class TestCurve(pl.Callback):
    """Validation accuracy after every validated epoch and test accuracy after each of the ``last - 1``
    epochs before the final one (the final point is the row's own test): the plateau check of the
    recipe. With ``calib`` batches BN is recalibrated before each test point, as before the final
    test, so all points are measured alike. (Training is unaffected: in training mode BatchNorm
    normalises with batch statistics.)"""

    def __init__(self, dm: Any, calib: Sequence[torch.Tensor] | None = None, last: int = 2):
        self.dm, self.calib, self.last = dm, calib, last
        self.test: list[float] = []
        self.val: list[float] = []

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        acc = trainer.callback_metrics.get("val/acc")
        if acc is not None and trainer.current_epoch % trainer.check_val_every_n_epoch == \
                trainer.check_val_every_n_epoch - 1:
            self.val.append(float(acc))
        epoch = trainer.current_epoch + 1
        if not trainer.max_epochs - self.last < epoch < trainer.max_epochs:
            return
        model = pl_module.model
        was = model.training
        if self.calib:
            recalibrate_bn(model, [x.to(pl_module.device) for x in self.calib])
        model.eval()
        right = total = 0
        with torch.no_grad():
            for x, y in self.dm.test_dataloader():
                x, y = x.to(pl_module.device), y.to(pl_module.device)
                right += int((model(self.dm.transform(x, train=False)).argmax(1) == y).sum())
                total += int(y.numel())
        model.train(was)
        self.test.append(right / max(total, 1))


IDENTITY = "identity.json"  # what the table is, written before its first training


def _table_path(out: Path) -> Path:
    return out / "table.json"


def _state(cfg: DictConfig) -> tuple[SearchSpace, Any, list]:
    """The space, the data and the calibration batches of the table's config."""
    dm = instantiate(cfg.data)
    dm.setup("fit")
    return instantiate(cfg.space), dm, dm.calib_batches(cfg.calib_images)


def table_job(cfg: DictConfig, job: Job) -> None:
    """Train one subnet of the table standalone with the job's seed; ``row.json`` in its folder."""
    space, dm, calib = memo(cfg, _state)
    pl.seed_everything(job.seed, workers=True)
    arch, folder = space.validate(job.payload["arch"]), Path(job.folder)
    model = init_weights(GreenNet(space, arch, dm.num_classes, dm.in_chans), str(cfg.get("init", "default")))
    params, macs = count(space, arch, dm.num_classes, dm.in_chans)
    curve = TestCurve(dm, calib if cfg.recalibrate_bn else None)
    run_cfg = OmegaConf.merge(cfg, {"measure": {"enabled": False}})  # latency belongs to the lookup table
    res = fit_and_measure(model, folder.name, dm, run_cfg, Path(cfg.paths.output_dir), calib, None, job.seed,
                          arch.resolution, dm.num_classes, dm.in_chans,
                          callbacks=[curve, job.progress("green-table")])
    row = TableRow(arch=str(arch), seed=job.seed, replicate=job.replicate, stratum=job.payload["stratum"],
                   role=job.payload["role"], params=params, macs=macs,
                   val_acc=curve.val[-1] if curve.val else math.nan, test_acc=float(res.test_acc),
                   test_recall=float(res.test_recall), epochs=int(cfg.epochs),
                   images_seen=int(res.budget.images_seen), train_kwh=float(res.energy.energy_kwh),
                   energy_source=res.energy.source, train_seconds=float(res.energy.seconds),
                   test_curve=(*curve.test, float(res.test_acc)), val_curve=tuple(curve.val))
    write_json(folder / "row.json", {"result": {**asdict(row), "plateau_points": row.plateau_points}})
    print(f"green-table: {arch} (seed {job.seed}): test acc {row.test_acc:.4f}, last-epoch change "
          f"{row.plateau_points:.2f} points", flush=True)


def check_identity(out: Path, ident: JSONObject, force_new: bool) -> None:
    """Record what the table is (space, data, recipe, plan) before its first training, and refuse to resume a
    folder whose rows were trained for another: a kill and a rerun with other epochs would otherwise mix two
    recipes in one table. ``force_new``: remove the old rows and start over."""
    have = None
    if _table_path(out).is_file():
        have = load_table(_table_path(out)).identity
    elif (out / IDENTITY).is_file():
        try:
            have = json.loads((out / IDENTITY).read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise GreenError(f"cannot read {str(out / IDENTITY)!r} ({err}): force_new=true to start over") from None
    if have is not None:
        diff = mismatch(have, ident, ("space", "data", "recipe", "plan"))
        if diff and not force_new:
            raise GreenError(f"{str(out)!r} holds a table of another {diff}: rerun with its settings to resume it, "
                             "force_new=true to discard its rows and start over, or use a new output folder")
        if diff:
            for stale in (out / "runs", _table_path(out)):
                if stale.is_dir():
                    shutil.rmtree(stale)
                elif stale.exists():
                    stale.unlink()
            print(f"green-table: force_new=true: the rows of another {diff.split(' (')[0]} were removed", flush=True)
    write_json(out / IDENTITY, ident)


def build(cfg: DictConfig) -> Table:
    """Train (or resume) every subnet and seed of the table ``cfg`` describes, through the config's launcher;
    returns the table."""
    if cfg.epochs < 1:
        raise GreenError(f"epochs must be >= 1, got {cfg.epochs}")
    if int(cfg.table.seeds) < 1:
        raise GreenError(f"table.seeds must be >= 1, got {cfg.table.seeds}")
    launcher_of(cfg).check(cfg, "green-table")
    set_threads(cfg.threads)
    out = Path(cfg.paths.output_dir)
    space, dm, _ = memo(cfg, _state)
    ident = {**identity(cfg, space, dm), "plateau_points": float(cfg.table.plateau_points)}
    picks = plan(space, int(cfg.table.subnets), int(cfg.table.strata), int(cfg.table.pool),  # checks the plan first:
                 int(cfg.table.pool_seed), dm.num_classes, dm.in_chans)  # a refused one leaves no identity.json
    check_identity(out, ident, bool(cfg.get("force_new", False)))
    names = [f"{i:02d}_{p.arch}" for i, p in enumerate(picks)]
    payloads = [{"arch": str(p.arch), "stratum": p.stratum, "role": p.role} for p in picks]
    done = train_batch(cfg, names, out / "runs", "row.json", "green-table", table_job, payloads,
                       int(cfg.table.seeds))
    table = Table(ident, tuple(TableRow.from_dict(d) for d in done))
    write_json(_table_path(out), table.to_dict())
    s = table.summary()
    nc = s["noise_ceiling_tau"]
    print(f"green-table: {s['rows']} trainings of {s['subnets']} subnets; plateau (< {ident['plateau_points']} "
          f"points over the last epoch) in {s['plateau_reached']}/{s['plateau_checked']}; seed-to-seed tau "
          f"{nc['tau']:.3f} {[round(c, 3) for c in nc['ci']]}; {s['build_kwh']:.2e} kWh "
          f"({', '.join(s['energy_source'])}) -> {_table_path(out)}")
    return table
