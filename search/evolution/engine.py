"""The bookkeeping of a multi-objective evolution: budget, constraints, cache, checkpoint, logbook.

:class:`Settings` is what the user asked for (``conf/search.yaml``'s ``search`` node, built with
``_target_``); :class:`Evolution` runs it with an algorithm of :mod:`search.evolution.algorithms`.
The budget counts *unique* evaluations, and every one is spent on a new feasible candidate:

- an offspring that repeats a genome seen before is dropped, and parents are selected and varied
  again until the generation is full (as pymoo eliminates duplicates); when a hundred rounds of
  variation bring nothing new (a nearly exhausted space), fresh random draws fill it;
- an offspring that breaks a cost constraint is repaired on the cheap cost model, by steepest
  descent of its constraint violation over one-gene changes (:mod:`search.evolution.feasible`),
  so it lands on the nearest feasible candidate rather than a random one; random draws under a
  tight constraint are repaired the same way;
- a search that still finds no unseen feasible candidate says so and stops; it never stops silently.

The front is kept up to date as records arrive (:class:`~search.evolution.archive.Archive`) and the
cache is appended to, so the bookkeeping per evaluation does not grow with the budget.

State lives in the run folder (:mod:`search.evolution.state`): rerunning on the folder resumes at
the last finished generation and, with the same seed, ends with the same front as an uninterrupted
run (the search draws from its own generator, whose state is saved; re-evaluations come from the
cache).
"""
from __future__ import annotations

import itertools
import random
import time
from collections import ChainMap
from pathlib import Path
from typing import Any, Callable, Container, Sequence

from tqdm.auto import tqdm

from search.evolution.algorithms import Individual, make_algorithm
from search.evolution.archive import Archive
from search.evolution.feasible import toward_feasible
from search.evolution.objectives import Normaliser
from search.evolution.records import Evaluation
from search.evolution.settings import Settings
from search.evolution.state import append_generation, append_record, read_state, write_checkpoint
from supernet.arch import ArchConfig
from core.errors import GreenError
from core.stop import check_stop
from core.jsontypes import JSONObject
from supernet.space import SearchSpace

MATING_ROUNDS = 100  # rounds of selection and variation for one generation before random draws fill it


class Evolution:
    """One search run over ``space``: call :meth:`run` with the evaluator; read :attr:`records` afterwards.

    Args:
        space: the search space, or any object with its genome interface (``gene_sizes``, ``gene_kinds``,
            ``encode``, ``decode``, ``sample``, ``largest``, ``smallest``, ``digest``): ``green-hpo`` evolves
            training hyperparameters with the same machinery.
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
        self.variation = settings.variation(self.sizes, space.gene_kinds())
        self.rng = random.Random(settings.seed)
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.memo = memo if memo is not None else {}
        self.initial = list(initial)
        self.label, self.progress = label, progress
        largest = cost_fn(space.largest())
        self.cost_fields = tuple(largest)
        # bounds on costs are met before evaluation (repair); bounds on scores are judged after it (Archive)
        self.cost_bounds = [c for c in self.constraints if c.field in self.cost_fields]
        self.score_bounds = [c for c in self.constraints if c.field not in self.cost_fields]
        self.norm = Normaliser(self.objectives, bounds if bounds is not None else largest)
        self.archive = Archive(self.objectives, self.norm, self.score_bounds)
        self.logbook: list[dict] = []
        self.cache_hits = 0
        self._costs: dict[str, dict] = {}
        self.status = "running"  # after run(): "finished", "stopped" (no unseen feasible candidate) or "infeasible"

    def state_settings(self) -> JSONObject:
        """What a resumed run must share with the run that wrote the folder."""
        s = self.settings
        return {"space_digest": self.space.digest(), "objectives": [o.name for o in self.objectives],
                "constraints": [str(c) for c in self.constraints], "algorithm": s.algorithm,
                "population": s.population, "cx_prob": s.cx_prob, "mut_prob": s.mut_prob,
                "mut_indpb": self.variation.indpb, "variation": self.variation.describe(), "seed": s.seed,
                "initial": [str(a) for a in self.initial]}

    @property
    def records(self) -> dict[str, Evaluation]:
        """Every evaluated record by key, in evaluation order."""
        return self.archive.records

    def cost(self, arch: ArchConfig) -> dict:
        """The cost figures of ``arch`` (computed once)."""
        key = str(arch)
        if key not in self._costs:
            self._costs[key] = dict(self.cost_fn(arch))
        return self._costs[key]

    def feasible(self, arch: ArchConfig) -> bool:
        return self.violation(arch) == 0

    def violation(self, arch: ArchConfig) -> float:
        """How far ``arch`` is from meeting the cost constraints: the sum of relative excesses, 0 exactly when it
        meets them (a strict bound missed by nothing, ``latency_ms < 5`` at 5, still counts as violated).
        Bounds on scores are checked once a candidate is evaluated (:class:`Archive`)."""
        cost = self.cost(arch)
        return sum(c.excess(cost) for c in self.cost_bounds)

    def _scored(self, arch: ArchConfig, gen: int, eval_fn: Callable[[ArchConfig], dict], bar: Any) -> Individual:
        """Evaluate ``arch`` (or take its scores from the memo), keep and cache its record."""
        check_stop()  # a safe point: a signal's stop that Python dropped is raised before the next evaluation
        key = str(arch)
        if key in self.memo:
            self.cache_hits += 1
            scores = self.memo[key].scores
        else:
            scores = dict(eval_fn(arch))
        genome = self.space.encode(arch)
        record = Evaluation(key, tuple(genome), gen, self.cost(arch), scores)
        self.memo[key] = record
        point = self.archive.add(record)
        if self.run_dir is not None:
            append_record(self.run_dir, record)
        bar.update(1)
        ind = Individual(genome, len(self.objectives))
        ind.fitness.values = tuple(point)
        return ind

    def _draw(self, taken: Container[str]) -> ArchConfig | None:
        """A random feasible arch not in ``taken`` (None: none found). When 200 uniform draws bring none (a
        tight constraint, or a space nearly exhausted), the least violating draw, else the smallest or the
        largest candidate, is repaired toward an unseen feasible neighbour
        (:func:`~search.evolution.feasible.toward_feasible`)."""
        closest: tuple[float, ArchConfig] | None = None
        for _ in range(200):
            arch = self.space.sample(self.rng)
            v = self.violation(arch)
            if v == 0 and str(arch) not in taken:
                return arch
            if closest is None or v < closest[0]:
                closest = (v, arch)
        for start in (closest[1], self.space.smallest(), self.space.largest()):  # the ends meet one-sided bounds
            found = toward_feasible(self.space, self.violation, start, taken, self.rng)
            if found is not None:
                return found
        return None

    def _admit(self, kid: Individual, taken: Container[str]) -> ArchConfig | None:
        """The offspring's arch; None if it repeats one in ``taken``; repaired to the nearest feasible
        unseen arch if it breaks a constraint (None if there is none near)."""
        arch = self.space.decode(kid)
        if str(arch) in taken:
            return None
        if self.violation(arch) == 0:
            return arch
        return toward_feasible(self.space, self.violation, arch, taken, self.rng)

    def _initial(self, eval_fn: Callable, bar: Any) -> list[Individual]:
        n = min(self.settings.population, self.budget - len(self.archive))
        fresh: dict[str, ArchConfig] = {}
        taken = ChainMap(fresh, self.archive.records)
        seeds = [a for a in self.initial if str(a) not in self.archive and self.feasible(a)]
        while len(fresh) < n:
            arch = seeds.pop(0) if seeds else self._draw(taken)
            if arch is None:
                if not self.archive and not fresh:
                    raise GreenError("no subnet of the space meets the constraints "
                                     f"{[str(c) for c in self.constraints]}: none of 200 random draws, nor a "
                                     "descent of the violation from the least violating one, the smallest and the "
                                     f"largest subnet, found one (smallest subnet: {self.cost(self.space.smallest())})")
                break
            fresh.setdefault(str(arch), arch)
        return self.method.ranked([self._scored(a, 0, eval_fn, bar) for a in fresh.values()], self.rng)

    def _offspring(self, pop: list[Individual], gen: int, eval_fn: Callable, bar: Any) -> list[Individual]:
        """A generation of never-seen feasible candidates: offspring of selected parents, duplicates dropped
        and the selection and variation repeated until it is full (then random draws, if need be)."""
        n = min(self.settings.population, self.budget - len(self.archive))
        fresh: dict[str, ArchConfig] = {}
        taken = ChainMap(fresh, self.archive.records)
        for _ in range(MATING_ROUNDS if self.method.evolves else 0):
            for kid in self.variation.offspring(self.method.parents(pop, self.rng), self.rng):
                arch = self._admit(kid, taken)
                if arch is not None:
                    fresh[str(arch)] = arch
                    if len(fresh) == n:
                        break
            if len(fresh) == n:
                break
        while len(fresh) < n:
            arch = self._draw(taken)
            if arch is None:
                break
            fresh[str(arch)] = arch
        return [self._scored(a, gen, eval_fn, bar) for a in fresh.values()]

    def front(self) -> list[Evaluation]:
        """Non-dominated records among everything evaluated so far, in evaluation order."""
        return self.archive.front()

    def hypervolume(self) -> float:
        return self.archive.hypervolume()

    def _log(self, gen: int, new: list[Individual], seconds: float) -> dict:
        recs = list(itertools.islice(reversed(self.archive.records.values()), len(new)))
        row = {"gen": gen, "evals": len(new), "unique_evals": len(self.archive), "cache_hits": self.cache_hits,
               "front_size": len(self.archive.front()), "hypervolume": self.archive.hypervolume(),
               "seconds": seconds,
               "seconds_per_eval": sum(r.get("eval_seconds", 0.0) for r in recs) / max(1, len(recs))}
        row.update({f"{name}_best": best for name, best in self.archive.best.items()})
        if self.archive.constraints:
            row["missed_score_bounds"] = self.archive.missed
        self.logbook.append(row)
        return row

    def _save(self, gen: int, pop: list[Individual]) -> None:
        if self.run_dir is not None:
            append_generation(self.run_dir, self.logbook[-1])
            write_checkpoint(self.run_dir, self.state_settings(), gen, pop, self.rng, len(self.archive),
                             self.cache_hits)

    def _resume(self) -> tuple[int, list[Individual]] | None:
        if self.run_dir is None:
            return None
        fields = [o.field for o in self.objectives] + [c.field for c in self.constraints]
        saved = read_state(self.run_dir, self.state_settings(), len(self.objectives), self.sizes, fields, self.rng)
        if saved is None:
            return None
        self.memo.update({k: Evaluation.from_row(r, self.cost_fields) for k, r in saved.cache.items()})
        for k in saved.evaluated:
            self.archive.add(self.memo[k])
        self.cache_hits, self.logbook = saved.cache_hits, saved.logbook
        return saved.gen, saved.population

    def run(self, eval_fn: Callable[[ArchConfig], dict],
            on_generation: Callable[[int, dict], None] | None = None) -> list[Evaluation]:
        """Evolve until ``generations`` or the budget is reached; returns the final front.

        :attr:`status` then says how it ended: ``finished`` (the generations or the budget were spent),
        ``stopped`` (no unseen candidate meeting the cost bounds was left: the budget was not spent) or
        ``infeasible`` (no evaluated candidate met the score bounds: the front is empty).

        ``eval_fn`` scores a candidate (arch -> acc, recall, eval_seconds, ...; expensive);
        ``on_generation`` is called with (gen, logbook row) after each generation (TensorBoard, plots).
        """
        self.status = "finished"
        loaded = self._resume()
        bar = tqdm(total=self.budget, initial=len(self.records), desc=f"{self.label} {self.algorithm}",
                   disable=not self.progress)
        if loaded is None:
            t = time.perf_counter()
            pop = self._initial(eval_fn, bar)
            row = self._log(0, pop, time.perf_counter() - t)
            if on_generation:
                on_generation(0, row)
            gen = 0
            self._save(gen, pop)
        else:
            gen, pop = loaded
        while gen < self.settings.generations and len(self.records) < self.budget:
            gen += 1
            t = time.perf_counter()
            children = self._offspring(pop, gen, eval_fn, bar)
            if not children:  # said, not silent: the budget was not spent
                print(f"{self.label}: stopped at generation {gen} after {len(self.records)} of {self.budget} unique "
                      "evaluations: no unseen candidate that meets the constraints was found", flush=True)
                self.status = "stopped"
                break
            pop = self.method.survivors(pop + children, min(self.settings.population, len(pop) + len(children)),
                                        self.rng)
            row = self._log(gen, children, time.perf_counter() - t)
            if on_generation:
                on_generation(gen, row)
            self._save(gen, pop)
        bar.close()
        if self.archive.records and not self.archive.front():
            self.status = "infeasible"
        return self.archive.front()
