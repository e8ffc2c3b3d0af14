"""Does the supernet rank subnets truly? Inherited accuracy vs accuracy trained from scratch.

Scores a pool of random subnets of a trained supernet with inherited weights (validation split),
picks ``--subnets`` spread evenly across the inherited-accuracy range, trains each standalone
from scratch with one short recipe (``green-finetune from_scratch=true``) and reports Kendall tau
and Spearman rho between inherited validation accuracy and standalone test accuracy. The same
subnets are also fine-tuned from their inherited weights with the same recipe: ``finetune_gain``
is the mean test-accuracy gain of inheriting over starting from scratch.

    python bench/ranking.py --ckpt outputs/cifar10_cpu/checkpoints/last.ckpt \
        experiment=cifar10_cpu data=imagefolder data.root=../shared/data/cifar10
    python bench/ranking.py --quick     # tiny supernet on digits, under a minute or two
"""
from __future__ import annotations

import argparse
import random
import statistics
import tempfile
from pathlib import Path

from common import ROOT, quick_supernet, save
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from scipy.stats import kendalltau, spearmanr

from search.evaluate import SubnetEvaluator
from search.finetune import finetune
from search.search import check_data, check_space
from supernet.checkpoint import load_supernet


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--ckpt", default=str(ROOT / "outputs" / "cifar10_cpu" / "checkpoints" / "last.ckpt"))
    p.add_argument("--pool", type=int, default=60, help="random subnets scored with inherited weights")
    p.add_argument("--subnets", type=int, default=10)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--train-subset", type=int, default=5000)
    p.add_argument("--val-images", type=int, default=2000)
    p.add_argument("--no-finetune", action="store_true", help="skip the inherited fine-tunes (finetune_gain)")
    p.add_argument("overrides", nargs="*", help="data overrides as for training, e.g. experiment=cifar10_cpu")
    args = p.parse_args()
    out = Path(tempfile.mkdtemp(prefix="ranking_", dir=ROOT / "outputs"))
    overrides = list(args.overrides)
    ckpt = Path(args.ckpt)
    if args.quick:
        ckpt = quick_supernet(out, epochs=4)
        args.pool, args.subnets, args.epochs, args.train_subset, args.val_images = 30, 10, 2, 600, 144
    net, meta = load_supernet(ckpt)
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        base = [f"ckpt={ckpt}", f"epochs={args.epochs}", f"data.train_subset={args.train_subset}",
                "trainer.enable_progress_bar=false", "onnx=false", "distill=false", "measure.trials=2",
                "measure.power_window_s=1", "measure.batch_sizes=[1]", *overrides]
        cfg = compose("finetune", overrides=[f"paths.output_dir={out / 'scratch'}", "from_scratch=true", *base])
        cfg_ft = compose("finetune", overrides=[f"paths.output_dir={out / 'inherited'}", *base])
    check_space(cfg, net.space)
    dm = instantiate(cfg.data)
    check_data(dm, meta)
    ev = SubnetEvaluator(net, dm, 512, args.val_images)
    rng = random.Random(0)
    pool = {str(a): a for a in [net.space.smallest(), net.space.largest()] +
            [net.space.sample(rng) for _ in range(args.pool)]}
    scored = sorted(((ev(a)["acc"], s) for s, a in pool.items()))
    k = min(args.subnets, len(scored))
    picked = [scored[round(i * (len(scored) - 1) / (k - 1))] for i in range(k)]
    picked = list(dict.fromkeys(picked))
    archs = [s for _, s in picked]
    inherited = {s: acc for acc, s in picked}
    print(f"picked {len(archs)} subnets with inherited val accuracy "
          f"{min(inherited.values()):.3f}-{max(inherited.values()):.3f}")
    cfg.archs = archs
    scratch = {r["arch"]: r["test_acc"] for r in finetune(cfg)}
    xs, ys = [inherited[a] for a in archs], [scratch[a] for a in archs]
    result = {"kendall_tau": float(kendalltau(xs, ys)[0]), "spearman": float(spearmanr(xs, ys)[0]),
              "n_subnets": len(archs), "subnets": [
                  {"arch": a, "inherited_val_acc": inherited[a], "scratch_test_acc": scratch[a]} for a in archs],
              "recipe": {"epochs": args.epochs, "train_subset": args.train_subset, "val_images": args.val_images,
                         "pool": len(pool)}, "goal": {"kendall_tau_ge_0.7": float(kendalltau(xs, ys)[0]) >= 0.7},
              "ckpt": str(ckpt), "quick": args.quick}
    if not args.no_finetune:
        cfg_ft.archs = archs
        tuned = {r["arch"]: r["test_acc"] for r in finetune(cfg_ft)}
        gains = [tuned[a] - scratch[a] for a in archs]
        result["finetune_gain"] = statistics.mean(gains)
        result["finetune_gain_wins"] = sum(g > 0 for g in gains)
        for s in result["subnets"]:
            s["finetuned_test_acc"] = tuned[s["arch"]]
    path = save("ranking", result)
    gain = f", fine-tune gain {result['finetune_gain']:+.3f}" if "finetune_gain" in result else ""
    print(f"ranking: Kendall tau {result['kendall_tau']:.3f}, Spearman {result['spearman']:.3f} over "
          f"{len(archs)} subnets{gain} -> {path}")


if __name__ == "__main__":
    main()
