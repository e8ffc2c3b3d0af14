"""Does green-hpo find better training settings than the default recipe, and than random search?

On one winner of a cifar10_cpu supernet, for each seed: ``green-hpo`` (NSGA-II, accuracy vs
training energy) with a budget of B short fine-tunes, and random search with the same budget,
seed and warm start (the grid point nearest the default recipe); both share one default-recipe
trial (``default.json``). Trials are scored, pruned and chosen on the *select* slice of the
validation images; the two chosen trials and the default recipe are then scored on the disjoint
*report* slice, held out from selection, and those accuracies are the ones compared (the best of
many trials, scored on the images that picked it, would look better than it is). The test split
is not used. Every trial's select-slice accuracy and each chosen trial's report-slice accuracy are
stored per seed; :func:`headline` computes the figures from them alone. Writes
``outputs/bench/hpo.json`` (work folders ``outputs/bench/hpo_*``).

    python bench/hpo.py --ckpt outputs/cifar10_cpu/checkpoints/last.ckpt --arch r32_... --budget 8 \
        experiment=cifar10_cpu data=imagefolder data.root=../shared/data/cifar10 hpo.select_images=1024
    python bench/hpo.py --quick       # tiny supernet on digits, a few minutes on 2 cores
    python bench/recompute.py outputs/bench/hpo.json
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

if __package__ in (None, ""):  # run as a file, `python bench/<name>.py`: see bench/__init__.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.common import ROOT, input_ref, quick_supernet, save  # noqa: E402
from search.tuning.hpo import hpo  # noqa: E402
from search.tuning.trials import choose  # noqa: E402
from search.stats import MIN_VALUES, accuracy_se, interval  # noqa: E402

METHODS = ("default", "hpo", "random")  # the default recipe, green-hpo (NSGA-II), random search


def headline(result: dict) -> dict:
    """The headline figures, from the stored raw per-seed data only (``bench/recompute.py`` reruns it).

    Report-slice accuracy of each method: mean and std over seeds, and its binomial standard error
    on ``report_images``; green-hpo minus the default and minus random search, with a percentile
    bootstrap 95% interval over seeds (paired by seed) from 5 seeds, the per-seed differences below that. A
    chosen trial that is not the best of its search's trials on the select slice is an error: the stored data
    would not support the figure.
    """
    per, n = result["per_seed"], int(result["slices"]["report_images"])
    for p in per:
        for m in ("hpo", "random"):
            best = choose(p[m]["trials"])["setting"]
            if best != p[m]["chosen"]:
                raise ValueError(f"seed {p['seed']}: {m} reports {p[m]['chosen']}, the select slice's best is {best}")
    acc = {m: [float(p[m]["report_acc"]) for p in per] for m in METHODS}
    out: dict = {f"{m}_acc": statistics.fmean(acc[m]) for m in METHODS}
    out["std"] = {m: statistics.stdev(acc[m]) if len(per) > 1 else 0.0 for m in METHODS}
    out["report_images"] = n
    out["acc_se"] = {m: accuracy_se(out[f"{m}_acc"], n) for m in METHODS}
    for other in ("default", "random"):
        diff = [a - b for a, b in zip(acc["hpo"], acc[other])]
        # from 5 seeds a bootstrap over seeds (paired); fewer: the per-seed differences, no interval
        out[f"hpo_minus_{other}"] = {"mean": statistics.fmean(diff), "per_seed": diff, "ci95": interval(np.mean, diff)}
    out["interval"] = "bootstrap over seeds" if len(per) >= MIN_VALUES else "none: fewer than 5 seeds"
    out["goal"] = {f"hpo_above_{o}": out[f"hpo_minus_{o}"]["ci95"] is not None
                   and out[f"hpo_minus_{o}"]["ci95"][0] > 0 for o in ("default", "random")}
    return out


def _raw(w: dict) -> dict:
    """What a search leaves for the headline: every trial's select-slice score, the chosen one's report score."""
    return {"trials": [{"setting": t["arch"], "select_acc": t["select_acc"], "train_kwh": t["train_kwh"],
                        "pruned": t["pruned"]} for t in w["trials"]],
            "chosen": w["best"]["arch"], "select_acc": w["best"]["select_acc"], "report_acc": w["best"]["report_acc"],
            "pruned": w["pruned"], "hypervolume": w["hypervolume"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--ckpt", default=str(ROOT / "outputs" / "cifar10_cpu" / "checkpoints" / "last.ckpt"))
    p.add_argument("--arch", default=None, help="the winner (default: the middle subnet of the space)")
    p.add_argument("--budget", type=int, default=8, help="trials per search")
    p.add_argument("--population", type=int, default=4)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--out", default=None, help="work folder (default: a new one under outputs/bench); "
                   "rerun with the same folder to resume: finished trainings are read back")
    p.add_argument("overrides", nargs="*", help="hpo config overrides, e.g. experiment=cifar10_cpu")
    args = p.parse_args()
    if not args.quick and args.budget <= args.population:
        # the first generation is random (plus the shared warm start) in both searches: with no generation
        # of variation NSGA-II draws exactly what random search draws, and the comparison says nothing
        sys.exit(f"hpo.py: error: --budget {args.budget} must exceed --population {args.population}, or NSGA-II "
                 "never varies its first, random generation and equals random search")
    (ROOT / "outputs" / "bench").mkdir(parents=True, exist_ok=True)
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="hpo_", dir=ROOT / "outputs" / "bench"))
    out.mkdir(parents=True, exist_ok=True)
    overrides = list(args.overrides)
    ckpt = Path(args.ckpt)
    if args.quick:
        ckpt = quick_supernet(out, epochs=3)
        args.budget, args.population, args.epochs, args.seeds = 8, 4, 2, [0, 1]
        overrides += ["data.train_subset=512", "calib_images=128"]
    from supernet.checkpoint import load_supernet

    net, meta = load_supernet(ckpt)
    arch = args.arch or str(net.space.middle())
    # the seed varies the trials, never the data: validation split (the supernet's) and slices stay fixed
    overrides.append(f"data.seed={(meta.get('data') or {}).get('seed', 0)}")
    gens = max(0, -(-args.budget // args.population) - 1)
    shared = [f"ckpt={ckpt}", f"archs=[{arch}]", f"epochs={args.epochs}", f"hpo.population={args.population}",
              f"hpo.generations={gens}", f"hpo.budget={args.budget}", "progress=false",
              "trainer.enable_progress_bar=false", *overrides]

    def config(*extra: str) -> DictConfig:
        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
            return compose("hpo", overrides=[*shared, *extra])

    rows, slices = [], None
    for seed in args.seeds:
        runs = {}
        for algo in ("nsga2", "random"):
            folder = out / f"{algo}_seed{seed}"
            if algo == "random":  # the same default trial (same seed, same slices): measured once
                (folder / f"00_{arch}").mkdir(parents=True, exist_ok=True)
                shutil.copy2(out / f"nsga2_seed{seed}" / f"00_{arch}" / "default.json", folder / f"00_{arch}")
            cfg = config(f"seed={seed}", f"hpo.algorithm={algo}", f"paths.output_dir={folder}")
            res = hpo(cfg)
            if slices not in (None, res["slices"]):
                raise RuntimeError(f"the slices moved between runs: {slices} vs {res['slices']}")
            slices, runs[algo] = res["slices"], res["winners"][0]
        d = runs["nsga2"]["default"]
        rows.append({"seed": seed, "default": {"select_acc": d["select_acc"], "report_acc": d["report_acc"]},
                     "hpo": _raw(runs["nsga2"]), "random": _raw(runs["random"])})
        print(f"seed {seed}: report-slice accuracy default {d['report_acc']:.4f}, green-hpo "
              f"{rows[-1]['hpo']['report_acc']:.4f}, random {rows[-1]['random']['report_acc']:.4f} "
              f"({slices['report_images']} images)", flush=True)
    result = {"per_seed": rows, "slices": slices,
              "inputs": {"ckpt": input_ref(ckpt)}, "setup": {"ckpt": str(ckpt), "arch": arch, "budget": args.budget, "population": args.population,
                        "generations": gens, "epochs": args.epochs, "seeds": args.seeds, "overrides": overrides,
                        "quick": args.quick, "work": str(out)}}
    result.update(headline(result))
    base = OmegaConf.to_container(config(f"paths.output_dir={out}"), resolve=True)
    path = save("hpo", result, config={"hpo": base, "bench": vars(args)})
    se, h = result["acc_se"], result
    print(f"hpo: report-slice accuracy ({h['report_images']} held-out images, mean over {len(rows)} seeds): default "
          f"{h['default_acc']:.4f}, green-hpo {h['hpo_acc']:.4f}, random {h['random_acc']:.4f} (binomial SE "
          f"~{se['hpo']:.4f}); green-hpo - default {h['hpo_minus_default']['mean']:+.4f} "
          f"{h['hpo_minus_default']['ci95']}, green-hpo - random {h['hpo_minus_random']['mean']:+.4f} "
          f"{h['hpo_minus_random']['ci95']} -> {path}")


if __name__ == "__main__":
    main()
