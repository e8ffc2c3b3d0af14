"""The search engine's machinery (issue 16): ordinal operators, duplicates dropped and refilled, any
population size, constraints met by repair, the incremental front, the appended cache and old state."""
from __future__ import annotations

import json
import random

import pytest

from search.evolution.algorithms import Individual, Variation, drawing_from
from search.evolution.archive import Archive
from search.evolution.engine import Evolution
from search.evolution.objectives import Constraint, Normaliser, Objective, pareto_front
from search.evolution.records import Evaluation
from search.evolution.settings import Settings
from search.evolution.state import CACHE, read_cache
from core.errors import GreenError

F1, F2 = Objective("f1", "f1", False), Objective("f2", "f2", False)


class Grid:
    """``genes`` ordinal genes of ``levels`` choices; a candidate is its digit string."""

    def __init__(self, genes: int = 10, levels: int = 8):
        self.genes, self.levels = genes, levels

    def gene_sizes(self):
        return [self.levels] * self.genes

    def gene_kinds(self):
        return ["ordinal"] * self.genes

    def encode(self, x):
        return [int(c) for c in x]

    def decode(self, genome):
        return "".join(str(int(g)) for g in genome)

    def sample(self, rng):
        return "".join(str(rng.randrange(self.levels)) for _ in range(self.genes))

    def largest(self):
        return str(self.levels - 1) * self.genes

    def smallest(self):
        return "0" * self.genes

    def digest(self):
        return f"grid{self.genes}x{self.levels}"


def cost(x):
    return {"cost": float(sum(int(c) for c in x))}


def score(x):
    g = [int(c) for c in x]
    return {"f1": g[0] / 7, "f2": 1 + sum(g[1:]) / 7 - (g[0] / 7) ** 0.5}


def engine(space, tmp=None, constraints=(), **kw):
    settings = Settings([F1, F2], constraints=constraints, **{"population": 10, "generations": 10 ** 6, **kw})
    return Evolution(space, settings, cost, run_dir=tmp, bounds={"f1": 1.0, "f2": 12.0}, progress=False)


# ------------------------------------------------------------------ operators

def test_ordinal_mutation_moves_a_gene_to_a_nearby_choice_and_always_moves_it():
    var = Variation((8,) * 6, mut_indpb=1.0, eta_mut=20.0)
    rng = random.Random(0)
    steps = []
    for _ in range(300):
        ind = Individual([rng.randrange(8) for _ in range(6)], 2)
        before = list(ind)
        var.mutate(ind, rng)
        assert all(0 <= g < 8 for g in ind)
        steps += [abs(a - b) for a, b in zip(ind, before)]
    assert min(steps) >= 1  # a selected gene always changes
    assert sum(s == 1 for s in steps) / len(steps) > 0.6  # mostly to a neighbour at eta 20 ...
    wide = Variation((8,) * 6, mut_indpb=1.0, eta_mut=0.0)
    far = []
    for _ in range(300):
        ind = Individual([3] * 6, 2)
        wide.mutate(ind, rng)
        far += [abs(g - 3) for g in ind]
    assert sum(far) / len(far) > 1.5  # ... and farther at a small distribution index


def test_categorical_genes_are_reset_to_another_choice_and_swapped_not_blended():
    var = Variation((3, 5), ("categorical", "ordinal"), mut_indpb=1.0, crossover="sbx")
    rng = random.Random(1)
    for _ in range(200):
        ind = Individual([0, 2], 2)
        var.mutate(ind, rng)
        assert ind[0] in (1, 2)
    kids = set()
    for _ in range(200):
        a, b = Individual([0, 0], 2), Individual([2, 4], 2)
        var.cross(a, b, rng)
        kids |= {a[0], b[0]}
    assert kids == {0, 2}  # a categorical gene is inherited from a parent, never a value between


def test_sbx_keeps_equal_genes_and_children_inside_the_choices():
    var = Variation((4,) * 8, crossover="sbx")
    rng = random.Random(2)
    for _ in range(200):
        a = Individual([rng.randrange(4) for _ in range(8)], 2)
        b = Individual(list(a[:4]) + [rng.randrange(4) for _ in range(4)], 2)
        var.cross(a, b, rng)
        assert all(0 <= g < 4 for g in a + b)
        assert a[:4] == b[:4] or sorted(a[:4]) == sorted(b[:4])  # equal parents' genes stay equal (maybe swapped)


def test_uniform_operators_are_deaps():
    from deap import tools

    var = Variation((5,) * 6, crossover="uniform", mutation="uniform", mut_indpb=0.5)
    a, b, rng = Individual([0] * 6, 2), Individual([4] * 6, 2), random.Random(3)
    var.cross(a, b, rng)
    var.mutate(a, rng)
    c, d, rng2 = [0] * 6, [4] * 6, random.Random(3)
    with drawing_from(rng2):
        tools.cxUniform(c, d, 0.5)
    with drawing_from(rng2):
        tools.mutUniformInt(c, [0] * 6, [4] * 6, 0.5)
    assert (list(a), list(b)) == (c, d)


# ------------------------------------------------------------------ the front, kept as records arrive

@pytest.mark.parametrize("seed", range(5))
def test_the_incremental_front_is_the_archives_front(seed):
    rng = random.Random(seed)
    norm = Normaliser([F1, F2, Objective("acc", "acc", True)], {"f1": 1.0, "f2": 1.0})
    archive = Archive(norm.objectives, norm)
    records = []
    for i in range(300):
        r = Evaluation(f"a{i}", (i,), 0, {"f1": rng.randrange(6) / 5}, {"f2": rng.randrange(6) / 5,
                                                                        "acc": rng.randrange(4) / 3})
        archive.add(r)
        records.append(r)
        if i % 37 == 0:
            assert [x.arch for x in archive.front()] == [x.arch for x in pareto_front(records, norm)]
    assert [x.arch for x in archive.front()] == [x.arch for x in pareto_front(records, norm)]
    assert archive.best == {"f1": min(r["f1"] for r in records), "f2": min(r["f2"] for r in records),
                            "acc": max(r["acc"] for r in records)}


# ------------------------------------------------------------------ duplicates, population sizes, constraints

@pytest.mark.parametrize("population", [6, 7, 10])
def test_every_generation_is_full_of_never_seen_candidates_at_any_population(population):
    evo = engine(Grid(), population=population, budget=population * 12)
    evo.run(score)
    assert len(evo.records) == population * 12 and len(set(evo.records)) == population * 12
    assert [row["evals"] for row in evo.logbook] == [population] * 12


def test_a_small_space_is_evaluated_whole_without_stopping_early(capsys):
    space = Grid(genes=3, levels=4)
    evo = engine(space, population=8, budget=64)
    evo.run(score)
    assert len(evo.records) == 64  # every candidate, although the last generations find few new offspring
    evo = engine(space, population=8, budget=80)
    evo.run(score)
    assert len(evo.records) == 64 and "no unseen candidate" in capsys.readouterr().out


def test_a_constraint_met_by_one_genome_in_100000_spends_the_whole_budget_on_feasible_genomes():
    space, limit = Grid(genes=10, levels=8), 6.0  # sum of genes <= 6: 8008 of 8^10 genomes (7e-6)
    for seed in range(3):
        evo = engine(space, constraints=[Constraint("cost", "<=", limit)], population=20, budget=300, seed=seed)
        evo.run(score)
        assert len(evo.records) == 300 and all(r["cost"] <= limit for r in evo.records.values())
        assert [row["evals"] for row in evo.logbook] == [20] * 15


# ------------------------------------------------------------------ the cache, appended; old run folders

def test_the_cache_is_a_log_in_evaluation_order_and_survives_a_cut_last_line(tmp_path):
    evo = engine(Grid(), tmp_path / "run", population=10, budget=40)
    evo.run(score)
    rows = read_cache(tmp_path / "run")
    assert list(rows) == list(evo.records) and len((tmp_path / "run" / CACHE).read_text().splitlines()) == 40
    with open(tmp_path / "run" / CACHE, "a") as f:
        f.write('{"arch": "0000')  # killed while appending
    assert list(read_cache(tmp_path / "run")) == list(evo.records)
    more = engine(Grid(), tmp_path / "run", population=10, budget=60)
    more.run(score)
    fresh = engine(Grid(), None, population=10, budget=60)
    fresh.run(score)
    assert list(more.records) == list(fresh.records) == list(read_cache(tmp_path / "run"))
    assert [r["front_size"] for r in more.logbook] == [r["front_size"] for r in fresh.logbook]
    lines = (tmp_path / "run" / CACHE).read_text().splitlines()
    lines[3] = "{not json"
    (tmp_path / "run" / CACHE).write_text("\n".join(lines) + "\n")
    with pytest.raises(GreenError, match=r"cache.jsonl': line 4 is not a JSON record"):
        engine(Grid(), tmp_path / "run", population=10, budget=80).run(score)


def _as_version_1(folder):
    """Rewrite a run folder as searches before the log wrote it: cache.json, the evaluation order listed."""
    rows = read_cache(folder)
    state = json.loads((folder / "checkpoint.json").read_text())
    logbook = [json.loads(line) for line in (folder / "generations.jsonl").read_text().splitlines()]
    state.update(version=1, evaluated=list(rows)[:state["evaluated"]], logbook=logbook)
    del state["settings"]["variation"]
    (folder / "checkpoint.json").write_text(json.dumps(state))
    (folder / "cache.json").write_text(json.dumps(rows))
    (folder / CACHE).unlink()
    (folder / "generations.jsonl").unlink()


def test_a_folder_of_the_previous_version_resumes_with_the_operators_it_was_run_with(tmp_path):
    uniform = {"crossover": "uniform", "mutation": "uniform", "population": 10}
    engine(Grid(), tmp_path / "old", budget=30, **uniform).run(score)
    _as_version_1(tmp_path / "old")
    with pytest.raises(GreenError, match="other settings: the settings changed \\(variation 'uniform \\+ uniform' -> "
                                         "'uniform \\+ reset \\(<= 4 choices\\) / polynomial eta 3"):
        engine(Grid(), tmp_path / "old", budget=50, population=10).run(score)
    resumed = engine(Grid(), tmp_path / "old", budget=50, **uniform)
    resumed.run(score)
    fresh = engine(Grid(), None, budget=50, **uniform)
    fresh.run(score)
    assert list(resumed.records) == list(fresh.records) == list(read_cache(tmp_path / "old"))
    assert [r["hypervolume"] for r in resumed.logbook] == [r["hypervolume"] for r in fresh.logbook]
    assert not (tmp_path / "old" / "cache.json").exists()


def test_a_strict_bound_met_with_equality_is_a_violation():
    """``cost < 6`` at cost 6 misses the bound by nothing: infeasible all the same, never evaluated."""
    evo = engine(Grid(genes=3, levels=4), constraints=[Constraint("cost", "<", 6.0)], population=8, budget=20)
    assert evo.violation("222") > 0 and not evo.feasible("222") and evo.violation("221") == 0
    evo.run(score)
    assert all(r["cost"] < 6 for r in evo.records.values())


@pytest.mark.parametrize("how", ["reset", "step"])
def test_mutation_by_cardinality(how):
    """reset and step treat a gene of at most 4 choices by itself (another choice uniformly; the next choice up or
    down, inward at an end) and a wider ordinal gene polynomially; every mutated gene changes."""
    from search.evolution.algorithms import FEW_CHOICES

    v = Variation((2, 3, 4, 9), mut_indpb=1.0, mutation=how)
    rng = random.Random(0)
    moves: dict[int, set[int]] = {i: set() for i in range(4)}
    for _ in range(400):
        start = [1, 0, 3, 4] if rng.random() < 0.5 else [0, 1, 1, 4]
        ind = Individual(start, 2)
        v.mutate(ind, rng)
        assert all(a != b for a, b in zip(ind, start)) and all(0 <= g < n for g, n in zip(ind, (2, 3, 4, 9)))
        for i in range(3):
            moves[i].add(ind[i] - start[i])
        moves[3].add(ind[3] - start[3])
    assert FEW_CHOICES == 4
    if how == "step":  # few-choice genes move by exactly one choice
        assert all(m <= {-1, 1} for m in (moves[0], moves[1], moves[2]))
    else:  # reset reaches non-adjacent choices of the 4-choice gene (3 -> 0 or 3 -> 1, 1 -> 3)
        assert moves[2] - {-1, 1}
    assert len(moves[3]) > 2  # the 9-choice gene: polynomial steps of several sizes
    assert how in v.describe()
