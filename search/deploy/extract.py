"""``green-extract``: one subnet of a trained supernet as a standalone model folder (Hydra app).

The arch comes from ``arch=`` (its string) or from a search run's ``pareto.json`` (``pareto=`` and
``index=``). Its BatchNorm is recalibrated on training images, its inherited accuracy measured on
the validation split, its cost predicted by a lookup table when ``table=`` is given; with ``target=`` it is
also deployed to that runtime (:mod:`search.deploy.runtime`: its file, calibrated on training images where it
quantises, its validation accuracy through the runtime and its measured latency and energy); then
:func:`search.deploy.export.save_subnet` writes the folder atomically.
"""
from __future__ import annotations

import os
from pathlib import Path

from omegaconf import DictConfig

from search.hardware.cost import CostModel, count
from search.evolution.front import Front
from search.evolution.evaluate import SubnetEvaluator
from search.deploy.export import check_out, save_subnet
from search.deploy.runtime import deploy_with, deployment_target
from supernet.arch import ArchConfig
from supernet.checkpoint import load_matching
from core.errors import ArchError, GreenError
from supernet.space import SearchSpace


def arch_from_pareto(path: str | Path, index: int, space: SearchSpace) -> ArchConfig:
    """The ``index``-th subnet of a search run's front (its folder or its ``pareto.json``)."""
    archs = Front.read(path, space).archs()
    if not -len(archs) <= index < len(archs):
        raise GreenError(f"pareto index {index} is out of range: the front has {len(archs)} subnets")
    return space.validate(archs[index])


def check_writable(out: Path, overwrite: bool) -> None:
    """Fail early (before any work) on an output folder that exists (and is not an extraction folder that
    ``overwrite`` may replace) or cannot be created."""
    check_out(out, overwrite)
    parent = out.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise GreenError(f"cannot write output folder {str(out)!r}: {str(parent)!r} is not writable")


def resolve_arch(cfg: DictConfig, space: SearchSpace) -> ArchConfig:
    if cfg.arch and cfg.pareto:
        raise GreenError("give either arch= or pareto= (with index=), not both")
    if cfg.arch:
        return space.validate(str(cfg.arch))
    if cfg.pareto:
        return arch_from_pareto(cfg.pareto, int(cfg.index), space)
    raise ArchError("no subnet given: pass arch=<arch string> or pareto=<search run> index=<i>")


def extract(cfg: DictConfig) -> Path:
    """Write the extraction folder described by ``cfg``; returns its path."""
    out = Path(cfg.out)
    check_writable(out, cfg.overwrite)
    chosen = deployment_target(cfg)  # a runtime or device this machine lacks: one line before the checkpoint loads
    net, _, dm = load_matching(cfg, cfg.ckpt)
    arch = resolve_arch(cfg, net.space)
    ev = SubnetEvaluator(net, dm, cfg.calib_images, cfg.val_images)
    scores = ev(arch)
    model = ev.extract(arch)
    params, macs = count(net.space, arch, net.num_classes, net.in_chans)
    info = {"params": params, "macs": macs, "val_acc": scores["acc"], "val_recall": scores["recall"],
            "classes": list(dm.classes), "mean": list(dm.mean), "std": list(dm.std), "supernet": str(cfg.ckpt)}
    if cfg.table:
        cost = CostModel.load(cfg.table, net.space, check_device=True, allow_mismatch=cfg.allow_mismatch).predict(arch)
        info.update(latency_ms=cost.latency_ms, energy_mj=cost.energy_mj, energy_source=cost.energy_source,
                    latency_batch_size=cost.batch_size)
    files: dict[str, bytes] = {}
    if chosen is not None:  # the inherited accuracy above is torch's on val_images; this one the runtime's
        record, files = deploy_with(cfg, model, chosen, dm, "val", str(arch))
        info.update(record.summary())
    save_subnet(model, out, info, onnx=cfg.onnx, overwrite=cfg.overwrite, files=files)
    deployed = f", {info['deployed_target']} val acc {info['deployed_val_acc']:.4f}" if chosen is not None else ""
    print(f"green-extract: {arch}: {params} params, {macs} MACs, inherited val acc {scores['acc']:.4f}{deployed} "
          f"-> {out}")
    return out
