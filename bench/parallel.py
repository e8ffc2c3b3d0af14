"""Do parallel jobs pay on this machine, and do they change any result?

One small supernet is trained once; then the same batch of fine-tunes (``--archs`` archs x ``--seeds``
seeds, from the inherited weights; by default two seeded random subnets, so the jobs cost about the
same, as K winners of a front near one budget do) is run, in fresh folders, alternately

- **sequentially**: ``launcher=serial``, one process, ``threads=<cores>``;
- **in parallel**: ``launcher=joblib launcher.jobs=<jobs>``, each job on ``cores/jobs`` threads
  (the launcher's own device assignment),

``--rounds`` times each, interleaved (sequential, parallel, sequential, ...) so drift of the shared
machine hits both alike. Headline: the median of the per-round wall-time ratios parallel/sequential
with a bootstrap 95% interval (the noise floor: the spread of the ratios over rounds, and the
sequential runs' own round-to-round spread), the bound a 2-core machine sets (each job's fit on its
share of the cores against on all of them: the ratio with no setup cost at all), and whether the
results are identical: every model's
weights (SHA-256 of its safetensors) and test figures, parallel vs sequential. As a control, one more
sequential run on ``cores/jobs`` threads shows whether a difference comes from the thread count
rather than from running in parallel.

    python bench/parallel.py experiment=cifar10_cpu data=imagefolder data.root=../shared/data/cifar10 \\
        data.train_subset=2000
    python bench/parallel.py --quick          # digits, a minute or two
"""
from __future__ import annotations

import argparse
import hashlib
import random
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file, `python bench/<name>.py`: see bench/__init__.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.common import ROOT, save  # noqa: E402
from search.stats import bootstrap_ci  # noqa: E402
from core.device import available_cores  # noqa: E402
from core.jsontypes import JSONObject

SAME = ("name", "arch", "replicate", "seed", "test_acc", "test_recall", "test_recall_min", "test_class_recall",
        "test_confusion")


def headline(result: JSONObject) -> JSONObject:
    """The headline figures, from the raw data in ``result["raw"]`` only."""
    raw = result["raw"]
    seq, par = raw["sequential_s"], raw["parallel_s"]
    ratios = [p / s for p, s in zip(par, seq)]
    # no interval from fewer than 5 rounds (a bootstrap over 2-3 values looks tight and says nothing): the
    # per-round ratios stand beside the median instead
    ci = (list(bootstrap_ci(statistics.median, ratios, n_boot=2000, level=0.95, seed=0)) if len(ratios) >= 5
          else None)
    fingerprint = raw["fingerprints"]
    identical = all(f == fingerprint["sequential"][0] for k in ("sequential", "parallel") for f in fingerprint[k])
    fit = raw.get("fit_s")  # per round, per job: seconds of training (codecarbon's), without setup
    bound = None
    if fit:
        one = statistics.median(x for r in fit["parallel"] for x in r)    # a job's fit on cores/jobs threads
        full = statistics.median(x for r in fit["sequential"] for x in r)  # ... on every core
        # the best a batch can do with no setup cost at all: jobs/parallel rounds of one-thread fits
        bound = {"fit_s_per_job_sequential": full, "fit_s_per_job_parallel": one, "thread_slowdown": one / full,
                 "ratio_without_overhead": one / (full * raw["jobs"]),
                 "overhead_s": {k: statistics.median(w - sum(f) / (raw["jobs"] if k == "parallel" else 1)
                                                     for w, f in zip(raw[f"{k}_s"], fit[k]))
                                for k in ("sequential", "parallel")}}
    return {"wall_ratio": statistics.median(ratios), "wall_ratio_ci95": ci, "wall_ratios": ratios,
            "bound": bound,
            "identical": identical,
            "identical_at_equal_threads": fingerprint["control"] == fingerprint["parallel"][0],
            "jobs": raw["jobs"], "launcher": raw["launcher"], "models": raw["models"],
            "noise": {"sequential_spread": (max(seq) - min(seq)) / statistics.median(seq),
                      "ratio_spread": max(ratios) - min(ratios)},
            "goal": {"wall_ratio_at_most_0.75": statistics.median(ratios) <= 0.75}}


def fingerprint(out: Path, rows: list[dict]) -> JSONObject:
    """The test figures of every model (job order) and the SHA-256 of each model's weights (by folder):
    what "identical" compares."""
    weights = {f.name: hashlib.sha256((f / "model.safetensors").read_bytes()).hexdigest()
               for f in sorted((out / "models").iterdir()) if f.is_dir()}
    return {"rows": [{k: r.get(k) for k in SAME} for r in rows], "weights_sha256": weights}


def main() -> None:
    from hydra import compose, initialize_config_dir

    from search.deploy.finetune import finetune
    from supernet.train import train

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--run", default=str(ROOT / "outputs" / "bench" / "parallel_run"), help="work folder")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--archs", default="random,random",
                   help="comma list: random (a seeded draw of the space), smallest, largest or arch strings")
    p.add_argument("--seeds", type=int, default=2, help="fine-tunes per arch (archs x seeds jobs)")
    p.add_argument("--epochs", type=int, default=1, help="supernet epochs (trained once)")
    p.add_argument("--finetune-epochs", type=int, default=1)
    p.add_argument("overrides", nargs="*", help="shared overrides, e.g. experiment=cifar10_cpu data=imagefolder ...")
    args = p.parse_args()
    run, over = Path(args.run), list(args.overrides)
    if args.quick:
        run = ROOT / "outputs" / "bench" / "parallel_quick"
        over = ["experiment=smoke", *over]
        args.rounds = 2
    cores = available_cores()

    def cfg(name: str, *extra: str, out: Path) -> Any:
        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
            return compose(name, overrides=[*over, *extra, f"paths.output_dir={out}"])

    train(cfg("train", f"epochs={args.epochs}", "resume=auto", "trainer.enable_progress_bar=false", out=run / "train"))
    ckpt = run / "train" / "checkpoints" / "last.ckpt"
    from supernet.checkpoint import load_supernet

    space = load_supernet(ckpt)[0].space
    rng = random.Random(0)  # random archs: typical subnets, not the extremes, so the jobs cost alike
    archs = [str(space.sample(rng) if a == "random" else space.smallest() if a == "smallest"
                 else space.largest() if a == "largest" else space.validate(a)) for a in args.archs.split(",")]
    common = [f"ckpt={ckpt}", f"archs=[{','.join(archs)}]", f"seeds={args.seeds}", f"epochs={args.finetune_epochs}",
              "measure.enabled=false", "onnx=false", "trainer.enable_progress_bar=false"]
    modes = {"sequential": ["launcher=serial", f"threads={cores}"],
             "parallel": ["launcher=joblib", f"launcher.jobs={args.jobs}"],
             "control": ["launcher=serial", f"threads={max(1, cores // args.jobs)}"]}
    wall: dict[str, list[float]] = {"sequential": [], "parallel": []}
    prints: dict[str, Any] = {"sequential": [], "parallel": []}
    fit: dict[str, list[list[float]]] = {"sequential": [], "parallel": []}
    for r in range(args.rounds):
        for mode in ("sequential", "parallel"):
            out = run / f"{mode}_r{r}"
            shutil.rmtree(out, ignore_errors=True)  # every round trains from nothing
            c = cfg("finetune", *common, *modes[mode], out=out)
            t = time.perf_counter()
            rows = finetune(c)
            wall[mode].append(time.perf_counter() - t)
            prints[mode].append(fingerprint(out, rows))
            fit[mode].append([float(r["train_seconds"]) for r in rows])
            print(f"parallel bench: round {r} {mode}: {wall[mode][-1]:.1f} s", flush=True)
    out = run / "control"
    shutil.rmtree(out, ignore_errors=True)
    prints["control"] = fingerprint(out, finetune(cfg("finetune", *common, *modes["control"], out=out)))
    raw = {"sequential_s": wall["sequential"], "parallel_s": wall["parallel"], "fingerprints": prints, "fit_s": fit,
           "jobs": args.jobs, "launcher": "joblib", "cores": cores, "models": len(archs) * args.seeds,
           "archs": archs, "modes": modes,
           "budgets": {"supernet_epochs": args.epochs, "finetune_epochs": args.finetune_epochs, "rounds": args.rounds}}
    result = {**headline({"raw": raw}), "raw": raw, "quick": args.quick}
    path = save("parallel", result, config={"bench": vars(args), "overrides": over})
    print(f"parallel: {raw['models']} fine-tunes, {args.jobs} jobs of {max(1, cores // args.jobs)} thread(s) vs "
          f"sequential on {cores}: wall ratio {result['wall_ratio']:.3f} {result['wall_ratio_ci95']} over "
          f"{args.rounds} rounds; identical {result['identical']} (at equal threads "
          f"{result['identical_at_equal_threads']}) -> {path}")


if __name__ == "__main__":
    main()
