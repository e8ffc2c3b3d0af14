"""The figure section (docs/benchmarks.md) of the deployment targets: each target's cost table against measurement,
the accuracy cost of int8, and the int8-searched front against the torch-searched one on int8 (``deploy.json``)."""
from __future__ import annotations

from bench.sections.text import RESULTS, interval_text, load_result, made_by, met, pct


def deploy() -> str:
    """Per target and batch size: the table's MAPE against the retest's and Spearman; the winners' int8 accuracy
    cost; the fronts' hypervolume difference with its interval (or, before the full run, that there is none)."""
    if not (RESULTS / "deploy.json").is_file():
        return "No full run is committed yet: no figures here until `bench/results/deploy.json` is."
    r = load_result("deploy.json")
    rows = ["| target | batch | table MAPE | retest MAPE | Spearman | MAPE <= 1.1x retest | Spearman >= 0.9 |",
            "| --- | ---: | ---: | ---: | ---: | --- | --- |"]
    for name, t in r["targets"].items():
        for bs, b in t["by_batch"].items():
            g = b["goals"]
            rows.append(f"| {name} | {bs} | {pct(b['lut_mape'])} | {pct(b['retest_mape'])} | "
                        f"{b['lut_spearman']:.3f} | {met(g['lut_mape_le_1.1x_retest'])} | "
                        f"{met(g['lut_spearman_ge_0.9'])} |")
    per = ", ".join(f"{name.split('_')[0]} {d:+.2f}" for name, d in r["int8_acc_drop_points_per_model"].items())
    f = r["fronts"]
    beats = ("beats it beyond noise" if f["int8_front_beats_torch_front"] else
             "does not beat it beyond noise" if f["int8_front_beats_torch_front"] is False else "has no interval")
    winners = r["raw"]["winners"]
    first = next(iter(r["targets"].values()))["by_batch"]
    return "\n".join([
        f"{made_by(r)}: the `{r['space']}` space, the winners of the `{r['run']}` run, "
        f"batch sizes {', '.join(first)} per table, each validated on {next(iter(first.values()))['n_subnets']} "
        "random subnets timed twice, interleaved trial by trial.", "", *rows, "",
        f"Int8 accuracy cost (float32 minus int8 test accuracy through ONNX Runtime, {winners[0]['images']} test "
        f"images, calibrated on {(winners[0].get('calibration') or {}).get('images', 'n/a')} training images): worst "
        f"{r['int8_acc_drop_points']:+.2f} points (per winner: {per}); within 1 point "
        f"{met(r['int8_within_1_point'])}.", "",
        f"Accuracy against int8 latency at batch 1, both fronts re-measured on int8 in one interleaved session "
        f"({f['members']['int8_searched']} and {f['members']['torch_searched']} members): hypervolume "
        f"{f['hv_int8_searched']:.4g} searched on the int8 table, {f['hv_torch_searched']:.4g} on the torch table; "
        f"difference {f['hv_diff']:+.4g} {interval_text(f['hv_diff_ci95'], '+.4g')} (paired bootstrap over test "
        f"images; one search per table, so the interval covers the test images, not the search's seed): the "
        f"int8-searched front {beats}. Energies are not judged here: without an energy counter each table's energy "
        "is its latency times one power figure (codecarbon-estimate)."])
