"""The record of one evaluated candidate, as the evolution keeps it and every output reads it.

An :class:`Evaluation` joins what a candidate *costs* (known before it is scored: for a subnet the
lookup table's ``params``, ``macs``, ``latency_ms``, ``energy_mj``, ``energy_source``) and how it
*scored* (from the evaluator: ``acc``, ``recall``, ``eval_seconds``, and the training figures of a
multi-trial or ``green-hpo`` candidate). Objectives and constraints name fields, so a figure is read
by its field name: ``record["latency_ms"]``. On disk (the evaluation cache, ``history.csv``) a
record is one flat row: :meth:`Evaluation.row` and :meth:`Evaluation.from_row`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from core.jsontypes import JSONObject

PLACE = ("arch", "genome", "gen")  # where a candidate came from; every other field of a row is a figure


@dataclass(frozen=True)
class Evaluation:
    """One evaluated candidate: its canonical string, genome and generation, its cost and its scores."""

    arch: str
    genome: tuple[int, ...]
    gen: int
    cost: Mapping[str, Any] = field(default_factory=dict)
    scores: Mapping[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        """A field by name: ``arch``, ``genome``, ``gen``, a cost or a score (scores win a clash)."""
        if name in PLACE:
            return list(self.genome) if name == "genome" else getattr(self, name)
        if name in self.scores:
            return self.scores[name]
        return self.cost[name]

    def __contains__(self, name: object) -> bool:
        return name in PLACE or name in self.scores or name in self.cost

    def get(self, name: str, default: Any = None) -> Any:
        """:meth:`__getitem__`, or ``default`` for a field this record lacks."""
        return self[name] if name in self else default

    def row(self) -> JSONObject:
        """The flat row of the cache file and the CSV outputs: place, then cost, then scores."""
        return {"arch": self.arch, "genome": list(self.genome), "gen": self.gen, **self.cost, **self.scores}

    @classmethod
    def from_row(cls, row: Mapping[str, Any], cost_fields: Sequence[str]) -> Evaluation:
        """The record of a flat row; ``cost_fields`` says which of its figures are costs."""
        cost = {k: row[k] for k in cost_fields if k in row}
        scores = {k: v for k, v in row.items() if k not in PLACE and k not in cost}
        return cls(str(row["arch"]), tuple(row["genome"]), int(row.get("gen", 0)), cost, scores)
