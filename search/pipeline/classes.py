"""The report's per-class section: recall of every class for winners and baselines, and the confusion matrix
of the chosen winner.

Accuracy hides a class a model misses: on long-tailed data a model can be accurate and still miss most of
a rare class. The section shows each class's test recall (mean over seeds) for every winner and baseline,
as a table and a heat map, and the test confusion matrix (summed over seeds) of the *chosen* winner: the
one with the best held-out selection accuracy, so the test split does not pick the model it then scores.
"""
from __future__ import annotations

from search.pipeline.charts import png


def class_models(s: dict) -> list[dict]:
    """Winners and baselines whose rows carry per-class figures (runs of before carry none)."""
    return [m for m in s["winners"] + s["baselines"] if m.get("test_class_recall")]


def chosen_winner(s: dict) -> dict | None:
    """The winner with the best held-out selection accuracy (the first winner when none was re-scored)."""
    ws = [m for m in s["winners"] if m.get("test_class_recall")]
    if not ws:
        return None
    return max(ws, key=lambda m: (m.get("select_acc") is not None, m.get("select_acc") or 0.0))


def recall_chart(s: dict) -> bytes | None:
    """Heat map of test recall, models (rows) by class (columns), each cell labelled with its value."""
    models = class_models(s)
    if not models:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    classes = list(models[0]["test_class_recall"])
    grid = [[m["test_class_recall"][c] for c in classes] for m in models]
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * len(classes), 0.9 + 0.32 * len(models)))
    im = ax.imshow(grid, vmin=0, vmax=1, cmap="RdYlGn", aspect="auto")
    for i, row in enumerate(grid):
        for j, v in enumerate(row):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(models)), [f"{m['name']} ({m['kind']})" for m in models], fontsize=7)
    ax.set_title(f"test recall per class (mean of {s['seeds']} seed{'s' if s['seeds'] > 1 else ''})", fontsize=8)
    fig.colorbar(im, ax=ax, fraction=0.03)
    return png(fig)


def confusion_chart(m: dict) -> bytes:
    """The confusion matrix of one model, rows normalised to the true class (counts summed over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    classes = list(m["test_class_recall"])
    cm = m["test_confusion"]
    rows = [[v / max(sum(r), 1) for v in r] for r in cm]
    fig, ax = plt.subplots(figsize=(1.2 + 0.45 * len(classes), 1.0 + 0.42 * len(classes)))
    im = ax.imshow(rows, vmin=0, vmax=1, cmap="Blues")
    if len(classes) <= 20:
        for i, r in enumerate(rows):
            for j, v in enumerate(r):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6, color="white" if v > 0.5 else "black")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(classes)), classes, fontsize=7)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"{m['name']}: share of each true class's test images", fontsize=8)
    fig.colorbar(im, ax=ax, fraction=0.04)
    return png(fig)


def class_pngs(s: dict) -> dict[str, bytes]:
    """The section's images by key (none for runs without per-class figures)."""
    out: dict[str, bytes] = {}
    chart = recall_chart(s)
    if chart is not None:
        out["recall"] = chart
        chosen = chosen_winner(s)
        if chosen is not None:
            out["confusion"] = confusion_chart(chosen)
    return out
