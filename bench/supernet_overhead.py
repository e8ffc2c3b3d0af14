"""How much does running a subnet *inside* the supernet cost over the same subnet as a static net?

For random archs of the CIFAR-scale space, times a training step (forward, backward, optimizer
step) of the supernet with that arch active and of the extracted static network, interleaved
(A, B, A, B, ...) so machine drift hits both alike, and reports the median ratio per arch and
over archs. Also reports the largest logit difference between the two in eval mode.

``outputs/bench/supernet_overhead.json`` holds the provenance (commit, command line, the script's
settings and the composed space config), the raw per-repeat step times of both networks for every
arch (``raw.archs``) and the headline figures :func:`headline` computes from them
(``bench/recompute.py`` reruns it): per arch the median, min and max of the per-repeat
supernet/static ratios, and over archs the median of those medians with a bootstrap 95% interval
over archs, their spread, and the largest logit difference.

    python bench/supernet_overhead.py            # full run: 8 archs, batch 64
    python bench/supernet_overhead.py --quick    # under a minute on 2 cores
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F

if __package__ in (None, ""):  # run as a file, `python bench/<name>.py`: see bench/__init__.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.common import ROOT, device_info, save, spread, timed  # noqa: E402
from core.jsontypes import JSONObject  # noqa: E402
from search.stats import interval  # noqa: E402

N_BOOT, LEVEL, SEED = 2000, 0.95, 0  # the bootstrap protocol of every interval below
GOAL = 1.10  # the supernet step may cost at most 10% more than the static network's (median over archs)


def _median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs))


def headline(result: JSONObject) -> JSONObject:
    """The headline figures, from the raw per-repeat step times in ``result["raw"]`` only."""
    per_arch = []
    for a in result["raw"]["archs"]:
        ratios = [s / t for s, t in zip(a["supernet_step_s"], a["static_step_s"], strict=True)]
        per_arch.append({"arch": a["arch"], "ratio": spread(ratios), "supernet_step_s": _median(a["supernet_step_s"]),
                         "static_step_s": _median(a["static_step_s"]), "max_abs_logit_diff": a["max_abs_logit_diff"]})
    medians = [a["ratio"]["median"] for a in per_arch]
    ratio = _median(medians)
    return {
        "median_step_ratio": ratio,
        # none from fewer than 5 archs (search.stats.MIN_VALUES): the per-arch ratios are printed instead
        "median_step_ratio_ci": interval(_median, medians, n_boot=N_BOOT, level=LEVEL, seed=SEED),
        "step_ratio_spread": spread(medians),
        "max_abs_logit_diff": max(a["max_abs_logit_diff"] for a in per_arch),
        "goal": {"median_step_ratio_max": GOAL, "met": ratio <= GOAL},
        "archs": per_arch,
    }


def main() -> None:
    # imported here: bench/recompute.py and the tests load this module for headline() alone
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from supernet.net import SuperNet, extract_subnet

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer archs and repeats (under a minute)")
    p.add_argument("--archs", type=int, default=8)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=7, help="interleaved timing rounds per arch")
    p.add_argument("--steps", type=int, default=3, help="training steps per timed call")
    p.add_argument("--space", default="cifar")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if args.quick:
        args.archs, args.repeats, args.steps = 3, 3, 1
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        space_cfg = compose("train", overrides=[f"space={args.space}"]).space
    space = instantiate(space_cfg)
    res = space.resolutions[-1]
    net = SuperNet(space, num_classes=10, in_chans=3).to(device).train()
    x = torch.randn(args.batch, 3, res, res, device=device)
    y = torch.randint(0, 10, (args.batch,), device=device)
    rng = random.Random(args.seed)
    archs = [space.sample(rng) for _ in range(args.archs)]

    def step_fn(model, opt, call):
        def step():
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(call(model), y).backward()
            opt.step()
        return step

    raw_archs = []
    for arch in archs:
        static = extract_subnet(net, arch).train()
        sup_step = step_fn(net, torch.optim.SGD(net.parameters(), lr=1e-4, momentum=0.9), lambda m: m(x, arch))
        sta_step = step_fn(static, torch.optim.SGD(static.parameters(), lr=1e-4, momentum=0.9), lambda m: m(x))
        sup_step(), sta_step()  # warm-up (allocations, momentum buffers)
        t_sup, t_sta = [], []
        for _ in range(args.repeats):
            t_sup.append(timed(sup_step, args.steps, device))
            t_sta.append(timed(sta_step, args.steps, device))
        # equality after training steps moved the weights and BN statistics: re-extract, compare in eval
        net.eval()
        static = extract_subnet(net, arch).eval()
        with torch.no_grad():
            diff = float((static(x) - net(x, arch)).abs().max())
        net.train()
        raw_archs.append({"arch": str(arch), "supernet_step_s": t_sup, "static_step_s": t_sta,
                          "max_abs_logit_diff": diff})
        print(f"{arch}: step ratio {_median([a / b for a, b in zip(t_sup, t_sta)]):.3f} (supernet "
              f"{_median(t_sup) * 1e3:.1f} ms, static {_median(t_sta) * 1e3:.1f} ms), logit diff {diff:.2e}")

    raw = {"archs": raw_archs, "bootstrap": {"n_boot": N_BOOT, "level": LEVEL, "seed": SEED}}
    result = {**headline({"raw": raw}), "raw": raw, "batch": args.batch, "repeats": args.repeats,
              "steps_per_call": args.steps, "space": args.space, "quick": args.quick, **device_info(device)}
    config = {"bench": vars(args), "space": OmegaConf.to_container(space_cfg, resolve=True)}
    path = save("supernet_overhead", result, config=config)
    ci = result["median_step_ratio_ci"]
    ratios = result["step_ratio_spread"]
    shown = f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "(no interval below 5 archs)"
    print(f"median supernet/static step ratio {result['median_step_ratio']:.3f} {shown} over "
          f"{len(archs)} archs (range {ratios['min']:.3f}-{ratios['max']:.3f}), max logit diff "
          f"{result['max_abs_logit_diff']:.1e} -> {path}")


if __name__ == "__main__":
    main()
