"""Does the project train and evaluate at the machine's speed? Each real path against a bare PyTorch loop.

One interleaved session times, for the same network, batch and threads, (a) a **bare loop** on in-memory
tensors doing the same arithmetic and (b) the **project's path**:

- ``supernet_sandwich``: a supernet training step through :class:`SupernetModule` and a Lightning trainer,
  with the strategy's subnets per step (sandwich: largest, smallest, 2 random, in-place distillation);
  the bare loop runs the same subnets of the same steps with the same distillation and optimizer;
- ``supernet_largest`` / ``supernet_middle``: the same step with one arch active (a one-arch strategy);
- ``fit``: the standalone fit of baselines, scratch twins and fine-tunes (:func:`search.training.fit.fit`)
  on the middle arch's static network; bare: forward, label-smoothed loss, backward, step;
- ``evaluation``: scoring a subnet with inherited weights (:class:`SubnetEvaluator`: extraction, BN
  recalibration, validation); bare: BN recalibration and inference of the static net over the same images;
- ``lut``: the cost table's timed call (``runner`` + ``measure``) at the serving batch, reported only: it
  times on purpose (warm-up, repeats, interleaving), so it is not held to the bare loop's speed.

A Lightning step is timed end to end between consecutive ``on_train_batch_end`` calls (data, transfer,
augmentation, hooks, logging: everything a step costs), after one untimed step. Variants: memory format
(``contiguous`` = NCHW, the default before; ``channels_last``) x dtype (fp32; bf16 autocast) x threads (all
available cores; 1). Rounds are interleaved (every path and variant, project then bare, each round), the
load average recorded per round. Data: synthetic uint8 images through the project's own data module
(its transform and augmentation), so no decoding is timed. Headline: per path the project's img/s at the
default setting, the best bare loop's img/s at the same threads, their ratio, and the channels_last
speedup over NCHW.

    python bench/throughput.py                 # cifar space, batch 128, 5 rounds (about 20 minutes on 2 cores)
    python bench/throughput.py --quick         # tiny space, 2 rounds: a check that it runs
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

if __package__ in (None, ""):  # run as a file, `python bench/<name>.py`: see bench/__init__.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.common import ROOT, save  # noqa: E402
from bench.throughput_loops import (StepTimer, bare_eval, bare_fit, bare_supernet, lightning_fit,  # noqa: E402
                                   one_arch, synthetic_dm)
from core.device import available_cores, to_memory_format  # noqa: E402
from core.jsontypes import JSONObject

PATHS = ("supernet_sandwich", "supernet_largest", "supernet_middle", "fit", "evaluation", "lut")
HELD = PATHS[:-1]  # paths held to the bare loop's speed (the cost table times on purpose)
DEFAULT = "channels_last-fp32-T"


def headline(result: JSONObject) -> JSONObject:
    """img/s per path, variant and kind (median over rounds of the round's median step), ratios: raw data only."""
    rounds = result["raw"]["rounds"]
    img_s: dict[str, dict[str, dict[str, float]]] = {}
    per_round: dict[tuple, list[float]] = {}
    for rec in rounds:
        per_round.setdefault((rec["path"], rec["variant"], rec["kind"]), []).append(
            rec["images"] / statistics.median(rec["step_s"]))
    for (path, variant, kind), xs in per_round.items():
        img_s.setdefault(path, {}).setdefault(variant, {})[kind] = statistics.median(xs)
    paths = {}
    for path, variants in img_s.items():
        same_threads = [v for v in variants if v.endswith("-T")]
        bare = max(variants[v]["bare"] for v in same_threads)
        best = max(same_threads, key=lambda v: variants[v]["bare"])
        paths[path] = {"img_s": variants[DEFAULT]["project"], "bare_img_s": bare, "bare_best_variant": best,
                       "ratio": variants[DEFAULT]["project"] / bare, "held_to_ratio": path in HELD}
    speedup = {}
    for path in ("supernet_sandwich", "supernet_largest", "supernet_middle", "fit"):
        if path in img_s:
            ratios = [a / b for a, b in zip(per_round[(path, DEFAULT, "project")],
                                            per_round[(path, "contiguous-fp32-T", "project")])]
            speedup[path] = {"median": statistics.median(ratios), "per_round": ratios}
    return {"paths": paths, "img_s": img_s,
            "min_ratio_vs_bare": min(p["ratio"] for p in paths.values() if p["held_to_ratio"]),
            "speedup_vs_nchw": speedup,
            "goals": {"min_ratio_vs_bare_at_least_0.9": min(p["ratio"] for p in paths.values()
                                                            if p["held_to_ratio"]) >= 0.9,
                      "supernet_speedup_at_least_2": all(speedup[p]["median"] >= 2.0 for p in
                                                         ("supernet_largest", "supernet_middle") if p in speedup)}}


@dataclass
class RoundContext:
    """What every round times: the configs, the supernet, the step count and sizes, the scratch folder."""

    cfg: Any  # DictConfig (imported lazily: --help stays fast)
    ft_cfg: Any
    space: Any
    net: Any
    steps: int
    batch: int
    image_size: int
    cores: int
    calib: int
    val: int
    tmp: str = ""


def run_round(ctx: RoundContext, variant: str, r: int) -> list[JSONObject]:
    """Every path of one variant, project then bare for each; the round's records."""
    from hydra.utils import instantiate

    from search.training.fit import fit
    from search.evolution.evaluate import SubnetEvaluator
    from search.hardware.timing import measure, runner
    from supernet.module import SupernetModule
    from supernet.net import extract_subnet

    fmt, dtype, threads = variant.split("-")
    torch.set_num_threads(ctx.cores if threads == "T" else 1)
    bf16 = dtype == "bf16"
    autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext
    precision = "bf16-mixed" if bf16 else "32-true"
    cfg, space, steps, bs = ctx.cfg, ctx.space, ctx.steps, ctx.batch
    dm = synthetic_dm(ctx.image_size, 3, bs * (steps + 2), bs, fmt)
    x, y = dm.transform(dm.train_set.__getitems__(list(range(bs)))[0]), dm.train_targets[:bs]
    recs = []

    def rec(path: str, kind: str, step_s: list[float], images: int) -> None:
        recs.append({"round": r, "path": path, "variant": variant, "kind": kind, "step_s": step_s, "images": images,
                     "load_1min": os.getloadavg()[0]})

    out = Path(ctx.tmp)
    for path, strategy in (("supernet_sandwich", instantiate(cfg.strategy)),
                           ("supernet_largest", one_arch(space.largest())),
                           ("supernet_middle", one_arch(space.middle()))):
        net = copy.deepcopy(ctx.net)
        module = SupernetModule(net=net, strategy=strategy, optimizer=instantiate(cfg.optimizer),
                                scheduler=instantiate(cfg.scheduler), epochs=1, seed=0, **cfg.module)
        rec(path, "project", lightning_fit(module, dm, steps, precision, out), bs)
        net = to_memory_format(copy.deepcopy(ctx.net), fmt).train()
        rec(path, "bare", bare_supernet(net, strategy, space, x, y, steps, strategy.kd_ratio, autocast), bs)

    static = extract_subnet(ctx.net, space.middle())
    ft = ctx.ft_cfg
    model = copy.deepcopy(static)
    timer = StepTimer()
    ft.trainer.precision = precision
    fit(model, "middle", dm, ft, out / "fit", 0, torch.device("cpu"), "USA", callbacks=[timer])
    rec("fit", "project", timer.steps, bs)
    rec("fit", "bare", bare_fit(to_memory_format(copy.deepcopy(static), fmt), x, y, steps, autocast), bs)

    ev = SubnetEvaluator(copy.deepcopy(ctx.net), dm, calib_images=ctx.calib, val_images=ctx.val,
                         batch_size=256)
    images = ctx.calib + ctx.val
    times = []
    for _ in range(2):
        with autocast():
            times.append(ev(space.middle())["eval_seconds"])
    rec("evaluation", "project", times[1:], images)
    model = to_memory_format(extract_subnet(ctx.net, space.middle()), fmt)
    times = [bare_eval(model, ev.calib, ev.val_x, autocast) for _ in range(2)]
    rec("evaluation", "bare", times[1:], images)

    serve = 32
    model = to_memory_format(extract_subnet(ctx.net, space.middle()), fmt).eval()
    call = runner(model, (serve, 3, ctx.image_size, ctx.image_size), torch.device("cpu"), memory_format=fmt)
    with autocast():
        ms = measure({"m": call}, torch.device("cpu"), trials=3, warmup=2, min_call_ms=20)["m"]["median"]
    rec("lut", "project", [ms / 1e3], serve)
    xs = to_memory_format(torch.randn(serve, 3, ctx.image_size, ctx.image_size), fmt)
    times = []
    with torch.inference_mode(), autocast():
        for _ in range(6):
            t = time.perf_counter()
            model(xs)
            times.append(time.perf_counter() - t)
    rec("lut", "bare", times[1:], serve)
    return recs


def cpu_flags() -> list[str]:
    try:
        flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags")).split(":")[1].split()
    except (OSError, StopIteration):
        return []
    return sorted(f for f in flags if f.startswith(("avx", "amx", "fma", "sse4")))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=2, help="timed steps per path and round (after one untimed)")
    p.add_argument("--quick", action="store_true", help="tiny space, batch 32, 2 rounds, 1 step")
    p.add_argument("--variants", nargs="+", default=["contiguous-fp32-T", "channels_last-fp32-T",
                                                     "channels_last-bf16-T", "channels_last-fp32-1"])
    p.add_argument("--out", type=Path, default=None, help="folder of the result (default outputs/bench)")
    args = p.parse_args()
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    from core.cli import quiet

    quiet(False)
    space_name, batch = ("tiny", 32) if args.quick else ("cifar", 128)
    rounds, steps = (2, 1) if args.quick else (args.rounds, args.steps)
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=[f"space={space_name}"])
        ft_cfg = compose("finetune", overrides=["epochs=1", "trainer.enable_progress_bar=false",
                                                f"+trainer.limit_train_batches={steps + 1}",
                                                "+trainer.limit_val_batches=0", "trainer.enable_model_summary=false"])
    space = instantiate(cfg.space)
    image_size = max(space.resolutions)
    torch.manual_seed(0)
    net = instantiate(cfg.model.net)(space=space, num_classes=10, in_chans=3)
    ctx = RoundContext(cfg, ft_cfg, space, net, steps, batch, image_size, available_cores(), 256,
                       1024 if not args.quick else 128)
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        ctx.tmp = tmp
        for r in range(rounds):
            for variant in args.variants:
                t = time.perf_counter()
                recs = run_round(ctx, variant, r)
                records += recs
                print(f"throughput: round {r + 1}/{rounds} {variant}: " + ", ".join(
                    f"{x['path']}/{x['kind']} {x['images'] / statistics.median(x['step_s']):.0f}" for x in recs)
                    + f" img/s ({time.perf_counter() - t:.0f} s)", flush=True)
    result = {"quick": args.quick, "space": space_name, "batch_size": batch, "image_size": image_size,
              "rounds": rounds, "steps_per_round": steps, "cores": ctx.cores, "torch": torch.__version__,
              "cpu_capability": torch.backends.cpu.get_cpu_capability(), "cpu_flags": cpu_flags(),
              "default_variant": DEFAULT, "variants": args.variants,
              "protocol": "per round: each variant, each path, project then bare (interleaved A, B); one untimed "
                          "step first; img/s of a round = images per step / median step seconds",
              "raw": {"rounds": records}}
    result.update(headline(result))
    path = save("throughput", result, args.out)
    print(f"throughput: min ratio vs bare {result['min_ratio_vs_bare']:.3f}; speedup vs NCHW "
          + ", ".join(f"{k} {v['median']:.2f}x" for k, v in result["speedup_vs_nchw"].items()) + f" -> {path}")


if __name__ == "__main__":
    main()
