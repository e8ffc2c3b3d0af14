"""``green-finetune``: extract the winners of a search and fine-tune each standalone (Hydra app).

Each winner starts from its inherited weights (or from scratch with ``from_scratch=true``, the
baseline of the ranking benchmark) and is trained with Lightning on the training split, optionally
distilled from the supernet's largest subnet. The energy of each fine-tune is booked with
codecarbon (offline). Afterwards, on the held-out test split: accuracy and macro recall; on the
device: measured (not predicted) latency and energy. Each model is saved as an extraction folder
under ``models/``; a finished model is skipped when the command runs again on the same folder.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from search.deploy.export import save_subnet
from search.deploy.recipe import fit_and_measure, replicates, starting_model
from search.deploy.winners import held_out_evaluator, pick_winners, search_ckpt
from search.hardware.cost import count
from search.hardware.timing import set_threads
from supernet.checkpoint import load_matching
from supernet.io import write_csv, write_json
from supernet.net import GreenNet, extract_subnet
from supernet.validate import check_options


def finetune(cfg: DictConfig) -> list[dict[str, Any]]:
    """Fine-tune the chosen subnets, ``seeds`` times each; returns one row of figures per model and seed
    (also finetune.json/.csv)."""
    check_options(cfg)  # epochs, seeds, the recipe and the measurement, before any model trains
    seeds = int(cfg.get("seeds", 1))
    set_threads(cfg.threads)
    out = Path(cfg.paths.output_dir)
    ckpt = cfg.ckpt or search_ckpt(cfg.run)
    net, _, dm = load_matching(cfg, ckpt)
    archs, selection = pick_winners(cfg, net.space, held_out_evaluator(cfg, net, dm))
    calib = dm.calib_batches(cfg.calib_images)
    teacher = extract_subnet(net, net.space.largest(), calib).eval() if cfg.distill else None
    init = cfg.get("init", "default")
    rows = []
    names = [f"{i:02d}_{arch}" for i, arch in enumerate(archs)]
    for rep, i, folder, seed in replicates(names, seeds, cfg.seed, out / "models", "arch.json", "green-finetune", rows,
                                           "fine-tuned"):
        arch = archs[i]
        model = starting_model(cfg, lambda inherited: extract_subnet(net, arch, calib) if inherited
                               else GreenNet(net.space, arch, net.num_classes, net.in_chans))
        params, macs = count(net.space, arch, net.num_classes, net.in_chans)
        row = {"name": str(arch), "arch": str(arch), "kind": "scratch" if cfg.from_scratch else "winner",
               "replicate": rep, "init": f"scratch ({init})" if cfg.from_scratch else "inherited",
               "distilled": teacher is not None, "params": params, "macs": macs,
               **selection.get(str(arch), {}),
               **fit_and_measure(model, folder.name, dm, cfg, out, calib, teacher, seed, arch.resolution,
                                 net.num_classes, net.in_chans)}
        row["budget"]["init"] = row["init"]
        save_subnet(model, folder, {**row, "result": row, "classes": list(dm.classes), "mean": list(dm.mean),
                                    "std": list(dm.std), "supernet": str(ckpt)}, onnx=cfg.onnx)
        rows.append(row)
        lat = f", latency {row['latency_ms']:.2f} ms" if "latency_ms" in row else ""
        print(f"green-finetune: {arch} (seed {seed}): test acc {row['test_acc']:.4f}{lat} -> {folder}")
    write_json(out / "finetune.json", {"models": rows, "supernet": str(ckpt), "seeds": seeds,
                                       "num_classes": net.num_classes})
    write_csv(out / "finetune.csv", rows)
    return rows
