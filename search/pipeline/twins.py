"""Winners against their twins (the same archs trained another way), paired by seed and by test image.

A winner and its twin are scored on the same test images, and replicate ``i`` of each is one training run;
so their accuracy difference is paired twice. With at least :data:`~search.stats.MIN_VALUES` seeds the
interval is a two-level bootstrap (seeds, then images: :func:`~search.stats.two_level_ci`), which carries the
seed-to-seed variance; with fewer, it is a paired bootstrap over images of the difference averaged over the
seeds, which does not, and says so. Differences are in accuracy points (winner minus twin); per-image
correctness comes from each row's ``test_correct`` (:func:`supernet.metrics.pack_correct`).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from search.stats import MIN_VALUES, bootstrap_ci, two_level_ci
from supernet.metrics import unpack_correct
from core.jsontypes import JSONObject

N_BOOT, LEVEL, SEED = 2000, 0.95, 0


def correctness(rows: Sequence[JSONObject]) -> dict[str, dict[int, np.ndarray]]:
    """arch -> replicate -> per-image correctness, for the rows that carry it."""
    out: dict[str, dict[int, np.ndarray]] = {}
    for r in rows:
        if r.get("test_correct"):
            out.setdefault(str(r["arch"]), {})[int(r.get("replicate", 0))] = \
                unpack_correct(r["test_correct"], int(r["test_images"]))
    return out


def paired_difference(diffs: Sequence[np.ndarray]) -> JSONObject:
    """Mean of per-image differences (one array per seed, in points) with its interval, as the module says."""
    arrays = [100.0 * np.asarray(d, dtype=float) for d in diffs]
    per_seed = [float(a.mean()) for a in arrays]
    out: dict[str, Any] = {"diff_points": float(np.mean(per_seed)), "per_seed_points": per_seed, "seeds": len(arrays)}
    if len(arrays) >= MIN_VALUES:
        out["diff_ci"] = two_level_ci(arrays, n_boot=N_BOOT, level=LEVEL, seed=SEED)
        out["interval"] = "two-level bootstrap (seeds, then images)"
    else:
        pooled = np.mean(arrays, axis=0)
        out["diff_ci"] = list(bootstrap_ci(np.mean, pooled, n_boot=N_BOOT, level=LEVEL, seed=SEED))
        out["interval"] = (f"paired bootstrap over images of the mean over {len(arrays)} seed(s): the seed-to-seed "
                           f"variance is not in it (fewer than {MIN_VALUES} seeds)")
    return out


def compare(winners: Sequence[JSONObject], twins: Sequence[JSONObject]) -> JSONObject | None:
    """Each arch's winner against its twin, and all winners against all twins (per seed, the per-image difference
    averaged over the archs both have); None when no arch has both with per-image correctness."""
    w, t = correctness(winners), correctness(twins)
    archs = [a for a in w if a in t and set(w[a]) & set(t[a])]
    if not archs:
        return None
    seeds = sorted(set.intersection(*(set(w[a]) & set(t[a]) for a in archs)))
    per_arch = {a: paired_difference([w[a][s].astype(float) - t[a][s].astype(float)
                                      for s in sorted(set(w[a]) & set(t[a]))]) for a in archs}
    pooled = [np.mean([w[a][s].astype(float) - t[a][s].astype(float) for a in archs], axis=0) for s in seeds]
    return {"archs": archs, "per_arch": per_arch, "all": paired_difference(pooled) if seeds else None}
