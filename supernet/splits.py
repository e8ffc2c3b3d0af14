"""How a data source's images are divided and drawn: stratified orders, long-tailed subsets, epoch samplers.

A *stratified order* of labelled images lists them so that every contiguous slice holds each class in
(nearly) its overall proportion. Splitting such an order at any point gives stratified parts, and so
does every later slice of one: the search scores on the first validation images, the winners are
picked on the ones after, and both slices keep the class proportions.

A *long-tailed* subset keeps, of class ``c`` (in the order of the class list), about
``n_max * ratio ** (-c / (C - 1))`` images: the exponential profile of the long-tailed CIFAR
benchmarks (Cao et al., LDAM, 2019), from ``n_max`` images of the first class down to
``n_max / ratio`` of the last.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Sampler

from core.errors import DataError

SPLITS = ("stratified", "random")


def stratified_order(labels: Sequence[int] | np.ndarray, seed: int) -> np.ndarray:
    """Positions ``0..n-1`` in an order whose every contiguous slice keeps the class proportions.

    Each class's images are shuffled and spread evenly over [0, 1) (image ``i`` of ``n_c`` at
    ``(i + u_c) / n_c``, with a random phase ``u_c`` per class); sorting by that key interleaves the
    classes, so a slice of ``k`` images holds ``k * n_c / n`` of class ``c`` up to one image.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    key = np.empty(len(labels), dtype=float)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        key[rng.permutation(idx)] = (np.arange(len(idx)) + rng.random()) / len(idx)
    tiebreak = rng.random(len(labels))
    return np.lexsort((tiebreak, key))


def random_order(n: int, seed: int) -> np.ndarray:
    """Positions ``0..n-1`` shuffled (the split of the versions before stratification)."""
    return np.asarray(torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist(), dtype=np.int64)


def split_order(labels: Sequence[int] | np.ndarray, split: str, seed: int) -> np.ndarray:
    """The order that validation and training images are taken from, by ``split`` (``SPLITS``)."""
    if split == "stratified":
        return stratified_order(labels, seed)
    if split == "random":
        return random_order(len(labels), seed)
    raise DataError(f"unknown data.split {split!r}; choose from {', '.join(SPLITS)}")


def long_tail_counts(counts: Sequence[int], ratio: float) -> list[int]:
    """Images kept per class for an exponential profile with ``ratio`` = first class / last class."""
    counts = [int(c) for c in counts]
    if len(counts) < 2:
        raise DataError("a long-tailed subset needs at least two classes")
    n_max, last = max(counts), len(counts) - 1
    return [min(c, max(1, int(n_max * ratio ** (-i / last)))) for i, c in enumerate(counts)]


def long_tail(labels: Sequence[int] | np.ndarray, num_classes: int, ratio: float, seed: int) -> np.ndarray:
    """Sorted positions of a long-tailed subset of ``labels`` (class ``i`` keeps ``long_tail_counts``'s count).

    Which images a class keeps is seeded; the profile follows the class order, so the first class is
    the head and the last the tail, as in the long-tailed CIFAR benchmarks.
    """
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not np.isfinite(ratio) or ratio < 1:
        raise DataError(f"data.imbalance_ratio must be a number >= 1 (first class / last class), got {ratio!r}")
    labels = np.asarray(labels)
    counts = np.bincount(labels, minlength=num_classes)
    empty = np.flatnonzero(counts == 0)
    if len(empty):
        raise DataError(f"cannot make a long-tailed subset: class index {int(empty[0])} has no training image")
    keep = long_tail_counts(counts.tolist(), float(ratio))
    rng = np.random.default_rng(seed)
    out = [rng.permutation(np.flatnonzero(labels == c))[:k] for c, k in enumerate(keep)]
    return np.sort(np.concatenate(out))


class EpochSampler(Sampler[int]):
    """Shuffles with a generator seeded by (seed, epoch): a resumed run sees the same order.

    Lightning calls ``set_epoch`` before each epoch (as for ``DistributedSampler``, which
    replaces this sampler in distributed runs).
    """

    def __init__(self, n: int, seed: int):
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 7919 + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())


class BalancedSampler(EpochSampler):
    """Class-balanced sampling: each epoch draws ``len(labels)`` images with replacement, every class equally
    likely (an image of class ``c`` with probability 1 / (C * n_c)), seeded by (seed, epoch) as
    :class:`EpochSampler`, so a resumed run draws the same images."""

    def __init__(self, labels: torch.Tensor, seed: int):
        super().__init__(len(labels), seed)
        counts = torch.bincount(labels)
        self.weights = 1.0 / counts[labels].double()

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 7919 + self.epoch)
        return iter(torch.multinomial(self.weights, self.n, replacement=True, generator=g).tolist())
