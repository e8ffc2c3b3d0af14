"""Which standalone recipe is the cheapest whose ground truth can rank subnets? (issue 32's budget pilot)

A ground-truth table (``green-table``) ranks subnets only as well as one standalone training agrees with
another: its seed-to-seed Kendall tau is the noise ceiling of every ranking figure scored against it. This
pilot builds a small table (the same cost-stratified subnets of the ``cifar`` space, 2 seeds each) at each
of several recipes of increasing training images and epochs, and reports per recipe the seed-to-seed tau
with a bootstrap interval over subnets (also without the smallest and largest subnet, which make ranking
look easy), the plateau of the test curves, and what a full table at that recipe would cost (``--table-subnets``
subnets x 2 seeds, from the mean training time per subnet and seed here). The pick is the cheapest recipe
whose ceiling reaches ``--goal`` (0.6) with every one of its trainings done; none, if no recipe does.

Each recipe is one ``green-table`` run in ``outputs/pilot/<name>`` (resumable per subnet and seed: run this
script again to continue; ``--steps report`` only reports on what is finished). Recipes are
``NAME=IMAGES:EPOCHS``; the data are CIFAR-10 from ``--data-root`` (an ImageFolder copy), a stratified
validation split of 5,000 images that no figure here uses, and the 10,000 test images that score the
tables (the ground truth of the ranking benchmark is test accuracy too).

    python bench/budget_pilot.py --data-root ../shared/data/cifar10                     # run, then report
    python bench/budget_pilot.py --data-root ../shared/data/cifar10 --steps report      # report only
    python bench/budget_pilot.py --quick                                                # digits, minutes

Energy is codecarbon's estimate on a machine without an energy counter (proportional to time). Writes
``outputs/bench/budget_pilot.json`` and ``budget_pilot.png``; ``bench/recompute.py`` recomputes the headline
with :func:`headline` from the raw rows alone.
"""
from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Sequence

if __package__ in (None, ""):  # run as a file, `python bench/<name>.py`: see bench/__init__.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.common import ROOT, save  # noqa: E402
from search.stats import bootstrap_ci, kendall  # noqa: E402
from core.io import write_atomic  # noqa: E402
from core.jsontypes import JSONObject

RECIPES = ("r5k-e5=5000:5", "r10k-e8=10000:8", "r20k-e10=20000:10")
SUBNETS, STRATA, SEEDS = 10, 8, 2  # the smallest, the largest and one subnet from each of 8 MAC strata
TABLE_SUBNETS = 32  # the full table the pick is for (issue 32: >= 32 subnets, 2 seeds)
GOAL = 0.6
N_BOOT, LEVEL, BOOT_SEED = 2000, 0.95, 0
EXTREMES = ("smallest", "largest")
QUICK_RECIPES = ("q1=300:1", "q2=600:2")


def parse_recipe(text: str) -> JSONObject:
    """``NAME=IMAGES:EPOCHS`` -> {"name", "train_images", "epochs"}; a one-line ValueError otherwise."""
    name, _, rest = text.partition("=")
    images, _, epochs = rest.partition(":")
    if not name or not images.isdigit() or not epochs.isdigit() or int(images) < 1 or int(epochs) < 1:
        raise ValueError(f"recipe {text!r}: expected NAME=IMAGES:EPOCHS with positive whole numbers")
    return {"name": name, "train_images": int(images), "epochs": int(epochs)}


def seed_tau(rows: Sequence[dict], drop: Sequence[str] = ()) -> JSONObject:
    """Kendall tau between the two seeds' test accuracies over the subnets trained with both (without the
    roles in ``drop``), with a percentile bootstrap interval over subnets; the pairs it used."""
    by: dict[str, dict[int, float]] = {}
    roles: dict[str, str] = {}
    for r in rows:
        by.setdefault(r["arch"], {})[int(r["replicate"])] = float(r["test_acc"])
        roles[r["arch"]] = r["role"]
    archs = [a for a, s in by.items() if 0 in s and 1 in s and roles[a] not in drop]
    x, y = [by[a][0] for a in archs], [by[a][1] for a in archs]
    if len(archs) < 3:
        return {"tau": None, "ci": None, "n": len(archs)}
    lo, hi = bootstrap_ci(kendall, x, y, n_boot=N_BOOT, level=LEVEL, seed=BOOT_SEED)
    return {"tau": kendall(x, y), "ci": [lo, hi], "n": len(archs)}


def recipe_figures(recipe: dict, table_subnets: int, seeds: int) -> JSONObject:
    rows = recipe["rows"]
    secs = [float(r["train_seconds"]) for r in rows]
    kwh = [float(r["train_kwh"]) for r in rows]
    plateau = [float(r["plateau_points"]) for r in rows if r["plateau_points"] is not None]
    mean_s = statistics.fmean(secs) if secs else None
    return {
        "train_images": recipe["train_images"], "epochs": recipe["epochs"],
        "images_per_training": recipe["train_images"] * recipe["epochs"],
        "trainings_done": len(rows), "trainings_planned": recipe["planned"],
        "complete": len(rows) == recipe["planned"],
        "seed_tau": seed_tau(rows), "seed_tau_no_extremes": seed_tau(rows, EXTREMES),
        "mean_test_acc": statistics.fmean(float(r["test_acc"]) for r in rows) if rows else None,
        "mean_train_seconds": mean_s,
        "pilot_cpu_hours": sum(secs) / 3600, "pilot_kwh": sum(kwh),
        "table_cpu_hours": None if mean_s is None else mean_s * table_subnets * seeds / 3600,
        "table_kwh": None if not kwh else statistics.fmean(kwh) * table_subnets * seeds,
        "plateau_points_median": statistics.median(plateau) if plateau else None,
        "plateau_points_max": max(plateau) if plateau else None,
    }


def headline(result: JSONObject) -> JSONObject:
    """Every headline figure, from ``result["raw"]`` alone (the rows of each recipe's table)."""
    raw = result["raw"]
    recipes = {r["name"]: recipe_figures(r, raw["table_subnets"], raw["seeds"]) for r in raw["recipes"]}
    ok = [(f["table_cpu_hours"], name) for name, f in recipes.items()
          if f["complete"] and f["seed_tau"]["tau"] is not None and f["seed_tau"]["tau"] >= raw["goal"]]
    pick = min(ok)[1] if ok else None
    return {"recipes": recipes, "goal_tau": raw["goal"], "pick": pick,
            "pick_table_cpu_hours": recipes[pick]["table_cpu_hours"] if pick else None,
            "goals": {"a_recipe_reaches_the_ceiling": pick is not None},
            "energy_source": sorted({r["energy_source"] for rec in raw["recipes"] for r in rec["rows"]})}


def table_command(recipe: dict, data_root: str, quick: bool, threads: int | None) -> list[str]:
    out = ROOT / "outputs" / ("pilot_quick" if quick else "pilot") / recipe["name"]
    data = (["experiment=smoke", f"data.train_subset={recipe['train_images']}"] if quick else
            ["experiment=cifar10_cpu", "data=imagefolder", f"data.root={data_root}",
             f"data.train_subset={recipe['train_images']}", "data.val_size=5000"])
    plan = (["table.subnets=5", "table.strata=3", "table.pool=200"] if quick else
            [f"table.subnets={SUBNETS}", f"table.strata={STRATA}"])
    return ["green-table", *data, *plan, f"table.seeds={SEEDS}", f"epochs={recipe['epochs']}",
            "trainer.enable_progress_bar=false", *([f"threads={threads}"] if threads else []),
            f"hydra.run.dir={out}"]


def read_rows(recipe: dict, quick: bool) -> tuple[list[dict], int, dict]:
    """The finished rows of a recipe's table (each training's ``runs/*/row.json``: a build still under way counts
    what it has finished), its planned trainings and its identity (nothing yet: no rows, the default plan)."""
    import json

    folder = ROOT / "outputs" / ("pilot_quick" if quick else "pilot") / recipe["name"]
    if not (folder / "identity.json").is_file():
        return [], (5 if quick else SUBNETS) * SEEDS, {}
    ident = json.loads((folder / "identity.json").read_text())
    keep = ("arch", "replicate", "stratum", "role", "macs", "params", "test_acc", "val_acc", "train_seconds",
            "train_kwh", "energy_source", "plateau_points", "epochs", "images_seen")
    rows = [{k: r.get(k) for k in keep} for r in
            (json.loads(f.read_text())["result"] for f in sorted((folder / "runs").glob("*/row.json")))]
    for r in rows:  # nan (a one-epoch recipe) is not JSON
        if r["plateau_points"] is not None and r["plateau_points"] != r["plateau_points"]:
            r["plateau_points"] = None
    plan = ident["plan"]
    return rows, plan["subnets"] * plan["seeds"], {k: ident[k] for k in ("data", "recipe", "plan")}


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for name, f in result["recipes"].items():
        t = f["seed_tau"]
        if t["tau"] is None:
            continue
        x = f["table_cpu_hours"]
        ax.errorbar([x], [t["tau"]], yerr=[[t["tau"] - t["ci"][0]], [t["ci"][1] - t["tau"]]], fmt="o", capsize=4,
                    label=f"{name} ({f['trainings_done']}/{f['trainings_planned']} trainings)")
    ax.axhline(result["goal_tau"], color="grey", ls="--", lw=1, label=f"goal {result['goal_tau']}")
    ax.axhline(0.0, color="black", lw=0.5)
    ax.set_xlabel(f"CPU hours of a {result['raw']['table_subnets']}-subnet x {result['raw']['seeds']}-seed table "
                  "(this machine)")
    ax.set_ylabel("seed-to-seed Kendall tau (95% bootstrap)")
    ax.set_title("Budget pilot: the noise ceiling of a ground-truth table by recipe", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    write_atomic(path, buf.getvalue())


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipe", action="append", default=[], metavar="NAME=IMAGES:EPOCHS",
                   help=f"a recipe (repeatable; default {', '.join(RECIPES)})")
    p.add_argument("--data-root", default=None, help="CIFAR-10 as an ImageFolder (train/ and test/)")
    p.add_argument("--steps", default="run,report", help="run (train what is missing), report, or both")
    p.add_argument("--threads", type=int, default=None, help="CPU threads per training (default: green-table's)")
    p.add_argument("--table-subnets", type=int, default=TABLE_SUBNETS, help="subnets of the full table costed")
    p.add_argument("--quick", action="store_true", help="digits and two tiny recipes (a smoke test)")
    p.add_argument("--out", type=Path, default=None, help="folder of budget_pilot.json (default outputs/bench)")
    args = p.parse_args(argv)
    steps = {s.strip() for s in args.steps.split(",") if s.strip()}
    if not steps or steps - {"run", "report"}:
        p.error(f"--steps {args.steps!r}: choose run, report or both")
    try:
        recipes = [parse_recipe(t) for t in (args.recipe or (QUICK_RECIPES if args.quick else RECIPES))]
    except ValueError as err:
        p.error(str(err))
    if len({r["name"] for r in recipes}) != len(recipes):
        p.error("two recipes share a name")
    if "run" in steps and not args.quick:
        if not args.data_root or not (Path(args.data_root) / "train").is_dir():
            p.error(f"--data-root {args.data_root!r}: not a CIFAR-10 ImageFolder (no train/ folder)")
    if "run" in steps:
        for r in recipes:
            cmd = table_command(r, args.data_root or "", args.quick, args.threads)
            print("budget_pilot:", " ".join(cmd), flush=True)
            done = subprocess.run(cmd, cwd=ROOT)
            if done.returncode:
                raise SystemExit(f"budget_pilot: green-table for recipe {r['name']} failed (exit {done.returncode})")
    if "report" not in steps:
        return
    raw_recipes, identities = [], {}
    for r in recipes:
        rows, planned, ident = read_rows(r, args.quick)
        raw_recipes.append({**r, "rows": rows, "planned": planned})
        identities[r["name"]] = ident
    raw = {"recipes": raw_recipes, "table_subnets": args.table_subnets, "seeds": SEEDS, "goal": GOAL,
           "bootstrap": {"n_boot": N_BOOT, "level": LEVEL, "seed": BOOT_SEED}}
    result = {**headline({"raw": raw}), "raw": raw, "quick": args.quick}
    out_dir = args.out or (ROOT / "outputs" / "bench" / ("quick" if args.quick else ""))
    config = {"recipes": recipes, "subnets": SUBNETS, "strata": STRATA, "seeds": SEEDS, "threads": args.threads,
              "data_root": args.data_root, "identities": identities,
              "commands": {r["name"]: table_command(r, args.data_root or "", args.quick, args.threads)
                           for r in recipes}}
    path = save("budget_pilot", result, out_dir=out_dir, config=config)
    plot(result, path.with_suffix(".png"))
    for name, f in result["recipes"].items():
        t, tn = f["seed_tau"], f["seed_tau_no_extremes"]
        print(f"{name:10s} {f['trainings_done']:2d}/{f['trainings_planned']} trainings: tau {t['tau']} {t['ci']} "
              f"(no extremes {tn['tau']}), mean test acc {f['mean_test_acc']}, table "
              f"{f['table_cpu_hours']} CPU h")
    print(f"budget_pilot: pick {result['pick']} (goal tau >= {GOAL}) -> {path}")


if __name__ == "__main__":
    sys.exit(main())
