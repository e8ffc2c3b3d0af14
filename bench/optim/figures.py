"""The optimizer benchmark's indicators, statistics and headline figures (``bench/optimizer.py`` defines them).

Hypervolume and IGD of normalised fronts, the Vargha-Delaney A12, the two-sided Mann-Whitney test, Holm's
correction, the cell verdicts and mean ranks; :func:`headline` computes every headline figure from a result's
raw data with numpy, scipy and moocore alone, as ``bench/recompute.py`` runs it.
"""
from __future__ import annotations

import statistics
from typing import Any, Sequence

import numpy as np

import search.evolution.objectives as objectives
from bench import problems as P
from bench.deap_loop import DEAP_CONFIGS
from bench.optim.setups import (ALPHA, ENGINE, HV_REF, OVERHEAD_FLAT, OVERHEAD_GOAL_MS, PYMOO_CONFIGS, PYMOO_NAME,
                                REJECTION)
from search.stats import mean_spread
from core.jsontypes import JSONObject


def normalise(F: Any, ideal: Sequence[float], nadir: Sequence[float]) -> np.ndarray:
    """Objective vectors scaled so the problem's ideal is 0 and its nadir 1 in every coordinate."""
    lo, hi = np.asarray(ideal, dtype=float), np.asarray(nadir, dtype=float)
    F = np.asarray(F, dtype=float).reshape(-1, len(lo))
    return (F - lo) / np.where(hi > lo, hi - lo, 1.0)


def nondominated(F: Any) -> np.ndarray:
    """Non-dominated rows of ``F`` (minimisation), equal rows kept once, in their order."""
    return P.nondominated(np.asarray(F, dtype=float))


def hypervolume(front: np.ndarray, ref: float = HV_REF) -> float:
    """Hypervolume of normalised points w.r.t. (ref, ..., ref); 0 for no points (the engine's indicator)."""
    return objectives.hypervolume(np.asarray(front, dtype=float), ref)


def igd(front: np.ndarray, reference: np.ndarray, empty: float = HV_REF) -> float:
    """Inverted generational distance: mean over ``reference`` of the distance to the nearest ``front`` point.

    An empty front counts as the single point (empty, ..., empty)."""
    reference = np.asarray(reference, dtype=float)
    front = np.asarray(front, dtype=float)
    if len(front) == 0:
        front = np.full((1, reference.shape[1]), empty)
    d = np.sqrt(((reference[:, None, :] - front[None, :, :]) ** 2).sum(axis=2))
    return float(d.min(axis=1).mean())


def a12(x: Sequence[float], y: Sequence[float]) -> float:
    """Vargha-Delaney A12: P(X > Y) + P(X = Y) / 2 for a draw of each sample."""
    xs, ys = np.asarray(x, dtype=float)[:, None], np.asarray(y, dtype=float)[None, :]
    return float(((xs > ys).sum() + 0.5 * (xs == ys).sum()) / (xs.size * ys.size))


def mann_whitney(x: Sequence[float], y: Sequence[float]) -> float:
    """Two-sided Mann-Whitney U p-value (scipy's default method); 1 when every value is the same."""
    from scipy.stats import mannwhitneyu

    if len(set(map(float, x)) | set(map(float, y))) <= 1:
        return 1.0
    return float(mannwhitneyu(x, y, alternative="two-sided").pvalue)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    out, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        out[i] = running
    return out


def verdict(hv_p: float, hv_a12: float, igd_p: float, igd_a12: float, alpha: float = ALPHA) -> str:
    """``worse``, ``better`` or ``same``: the engine (first sample) against a peer on both indicators.

    Larger hypervolume and smaller IGD are better; ``*_a12`` is P(engine > peer)."""
    hv_sig, igd_sig = hv_p < alpha, igd_p < alpha
    worse = (hv_sig and hv_a12 < 0.5) or (igd_sig and igd_a12 > 0.5)
    better = (hv_sig and hv_a12 > 0.5) or (igd_sig and igd_a12 < 0.5)
    return "worse" if worse else "better" if better else "same"


def _compare(mine: dict, theirs: dict, alpha: float) -> JSONObject:
    hv_p, igd_p = mann_whitney(mine["hv"], theirs["hv"]), mann_whitney(mine["igd"], theirs["igd"])
    hv_a, igd_a = a12(mine["hv"], theirs["hv"]), a12(mine["igd"], theirs["igd"])
    return {"hv_p": hv_p, "hv_a12": hv_a, "igd_p": igd_p, "igd_a12": igd_a,
            "verdict": verdict(hv_p, hv_a, igd_p, igd_a, alpha)}


def reference_fronts(raw: dict) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Every problem's reference front (the stored exact one, or the union of every run's front), normalised,
    with the ideal and nadir it is normalised by: its own least and largest value of each objective, as the
    literature scores ZDT and DTLZ (whose fronts span [0, 1])."""
    budget = max(raw["budgets"])
    out = {}
    for pid, prob in raw["problems"].items():
        if prob["reference"] == "exact":
            front = np.asarray(prob["reference_front"], dtype=float)
        else:
            fronts = [r["budgets"][str(budget)]["front"] for r in raw["runs"] if r["problem"] == pid]
            fronts = [f for f in fronts if len(f)]
            if not fronts:
                raise ValueError(f"no run of {pid} has a front to make its reference of")
            front = nondominated(np.vstack([np.asarray(f, dtype=float) for f in fronts]))
        ideal, nadir = front.min(axis=0), front.max(axis=0)
        out[pid] = (normalise(front, ideal, nadir), ideal, nadir)
    return out


def score_runs(raw: dict, refs: dict[str, tuple]) -> dict[tuple[str, str, int], JSONObject]:
    """(problem, algorithm, budget) -> per-seed hypervolume, IGD, generations, evaluations, feasible count."""
    out: dict[tuple[str, str, int], dict[str, Any]] = {}
    for run in sorted(raw["runs"], key=lambda r: (r["problem"], r["algorithm"], r["seed"])):
        ref, ideal, nadir = refs[run["problem"]]
        for b in raw["budgets"]:
            at = run["budgets"][str(b)]
            front = normalise(at["front"], ideal, nadir)
            s = out.setdefault((run["problem"], run["algorithm"], b),
                               {"seeds": [], "hv": [], "igd": [], "generations": [], "evaluated": [], "feasible": []})
            s["seeds"].append(run["seed"])
            s["hv"].append(hypervolume(front, raw["hv_ref"]))
            s["igd"].append(igd(front, ref, raw["hv_ref"]))
            for k in ("generations", "evaluated", "feasible"):
                s[k].append(at[k])
    return out


def mean_ranks(cells: Sequence[dict]) -> dict[str, float]:
    """Each algorithm's rank among all (1: best) by mean hypervolume and by mean IGD, averaged over the two
    indicators and the unconstrained cells where every algorithm ran: which set-up does best overall."""
    from scipy.stats import rankdata

    mine = [c for c in cells if not c["constrained"]]
    names = sorted(set.intersection(*(set(c["algorithms"]) for c in mine))) if mine else []
    ranks: dict[str, list[float]] = {a: [] for a in names}
    for c in mine:
        hv = rankdata([-c["algorithms"][a]["hv"]["mean"] for a in names])
        ig = rankdata([c["algorithms"][a]["igd"]["mean"] for a in names])
        for a, h, i in zip(names, hv, ig):
            ranks[a].append(float(h + i) / 2)
    return {a: statistics.fmean(r) for a, r in sorted(ranks.items(), key=lambda kv: statistics.fmean(kv[1]))}


def headline(result: JSONObject) -> JSONObject:
    """Every headline figure, from ``result["raw"]`` alone (fronts, reference fronts, bounds, timings)."""
    raw = result["raw"]
    alpha, budgets = raw["alpha"], list(raw["budgets"])
    refs = reference_fronts(raw)
    scores = score_runs(raw, refs)
    algos = sorted({a for _, a, _ in scores})
    peers = [a for a in algos if a != ENGINE]
    cells = []
    for pid, prob in raw["problems"].items():
        for b in budgets:
            cell: dict[str, Any] = {"problem": pid, "budget": b, "constrained": bool(prob["constrained"]),
                                    "algorithms": {}, "vs": {}}
            for a in algos:
                s = scores.get((pid, a, b))
                if s is None:
                    continue
                cell["algorithms"][a] = {
                    "hv": mean_spread(s["hv"]), "igd": mean_spread(s["igd"]),
                    "generations_mean": statistics.fmean(s["generations"]),
                    "evaluated_min": min(s["evaluated"]), "feasible_min": min(s["feasible"]),
                    "seeds": s["seeds"], "hv_per_seed": s["hv"], "igd_per_seed": s["igd"]}
            if (pid, ENGINE, b) in scores:
                for peer in peers:
                    if (pid, peer, b) in scores:
                        cell["vs"][peer] = _compare(scores[(pid, ENGINE, b)], scores[(pid, peer, b)], alpha)
            cells.append(cell)

    def counts(peer: str) -> dict[str, int]:
        mine = [c for c in cells if not c["constrained"] and peer in c["vs"]]
        ps = [c["vs"][peer][k] for c in mine for k in ("hv_p", "igd_p")]
        adj = holm(ps)
        for i, c in enumerate(mine):
            v = c["vs"][peer]
            v["hv_p_holm"], v["igd_p_holm"] = adj[2 * i], adj[2 * i + 1]
            v["verdict_holm"] = verdict(v["hv_p_holm"], v["hv_a12"], v["igd_p_holm"], v["igd_a12"], alpha)
        return {"cells_worse": sum(c["vs"][peer]["verdict"] == "worse" for c in mine),
                "cells_better": sum(c["vs"][peer]["verdict"] == "better" for c in mine),
                "cells_total": len(mine),
                "cells_worse_holm": sum(c["vs"][peer]["verdict_holm"] == "worse" for c in mine),
                "cells_better_holm": sum(c["vs"][peer]["verdict_holm"] == "better" for c in mine)}

    vs = {peer: counts(peer) for peer in peers}
    for c in cells:  # the constrained cells: tests without a family correction
        if c["constrained"]:
            for v in c["vs"].values():
                v["hv_p_holm"] = v["igd_p_holm"] = v["verdict_holm"] = None

    top = max(budgets)

    def feasible_share(algo: str) -> float | None:
        shares = [f / top for pid, prob in raw["problems"].items() if prob["constrained"]
                  for f in scores.get((pid, algo, top), {}).get("feasible", [])]
        return min(shares) if shares else None

    def overhead(kind: str) -> dict[str, float]:
        reps = raw.get("overhead", {}).get(kind, {})
        return {b: statistics.median(1000.0 * (r["wall_s"] - r["eval_s"]) / r["unique_evals"] for r in rs)
                for b, rs in reps.items()}

    references = [p for p in peers if p in PYMOO_CONFIGS or p in DEAP_CONFIGS]

    def against_references(key: str) -> dict[str, int]:
        """Cells where the engine is worse than any reference set-up (pymoo's NSGA-II, DEAP's loop), so worse
        than the best of them, and better than every one."""
        mine = [c for c in cells if not c["constrained"] and all(p in c["vs"] for p in references)] \
            if references else []
        return {"cells_worse": sum(any(c["vs"][p][key] == "worse" for p in references) for c in mine),
                "cells_better": sum(all(c["vs"][p][key] == "better" for p in references) for c in mine),
                "cells_total": len(mine)}

    plain, corrected = against_references("verdict"), against_references("verdict_holm")
    out = {**plain, "cells_worse_holm": corrected["cells_worse"], "cells_better_holm": corrected["cells_better"],
           "reference_peers": references}
    for peer in peers:
        out[f"vs_{peer}"] = vs[peer]
    share = feasible_share(ENGINE)
    # the feasibility repair against plain rejection sampling at equal cost checks, at the largest budget
    against_rejection = [c["vs"][REJECTION]["verdict"] for c in cells
                         if c["constrained"] and c["budget"] == top and REJECTION in c["vs"]]
    with_dir = overhead("engine_run_dir")
    by_budget = [with_dir[b] for b in sorted(with_dir, key=int)]
    growth = by_budget[-1] / by_budget[0] if by_budget and by_budget[0] > 0 else None
    out.update({
        "mean_rank": mean_ranks(cells),
        "mean_rank_few_choice": mean_ranks([c for c in cells if P.is_few_choice(c["problem"])]),
        "constrained_feasible_share": share, "constrained_feasible_share_pymoo": feasible_share(PYMOO_NAME),
        "constrained_feasible_share_peers": {p: feasible_share(p) for p in peers},
        "overhead_ms": with_dir, "overhead_ms_no_run_dir": overhead("engine_no_run_dir"),
        "overhead_growth": growth,
        "overhead_ms_pymoo": overhead("pymoo"),
        "reference_front_sizes": {pid: len(f[0]) for pid, f in refs.items()},
        "goals": {"no_cell_worse_than_peers_holm": out["cells_total"] > 0 and out["cells_worse_holm"] == 0,
                  "better_in_a_quarter_of_cells_holm": out["cells_total"] > 0 and
                  4 * out["cells_better_holm"] >= out["cells_total"],
                  "overhead_flat_at_most_0_3_ms": bool(by_budget) and max(by_budget) <= OVERHEAD_GOAL_MS and
                  growth is not None and growth <= OVERHEAD_FLAT,
                  "constrained_whole_budget_feasible": share == 1.0,
                  "constrained_better_than_rejection_sampling":
                      bool(against_rejection) and all(v == "better" for v in against_rejection)},
        "cells": cells,
    })
    return out
