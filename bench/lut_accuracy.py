"""How well does the lookup table predict whole-network latency on this device?

Builds the latency/energy table of the CIFAR-scale space (``green-lut``), then measures random
subnets end to end twice in interleaved order and compares prediction with measurement, beside
the machine's own noise floor (measurement 1 vs measurement 2).

    python bench/lut_accuracy.py            # full run: CIFAR-scale space, 30 subnets
    python bench/lut_accuracy.py --quick    # tiny space, under a minute
    python bench/lut_accuracy.py --table outputs/lut/<run>/lut.json   # validate an existing table
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import ROOT, save
from hydra import compose, initialize_config_dir

from search.cost import read_table
from search.lut import build_table, validate_table


def main() -> None:
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
    out = Path(tempfile.mkdtemp(prefix="lut_accuracy_", dir=ROOT / "outputs"))
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("lut", overrides=[f"paths.output_dir={out}", *over, *args.overrides])
    table_path = Path(args.table) if args.table else build_table(cfg)
    table = read_table(table_path)
    cfg.table, cfg.mode = str(table_path), "validate"
    res = validate_table(cfg)
    bs = str(table["fingerprint"]["batch_sizes"][0])
    b = res["batches"][bs]
    result = {
        "lut_mape": b["latency"]["mape"], "retest_mape": b["retest"]["mape"],
        "lut_spearman": b["latency"]["spearman"], "retest_spearman": b["retest"]["spearman"],
        "lut_kendall": b["latency"]["kendall"], "within_10pct": b["latency"]["within_10pct"],
        "retest_within_10pct": b["retest"]["within_10pct"], "bias": b["latency"]["bias"],
        "batch_size": int(bs), "n_subnets": res["n_subnets"], "device": args.device,
        "device_name": table["fingerprint"]["device_name"], "threads": table["fingerprint"]["threads"],
        "energy_source": table["energy"]["source"], "build_seconds": table.get("build_seconds"),
        "space": table["fingerprint"]["space_name"], "n_ops": len(table["entries"]),
        "correction": table["correction"], "goals": {
            "lut_mape_le_1.1x_retest": b["latency"]["mape"] <= 1.1 * b["retest"]["mape"],
            "lut_spearman_ge_0.9": b["latency"]["spearman"] >= 0.9,
            "build_under_10_min": (table.get("build_seconds") or 0) < 600},
        "by_batch": {k: {"latency": v["latency"], "retest": v["retest"]} for k, v in res["batches"].items()},
        "run_folder": str(out), "quick": args.quick,
    }
    path = save("lut_accuracy", result)
    print(f"LUT b{bs}: MAPE {result['lut_mape']:.1%} vs retest {result['retest_mape']:.1%}, Spearman "
          f"{result['lut_spearman']:.3f} vs retest {result['retest_spearman']:.3f}, within 10% "
          f"{result['within_10pct']:.0%}, {result['n_subnets']} subnets, build {result['build_seconds']:.0f} s, "
          f"energy {result['energy_source']} -> {path}")


if __name__ == "__main__":
    main()
