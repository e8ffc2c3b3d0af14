"""Markdown pieces every section of the Green report shares, so one number reads the same in every table.

A float prints with 4 significant digits (``.4g``) unless a column asks for another spec; a missing value is
``n/a`` everywhere (an empty cell reads as a rendering fault, and "0" would be a claim).
"""
from __future__ import annotations

from typing import Any, Sequence

MISSING = "n/a"


def fmt(v: Any, spec: str = ".4g") -> str:
    """One cell: a float with ``spec``, ``n/a`` for a missing value, anything else as its text."""
    if v is None:
        return MISSING
    return format(v, spec) if isinstance(v, float) else str(v)


def table(rows: Sequence[Sequence[Any]], head: Sequence[str]) -> list[str]:
    """A markdown table's lines: the header, its rule, one line per row of cells formatted by :func:`fmt`."""
    return ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head),
            *("| " + " | ".join(fmt(v) for v in r) + " |" for r in rows)]
