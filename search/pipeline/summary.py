"""The figures of a ``green-run`` folder, computed from what its stages wrote (nothing is re-measured).

Every final model is trained ``seeds`` times; a model's accuracy is the mean over its seeds with
the spread. Costs come from the run's single measurement session (``measure/measure.json``), so
latencies were taken round-robin and energies share one power figure. A baseline counts as
*dominated beyond noise* only when some winner is more accurate by more than the noise of the
two accuracies (the larger of their seed-to-seed standard deviations and the standard error of
the difference on the test images) and cheaper with non-overlapping p10-p90 ranges of the cost.

Two amortisation figures: against the multi-trial search the supernet replaces (same number of
evaluated candidates; energy of both routes, test hypervolume of both final fronts), and against
training the K winners from scratch.
"""
from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

import moocore
import numpy as np

from search.evolution.front import Front
from search.pipeline.breakeven import from_ledger
from search.pipeline.machine import load_summary
from search.pipeline.twins import compare
from search.stats import MIN_VALUES, accuracy_se, hypervolume_2d, interval, mean_spread
from core.errors import GreenError
from core.jsontypes import JSONObject

KINDS = {"finetune": "winner", "scratch": "scratch", "scratch_ft": "scratch-ft", "baselines": "baseline",
         "mt_train": "multi-trial", "eq_finetune": "one-shot-eq"}
COSTS = ("latency_ms", "latency_serving_ms", "energy_mj_per_image", "params", "total_train_kwh")
NOISY = ("latency_ms", "latency_serving_ms", "energy_mj_per_image")  # measured: judged with their p10-p90
LEDGER = ("train", "lut", "search", "finetune", "scratch", "scratch_ft", "baselines", "fidelity", "mt_search", "mt_train",
          "eq_search", "eq_finetune", "measure")


def _read(path: Path, allow_nan: bool = False) -> JSONObject:
    """A stage's JSON ({} when the stage left none); a damaged one, or one holding NaN or an infinity where a
    figure should be, is one line naming the file instead of a traceback or a report that prints nan."""
    if not path.is_file():
        return {}

    def refuse(constant: str) -> float:
        if allow_nan and constant == "NaN":  # an undefined figure (a tau over too few subnets), shown as n/a
            return float("nan")
        raise GreenError(f"{str(path)!r} holds {constant} where a figure should be: the stage that wrote it "
                         "failed; rerun that stage")
    try:
        data = json.loads(path.read_text(), parse_constant=refuse)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise GreenError(f"cannot read {str(path)!r} ({type(err).__name__}): rerun the stage that wrote it") from None
    if not isinstance(data, dict):
        raise GreenError(f"{str(path)!r} is not a JSON object: rerun the stage that wrote it")
    return data


def _front(folder: Path) -> Front | None:
    """The search front of a stage folder; None where the stage left none (a run assembled by hand)."""
    return Front.read(folder) if (folder / "pareto.json").is_file() else None


def ledger(root: Path) -> dict[str, JSONObject]:
    """kWh and CO2eq per stage, summed over the stage's codecarbon files, with their sources."""
    out = {}
    for stage in LEDGER:
        files = sorted((root / stage).rglob("energy_*.json"))  # nothing for a stage that did not run
        recs = [_read(f) for f in files]
        for f, r in zip(files, recs):
            missing = [k for k in ("energy_kwh", "co2eq_kg", "seconds", "source") if k not in r]
            if missing:
                raise GreenError(f"{str(f)!r} has no {missing[0]}: rerun the {stage} stage")
        out[stage] = {"energy_kwh": sum(r["energy_kwh"] for r in recs), "co2eq_kg": sum(r["co2eq_kg"] for r in recs),
                      "seconds": sum(r["seconds"] for r in recs), "files": len(recs),
                      "sources": sorted({r["source"] for r in recs}),
                      "grids": sorted({r["country_iso_code"] for r in recs if r.get("country_iso_code")})}
    return out


def aggregate(rows: Sequence[dict], stage: str, measured: dict[str, dict], share_kwh: float = 0.0) -> list[dict]:
    """One entry per model of a stage: accuracy over its seeds, costs from the measurement session.

    ``share_kwh`` is added to each model's own training energy (the winners' share of the supernet
    route: supernet, cost table and search, split over the K winners).
    """
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        groups[r["name"]].append(r)
    out = []
    for name, reps in groups.items():
        reps = sorted(reps, key=lambda r: r["replicate"])
        first = reps[0]
        m = measured.get(f"{stage}/{name}") or first  # standalone commands measured each model themselves
        if "latency_ms" not in m:
            raise GreenError(f"{stage}/{name} has no latency measurement: run the measure stage")
        serving = m["energy_batch_size"]
        acc = [float(r["test_acc"]) for r in reps]
        kwh = [float(r["train_energy_kwh"]) for r in reps]
        out.append({
            "name": name, "kind": KINDS[stage], "stage": stage, "arch": first["arch"],
            "params": first["params"], "macs": first["macs"], "seeds": [r.get("seed") for r in reps],
            "test_acc_per_seed": acc, "test_acc": mean_spread(acc)["mean"], "test_acc_std": mean_spread(acc)["std"],
            "test_recall": mean_spread([float(r["test_recall"]) for r in reps])["mean"],
            "test_images": int(first["test_images"]), "select_acc": first.get("select_acc"),  # winners only
            "latency_ms": m["latency_ms"], "latency_ms_p10": m.get("latency_ms_b1_p10", m["latency_ms"]),
            "latency_ms_p90": m.get("latency_ms_b1_p90", m["latency_ms"]),
            "latency_serving_ms": m.get(f"latency_ms_b{serving}", m["latency_ms"]),
            "latency_serving_ms_p10": m.get(f"latency_ms_b{serving}_p10", m["latency_ms"]),
            "latency_serving_ms_p90": m.get(f"latency_ms_b{serving}_p90", m["latency_ms"]),
            "serving_batch_size": serving, "energy_mj_per_image": m["energy_mj_per_image"],
            "energy_source": m["energy_source"], "power_w": m.get("power_w"),
            "train_kwh": mean_spread(kwh)["mean"], "total_train_kwh": mean_spread(kwh)["mean"] + share_kwh,
            "train_energy_source": first.get("train_energy_source"), "budget": first["budget"],
            **class_figures(reps),
        })
    for r in out:  # energy scales with the serving latency under one power figure: same relative spread
        lat = r["latency_serving_ms"]
        r["energy_mj_per_image_p10"] = r["energy_mj_per_image"] * r["latency_serving_ms_p10"] / lat
        r["energy_mj_per_image_p90"] = r["energy_mj_per_image"] * r["latency_serving_ms_p90"] / lat
    return out


def class_figures(reps: Sequence[dict]) -> JSONObject:
    """Per-class test figures of a model's replicates: worst-class recall and each class's recall (means over
    seeds), the confusion matrix summed over seeds; empty for rows written before they were kept."""
    if not all("test_class_recall" in r for r in reps):
        return {}
    classes = list(reps[0]["test_class_recall"])
    cms = [r["test_confusion"] for r in reps]
    return {"test_recall_min": mean_spread([float(r["test_recall_min"]) for r in reps])["mean"],
            "test_recall_min_per_seed": [float(r["test_recall_min"]) for r in reps],
            "test_class_recall": {c: mean_spread([float(r["test_class_recall"][c]) for r in reps])["mean"]
                                  for c in classes},
            "test_confusion": [[sum(cm[i][j] for cm in cms) for j in range(len(classes))]
                               for i in range(len(classes))]}


def acc_noise(a: dict, b: dict) -> float:
    """The accuracy difference two models must exceed to count: seed spread or test-set error."""
    se = [accuracy_se(m["test_acc"], m["test_images"]) / math.sqrt(len(m["test_acc_per_seed"]))
          for m in (a, b) if m["test_images"]]
    return max(a["test_acc_std"], b["test_acc_std"], math.sqrt(sum(x * x for x in se)))


def dominates(a: dict, b: dict, cost: str, beyond_noise: bool = False) -> bool:
    """``a`` is at least as accurate and as cheap on ``cost`` as ``b`` and better on one (or, beyond
    noise, better on both by more than the noise of each)."""
    if not beyond_noise:
        return (a["test_acc"] >= b["test_acc"] and a[cost] <= b[cost]) and \
            (a["test_acc"] > b["test_acc"] or a[cost] < b[cost])
    cheaper = a[f"{cost}_p90"] < b[f"{cost}_p10"] if cost in NOISY else a[cost] < b[cost]
    return a["test_acc"] - b["test_acc"] > acc_noise(a, b) and cheaper


def front(models: Sequence[dict], cost: str) -> list[dict]:
    """Models not dominated by any other on (test accuracy, ``cost``), cheapest first (equal models all kept)."""
    if not models:
        return []
    pts = np.array([(m["test_acc"], m[cost]) for m in models], dtype=float)
    keep = moocore.is_nondominated(pts, maximise=[True, False], keep_weakly=True)
    return sorted([m for m, k in zip(models, keep) if k], key=lambda r: r[cost])


CHANCE_MARGIN = 0.05  # a final model within 5 points of chance accuracy did not train


def failed_trainings(models: Sequence[dict], num_classes: int) -> list[str]:
    """Models whose test accuracy ends within 5 points of chance (1 / classes): failed trainings, listed apart."""
    return sorted(m["name"] for m in models if m["test_acc"] < 1.0 / num_classes + CHANCE_MARGIN)


def own_lr(winners: Sequence[dict], baselines: Sequence[dict]) -> list[dict]:
    """Baselines trained at a learning rate no winner used (``model_lr``: they failed under the shared one)."""
    shared = {m["budget"].get("lr") for m in winners}
    return [m for m in baselines if m["budget"].get("lr") not in shared]


def dominated_counts(winners: Sequence[dict], base: Sequence[dict], num_classes: int) -> JSONObject:
    """Baselines some winner dominates, plainly and beyond noise, per cost; ``total``: on latency and energy.

    A baseline that failed to train (:func:`failed_trainings`) is listed under ``failed`` and never counted
    as dominated: beating an untrained network says nothing about the search. ``of``: the baselines counted."""
    failed = failed_trainings(base, num_classes)
    base = [b for b in base if b["name"] not in failed]
    out: dict[str, Any] = {"failed": failed, "of": len(base)}
    for noise in (False, True):
        key = "beyond_noise" if noise else "plain"
        out[key] = {c: sorted(b["name"] for b in base if any(dominates(w, b, c, noise) for w in winners))
                    for c in COSTS}
        out[key]["total"] = sorted(set(out[key]["latency_ms"]) & set(out[key]["energy_mj_per_image"]))
    return out


def test_hypervolume(models: Sequence[dict], ref: tuple[float, float], acc_key: str = "test_acc") -> float:
    """Hypervolume of (test accuracy, energy per image) of a route's final models up to ``ref``."""
    return hypervolume_2d([(m[acc_key], m["energy_mj_per_image"]) for m in models], ref)


def hv_ratio(one_shot: Sequence[dict], multi: Sequence[dict], num_classes: int) -> JSONObject:
    """Test hypervolume of the one-shot route's final front over the multi-trial route's: the ratio per seed
    and, from 5 seeds, a bootstrap CI over seeds (the seeds of every model are resampled together; fewer give
    no interval, only the per-seed ratios)."""
    worst = 1.1 * max(m["energy_mj_per_image"] for m in [*one_shot, *multi])
    ref = (1.0 / num_classes, worst)  # chance accuracy, 10% beyond the costliest model: shared by both
    hv1, hv2 = test_hypervolume(one_shot, ref), test_hypervolume(multi, ref)
    n = min(len(m["test_acc_per_seed"]) for m in [*one_shot, *multi])

    def stat(idx):
        pick = [int(i) for i in idx]

        def at(ms):
            return [{**m, "boot": sum(m["test_acc_per_seed"][i] for i in pick) / len(pick)} for m in ms]
        b2 = test_hypervolume(at(multi), ref, "boot")
        return test_hypervolume(at(one_shot), ref, "boot") / b2 if b2 > 0 else math.nan
    return {"one_shot_hv": hv1, "multi_trial_hv": hv2, "ratio": hv1 / hv2 if hv2 > 0 else None,
            "ratio_per_seed": [stat([i]) for i in range(n)], "ratio_ci95": interval(stat, list(range(n))),
            "interval": "bootstrap over seeds" if n >= MIN_VALUES else "none: fewer than 5 seeds",
            "reference": list(ref), "seeds": n}


def summarise(root: str | Path) -> JSONObject:
    """The report's figures: models, dominated baselines, energy ledger, both amortisation figures."""
    root = Path(root)
    raw = {stage: _read(root / stage / ("baselines.json" if stage == "baselines" else "finetune.json"))
           .get("models", []) for stage in KINDS}
    if not raw["finetune"]:
        raise GreenError(f"{str(root)!r} has no fine-tuned winners (finetune/finetune.json): run the finetune stage")
    session = _read(root / "measure" / "measure.json")
    measured = session.get("models", {})
    led = ledger(root)
    k = len({r["name"] for r in raw["finetune"]})
    seeds = max(len({r.get("replicate", 0) for r in raw["finetune"]}), 1)
    supernet_kwh = sum(led[s]["energy_kwh"] for s in ("train", "lut", "search"))
    share = {"finetune": supernet_kwh / k,  # a winner's share of the supernet route
             "mt_train": (led["lut"]["energy_kwh"] + led["mt_search"]["energy_kwh"])
             / max(len({r["name"] for r in raw["mt_train"]}), 1)}
    models = {stage: aggregate(rows, stage, measured, share.get(stage, 0.0)) for stage, rows in raw.items() if rows}
    winners, base = models["finetune"], models.get("baselines", [])
    route = supernet_kwh + led["finetune"]["energy_kwh"] / seeds
    scratch_kwh = led["scratch"]["energy_kwh"] / seeds
    amort = {"k": k, "seeds": seeds, "supernet_epochs": _read(root / "train" / "metrics.json").get("epochs")
             or _read(root / "train" / "energy_train.json").get("supernet_epochs"),  # a given ckpt's (given.book)
             "supernet_route_kwh": route, "scratch_kwh": scratch_kwh,
             "ratio": route / scratch_kwh if scratch_kwh > 0 else None,
             "scratch_epochs": raw["scratch"][0]["epochs"] if raw["scratch"] else None,
             "note": "per seed: supernet + cost table + search + fine-tuning of the K winners, over the same K archs "
                     "trained from scratch for the winners' total epochs (codecarbon, both); above 1 the supernet "
                     "route cost more"}
    n_cls = int(_read(root / "finetune" / "finetune.json").get("num_classes") or 10)
    twins = {t: compare(raw["finetune"], raw[t]) if raw[t] else None for t in ("scratch", "scratch_ft")}
    gap = twins["scratch"] and twins["scratch"]["all"]["diff_points"]  # winners over the full-recipe twins
    multi = None
    if models.get("mt_train"):
        one, mt = _front(root / "search"), _front(root / "mt_search")
        mt_kwh = led["lut"]["energy_kwh"] + led["mt_search"]["energy_kwh"] + led["mt_train"]["energy_kwh"] / seeds
        multi = {"candidates": {"one_shot": one and one.unique_evals, "multi_trial": mt and mt.unique_evals},
                 "one_shot_kwh": route, "multi_trial_kwh": mt_kwh, "energy_ratio": route / mt_kwh if mt_kwh else None,
                 "trial_budget": mt and mt.multi_trial, **{f"test_hv_{k2}": v for k2, v in
                                                           hv_ratio(winners, models["mt_train"], n_cls).items()}}
        eq, eq_front = models.get("eq_finetune"), _front(root / "eq_search")
        multi["equal_candidates"] = eq and {  # the one-shot route searched with the multi-trial one's count
            "candidates": eq_front and eq_front.unique_evals,
            **{f"test_hv_{k2}": v for k2, v in hv_ratio(eq, models["mt_train"], n_cls).items()}}
        even = from_ledger(led, one.unique_evals, mt.unique_evals, k, seeds) if one and mt else None
        multi["breakeven"] = even and {**even.to_json(), "deployments_note": even.deployments_note(gap),
                                       "curves": even.curves()}
    sources = sorted({s for v in led.values() for s in v["sources"]})
    return {"models": models, "winners": winners, "scratch": models.get("scratch", []), "baselines": base,
            "multi_trial_models": models.get("mt_train", []), "dominated": dominated_counts(winners, base, n_cls),
            "ledger": led, "amortisation": amort, "multi_trial": multi, "energy_sources": sources,
            "twins": twins,
            "session": session.get("session"), "seeds": seeds,
            "deployed": session.get("deployed") or {}, "target_figures": session.get("targets") or {},
            "fidelity": _read(root / "fidelity" / "fidelity.json", allow_nan=True) or None,
            "stage_seconds": {k2: v["seconds"] for k2, v in _read(root / "run.json").get("stages", {}).items()},
            "load": load_summary(_read(root / "run.json").get("stages", {}))}
