"""Winners against their twins, paired by seed and test image (issue 32), with known answers."""
from __future__ import annotations

import numpy as np
from pytest import approx

from search.pipeline.twins import compare, correctness, paired_difference
from search.stats import bootstrap_ci, two_level_ci
from supernet.metrics import pack_correct


def _row(arch, rep, bits):
    return {"arch": arch, "replicate": rep, "test_correct": pack_correct(bits), "test_images": len(bits)}


def test_fewer_than_five_seeds_bootstrap_the_images_of_the_seed_mean():
    d = [np.array([1, 0, 0, 1, 0, -1, 0, 0]), np.array([1, 1, 0, 0, 0, 0, 0, -1])]
    out = paired_difference(d)
    assert out["diff_points"] == approx(100 * (1 / 8 + 1 / 8) / 2) and out["per_seed_points"] == approx([12.5, 12.5])
    pooled = 100 * np.mean([x.astype(float) for x in d], axis=0)
    assert out["diff_ci"] == approx(list(bootstrap_ci(np.mean, pooled, n_boot=2000, level=0.95, seed=0)))
    assert out["seeds"] == 2 and "not in it" in out["interval"]


def test_five_seeds_take_the_two_level_bootstrap():
    rng = np.random.default_rng(1)
    d = [rng.integers(-1, 2, 50) for _ in range(5)]
    out = paired_difference(d)
    assert out["diff_ci"] == approx(two_level_ci([100.0 * x for x in d], n_boot=2000, level=0.95, seed=0))
    assert out["interval"].startswith("two-level")


def test_compare_pairs_archs_seeds_and_images():
    a_w = [np.array([1, 1, 1, 0], bool), np.array([1, 1, 0, 0], bool)]
    a_t = [np.array([1, 0, 1, 0], bool), np.array([0, 1, 0, 0], bool)]
    b_w = [np.array([0, 0, 1, 1], bool)]
    b_t = [np.array([0, 0, 0, 1], bool)]
    winners = [_row("a", i, x) for i, x in enumerate(a_w)] + [_row("b", 0, b_w[0]), {"arch": "c", "replicate": 0}]
    twins = [_row("a", i, x) for i, x in enumerate(a_t)] + [_row("b", 0, b_t[0])]
    assert set(correctness(winners)) == {"a", "b"}  # a row without per-image correctness is left out
    out = compare(winners, twins)
    assert out["archs"] == ["a", "b"]
    assert out["per_arch"]["a"]["per_seed_points"] == approx([25.0, 25.0])
    assert out["per_arch"]["b"]["diff_points"] == approx(25.0)
    # all: only seed 0 is common to both archs; per image the mean over archs of (winner - twin)
    assert out["all"]["seeds"] == 1 and out["all"]["diff_points"] == approx(100 * np.mean([0, 0.5, 0.5, 0]))
    assert compare(winners, []) is None
