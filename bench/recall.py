"""Does searching on worst-class recall find winners that miss fewer images of the rare classes?

On long-tailed data (``experiment=cifar10_lt``: CIFAR-10 with an imbalance ratio of 10, balanced test
split) one supernet is trained and priced once; then, for each seed, ``green-search`` runs twice at the
same budget: on (acc, recall_min, energy) and on (acc, energy). Each front is re-scored on validation
images the search did not use, and one winner is chosen per front under the same energy budget (the
median predicted energy of 500 random subnets, fixed before any search):

- searched without recall: the most accurate member (held-out validation accuracy);
- searched with recall_min: among members within 1 point of the most accurate one, the best held-out
  worst-class recall.

Both winners are fine-tuned with the same recipe and scored on the test split; the six hand-designed
baselines are trained with the same data option (``data.balance``) for the winners' total epochs.
``outputs/bench/recall.json`` holds the provenance, the raw data (energy sample, every re-scored front
member, the fine-tuned and baseline test figures with per-class recall and support) and the headline
figures :func:`headline` computes from them (``bench/recompute.py`` reruns it).

    python bench/recall.py --run outputs/bench/recall_c10lt --seeds 3 experiment=cifar10_lt data=imagefolder \\
        data.root=../shared/data/cifar10 data.train_subset=2000
    python bench/recall.py --quick          # long-tailed digits, tiny budgets, a few minutes
"""
from __future__ import annotations

import argparse
import math
import random
import sys
from pathlib import Path
from typing import Any, Sequence

if __package__ in (None, ""):  # run as a file, `python bench/<name>.py`: see bench/__init__.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.common import ROOT, input_ref, save  # noqa: E402
from core.jsontypes import JSONObject  # noqa: E402
from search.stats import interval, mean_spread  # noqa: E402

WITH, WITHOUT = "with_recall_min", "without"
OBJECTIVES = {WITH: ["acc", "recall_min", "energy"], WITHOUT: ["acc", "energy"]}
ACC_SLACK = 0.01  # points of held-out accuracy the recall-aware choice may give up


def choose(members: Sequence[dict], budget: float, setting: str) -> dict:
    """The winner of one re-scored front under the energy budget, by the setting's rule (module docstring)."""
    ok = [m for m in members if m["energy_mj"] <= budget] or [min(members, key=lambda m: m["energy_mj"])]
    best = max(m["select_acc"] for m in ok)
    if setting == WITHOUT:
        return max(ok, key=lambda m: (m["select_acc"], -m["energy_mj"]))
    near = [m for m in ok if m["select_acc"] >= best - ACC_SLACK]
    return max(near, key=lambda m: (m["select_recall_min"], m["select_acc"]))


def _se_min_recall(row: dict) -> float:
    """Binomial standard error of the worst class's test recall (its own test images)."""
    c = min(row["test_class_recall"], key=row["test_class_recall"].get)
    r, n = row["test_class_recall"][c], row["test_class_support"][c]
    return math.sqrt(r * (1 - r) / n) if n else math.nan


def headline(result: JSONObject) -> JSONObject:
    """The headline figures, from the raw data in ``result["raw"]`` only."""
    raw = result["raw"]
    budget = sorted(raw["energy_sample"])[len(raw["energy_sample"]) // 2]
    per_seed: dict[str, list[dict]] = {WITH: [], WITHOUT: []}
    for run in raw["runs"]:
        chosen = choose(run["front"], budget, run["setting"])
        tuned = run["finetuned"]
        if tuned["arch"] != chosen["arch"]:
            raise ValueError(f"seed {run['seed']} {run['setting']}: fine-tuned {tuned['arch']}, the rule chooses "
                             f"{chosen['arch']}")
        per_seed[run["setting"]].append({"seed": run["seed"], "arch": chosen["arch"], "energy_mj": chosen["energy_mj"],
                                         "test_acc": tuned["test_acc"], "test_recall_min": tuned["test_recall_min"],
                                         "se_recall_min": _se_min_recall(tuned)})
    for v in per_seed.values():
        v.sort(key=lambda r: r["seed"])
    seeds = [r["seed"] for r in per_seed[WITH]]
    if seeds != [r["seed"] for r in per_seed[WITHOUT]]:
        raise ValueError("both settings need the same seeds")

    def mean(setting: str, key: str) -> float:
        return mean_spread([r[key] for r in per_seed[setting]])["mean"]

    d_rec = [a["test_recall_min"] - b["test_recall_min"] for a, b in zip(per_seed[WITH], per_seed[WITHOUT])]
    d_acc = [a["test_acc"] - b["test_acc"] for a, b in zip(per_seed[WITH], per_seed[WITHOUT])]

    def ci(xs: list[float]) -> list[float] | None:
        """A bootstrap over seeds from 5 seeds; fewer give none (the per-seed values are in ``per_seed``)."""
        return interval(lambda v: sum(v) / len(v), xs, n_boot=2000, level=0.95, seed=0)

    base: dict[str, list[dict]] = {}
    for b in raw["baselines"]:
        base.setdefault(b["name"], []).append(b)
    baselines = {n: {"test_acc": mean_spread([r["test_acc"] for r in rs])["mean"],
                     "test_recall_min": mean_spread([r["test_recall_min"] for r in rs])["mean"],
                     "macs": rs[0]["macs"], "seeds": len(rs)} for n, rs in base.items()}
    rec_gain, acc_loss = sum(d_rec) / len(d_rec), -sum(d_acc) / len(d_acc)
    return {
        "imbalance_ratio": raw["imbalance_ratio"], "seeds": len(seeds), "energy_budget_mj": budget,
        "worst_class_recall": {WITH: mean(WITH, "test_recall_min"), WITHOUT: mean(WITHOUT, "test_recall_min")},
        "test_acc": {WITH: mean(WITH, "test_acc"), WITHOUT: mean(WITHOUT, "test_acc")},
        "worst_class_recall_gain": rec_gain, "worst_class_recall_gain_per_seed": d_rec,
        "worst_class_recall_gain_ci95": ci(d_rec),
        "test_acc_loss": acc_loss, "test_acc_loss_ci95": ci([-x for x in d_acc]),
        "noise": {"se_worst_class_recall": mean_spread([r["se_recall_min"] for v in per_seed.values()
                                                         for r in v])["mean"],
                  "seed_std_worst_class_recall": {k: mean_spread([r["test_recall_min"] for r in v])["std"]
                                                  for k, v in per_seed.items()}},
        "chosen": per_seed, "baselines": baselines,
        "winners_vs_baselines": {k: sum(mean(k, "test_recall_min") > b["test_recall_min"] for b in baselines.values())
                                 for k in (WITH, WITHOUT)},
        "goal": {"higher_worst_class_recall_at_most_1_point_acc_lost": rec_gain > 0 and acc_loss <= 0.01,
                 "higher_worst_class_recall_beyond_noise": bool(ci(d_rec)) and ci(d_rec)[0] > 0},
    }


def _front_rows(run_dir: Path, net: Any, dm: Any, calib_images: int) -> list[dict]:
    """The search's front re-scored on the validation images after those the search used."""
    from search.evolution.evaluate import SubnetEvaluator
    from search.evolution.front import Front
    from supernet.arch import ArchConfig

    front = Front.read(run_dir, net.space)
    scorer = SubnetEvaluator(net, dm, calib_images, None, val_offset=int(front.val_images))
    rows = []
    for m in front.members:
        s = scorer(ArchConfig.parse(m.arch))
        rows.append({"arch": m.arch, "energy_mj": m.energy_mj, "macs": m.macs, "search_acc": m.acc,
                     "search_recall_min": m.recall_min, "select_acc": s["acc"], "select_recall_min": s["recall_min"],
                     "select_images": scorer.val_images})
    return rows


def _tested(row: dict) -> dict:
    support = {c: sum(r) for c, r in zip(row["test_class_recall"], row["test_confusion"])}
    return {k: row[k] for k in ("name", "arch", "seed", "test_acc", "test_recall_min", "test_class_recall",
                                "test_images", "params", "macs") if k in row} | {"test_class_support": support}


def main() -> None:
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from search.deploy.baselines import baselines
    from search.deploy.finetune import finetune
    from search.evolution.search import search
    from search.hardware.cost import CostModel
    from search.hardware.lut import build_table
    from supernet.checkpoint import load_supernet
    from supernet.train import train

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--run", default=str(ROOT / "outputs" / "bench" / "recall_run"), help="work folder (resumable)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--baseline-seeds", type=int, default=None,
                   help="seeds per baseline (default: --seeds); the baselines are a side comparison, cut to save time")
    p.add_argument("--epochs", type=int, default=5, help="supernet epochs")
    p.add_argument("--finetune-epochs", type=int, default=1)
    p.add_argument("--population", type=int, default=8)
    p.add_argument("--generations", type=int, default=3)
    p.add_argument("--val-images", type=int, default=1000, help="validation images each search scores on")
    p.add_argument("--table", help="an existing green-lut table of the space (else one is built)")
    p.add_argument("overrides", nargs="*", help="shared overrides, e.g. experiment=cifar10_lt data=imagefolder ...")
    args = p.parse_args()
    run, over = Path(args.run), list(args.overrides)
    if args.quick:
        run = ROOT / "outputs" / "bench" / "recall_quick"
        over = ["experiment=smoke", "data.imbalance_ratio=10", "data.val_size=0.3", *over]
        args.seeds, args.epochs, args.population, args.generations, args.val_images = 2, 3, 6, 1, 150

    def cfg(name: str, *extra: str, out: Path) -> Any:
        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
            return compose(name, overrides=[*over, *extra, f"paths.output_dir={out}"])

    # resume=auto: a rerun on the folder continues (or skips) the supernet; searches, fine-tunes and
    # baselines resume in their own folders
    train_cfg = cfg("train", f"epochs={args.epochs}", "resume=auto", "trainer.enable_progress_bar=false",
                    out=run / "train")
    train(train_cfg)
    ckpt = run / "train" / "checkpoints" / "last.ckpt"
    table = Path(args.table) if args.table else run / "lut" / "lut.json"
    if not table.is_file():
        lut_over = ["calib.subnets=4", "validate.subnets=4", "protocol.trials=3"] if args.quick else []
        build_table(cfg("lut", *lut_over, f"table={table}", out=run / "lut"))
    net, _ = load_supernet(ckpt)
    costs = CostModel.load(table, net.space)
    rng = random.Random(0)
    sample = [costs.predict(net.space.sample(rng)).energy_mj for _ in range(500)]
    budget = sorted(sample)[len(sample) // 2]
    dm = instantiate(train_cfg.data)
    dm.setup()
    split = f"data.seed={dm.seed}"  # a seed changes the search and the training, never the supernet's split
    runs = []
    for seed in range(args.seeds):
        for setting, objectives in OBJECTIVES.items():
            out = run / "search" / f"{setting}_s{seed}"
            search(cfg("search", f"ckpt={ckpt}", f"table={table}", f"seed={seed}", split,
                       f"search.objectives=[{','.join(objectives)}]", f"search.population={args.population}",
                       f"search.generations={args.generations}", f"eval.val_images={args.val_images}",
                       "eval.calib_images=256", "progress=false", out=out))
            front = _front_rows(out, net, dm, 256)
            arch = choose(front, budget, setting)["arch"]
            tuned = finetune(cfg("finetune", f"ckpt={ckpt}", f"archs=[{arch}]", f"seed={seed}", split, "seeds=1",
                                 f"epochs={args.finetune_epochs}", "measure.enabled=false", "onnx=false",
                                 "trainer.enable_progress_bar=false", out=run / "finetune" / f"{setting}_s{seed}"))
            runs.append({"seed": seed, "setting": setting, "objectives": objectives, "front": front,
                         "finetuned": _tested(tuned[0])})
    route = args.epochs + args.finetune_epochs  # the baselines get the winners' total epochs
    models = [] if not args.quick else ["models=[timm/lcnet_050,torchvision/squeezenet1_1]"]
    base_seeds = args.seeds if args.baseline_seeds is None else args.baseline_seeds
    rows = baselines(cfg("baselines", f"seeds={base_seeds}", f"epochs={route}", "measure.enabled=false", "onnx=false",
                         "trainer.enable_progress_bar=false", *models, out=run / "baselines"))
    raw = {"imbalance_ratio": dm.imbalance_ratio, "energy_sample": sample, "runs": runs,
           "baselines": [_tested(r) for r in rows], "class_counts_train": {
               c: int((dm.train_targets == i).sum()) for i, c in enumerate(dm.classes)},
           "budgets": {"supernet_epochs": args.epochs, "finetune_epochs": args.finetune_epochs,
                       "baseline_epochs": route, "baseline_seeds": base_seeds, "population": args.population, "generations": args.generations,
                       "search_val_images": args.val_images, "acc_slack": ACC_SLACK}}
    result = {**headline({"raw": raw}), "raw": raw, "run": str(run), "table": str(table), "inputs": {"table": input_ref(table)}, "quick": args.quick}
    path = save("recall", result, config={"bench": vars(args), "train": OmegaConf.to_container(train_cfg,
                                                                                               resolve=True)})
    w, a = result["worst_class_recall"], result["test_acc"]
    print(f"recall: worst-class test recall {w[WITH]:.3f} (searched with recall_min) vs {w[WITHOUT]:.3f} (without), "
          f"gain {result['worst_class_recall_gain']:+.3f} {result['worst_class_recall_gain_ci95']}; test accuracy "
          f"{a[WITH]:.3f} vs {a[WITHOUT]:.3f}; {result['seeds']} seeds -> {path}")


if __name__ == "__main__":
    main()
