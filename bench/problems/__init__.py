"""The test problems of ``bench/optimizer.py``: discretised ZDT and DTLZ problems, a NAS-like one and few-choice ones.

Every problem is minimisation over a grid of integer genes (:mod:`bench.problems.base`). ZDT1-3 and DTLZ2
(:mod:`bench.problems.standard`) apply the standard formulas to ``x_i = g_i / (n - 1)`` and have exact
reference fronts for the discretised problem; the NAS-like problem (:mod:`bench.problems.naslike`) has 20
ordinal genes and three objectives (``error``, ``macs``, ``latency``), and a constrained variant that fewer than
one genome in a thousand meets; the few-choice problems (:mod:`bench.problems.few_choice`) have genes of 2-4
choices whose worth depends on other genes, at this project's ``cifar`` layout and others. Each module's
docstring says how its problems and reference fronts are defined.

The fixed normalisation bounds of a problem (``ideal`` and ``nadir``: the least and largest value of
each objective over the whole grid) come from a few candidate genomes that are known to hold them
(exact for ZDT and DTLZ2), from the NAS-like problem's one-gene extremes, or analytically (few-choice).

This module is the catalogue: :func:`make` builds a problem by name, and the problems' public names are
importable from here (``from bench import problems as P``; ``P.make``, ``P.NASLike``...).

Only numpy is needed (and moocore for the non-dominated filter): evaluations are vectorised over a matrix of
genomes (one row each).
"""
from __future__ import annotations

from bench.problems.base import ALPHABET, GridSpace, Point, Problem, nondominated
from bench.problems.few_choice import CIFAR_LAYOUT, FewChoice, few_choice, is_few_choice
from bench.problems.naslike import NASLike, macs_threshold
from bench.problems.standard import DTLZ2, ZDT

__all__ = ["ALL", "ALPHABET", "CIFAR_LAYOUT", "DTLZ2", "FAMILIES", "FEW_CELLS", "GRIDS", "UNCONSTRAINED", "ZDT",
           "FewChoice", "GridSpace", "NASLike", "Point", "Problem", "few_choice", "is_few_choice", "macs_threshold",
           "make", "nondominated"]

FAMILIES = ("zdt1", "zdt2", "zdt3", "dtlz2")
GRIDS = (8, 16, 32)
# the architecture-like cells: this project's layout and a 20- and a 40-gene instance of few-choice genes, with
# 1 to 4 interacting neighbours per gene (tuning uses other instances: other seeds and sizes)
FEW_CELLS = ("cifar-k1", "cifar-k3", "few-20-k2", "few-40-k4")
UNCONSTRAINED = tuple(f"{f}-{n}" for f in FAMILIES for n in GRIDS) + ("nas",) + FEW_CELLS
ALL = UNCONSTRAINED + ("nas-constrained",)


def make(name: str, threshold: float | None = None) -> Problem:
    """The problem called ``name`` (``zdt1-16``, ``dtlz2-8``, ``nas``, ``nas-constrained``; ``nas-4``: the
    NAS-like family with 4 stages, the tuning instance)."""
    if is_few_choice(name):
        return few_choice(name)
    if name == "nas":
        return NASLike()
    if name.startswith("nas-") and name[4:].isdigit():
        return NASLike(stages=int(name[4:]))
    if name == "nas-constrained":
        if threshold is None:
            raise ValueError("nas-constrained needs its macs threshold (macs_threshold())")
        return NASLike(threshold)
    family, _, levels = name.partition("-")
    if family in FAMILIES and levels.isdigit() and int(levels) >= 2:
        return DTLZ2(int(levels)) if family == "dtlz2" else ZDT(int(family[-1]), int(levels))
    raise ValueError(f"unknown problem {name!r}: use zdt1|zdt2|zdt3|dtlz2-<levels>, nas or nas-constrained")
