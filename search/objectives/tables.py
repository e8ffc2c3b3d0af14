"""A search's cost tables by name: loading them, checking the objectives that name them, and saying on a chart
which deployment target, batch size and energy source a cost comes from.

The search's own table (``table=``) prices the bare costs (``latency``, ``energy``) at the search's batch size.
Further tables (``tables={int8: <lut.json>, gpu: <lut.json>}``) price ``<cost>@<name>[/b<bs>]``
(:func:`search.objectives.resolve`), so one front trades accuracy against costs on several targets or devices.
They may be measured on another machine (a GPU table built where a GPU was lent): only the search space is
checked, never this machine's device. Each table is loaded once; :class:`TableInfo` is what ``pareto.json``
keeps of it, so a chart drawn later (the report) labels its axes without the tables at hand.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from core.energy import MEASURED_SOURCES
from core.errors import GreenError
from core.jsontypes import JSONObject
from search.hardware.cost import CostModel
from search.objectives import OnTable, by_field, label, on_table
from search.targets import recorded_target
from supernet.metrics import CLASS_PREFIX
from supernet.space import SearchSpace

_NAME = "letters, digits and _, not starting with a digit"


def table_paths(node: Any) -> dict[str, str]:
    """``name -> path`` of the ``tables=`` option (a mapping; None or empty: no named table); a value of another
    shape, a name that cannot follow ``@`` in an objective, or a missing path is one line."""
    from omegaconf import DictConfig

    if not node:
        return {}
    if not isinstance(node, (Mapping, DictConfig)):
        raise GreenError(f"tables={node!r} is not a mapping of names to green-lut tables; e.g. "
                         "tables={int8: outputs/lut_int8/lut.json}")
    out = {}
    for name, path in node.items():
        if not (isinstance(name, str) and name.isidentifier() and name.isascii()):
            raise GreenError(f"tables: {str(name)!r} is not a table name ({_NAME}); e.g. tables={{int8: <lut.json>}}")
        if not path or not isinstance(path, str):
            raise GreenError(f"tables.{name}: {path!r} is not the path of a green-lut lut.json")
        out[name] = path
    return out


def load_tables(paths: Mapping[str, str], space: SearchSpace, allow_mismatch: bool = False) -> dict[str, CostModel]:
    """``name -> CostModel`` of :func:`table_paths`; an unreadable table or a table of another space (unless
    ``allow_mismatch``, as for the search's own table) is one line naming it. The device is not checked: such a
    table may describe another machine on purpose."""
    out = {}
    for name, path in paths.items():
        try:
            out[name] = CostModel.load(path, space, allow_mismatch=allow_mismatch)
        except GreenError as err:
            raise type(err)(f"tables.{name}: {err}") from None
    return out


def check_tables(fields: Iterable[str], tables: Mapping[str, CostModel | None]) -> None:
    """Every ``<cost>@<name>[/b<bs>]`` field names a table of ``tables`` that measured that batch size (one line
    otherwise, before any candidate is priced). A table given as None is not loaded yet: only its name is checked
    (a misspelt name is refused before the checkpoint and the tables load)."""
    for f in fields:
        parts = None if f.startswith(CLASS_PREFIX) else on_table(f)
        if parts is None:
            continue
        _, name, bs = parts
        if name not in tables:
            given = ", ".join(sorted(tables)) or "none: pass tables={" + name + ": <lut.json>}"
            raise GreenError(f"{f!r} names no cost table {name!r} (tables= gives {given})")
        sizes = tables[name].batch_sizes if tables[name] is not None else [bs]
        if bs is not None and bs not in sizes:
            raise GreenError(f"{f!r}: table {name!r} ({tables[name].path}) measured batch sizes "
                             f"{', '.join(map(str, sizes))}, not {bs}")


@dataclass(frozen=True)
class TableInfo:
    """What a chart says of one cost table: ``name`` (None: the search's own ``table=``), where it was measured
    (``target``, ``device``), the batch size a cost without ``/b<bs>`` is priced at (the search's for its own
    table, the first measured for a named one) and the energy source, with the one power figure (W) that turns
    latency into energy when there is no energy counter (None: measured by a counter)."""

    name: str | None
    path: str
    target: str
    device: str
    batch_size: int
    batch_sizes: tuple[int, ...]
    energy_source: str
    power_w: float | None = None

    @classmethod
    def of(cls, model: CostModel, name: str | None, batch_size: int | None = None) -> TableInfo:
        fp = model.table.fingerprint
        power = None if model.energy_source in MEASURED_SOURCES else float(model.table.energy["power_w"])
        return cls(name, str(model.path), recorded_target(fp), str(fp.get("device", "cpu")),
                   model.batch_sizes[0] if batch_size is None else int(batch_size), tuple(model.batch_sizes),
                   model.energy_source, power)

    @property
    def where(self) -> str:
        """The target and device, as a label says them: ``onnxruntime_int8 (cpu)``."""
        return f"{self.target} ({self.device})"

    def energy_note(self) -> str:
        """Where an energy figure comes from: the counter, or the stated power figure times the latency."""
        if self.power_w is None:
            return f"{self.energy_source} energy counter"
        return f"{self.energy_source}: no energy counter, latency x one power figure of {self.power_w:.3g} W"

    def to_json(self) -> JSONObject:
        return {"name": self.name, "path": self.path, "target": self.target, "device": self.device,
                "batch_size": self.batch_size, "batch_sizes": list(self.batch_sizes),
                "energy_source": self.energy_source, "power_w": self.power_w}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TableInfo:
        """The record of :meth:`to_json` (a KeyError or TypeError for a damaged one: the reader names the file)."""
        return cls(None if data["name"] is None else str(data["name"]), str(data["path"]), str(data["target"]),
                   str(data["device"]), int(data["batch_size"]), tuple(int(b) for b in data["batch_sizes"]),
                   str(data["energy_source"]), None if data.get("power_w") is None else float(data["power_w"]))


def table_of(field: str, tables: Sequence[TableInfo]) -> tuple[TableInfo, int] | None:
    """The table that priced ``field`` from its measurements, with the batch size; None for a field no table
    measured (a score, an exact count) or a table ``tables`` does not describe."""
    spec = by_field(field) if not field.startswith(CLASS_PREFIX) else None
    if spec is None or spec.figure is None:
        return None
    parts = on_table(field)
    name, bs = (None, None) if parts is None else parts[1:]
    info = next((t for t in tables if t.name == name), None)
    return None if info is None else (info, info.batch_size if bs is None else bs)


def describe(field: str, tables: Sequence[TableInfo] = ()) -> str:
    """A field's axis label, naming for a table's measurement its target, device and batch size and, for energy,
    the source (with the power figure of an estimate): ``predicted energy (mJ per call) on onnxruntime_int8
    (cpu), batch 32; codecarbon-estimate: no energy counter, latency x one power figure of 15 W``."""
    found = table_of(field, tables)
    if found is None:
        return label(field)
    info, bs = found
    spec = by_field(field)
    base = spec.price.base.label if isinstance(spec.price, OnTable) else spec.label
    text = f"{base} on {info.where}, batch {bs}"
    return f"{text}; {info.energy_note()}" if spec.figure == "energy_mj" else text
