"""``green-finetune``: extract the winners of a search and fine-tune each standalone (Hydra app).

Each winner starts from its inherited weights (or from scratch with ``from_scratch=true``, the
baseline of the ranking benchmark) and is trained with Lightning on the training split, optionally
distilled from the supernet's largest subnet. The energy of each fine-tune is booked with
codecarbon (offline). Afterwards, on the held-out test split: accuracy and macro recall; on the
device: measured (not predicted) latency and energy. With ``target=`` each model is also deployed to that runtime
(:mod:`search.deploy.runtime`): its file, calibrated on training images where the target quantises, its test
accuracy through the runtime (int8 beside its float original) and its latency and energy measured in one
interleaved session. Each model is saved as an extraction folder under ``models/``; a finished model is skipped
when the command runs again on the same folder.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig

from search.deploy.export import save_subnet
from search.deploy.runtime import deploy_with, deployment_target
from search.training.fit import fit_and_measure, starting_model, train_batch
from search.deploy.winners import held_out_evaluator, pick_winners, read_run, search_ckpt
from search.hardware.cost import count
from search.jobs.launch import Job, launcher_of, memo
from core.device import set_threads
from supernet.checkpoint import load_matching
from core.errors import GreenError
from core.io import write_csv, write_json
from core.jsontypes import JSONObject
from supernet.net import GreenNet, extract_subnet


def _state(cfg: DictConfig) -> tuple[str, Any, Any, list, Any]:
    """The supernet checkpoint, the supernet, the data, the calibration batches and the teacher."""
    ckpt = cfg.ckpt  # set by finetune() from the search run when not given
    net, _, dm = load_matching(cfg, ckpt)
    calib = dm.calib_batches(cfg.calib_images)
    teacher = extract_subnet(net, net.space.largest(), calib).eval() if cfg.distill else None
    return str(ckpt), net, dm, calib, teacher


def finetune_job(cfg: DictConfig, job: Job) -> None:
    """Fine-tune one winner (``job.payload["arch"]``) with the job's seed; its folder holds the result."""
    ckpt, net, dm, calib, teacher = memo(cfg, _state)
    pl.seed_everything(job.seed, workers=True)
    arch, folder = net.space.validate(job.payload["arch"]), Path(job.folder)
    init = cfg.get("init", "default")
    model = starting_model(cfg, lambda inherited: extract_subnet(net, arch, calib) if inherited
                           else GreenNet(net.space, arch, net.num_classes, net.in_chans))
    params, macs = count(net.space, arch, net.num_classes, net.in_chans)
    started = f"scratch ({init})" if cfg.from_scratch else "inherited"
    row = {"name": str(arch), "arch": str(arch), "kind": "scratch" if cfg.from_scratch else "winner",
           "replicate": job.replicate, "init": started,
           "distilled": teacher is not None, "params": params, "macs": macs, **job.payload.get("selection", {}),
           **fit_and_measure(model, folder.name, dm, cfg, Path(cfg.paths.output_dir), calib, teacher, job.seed,
                             arch.resolution, net.num_classes, net.in_chans, callbacks=[job.progress("green-finetune")]
                             ).started(started).to_json()}
    chosen, files = deployment_target(cfg), {}
    if chosen is not None:  # the test accuracy of the runtime the model is deployed to, not only torch's
        record, files = deploy_with(cfg, model, chosen, dm, "test", str(arch))
        row.update(record.summary())
    save_subnet(model, folder, {**row, "result": row, "classes": list(dm.classes), "mean": list(dm.mean),
                                "std": list(dm.std), "supernet": ckpt}, onnx=cfg.onnx, files=files)
    lat = f", latency {row['latency_ms']:.2f} ms" if "latency_ms" in row else ""
    print(f"green-finetune: {arch} (seed {job.seed}): test acc {row['test_acc']:.4f}{lat} -> {folder}", flush=True)


def finetune(cfg: DictConfig) -> list[JSONObject]:
    """Fine-tune the chosen subnets, ``seeds`` times each; returns one row of figures per model and seed
    (also finetune.json/.csv). The fine-tunes run through the config's launcher (``launcher=joblib`` ...)."""
    if not cfg.archs and not cfg.run:
        raise GreenError("no subnets to fine-tune: pass archs=[<arch>,...] or run=<a green-search run folder>")
    if not cfg.archs and cfg.select not in ("spread", "top"):  # checked before the supernet and data load
        raise GreenError(f"unknown select {cfg.select!r}: use spread or top")
    launcher_of(cfg).check(cfg, "green-finetune")
    deployment_target(cfg)  # a target this machine cannot serve: one line before any training
    seeds = int(cfg.get("seeds", 1))
    set_threads(cfg.threads)
    out = Path(cfg.paths.output_dir)
    front = read_run(cfg)  # pareto.json, read once
    if not cfg.ckpt:  # the jobs (in this process or a launcher's) load the supernet the search recorded
        cfg.ckpt = search_ckpt(front, cfg.run)
    ckpt, net, dm, _, _ = memo(cfg, _state)
    archs, selection = pick_winners(cfg, net.space, front, held_out_evaluator(cfg, net, dm, front))
    names = [f"{i:02d}_{arch}" for i, arch in enumerate(archs)]
    payloads = [{"arch": str(a), "selection": selection.get(str(a), {})} for a in archs]
    rows = train_batch(cfg, names, out / "models", "arch.json", "green-finetune", finetune_job, payloads, seeds,
                       "fine-tuned")
    write_json(out / "finetune.json", {"models": rows, "supernet": ckpt, "seeds": seeds,
                                       "num_classes": net.num_classes})
    write_csv(out / "finetune.csv", [{k: v for k, v in r.items() if k != "test_correct"} for r in rows])  # bits: JSON only
    print(f"green-finetune: {len(rows)} models ({len(archs)} archs x {seeds} seeds) -> {out / 'finetune.json'} "
          f"(models in {out / 'models'})")
    return rows
