"""The bookkeeping of a multi-objective evolution: budget, constraints, cache, checkpoint, logbook.

:class:`Settings` is what the user asked for (``conf/search.yaml``'s ``search`` node, built with
``_target_``); :class:`Evolution` runs it with an algorithm of :mod:`search.evolution.algorithms`.
An offspring that repeats a known genome, or breaks a cost constraint, is redrawn, so the budget
counts *unique* evaluations and infeasible candidates never cost one.

State lives in the run folder (:mod:`search.evolution.state`): rerunning on the folder resumes at
the last finished generation and, with the same seed, ends with the same front as an uninterrupted
run (the search draws from its own generator, whose state is saved; re-evaluations come from the
cache).
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from tqdm.auto import tqdm

from search.evolution.algorithms import Individual, Variation, make_algorithm
from search.evolution.feasible import toward_feasible
from search.evolution.objectives import (Constraint, Normaliser, Objective, hypervolume, pareto_front,
                                         parse_constraints, parse_objectives)
from search.evolution.records import Evaluation
from search.evolution.state import read_state, write_cache, write_checkpoint
from supernet.arch import ArchConfig
from supernet.errors import GreenError
from supernet.space import SearchSpace

MODES = ("one_shot", "multi_trial")


@dataclass(frozen=True)
class Settings:
    """A search's objectives, constraints, algorithm and budget, validated on construction.

    ``objectives`` and ``constraints`` may be given as names and strings (``"latency_ms <= 5"``);
    ``budget`` counts unique evaluations (None: ``population * (generations + 1)``). ``mode`` (how
    ``green-search`` scores candidates) and ``batch_size`` (the table's batch size of the costs)
    belong to the same config node and are read by the command, not by the evolution.
    """

    objectives: Sequence[Any] = ("acc", "params")
    constraints: Sequence[Any] = ()
    algorithm: str = "nsga2"
    population: int = 16
    generations: int = 10
    budget: int | None = None
    cx_prob: float = 0.9
    mut_prob: float = 1.0
    mut_indpb: float | None = None
    nsga3_divisions: int = 4
    seed: int = 0
    mode: str = "one_shot"
    batch_size: int | None = None

    def __post_init__(self) -> None:
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        objs = list(self.objectives)
        put("objectives", tuple(objs if objs and all(isinstance(o, Objective) for o in objs)
                                else parse_objectives([str(o) for o in objs])))
        cons = list(self.constraints or ())
        put("constraints", tuple(c if isinstance(c, Constraint) else parse_constraints([c])[0] for c in cons))
        if self.mode not in MODES:
            raise GreenError(f"unknown search.mode {self.mode!r}; choose from {', '.join(MODES)}")
        if self.population < 2:
            raise GreenError(f"population must be >= 2, got {self.population}")
        make_algorithm(self.algorithm, len(self.objectives)).check(self.population)
        if self.generations < 0:
            raise GreenError(f"generations must be >= 0, got {self.generations}")
        put("budget", self.population * (self.generations + 1) if self.budget is None else int(self.budget))
        if self.budget < 1:
            raise GreenError(f"search.budget must be >= 1 unique evaluation, got {self.budget}")
        if not (0 <= self.cx_prob <= 1 and 0 <= self.mut_prob <= 1):
            raise GreenError("cx_prob and mut_prob must lie in [0, 1]")


class Evolution:
    """One search run over ``space``: call :meth:`run` with the evaluator; read :attr:`records` afterwards.

    Args:
        space: the search space, or any object with its genome interface (``gene_sizes``, ``encode``,
            ``decode``, ``sample``, ``largest``, ``smallest``, ``digest``): ``green-hpo`` evolves training
            hyperparameters with the same machinery.
        settings: objectives, constraints, algorithm, budget and seed.
        cost_fn: arch -> its cost figures (params, macs, latency_ms, energy_mj, energy_source); cheap.
        run_dir: folder for cache and checkpoint (None: keep nothing on disk).
        memo: a shared evaluation cache (deterministic evaluations may be shared between runs).
        bounds: upper bounds of the minimised objectives' fields for the normaliser (None: the cost of
            the space's largest candidate, for costs known before evaluation).
        initial: candidates placed in the initial population before the random draws (a warm start
            from known good settings), for every algorithm, random search included.
        label: the progress bar's name.
    """

    def __init__(self, space: SearchSpace, settings: Settings, cost_fn: Callable[[ArchConfig], dict],
                 run_dir: str | Path | None = None, memo: dict[str, Evaluation] | None = None,
                 bounds: dict[str, float] | None = None, initial: Sequence[Any] = (), label: str = "green-search",
                 progress: bool = True):
        self.space, self.settings, self.cost_fn = space, settings, cost_fn
        self.objectives, self.constraints = list(settings.objectives), list(settings.constraints)
        self.algorithm, self.seed, self.budget = settings.algorithm, settings.seed, settings.budget
        self.method = make_algorithm(settings.algorithm, len(self.objectives), settings.nsga3_divisions)
        self.sizes = space.gene_sizes()
        self.variation = Variation(tuple(self.sizes), settings.cx_prob, settings.mut_prob, settings.mut_indpb)
        self.rng = random.Random(settings.seed)
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.memo = memo if memo is not None else {}
        self.initial = list(initial)
        self.label, self.progress = label, progress
        largest = cost_fn(space.largest())
        self.cost_fields = tuple(largest)
        self.norm = Normaliser(self.objectives, bounds if bounds is not None else largest)
        self.records: dict[str, Evaluation] = {}  # key -> record, in evaluation order
        self.logbook: list[dict] = []
        self.cache_hits = 0
        self._costs: dict[str, dict] = {}

    def state_settings(self) -> dict[str, Any]:
        """What a resumed run must share with the run that wrote the folder."""
        s = self.settings
        return {"space_digest": self.space.digest(), "objectives": [o.name for o in self.objectives],
                "constraints": [str(c) for c in self.constraints], "algorithm": s.algorithm,
                "population": s.population, "cx_prob": s.cx_prob, "mut_prob": s.mut_prob,
                "mut_indpb": self.variation.indpb, "seed": s.seed, "initial": [str(a) for a in self.initial]}

    def cost(self, arch: ArchConfig) -> dict:
        """The cost figures of ``arch`` (computed once)."""
        key = str(arch)
        if key not in self._costs:
            self._costs[key] = dict(self.cost_fn(arch))
        return self._costs[key]

    def feasible(self, arch: ArchConfig) -> bool:
        return all(c.ok(self.cost(arch)) for c in self.constraints)

    def violation(self, arch: ArchConfig) -> float:
        """How far ``arch`` is from meeting the constraints: the sum of relative excesses (0: feasible)."""
        cost = self.cost(arch)
        return sum(abs(cost[c.field] - c.value) / max(abs(c.value), 1e-12) for c in self.constraints
                   if not c.ok(cost))

    def _evaluate(self, arch: ArchConfig, gen: int, eval_fn: Callable[[ArchConfig], dict]) -> Evaluation:
        key = str(arch)
        if key in self.memo:
            self.cache_hits += 1
            scores = self.memo[key].scores
        else:
            scores = dict(eval_fn(arch))
        record = Evaluation(key, tuple(self.space.encode(arch)), gen, self.cost(arch), scores)
        self.memo[key] = self.records[key] = record
        if self.run_dir is not None:
            write_cache(self.run_dir, self.memo)
        return record

    def _scored(self, arch: ArchConfig, gen: int, eval_fn: Callable, bar: Any) -> Individual:
        self._evaluate(arch, gen, eval_fn)
        bar.update(1)
        ind = Individual(self.space.encode(arch), len(self.objectives))
        ind.fitness.values = tuple(self.norm(self.records[str(arch)]))
        return ind

    def _draw(self, taken: set[str]) -> ArchConfig | None:
        """A random feasible arch not in ``taken`` (None: none found); under a tight constraint, the least
        violating of the draws repaired toward feasibility (:func:`~search.evolution.feasible.toward_feasible`)."""
        closest: tuple[float, ArchConfig] | None = None
        for _ in range(200):
            arch = self.space.sample(self.rng)
            v = self.violation(arch) if str(arch) not in taken else None
            if v == 0:
                return arch
            if v is not None and (closest is None or v < closest[0]):
                closest = (v, arch)
        return toward_feasible(self.space, self.violation, closest[1], taken, self.rng) if closest else None

    def _repair(self, ind: Individual, taken: set[str]) -> ArchConfig | None:
        """The offspring's arch, or a redraw if it repeats a known genome or breaks a constraint."""
        for _ in range(12):
            arch = self.space.decode(ind)
            if str(arch) not in taken and self.feasible(arch):
                return arch
            self.variation.mutate(ind, self.rng)
        return self._draw(taken)

    def _initial(self, eval_fn: Callable, bar: Any) -> list[Individual]:
        pop, taken = [], set(self.records)
        n = min(self.settings.population, self.budget - len(self.records))
        seeds = [a for a in self.initial if str(a) not in taken and self.feasible(a)]
        while len(pop) < n:
            arch = seeds.pop(0) if seeds else self._draw(taken)
            if arch is None:
                if not self.records and not pop:
                    raise GreenError("no subnet of the space meets the constraints "
                                     f"{[str(c) for c in self.constraints]} (smallest subnet: "
                                     f"{self.cost(self.space.smallest())})")
                break
            taken.add(str(arch))
            pop.append(self._scored(arch, 0, eval_fn, bar))
        return self.method.ranked(pop, self.rng)

    def _offspring(self, pop: list[Individual], gen: int, eval_fn: Callable, bar: Any) -> list[Individual]:
        n = min(self.settings.population, self.budget - len(self.records))
        taken = set(self.records)
        archs: list[ArchConfig] = []
        if not self.method.evolves:
            for _ in range(n):
                arch = self._draw(taken)
                if arch is None:
                    break
                taken.add(str(arch))
                archs.append(arch)
        else:
            for kid in self.variation.offspring(self.method.parents(pop, self.rng), self.rng)[:n]:
                arch = self._repair(kid, taken)
                if arch is not None:
                    taken.add(str(arch))
                    archs.append(arch)
        return [self._scored(a, gen, eval_fn, bar) for a in archs]

    def front(self) -> list[Evaluation]:
        """Non-dominated records among everything evaluated so far."""
        return pareto_front(list(self.records.values()), self.norm)

    def hypervolume(self) -> float:
        return hypervolume([self.norm(r) for r in self.front()])

    def _log(self, gen: int, n_new: int, seconds: float) -> dict:
        front = self.front()
        new = [r for r in self.records.values() if r.gen == gen]
        row = {"gen": gen, "evals": n_new, "unique_evals": len(self.records), "cache_hits": self.cache_hits,
               "front_size": len(front), "hypervolume": hypervolume([self.norm(r) for r in front]),
               "seconds": seconds,
               "seconds_per_eval": sum(r.get("eval_seconds", 0.0) for r in new) / max(1, len(new))}
        for o in self.objectives:
            vals = [r[o.field] for r in self.records.values()]
            row[f"{o.name}_best"] = max(vals) if o.maximise else min(vals)
        self.logbook.append(row)
        return row

    def _save(self, gen: int, pop: list[Individual]) -> None:
        if self.run_dir is not None:
            write_checkpoint(self.run_dir, self.state_settings(), gen, pop, self.rng, list(self.records),
                             self.cache_hits, self.logbook)

    def _resume(self) -> tuple[int, list[Individual]] | None:
        if self.run_dir is None:
            return None
        fields = [o.field for o in self.objectives] + [c.field for c in self.constraints]
        saved = read_state(self.run_dir, self.state_settings(), len(self.objectives), self.sizes, fields, self.rng)
        if saved is None:
            return None
        self.memo.update({k: Evaluation.from_row(r, self.cost_fields) for k, r in saved.cache.items()})
        self.records = {k: self.memo[k] for k in saved.evaluated}
        self.cache_hits, self.logbook = saved.cache_hits, saved.logbook
        return saved.gen, saved.population

    def run(self, eval_fn: Callable[[ArchConfig], dict],
            on_generation: Callable[[int, dict], None] | None = None) -> list[Evaluation]:
        """Evolve until ``generations`` or the budget is reached; returns the final front.

        ``eval_fn`` scores a candidate (arch -> acc, recall, eval_seconds, ...; expensive);
        ``on_generation`` is called with (gen, logbook row) after each generation (TensorBoard, plots).
        """
        loaded = self._resume()
        bar = tqdm(total=self.budget, initial=len(self.records), desc=f"{self.label} {self.algorithm}",
                   disable=not self.progress)
        if loaded is None:
            t = time.perf_counter()
            pop = self._initial(eval_fn, bar)
            row = self._log(0, len(pop), time.perf_counter() - t)
            if on_generation:
                on_generation(0, row)
            gen = 0
            self._save(gen, pop)
        else:
            gen, pop = loaded
        while gen < self.settings.generations and len(self.records) < self.budget:
            gen += 1
            t = time.perf_counter()
            before = len(self.records)
            children = self._offspring(pop, gen, eval_fn, bar)
            if not children:  # said, not silent: the budget was not spent
                print(f"{self.label}: stopped at generation {gen} after {len(self.records)} of {self.budget} unique "
                      "evaluations: no unseen candidate that meets the constraints was found", flush=True)
                break
            pop = self.method.survivors(pop + children, min(self.settings.population, len(pop) + len(children)),
                                        self.rng)
            row = self._log(gen, len(self.records) - before, time.perf_counter() - t)
            if on_generation:
                on_generation(gen, row)
            self._save(gen, pop)
        bar.close()
        return self.front()
