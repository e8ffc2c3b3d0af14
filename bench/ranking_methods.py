"""The ranking methods of ``bench/ranking.py`` scored on a ground-truth table: supernets by inherited accuracy
(one-shot, or the parts of a few-shot split), and accuracy predictors fitted on some of the table's subnets.

What a method's supernet training cost is read from its run folders; ``--method`` pairs are parsed and checked
before anything runs.
"""
from __future__ import annotations

import json
import random
import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from core.jsontypes import JSONObject

if TYPE_CHECKING:
    import torch


def training_cost(metas: Sequence[dict], ckpts: Sequence[Path]) -> JSONObject:
    """What training a method's supernet(s) cost, from each run folder's ``energy_train.json`` (a few-shot
    method also pays for the one-shot supernet its parts start from): kWh, seconds and the energy sources."""
    folders = [Path(c).parent.parent for c in ckpts]
    folders += list(dict.fromkeys(Path(m["fewshot"]["init_from"]).parent.parent for m in metas if m.get("fewshot")))
    kwh, sec, src = 0.0, 0.0, set()
    for f in folders:
        e = f / "energy_train.json"
        if not e.is_file():
            return {"kwh": None, "seconds": None, "sources": [], "missing": str(e)}
        rec = json.loads(e.read_text())
        kwh, sec = kwh + float(rec["energy_kwh"]), sec + float(rec["seconds"])
        src.add(rec["source"])
    return {"kwh": kwh, "seconds": sec, "sources": sorted(src), "runs": [str(f) for f in folders]}


def parse_methods(specs: Sequence[str]) -> dict[str, list[Path]]:
    """``NAME=CKPT`` (a supernet) or ``NAME=CKPT,CKPT,...`` (the parts of a few-shot split) pairs,
    names unique and checkpoints present."""
    out: dict[str, list[Path]] = {}
    for s in specs:
        name, sep, ckpts = s.partition("=")
        if not sep or not name or not ckpts:
            raise ValueError(f"--method {s!r}: expected NAME=CHECKPOINT[,CHECKPOINT...]")
        if name in out or name.endswith("+predictor"):
            raise ValueError(f"--method {name!r} given twice" if name in out
                             else f"--method {name!r}: names ending in +predictor are the predictors'")
        paths = [Path(c) for c in ckpts.split(",")]
        for c in paths:
            if not c.is_file():
                raise ValueError(f"--method {name}: no checkpoint at {str(c)!r}")
        out[name] = paths
    return out


def score_supernets(methods: dict[str, list[Path]], table, dm, calib_images: int,
                    val_images: int) -> tuple[JSONObject, JSONObject]:
    """Each method's raw record (its inherited accuracy on every subnet of ``table``, on ``val_images`` images
    after recalibrating BN on ``calib_images``, and its training cost) and its supernet, by name; a checkpoint
    whose space, data or image size is not the table's is refused (:class:`~core.errors.GreenError`)."""
    from search.evolution.evaluate import FewShotEvaluator, SubnetEvaluator, load_parts
    from supernet.checkpoint import check_data, load_supernet
    from core.errors import GreenError

    raw_methods: dict[str, Any] = {}
    nets = {}
    for name, ckpts in methods.items():
        if len(ckpts) > 1:
            split, parts = load_parts(ckpts)
            loaded = list(parts.values())
        else:
            split, loaded = None, [load_supernet(ckpts[0])]
        for net, meta in loaded:
            if net.space.digest() != table.identity["space"]:
                raise GreenError(f"--method {name}: the checkpoint's space {net.space.name!r} "
                                 f"({net.space.digest()}) is not the table's {table.identity['space_name']!r} "
                                 f"({table.identity['space']})")
            check_data(dm, meta)
            trained = (meta.get("data") or {}).get("image_size")
            if trained is not None and trained != table.identity["data"]["image_size"]:
                raise GreenError(f"--method {name}: the supernet saw {trained}px images, the table "
                                 f"{table.identity['data']['image_size']}px")
        if split is None:
            ev = SubnetEvaluator(loaded[0][0], dm, calib_images, val_images)
        else:
            ev = FewShotEvaluator(split, {v: SubnetEvaluator(n, dm, calib_images, val_images)
                                          for v, (n, _) in parts.items()})
        net = loaded[0][0]
        nets[name] = net
        scores = {a: ev(net.space.validate(a))["acc"] for a in table.archs()}
        raw_methods[name] = {"ckpts": [str(c) for c in ckpts], "val_images": ev.val_images, "scores": scores,
                             "few_shot_split": None if split is None else str(split),
                             "training": training_cost([m for _, m in loaded], ckpts)}
        print(f"ranking: {name}: scored {len(scores)} subnets on {ev.val_images} validation images", flush=True)
    return raw_methods, nets


def fit_predictors(raw_methods: JSONObject, nets: Mapping[str, torch.nn.Module], table, n_fit: int, n_splits: int,
                   kind: str) -> None:
    """Add ``<name>+predictor`` to ``raw_methods`` for each method: ``n_splits`` random splits of the table's
    subnets, an accuracy predictor (``kind``) fitted on ``n_fit`` of them (the method's scores and the standalone
    validation accuracy) and its predictions on the rest."""
    from search.evolution.predictor import AccuracyPredictor
    from core.errors import GreenError

    val_truth = {a: statistics.fmean(r.val_acc for r in rs) for a, rs in table.by_arch().items()}
    archs = table.archs()
    if n_fit >= len(archs) - 2:
        raise GreenError(f"--predictor-fit {n_fit} leaves fewer than 3 of the table's {len(archs)} subnets to score "
                         "the predictor on")
    for name in list(raw_methods):
        net, base = nets[name], raw_methods[name]["scores"]
        splits = []
        for r in range(n_splits):
            fit = sorted(random.Random(r).sample(archs, n_fit), key=archs.index)
            pred = AccuracyPredictor(net.space, net.num_classes, net.in_chans, kind, min(n_fit, 6))
            pred.fit(fit, [base[a] for a in fit], [val_truth[a] for a in fit])
            splits.append({"fit": fit, "pred": {a: pred.predict(a, base[a]) for a in archs if a not in fit}})
        raw_methods[f"{name}+predictor"] = {"base": name, "kind": kind, "splits": splits,
                                            "target": "standalone validation accuracy"}
