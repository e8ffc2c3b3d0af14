"""The cost table's figures beside the numbers: the validation scatter (one chart per batch size and target)
and the table's scalars in TensorBoard."""
from __future__ import annotations

import io
from pathlib import Path

from core.io import write_atomic


def log_scalars(folder: Path, prefix: str, values: dict[str, float]) -> None:
    """The cost table's figures in TensorBoard too (``<folder>/tb``), beside the trainings' logs."""
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(folder / "tb")) as writer:
        for k, v in values.items():
            writer.add_scalar(f"lut/{prefix}/{k}", float(v), 0)


def scatter(res: dict, bs: int, path: Path, target: str = "torch") -> None:
    """Predicted against measured latency of the validation subnets (both measurements), with y = x."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pred = [s["predicted_ms"] for s in res["subnets"]]
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=120)
    for i, mark in ((0, "o"), (1, "x")):
        ax.scatter(pred, [s["measured_ms"][i] for s in res["subnets"]], marker=mark, s=18,
                   label=f"measurement {i + 1}")
    lo, hi = min(pred + [s["measured_ms"][0] for s in res["subnets"]]), max(pred)
    ax.plot([lo, hi * 1.1], [lo, hi * 1.1], "k--", lw=0.8, label="y = x")
    ax.set_xlabel("predicted latency (ms)")
    ax.set_ylabel("measured latency (ms)")
    lat = res["latency"]
    ax.set_title(f"{target}, batch {bs}: MAPE {lat['mape']:.1%}, Spearman {lat['spearman']:.2f}", fontsize=9)
    ax.legend(fontsize=7)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    write_atomic(path, buf.getvalue())
