"""Does the searched route beat the hand-designed baselines at equal budgets, and does the supernet pay?

Runs ``green-run`` (resuming it if the run folder exists) with the multi-trial stages, so one run
folder holds: the winners (inherited weights, fine-tuned), their from-scratch twins and the
baselines trained for the winners' total epochs, the multi-trial route's models, all with the same
seeds and timed in one measurement session. Writes ``outputs/bench/pipeline.json`` with the
provenance (commit, command, composed config), the raw per-model, per-seed figures and the energy
ledger, and the headline figures computed from them by :func:`headline` (which
``bench/recompute.py`` reruns on the committed file):

- ``dominated_beyond_noise``: baselines some winner dominates beyond noise on accuracy vs latency,
  vs energy, and on both (``total``);
- ``multi_trial``: energy of the one-shot route over the multi-trial route at the same number of
  evaluated candidates, and the test hypervolume ratio of their final fronts (bootstrap CI);
- ``amortisation_ratio``: the supernet route over training the K winners from scratch;
- ``twins``: the winners' test accuracy minus their twins', in points, paired by seed and image
  (:mod:`search.pipeline.twins`): ``full_recipe`` (the scratch stage) and ``equal_epochs`` (``scratch_ft``:
  the fine-tune's epochs alone), each with ``diff_ci``; from ``raw.rows`` (each trained model's per-image
  correctness);
- ``breakeven`` (:mod:`search.pipeline.breakeven`): ``candidates`` (N*), ``energy_ratio`` at the search's
  ``search_candidates``, ``deployments`` (K*); ``train_images`` and ``seeds`` state the budget.

    python bench/pipeline.py --run outputs/bench/pipeline_cifar10 experiment=cifar10_cpu data=imagefolder \
        data.root=../shared/data/cifar10
    python bench/pipeline.py --quick          # digits, tiny budgets, a few minutes
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file, `python bench/<name>.py`: see bench/__init__.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.common import ROOT, save  # noqa: E402
from core.jsontypes import JSONObject  # noqa: E402
from search.stats import mean_spread  # noqa: E402
from search.pipeline.breakeven import from_ledger  # noqa: E402
from search.pipeline.summary import dominated_counts, hv_ratio  # noqa: E402
from search.pipeline.twins import compare  # noqa: E402

STAGES = "[train,lut,search,finetune,scratch,scratch_ft,baselines,mt_search,mt_train,eq_search,eq_finetune,measure,report]"
ROW_FIELDS = ("arch", "replicate", "test_images", "test_correct")  # per trained model and seed: the paired bootstraps
MODEL_FIELDS = ("name", "kind", "arch", "params", "macs", "seeds", "test_acc_per_seed", "test_images", "select_acc",
                "latency_ms", "latency_ms_p10", "latency_ms_p90", "latency_serving_ms", "latency_serving_ms_p10",
                "latency_serving_ms_p90", "energy_mj_per_image", "energy_mj_per_image_p10",
                "energy_mj_per_image_p90", "energy_source", "power_w", "train_kwh", "total_train_kwh", "budget")


def _models(raw: list[dict]) -> list[dict]:
    """Models with their mean and spread recomputed from the per-seed accuracies."""
    out = []
    for m in raw:
        ms = mean_spread(m["test_acc_per_seed"])
        out.append({**m, "test_acc": ms["mean"], "test_acc_std": ms["std"]})
    return out


def headline(result: JSONObject) -> JSONObject:
    """The headline figures, from the raw per-model data and ledger stored in ``result``."""
    raw = result["raw"]
    winners, base = _models(raw["models"]["finetune"]), _models(raw["models"].get("baselines", []))
    d = dominated_counts(winners, base, raw["num_classes"])
    led, seeds = raw["ledger"], raw["seeds"]
    kwh = {k: v["energy_kwh"] for k, v in led.items()}
    route = kwh["train"] + kwh["lut"] + kwh["search"] + kwh["finetune"] / seeds
    scratch = kwh["scratch"] / seeds
    out: dict[str, Any] = {
        "seeds": seeds, "k": len(winners),
        "dominated_beyond_noise": {"latency": len(d["beyond_noise"]["latency_ms"]),
                                   "energy": len(d["beyond_noise"]["energy_mj_per_image"]),
                                   "total": len(d["beyond_noise"]["total"]), "of": d["of"],
                                   "names": d["beyond_noise"]},
        "dominated_plain": {"latency": len(d["plain"]["latency_ms"]),
                            "energy": len(d["plain"]["energy_mj_per_image"]), "of": d["of"]},
        "failed_trainings": d["failed"],
        "amortisation_ratio": route / scratch if scratch > 0 else None,
    }
    rows = raw.get("rows", {})
    twins = {name: compare(rows.get("finetune", []), rows.get(stage, [])) for name, stage in
             (("full_recipe", "scratch"), ("equal_epochs", "scratch_ft"))}
    out["twins"] = {name: t and {**t["all"], "archs": t["archs"]} for name, t in twins.items()}
    even = from_ledger(led, raw["candidates"]["one_shot"], raw["candidates"].get("multi_trial"), len(winners), seeds) \
        if raw.get("candidates") else None
    out["search_candidates"] = raw.get("candidates", {}).get("one_shot")
    # the issue's names last: ``candidates`` is N* here (the search's own count is ``search_candidates``)
    gap = out["twins"]["full_recipe"] and out["twins"]["full_recipe"]["diff_points"]
    out["breakeven"] = even and {**even.to_json(), "candidates": even.breakeven_candidates,
                                 "deployments": even.breakeven_deployments,
                                 "deployments_note": even.deployments_note(gap)}
    # the same on one scale: every stage's wall time at one power (the supernet's energy was booked in other
    # sessions, at another codecarbon power figure than this run's stages)
    same = from_ledger(led, raw["candidates"]["one_shot"], raw["candidates"].get("multi_trial"), len(winners), seeds,
                       key="seconds") if raw.get("candidates") else None
    out["breakeven_same_scale"] = same and {"candidates": same.breakeven_candidates, "energy_ratio": same.energy_ratio,
                                            "deployments": same.breakeven_deployments,
                                            "deployments_note": same.deployments_note(gap, unit="s"),
                                            "note": "every stage's booked seconds at one power figure"}
    out["train_images"] = raw.get("train_images")
    mt = raw["models"].get("mt_train")
    if mt:
        mt_kwh = kwh["lut"] + kwh["mt_search"] + kwh["mt_train"] / seeds
        eq = raw["models"].get("eq_finetune")
        hv_default = hv_ratio(winners, _models(mt), raw["num_classes"])
        hv = hv_ratio(_models(eq), _models(mt), raw["num_classes"]) if eq else hv_default
        out["multi_trial"] = {
            # at the one-shot search's count N, the multi-trial route's per-candidate energy extrapolated to N (the
            # break-even's ratio); the two searches' own, unequal counts give ``energy_ratio_own_counts``
            "energy_ratio": even and even.energy_ratio, "energy_ratio_own_counts": route / mt_kwh,
            "one_shot_kwh": route, "multi_trial_kwh": mt_kwh,
            # the fronts at equal candidates: the eq_search/eq_finetune stages' one-shot finals (else the winners,
            # from the default search's larger count, and ``hv_at`` says so)
            "hv_at": "equal candidates" if eq else "each search's own count (no eq_search stage)",
            "test_hv_ratio": hv["ratio"], "test_hv_ratio_ci95": hv["ratio_ci95"],
            "test_hv_ratio_per_seed": hv["ratio_per_seed"], "interval": hv["interval"],
            "test_hv": {"one_shot": hv["one_shot_hv"], "multi_trial": hv["multi_trial_hv"]},
            "test_hv_ratio_default_search": hv_default["ratio"],
            "test_hv_ratio_default_search_per_seed": hv_default["ratio_per_seed"],
            "candidates": raw["candidates"]}
    if result.get("quick"):  # a quick run's counts and intervals are labelled and never judged against a goal
        out["goal"] = "not judged: quick run (reduced budget)"
        return out
    full, equal = out["twins"]["full_recipe"], out["twins"]["equal_epochs"]
    out["goal"] = {
        "train_images_ge_20000_and_seeds_ge_3": (out["train_images"] or 0) >= 20000 and seeds >= 3,
        "beats_equal_epoch_twins_beyond_noise": bool(equal and equal["diff_ci"] and equal["diff_ci"][0] > 0),
        "within_noise_of_full_recipe_twins": bool(full and full["diff_ci"] and full["diff_ci"][1] >= 0
                                                   and full["diff_ci"][1] - full["diff_ci"][0] <= 3.0),
        "search_candidates_gt_5_breakeven": bool(even and even.breakeven_candidates is not None
                                                 and out["search_candidates"] > 5 * even.breakeven_candidates),
        "winner_dominates_5_of_6_on_latency_and_energy_beyond_noise":
            len(d["beyond_noise"]["latency_ms"]) >= 5 and len(d["beyond_noise"]["energy_mj_per_image"]) >= 5,
        "one_shot_energy_le_0.2_of_multi_trial_with_hv_ge_0.98":
            bool(mt) and out["multi_trial"]["energy_ratio"] is not None and out["multi_trial"]["energy_ratio"] <= 0.2
            and out["multi_trial"]["hv_at"] == "equal candidates" and (out["multi_trial"]["test_hv_ratio"] or 0) >= 0.98,
    }
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--run", default=str(ROOT / "outputs" / "bench" / "pipeline_run"), help="the green-run folder")
    p.add_argument("--report-dir", default=None, help="copy report.md/html/png here (e.g. bench/results/pipeline)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("overrides", nargs="*", help="green-run overrides, e.g. experiment=cifar10_cpu")
    args = p.parse_args()
    run = Path(args.run)
    overrides = [f"seeds={args.seeds}", f"stages={STAGES}", *args.overrides]
    if args.quick:
        run = ROOT / "outputs" / "bench" / "pipeline_quick"
        overrides += ["pipeline.train.epochs=3", "pipeline.recipe.epochs=1", "top_k=2", "measure.trials=3",
                      "measure.power_window_s=1",
                      "++pipeline.lut={calib.subnets:4,validate.subnets:4,protocol.trials:2,validate.trials:2}",
                      "++pipeline.search={search.population:8,search.generations:1,progress:false}",
                      "++pipeline.mt_search={search.population:8,search.generations:1,progress:false}",
                      "++pipeline.baselines.models=[timm/lcnet_050,torchvision/squeezenet1_1]"]
    cmd = [sys.executable, "-m", "search.commands.run", f"hydra.run.dir={run}", "trainer.enable_progress_bar=false", *overrides]
    print("running:", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)

    from hydra import compose, initialize_config_dir

    from search.pipeline.report import write_report

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("run", overrides=[*(o.strip("'") for o in overrides), f"paths.output_dir={run}"])
    s = write_report(run)
    import json

    one = json.loads((run / "search" / "pareto.json").read_text())
    mt = json.loads((run / "mt_search" / "pareto.json").read_text())
    eq = json.loads((run / "eq_search" / "pareto.json").read_text()) if (run / "eq_search" / "pareto.json").is_file() \
        else None
    result: dict[str, Any] = {
        "raw": {"models": {k: [{f: m[f] for f in MODEL_FIELDS} for m in v] for k, v in s["models"].items()},
                "ledger": s["ledger"], "seeds": s["seeds"],
                "num_classes": json.loads((run / "finetune" / "finetune.json").read_text()).get("num_classes", 10),
                "candidates": {"one_shot": one["unique_evals"], "multi_trial": mt["unique_evals"],
                               "one_shot_equal": eq["unique_evals"] if eq else None},
                "trial_budget": mt.get("multi_trial"), "session": s["session"], "stage_seconds": s["stage_seconds"],
                "rows": {st: [{f: r.get(f) for f in ROW_FIELDS} for r in
                              json.loads((run / st / "finetune.json").read_text())["models"]]
                         for st in ("finetune", "scratch", "scratch_ft") if (run / st / "finetune.json").is_file()},
                "train_images": json.loads((run / "finetune" / "finetune.json").read_text())["models"][0]
                ["budget"].get("train_images")},
        "run": str(run), "quick": args.quick, "energy_sources": s["energy_sources"],
    }
    result.update(headline(result))
    path = save("pipeline", result, config=cfg)
    if args.report_dir:
        dest = Path(args.report_dir)
        dest.mkdir(parents=True, exist_ok=True)
        for f in ["report.md", "report.html", *(x.name for x in run.glob("report_*.png"))]:
            shutil.copy2(run / f, dest / f)
    d, m = result["dominated_beyond_noise"], result.get("multi_trial", {})
    print(f"pipeline: baselines dominated beyond noise: latency {d['latency']}/{d['of']}, energy {d['energy']}/"
          f"{d['of']}, both {d['total']}; multi-trial energy ratio {m.get('energy_ratio')}, test HV ratio "
          f"{m.get('test_hv_ratio')}; K-from-scratch ratio {result['amortisation_ratio']} -> {path}")


if __name__ == "__main__":
    main()
