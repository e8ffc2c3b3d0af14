"""The picture of a search: every evaluated subnet and the front, in 2-D projections, each cost axis labelled
with the target, batch size and energy source of the table that priced it."""
from __future__ import annotations

import textwrap
from typing import Any, Mapping, Sequence

from search.evolution.objectives import Objective
from search.evolution.records import Evaluation
from search.objectives import by_field
from search.objectives.tables import TableInfo, describe


def log_axis(ax: Any, which: str = "x") -> None:
    """A log scale on ``ax``'s ``which`` axis ("x" or "y", called after the data are drawn) whose labels never
    collide: plain numbers (``0.0002``, ``5e+04``) at 1-9, 1-2-5 or 1 per decade as the data span under a
    decade, up to 2 or more, and no labels on the minor ticks (matplotlib labels them when the data span less than
    a decade, as ``2x10^-4``, wide enough to overlap)."""
    import math

    from matplotlib import ticker

    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    axis = ax.xaxis if which == "x" else ax.yaxis
    lo, hi = (ax.dataLim.intervalx if which == "x" else ax.dataLim.intervaly)
    decades = math.log10(hi / lo) if lo > 0 and hi > lo else 0.0
    subs = tuple(range(1, 10)) if decades < 0.6 else (1.0, 2.0, 5.0) if decades <= 2 else (1.0,)
    axis.set_major_locator(ticker.LogLocator(base=10, subs=subs, numticks=12))
    axis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(ticker.NullFormatter())


def plot_front(history: Sequence[Evaluation | Mapping[str, Any]], front: Sequence[Any], objectives: Sequence[Objective],
               tables: Sequence[TableInfo] = (), title: str | None = None) -> Any:
    """2-D projections: the first objective against each other one; evaluated points and the front (records or
    anything read by field name, as :class:`~search.evolution.front.Member`); ``tables`` label the cost axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first, others = objectives[0], objectives[1:]
    fig, axes = plt.subplots(1, len(others), figsize=(4 * len(others), 3.6), squeeze=False)
    for ax, o in zip(axes[0], others):
        ax.scatter([r[o.field] for r in history], [r[first.field] for r in history], s=8, c="0.7", label="evaluated")
        pts = sorted((r[o.field], r[first.field]) for r in front)
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=16, c="tab:green", label="Pareto front")
        ax.set_xlabel(textwrap.fill(describe(o.field, tables), 52), fontsize=8)  # a table's label states its source
        ax.set_ylabel(describe(first.field, tables))
        spec = by_field(o.field)
        if spec is not None and spec.log_axis:
            log_axis(ax)
    axes[0][0].legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    plt.close(fig)
    return fig
