"""Which subnets of a search front get deployed: explicit archs, or the front's best, re-scored held out.

The search picked its front on its own validation images, so their accuracies carry the
selection's optimism (the winner's curse); :func:`held_out_evaluator` scores the front again on
validation images the search never looked at, and :func:`pick_winners` chooses from that front.
Used by ``green-finetune`` and ``green-hpo``, which read the search run's ``pareto.json`` once
(:func:`read_run`) and pass the :class:`Front` on.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import moocore
import numpy as np
from omegaconf import DictConfig

from search.evolution.front import Front

from supernet.arch import ArchConfig
from core.errors import GreenError
from core.jsontypes import JSONObject
from supernet.metrics import tracked_classes
from supernet.space import SearchSpace


def rescore_front(front: Front, evaluator: Any) -> list[JSONObject]:
    """The search's front re-scored on held-out validation images (``evaluator``), still non-dominated
    (equal members all kept), best first by the first objective.

    The front was selected on the search's own validation images, so its accuracies are biased
    upwards by the selection; the winners are picked on images the search never looked at.
    """
    rows = []
    for m in front.members:
        score = {k: v for k, v in evaluator(ArchConfig.parse(m.arch)).items() if k != "eval_seconds"}
        # objectives read the held-out scores (acc, recall, recall_min, recall:<class>) and the member's costs
        rows.append({"arch": m.arch, **{o.field: m[o.field] for o in front.objectives}, "search_acc": m.acc,
                     "search_recall": m.recall, **score, **{f"select_{k}": v for k, v in score.items()}})
    if not rows:
        return []
    pts = np.array([[float(r[o.field]) for o in front.objectives] for r in rows])
    keep = moocore.is_nondominated(pts, maximise=[o.maximise for o in front.objectives], keep_weakly=True)
    first = front.objectives[0]
    return sorted((r for r, k in zip(rows, keep) if k), key=lambda r: r[first.field], reverse=first.maximise)


def read_run(cfg: DictConfig) -> Front | None:
    """The front of the search run ``run=`` names, read once at the command's boundary; None when ``archs``
    and ``ckpt`` are both given (the run is then not needed) or no run is named."""
    if not cfg.get("run") or (cfg.get("archs") and cfg.get("ckpt")):
        return None
    return Front.read(cfg.run)


def pick_winners(cfg: DictConfig, space: SearchSpace, front: Front | None, evaluator: Any = None
                 ) -> tuple[list[ArchConfig], dict[str, dict[str, float]]]:
    """Explicit ``archs``, or ``top_k`` subnets of the search run's front (spread along it, or the top),
    with their held-out selection scores.

    With an ``evaluator`` of held-out validation images the front is first re-scored on them
    (:func:`rescore_front`) and the winners are picked from the re-scored front; the second value
    maps each front arch to its search and selection accuracies (empty without re-scoring).
    """
    if cfg.archs:
        return [space.validate(str(a)) for a in cfg.archs], {}
    if front is None:
        raise GreenError("no subnets to pick: pass archs=[<arch>,...] or run=<a green-search run folder>")
    pareto = front.of_space(space, str(Path(cfg.run) / "pareto.json"))
    rows = rescore_front(pareto, evaluator) if evaluator is not None else [{"arch": a} for a in pareto.archs()]
    front = [r["arch"] for r in rows]
    k = int(cfg.top_k)
    if k < 1:
        raise GreenError(f"top_k must be >= 1, got {k}")
    if cfg.select == "top" or k >= len(front):
        chosen = front[:k]
    elif cfg.select == "spread":
        chosen = [front[round(i * (len(front) - 1) / (k - 1))] for i in range(k)] if k > 1 else front[:1]
    else:
        raise GreenError(f"unknown select {cfg.select!r}: use spread or top")
    scores = {r["arch"]: {f: r[f] for f in ("search_acc", "select_acc", "select_recall", "select_recall_min")
                          if f in r} for r in rows} if evaluator is not None else {}
    return [space.validate(a) for a in dict.fromkeys(chosen)], scores


def pick_archs(cfg: DictConfig, space: SearchSpace, front: Front | None) -> list[ArchConfig]:
    """The archs :func:`pick_winners` picks without held-out re-scoring."""
    return pick_winners(cfg, space, front)[0]


def held_out_evaluator(cfg: DictConfig, net: Any, dm: Any, front: Front | None) -> Any:
    """Scorer of the validation images the search did not select on (None: no re-scoring asked for).

    The search scored its candidates on the first ``val_images`` validation images (recorded in
    ``pareto.json``); the next ``select_images`` (null: all the rest) re-score its front.
    """
    from search.evolution.evaluate import SubnetEvaluator

    n = cfg.get("select_images")
    if cfg.archs or n == 0 or front is None:
        return None
    if n is not None and n < 0:
        raise GreenError(f"select_images must be >= 0 (0: no re-scoring), got {n}")
    front = front.of_space(net.space, str(Path(cfg.run) / "pareto.json"))
    used = front.val_images
    if used is None:
        raise GreenError(f"{str(Path(cfg.run) / 'pareto.json')!r} does not record how many validation images the "
                         "search scored on; pass select_images=0 to pick winners without held-out re-scoring")
    dm.setup()
    left = len(dm.val_set) - int(used)
    if left < 1:
        raise GreenError(f"the search scored on all {len(dm.val_set)} validation images, so none is left to "
                         "re-score its front on: give the search fewer (eval.val_images) or pass select_images=0")
    n = left if n is None else min(int(n), left)
    fields = [o.field for o in front.objectives]
    return SubnetEvaluator(net, dm, cfg.calib_images, n, val_offset=int(used), track=tracked_classes(fields))


def search_ckpt(front: Front | None, run: str | None) -> str:
    """The supernet checkpoint the search run ``run`` recorded in its ``pareto.json`` (what ``ckpt=null`` means)."""
    if front is None or not run:
        raise GreenError("pass ckpt=<supernet checkpoint> (and run=<search run> or archs=[...])")
    ckpt = front.ckpt
    if not ckpt:
        raise GreenError(f"no supernet checkpoint recorded in {str(Path(run) / 'pareto.json')!r}; pass ckpt=")
    return ckpt
