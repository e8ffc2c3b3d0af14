"""Does the supernet rank subnets truly? Ranking methods scored against a standalone ground-truth table.

The truth is a ``green-table`` table (:mod:`search.ranking.table`): subnets stratified by MACs over the whole
space, each trained standalone from scratch ``table.seeds`` times with one recipe. ``--table`` names
its folder; it is built there, or resumed, with the overrides given (the same ones as for
``green-table``), and a folder that holds a table of another space, data or recipe is refused. The
seed-to-seed Kendall tau of the table is the noise ceiling: no ranking method can order subnets
better than a second standalone training does.

Each ``--method NAME=CKPT`` is a supernet checkpoint (its space and data must be the table's)
whose inherited accuracy on ``--val-images`` validation images ranks the table's subnets. For each
method, against the mean standalone test accuracy over seeds: Kendall tau and Spearman rho with
bootstrap 95% intervals over subnets, both also without the smallest and largest subnets (which
make ranking look easy), and the top-k regret at three MAC budgets (the thirds of the table's cost
range): the standalone accuracy lost, in points, by training the method's k best-ranked subnets
under the budget and keeping the best of them instead of the truly best one, beside the regret a random
ranking is expected to have on the same table (the chance level the goal is set against). The first method is
the default whose figures head ``ranking.json``; ``methods`` holds every method's.

    green-table experiment=cifar10_cpu ... hydra.run.dir=outputs/table/c10    # or let --table build it
    python bench/ranking.py --table outputs/table/c10 --method sandwich=<last.ckpt> \
        --method progressive=<last.ckpt> experiment=cifar10_cpu data=imagefolder data.root=../shared/data/cifar10
    python bench/ranking.py --quick     # tiny supernet and table on digits, a few minutes on a CPU

``bench/recompute.py`` recomputes every headline figure with :func:`headline` from ``raw`` alone:
the table's rows and each method's per-subnet scores.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any, Sequence

if __package__ in (None, ""):  # run as a file, `python bench/<name>.py`: see bench/__init__.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.common import ROOT, quick_supernet, save  # noqa: E402
from core.jsontypes import JSONObject  # noqa: E402
from bench.ranking_methods import fit_predictors, parse_methods, score_supernets  # noqa: E402
from search.ranking.fidelity import TOP_K, budgets, ci, random_regret, regret  # noqa: E402, F401  (re-exported for the tests)
from search.ranking.fidelity import figures as rank_figures  # noqa: E402
from search.stats import accuracy_se, kendall  # noqa: E402
from search.ranking.build import stratified_pool  # noqa: E402, F401  (the pick, re-exported for the tests)

N_BOOT, LEVEL, SEED = 2000, 0.95, 0  # the bootstrap protocol of every interval below
GOAL_TAU, GOAL_CEILING, GOAL_CEILING_SHARE = 0.6, 0.6, 0.8
GOAL_REGRET_SHARE = 0.5  # of the expected top-5 regret of a random ranking on the same table
GOAL_SUBNETS = 32


def _ci(stat, *cols: Sequence[float]) -> list[float]:
    return ci(stat, *cols, n_boot=N_BOOT, level=LEVEL, seed=SEED)


def figures(scores: dict[str, float], truth: dict[str, float], roles: dict[str, str],
            macs: dict[str, float], intervals: bool = True) -> JSONObject:
    """:func:`search.ranking.fidelity.figures` under this benchmark's bootstrap protocol."""
    return rank_figures(scores, truth, roles, macs, n_boot=N_BOOT, level=LEVEL, seed=SEED, intervals=intervals)


CV_FIGURES = ("kendall_tau", "kendall_tau_no_extremes", "spearman", "top1_regret_points", "top5_regret_points")


def cross_validated(m: JSONObject, base: dict[str, float], truth: dict[str, float], roles: dict[str, str],
                    macs: dict[str, float]) -> JSONObject:
    """A predictor's figures over its splits: each split fitted on some subnets and scored on the rest,
    beside the base method's figures on the same held-out subnets (the paired comparison)."""
    per, paired = [], []
    for sp in m["splits"]:
        held = {a: truth[a] for a in sp["pred"]}
        # the split figures are averaged, never given intervals (the spread over splits stands for them)
        per.append(figures(sp["pred"], held, roles, macs, intervals=False))
        paired.append(figures({a: base[a] for a in held}, held, roles, macs, intervals=False))
    out: dict[str, Any] = {"splits": len(per), "fit_subnets": len(m["splits"][0]["fit"]),
                           "held_out_subnets": len(m["splits"][0]["pred"]), "base": m["base"], "kind": m["kind"]}
    for k in CV_FIGURES:
        vals = [f[k] for f in per if not math.isnan(f[k])]
        base_vals = [f[k] for f in paired if not math.isnan(f[k])]
        out[k] = statistics.fmean(vals) if vals else math.nan
        out[k + "_sd_over_splits"] = statistics.stdev(vals) if len(vals) >= 2 else math.nan
        out[k + "_base_same_subnets"] = statistics.fmean(base_vals) if base_vals else math.nan
    out["kendall_tau_no_extremes_ci"] = [math.nan, math.nan]  # spread over splits instead: *_sd_over_splits
    out["kendall_tau_ci"] = [math.nan, math.nan]
    out["spearman_ci"] = [math.nan, math.nan]
    out["top5_regret_points_per_budget"] = [statistics.fmean(f["top5_regret_points_per_budget"][i] for f in per)
                                            for i in range(3)]
    return out


def headline(result: JSONObject) -> JSONObject:
    """The headline figures, from the raw data in ``result["raw"]`` only: the table's rows and each
    method's per-subnet scores."""
    raw = result["raw"]
    rows = raw["table"]
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(r["arch"], []).append(r)
    truth = {a: statistics.fmean(r["test_acc"] for r in rs) for a, rs in by.items()}
    roles = {a: rs[0]["role"] for a, rs in by.items()}
    macs = {a: float(rs[0]["macs"]) for a, rs in by.items()}
    seed_acc = {a: {r["replicate"]: r["test_acc"] for r in rs} for a, rs in by.items()}
    both = [a for a in by if 0 in seed_acc[a] and 1 in seed_acc[a]]
    s0, s1 = [seed_acc[a][0] for a in both], [seed_acc[a][1] for a in both]
    mid = [a for a in both if roles[a] == "sampled"]
    m0, m1 = [seed_acc[a][0] for a in mid], [seed_acc[a][1] for a in mid]
    ceiling = {"noise_ceiling_tau": kendall(s0, s1) if len(both) >= 2 else math.nan,
               "noise_ceiling_tau_ci": _ci(kendall, s0, s1),
               "noise_ceiling_tau_no_extremes": kendall(m0, m1) if len(mid) >= 2 else math.nan,
               "noise_ceiling_tau_no_extremes_ci": _ci(kendall, m0, m1)}
    # what a second standalone training loses by the same regret measure: the floor a method is judged by
    ceiling["noise_ceiling_top5_regret_points"] = (
        statistics.fmean(regret({a: seed_acc[a][0] for a in both}, {a: seed_acc[a][1] for a in both}, macs, m, 5)
                         for m in budgets([macs[a] for a in both])) if len(both) >= 2 else math.nan)
    methods = {}
    for name, m in raw["methods"].items():
        if "splits" in m:  # a cross-validated predictor: scored on the subnets each split held out
            methods[name] = cross_validated(m, raw["methods"][m["base"]]["scores"], truth, roles, macs)
            continue
        f = figures(m["scores"], truth, roles, macs)
        sc = [m["scores"][a] for a in truth if roles[a] == "sampled"]
        f["score_se_max"] = max(accuracy_se(v, m["val_images"]) for v in m["scores"].values())
        f["score_spread_sd_no_extremes"] = statistics.stdev(sc) if len(sc) >= 2 else math.nan
        f["training_kwh"] = (m.get("training") or {}).get("kwh")
        methods[name] = f
    default = raw["default"]
    d = methods[default]
    mid_archs = [a for a in truth if roles[a] == "sampled"]
    for name, m in raw["methods"].items():
        if name != default and "splits" not in m:
            methods[name]["vs_default"] = versus(m["scores"], raw["methods"][default]["scores"], truth, mid_archs)
    nc = ceiling["noise_ceiling_tau_no_extremes"]
    out = {"method": default, "n_subnets": len(truth), "n_rows": len(rows),
           **{k: d[k] for k in ("kendall_tau", "kendall_tau_ci", "kendall_tau_no_extremes",
                                "kendall_tau_no_extremes_ci", "spearman", "spearman_ci", "top1_regret_points",
                                "top5_regret_points")},
           "top5_regret_points_per_budget": d["top5_regret_points_per_budget"], **ceiling, "methods": methods}
    out["random_top5_regret_points"] = statistics.fmean(
        random_regret(truth, macs, m, 5) for m in budgets(list(macs.values())))
    out["space_digest"] = raw.get("space_digest")
    out["best_method"] = best_method(out)
    out["goal"] = {
        f"n_subnets_ge_{GOAL_SUBNETS}": len(truth) >= GOAL_SUBNETS,
        f"noise_ceiling_tau_ge_{GOAL_CEILING}": bool(ceiling["noise_ceiling_tau"] >= GOAL_CEILING),
        f"kendall_tau_no_extremes_ge_{GOAL_TAU}": d["kendall_tau_no_extremes"] >= GOAL_TAU,
        f"kendall_tau_no_extremes_ge_{GOAL_CEILING_SHARE}_noise_ceiling":
            bool(d["kendall_tau_no_extremes"] >= GOAL_CEILING_SHARE * nc) if not math.isnan(nc) else None,
        f"top5_regret_le_{GOAL_REGRET_SHARE}_random": bool(
            d["top5_regret_points"] <= GOAL_REGRET_SHARE * out["random_top5_regret_points"])}
    return out


def inputs(result: JSONObject, results: Path) -> tuple[list[Path], list[str]]:
    """The committed ground-truth table this result was scored against, and what disagrees with it.

    A table folder under ``results`` (``table.json`` and one ``row.json`` per subnet and seed) whose identity
    (space, data, recipe) is the result's is its input: every row the result's raw data holds must be a row
    of ``table.json`` (arch, replicate, test accuracy), and every ``row.json`` one of ``table.json``'s.
    Returns the files read and the problems found (empty when they agree)."""
    key = lambda r: (r["arch"], int(r["replicate"]), float(r["test_acc"]))  # noqa: E731
    for table in sorted(results.rglob("table.json")):
        if "archive" in table.relative_to(results).parts:
            continue
        data = json.loads(table.read_text())
        if data.get("identity") != result.get("table_identity"):
            continue
        rows = {key(r) for r in data["rows"]}
        problems = [f"{table.relative_to(results)}: no row {k} of the result's raw table"
                    for k in map(key, result["raw"]["table"]) if k not in rows]
        files = [table]
        for row in sorted(table.parent.rglob("row.json")):
            files.append(row)
            if key(json.loads(row.read_text())["result"]) not in rows:
                problems.append(f"{row.relative_to(results)}: a row that table.json does not hold")
        return files, problems
    return [], []


def versus(scores: dict[str, float], base: dict[str, float], truth: dict[str, float],
           archs: Sequence[str]) -> JSONObject:
    """The paired comparison of a method with the default on the same subnets (``archs``: those without the
    extremes): the difference of their Kendall tau against the truth, with a bootstrap interval that
    resamples subnets with both methods' scores together (the two taus share the truth's noise)."""
    a, b, t = [scores[x] for x in archs], [base[x] for x in archs], [truth[x] for x in archs]
    diff = (lambda a, b, t: kendall(a, t) - kendall(b, t))
    lo, hi = _ci(diff, a, b, t)
    return {"kendall_tau_no_extremes_diff": diff(a, b, t) if len(archs) >= 2 else math.nan,
            "kendall_tau_no_extremes_diff_ci": [lo, hi], "better_beyond_noise": bool(lo > 0)}


def best_method(result: JSONObject) -> str:
    """The method a default should be: the default itself unless another supernet method ranks better beyond
    noise (the interval of its paired tau difference lies above 0); among several, the largest difference.
    Predictors are judged on held-out subnets only, so they are reported beside, not chosen here."""
    better = {n: f["vs_default"]["kendall_tau_no_extremes_diff"] for n, f in result["methods"].items()
              if "vs_default" in f and f["vs_default"]["better_beyond_noise"]}
    return max(better, key=better.get) if better else result["method"]


def main() -> None:
    # imported here: bench/recompute.py and the tests load this module for headline() alone
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from search.ranking.build import build
    from core.errors import GreenError

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny supernet and table on digits, tiny budgets")
    p.add_argument("--table", default=str(ROOT / "outputs" / "table" / "ranking"),
                   help="the ground-truth table's folder: built there, or resumed, with the overrides")
    p.add_argument("--method", action="append", default=[], metavar="NAME=CKPT",
                   help="a supernet checkpoint to rank with (repeatable; the first is the default)")
    p.add_argument("--val-images", type=int, default=5000, help="validation images each inherited score uses")
    p.add_argument("--calib-images", type=int, default=512, help="training images recalibrating BN per subnet")
    p.add_argument("--predictor-fit", type=int, default=8,
                   help="standalone results each cross-validated accuracy predictor is fitted on (0: none)")
    p.add_argument("--predictor-splits", type=int, default=20, help="random fit/held-out splits per predictor")
    p.add_argument("--predictor-kind", default="ridge", choices=["ridge", "gp"])
    p.add_argument("overrides", nargs="*", help="table overrides as for green-table, e.g. experiment=cifar10_cpu")
    args = p.parse_args()
    try:
        methods = parse_methods(args.method)
    except ValueError as err:
        sys.exit(f"ranking.py: error: {err}")
    overrides = list(args.overrides)
    table_dir = Path(args.table)
    if args.quick:
        work = ROOT / "outputs" / "bench" / "ranking_quick"
        methods = {"sandwich": [quick_supernet(work, epochs=4)]}
        table_dir = work / "table"
        overrides = ["experiment=smoke", "table.subnets=6", "table.strata=2", "table.pool=200", "epochs=4",
                     "trainer.enable_progress_bar=false", *overrides]
        args.val_images, args.predictor_fit = 360, 3
    if not methods:
        sys.exit("ranking.py: error: no --method NAME=CKPT given (or use --quick)")
    try:
        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
            cfg = compose("table", overrides=[f"paths.output_dir={table_dir}", *overrides])
        table = build(cfg)
        if not table.complete():
            raise GreenError(f"the table in {str(table_dir)!r} is incomplete")
        dm = instantiate(cfg.data)
        raw_methods, nets = score_supernets(methods, table, dm, args.calib_images, args.val_images)
        if args.predictor_fit:
            fit_predictors(raw_methods, nets, table, args.predictor_fit, args.predictor_splits,
                           args.predictor_kind)
    except GreenError as err:
        sys.exit(f"ranking.py: error: {err}")
    raw = {"table": [{k: getattr(r, k) for k in ("arch", "seed", "replicate", "role", "stratum", "macs", "params",
                                                 "test_acc", "val_acc", "test_recall", "train_kwh")}
                     for r in table.rows],
           "methods": raw_methods, "default": next(iter(raw_methods)), "space_digest": table.identity["space"],
           "bootstrap": {"n_boot": N_BOOT, "level": LEVEL, "seed": SEED}}
    result = {**headline({"raw": raw}), "raw": raw, "table_identity": table.identity,
              "table_summary": table.summary(), "table_dir": str(table_dir), "quick": args.quick}
    path = save("ranking", result, config={"bench": vars(args), "table": OmegaConf.to_container(cfg, resolve=True)})
    print(f"ranking: noise ceiling tau {result['noise_ceiling_tau']:.3f} "
          f"({result['noise_ceiling_tau_no_extremes']:.3f} without the extremes) over {result['n_subnets']} subnets; "
          f"a random ranking's expected top-5 regret {result['random_top5_regret_points']:.2f} points")
    for name, f in result["methods"].items():
        if "splits" in f:
            print(f"ranking: {name} (fitted on {f['fit_subnets']}, scored on {f['held_out_subnets']} held-out "
                  f"subnets, {f['splits']} splits): Kendall tau {f['kendall_tau']:.3f} (base "
                  f"{f['kendall_tau_base_same_subnets']:.3f} on the same subnets), without the extremes "
                  f"{f['kendall_tau_no_extremes']:.3f} (base {f['kendall_tau_no_extremes_base_same_subnets']:.3f}); "
                  f"top-5 regret {f['top5_regret_points']:.2f} points")
            continue
        lo, hi = f["kendall_tau_no_extremes_ci"]
        print(f"ranking: {name}: Kendall tau {f['kendall_tau']:.3f}, without the extremes "
              f"{f['kendall_tau_no_extremes']:.3f} [{lo:.3f}, {hi:.3f}]; top-5 regret {f['top5_regret_points']:.2f} "
              f"points, top-1 {f['top1_regret_points']:.2f}; score SE <= {f['score_se_max']:.3f} vs spread "
              f"{f['score_spread_sd_no_extremes']:.3f}"
              + (f"; supernet training {f['training_kwh']:.2e} kWh" if f.get("training_kwh") is not None else "")
              + (f"; vs {result['method']}: {f['vs_default']['kendall_tau_no_extremes_diff']:+.3f} "
                 f"[{f['vs_default']['kendall_tau_no_extremes_diff_ci'][0]:+.3f}, "
                 f"{f['vs_default']['kendall_tau_no_extremes_diff_ci'][1]:+.3f}]" if "vs_default" in f else ""))
    print(f"ranking: best method (beyond noise, else the default): {result['best_method']}")
    print(f"ranking: -> {path}")


if __name__ == "__main__":
    main()
