"""The objectives a search can name, one registry: what each reads, which way is better, how it is drawn.

An objective is a field of a candidate's record with a direction. A *score* comes from evaluating the
candidate (inherited or trained accuracy and recall); a *cost* is priced before any evaluation, from the
architecture and the device's cost table (:class:`Pricing`), so constraints on it prune candidates for
free. Every objective is declared once, by the file that computes it (:mod:`.scores`, :mod:`.costs`), and
everything that lists, parses, prices, stores or draws objectives reads this registry: adding one is one
file (in this package, or a user module named by ``search.plugins``) plus naming it in the config.
``docs/extending.md`` walks through an example; ``tests/test_objective_registry.py`` runs it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

from search.hardware.cost import Cost, CostModel
from search.registry import Registry
from supernet.arch import ArchConfig
from supernet.metrics import CLASS_PREFIX


@dataclass(frozen=True)
class Pricing:
    """What a cost objective may read: the candidate, its table prediction and the table itself."""

    arch: ArchConfig
    cost: Cost
    model: CostModel


@dataclass(frozen=True)
class ObjectiveSpec:
    """One objective: its ``name`` in configs, the record ``field`` it reads, its direction and axis label.

    ``kind`` is ``score`` (the evaluation fills the field) or ``cost`` (``price`` computes it from a
    :class:`Pricing` before evaluation); ``log_axis`` draws it on a log scale (counts spanning decades).
    """

    name: str
    field: str
    maximise: bool
    label: str
    kind: str = "cost"
    price: Callable[[Pricing], float] | None = None
    log_axis: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ("score", "cost") or (self.kind == "cost") != (self.price is not None):
            raise ValueError(f"objective {self.name!r}: a cost has a price function, a score has none")


OBJECTIVES: Registry[ObjectiveSpec] = Registry("objective", __name__)


def cost(name: str, field: str | None = None, label: str = "", maximise: bool = False,
         log_axis: bool = False) -> Callable[[Callable[[Pricing], float]], Callable[[Pricing], float]]:
    """Decorator: the function prices the cost objective ``name`` (record field ``field``, default ``name``)."""
    def add(fn: Callable[[Pricing], float]) -> Callable[[Pricing], float]:
        OBJECTIVES.register(name, ObjectiveSpec(name, field or name, maximise, label or name, "cost", fn, log_axis))
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


def by_field(field: str) -> ObjectiveSpec | None:
    """The objective reading ``field``; None for a field no objective reads."""
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
