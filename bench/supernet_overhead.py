"""How much does running a subnet *inside* the supernet cost over the same subnet as a static net?

For random archs of the CIFAR-scale space, times a training step (forward, backward, optimizer
step) of the supernet with that arch active and of the extracted static network, interleaved
(A, B, A, B, ...) so machine drift hits both alike, and reports the median ratio per arch and
over archs. Also reports the largest logit difference between the two in eval mode.

    python bench/supernet_overhead.py            # full run: 8 archs, batch 64
    python bench/supernet_overhead.py --quick    # under a minute on 2 cores
"""
from __future__ import annotations

import argparse
import random
import statistics

import torch
import torch.nn.functional as F
from common import ROOT, device_info, save, spread, timed
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from supernet.net import SuperNet, extract_subnet


def main() -> None:
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
        space = instantiate(compose("train", overrides=[f"space={args.space}"]).space)
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

    per_arch = []
    for arch in archs:
        static = extract_subnet(net, arch).train()
        sup_step = step_fn(net, torch.optim.SGD(net.parameters(), lr=1e-4, momentum=0.9), lambda m: m(x, arch))
        sta_step = step_fn(static, torch.optim.SGD(static.parameters(), lr=1e-4, momentum=0.9), lambda m: m(x))
        sup_step(), sta_step()  # warm-up (allocations, momentum buffers)
        ratios, t_sup, t_sta = [], [], []
        for _ in range(args.repeats):
            a = timed(sup_step, args.steps, device)
            b = timed(sta_step, args.steps, device)
            t_sup.append(a), t_sta.append(b), ratios.append(a / b)
        # equality after training steps moved the weights and BN statistics: re-extract, compare in eval
        net.eval()
        static = extract_subnet(net, arch).eval()
        with torch.no_grad():
            diff = float((static(x) - net(x, arch)).abs().max())
        net.train()
        per_arch.append({"arch": str(arch), "ratio": spread(ratios), "supernet_step_s": statistics.median(t_sup),
                         "static_step_s": statistics.median(t_sta), "max_abs_logit_diff": diff})
        print(f"{arch}: step ratio {statistics.median(ratios):.3f} (supernet {statistics.median(t_sup) * 1e3:.1f} ms,"
              f" static {statistics.median(t_sta) * 1e3:.1f} ms), logit diff {diff:.2e}")

    medians = [a["ratio"]["median"] for a in per_arch]
    result = {
        "median_step_ratio": statistics.median(medians),
        "step_ratio_spread": spread(medians),
        "max_abs_logit_diff": max(a["max_abs_logit_diff"] for a in per_arch),
        "goal": {"median_step_ratio_max": 1.10, "met": statistics.median(medians) <= 1.10},
        "archs": per_arch,
        "batch": args.batch, "repeats": args.repeats, "steps_per_call": args.steps, "space": args.space,
        "quick": args.quick, **device_info(device),
    }
    path = save("supernet_overhead", result)
    print(f"median supernet/static step ratio {result['median_step_ratio']:.3f} over {len(archs)} archs "
          f"(range {min(medians):.3f}-{max(medians):.3f}), max logit diff {result['max_abs_logit_diff']:.1e} -> {path}")


if __name__ == "__main__":
    main()
