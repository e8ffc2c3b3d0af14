"""Does NSGA-II find better trade-offs than random search at the same budget of unique evaluations?

On a trained supernet (``experiment=cifar10_cpu``) and its lookup table, runs NSGA-II and random
search with the same budget over several seeds, objectives accuracy + latency + params, and
compares the hypervolume of their fronts (fixed normalisation and reference point, so runs are
comparable). Evaluations are deterministic, so one cache serves every run (the budget still
counts each run's own unique evaluations). Also measures ``eval_cost_ratio``: seconds of one
inherited-weight evaluation (extraction and BN recalibration included) over seconds of a plain
inference pass of the extracted subnet over the same images.

    python bench/search_quality.py --ckpt outputs/cifar10_cpu/checkpoints/last.ckpt --table <lut.json> \
        data=imagefolder data.root=../shared/data/cifar10 experiment=cifar10_cpu
    python bench/search_quality.py --quick     # trains a tiny supernet on digits first; under a minute
"""
from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

import torch
from common import ROOT, quick_supernet, device_info, save
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from search.cost import CostModel
from search.evaluate import SubnetEvaluator
from search.evolution import Evolution
from search.objectives import parse_objectives
from search.search import check_data, check_space
from supernet.checkpoint import load_supernet


def quick_inputs(out: Path) -> tuple[Path, Path, list[str]]:
    """A tiny supernet trained on digits and a quickly measured table, for --quick."""
    import search.lut as lut

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        lcfg = compose("lut", overrides=[f"paths.output_dir={out / 'lut'}", "protocol.trials=3", "protocol.warmup=1",
                                         "protocol.min_call_ms=2", "calib.subnets=4", "batch_sizes=[1]",
                                         "energy.power_window_s=1"])
    return quick_supernet(out), lut.build_table(lcfg), []


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--ckpt", default=str(ROOT / "outputs" / "cifar10_cpu" / "checkpoints" / "last.ckpt"))
    p.add_argument("--table")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--budget", type=int, default=96)
    p.add_argument("--population", type=int, default=16)
    p.add_argument("--val-images", type=int, default=1000)
    p.add_argument("--calib-images", type=int, default=256)
    p.add_argument("--objectives", default="acc,latency,params")
    p.add_argument("overrides", nargs="*", help="data overrides as for green-search, e.g. experiment=cifar10_cpu")
    args = p.parse_args()
    out = Path(tempfile.mkdtemp(prefix="search_quality_", dir=ROOT / "outputs"))
    overrides = list(args.overrides)
    if args.quick:
        ckpt, table, overrides = quick_inputs(out)
        args.seeds, args.budget, args.population, args.val_images, args.calib_images = 3, 24, 8, 144, 64
    else:
        ckpt, table = Path(args.ckpt), Path(args.table)
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("search", overrides=[f"ckpt={ckpt}", f"table={table}", f"paths.output_dir={out}", *overrides])
    torch.manual_seed(0)
    net, meta = load_supernet(ckpt)
    check_space(cfg, net.space)
    costs = CostModel.load(table, net.space, check_device=True)
    dm = instantiate(cfg.data)
    check_data(dm, meta)
    evaluator = SubnetEvaluator(net, dm, args.calib_images, args.val_images, 256)
    objectives = parse_objectives(args.objectives.split(","))

    def cost_fn(arch):
        return costs.predict(arch).to_dict()

    memo: dict[str, dict] = {}
    hv = {"nsga2": [], "random": []}
    fronts = {"nsga2": [], "random": []}
    t0 = time.perf_counter()
    for seed in range(args.seeds):
        for algo in ("nsga2", "random"):
            evo = Evolution(net.space, objectives, [], cost_fn, evaluator, algorithm=algo,
                            population=args.population, generations=10 ** 6, budget=args.budget, seed=seed,
                            memo=memo, progress=False)
            evo.run()
            hv[algo].append(evo.hypervolume())
            fronts[algo].append(len(evo.front()))
            print(f"seed {seed} {algo}: hypervolume {hv[algo][-1]:.4f}, front {fronts[algo][-1]}, "
                  f"{len(evo.records)} unique evaluations")
    search_seconds = time.perf_counter() - t0

    # cost of an inherited-weight evaluation vs a plain inference pass over the same images
    rng = random.Random(0)
    ratios = []
    for arch in [net.space.sample(rng) for _ in range(5)]:
        evaluator(arch)  # warm-up
        e = [evaluator(arch)["eval_seconds"] for _ in range(3)]
        model = evaluator.extract(arch)
        evaluator.inference_seconds(model)
        i = [evaluator.inference_seconds(model) for _ in range(3)]
        ratios.append(statistics.median(e) / statistics.median(i))
    ratio = [b / a if a > 0 else float("inf") for a, b in zip(hv["random"], hv["nsga2"])]
    result = {
        "hv_nsga2": hv["nsga2"], "hv_random": hv["random"], "hv_ratio_mean": statistics.mean(ratio),
        "hv_ratio_per_seed": ratio, "nsga2_wins": sum(a > b for a, b in zip(hv["nsga2"], hv["random"])),
        "seeds": args.seeds, "budget": args.budget, "population": args.population,
        "objectives": args.objectives.split(","), "front_sizes": fronts,
        "eval_cost_ratio": statistics.median(ratios), "eval_cost_ratios": ratios,
        "eval_images": len(evaluator.val_y), "calib_images": args.calib_images,
        "distinct_archs_evaluated": len(memo), "search_seconds": search_seconds,
        "goals": {"nsga2_wins_ge_4_of_5": sum(a > b for a, b in zip(hv["nsga2"], hv["random"])) >= 4,
                  "hv_ratio_mean_ge_1.05": statistics.mean(ratio) >= 1.05,
                  "eval_cost_ratio_le_1.5": statistics.median(ratios) <= 1.5},
        "ckpt": str(ckpt), "table": str(table), "energy_source": costs.energy_source, "quick": args.quick,
        **device_info(next(net.parameters()).device),
    }
    path = save("search_quality", result)
    print(f"NSGA-II vs random: hypervolume ratio {result['hv_ratio_mean']:.3f}, NSGA-II ahead in "
          f"{result['nsga2_wins']}/{args.seeds} seeds at {args.budget} unique evaluations; eval cost ratio "
          f"{result['eval_cost_ratio']:.2f} -> {path}")


if __name__ == "__main__":
    main()
