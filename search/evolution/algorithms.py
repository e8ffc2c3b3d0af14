"""Selection and variation of the evolutionary algorithms, drawing only from the generator they are given.

NSGA-II (Deb et al., 2002) picks parents by DEAP's tournament on dominance and crowding and keeps
survivors by ``selNSGA2``; NSGA-III (Deb and Jain, 2014) picks parents at random and keeps survivors
by ``selNSGA3`` on uniform reference points; random search draws every candidate afresh and keeps
the whole archive. Offspring come from uniform crossover and uniform integer mutation of the
space's canonical genomes.

DEAP's operators draw from Python's module-level ``random`` (and NSGA-III's niching from numpy's).
:func:`drawing_from` lends them the search's own ``random.Random`` for the length of a call and
restores the modules' state afterwards, so a search's draws are its generator's alone: another
library reseeding ``random`` or numpy (Lightning's ``seed_everything`` in an evaluation) cannot move
them, and two searches never share a stream.
"""
from __future__ import annotations

import contextlib
import copy
import random
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
from deap import base, tools

from supernet.errors import GreenError

ALGORITHMS = ("nsga2", "nsga3", "random")


class Fitness(base.Fitness):
    """Normalised objectives, all minimised (see :class:`~search.evolution.objectives.Normaliser`)."""

    weights: tuple[float, ...] = ()


class Individual(list):
    """A canonical genome with a DEAP fitness."""

    def __init__(self, genes: Sequence[int], nobj: int):
        super().__init__(genes)
        self.fitness = type("F", (Fitness,), {"weights": (-1.0,) * nobj})()


@contextlib.contextmanager
def drawing_from(rng: random.Random) -> Iterator[None]:
    """DEAP's draws come from ``rng`` inside the block; the module-level generators are left as they were.

    Python's ``random`` takes ``rng``'s state (and gives it back advanced); numpy's, which NSGA-III's
    niching shuffles with, is seeded from a hash of that state without advancing it, so its draws too
    are a function of the search's seed and history, and a resumed run repeats them.
    """
    saved, saved_np = random.getstate(), np.random.get_state()
    random.setstate(rng.getstate())
    np.random.seed(hash(rng.getstate()) & 0xFFFFFFFF)
    try:
        yield
    finally:
        rng.setstate(random.getstate())
        random.setstate(saved)
        np.random.set_state(saved_np)


@dataclass(frozen=True)
class Variation:
    """Uniform crossover per pair and uniform integer mutation per individual of genomes of ``sizes`` genes."""

    sizes: tuple[int, ...]
    cx_prob: float = 0.9
    mut_prob: float = 1.0
    mut_indpb: float | None = None  # per gene; None: 1 / genome length, at least 0.05

    @property
    def indpb(self) -> float:
        return self.mut_indpb if self.mut_indpb is not None else max(0.05, 1.0 / len(self.sizes))

    def mutate(self, ind: Individual, rng: random.Random) -> None:
        """Redraw each gene with probability :attr:`indpb`, in place."""
        with drawing_from(rng):
            tools.mutUniformInt(ind, low=[0] * len(self.sizes), up=[n - 1 for n in self.sizes], indpb=self.indpb)

    def offspring(self, parents: Sequence[Individual], rng: random.Random) -> list[Individual]:
        """Copies of ``parents``, crossed pairwise and mutated."""
        kids = [copy.deepcopy(p) for p in parents]
        for a, b in zip(kids[::2], kids[1::2]):
            if rng.random() < self.cx_prob:
                with drawing_from(rng):
                    tools.cxUniform(a, b, 0.5)
        for k in kids:
            if rng.random() < self.mut_prob:
                self.mutate(k, rng)
        return kids


class Algorithm:
    """How parents are picked and survivors kept; :attr:`evolves` is False for random search."""

    name = ""
    evolves = True

    def check(self, population: int) -> None:
        """Refuse a population the algorithm cannot use."""

    def ranked(self, pop: list[Individual], rng: random.Random) -> list[Individual]:
        """The initial population as the first parent selection needs it."""
        return pop

    def parents(self, pop: list[Individual], rng: random.Random) -> list[Individual]:
        """As many parents as individuals: shuffled."""
        return rng.sample(pop, len(pop))

    def survivors(self, both: list[Individual], k: int, rng: random.Random) -> list[Individual]:
        """Who of parents and offspring lives on."""
        raise NotImplementedError


class NSGA2(Algorithm):
    """NSGA-II: tournament on dominance and crowding (``selTournamentDCD``), survivors by ``selNSGA2``."""

    name = "nsga2"

    def check(self, population: int) -> None:
        if population % 4:
            raise GreenError(f"population {population} is not usable by NSGA-II's tournament selection "
                             "(selTournamentDCD): use a multiple of 4")

    def ranked(self, pop: list[Individual], rng: random.Random) -> list[Individual]:
        return tools.selNSGA2(pop, len(pop))  # assigns the crowding distances the tournament reads

    def parents(self, pop: list[Individual], rng: random.Random) -> list[Individual]:
        if len(pop) % 4:  # an exhausted space left a population the tournament cannot pair
            return super().parents(pop, rng)
        with drawing_from(rng):
            return tools.selTournamentDCD(pop, len(pop))

    def survivors(self, both: list[Individual], k: int, rng: random.Random) -> list[Individual]:
        return tools.selNSGA2(both, k)


class NSGA3(Algorithm):
    """NSGA-III: random parents, survivors by ``selNSGA3`` on Das-Dennis uniform reference points."""

    name = "nsga3"

    def __init__(self, nobj: int, divisions: int = 4):
        self.ref_points = tools.uniform_reference_points(nobj, divisions)

    def survivors(self, both: list[Individual], k: int, rng: random.Random) -> list[Individual]:
        with drawing_from(rng):
            return tools.selNSGA3(both, k, self.ref_points)


class RandomSearch(Algorithm):
    """The baseline: every candidate drawn afresh, the archive kept whole (its front is the archive's)."""

    name = "random"
    evolves = False

    def survivors(self, both: list[Individual], k: int, rng: random.Random) -> list[Individual]:
        return both


def make_algorithm(name: str, nobj: int, nsga3_divisions: int = 4) -> Algorithm:
    """The algorithm called ``name`` for ``nobj`` objectives."""
    if name == "nsga2":
        return NSGA2()
    if name == "nsga3":
        return NSGA3(nobj, nsga3_divisions)
    if name == "random":
        return RandomSearch()
    raise GreenError(f"unknown algorithm {name!r}; choose from {ALGORITHMS}")
