"""``pareto.json``: the front of a ``green-search`` run, its one schema and its one reader.

A :class:`Front` says what was searched (objectives, constraints, algorithm, seed, space), how the
candidates were scored (``mode``: inherited weights or multi-trial with its ``budget``, the
``val_images`` the front was selected on, an optional accuracy ``predictor``), with which inputs
(``ckpt``, ``table``, and the ``cost_tables`` that priced the costs: their targets, batch sizes and energy
sources, which the charts' labels state) and at what cost, and lists the non-dominated subnets
(:class:`Member`), best first by the first objective. Extraction, fine-tuning, HPO and the pipeline read it with
:meth:`Front.read`, which turns a missing, foreign or damaged file into one line.

Files written before the scoring fields existed lack ``mode``, ``multi_trial`` and ``val_images``:
they read as a one-shot search whose scored images are unknown.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping, Sequence

from search.evolution.objectives import Objective
from search.objectives.tables import TableInfo
from core.errors import GreenError
from supernet.metrics import CLASS_PREFIX
from core.io import write_json
from core.jsontypes import JSONObject
from supernet.space import SearchSpace

FILE = "pareto.json"


@dataclass(frozen=True)
class Member:
    """A subnet on the front: its arch string and genome, and the figures it was chosen on."""

    arch: str
    acc: float
    recall: float
    params: int
    macs: int
    latency_ms: float
    energy_mj: float
    energy_source: str
    gen: int
    genome: tuple[int, ...]
    recall_min: float | None = None  # None in fronts written before it was scored
    class_recalls: Mapping[str, float] = field(default_factory=dict)  # class -> recall, for recall:<class> fields
    more: Mapping[str, float] = field(default_factory=dict)  # plug-in objectives' fields (search.objectives)

    def __getitem__(self, name: str) -> Any:
        """A figure by field name, as objectives name them (``front[0]["energy_mj"]``, ``["recall:cat"]``)."""
        if name.startswith(CLASS_PREFIX):
            return self.class_recalls[name[len(CLASS_PREFIX):]]
        if name in self.more:
            return self.more[name]
        return list(self.genome) if name == "genome" else getattr(self, name)

    @classmethod
    def of(cls, row: Mapping[str, Any], more: Sequence[str] | None = None) -> Member:
        """The member of a flat row (a search record, or a ``pareto.json`` entry): ``recall:<class>`` keys
        become :attr:`class_recalls`; the fields ``more`` names (None: every other key, as a file holds only
        what its writer chose) become :attr:`more`."""
        if more is None:
            more = [k for k, v in row.items() if k not in MEMBER_FIELDS and not k.startswith(CLASS_PREFIX)
                    and isinstance(v, (int, float)) and not isinstance(v, bool)]
        return cls(**{k: row[k] for k in MEMBER_FIELDS if k not in OPTIONAL}, genome=tuple(row["genome"]),
                   recall_min=row.get("recall_min"),
                   class_recalls={k[len(CLASS_PREFIX):]: float(v) for k, v in dict(row).items()
                                  if k.startswith(CLASS_PREFIX)},
                   more={k: float(row[k]) for k in more if k in row})

    def row(self) -> JSONObject:
        """The flat row of ``pareto.json``: one ``recall:<class>`` key per tracked class."""
        out = {f: getattr(self, f) for f in MEMBER_FIELDS if f not in OPTIONAL}
        out.update(self.more)
        if self.recall_min is not None:
            out["recall_min"] = self.recall_min
        return {**out, **{CLASS_PREFIX + c: v for c, v in self.class_recalls.items()}, "genome": list(self.genome)}


MEMBER_FIELDS = tuple(f.name for f in fields(Member))
OPTIONAL = ("genome", "recall_min", "class_recalls", "more")


@dataclass(frozen=True)
class Front:
    """The content of ``pareto.json``."""

    objectives: tuple[Objective, ...]
    constraints: tuple[str, ...]
    algorithm: str
    seed: int
    space_digest: str
    energy_source: str
    latency_batch_size: int
    unique_evals: int
    hypervolume: float
    members: tuple[Member, ...]
    ckpt: str | None = None
    table: str | None = None
    val_images: int | None = None  # the validation images the front was selected on (later picks use others)
    mode: str = "one_shot"
    multi_trial: Mapping[str, Any] | None = None  # the stated budget of every candidate in multi-trial mode
    predictor: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)  # keys of newer writers, kept on a rewrite
    algorithm_why: str = ""  # which algorithm ran and why (auto: by the number of objectives)
    status: str = "finished"  # how the search ended (Evolution.status): finished, stopped or infeasible
    cost_tables: tuple[TableInfo, ...] = ()  # the tables that priced the costs, the search's own first (none: older)

    @property
    def feasible(self) -> bool:
        """Whether any evaluated candidate met the constraints (an infeasible search's front is empty)."""
        return self.status != "infeasible"

    def to_json(self) -> JSONObject:
        """The file's layout: settings, inputs, then ``front`` (the members as flat rows)."""
        out: dict[str, Any] = {
            "objectives": [{"name": o.name, "field": o.field, "maximise": o.maximise} for o in self.objectives],
            "constraints": list(self.constraints), "algorithm": self.algorithm, "seed": self.seed,
            "space_digest": self.space_digest, "energy_source": self.energy_source,
            "latency_batch_size": self.latency_batch_size, "unique_evals": self.unique_evals,
            "hypervolume": self.hypervolume, "ckpt": self.ckpt, "table": self.table, "val_images": self.val_images,
            "mode": self.mode, "multi_trial": self.multi_trial, "algorithm_why": self.algorithm_why,
            "status": self.status, "feasible": self.feasible}
        if self.cost_tables:  # a front of before they were recorded is written back as it was
            out["cost_tables"] = [t.to_json() for t in self.cost_tables]
        if self.predictor is not None:
            out["predictor"] = self.predictor
        out.update(self.extra)
        out["front"] = [m.row() for m in self.members]
        return out

    def write(self, folder: str | Path) -> Path:
        """``<folder>/pareto.json``, atomically."""
        path = Path(folder) / FILE
        write_json(path, self.to_json())
        return path

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str = FILE) -> Front:
        """A front from the parsed file; a missing or mistyped field is one line naming ``where``."""
        try:
            members = tuple(Member.of(r) for r in data["front"])
            objectives = tuple(Objective(o["name"], o["field"], bool(o["maximise"])) for o in data["objectives"])
            known = {f.name for f in fields(cls)} | {"front", "feasible"}
            return cls(objectives, tuple(data.get("constraints") or ()), str(data["algorithm"]), int(data["seed"]),
                       str(data["space_digest"]), str(data["energy_source"]), int(data["latency_batch_size"]),
                       int(data["unique_evals"]), float(data["hypervolume"]), members, data.get("ckpt"),
                       data.get("table"), data.get("val_images"), data.get("mode") or "one_shot",
                       data.get("multi_trial"), data.get("predictor"),
                       {k: v for k, v in data.items() if k not in known}, str(data.get("algorithm_why") or ""),
                       str(data.get("status") or "finished"),
                       tuple(TableInfo.from_json(t) for t in data.get("cost_tables") or ()))
        except (KeyError, TypeError, ValueError) as err:
            raise GreenError(f"{where!r} is not a green-search {FILE} ({type(err).__name__}: {err})") from None

    @classmethod
    def read(cls, path: str | Path, space: SearchSpace | None = None) -> Front:
        """The front of a search run folder (or of its ``pareto.json``), checked to be of ``space`` if given."""
        path = Path(path)
        path = path / FILE if path.is_dir() else path
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise GreenError(f"cannot read the search run's {str(path)!r}: it does not exist") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise GreenError(f"cannot read the search run's {str(path)!r} ({err})") from None
        if not isinstance(data, dict):
            raise GreenError(f"{str(path)!r} is not a green-search {FILE} (not a JSON object)")
        front = cls.from_json(data, str(path))
        return front.of_space(space, str(path)) if space is not None else front

    def of_space(self, space: SearchSpace, where: str) -> Front:
        """This front, refused in one line unless it was searched in ``space`` (the checkpoint's)."""
        if self.space_digest != space.digest():
            raise GreenError(f"{where!r} comes from search space {self.space_digest}, the checkpoint's "
                             f"is {space.digest()}")
        return self

    def archs(self) -> list[str]:
        """The members' arch strings, in the front's order."""
        return [m.arch for m in self.members]
