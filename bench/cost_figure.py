"""The README's chart: latency against MACs of the space's subnets and the hand-designed baselines.

Drawn from the committed ``bench/results/cost_range.json`` only (nothing is measured here): the smallest, middle and
largest subnet of the space and the six baselines, MACs per image on a log axis against the median latency, at
batch 1 and at the serving batch, one panel each. Rerun it after ``bench/cost_range.py`` commits a new result.

    python bench/cost_figure.py                          # writes docs/figures/cost_range.png
    python bench/cost_figure.py --out /tmp/cost.png
"""
from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file, `python bench/<name>.py`: see bench/__init__.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "bench" / "results" / "cost_range.json"
FIGURE = ROOT / "docs" / "figures" / "cost_range.png"
SUBNETS = ("smallest", "middle", "largest")


def draw(result: Path, out: Path) -> Path:
    """Draw ``result`` (a cost_range.json) into the PNG ``out``; returns ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from adjustText import adjust_text
    from search.evolution.plots import log_axis

    from core.io import write_atomic

    r = json.loads(result.read_text())
    serving = r["raw"]["serving_batch"]
    space = r["config"]["composed"]["space"]["name"]
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.4), dpi=100)
    for ax, key, title in ((axes[0], "latency_ms_b1", "batch 1"),
                           (axes[1], "latency_ms_serving", f"batch {serving}")):
        xs, ys, texts = [], [], []
        ax.plot([r[k]["macs"] / 1e6 for k in SUBNETS], [r[k][key] for k in SUBNETS], "o-", color="tab:green",
                label=f"the {space} space: its smallest, middle and largest subnet")
        for name, m, colour in [*((k, r[k], "tab:green") for k in SUBNETS),
                                *((k, m, "0.35") for k, m in r["baselines"].items())]:
            if colour != "tab:green":
                ax.plot(m["macs"] / 1e6, m[key], "s", color=colour)
            xs.append(m["macs"] / 1e6)
            ys.append(m[key])
            texts.append(ax.text(xs[-1], ys[-1], name, fontsize=6.5, color=colour))
        log_axis(ax, "x")
        log_axis(ax, "y")
        ax.set_xlabel("M MACs per image")
        ax.set_ylabel("latency, ms (median)")
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3, which="both")
        ax.margins(0.15)
        adjust_text(texts, x=xs, y=ys, ax=ax, ensure_inside_axes=True, expand_axes=False,
                    arrowprops={"arrowstyle": "-", "color": "0.6", "lw": 0.5})
    axes[0].plot([], [], "s", color="0.35", label="the hand-designed baselines (green-baselines)")
    fig.legend(*axes[0].get_legend_handles_labels(), fontsize=7, loc="lower center", ncol=2, frameon=False)
    fig.suptitle(f"Latency against MACs (log-log), one interleaved session on a {r['machine']['cpus']}-CPU machine "
                 f"(bench/results/cost_range.json, {r['commit'][:7]})", fontsize=8)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    png = io.BytesIO()
    fig.savefig(png, format="png", metadata={"Software": None})  # no version string in the file
    plt.close(fig)
    return write_atomic(out, png.getvalue())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--result", type=Path, default=RESULT, help="the cost_range.json to draw")
    p.add_argument("--out", type=Path, default=FIGURE, help="the PNG to write")
    args = p.parse_args(argv)
    out = draw(args.result, args.out)
    print(f"cost_figure: {out} ({out.stat().st_size // 1024} kB) from {args.result}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
