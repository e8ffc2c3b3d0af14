"""The picture of a search: every evaluated subnet and the front, in 2-D projections."""
from __future__ import annotations

from typing import Any, Sequence

from search.evolution.objectives import Objective
from search.evolution.records import Evaluation
from search.objectives import by_field, label as axis_label


def plot_front(history: Sequence[Evaluation], front: Sequence[Evaluation], objectives: Sequence[Objective]) -> Any:
    """2-D projections: the first objective against each other one; evaluated points and the front."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first, others = objectives[0], objectives[1:]
    fig, axes = plt.subplots(1, len(others), figsize=(4 * len(others), 3.6), squeeze=False)
    for ax, o in zip(axes[0], others):
        ax.scatter([r[o.field] for r in history], [r[first.field] for r in history], s=8, c="0.7", label="evaluated")
        pts = sorted((r[o.field], r[first.field]) for r in front)
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=16, c="tab:green", label="Pareto front")
        ax.set_xlabel(axis_label(o.field))
        ax.set_ylabel(axis_label(first.field))
        spec = by_field(o.field)
        if spec is not None and spec.log_axis:
            ax.set_xscale("log")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    plt.close(fig)
    return fig
