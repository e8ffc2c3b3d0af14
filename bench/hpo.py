"""Does green-hpo find better training settings than the default recipe, and than random search?

On one winner of a cifar10_cpu supernet, for each seed: ``green-hpo`` (NSGA-II, accuracy vs
training energy) with a budget of B short fine-tunes, and random search with the same budget and
seed; both start from the same default-recipe trial (``default.json``, shared). Reports the best
validation accuracy of each (``hpo_acc``, ``random_acc``) and the default recipe's
(``default_acc``) per seed. Writes ``outputs/bench/hpo.json``.

    python bench/hpo.py --ckpt outputs/cifar10_cpu/checkpoints/last.ckpt --arch r32_... --budget 8 \
        experiment=cifar10_cpu data=imagefolder data.root=../shared/data/cifar10
    python bench/hpo.py --quick       # tiny supernet on digits, about a minute
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from pathlib import Path

from common import ROOT, quick_supernet, save
from hydra import compose, initialize_config_dir

from search.hpo import hpo


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--ckpt", default=str(ROOT / "outputs" / "cifar10_cpu" / "checkpoints" / "last.ckpt"))
    p.add_argument("--arch", default=None, help="the winner (default: the middle subnet of the space)")
    p.add_argument("--budget", type=int, default=8, help="trials per search")
    p.add_argument("--population", type=int, default=4)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("overrides", nargs="*", help="hpo config overrides, e.g. experiment=cifar10_cpu")
    args = p.parse_args()
    out = Path(tempfile.mkdtemp(prefix="hpo_", dir=ROOT / "outputs"))
    overrides = list(args.overrides)
    ckpt = Path(args.ckpt)
    if args.quick:
        ckpt = quick_supernet(out, epochs=3)
        args.budget, args.population, args.epochs, args.seeds = 8, 4, 2, [0, 1]
        overrides += ["data.train_subset=512", "calib_images=128"]
    from supernet.checkpoint import load_supernet

    net, meta = load_supernet(ckpt)
    arch = args.arch or str(net.space.middle())
    # the seed varies the trials, never the data split: validation stays the supernet's
    overrides.append(f"data.seed={(meta.get('data') or {}).get('seed', 0)}")
    gens = max(0, -(-args.budget // args.population) - 1)
    rows = []
    for seed in args.seeds:
        accs = {}
        for algo in ("nsga2", "random"):
            folder = out / f"{algo}_seed{seed}"
            if algo == "random":  # the same default trial (same seed): measured once
                src = out / f"nsga2_seed{seed}" / f"00_{arch}" / "default.json"
                (folder / f"00_{arch}").mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, folder / f"00_{arch}" / "default.json")
            with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
                cfg = compose("hpo", overrides=[
                    f"ckpt={ckpt}", f"archs=[{arch}]", f"seed={seed}", f"epochs={args.epochs}",
                    f"hpo.algorithm={algo}", f"hpo.population={args.population}", f"hpo.generations={gens}",
                    f"hpo.budget={args.budget}", "progress=false", "trainer.enable_progress_bar=false",
                    f"paths.output_dir={folder}", *overrides])
            w = hpo(cfg)["winners"][0]
            accs[algo] = w
        rows.append({"seed": seed, "default_acc": accs["nsga2"]["default"]["acc"],
                     "hpo_acc": accs["nsga2"]["best"]["acc"], "random_acc": accs["random"]["best"]["acc"],
                     "hpo_best": accs["nsga2"]["best"]["arch"], "random_best": accs["random"]["best"]["arch"],
                     "hpo_pruned": accs["nsga2"]["pruned"], "random_pruned": accs["random"]["pruned"],
                     "hpo_hypervolume": accs["nsga2"]["hypervolume"],
                     "random_hypervolume": accs["random"]["hypervolume"]})
        print(f"seed {seed}: default {rows[-1]['default_acc']:.4f}, green-hpo {rows[-1]['hpo_acc']:.4f}, "
              f"random {rows[-1]['random_acc']:.4f}", flush=True)
    mean = {k: statistics.mean(r[k] for r in rows) for k in ("default_acc", "hpo_acc", "random_acc")}
    result = {"default_acc": [r["default_acc"] for r in rows], "hpo_acc": [r["hpo_acc"] for r in rows],
              "random_acc": [r["random_acc"] for r in rows], "mean": mean, "per_seed": rows,
              "goal": {"hpo_above_default": mean["hpo_acc"] > mean["default_acc"],
                       "hpo_not_below_random": mean["hpo_acc"] >= mean["random_acc"]},
              "setup": {"ckpt": str(ckpt), "arch": arch, "budget": args.budget, "population": args.population,
                        "generations": gens, "epochs": args.epochs, "seeds": args.seeds, "overrides": overrides,
                        "quick": args.quick}}
    path = save("hpo", result)
    print(f"hpo: mean validation accuracy default {mean['default_acc']:.4f}, green-hpo {mean['hpo_acc']:.4f}, "
          f"random {mean['random_acc']:.4f} -> {path}")


if __name__ == "__main__":
    main()
