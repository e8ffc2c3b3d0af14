"""The few-choice problems of bench/problems/few_choice.py (issue 31): this project's gene layout, genes that
interact, known answers on a small instance."""
from __future__ import annotations

import math

import numpy as np
import pytest

import bench.problems


@pytest.fixture
def problems():
    return bench.problems


def test_the_cifar_layout_is_the_cifar_spaces(problems, compose_cfg):
    """cifar-k<K> is about this project's space: the same genes, of the same number of choices."""
    from hydra.utils import instantiate

    space = instantiate(compose_cfg("train", "space=cifar").space)
    assert list(problems.CIFAR_LAYOUT) == space.gene_sizes() and set(space.gene_kinds()) == {"ordinal"}
    p = problems.make("cifar-k2")
    assert p.sizes == problems.CIFAR_LAYOUT and (p.k, p.seed) == (2, 0)
    assert problems.make("cifar-k2-s3").seed == 3 and problems.make("cifar-k2-s3").digest() != p.digest()


def test_known_answers_on_two_genes(problems):
    """Two genes of 3 and 2 choices, each reading the other (k = 1): capacity and cost by hand."""
    p = problems.FewChoice([3, 2], 1, 0, "t")
    p.w, p.v = np.array([1.0, 3.0]), np.array([2.0, 2.0])
    p.tables = [np.array([[0.1, 0.9], [0.2, 0.8], [0.3, 0.7]]), np.array([[0.4, 0.6, 0.5], [1.0, 0.0, 0.25]])]
    p.neighbours = [np.array([1]), np.array([0])]
    # genome (1, 1): x = (0.5, 1); gene 0 reads T0[1, 1] = 0.8, gene 1 reads T1[1, 1] = 0.0
    # capacity = (1 * 0.5 * 1.3 + 3 * 1 * 0.5) / 4 = 2.15 / 4; cost = (2 * 0.5 + 2 * 1) / 4 = 0.75
    got = p.one([1, 1])
    assert got["error"] == pytest.approx(0.05 + 0.9 * math.exp(-3 * 2.15 / 4), rel=1e-12)
    assert got["cost"] == pytest.approx(0.75, rel=1e-12)
    # genome (2, 0): x = (1, 0); T0[2, 0] = 0.3 -> capacity (1 * 1 * 0.8) / 4; cost 2 / 4
    got = p.one([2, 0])
    assert (got["error"], got["cost"]) == pytest.approx((0.05 + 0.9 * math.exp(-3 * 0.8 / 4), 0.5), rel=1e-12)
    assert p.one([0, 0]) == pytest.approx({"error": 0.95, "cost": 0.0}, rel=1e-12)


def test_genes_interact_and_the_bounds_hold(problems):
    """With k > 0 the best choice of a gene depends on another gene's (epistasis); with k = 0 it never does.
    Every value of a large random sample lies within the analytic bounds."""
    def best_choice_varies(p):
        rng = np.random.default_rng(0)
        for _ in range(200):
            g = [int(rng.integers(n)) for n in p.sizes]
            i = int(rng.integers(len(g)))
            best = set()
            for _ in range(5):  # the same gene under other backgrounds
                h = [int(rng.integers(n)) for n in p.sizes]
                errs = [p.one(h[:i] + [c] + h[i + 1:])["error"] for c in range(p.sizes[i])]
                best.add(int(np.argmin(errs)))
            if len(best) > 1:
                return True
        return False

    assert best_choice_varies(problems.make("few-8-k2")) and not best_choice_varies(problems.make("few-8-k0"))
    p = problems.make("cifar-k2")
    G = (np.random.default_rng(1).random((20_000, len(p.sizes))) * np.asarray(p.sizes)).astype(np.int64)
    F = p.evaluate(G)
    ideal, nadir = p.bounds()
    assert (F >= np.asarray(ideal)).all() and (F <= np.asarray(nadir)).all()


@pytest.mark.parametrize("name", ["cifar-x", "few-8", "few-a-k1", "cifar-k99"])
def test_a_bad_name_is_refused(problems, name):
    with pytest.raises(ValueError):
        problems.make(name)
