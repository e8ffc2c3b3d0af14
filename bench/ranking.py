"""Does the supernet rank subnets truly? Inherited accuracy vs accuracy trained from scratch.

The subnets compared are a cost-stratified random sample, never chosen by inherited accuracy:
choosing by the figure under test would decide the correlation in advance. ``--pool`` random
subnets (seeded) are split into ``--strata`` MAC-quantile bins, ``--per-stratum`` are drawn at
random from each bin (:func:`stratified_pool`), and the space's smallest and largest subnets are
always added. Each is scored with inherited weights on ``--val-images`` validation images (with
the binomial standard error of that accuracy), trained standalone from scratch with one short
recipe (``green-finetune from_scratch=true``) and tested, and, unless ``--no-finetune``, fine-tuned
from its inherited weights with the same recipe.

``outputs/bench/ranking.json`` holds the provenance, the raw per-subnet data (``raw.subnets``) and
the headline figures :func:`headline` computes from it (``bench/recompute.py`` reruns it): Kendall
tau and Spearman rho between inherited validation and standalone test accuracy with bootstrap 95%
intervals over subnets, tau without the two extremes (which make ranking look easy), the mean
fine-tune gain of inheriting over starting from scratch, and the largest inherited-accuracy SE.

    python bench/ranking.py --ckpt outputs/cifar10_cpu/checkpoints/last.ckpt \
        experiment=cifar10_cpu data=imagefolder data.root=../shared/data/cifar10
    python bench/ranking.py --quick     # tiny supernet on digits, a few minutes on a CPU
"""
from __future__ import annotations

import argparse
import math
import random
import statistics
import tempfile
from pathlib import Path
from typing import Any, Sequence, TypeVar

from common import ROOT, quick_supernet, save

from search.stats import accuracy_se, bootstrap_ci, kendall, spearman

T = TypeVar("T")
N_BOOT, LEVEL, SEED = 2000, 0.95, 0  # the bootstrap protocol of every interval below


def stratified_pool(items: Sequence[T], macs: Sequence[float], strata: int, per_stratum: int,
                    rng: random.Random) -> list[tuple[T, int]]:
    """``per_stratum`` items drawn at random from each of ``strata`` MAC-quantile bins, as (item, stratum).

    The bins hold equal shares of the items ordered by MACs (ties broken by position), so the
    sample covers the cost range evenly. Only the costs are read, never an accuracy: a sample
    chosen by inherited accuracy would favour what the supernet happens to rank well.
    """
    n = len(items)
    if len(macs) != n:
        raise ValueError(f"{n} items but {len(macs)} MAC counts")
    if strata < 1 or per_stratum < 1:
        raise ValueError(f"strata and per_stratum must be >= 1, got {strata} and {per_stratum}")
    if n < strata:
        raise ValueError(f"{n} items cannot fill {strata} strata")
    order = sorted(range(n), key=lambda i: (macs[i], i))
    picked = []
    for s in range(strata):
        members = order[s * n // strata:(s + 1) * n // strata]
        picked += [(items[members[j]], s) for j in sorted(rng.sample(range(len(members)),
                                                                     min(per_stratum, len(members))))]
    return picked


def _ci(stat, *cols: Sequence[float]) -> list[float]:
    if len(cols[0]) < 2:
        return [math.nan, math.nan]
    return list(bootstrap_ci(stat, *cols, n_boot=N_BOOT, level=LEVEL, seed=SEED))


def headline(result: dict[str, Any]) -> dict[str, Any]:
    """The headline figures, from the raw per-subnet data in ``result["raw"]`` only."""
    raw = result["raw"]
    subs = raw["subnets"]
    inh, scr = [s["inherited_val_acc"] for s in subs], [s["scratch_test_acc"] for s in subs]
    mid = [s for s in subs if s["role"] == "sampled"]
    mid_inh, mid_scr = [s["inherited_val_acc"] for s in mid], [s["scratch_test_acc"] for s in mid]
    tau = kendall(inh, scr)
    out: dict[str, Any] = {
        "kendall_tau": tau, "kendall_tau_ci": _ci(kendall, inh, scr),
        "spearman": spearman(inh, scr), "spearman_ci": _ci(spearman, inh, scr),
        "kendall_tau_no_extremes": kendall(mid_inh, mid_scr) if len(mid) >= 2 else math.nan,
        "kendall_tau_no_extremes_ci": _ci(kendall, mid_inh, mid_scr),
        "n_subnets": len(subs),
        "inherited_acc_se_max": max(accuracy_se(a, raw["val_images"]) for a in inh),
    }
    if all(s.get("finetuned_test_acc") is not None for s in subs):
        gains = [s["finetuned_test_acc"] - s["scratch_test_acc"] for s in subs]
        out["finetune_gain"] = statistics.fmean(gains)
        out["finetune_gain_wins"] = sum(g > 0 for g in gains)
    out["goal"] = {"kendall_tau_ge_0.7": tau >= 0.7}
    return out


def _test_acc(rows: list[dict]) -> dict[str, float]:
    """Test accuracy per arch from green-finetune's rows: the mean over its seeds (``--seeds``)."""
    accs: dict[str, list[float]] = {}
    for r in rows:
        accs.setdefault(r["arch"], []).append(float(r["test_acc"]))
    return {a: statistics.fmean(v) for a, v in accs.items()}


def main() -> None:
    # imported here: bench/recompute.py and the tests load this module for headline() alone
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from search.cost import count
    from search.evaluate import SubnetEvaluator
    from search.finetune import finetune
    from search.search import check_data, check_space
    from supernet.checkpoint import load_supernet

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny supernet trained on digits first, tiny budgets")
    p.add_argument("--ckpt", default=str(ROOT / "outputs" / "cifar10_cpu" / "checkpoints" / "last.ckpt"))
    p.add_argument("--pool", type=int, default=500, help="random subnets drawn (costs only) to stratify")
    p.add_argument("--strata", type=int, default=5, help="MAC-quantile bins of the pool")
    p.add_argument("--per-stratum", type=int, default=2, help="subnets drawn at random from each bin")
    p.add_argument("--seed", type=int, default=0, help="seed of the pool and of the draws from its bins")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--train-subset", type=int, default=5000)
    p.add_argument("--val-images", type=int, default=2000)
    p.add_argument("--no-finetune", action="store_true", help="skip the inherited fine-tunes (finetune_gain)")
    p.add_argument("--seeds", type=int, default=1, help="training runs per subnet, averaged (overrides a preset's)")
    p.add_argument("--out", default=None, help="work folder (default: a new one under outputs/bench); "
                   "rerun with the same folder to resume: finished trainings are read back")
    p.add_argument("overrides", nargs="*", help="data overrides as for training, e.g. experiment=cifar10_cpu")
    args = p.parse_args()
    work = ROOT / "outputs" / "bench"
    work.mkdir(parents=True, exist_ok=True)
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="ranking_", dir=work))
    out.mkdir(parents=True, exist_ok=True)
    ckpt = Path(args.ckpt)
    if args.quick:
        ckpt = quick_supernet(out, epochs=4)
        args.pool, args.strata, args.per_stratum, args.epochs, args.train_subset, args.val_images = \
            200, 4, 2, 2, 600, 144
    net, meta = load_supernet(ckpt)
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        base = [f"ckpt={ckpt}", f"epochs={args.epochs}", f"data.train_subset={args.train_subset}", f"seeds={args.seeds}",
                "trainer.enable_progress_bar=false", "onnx=false", "distill=false", "measure.trials=2",
                "measure.power_window_s=1", "measure.batch_sizes=[1]", *args.overrides]
        cfg = compose("finetune", overrides=[f"paths.output_dir={out / 'scratch'}", "from_scratch=true", *base])
        cfg_ft = compose("finetune", overrides=[f"paths.output_dir={out / 'inherited'}", *base])
    check_space(cfg, net.space)
    dm = instantiate(cfg.data)
    check_data(dm, meta)

    space, rng = net.space, random.Random(args.seed)
    small, large = space.smallest(), space.largest()
    draws = {str(a): a for a in (space.sample(rng) for _ in range(args.pool))}
    for a in (small, large):
        draws.pop(str(a), None)  # added below in any case
    cands = list(draws.values())
    cost = {str(a): count(space, a, net.num_classes, net.in_chans) for a in [small, *cands, large]}
    picked = [(small, 0, "smallest")]
    picked += [(a, s, "sampled") for a, s in stratified_pool(cands, [cost[str(a)][1] for a in cands], args.strata,
                                                             args.per_stratum, rng)]
    picked += [(large, args.strata - 1, "largest")]
    archs = [str(a) for a, _, _ in picked]
    print(f"ranking: {len(archs)} subnets ({args.per_stratum} from each of {args.strata} MAC strata of "
          f"{len(cands)} random subnets, with the smallest and largest)")

    ev = SubnetEvaluator(net, dm, 512, args.val_images)
    n_val = len(ev.val_y)
    inherited = {s: ev(a)["acc"] for s, (a, _, _) in zip(archs, picked)}
    cfg.archs = archs
    scratch = _test_acc(finetune(cfg))
    tuned: dict[str, float] = {}
    if not args.no_finetune:
        cfg_ft.archs = archs
        tuned = _test_acc(finetune(cfg_ft))

    subnets = [{"arch": s, "role": role, "stratum": st, "params": cost[s][0], "macs": cost[s][1],
                "inherited_val_acc": inherited[s], "inherited_val_acc_se": accuracy_se(inherited[s], n_val),
                "scratch_test_acc": scratch[s], "finetuned_test_acc": tuned.get(s)}
               for s, (_, st, role) in zip(archs, picked)]
    raw = {"subnets": subnets, "val_images": n_val,
           "pool": {"draws": args.pool, "distinct": len(cands), "strata": args.strata,
                    "per_stratum": args.per_stratum, "seed": args.seed},
           "recipe": {"epochs": args.epochs, "train_subset": args.train_subset, "seeds": args.seeds},
           "bootstrap": {"n_boot": N_BOOT, "level": LEVEL, "seed": SEED}}
    result = {**headline({"raw": raw}), "raw": raw, "ckpt": str(ckpt), "quick": args.quick, "run_folder": str(out)}
    config = {"bench": vars(args), "scratch": OmegaConf.to_container(cfg, resolve=True),
              "inherited": None if args.no_finetune else OmegaConf.to_container(cfg_ft, resolve=True)}
    path = save("ranking", result, config=config)
    lo, hi = result["kendall_tau_ci"]
    gain = f", fine-tune gain {result['finetune_gain']:+.3f}" if "finetune_gain" in result else ""
    print(f"ranking: Kendall tau {result['kendall_tau']:.3f} [{lo:.3f}, {hi:.3f}] "
          f"({result['kendall_tau_no_extremes']:.3f} without the extremes), Spearman {result['spearman']:.3f} "
          f"over {len(archs)} subnets, inherited-accuracy SE <= {result['inherited_acc_se_max']:.3f}{gain} -> {path}")


if __name__ == "__main__":
    main()
