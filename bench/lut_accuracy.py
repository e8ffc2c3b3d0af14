"""How well does the lookup table predict whole-network latency on this device?

Builds the latency/energy table of the CIFAR-scale space (``green-lut``), then measures random
subnets end to end twice in interleaved order and compares prediction with measurement, beside
the machine's own noise floor (measurement 1 vs measurement 2).

``outputs/bench/lut_accuracy.json`` holds the provenance (commit, command line, the composed
``green-lut`` config), the raw per-subnet data of every batch size (``raw.batches.<bs>.subnets``:
predicted latency and both measured latencies) and the headline figures :func:`headline` computes
from it (``bench/recompute.py`` reruns it). At the table's first batch size: the table's MAPE,
Spearman and Kendall against each measurement (averaged over the two, as ``green-lut validate``
reports them), the share within 10%, the signed bias, the same figures of measurement 2 against
measurement 1 (the retest floor), and the table's MAPE over the retest MAPE; every MAPE, share,
ratio and correlation with a bootstrap 95% interval over subnets.

    python bench/lut_accuracy.py            # full run: CIFAR-scale space, 30 subnets
    python bench/lut_accuracy.py --quick    # tiny space, under a minute
    python bench/lut_accuracy.py --table outputs/lut/<run>/lut.json   # validate an existing table
"""
from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

from common import ROOT, input_ref, save

from search.stats import bootstrap_ci, kendall, mape, spearman

N_BOOT, LEVEL, SEED = 2000, 0.95, 0  # the bootstrap protocol of every interval below


def _within_10pct(pred: Sequence[float], meas: Sequence[float]) -> float:
    """Share of predictions within 10% of the measurement, as :func:`search.hardware.lut.prediction_stats` counts it."""
    return sum(abs((p - m) / abs(m)) <= 0.10 for p, m in zip(pred, meas)) / len(meas)


def _both(stat: Callable[[Sequence[float], Sequence[float]], float]) -> Callable[..., float]:
    """``stat`` of the prediction against each of the two measurements, averaged (as green-lut validate)."""
    def avg(pred, m1, m2):
        return (stat(pred, m1) + stat(pred, m2)) / 2
    return avg


def _mape_over_retest(pred, m1, m2) -> float:
    retest = mape(m1, m2)
    return _both(mape)(pred, m1, m2) / retest if retest > 0 else math.nan


def _figures(pred: Sequence[float], m1: Sequence[float], m2: Sequence[float]) -> dict[str, dict[str, float]]:
    """Table vs measurement (averaged over the two) and measurement 2 vs measurement 1, as green-lut validate."""
    from search.hardware.lut import prediction_stats

    a, b = prediction_stats(pred, m1), prediction_stats(pred, m2)
    return {"latency": {k: (a[k] + b[k]) / 2 for k in a}, "retest": prediction_stats(m1, m2)}


def _ci(stat: Callable[..., float], *cols: Sequence[float]) -> list[float]:
    if len(cols[0]) < 2:
        return [math.nan, math.nan]
    return list(bootstrap_ci(stat, *cols, n_boot=N_BOOT, level=LEVEL, seed=SEED))


def _columns(subnets: list[dict]) -> tuple[list[float], list[float], list[float]]:
    return ([s["predicted_ms"] for s in subnets], [s["measured_ms"][0] for s in subnets],
            [s["measured_ms"][1] for s in subnets])


def headline(result: dict[str, Any]) -> dict[str, Any]:
    """The headline figures, from the raw per-subnet data in ``result["raw"]`` only."""
    raw = result["raw"]
    bs = str(raw["batch_size"])
    pred, m1, m2 = _columns(raw["batches"][bs]["subnets"])
    fig = _figures(pred, m1, m2)
    lat, rt = fig["latency"], fig["retest"]
    ratio = _mape_over_retest(pred, m1, m2)
    build = raw.get("build_seconds")
    return {
        "lut_mape": lat["mape"], "lut_mape_ci": _ci(_both(mape), pred, m1, m2),
        "retest_mape": rt["mape"], "retest_mape_ci": _ci(mape, m1, m2),
        "mape_over_retest": ratio, "mape_over_retest_ci": _ci(_mape_over_retest, pred, m1, m2),
        "lut_spearman": lat["spearman"], "lut_spearman_ci": _ci(_both(spearman), pred, m1, m2),
        "retest_spearman": rt["spearman"], "retest_spearman_ci": _ci(spearman, m1, m2),
        "lut_kendall": lat["kendall"], "lut_kendall_ci": _ci(_both(kendall), pred, m1, m2),
        "within_10pct": lat["within_10pct"], "within_10pct_ci": _ci(_both(_within_10pct), pred, m1, m2),
        "retest_within_10pct": rt["within_10pct"], "bias": lat["bias"],
        "batch_size": int(bs), "n_subnets": len(pred),
        "goals": {"lut_mape_le_1.1x_retest": lat["mape"] <= 1.1 * rt["mape"],
                  "lut_spearman_ge_0.9": lat["spearman"] >= 0.9,
                  "build_under_10_min": None if build is None else build < 600},
        "by_batch": {k: _figures(*_columns(v["subnets"])) for k, v in raw["batches"].items()},
    }


def main() -> None:
    # imported here: bench/recompute.py and the tests load this module for headline() alone
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from search.hardware.lookup import LookupTable
    from search.hardware.lut import build_table, validate_table

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny space and short protocol (under a minute)")
    p.add_argument("--table", help="validate this table instead of building one")
    p.add_argument("--subnets", type=int, default=30)
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
    table_path = Path(args.table) if args.table else build_table(cfg)
    table = LookupTable.read(table_path)
    cfg.table, cfg.mode = str(table_path), "validate"
    res = validate_table(cfg)
    fp = table.fingerprint
    raw = {"batch_size": int(fp["batch_sizes"][0]), "build_seconds": table.build_seconds,
           "batches": {k: {"subnets": v["subnets"]} for k, v in res["batches"].items()},
           "bootstrap": {"n_boot": N_BOOT, "level": LEVEL, "seed": SEED}}
    result = {**headline({"raw": raw}), "raw": raw, "device": args.device, "device_name": fp["device_name"],
              "threads": fp["threads"], "energy_source": table.energy_source, "space": fp["space_name"],
              "n_ops": len(table.entries), "correction": table.correction, "table": str(table_path), "inputs": {"table": input_ref(table_path)},
              "run_folder": str(out), "quick": args.quick}
    path = save("lut_accuracy", result, config={"bench": vars(args), "lut": OmegaConf.to_container(cfg, resolve=True)})
    lo, hi = result["mape_over_retest_ci"]
    build = raw["build_seconds"]
    print(f"LUT b{result['batch_size']}: MAPE {result['lut_mape']:.1%} vs retest {result['retest_mape']:.1%} "
          f"(ratio {result['mape_over_retest']:.2f} [{lo:.2f}, {hi:.2f}]), Spearman {result['lut_spearman']:.3f} vs "
          f"retest {result['retest_spearman']:.3f}, within 10% {result['within_10pct']:.0%}, {result['n_subnets']} "
          f"subnets, build {'?' if build is None else f'{build:.0f}'} s, energy {result['energy_source']} -> {path}")


if __name__ == "__main__":
    main()
