"""The objectives a search can name, one registry: what each reads, which way is better, how it is drawn.

An objective is a field of a candidate's record with a direction. A *score* comes from evaluating the
candidate (inherited or trained accuracy and recall); a *cost* is priced before any evaluation, from the
architecture and the device's cost table (:class:`Pricing`), so constraints on it prune candidates for
free. Every objective is declared once, by the file that computes it (:mod:`.scores`, :mod:`.costs`), and
everything that lists, parses, prices, stores or draws objectives reads this registry: adding one is one
file (in this package, or a user module named by ``search.plugins``) plus naming it in the config.
``docs/extending.md`` walks through an example; ``tests/test_registry.py`` runs it.

A cost may also be priced on another named cost table than the search's own (``latency@int8``,
``energy@torch/b32``: :func:`resolve`), so one front trades accuracy against costs on several deployment
targets. Such a name is *derived* from the registered cost, never registered itself: tests run many
searches in one process, and the table names are a search's own (:mod:`.tables` loads and describes them).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field as _field
from typing import Callable, Iterable, Mapping

from core.errors import GreenError
from search.hardware.cost import Cost, CostModel
from search.registry import Registry
from supernet.arch import ArchConfig
from supernet.metrics import CLASS_PREFIX


@dataclass(frozen=True)
class Pricing:
    """What a cost objective may read: the candidate, its table prediction and the table itself, and the search's
    other cost tables by name (``tables=``), which a derived objective ``<cost>@<name>`` prices on."""

    arch: ArchConfig
    cost: Cost
    model: CostModel
    tables: Mapping[str, CostModel] = _field(default_factory=dict)

    def on(self, table: str, batch_size: int | None) -> Pricing:
        """The same candidate priced by the named table at ``batch_size`` (None: the table's first)."""
        if table not in self.tables:
            given = ", ".join(sorted(self.tables)) or "none"
            raise GreenError(f"no cost table named {table!r} (tables= gives {given})")
        model = self.tables[table]
        return Pricing(self.arch, model.predict(self.arch, batch_size), model, self.tables)


@dataclass(frozen=True)
class ObjectiveSpec:
    """One objective: its ``name`` in configs, the record ``field`` it reads, its direction and axis label.

    ``kind`` is ``score`` (the evaluation fills the field) or ``cost`` (``price`` computes it from a
    :class:`Pricing` before evaluation); ``log_axis`` draws it on a log scale (counts spanning decades).
    ``figure`` names the table measurement a cost is priced from (``latency_ms``, ``energy_mj``; None for exact
    counts, which no table changes): its chart label then names the table's target, batch size and, for
    energy, where the energy comes from (:func:`search.objectives.tables.describe`).
    """

    name: str
    field: str
    maximise: bool
    label: str
    kind: str = "cost"
    price: Callable[[Pricing], float] | None = None
    log_axis: bool = False
    figure: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("score", "cost") or (self.kind == "cost") != (self.price is not None):
            raise ValueError(f"objective {self.name!r}: a cost has a price function, a score has none")


OBJECTIVES: Registry[ObjectiveSpec] = Registry("objective", __name__)


def cost(name: str, field: str | None = None, label: str = "", maximise: bool = False, log_axis: bool = False,
         figure: str | None = None) -> Callable[[Callable[[Pricing], float]], Callable[[Pricing], float]]:
    """Decorator: the function prices the cost objective ``name`` (record field ``field``, default ``name``)."""
    def add(fn: Callable[[Pricing], float]) -> Callable[[Pricing], float]:
        OBJECTIVES.register(name, ObjectiveSpec(name, field or name, maximise, label or name, "cost", fn, log_axis,
                                                figure))
        return fn
    return add


def score(name: str, field: str | None = None, label: str = "", maximise: bool = True) -> None:
    """Declare the score objective ``name``, a field the evaluation of a candidate fills."""
    OBJECTIVES.register(name, ObjectiveSpec(name, field or name, maximise, label or name, "score"))


def directions() -> dict[str, tuple[str, str]]:
    """``name -> (field, "max" | "min")`` of every objective: the view objective parsing takes."""
    return {s.name: (s.field, "max" if s.maximise else "min") for s in OBJECTIVES.values()}


def cost_fields() -> tuple[str, ...]:
    """The record fields priced before evaluation (what a cost constraint may bound)."""
    return tuple(s.field for s in OBJECTIVES.values() if s.kind == "cost")


# <cost>@<table>[/b<batch size>]: a registered cost priced on a named table of the search
_ON_TABLE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)@([A-Za-z_][A-Za-z0-9_]*)(?:/b([1-9][0-9]*))?$")


@dataclass(frozen=True)
class OnTable:
    """The price function of a derived objective: ``base`` priced by the table ``table`` at ``batch_size``
    (None: the table's first). A value, so two resolutions of one name give equal specs."""

    base: ObjectiveSpec
    table: str
    batch_size: int | None

    def __call__(self, p: Pricing) -> float:
        return self.base.price(p.on(self.table, self.batch_size))


def on_table(text: str) -> tuple[str, str, int | None] | None:
    """``(cost, table, batch size or None)`` of ``<cost>@<table>[/b<bs>]`` (an objective name or a record field);
    None for a name without ``@``; a malformed one is one line."""
    if "@" not in text:
        return None
    m = _ON_TABLE.match(text)
    if not m:
        raise GreenError(f"{text!r}: a cost on a named table is <cost>@<table> or <cost>@<table>/b<batch size> "
                         "(e.g. latency@int8, energy@torch/b32; table names are letters, digits and _)")
    return m.group(1), m.group(2), None if m.group(3) is None else int(m.group(3))


def _derived(base: ObjectiveSpec, table: str, bs: int | None) -> ObjectiveSpec:
    suffix = f"@{table}" + (f"/b{bs}" if bs is not None else "")
    return ObjectiveSpec(base.name + suffix, base.field + suffix, base.maximise, f"{base.label} on table {table}",
                         "cost", OnTable(base, table, bs), base.log_axis, base.figure)


def resolve(name: str) -> ObjectiveSpec | None:
    """The objective ``name`` calls for: a registered one, or ``<cost>@<table>[/b<bs>]`` derived from the registered
    cost (record field ``<its field>@<table>[/b<bs>]``); None for an unknown name. A score with ``@`` is one line
    (it is evaluated on images, never priced by a table); whether the table exists and measured that batch size
    is the search's to check (:func:`search.objectives.tables.check_tables`)."""
    parts = on_table(name)
    if parts is None:
        return OBJECTIVES.get(name)
    base = OBJECTIVES.get(parts[0])
    if base is not None and base.kind != "cost":
        costs = ", ".join(s.name for s in OBJECTIVES.values() if s.kind == "cost")
        raise GreenError(f"{name!r}: {base.name} is a score, evaluated on validation images, not priced by a cost "
                         f"table; only a cost takes @<table> ({costs})")
    return None if base is None else _derived(base, parts[1], parts[2])


def by_field(field: str) -> ObjectiveSpec | None:
    """The objective reading ``field`` (a derived ``latency_ms@int8`` too); None for a field no objective reads."""
    m = _ON_TABLE.match(field) if "@" in field else None
    if m is not None:
        base = next((s for s in OBJECTIVES.values() if s.field == m.group(1) and s.kind == "cost"), None)
        return None if base is None else _derived(base, m.group(2), None if m.group(3) is None else int(m.group(3)))
    return next((s for s in OBJECTIVES.values() if s.field == field), None)


def label(field: str) -> str:
    """A field's axis label (``recall:<class>`` too); the raw name for a field no objective reads."""
    if field.startswith(CLASS_PREFIX):
        return f"recall of class {field[len(CLASS_PREFIX):]}"
    spec = by_field(field)
    return spec.label if spec else field


def price(pricing: Pricing, fields: Iterable[str]) -> Mapping[str, float]:
    """The values of the cost objectives reading ``fields`` (the ones a search asks for) beyond the table's own
    prediction (:class:`Cost`'s fields are always in a record)."""
    own = set(pricing.cost.to_dict())
    out = {}
    for f in fields:
        spec = by_field(f)
        if spec is not None and spec.kind == "cost" and f not in own:
            out[f] = float(spec.price(pricing))
    return out
