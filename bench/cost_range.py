"""Does one supernet span the cost of the hand-designed compact CNNs? Smallest, middle, largest subnet vs six baselines.

Issue 17: the search can only beat the cheapest hand-designed nets if the space reaches their cost.
This script builds the space's smallest, middle and largest subnet (static networks: cost does not
depend on the weights) and the six baselines of ``conf/baselines.yaml`` (timm and torchvision,
randomly initialised, stems adapted to small inputs as ``green-baselines`` adapts them), counts
their parameters and MACs per image (``search.hardware.cost.count_net``, the cost model's own
counter) and times all of them in **one** measurement session (``search.hardware.measure``: every
model and batch size interleaved, shuffled each trial; medians with p10/p90), at batch 1 and at the
serving batch. A subnet gets its own input resolution (the data is resized once, before the model),
a baseline the data's 32x32.

``outputs/bench/cost_range.json`` holds the provenance, the raw session (``raw.models``: every
model's counts and latency figures) and the headline :func:`headline` recomputes from it: the fields
``smallest``, ``middle``, ``largest`` and ``baselines`` (name -> the same fields), each with ``macs``,
``params``, ``latency_ms_b1`` and ``latency_ms_serving``; and the goals: the smallest subnet below
the cheapest baseline in MACs and in both latencies, the largest above MobileNetV2 0.5 in MACs.

    python bench/cost_range.py                 # the cifar space, 15 trials per model and batch size
    python bench/cost_range.py --quick         # 3 trials: seconds
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file, `python bench/<name>.py`: see bench/__init__.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.common import ROOT, save  # noqa: E402
from core.jsontypes import JSONObject  # noqa: E402

SUBNETS = ("smallest", "middle", "largest")
FIELDS = ("macs", "params", "latency_ms_b1", "latency_ms_serving")
REFERENCE_LARGE = "mobilenetv2_050"  # the largest subnet should cost more than it (the top of the baselines' range)


def headline(result: JSONObject) -> JSONObject:
    """The cost-range table and its goals, from ``result["raw"]`` alone."""
    raw = result["raw"]
    serving = raw["serving_batch"]

    def row(name: str) -> JSONObject:
        m = raw["models"][name]
        return {"macs": m["macs"], "params": m["params"], "latency_ms_b1": m["latency_ms_b1"],
                "latency_ms_serving": m[f"latency_ms_b{serving}"], "arch": m.get("arch")}

    subnets = {s: row(s) for s in SUBNETS}
    baselines = {b: row(b) for b in raw["baselines"]}
    cheapest = {f: min(b[f] for b in baselines.values()) for f in FIELDS}
    small = subnets["smallest"]
    goals = {f"smallest_below_cheapest_baseline_{f}": small[f] < cheapest[f]
             for f in ("macs", "latency_ms_b1", "latency_ms_serving")}
    if REFERENCE_LARGE in baselines:
        goals["largest_above_mobilenetv2_050_macs"] = subnets["largest"]["macs"] > baselines[REFERENCE_LARGE]["macs"]
    return {**subnets, "baselines": baselines, "cheapest_baseline": cheapest,
            "macs_range": subnets["largest"]["macs"] / small["macs"], "goals": goals}


def main() -> None:
    import torch
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from search.deploy.baselines import build_baseline, parse_models
    from search.hardware.cost import count_net
    from search.hardware.measure import measure_models
    from supernet.net import GreenNet

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="3 trials per model and batch size")
    p.add_argument("--trials", type=int, default=15)
    p.add_argument("--batch-sizes", default="1,32", help="batch 1 and the serving batch")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("overrides", nargs="*", help="config overrides, e.g. space=cifar (the default)")
    args = p.parse_args()
    if args.quick:
        args.trials = 3
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        out = ROOT / "outputs" / "bench" / "cost_range"
        cfg = compose("baselines", overrides=["space=cifar", "data=cifar10", f"paths.output_dir={out}", *args.overrides])
    space = instantiate(cfg.space)
    image, in_chans, classes = int(cfg.data.image_size), 3, 10
    torch.manual_seed(0)
    models, raw_models = {}, {}
    for name, arch in (("smallest", space.smallest()), ("middle", space.middle()), ("largest", space.largest())):
        net = GreenNet(space, arch, classes, in_chans).eval()
        models[name] = (net, in_chans, arch.resolution)
        raw_models[name] = {"arch": str(arch), "resolution": arch.resolution}
    chosen = parse_models(cfg.models)
    for name, source in chosen.items():
        models[name] = (build_baseline(source, name, classes, in_chans, image).eval(), in_chans, image)
        raw_models[name] = {"source": source, "resolution": image}
    for name, (net, c, r) in models.items():
        raw_models[name]["params"], raw_models[name]["macs"] = count_net(net, r, c)
    with torch.no_grad():
        session = measure_models(models, torch.device("cpu"), batch_sizes, trials=args.trials, threads=args.threads)
    for name, figures in session.models.items():
        raw_models[name].update(figures.to_json())
    raw = {"models": raw_models, "baselines": list(chosen), "serving_batch": batch_sizes[-1],
           "session": session.conditions, "space": space.to_dict(), "space_digest": space.digest()}
    result = {**headline({"raw": raw}), "raw": raw, "quick": args.quick}
    config = {"bench": vars(args), "composed": OmegaConf.to_container(cfg, resolve=True)}
    path = save("cost_range", result, config=config)
    for name in (*SUBNETS, *chosen):
        r = result[name] if name in SUBNETS else result["baselines"][name]
        print(f"{name:24s} {r['macs'] / 1e6:7.2f} M MACs {r['params'] / 1e3:8.1f} k params "
              f"{r['latency_ms_b1']:7.3f} ms b1 {r['latency_ms_serving']:8.3f} ms b{batch_sizes[-1]}")
    print(f"goals: {result['goals']} -> {path}")


if __name__ == "__main__":
    main()
