"""Feasible candidates under tight constraints, found on the cheap cost model.

Uniform draws land in a feasible region of one genome in thousands too rarely to fill a
population, so the least violating draw is repaired: steepest descent of the constraint violation
over one-gene changes (the cost model prices a neighbour in microseconds once its ops are known),
then, if the feasible candidate reached was seen before, a walk through feasible neighbours to an
unseen one. A search that still finds nothing says so; it never reports an empty feasible region
that merely went unsampled.
"""
from __future__ import annotations

import random
from typing import Callable, Container

from supernet.arch import ArchConfig
from supernet.space import SearchSpace


def neighbours(genome: list[int], sizes: list[int], rng: random.Random) -> list[list[int]]:
    """Every genome one gene away from ``genome``, in a random order."""
    out = [genome[:i] + [g] + genome[i + 1:] for i, n in enumerate(sizes) for g in range(n) if g != genome[i]]
    rng.shuffle(out)
    return out


def toward_feasible(space: SearchSpace, violation: Callable[[ArchConfig], float], arch: ArchConfig,
                    taken: Container[str], rng: random.Random, steps: int = 64) -> ArchConfig | None:
    """A candidate of violation 0 not in ``taken``, near ``arch``; None when the descent stalls outside the
    feasible region or the walk through it finds nothing unseen within ``steps``."""
    sizes = space.gene_sizes()
    genome, v = list(space.encode(arch)), violation(arch)
    for _ in range(steps):
        if v == 0:
            break
        best_v, best = min(((violation(space.decode(g)), g) for g in neighbours(genome, sizes, rng)),
                           key=lambda x: x[0])
        if best_v >= v:
            return None
        v, genome = best_v, best
    if v > 0:
        return None
    here = space.decode(genome)
    if str(here) not in taken:
        return here
    seen = {str(here)}
    for _ in range(steps):
        ways = [a for a in map(space.decode, neighbours(genome, sizes, rng)) if violation(a) == 0]
        new = next((a for a in ways if str(a) not in taken), None)
        if new is not None:
            return new
        if not ways:
            return None
        here = next((a for a in ways if str(a) not in seen), ways[0])  # on through the seen region
        seen.add(str(here))
        genome = list(space.encode(here))
    return None
