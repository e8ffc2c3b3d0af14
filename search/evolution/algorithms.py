"""Selection and variation of the evolutionary algorithms, drawing only from the generator they are given.

NSGA-II (Deb et al., 2002) picks parents by DEAP's tournament on dominance and crowding and keeps
survivors by ``selNSGA2``; NSGA-III (Deb and Jain, 2014) picks parents at random and keeps survivors
by ``selNSGA3`` on uniform reference points; random search draws every candidate afresh and keeps
the whole archive.

Offspring come from the space's canonical genomes, gene by gene as the space says
(``gene_kinds``) and by the gene's number of choices. By default (``mutation: reset``) a gene of at most
:data:`FEW_CHOICES` choices (most genes of this project's spaces: depths, kernels, expand ratios) is
reset to another choice, uniformly; a wider *ordinal* gene (a learning-rate grid, a ZDT variable) is
mutated on its choice index by DEAP's bounded polynomial mutation, rounded, so a converged gene moves
to a nearby choice rather than anywhere (a mutated gene always changes: a step that rounds away
becomes one choice in its direction); a *categorical* gene (an optimizer's name) is reset to another
choice. Each gene mutates with probability 1 / genome length, at least 0.05. Crossover is uniform
(each gene from either parent) by default, or DEAP's bounded simulated-binary crossover on ordinal
genes' indices (``crossover: sbx``), categorical genes then swapped uniformly.

The defaults were chosen on problems and seeds the benchmark does not score
(``bench/results/optimizer_tuning/``). On few-choice genes that interact (NK-landscape-like instances of
20 to 50 genes, two of them at the ``cifar`` space's layout, and a 14-gene NAS-like one) the polynomial
step was the weak operator: reset ranked 3.3 on average among 10 set-ups against 5.3 for polynomial
mutation, and ``step`` (one choice up or down) 5.5; on wide genes (ZDT, DTLZ2 grids of 12 and 24 levels)
reset *is* the polynomial operator. Rate 1 / n without the 0.05 floor was as good on few-choice genes
and worse on 30-gene ZDT grids. Uniform crossover mixed good genes better than SBX at eta 3 to 15
(an earlier tuning run). ``mutation: uniform`` with ``crossover: uniform`` gives the operators of early
versions (every gene redrawn uniformly); ``mutation: polynomial`` the default before few-choice genes
had their own operator.

DEAP's operators draw from Python's module-level ``random`` (and NSGA-III's niching from numpy's).
:func:`drawing_from` lends them the search's own ``random.Random`` for the length of a call and
restores the modules' state afterwards, so a search's draws are its generator's alone: another
library reseeding ``random`` or numpy (Lightning's ``seed_everything`` in an evaluation) cannot move
them, and two searches never share a stream.
"""
from __future__ import annotations

import contextlib
import functools
import random
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
from deap import base, tools

from search.registry import Registry
from core.errors import GreenError


class Fitness(base.Fitness):
    """Normalised objectives, all minimised (see :class:`~search.evolution.objectives.Normaliser`)."""

    weights: tuple[float, ...] = ()


class Individual(list):
    """A canonical genome with a DEAP fitness."""

    def __init__(self, genes: Sequence[int], nobj: int):
        super().__init__(genes)
        self.fitness = _fitness(nobj)()


@functools.lru_cache(maxsize=None)
def _fitness(nobj: int) -> type[Fitness]:
    """The fitness class of ``nobj`` minimised objectives (one class per count, not per individual)."""
    return type(f"Fitness{nobj}", (Fitness,), {"weights": (-1.0,) * nobj})


@contextlib.contextmanager
def drawing_from(rng: random.Random, numpy: bool = False) -> Iterator[None]:
    """DEAP's draws come from ``rng`` inside the block; the module-level generators are left as they were.

    Python's ``random`` takes ``rng``'s state (and gives it back advanced). With ``numpy``, numpy's
    global generator too (NSGA-III's niching shuffles with it) is seeded from a hash of that state
    without advancing it, so its draws are a function of the search's seed and history, and a resumed
    run repeats them.
    """
    saved = random.getstate()
    saved_np = np.random.get_state() if numpy else None
    random.setstate(rng.getstate())
    if numpy:
        np.random.seed(hash(rng.getstate()) & 0xFFFFFFFF)
    try:
        yield
    finally:
        rng.setstate(random.getstate())
        random.setstate(saved)
        if numpy:
            np.random.set_state(saved_np)


KINDS = ("ordinal", "categorical")
CROSSOVERS, MUTATIONS = ("sbx", "uniform"), ("polynomial", "uniform", "reset", "step")
FEW_CHOICES = 4  # a gene of at most this many choices is "few-choice" for mutation reset and step
# the default operators (chosen on held-out problems, see the module docstring); Settings defaults to them too
CROSSOVER, MUTATION, ETA_CX, ETA_MUT = "uniform", "reset", 15.0, 3.0


@dataclass(frozen=True)
class Variation:
    """Crossover per pair and mutation per individual of genomes of ``sizes`` genes of ``kinds``.

    ``crossover``: ``uniform`` or ``sbx`` (simulated binary on ordinal genes' indices, uniform on
    categorical ones); ``mutation``: ``polynomial`` (on ordinal genes' indices, reset on categorical
    ones) or ``uniform`` (every gene redrawn uniformly); by the gene's cardinality, ``reset`` (a gene of at
    most :data:`FEW_CHOICES` choices to another choice, uniformly) and ``step`` (such a gene one choice up or
    down, inward at an end), a wider ordinal gene polynomially either way. ``eta_cx`` and ``eta_mut`` are the
    distribution indices (larger: children closer to their parents).
    """

    sizes: tuple[int, ...]
    kinds: tuple[str, ...] = ()  # per gene; empty: every gene ordinal
    cx_prob: float = 0.9
    mut_prob: float = 1.0
    mut_indpb: float | None = None  # per gene; None: 1 / genome length, at least 0.05
    crossover: str = CROSSOVER
    mutation: str = MUTATION
    eta_cx: float = ETA_CX
    eta_mut: float = ETA_MUT

    def __post_init__(self) -> None:
        if not self.kinds:
            object.__setattr__(self, "kinds", ("ordinal",) * len(self.sizes))
        object.__setattr__(self, "kinds", tuple(self.kinds))
        if len(self.kinds) != len(self.sizes) or any(k not in KINDS for k in self.kinds):
            raise GreenError(f"gene kinds must be one of {KINDS} per gene, got {self.kinds}")
        if self.crossover not in CROSSOVERS:
            raise GreenError(f"unknown crossover {self.crossover!r}; choose from {', '.join(CROSSOVERS)}")
        if self.mutation not in MUTATIONS:
            raise GreenError(f"unknown mutation {self.mutation!r}; choose from {', '.join(MUTATIONS)}")
        if not (self.eta_cx >= 0 and self.eta_mut >= 0):
            raise GreenError(f"eta_cx and eta_mut must be >= 0, got {self.eta_cx}, {self.eta_mut}")

    @property
    def indpb(self) -> float:
        return self.mut_indpb if self.mut_indpb is not None else max(0.05, 1.0 / len(self.sizes))

    def describe(self) -> str:
        """The operators in a few words (a resumed search must vary as the run that wrote its folder)."""
        cx = f"sbx eta {self.eta_cx:g}" if self.crossover == "sbx" else "uniform"
        mut = {"polynomial": f"polynomial eta {self.eta_mut:g}", "uniform": "uniform",
               "reset": f"reset (<= {FEW_CHOICES} choices) / polynomial eta {self.eta_mut:g}",
               "step": f"step (<= {FEW_CHOICES} choices) / polynomial eta {self.eta_mut:g}"}[self.mutation]
        return f"{cx} + {mut}"

    @functools.cached_property
    def _genes(self) -> tuple[list[int], list[int]]:
        """Positions of the ordinal and of the categorical genes that have a choice to make."""
        ords = [i for i, (n, k) in enumerate(zip(self.sizes, self.kinds)) if n > 1 and k == "ordinal"]
        cats = [i for i, (n, k) in enumerate(zip(self.sizes, self.kinds)) if n > 1 and k == "categorical"]
        return ords, cats

    def mutate(self, ind: Individual, rng: random.Random) -> None:
        """Change each gene with probability :attr:`indpb`, in place."""
        with drawing_from(rng):
            self._mutate(ind)

    def cross(self, a: Individual, b: Individual, rng: random.Random) -> None:
        """Cross two genomes in place."""
        with drawing_from(rng):
            self._cross(a, b)

    def offspring(self, parents: Sequence[Individual], rng: random.Random) -> list[Individual]:
        """Fresh copies of ``parents`` (without their fitness), crossed pairwise and mutated."""
        kids = [Individual(p, len(p.fitness.weights)) for p in parents]
        with drawing_from(rng):
            for a, b in zip(kids[::2], kids[1::2]):
                if random.random() < self.cx_prob:
                    self._cross(a, b)
            for k in kids:
                if random.random() < self.mut_prob:
                    self._mutate(k)
        return kids

    # inside drawing_from: every draw from the module-level generator, which holds the search's state
    def _mutate(self, ind: Individual) -> None:
        if self.mutation == "uniform":
            tools.mutUniformInt(ind, low=[0] * len(self.sizes), up=[n - 1 for n in self.sizes], indpb=self.indpb)
            return
        indpb, ords = self.indpb, set(self._genes[0])
        for i, n in enumerate(self.sizes):
            if n < 2 or random.random() >= indpb:
                continue
            g = ind[i]
            few = n <= FEW_CHOICES and self.mutation in ("reset", "step")
            if i not in ords or (few and self.mutation == "reset"):
                ind[i] = (g + 1 + random.randrange(n - 1)) % n  # another choice, uniformly
                continue
            if few:  # one choice up or down; inward at an end
                ind[i] = g - 1 if g == n - 1 or (g > 0 and random.random() < 0.5) else g + 1
                continue
            x = [float(g)]
            tools.mutPolynomialBounded(x, self.eta_mut, -0.5, n - 0.5, 1.0)
            new = min(max(round(x[0]), 0), n - 1)
            if new == g:  # the step rounded away: one choice in its direction (or away from the bound)
                up = x[0] > g if x[0] != g else random.random() < 0.5
                new = g + 1 if (up and g < n - 1) or g == 0 else g - 1
            ind[i] = new

    def _cross(self, a: Individual, b: Individual) -> None:
        if self.crossover == "uniform":
            tools.cxUniform(a, b, 0.5)
            return
        ords, cats = self._genes
        if ords:
            xa, xb = [float(a[i]) for i in ords], [float(b[i]) for i in ords]
            tools.cxSimulatedBinaryBounded(xa, xb, self.eta_cx, [-0.5] * len(ords), [self.sizes[i] - 0.5 for i in ords])
            for i, va, vb in zip(ords, xa, xb):
                a[i], b[i] = (min(max(round(v), 0), self.sizes[i] - 1) for v in (va, vb))
        for i in cats:
            if random.random() < 0.5:
                a[i], b[i] = b[i], a[i]


class Algorithm:
    """How parents are picked and survivors kept; :attr:`evolves` is False for random search.

    An algorithm is a subclass registered in :data:`ALGORITHMS` under its :attr:`name`, built for ``nobj``
    objectives (and NSGA-III's ``divisions``); a plug-in module (``search.plugins``) may register more.
    """

    name = ""
    evolves = True

    def __init__(self, nobj: int, divisions: int = 4):
        self.nobj, self.divisions = nobj, divisions

    def ranked(self, pop: list[Individual], rng: random.Random) -> list[Individual]:
        """The initial population as the first parent selection needs it."""
        return pop

    def parents(self, pop: list[Individual], rng: random.Random) -> list[Individual]:
        """As many parents as individuals: shuffled."""
        return rng.sample(pop, len(pop))

    def survivors(self, both: list[Individual], k: int, rng: random.Random) -> list[Individual]:
        """Who of parents and offspring lives on."""
        raise NotImplementedError


ALGORITHMS: Registry[type[Algorithm]] = Registry("algorithm")


@ALGORITHMS.decorator("nsga2")
class NSGA2(Algorithm):
    """NSGA-II: tournament on dominance and crowding (``selTournamentDCD``), survivors by ``selNSGA2``."""

    name = "nsga2"

    def ranked(self, pop: list[Individual], rng: random.Random) -> list[Individual]:
        return tools.selNSGA2(pop, len(pop))  # assigns the crowding distances the tournament reads

    def parents(self, pop: list[Individual], rng: random.Random) -> list[Individual]:
        """Tournament winners, a multiple of 4 of them (the most ``selTournamentDCD`` picks at once).

        The engine asks again until it has enough offspring, so any population size works; below 4
        individuals there is no tournament and the parents are the population shuffled.
        """
        if len(pop) < 4:
            return super().parents(pop, rng)
        with drawing_from(rng):
            return tools.selTournamentDCD(pop, len(pop) - len(pop) % 4)

    def survivors(self, both: list[Individual], k: int, rng: random.Random) -> list[Individual]:
        return tools.selNSGA2(both, k)


@ALGORITHMS.decorator("nsga3")
class NSGA3(Algorithm):
    """NSGA-III: random parents, survivors by ``selNSGA3`` on Das-Dennis uniform reference points."""

    name = "nsga3"

    def __init__(self, nobj: int, divisions: int = 4):
        super().__init__(nobj, divisions)
        self.ref_points = tools.uniform_reference_points(nobj, divisions)

    def survivors(self, both: list[Individual], k: int, rng: random.Random) -> list[Individual]:
        with drawing_from(rng, numpy=True):
            return tools.selNSGA3(both, k, self.ref_points)


@ALGORITHMS.decorator("random")
class RandomSearch(Algorithm):
    """The baseline: every candidate drawn afresh, the archive kept whole (its front is the archive's)."""

    name = "random"
    evolves = False

    def survivors(self, both: list[Individual], k: int, rng: random.Random) -> list[Individual]:
        return both


def make_algorithm(name: str, nobj: int, nsga3_divisions: int = 4) -> Algorithm:
    """The algorithm called ``name`` for ``nobj`` objectives (one line naming the choices for an unknown name)."""
    if name not in ALGORITHMS:
        raise GreenError(f"unknown algorithm {name!r}; choose from {', '.join(['auto', *ALGORITHMS.names()])}")
    return ALGORITHMS[name](nobj, nsga3_divisions)
