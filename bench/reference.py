"""Publish the reference supernet (issue 32): its weights, config, validation curves, training energy and wall time.

Reads a ``green-train`` run folder (``outputs/reference/supernet`` by default) and writes to ``--out``
(``bench/results/reference/``): ``supernet.ckpt`` (the last checkpoint without its optimizer state: a plain-data
torch file that :func:`supernet.checkpoint.load_supernet` and every benchmark load as they load a checkpoint,
carrying its training's energy record as ``green.train_energy``, so ``green-run ckpt=`` books it in its ledger),
``config.yaml`` (the run's composed config) and ``reference.json``: the provenance, the raw per-epoch
validation accuracy of the largest, middle and smallest subnet (from the run's TensorBoard logs), the booked
training energy and the checkpoint's sha256, and the headline figures :func:`headline` recomputes from them:

- ``plateau_points``: per subnet, how far validation accuracy moved over the last ``PLATEAU_EPOCHS`` (3)
  epochs (max minus min, in points; None unless all three are logged), and ``plateau_reached``: both the
  largest's and the smallest's below ``PLATEAU_POINTS`` (0.5) *and* the schedule ended (every planned epoch
  trained, by the checkpoint);
- ``final_val_acc`` per subnet, ``epochs_done`` (the checkpoint's) of ``epochs_planned``, ``epochs_logged`` (the
  epochs whose validation figures the logs still hold), ``train_kwh`` and ``train_seconds``
  (codecarbon's estimate, summed over the sessions that trained it; the wall time includes any time the
  process was paused, so both are upper bounds), ``energy_source``.

    python bench/reference.py                       # outputs/reference/supernet -> bench/results/reference
    python bench/reference.py --run <folder> --out outputs/bench/reference
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
from pathlib import Path

import torch

if __package__ in (None, ""):  # run as a file, `python bench/<name>.py`: see bench/__init__.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.common import ROOT, save  # noqa: E402
from supernet.checkpoint import read_checkpoint  # noqa: E402
from core.io import write_atomic  # noqa: E402
from core.jsontypes import JSONObject

PLATEAU_EPOCHS, PLATEAU_POINTS = 3, 0.5
SUBNETS = ("largest", "middle", "smallest")


def curves(run: Path, steps_per_epoch: int) -> dict[str, list[list[float]]]:
    """Per subnet, ``[epoch, validation accuracy]`` for each epoch the run's TensorBoard logs still hold (the last
    value logged at each step; the epoch, 1-based, from the step). A resumed run logs into new event files, so
    the epochs of a session whose files were not kept are simply absent, never guessed."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    by_step: dict[str, dict[int, float]] = {s: {} for s in SUBNETS}
    for f in sorted((run / "tb").rglob("events.out.tfevents*")):
        ea = EventAccumulator(str(f), size_guidance={"scalars": 0})
        ea.Reload()
        tags = set(ea.Tags()["scalars"])
        for s in SUBNETS:
            if f"val/acc_{s}" in tags:
                for e in ea.Scalars(f"val/acc_{s}"):
                    by_step[s][int(e.step)] = float(e.value)
    return {s: [[round(step / steps_per_epoch), v] for step, v in sorted(by_step[s].items())] for s in SUBNETS}


def headline(result: JSONObject) -> JSONObject:
    raw = result["raw"]
    c = {s: {int(e): float(v) for e, v in raw["curves"][s]} for s in SUBNETS}
    done = int(raw["checkpoint_epoch"]) + 1  # epochs trained: the checkpoint's, not the logs' (some may be gone)
    last = range(done - PLATEAU_EPOCHS + 1, done + 1)
    plateau = {s: (100 * (max(c[s][e] for e in last) - min(c[s][e] for e in last))
                   if done >= PLATEAU_EPOCHS and all(e in c[s] for e in last) else None) for s in SUBNETS}
    ended = done >= raw["epochs_planned"]
    flat = all(plateau[s] is not None and plateau[s] < PLATEAU_POINTS for s in ("largest", "smallest"))
    return {"epochs_done": done, "epochs_planned": raw["epochs_planned"], "schedule_ended": ended,
            "epochs_logged": sorted(set().union(*(c[s] for s in SUBNETS))),
            "plateau_points": plateau, "plateau_reached": ended and flat,
            "final_val_acc": {s: c[s].get(done) for s in SUBNETS},
            "train_kwh": raw["energy"]["energy_kwh"], "train_seconds": raw["energy"]["seconds"],
            "energy_source": raw["energy"]["source"], "train_sessions": raw["energy"].get("sessions")}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", type=Path, default=ROOT / "outputs" / "reference" / "supernet", help="green-train folder")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "reference")
    args = p.parse_args(argv)
    ckpt_path, energy_path = args.run / "checkpoints" / "last.ckpt", args.run / "energy_train.json"
    config_path = args.run / ".hydra" / "config.yaml"
    for f in (ckpt_path, energy_path, config_path):
        if not f.is_file():
            p.error(f"{f}: missing (is {args.run} a green-train run folder?)")
    from omegaconf import OmegaConf

    ckpt = read_checkpoint(ckpt_path)  # plain data only: refused otherwise
    cfg = OmegaConf.load(config_path)
    energy = json.loads(energy_path.read_text())
    slim = {k: ckpt[k] for k in ("green", "state_dict", "epoch", "global_step") if k in ckpt}
    slim["green"] = {**slim["green"], "train_energy": energy}  # green-run ckpt=... books it (search.pipeline.given)
    buf = io.BytesIO()
    torch.save(slim, buf)
    data = buf.getvalue()
    write_atomic(args.out / "supernet.ckpt", data)
    write_atomic(args.out / "config.yaml", OmegaConf.to_yaml(cfg))
    epochs, steps = int(ckpt.get("epoch", -1)) + 1, int(ckpt.get("global_step", 0))
    if epochs < 1 or steps < epochs:
        p.error(f"{ckpt_path}: no finished epoch in this checkpoint (epoch {epochs - 1}, global step {steps})")
    raw = {"curves": curves(args.run, steps // epochs), "epochs_planned": int(cfg.epochs),
           "energy": energy, "checkpoint_sha256": hashlib.sha256(data).hexdigest(),
           "checkpoint_epoch": int(ckpt.get("epoch", -1)), "checkpoint_global_step": int(ckpt.get("global_step", -1)),
           "space_digest": ckpt["green"].get("space_digest"),
           "plateau_rule": f"max - min of the last {PLATEAU_EPOCHS} epochs' validation accuracy < {PLATEAU_POINTS} "
                           "points for the largest and the smallest subnet, after the schedule ended"}
    result = {**headline({"raw": raw}), "raw": raw}
    path = save("reference", result, out_dir=args.out, config=OmegaConf.to_container(cfg, resolve=False))
    h = result
    print(f"reference: {h['epochs_done']}/{h['epochs_planned']} epochs, final val acc {h['final_val_acc']}, plateau "
          f"points {h['plateau_points']} (reached: {h['plateau_reached']}), {h['train_kwh']:.4f} kWh "
          f"({h['energy_source']}) -> {path}")


if __name__ == "__main__":
    sys.exit(main())
