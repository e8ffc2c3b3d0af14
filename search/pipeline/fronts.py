"""The search front per deployment target: one chart for each cost table that an objective priced a cost on
(accuracy against that target's latency or energy). Each chart is labelled with the table's target, device, batch
size and energy source.

A search whose objectives name several tables (``latency@int8``, ``energy@gpu/b32``: :mod:`search.objectives.tables`)
trades accuracy against costs on several devices at once. The report draws each target's costs on a chart of their
own, so the trade on one device is read without the others' axes. The charts are drawn from what the search wrote:
``pareto.json`` for the front and its tables, ``history.csv`` for every evaluated candidate.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from search.evolution.front import FILE, Front
from search.evolution.plots import plot_front
from search.objectives.tables import table_of
from search.pipeline.charts import png


@dataclass(frozen=True)
class TargetChart:
    """One target's chart: its report key (``front`` for the search's own table, ``front_<name>`` for a named one),
    its title and the PNG bytes."""

    key: str
    title: str
    png: bytes


def target_fronts(folder: Path) -> list[TargetChart]:
    """The charts of the search run in ``folder``, one per cost table whose measurements an objective traded
    accuracy for, the search's own table first; none where the folder holds no front or no such objective."""
    if not (folder / FILE).is_file():
        return []
    front = Front.read(folder)
    score = next((o for o in front.objectives if o.maximise), None)
    groups: dict[str | None, list] = {}
    for o in front.objectives:
        found = table_of(o.field, front.cost_tables)
        if found is not None:
            groups.setdefault(found[0].name, [found[0]]).append(o)
    if score is None or not groups:
        return []
    history = []
    if (folder / "history.csv").is_file():
        with (folder / "history.csv").open() as f:
            for row in csv.DictReader(f):
                history.append({k: float(row[k]) for k in (score.field, *(o.field for o in front.objectives))
                                if row.get(k) not in (None, "")})
    out = []
    for name, (info, *costs) in sorted(groups.items(), key=lambda kv: kv[0] is not None):
        fields = (score.field, *(o.field for o in costs))
        seen = [r for r in history if all(k in r for k in fields)]
        title = f"Search front on {info.where}: " + (f"table {name}" if name else "the search's own table")
        fig = plot_front(seen, front.members, [score, *costs], front.cost_tables, title=title)
        out.append(TargetChart("front" if name is None else f"front_{name}", title, png(fig)))
    return out


def target_lines(charts: list[TargetChart], images: Mapping[str, str]) -> list[str]:
    """The report's section of the charts (none without charts)."""
    if not charts:
        return []
    lines = ["## The search front per target", "",
             "Every subnet the search evaluated (grey) and its front (green): the search's score against each cost "
             "it traded that score for, one chart per cost table (deployment target and device). The costs are "
             "the tables' predictions; without an energy counter a table's energy is its predicted latency times "
             "the one power figure each label states.", ""]
    for c in charts:
        lines += [f"### {c.title}", "", f"![{c.title}]({images[c.key]})", ""]
    return lines
