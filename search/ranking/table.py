"""``green-table``: a standalone ground-truth table of one space, data and recipe (Hydra app).

Like a NAS benchmark table it is built once and reused: ``table.subnets`` subnets stratified by MACs
over the whole space (always with the smallest and the largest) are each trained standalone from
scratch, ``table.seeds`` times, with one recipe, and tested. Every ranking figure (inherited
accuracy, few-shot, a predictor) is then judged against the same table, and the seed-to-seed
Kendall tau of the table is the noise ceiling no ranking method can beat.

The table is tied to its identity (:func:`identity`: the space's digest, the data split and the
recipe) and refuses to mix in runs of another. Each training lands in its own folder with an atomic
``row.json``, and ``table.json`` is rewritten after every row, so a killed build resumes where it
stopped and a partial table is already usable. Each row records the test accuracy at the end of
each of the last two epochs: a recipe has reached its plateau when they differ by under
``table.plateau_points``.
"""
from __future__ import annotations

import json
import math
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence, TypeVar

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from search.hardware.cost import count
from search.deploy.finetune import fit_and_measure, init_weights, recipe, replicates
from search.stats import bootstrap_ci, kendall
from search.hardware.timing import set_threads
from supernet.bn import recalibrate_bn
from supernet.errors import GreenError
from supernet.io import write_json
from supernet.net import GreenNet
from supernet.space import ArchConfig, SearchSpace

T = TypeVar("T")
VERSION = 1


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


def identity(cfg: DictConfig, space: SearchSpace, dm: Any) -> dict[str, Any]:
    """What a table's figures depend on: the space, the data split and the recipe (and the plan).

    Two tables (or a table and a benchmark) are comparable only when these are equal; paths are
    left out, so a copy of the same data elsewhere is the same data.
    """
    dm.setup()
    data = {"classes": list(dm.classes), "image_size": int(dm.image_size), "channels": int(dm.channels),
            "val_size": dm.val_size, "train_subset": dm.train_subset, "seed": int(dm.seed),
            "train_images": len(dm.train_set), "val_images": len(dm.val_set), "test_images": len(dm.test_set)}
    t = cfg.table
    return {"space": space.digest(), "space_name": space.name, "data": data,
            "recipe": {**recipe(cfg), "init": str(cfg.get("init", "default")), "from_scratch": True,
                       "recalibrate_bn": bool(cfg.recalibrate_bn)},
            "plan": {"subnets": int(t.subnets), "strata": int(t.strata), "pool": int(t.pool),
                     "pool_seed": int(t.pool_seed), "seeds": int(t.seeds), "base_seed": int(cfg.seed)}}


def mismatch(have: dict[str, Any], want: dict[str, Any], parts: Sequence[str] = ("space", "data", "recipe")) -> str | None:
    """The first of ``parts`` in which two identities differ, named with the differing keys; None if equal."""
    for part in parts:
        a, b = have.get(part), want.get(part)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
            return f"{part} ({', '.join(f'{k}: {a.get(k)!r} vs {b.get(k)!r}' for k in keys[:3])})"
        return f"{part} ({a!r} vs {b!r})"
    return None


@dataclass(frozen=True)
class TableRow:
    """One standalone training of one subnet: the record the ranking benchmark and the predictor read."""

    arch: str
    seed: int
    replicate: int
    stratum: int
    role: str
    params: int
    macs: int
    val_acc: float
    test_acc: float
    test_recall: float
    epochs: int
    images_seen: int
    train_kwh: float
    energy_source: str
    train_seconds: float
    test_curve: tuple[float, ...]  # test accuracy after each of the last two epochs, measured as test_acc
    val_curve: tuple[float, ...]  # validation accuracy after every epoch

    @property
    def plateau_points(self) -> float:
        """Change of test accuracy over the last epoch, in points (nan with a one-epoch recipe)."""
        c = self.test_curve
        return abs(c[-1] - c[-2]) * 100 if len(c) >= 2 else math.nan

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TableRow":
        names = cls.__dataclass_fields__
        missing = [k for k in names if k not in d]
        if missing:
            raise GreenError(f"a table row lacks {', '.join(missing)}")
        return cls(**{k: tuple(d[k]) if k.endswith("_curve") else d[k] for k in names})


@dataclass(frozen=True)
class Table:
    """A ground-truth table: its identity and its rows (one per subnet and seed)."""

    identity: dict[str, Any]
    rows: tuple[TableRow, ...] = field(default=())

    def archs(self) -> list[str]:
        """Archs in table order (each once)."""
        return list(dict.fromkeys(r.arch for r in self.rows))

    def by_arch(self) -> dict[str, list[TableRow]]:
        out: dict[str, list[TableRow]] = {}
        for r in self.rows:
            out.setdefault(r.arch, []).append(r)
        return out

    def mean_test(self) -> dict[str, float]:
        """Mean test accuracy over each arch's seeds: the ground truth a ranking is scored against."""
        return {a: sum(r.test_acc for r in rs) / len(rs) for a, rs in self.by_arch().items()}

    def complete(self) -> bool:
        plan = self.identity["plan"]
        return len(self.rows) == plan["subnets"] * plan["seeds"]

    def noise_ceiling(self, n_boot: int = 2000, seed: int = 0) -> dict[str, Any]:
        """Kendall tau between the first two seeds' test accuracies (with a bootstrap CI over subnets):
        how well one standalone training ranks another, the most any ranking method can reach."""
        by = {a: {r.replicate: r.test_acc for r in rs} for a, rs in self.by_arch().items()}
        both = [a for a, s in by.items() if 0 in s and 1 in s]
        if len(both) < 3:
            return {"tau": math.nan, "ci": [math.nan, math.nan], "n": len(both)}
        x, y = [by[a][0] for a in both], [by[a][1] for a in both]
        return {"tau": kendall(x, y), "ci": list(bootstrap_ci(kendall, x, y, n_boot=n_boot, seed=seed)),
                "n": len(both)}

    def summary(self) -> dict[str, Any]:
        plateau = [r.plateau_points for r in self.rows if not math.isnan(r.plateau_points)]
        limit = float(self.identity.get("plateau_points", 0.5))
        return {"rows": len(self.rows), "subnets": len(self.archs()), "complete": self.complete(),
                "noise_ceiling_tau": self.noise_ceiling(),
                "plateau_reached": sum(p < limit for p in plateau), "plateau_checked": len(plateau),
                "plateau_points_max": max(plateau) if plateau else math.nan,
                "build_kwh": sum(r.train_kwh for r in self.rows),
                "build_seconds": sum(r.train_seconds for r in self.rows),
                "energy_source": sorted({r.energy_source for r in self.rows})}

    def to_dict(self) -> dict[str, Any]:
        return {"version": VERSION, "identity": self.identity, "summary": self.summary(),
                "rows": [{**asdict(r), "plateau_points": r.plateau_points} for r in self.rows]}


def load_table(path: str | Path, want: dict[str, Any] | None = None) -> Table:
    """The table in ``path`` (a ``table.json`` or its folder); with ``want``, checked to be of the same
    space, data and recipe, since ranking against another table's truth measures nothing."""
    path = Path(path)
    if path.is_dir():
        path = path / "table.json"
    try:
        d = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise GreenError(f"cannot read the ground-truth table {str(path)!r} ({err})") from None
    if not isinstance(d, dict) or d.get("version") != VERSION or "identity" not in d:
        raise GreenError(f"{str(path)!r} is not a green-table table (version {VERSION})")
    table = Table(d["identity"], tuple(TableRow.from_dict(r) for r in d.get("rows", [])))
    if want is not None:
        diff = mismatch(table.identity, want)
        if diff:
            raise GreenError(f"the table {str(path)!r} is of another {diff}: build one for these settings")
    return table


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


def _table_path(out: Path) -> Path:
    return out / "table.json"


def build(cfg: DictConfig) -> Table:
    """Train (or resume) every subnet and seed of the table ``cfg`` describes; returns the table."""
    if cfg.epochs < 1:
        raise GreenError(f"epochs must be >= 1, got {cfg.epochs}")
    if int(cfg.table.seeds) < 1:
        raise GreenError(f"table.seeds must be >= 1, got {cfg.table.seeds}")
    set_threads(cfg.threads)
    out = Path(cfg.paths.output_dir)
    space: SearchSpace = instantiate(cfg.space)
    dm = instantiate(cfg.data)
    ident = {**identity(cfg, space, dm), "plateau_points": float(cfg.table.plateau_points)}
    old = _table_path(out)
    if old.is_file():
        have = load_table(old)
        diff = mismatch(have.identity, ident, ("space", "data", "recipe", "plan"))
        if diff:
            raise GreenError(f"{str(out)!r} holds a table of another {diff}; use a new output folder")
    picks = plan(space, int(cfg.table.subnets), int(cfg.table.strata), int(cfg.table.pool),
                 int(cfg.table.pool_seed), dm.num_classes, dm.in_chans)
    names = [f"{i:02d}_{p.arch}" for i, p in enumerate(picks)]
    done: list[dict[str, Any]] = []
    run_cfg = OmegaConf.merge(cfg, {"measure": {"enabled": False}})  # latency belongs to the lookup table

    def publish() -> Table:
        table = Table(ident, tuple(TableRow.from_dict(d) for d in done))
        write_json(_table_path(out), table.to_dict())
        return table

    for rep, i, folder, seed in replicates(names, int(cfg.table.seeds), int(cfg.seed), out / "runs", "row.json",
                                           "green-table", done, "trained"):
        p = picks[i]
        model = init_weights(GreenNet(space, p.arch, dm.num_classes, dm.in_chans), str(cfg.get("init", "default")))
        params, macs = count(space, p.arch, dm.num_classes, dm.in_chans)
        calib = dm.calib_batches(cfg.calib_images)
        curve = TestCurve(dm, calib if cfg.recalibrate_bn else None)
        res = fit_and_measure(model, folder.name, dm, run_cfg, out, calib, None, seed, p.arch.resolution,
                              dm.num_classes, dm.in_chans, callbacks=[curve])
        row = TableRow(arch=str(p.arch), seed=seed, replicate=rep, stratum=p.stratum, role=p.role, params=params,
                       macs=macs, val_acc=curve.val[-1] if curve.val else math.nan, test_acc=float(res["test_acc"]),
                       test_recall=float(res["test_recall"]), epochs=int(cfg.epochs),
                       images_seen=int(res["budget"]["images_seen"]), train_kwh=float(res["train_energy_kwh"]),
                       energy_source=str(res["train_energy_source"]), train_seconds=float(res["train_seconds"]),
                       test_curve=(*curve.test, float(res["test_acc"])), val_curve=tuple(curve.val))
        write_json(folder / "row.json", {"result": {**asdict(row), "plateau_points": row.plateau_points}})
        done.append(asdict(row))
        publish()
        print(f"green-table: {p.arch} (seed {seed}): test acc {row.test_acc:.4f}, last-epoch change "
              f"{row.plateau_points:.2f} points ({len(done)}/{len(picks) * int(cfg.table.seeds)})", flush=True)
    table = publish()
    s = table.summary()
    nc = s["noise_ceiling_tau"]
    print(f"green-table: {s['rows']} trainings of {s['subnets']} subnets; plateau (< {ident['plateau_points']} "
          f"points over the last epoch) in {s['plateau_reached']}/{s['plateau_checked']}; seed-to-seed tau "
          f"{nc['tau']:.3f} {[round(c, 3) for c in nc['ci']]}; {s['build_kwh']:.2e} kWh "
          f"({', '.join(s['energy_source'])}) -> {_table_path(out)}")
    return table
