"""The search engine optimises: NSGA-II beats random search, and maximised objectives are maximised.

A synthetic problem (ZDT1, Zitzler, Deb & Thiele 2000, on a grid of 16 genes of 8 levels) driven
through :class:`~search.evolution.engine.Evolution` with cheap stand-ins for the cost table and the
evaluator: ``energy_mj`` is the first variable, ``acc`` falls with ZDT1's second objective. Random
search sees a typical ``g`` of about 5.5 and never gets near the true front (``g = 1``); NSGA-II's
selection and variation do. Each run takes milliseconds.
"""
import math
import statistics

import pytest

from search.evolution.engine import Evolution
from search.evolution.settings import Settings
from search.evolution.objectives import Normaliser, dominates, parse_objectives, pareto_front

GENES, LEVELS = 16, 8


class GridSpace:
    """A genome space of ``GENES`` genes with ``LEVELS`` levels each; a candidate is its digit string."""

    def gene_sizes(self):
        return [LEVELS] * GENES

    def gene_kinds(self):
        return ["ordinal"] * GENES

    def encode(self, arch):
        return [int(c) for c in arch]

    def decode(self, genome):
        return "".join(str(int(g)) for g in genome)

    def sample(self, rng):
        return "".join(str(rng.randrange(LEVELS)) for _ in range(GENES))

    def largest(self):
        return str(LEVELS - 1) * GENES

    def smallest(self):
        return "0" * GENES

    def digest(self):
        return f"grid{GENES}x{LEVELS}"


def zdt1(arch):
    """ZDT1's two minimised objectives, f1 in [0, 1] and f2 in [0, 10]."""
    x = [int(c) / (LEVELS - 1) for c in arch]
    g = 1 + 9 * sum(x[1:]) / (GENES - 1)
    return x[0], g * (1 - math.sqrt(x[0] / g))


def cost_fn(arch):
    return {"energy_mj": zdt1(arch)[0], "energy_source": "synthetic"}


def eval_fn(arch):
    f2 = zdt1(arch)[1]
    return {"acc": 1 - f2 / 10, "recall": 1 - f2 / 20, "eval_seconds": 0.0}


def run(algorithm, seed, objectives=("acc", "energy"), budget=160):
    settings = Settings(list(objectives), algorithm=algorithm, population=16, generations=10 ** 6, budget=budget,
                        seed=seed)
    evo = Evolution(GridSpace(), settings, cost_fn, progress=False)
    evo.run(eval_fn)
    return evo


def clearly_better(a, b):
    """``a``'s hypervolumes beat ``b``'s: in at least 4 of 5 paired seeds and by >= 8 % on the mean."""
    return sum(x > y for x, y in zip(a, b)) >= 4 and statistics.mean(a) >= 1.08 * statistics.mean(b)


def test_nsga2_beats_random_search_at_the_same_budget():
    """Fails if NSGA-II's offspring were random draws (its archive would be random search's) or if its
    selection kept the worse individuals."""
    seeds = range(5)
    nsga2 = [run("nsga2", s).hypervolume() for s in seeds]
    rand = [run("random", s).hypervolume() for s in seeds]
    assert clearly_better(nsga2, rand), (nsga2, rand)
    # the margin is not one random search can get over another by luck
    other = [run("random", s).hypervolume() for s in range(5, 10)]
    assert not clearly_better(other, rand) and not clearly_better(rand, other)


@pytest.mark.parametrize("objectives", [("acc", "energy"), ("recall", "energy"), ("energy", "acc", "recall")])
def test_maximised_objectives_are_maximised(objectives):
    evo = run("nsga2", 0, objectives, budget=64)
    records, front = list(evo.records.values()), evo.front()
    for o in evo.objectives:
        best = max if o.maximise else min
        assert o.maximise == (o.name in ("acc", "recall"))
        assert best(r[o.field] for r in front) == best(r[o.field] for r in records)  # the front holds the extremes
        assert evo.logbook[-1][f"{o.name}_best"] == best(r[o.field] for r in records)


def test_higher_accuracy_at_equal_cost_dominates():
    objectives = parse_objectives(["acc", "recall", "energy"])
    norm = Normaliser(objectives, {"energy_mj": 2.0})
    low = {"acc": 0.5, "recall": 0.5, "energy_mj": 1.0}
    for better in ({**low, "acc": 0.6}, {**low, "recall": 0.6}, {**low, "energy_mj": 0.5}):
        assert dominates(norm(better), norm(low)) and not dominates(norm(low), norm(better))
        assert pareto_front([low, better], norm) == [better]
    assert norm({"acc": 1.0, "recall": 1.0, "energy_mj": 0.0}) == [0.0, 0.0, 0.0]  # the ideal point
    # a more accurate record that costs more is a trade-off, not a domination
    trade = {"acc": 0.9, "recall": 0.5, "energy_mj": 1.5}
    assert pareto_front([low, trade], norm) == [low, trade]

