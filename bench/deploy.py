"""Deployment targets, end to end: is each target's cost table as good as torch's, what does int8 cost in accuracy,
and does searching on the int8 target's own table find a better int8 front than searching on torch's?

Three parts, one JSON (``outputs/bench/deploy.json``; the committed full run is ``bench/results/deploy.json``):

1. **Tables.** For each target (``torch``, ``onnxruntime``, ``onnxruntime_int8``) ``green-lut`` builds the table of the
   space and validates it with the interleaved protocol every table gets (random subnets timed end to end twice per
   trial, in shuffled order: the retest floor). Per batch size: the table's MAPE (mean over both measurements), the
   retest MAPE and Spearman; the headline per target is its worst batch (the largest MAPE over retest).
2. **Winners.** The final winners of a ``green-run`` folder (``--run``: ``finetune/models/*``, first seed) served by
   ONNX Runtime float32 and int8 (calibrated on training images only): test accuracy through each runtime, the
   accuracy cost of quantisation per model (points) and its maximum.
3. **Fronts.** The run's supernet searched twice, accuracy against latency on the torch table and on the int8 table;
   both fronts re-measured on int8 (every member's int8 test accuracy and its int8 latency timed in one interleaved
   session) and compared by hypervolume (shared reference: chance accuracy, 1.1x the slowest member), the difference
   with a bootstrap 95% interval over test images (paired: every member resampled with the same images).

Raw per-item data (every subnet's prediction and measurements, every winner's hits, every front member's per-image
correctness and latency) are stored, and :func:`headline` recomputes every figure from them (``bench/recompute.py``).

    python bench/deploy.py --run outputs/run/<folder>             # full: the run's space and data
    python bench/deploy.py --run outputs/run/<folder> --smoke     # small budgets (the test's)
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

if __package__ in (None, ""):  # run as a file, `python bench/<name>.py`: see bench/__init__.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.common import ROOT, input_ref, save  # noqa: E402
from core.errors import GreenError  # noqa: E402
from core.jsontypes import JSONObject  # noqa: E402
from search.stats import hypervolume_2d, interval, mape, spearman  # noqa: E402

TARGETS = ("torch", "onnxruntime", "onnxruntime_int8")
N_BOOT, LEVEL, SEED = 2000, 0.95, 0
SMOKE_LUT = ["protocol.trials=2", "protocol.warmup=1", "protocol.min_call_ms=1", "calib.subnets=2",
             "validate.subnets=5", "validate.trials=2", "energy.power_window_s=0.5", "batch_sizes=[1,4]"]
SMOKE_SEARCH = ["search.population=6", "search.generations=1", "eval.calib_images=64", "eval.val_images=64"]


def _batch(subnets: Sequence[dict]) -> JSONObject:
    """One batch size's figures from its subnets: the table against each measurement (averaged), the retest."""
    pred = [s["predicted_ms"] for s in subnets]
    m1, m2 = ([s["measured_ms"][i] for s in subnets] for i in (0, 1))
    lut, retest = (mape(pred, m1) + mape(pred, m2)) / 2, mape(m1, m2)  # as green-lut validate reports it
    rho = (spearman(pred, m1) + spearman(pred, m2)) / 2
    return {"lut_mape": lut, "retest_mape": retest, "lut_spearman": rho, "n_subnets": len(subnets),
            "goals": {"lut_mape_le_1.1x_retest": lut <= 1.1 * retest, "lut_spearman_ge_0.9": rho >= 0.9}}


def _target(raw: dict) -> JSONObject:
    by = {bs: _batch(b["subnets"]) for bs, b in raw["batches"].items()}
    worst = max(by, key=lambda bs: by[bs]["lut_mape"] / max(by[bs]["retest_mape"], 1e-12))
    return {**{k: by[worst][k] for k in ("lut_mape", "retest_mape", "lut_spearman")}, "worst_batch": int(worst),
            "goals_met": all(all(b["goals"].values()) for b in by.values()), "by_batch": by}


def _hv(members: Sequence[dict], acc: Sequence[float], ref: tuple[float, float]) -> float:
    return hypervolume_2d([(a, m["int8_latency_ms"]) for m, a in zip(members, acc)], ref)


def fronts(raw: dict) -> JSONObject:
    """Hypervolume of the int8-searched front minus the torch-searched one's, both re-measured on int8, with a
    bootstrap interval over the test images."""
    one, two = raw["int8_searched"], raw["torch_searched"]
    ref = (1.0 / raw["num_classes"], 1.1 * max(m["int8_latency_ms"] for m in [*one, *two]))
    cols = [[int(c) for c in m["int8_correct"]] for m in [*one, *two]]

    def diff(*c: Sequence[float]) -> float:
        acc = [sum(x) / len(x) for x in c]
        return _hv(one, acc[:len(one)], ref) - _hv(two, acc[len(one):], ref)
    hv1 = _hv(one, [sum(c) / len(c) for c in cols[:len(one)]], ref)
    hv2 = _hv(two, [sum(c) / len(c) for c in cols[len(one):]], ref)
    ci = interval(diff, *cols, n_boot=N_BOOT, level=LEVEL, seed=SEED)
    return {"hv_int8_searched": hv1, "hv_torch_searched": hv2, "hv_diff": hv1 - hv2, "hv_diff_ci95": ci,
            "reference": list(ref), "int8_front_beats_torch_front": None if ci is None else ci[0] > 0,
            "members": {"int8_searched": len(one), "torch_searched": len(two)}}


def headline(result: JSONObject) -> JSONObject:
    """Every headline figure, from ``result["raw"]`` only."""
    raw = result["raw"]
    drops = {w["name"]: 100.0 * (w["float_correct"] - w["int8_correct"]) / w["images"] for w in raw["winners"]}
    return {"targets": {t: _target(r) for t, r in raw["tables"].items()},
            "int8_acc_drop_points": max(drops.values()) if drops else None, "int8_acc_drop_points_per_model": drops,
            "int8_within_1_point": all(d <= 1.0 for d in drops.values()), "fronts": fronts(raw["fronts"])}


def _winners(run: Path) -> list[Path]:
    """The run's fine-tuned winners (first seed of each); a folder without them is one line."""
    if not run.is_dir():
        raise GreenError(f"--run {str(run)!r} is not a folder (a green-run output folder)")
    found = sorted(f.parent for f in (run / "finetune" / "models").glob("[!.]*/arch.json")
                   if json.loads(f.read_text()).get("result", {}).get("replicate", 0) == 0)
    if not found:
        raise GreenError(f"--run {str(run)!r} has no fine-tuned winners (finetune/models/*/arch.json): "
                         "run green-run's finetune stage first")
    return found


def _correct(session: Any, dm: Any) -> str:
    from search.targets.accuracy import predictions

    pred, y = predictions(session, dm, "test")
    return "".join("1" if p == t else "0" for p, t in zip(pred.tolist(), y.tolist()))


def main() -> None:
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from core.device import Device
    from search.deploy.export import load_subnet
    from search.deploy.served import serve
    from search.evolution.search import search
    from search.hardware.lut import build_table, validate_table
    from search.hardware.timing import measure
    from search.targets import target_of
    from search.targets.calibration import CalibrationSet
    from supernet.checkpoint import load_supernet
    from supernet.net import extract_subnet

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, help="a green-run output folder (its finetune/models are the winners)")
    p.add_argument("--ckpt", help="the supernet (default: the one the winners' arch.json names)")
    p.add_argument("--smoke", action="store_true", help="small budgets: tiny protocol, a short search")
    p.add_argument("--subnets", type=int, default=30, help="subnets each table is validated on")
    p.add_argument("--trials", type=int, default=15, help="interleaved trials of the fronts' int8 session")
    p.add_argument("--out", help="folder of the JSON (default outputs/bench)")
    p.add_argument("overrides", nargs="*", help="overrides of every command (data=..., space=..., threads=...)")
    args = p.parse_args()
    winners = _winners(Path(args.run))
    metas = [json.loads((w / "arch.json").read_text()) for w in winners]
    ckpt = Path(args.ckpt or metas[0].get("supernet") or "")
    if not ckpt.is_file():
        raise GreenError(f"no supernet checkpoint {str(ckpt)!r}: pass --ckpt <last.ckpt>")
    base = ROOT / "outputs" / "bench" if args.out is None else Path(args.out)
    base.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="deploy_", dir=base))
    net, _ = load_supernet(ckpt)
    space = f"space={net.space.name}"
    lut_over = [space, *(SMOKE_LUT if args.smoke else [f"validate.subnets={args.subnets}"]), *args.overrides]
    where = Device.of("cpu", 1, "channels_last")
    configs, tables, raw_tables = {}, {}, {}
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        for t in TARGETS:  # 1. each target's table, validated with the same interleaved protocol
            few = ["target.table_calibration_images=2"] if args.smoke and t == "onnxruntime_int8" else []
            cfg = compose("lut", overrides=[f"paths.output_dir={work / t}", f"target={t}", *few, *lut_over])
            tables[t] = build_table(cfg)
            cfg.mode = "validate"
            res = validate_table(cfg)
            raw_tables[t] = {"table": input_ref(tables[t]),
                             "batches": {bs: {"subnets": b["subnets"]} for bs, b in res["batches"].items()}}
            configs[f"lut_{t}"] = OmegaConf.to_container(cfg, resolve=True)
        searched = {}
        for t in ("torch", "onnxruntime_int8"):  # 3. accuracy against latency on each target's table
            cfg = compose("search", overrides=[f"paths.output_dir={work / f'search_{t}'}", f"ckpt={ckpt}",
                                               f"table={tables[t]}", "progress=false", space,
                                               "search.objectives=[acc,latency]",
                                               *(SMOKE_SEARCH if args.smoke else []), *args.overrides])
            searched[t] = [m.arch for m in search(cfg).members]
            configs[f"search_{t}"] = OmegaConf.to_container(cfg, resolve=True)
    dm = instantiate(OmegaConf.create(configs["search_torch"]["data"]))
    dm.setup()
    if any(list(m.get("classes", dm.classes)) != list(dm.classes) for m in metas):
        raise GreenError("the winners were trained on other classes than this data: pass the run's data=... override")
    # 2. the winners through float32 and int8 ONNX Runtime (test accuracy through each runtime)
    int8 = target_of("onnxruntime_int8")
    _, acc = serve({w.name: load_subnet(w) for w in winners}, [int8], dm, where)
    raw_winners = [{"name": n, "float_correct": a.float_accuracy.correct, "int8_correct": a.accuracy.correct,
                    "images": a.accuracy.images, "calibration": dict(a.calibration or {})}
                   for n, a in acc["onnxruntime_int8"].items()]
    # 3. both fronts re-measured on int8: accuracy through the int8 runtime, latency in one interleaved session
    calib = CalibrationSet.of_data(dm, int(int8.calibration_images))
    archs = list(dict.fromkeys([*searched["onnxruntime_int8"], *searched["torch"]]))  # a shared member once
    batches = dm.calib_batches(int(configs["search_torch"]["eval"]["calib_images"]))
    shape = (1, int(dm.channels), int(dm.image_size), int(dm.image_size))
    sessions = {a: int8.session(extract_subnet(net, a, batches), shape, where, "float32", calib) for a in archs}
    correct = {a: _correct(s, dm) for a, s in sessions.items()}
    trials = 3 if args.smoke else args.trials
    lat = measure({a: s.caller(1, SEED) for a, s in sessions.items()}, where.torch, trials, 1 if args.smoke else 2,
                  1.0 if args.smoke else 20.0, SEED)
    member = {a: {"arch": a, "int8_correct": correct[a], "int8_latency_ms": lat[a]["median"]} for a in archs}
    raw = {"tables": raw_tables, "winners": raw_winners,
           "fronts": {"num_classes": int(dm.num_classes),
                      "int8_searched": [member[a] for a in dict.fromkeys(searched["onnxruntime_int8"])],
                      "torch_searched": [member[a] for a in dict.fromkeys(searched["torch"])]},
           "bootstrap": {"n_boot": N_BOOT, "level": LEVEL, "seed": SEED},
           "order": "per target: build, then validate (each subnet timed twice, interleaved per trial); fronts: "
                    "every member's int8 session in one shuffled round-robin"}
    result = {**headline({"raw": raw}), "raw": raw, "run": Path(args.run).name, "supernet": input_ref(ckpt),
              "smoke": args.smoke, "space": net.space.name}
    path = save("deploy", result, Path(args.out) if args.out else None, config={"bench": vars(args), **configs})
    for t, r in result["targets"].items():
        print(f"deploy: {t}: worst batch {r['worst_batch']}: MAPE {r['lut_mape']:.1%} (retest {r['retest_mape']:.1%}), "
              f"Spearman {r['lut_spearman']:.3f}")
    f = result["fronts"]
    print(f"deploy: int8 accuracy cost, worst winner: {result['int8_acc_drop_points']:+.2f} points; int8-searched "
          f"front HV minus torch-searched (on int8): {f['hv_diff']:+.4g} {f['hv_diff_ci95']} -> {path}")


if __name__ == "__main__":
    from core.errors import exit_on_error

    with exit_on_error("bench/deploy.py"):
        main()
