"""What does one candidate cost on each search route, measured side by side, and where does the supernet pay?

``bench/pipeline.py`` divides each search stage's booked energy by the candidates it evaluated; those stages ran
hours apart, under whatever load the machine had then. This measures the two per-candidate costs in one session,
interleaved (A, B, B, A, ... by round), with the machine's load around every item:

- **one-shot** (A): a candidate scored with the supernet's weights: BatchNorm recalibration and a pass over the
  validation images, the one-shot search's work per candidate;
- **multi-trial** (B): a candidate trained standalone for the stated budget (``multi_trial.*``) and then scored on
  the same images, the multi-trial search's.

Energies: one power figure for the session, measured once (codecarbon; on a machine without an energy counter an
estimate proportional to time, as the supernet's own record is), times each item's seconds. The supernet's training
energy is the record booked with its checkpoint (:mod:`search.pipeline.given`). :func:`headline` recomputes from the
per-item seconds: the per-candidate kWh of both routes (median, p10-p90), the break-even count
``N* = supernet / (trial - scoring)``, the energy ratio ``(supernet + N scoring) / (N trial)`` at ``--candidates``
(the one-shot search's count), and ``N*`` per round (its spread; an interval from 5 rounds up).

    python bench/breakeven.py --ckpt bench/results/reference/supernet.ckpt --candidates 6400 experiment=cifar10_cpu \\
        data=imagefolder data.root=../shared/data/cifar10 data.train_subset=20000 eval.val_images=1000 \\
        eval.calib_images=256 multi_trial.epochs=5 multi_trial.train_subset=5000
    python bench/breakeven.py --quick        # a tiny digits supernet, two short rounds
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

if __package__ in (None, ""):  # run as a file, `python bench/<name>.py`: see bench/__init__.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.common import ROOT, input_ref, save  # noqa: E402
from core.errors import GreenError  # noqa: E402
from search.stats import MIN_VALUES, interval  # noqa: E402

J_PER_KWH = 3.6e6


def _spread(values: Sequence[float]) -> dict[str, float]:
    """Median and p10-p90 of a few values (the measured times are skewed by the odd slow item)."""
    q = statistics.quantiles(values, n=10, method="inclusive") if len(values) > 1 else [values[0]] * 9
    return {"median": statistics.median(values), "p10": q[0], "p90": q[-1], "n": len(values)}


def _figures(supernet_kwh: float, scoring_kwh: float, trial_kwh: float, n: int) -> dict[str, float | None]:
    """N* and the energy ratio at ``n``: the pipeline's own break-even (:class:`search.pipeline.breakeven.BreakEven`)."""
    from search.pipeline.breakeven import BreakEven

    b = BreakEven(supernet_kwh, scoring_kwh, trial_kwh, n)
    return {"breakeven_candidates": b.breakeven_candidates, "energy_ratio": b.energy_ratio}


def headline(result: dict) -> dict:
    """The figures, from the per-item seconds and the session's power figure stored in ``result["raw"]``."""
    raw = result["raw"]
    watts, s_kwh, n = raw["power_w"], raw["supernet_kwh"], raw["candidates"]
    kwh = lambda s: s * watts / J_PER_KWH  # noqa: E731
    score_s = [i["seconds"] for r in raw["rounds"] for i in r["scoring"]]
    trial_s = [r["trial"]["seconds"] for r in raw["rounds"]]
    score, trial = _spread(score_s), _spread(trial_s)
    per_round = [_figures(s_kwh, kwh(statistics.median(i["seconds"] for i in r["scoring"])),
                          kwh(r["trial"]["seconds"]), n)["breakeven_candidates"] for r in raw["rounds"]]
    finite = [x for x in per_round if x is not None]
    busy = sum(bool(i["load"]["busy"]) for r in raw["rounds"] for i in [*r["scoring"], r["trial"]])
    return {"scoring_seconds": score, "trial_seconds": trial,
            "scoring_kwh": kwh(score["median"]), "trial_kwh": kwh(trial["median"]),
            "trial_over_scoring": trial["median"] / score["median"],
            **_figures(s_kwh, kwh(score["median"]), kwh(trial["median"]), n), "candidates": n,
            "breakeven_candidates_per_round": per_round,
            "breakeven_candidates_ci95": interval(statistics.median, finite),  # None below 5 rounds
            "interval": "bootstrap over rounds" if len(finite) >= MIN_VALUES else "none: fewer than 5 rounds",
            # one scale: the supernet's booked seconds at this session's power figure (its kWh was booked in other
            # sessions, at codecarbon's power figures of then)
            "same_scale": {**_figures(kwh(raw["supernet_record"]["seconds"]), kwh(score["median"]),
                                      kwh(trial["median"]), n),
                           "supernet_kwh": kwh(raw["supernet_record"]["seconds"]),
                           "note": "the supernet's booked seconds priced at this session's power figure"},
            "busy_items": busy, "items": len(score_s) + len(trial_s),
            "energy_source": f"{raw['power_source']} (one power figure for the session, {watts:.3g} W, times seconds)"}


def _timed(fn: Callable[[], Any], threads: int) -> tuple[Any, dict]:
    from core.load import Load, snapshot

    before, t = snapshot(), time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - t
    return out, {"seconds": seconds, "load": Load.between(before, snapshot(), threads).to_json()}


def measure(cfg: Any, ckpt: Path, rounds: int, per_round: int, power_s: float) -> dict:
    """The interleaved session: ``rounds`` rounds of ``per_round`` one-shot scorings and one trial, alternating
    which comes first; distinct random candidates throughout (seeded)."""
    import torch

    from core.device import Device
    from core.energy import find_meter, measure_power
    from search.evolution.evaluate import SubnetEvaluator
    from search.evolution.search import standalone_evaluator
    from search.pipeline.given import training_energy
    from supernet.checkpoint import load_matching

    given = training_energy(ckpt)  # refused before any work when the supernet's training energy is unknown
    device = Device.of(cfg.device, cfg.threads).activate().torch
    threads = torch.get_num_threads()
    net, _, dm = load_matching(cfg, str(ckpt), device)
    e = cfg.eval
    scorer = SubnetEvaluator(net, dm, e.calib_images, e.val_images, e.batch_size)
    trial = standalone_evaluator(cfg, scorer, dm, device)
    rng, seen = random.Random(int(cfg.seed)), set()

    def fresh():
        while True:
            arch = net.space.sample(rng)
            if str(arch) not in seen:
                seen.add(str(arch))
                return arch
    warm = fresh()
    scorer(warm)  # data loaded and kernels chosen before anything is timed
    reading = measure_power(lambda: scorer(warm), power_s, find_meter(device), str(cfg.country_iso_code))
    out = []
    for r in range(rounds):
        row: dict[str, Any] = {"order": "AB" if r % 2 == 0 else "BA", "scoring": []}
        for part in row["order"]:
            if part == "A":
                for _ in range(per_round):
                    arch = fresh()
                    score, item = _timed(lambda: scorer(arch), threads)
                    row["scoring"].append({"arch": str(arch), "acc": score["acc"], **item})
            else:
                arch = fresh()
                score, item = _timed(lambda: trial(arch), threads)
                row["trial"] = {"arch": str(arch), "acc": score["acc"], **item}
        out.append(row)
        print(f"breakeven: round {r + 1}/{rounds}: scoring median "
              f"{statistics.median(i['seconds'] for i in row['scoring']):.2f} s, trial {row['trial']['seconds']:.1f} s",
              flush=True)
    return {"rounds": out, "power_w": reading.watts, "power_source": reading.source, "power_seconds": reading.seconds,
            "supernet_kwh": given.energy_kwh, "supernet_record": dict(given.record), "supernet_epochs": given.epochs,
            "threads": threads, "budget": trial.budget(), "val_images": scorer.val_images}


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ckpt", help="the supernet checkpoint (its training energy booked with it)")
    p.add_argument("--candidates", type=int, default=None, help="N: the one-shot search's candidate count")
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--per-round", type=int, default=20, help="one-shot scorings per round")
    p.add_argument("--power-seconds", type=float, default=20.0, help="window of the session's power figure")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default=None, help="folder of breakeven.json (default outputs/bench)")
    p.add_argument("overrides", nargs="*", help="green-search overrides: data, eval.*, multi_trial.*, trainer")
    args = p.parse_args(argv)
    from hydra import compose, initialize_config_dir

    overrides = list(args.overrides)
    with tempfile.TemporaryDirectory() as tmp:
        if args.quick:
            from bench.common import quick_supernet

            ckpt = quick_supernet(Path(tmp), epochs=1)
            overrides = ["experiment=smoke", "eval.calib_images=64", "eval.val_images=64", "multi_trial.epochs=1",
                         "multi_trial.train_subset=128", "trainer.enable_progress_bar=false", *overrides]
            args.rounds, args.per_round, args.power_seconds = 2, 3, 1.0
            args.candidates = args.candidates or 100
        elif not args.ckpt:
            raise SystemExit("breakeven: --ckpt is required (the supernet whose training the one-shot route pays)")
        else:
            ckpt = Path(args.ckpt)
        if not args.candidates or args.candidates < 1 or args.rounds < 1 or args.per_round < 1:
            raise SystemExit("breakeven: --candidates, --rounds and --per-round must be >= 1")
        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
            cfg = compose("search", overrides=[*overrides, f"ckpt={ckpt}", "table=none", "search.mode=multi_trial",
                                               f"paths.output_dir={ROOT / 'outputs' / 'bench' / 'breakeven_run'}",
                                               "trainer.enable_progress_bar=false"])
        try:
            raw = measure(cfg, ckpt, args.rounds, args.per_round, args.power_seconds)
        except GreenError as err:
            raise SystemExit(f"breakeven: {err}") from None
    raw["candidates"] = int(args.candidates)
    result = {"raw": raw, "quick": args.quick, "supernet": None if args.quick else input_ref(ckpt)}
    result.update(headline(result))
    path = save("breakeven", result, Path(args.out) if args.out else None, config=cfg)
    n_star = result["breakeven_candidates"]
    print(f"breakeven: scoring {result['scoring_seconds']['median']:.2f} s, trial {result['trial_seconds']['median']:.1f}"
          f" s per candidate; N* {n_star if n_star is None else round(n_star)}; energy ratio at {args.candidates}: "
          f"{result['energy_ratio']:.3f} -> {path}")


if __name__ == "__main__":
    main()
