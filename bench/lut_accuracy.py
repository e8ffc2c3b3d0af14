"""How well does the lookup table predict whole-network latency on this device?

Builds the latency/energy table of the CIFAR-scale space (``green-lut``) and measures random subnets end to
end against it, in rounds interleaved with the table: build (A), validate (B), build again (A), validate
again (B), so a drift of the shared machine shows up as a difference between rounds instead of posing as
the table's error. In each validation every subnet is timed twice, the two measurements interleaved trial
by trial (one machine state: the retest floor).

``outputs/bench/lut_accuracy.json`` holds the provenance (commit, command line, the composed ``green-lut``
config), the raw per-subnet data of every round and batch size (``raw.rounds[r].batches.<bs>.subnets``: the
round's predicted latency and both measured latencies) and the headline figures :func:`headline` computes
from it (``bench/recompute.py`` reruns it). Per batch size (``by_batch``): the mean absolute percentage
error (MAPE) and the signed bias **separately** (a small mean bias can hide large errors of both signs), each
per round and averaged over the rounds, the retest MAPE of the two interleaved measurements, the two tables'
predictions against each other (``table_retest_mape``), the measured drift between rounds and the error of
round 1's table against round 2's measurements (``cross_round_mape``: what a drift does to a stale table).
At the first batch size, with bootstrap 95% intervals over subnets (paired across rounds): MAPE, bias,
retest MAPE, their ratio, Spearman, Kendall and the share within 10%.

    python bench/lut_accuracy.py            # full run: CIFAR-scale space, 30 subnets, 2 rounds
    python bench/lut_accuracy.py --quick    # tiny space, a minute or two
    python bench/lut_accuracy.py --table outputs/lut/<run>/lut.json   # validate an existing table (1 round)
"""
from __future__ import annotations

import argparse
import copy
import math
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

if __package__ in (None, ""):  # run as a file, `python bench/<name>.py`: see bench/__init__.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.common import ROOT, input_ref, save  # noqa: E402
from core.jsontypes import JSONObject  # noqa: E402
from search.stats import interval, kendall, mape, spearman  # noqa: E402

N_BOOT, LEVEL, SEED = 2000, 0.95, 0  # the bootstrap protocol of every interval below


def _within_10pct(pred: Sequence[float], meas: Sequence[float]) -> float:
    """Share of predictions within 10% of the measurement, as :func:`search.hardware.lut.prediction_stats` counts it."""
    return sum(abs((p - m) / abs(m)) <= 0.10 for p, m in zip(pred, meas)) / len(meas)


def _bias(pred: Sequence[float], meas: Sequence[float]) -> float:
    """Mean signed relative error: positive when the table over-predicts."""
    return sum((p - m) / abs(m) for p, m in zip(pred, meas)) / len(meas)


def _rounds(stat: Callable[[Sequence[float], Sequence[float]], float]) -> Callable[..., float]:
    """``stat`` of each round's prediction against each of its two measurements, averaged over both and over
    the rounds; the columns come three per round (prediction, measurement 1, measurement 2)."""
    def avg(*cols):
        vals = [stat(cols[i], cols[i + j]) for i in range(0, len(cols), 3) for j in (1, 2)]
        return sum(vals) / len(vals)
    return avg


def _retest(stat: Callable[[Sequence[float], Sequence[float]], float]) -> Callable[..., float]:
    """``stat`` of measurement 2 against measurement 1, averaged over the rounds."""
    def avg(*cols):
        vals = [stat(cols[i + 1], cols[i + 2]) for i in range(0, len(cols), 3)]
        return sum(vals) / len(vals)
    return avg


def _over_retest(*cols) -> float:
    retest = _retest(mape)(*cols)
    return _rounds(mape)(*cols) / retest if retest > 0 else math.nan


def _ci(stat: Callable[..., float], *cols: Sequence[float]) -> list[float] | None:
    """The module's bootstrap protocol over subnets; none from fewer than 5 (search.stats.interval)."""
    return interval(stat, *cols, n_boot=N_BOOT, level=LEVEL, seed=SEED)


def _columns(rounds: list[dict], bs: str) -> list[list[float]]:
    """Three columns per round (prediction, measurement 1, measurement 2), subnets in the same order."""
    cols = []
    for r in rounds:
        subnets = r["batches"][bs]["subnets"]
        cols += [[s["predicted_ms"] for s in subnets], [s["measured_ms"][0] for s in subnets],
                 [s["measured_ms"][1] for s in subnets]]
    return cols


def _batch(rounds: list[dict], bs: str) -> JSONObject:
    """One batch size's figures: MAPE and signed bias apart, per round and averaged; retest; drift."""
    cols = _columns(rounds, bs)
    per = [cols[i:i + 3] for i in range(0, len(cols), 3)]
    out: dict[str, Any] = {
        "mape": _rounds(mape)(*cols), "mape_per_round": [_rounds(mape)(*c) for c in per],
        "bias": _rounds(_bias)(*cols), "bias_per_round": [_rounds(_bias)(*c) for c in per],
        "retest_mape": _retest(mape)(*cols), "retest_mape_per_round": [_retest(mape)(*c) for c in per],
        "spearman": _rounds(spearman)(*cols), "within_10pct": _rounds(_within_10pct)(*cols)}
    if len(per) > 1:
        meas = [[(a + b) / 2 for a, b in zip(c[1], c[2])] for c in per]
        out["table_retest_mape"] = mape(per[1][0], per[0][0])
        out["drift_between_rounds"] = statistics.median(b / a for a, b in zip(meas[0], meas[1]))
        out["cross_round_mape"] = mape(per[0][0], meas[1])
    return out


def headline(result: JSONObject) -> JSONObject:
    """The headline figures, from the raw per-round, per-subnet data in ``result["raw"]`` only."""
    raw = result["raw"]
    rounds, bs = raw["rounds"], str(raw["batch_size"])
    cols = _columns(rounds, bs)
    first = _batch(rounds, bs)
    builds = [r.get("build_seconds") for r in rounds]
    build = None if any(b is None for b in builds) else max(builds)
    return {
        "lut_mape": first["mape"], "lut_mape_ci": _ci(_rounds(mape), *cols),
        "bias": first["bias"], "bias_ci": _ci(_rounds(_bias), *cols),
        "retest_mape": first["retest_mape"], "retest_mape_ci": _ci(_retest(mape), *cols),
        "mape_over_retest": _over_retest(*cols), "mape_over_retest_ci": _ci(_over_retest, *cols),
        "lut_spearman": first["spearman"], "lut_spearman_ci": _ci(_rounds(spearman), *cols),
        "retest_spearman": _retest(spearman)(*cols),
        "lut_kendall": _rounds(kendall)(*cols), "lut_kendall_ci": _ci(_rounds(kendall), *cols),
        "within_10pct": first["within_10pct"], "within_10pct_ci": _ci(_rounds(_within_10pct), *cols),
        "batch_size": int(bs), "n_subnets": len(cols[0]), "rounds": len(rounds),
        "goals": {"lut_mape_le_1.1x_retest": first["mape"] <= 1.1 * first["retest_mape"],
                  "lut_spearman_ge_0.9": first["spearman"] >= 0.9,
                  "build_under_10_min": None if build is None else build < 600},
        "by_batch": {k: _batch(rounds, k) for k in rounds[0]["batches"]},
    }


def main() -> None:
    # imported here: bench/recompute.py and the tests load this module for headline() alone
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from search.hardware.lookup import LookupTable
    from search.hardware.lut import build_table, validate_table

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny space and short protocol (a minute or two)")
    p.add_argument("--table", help="validate this table instead of building one")
    p.add_argument("--subnets", type=int, default=30)
    p.add_argument("--rounds", type=int, default=2, help="rounds of (build, validate): 2 or more shows the drift")
    p.add_argument("--device", default="cpu")
    p.add_argument("overrides", nargs="*", help="extra green-lut overrides, e.g. threads=1")
    args = p.parse_args()
    over = [f"device={args.device}", f"validate.subnets={args.subnets}"]
    if args.quick:
        over = [f"device={args.device}", "space=tiny", "protocol.trials=3", "protocol.min_call_ms=5", "calib.subnets=4",
                "validate.subnets=8", "validate.trials=3", "energy.power_window_s=2", "batch_sizes=[1,16]"]
    else:
        over += ["space=cifar", "data=cifar10"]
    work = ROOT / "outputs" / "bench"
    work.mkdir(parents=True, exist_ok=True)
    out = Path(tempfile.mkdtemp(prefix="lut_accuracy_", dir=work))
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("lut", overrides=[f"paths.output_dir={out}", *over, *args.overrides])
    rounds_raw, tables = [], []
    for r in range(1 if args.table else args.rounds):  # A (table), B (validation), A, B
        if args.table:
            table_path = Path(args.table)
        else:
            cfg.paths.output_dir = str(out / f"round{r + 1}")
            table_path = build_table(cfg)
        table = LookupTable.read(table_path)
        vcfg = copy.deepcopy(cfg)
        vcfg.table, vcfg.mode = str(table_path), "validate"
        res = validate_table(vcfg)
        rounds_raw.append({"build_seconds": table.build_seconds, "table": input_ref(table_path),
                           "batches": {k: {"subnets": v["subnets"]} for k, v in res["batches"].items()}})
        tables.append(table)
    table = tables[0]
    fp = table.fingerprint
    raw = {"batch_size": int(fp["batch_sizes"][0]), "rounds": rounds_raw,
           "bootstrap": {"n_boot": N_BOOT, "level": LEVEL, "seed": SEED},
           "order": "rounds of (build the table, validate it: each subnet timed twice, interleaved per trial)"}
    result = {**headline({"raw": raw}), "raw": raw, "device": args.device, "device_name": fp["device_name"],
              "threads": fp["threads"], "energy_source": table.energy_source, "space": fp["space_name"],
              "n_ops": len(table.entries), "correction": table.correction, "run_folder": str(out),
              "quick": args.quick}
    path = save("lut_accuracy", result, config={"bench": vars(args), "lut": OmegaConf.to_container(cfg, resolve=True)})
    for k, b in result["by_batch"].items():
        print(f"LUT b{k}: MAPE {b['mape']:.1%} (per round {', '.join(f'{x:.1%}' for x in b['mape_per_round'])}), "
              f"bias {b['bias']:+.1%} (per round {', '.join(f'{x:+.1%}' for x in b['bias_per_round'])}), retest "
              f"MAPE {b['retest_mape']:.1%}" + (f", tables {b['table_retest_mape']:.1%} apart, drift "
                                                f"{b['drift_between_rounds']:.3f}x" if "drift_between_rounds" in b
                                                else ""))
    print(f"LUT b{result['batch_size']}: MAPE over retest {result['mape_over_retest']:.2f} "
          f"{result['mape_over_retest_ci']}, Spearman {result['lut_spearman']:.3f}, {result['n_subnets']} subnets x "
          f"{result['rounds']} rounds -> {path}")


if __name__ == "__main__":
    main()
