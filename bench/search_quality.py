"""Does NSGA-II find better trade-offs than random search at the same budget of unique evaluations?

On a trained supernet (``experiment=cifar10_cpu``) and its lookup table, runs NSGA-II and random
search with the same budget over several seeds, objectives accuracy + latency + params, and
compares the hypervolume of their fronts; NSGA-II with the uniform operators of before issue 16
(``nsga2_uniform``) runs too, as an ablation of the ordinal operators (fixed normalisation and reference point, so runs are
comparable). Evaluations are deterministic, so one cache serves every run (the budget still
counts each run's own unique evaluations). Also measures ``eval_cost_ratio``: seconds of one
inherited-weight evaluation (extraction and BN recalibration included) over seconds of a plain
inference pass of the extracted subnet over the same images.

``outputs/bench/search_quality.json`` holds the provenance (commit, command line, the script's
settings and the composed ``green-search`` config), the raw data (``raw.runs``: every run's
evaluation records, from which its front and hypervolume are recomputed with the stored objectives
and normalisation bounds; ``raw.eval_cost``: the repeated evaluation and inference timings per
arch) and the headline figures :func:`headline` computes from it (``bench/recompute.py`` reruns
it): per-seed hypervolumes of both algorithms, their mean and standard deviation over seeds, the
per-seed NSGA-II/random ratio and its mean with a bootstrap 95% interval over seeds, NSGA-II's
wins, and the median evaluation cost ratio with a bootstrap 95% interval over archs.

    python bench/search_quality.py --ckpt outputs/cifar10_cpu/checkpoints/last.ckpt --table <lut.json> \
        data=imagefolder data.root=../shared/data/cifar10 experiment=cifar10_cpu
    python bench/search_quality.py --quick     # trains a tiny supernet on digits first; a few minutes
"""
from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

if __package__ in (None, ""):  # run as a file, `python bench/<name>.py`: see bench/__init__.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.common import ROOT, device_info, input_ref, quick_supernet, save  # noqa: E402
from core.jsontypes import JSONObject  # noqa: E402
from search.evolution.objectives import Normaliser, hypervolume, pareto_front, parse_objectives  # noqa: E402
from search.stats import bootstrap_ci, mean_spread  # noqa: E402

N_BOOT, LEVEL, SEED = 2000, 0.95, 0  # the bootstrap protocol of every interval below
ALGOS = ("nsga2", "random", "nsga2_uniform")
# the engine's settings of each: nsga2_uniform is NSGA-II with the uniform operators of before issue 16 (an ablation)
VARIANTS = {"nsga2": {"algorithm": "nsga2"}, "random": {"algorithm": "random"},
            "nsga2_uniform": {"algorithm": "nsga2", "crossover": "uniform", "mutation": "uniform"}}


def _ci(stat, values: Sequence[float]) -> list[float]:
    if len(values) < 2:
        return [math.nan, math.nan]
    return list(bootstrap_ci(stat, values, n_boot=N_BOOT, level=LEVEL, seed=SEED))


def _mean(xs: Sequence[float]) -> float:
    return statistics.fmean(xs)


def _median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs))


def run_hypervolume(records: Sequence[dict], objectives: Sequence[str], bounds: dict[str, float]) -> tuple[float, int]:
    """Hypervolume and size of the front of one run's evaluation records (as ``Evolution.hypervolume``)."""
    norm = Normaliser(parse_objectives(objectives), bounds)
    front = pareto_front(records, norm)
    return hypervolume([norm(r) for r in front]), len(front)


def headline(result: JSONObject) -> JSONObject:
    """The headline figures, from the raw evaluation records and timings in ``result["raw"]`` only."""
    raw = result["raw"]
    hv: dict[str, dict[int, float]] = {a: {} for a in ALGOS}
    fronts: dict[str, dict[int, int]] = {a: {} for a in ALGOS}
    for run in raw["runs"]:
        hv[run["algorithm"]][run["seed"]], fronts[run["algorithm"]][run["seed"]] = \
            run_hypervolume(run["records"], raw["objectives"], raw["bounds"])
    algos = [a for a in ALGOS if hv[a]]  # results from before the ablation have no nsga2_uniform runs
    seeds = sorted(hv["nsga2"])
    if any(sorted(hv[a]) != seeds for a in algos):
        raise ValueError(f"seeds {({a: sorted(hv[a]) for a in algos})}: every algorithm must run the same seeds")
    nsga, rand = [hv["nsga2"][s] for s in seeds], [hv["random"][s] for s in seeds]
    ratio = [b / a if a > 0 else math.inf for a, b in zip(rand, nsga)]
    wins = sum(b > a for a, b in zip(rand, nsga))
    ablation = {}
    if "nsga2_uniform" in algos:
        uni = [hv["nsga2_uniform"][s] for s in seeds]
        vs = [b / a if a > 0 else math.inf for a, b in zip(uni, nsga)]
        ablation = {"hv_nsga2_uniform": mean_spread(uni), "hv_ratio_vs_uniform_per_seed": vs,
                    "hv_ratio_vs_uniform_mean": _mean(vs), "hv_ratio_vs_uniform_mean_ci": _ci(_mean, vs),
                    "wins_vs_uniform": sum(b > a for a, b in zip(uni, nsga))}
    costs = [_median(a["eval_seconds"]) / _median(a["inference_seconds"]) for a in raw["eval_cost"]]
    cost_ratio = _median(costs)
    return {
        "hv_nsga2": mean_spread(nsga), "hv_random": mean_spread(rand),
        "hv_per_seed": {"seeds": seeds, **{a: [hv[a][s] for s in seeds] for a in algos}}, **ablation,
        "hv_ratio_per_seed": ratio, "hv_ratio_mean": _mean(ratio), "hv_ratio_mean_ci": _ci(_mean, ratio),
        "nsga2_wins": wins, "n_seeds": len(seeds),
        "front_sizes": {a: [fronts[a][s] for s in seeds] for a in algos},
        "eval_cost_ratio": cost_ratio, "eval_cost_ratio_ci": _ci(_median, costs), "eval_cost_ratios": costs,
        "goals": {"nsga2_wins_ge_4_of_5": wins >= 4,
                  "hv_ratio_mean_ge_1.05": _mean(ratio) >= 1.05, "eval_cost_ratio_le_1.5": cost_ratio <= 1.5},
    }


def quick_inputs(out: Path) -> tuple[Path, Path, list[str]]:
    """A tiny supernet trained on digits and a quickly measured table, for --quick."""
    from hydra import compose, initialize_config_dir

    import search.hardware.lut as lut

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        lcfg = compose("lut", overrides=[f"paths.output_dir={out / 'lut'}", "protocol.trials=3", "protocol.warmup=1",
                                         "protocol.min_call_ms=2", "calib.subnets=4", "batch_sizes=[1]",
                                         "energy.power_window_s=1"])
    return quick_supernet(out), lut.build_table(lcfg), []


def main() -> None:
    # imported here: bench/recompute.py and the tests load this module for headline() alone
    import torch
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from search.hardware.cost import CostModel
    from search.evolution.evaluate import SubnetEvaluator
    from search.evolution.engine import Evolution
    from search.evolution.settings import Settings
    from search.evolution.records import Evaluation
    from supernet.checkpoint import check_data, check_space
    from supernet.checkpoint import load_supernet

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
    work = ROOT / "outputs" / "bench"
    work.mkdir(parents=True, exist_ok=True)
    out = Path(tempfile.mkdtemp(prefix="search_quality_", dir=work))
    overrides = list(args.overrides)
    if args.quick:
        ckpt, table, overrides = quick_inputs(out)
        args.seeds, args.budget, args.population, args.val_images, args.calib_images = 3, 24, 8, 144, 64
    else:
        ckpt, table = Path(args.ckpt), Path(args.table)
    names = args.objectives.split(",")
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        # the composed config holds the settings this script runs with, so the stored config is what ran
        cfg = compose("search", overrides=[f"ckpt={ckpt}", f"table={table}", f"paths.output_dir={out}",
                                           f"search.objectives=[{','.join(names)}]",
                                           f"search.population={args.population}", f"search.budget={args.budget}",
                                           f"eval.calib_images={args.calib_images}",
                                           f"eval.val_images={args.val_images}", "eval.batch_size=256", *overrides])
    torch.manual_seed(0)
    net, meta = load_supernet(ckpt)
    check_space(cfg, net.space)
    costs = CostModel.load(table, net.space, check_device=True)
    dm = instantiate(cfg.data)
    check_data(dm, meta)
    evaluator = SubnetEvaluator(net, dm, cfg.eval.calib_images, cfg.eval.val_images, cfg.eval.batch_size)
    objectives = parse_objectives(list(cfg.search.objectives))

    def cost_fn(arch):
        return costs.predict(arch).to_dict()

    memo: dict[str, Evaluation] = {}
    runs, bounds = [], None
    t0 = time.perf_counter()
    for seed in range(args.seeds):
        for algo in ALGOS:
            settings = Settings(objectives, population=cfg.search.population, generations=10 ** 6,
                                budget=cfg.search.budget, seed=seed, **VARIANTS[algo])
            evo = Evolution(net.space, settings, cost_fn, memo=memo, progress=False)
            evo.run(evaluator)
            bounds = {o.field: evo.norm.hi[o.field] for o in objectives if not o.maximise}
            records = [{k: v for k, v in r.row().items() if k != "genome"} for r in evo.records.values()]
            hv, size = run_hypervolume(records, [o.name for o in objectives], bounds)
            if not math.isclose(hv, evo.hypervolume(), rel_tol=1e-12, abs_tol=1e-15):
                raise RuntimeError(f"stored records give hypervolume {hv}, the run {evo.hypervolume()}")
            runs.append({"seed": seed, "algorithm": algo, "unique_evals": len(records), "records": records})
            print(f"seed {seed} {algo}: hypervolume {hv:.4f}, front {size}, {len(records)} unique evaluations")
    search_seconds = time.perf_counter() - t0

    # cost of an inherited-weight evaluation vs a plain inference pass over the same images
    rng = random.Random(0)
    eval_cost = []
    for arch in [net.space.sample(rng) for _ in range(5)]:
        evaluator(arch)  # warm-up
        e = [evaluator(arch)["eval_seconds"] for _ in range(3)]
        model = evaluator.extract(arch)
        evaluator.inference_seconds(model)
        i = [evaluator.inference_seconds(model) for _ in range(3)]
        eval_cost.append({"arch": str(arch), "eval_seconds": e, "inference_seconds": i})
    raw = {"objectives": [o.name for o in objectives], "bounds": bounds, "runs": runs, "eval_cost": eval_cost,
           "bootstrap": {"n_boot": N_BOOT, "level": LEVEL, "seed": SEED}}
    result = {
        **headline({"raw": raw}), "raw": raw, "budget": args.budget, "population": args.population,
        "eval_images": len(evaluator.val_y), "calib_images": args.calib_images,
        "distinct_archs_evaluated": len(memo), "search_seconds": search_seconds,
        "ckpt": str(ckpt), "table": str(table),
        "inputs": {"ckpt": input_ref(ckpt), "table": input_ref(table)}, "energy_source": costs.energy_source, "quick": args.quick,
        "run_folder": str(out), **device_info(next(net.parameters()).device),
    }
    config = {"bench": vars(args), "search": OmegaConf.to_container(cfg, resolve=True)}
    path = save("search_quality", result, config=config)
    lo, hi = result["hv_ratio_mean_ci"]
    print(f"NSGA-II vs random: hypervolume {result['hv_nsga2']['mean']:.4f} +- {result['hv_nsga2']['std']:.4f} vs "
          f"{result['hv_random']['mean']:.4f} +- {result['hv_random']['std']:.4f}, ratio {result['hv_ratio_mean']:.3f} "
          f"[{lo:.3f}, {hi:.3f}], NSGA-II ahead in {result['nsga2_wins']}/{args.seeds} seeds at {args.budget} unique "
          f"evaluations; eval cost ratio {result['eval_cost_ratio']:.2f} -> {path}")


if __name__ == "__main__":
    main()
