"""The ground-truth table of ``green-table``: its rows, its identity and its statistics.

Like a NAS benchmark table it is built once (:mod:`search.ranking.build`) and reused: every ranking
figure (inherited accuracy, few-shot, a predictor) is judged against the same table, and the
seed-to-seed Kendall tau of the table is the noise ceiling no ranking method can beat.

The table is tied to its identity (:func:`identity`: the space's digest, the data split and the
recipe) and refuses to mix in runs of another (:func:`load_table`, :func:`mismatch`). Each row
records the test accuracy at the end of each of the last two epochs: a recipe has reached its
plateau when they differ by under ``table.plateau_points``.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from omegaconf import DictConfig

from search.training.fit import recipe
from search.stats import bootstrap_ci, kendall
from core.errors import GreenError
from core.jsontypes import JSONObject
from supernet.identity import DataIdentity
from supernet.space import SearchSpace

VERSION = 1


def identity(cfg: DictConfig, space: SearchSpace, dm: Any) -> JSONObject:
    """What a table's figures depend on: the space, the data split and the recipe (and the plan).

    Two tables (or a table and a benchmark) are comparable only when these are equal; paths are
    left out, so a copy of the same data elsewhere is the same data.
    """
    data = {**DataIdentity.of(dm).to_json(), "train_subset": dm.train_subset, "train_images": len(dm.train_set),
            "val_images": len(dm.val_set), "test_images": len(dm.test_set)}
    t = cfg.table
    return {"space": space.digest(), "space_name": space.name, "data": data,
            "recipe": {**recipe(cfg).to_json(), "init": str(cfg.get("init", "default")), "from_scratch": True,
                       "recalibrate_bn": bool(cfg.recalibrate_bn)},
            "plan": {"subnets": int(t.subnets), "strata": int(t.strata), "pool": int(t.pool),
                     "pool_seed": int(t.pool_seed), "seeds": int(t.seeds), "base_seed": int(cfg.seed)}}


def mismatch(have: JSONObject, want: JSONObject, parts: Sequence[str] = ("space", "data", "recipe")) -> str | None:
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
    def from_dict(cls, d: JSONObject) -> "TableRow":
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

    def noise_ceiling(self, n_boot: int = 2000, seed: int = 0) -> JSONObject:
        """Kendall tau between the first two seeds' test accuracies (with a bootstrap CI over subnets):
        how well one standalone training ranks another, the most any ranking method can reach."""
        by = {a: {r.replicate: r.test_acc for r in rs} for a, rs in self.by_arch().items()}
        both = [a for a, s in by.items() if 0 in s and 1 in s]
        if len(both) < 3:
            return {"tau": math.nan, "ci": [math.nan, math.nan], "n": len(both)}
        x, y = [by[a][0] for a in both], [by[a][1] for a in both]
        return {"tau": kendall(x, y), "ci": list(bootstrap_ci(kendall, x, y, n_boot=n_boot, seed=seed)),
                "n": len(both)}

    def summary(self) -> JSONObject:
        plateau = [r.plateau_points for r in self.rows if not math.isnan(r.plateau_points)]
        limit = float(self.identity.get("plateau_points", 0.5))
        return {"rows": len(self.rows), "subnets": len(self.archs()), "complete": self.complete(),
                "noise_ceiling_tau": self.noise_ceiling(),
                "plateau_reached": sum(p < limit for p in plateau), "plateau_checked": len(plateau),
                "plateau_points_max": max(plateau) if plateau else math.nan,
                "build_kwh": sum(r.train_kwh for r in self.rows),
                "build_seconds": sum(r.train_seconds for r in self.rows),
                "energy_source": sorted({r.energy_source for r in self.rows})}

    def to_dict(self) -> JSONObject:
        return {"version": VERSION, "identity": self.identity, "summary": self.summary(),
                "rows": [{**asdict(r), "plateau_points": r.plateau_points} for r in self.rows]}


def load_table(path: str | Path, want: JSONObject | None = None) -> Table:
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
