"""Does the searched route beat the hand-designed baselines, and does the supernet amortise?

Runs ``green-run`` (resuming it if the run folder exists; a finished run is only re-reported) and
writes ``outputs/bench/pipeline.json``: ``baselines_dominated`` (on accuracy vs measured latency
and vs energy: count and names of the baselines some winner dominates), ``amortisation_ratio``
(energy of the supernet route to the K winners over the energy of training the K archs from
scratch), ``stage_seconds``, and the report's other figures. The report is copied beside it.

    python bench/pipeline.py --run outputs/run/cifar10_cpu experiment=cifar10_cpu data=imagefolder \
        data.root=../shared/data/cifar10
    python bench/pipeline.py --quick          # the digits default with tiny budgets, about two minutes
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from common import ROOT, save

from search.report import write_report


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--run", default=str(ROOT / "outputs" / "run" / "bench_pipeline"), help="the green-run folder")
    p.add_argument("--report-dir", default=None, help="copy report.md/html/png here (e.g. bench/results/pipeline)")
    p.add_argument("overrides", nargs="*", help="green-run overrides, e.g. experiment=cifar10_cpu")
    args = p.parse_args()
    run = Path(args.run)
    overrides = list(args.overrides)
    if args.quick:
        run = ROOT / "outputs" / "run" / "bench_pipeline_quick"
        overrides += ["pipeline.train.epochs=4", "pipeline.recipe.epochs=1", "top_k=2",
                      "++pipeline.lut={calib.subnets:4,validate.subnets:4,protocol.trials:2,validate.trials:2}",
                      "++pipeline.search={search.population:8,search.generations:1,progress:false}"]
    cmd = [sys.executable, "-m", "search.run", f"hydra.run.dir={run}", "trainer.enable_progress_bar=false", *overrides]
    print("running:", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)
    s = write_report(run)
    d, a = s["dominated"], s["amortisation"]
    result = {
        "baselines_dominated": {"latency": d["latency_ms"], "energy": d["energy_mj_per_image"], "params": d["params"]},
        "amortisation_ratio": a["ratio"], "amortisation": a, "k": a["k"], "stage_seconds": s["stage_seconds"],
        "energy_ledger": s["ledger"], "energy_sources": s["energy_sources"],
        "winners": s["winners"], "scratch": s["scratch"], "baselines": s["baselines"],
        "goal": {"every_baseline_dominated_on_latency_and_energy":
                 bool(s["baselines"]) and d["latency_ms"]["count"] == len(s["baselines"])
                 and d["energy_mj_per_image"]["count"] == len(s["baselines"]),
                 "amortisation_ratio_le_0.5_for_k5": a["ratio"] is not None and a["ratio"] <= 0.5 and a["k"] == 5},
        "run": str(run), "overrides": overrides, "quick": args.quick,
    }
    path = save("pipeline", result)
    if args.report_dir:
        dest = Path(args.report_dir)
        dest.mkdir(parents=True, exist_ok=True)
        for f in ["report.md", "report.html", *(x.name for x in run.glob("report_*.png"))]:
            shutil.copy2(run / f, dest / f)
    print(f"pipeline: baselines dominated on latency {d['latency_ms']['count']}/{len(s['baselines'])}, on energy "
          f"{d['energy_mj_per_image']['count']}/{len(s['baselines'])}; amortisation ratio "
          f"{a['ratio'] if a['ratio'] is None else round(a['ratio'], 3)} (K={a['k']}) -> {path}")


if __name__ == "__main__":
    main()
