"""Multi-objective evolution of subnets with DEAP: NSGA-II, NSGA-III, and random search as baseline.

Genomes are the search space's canonical integer genomes. Offspring come from DEAP's operators
(tournament on dominance and crowding for NSGA-II, uniform crossover, uniform integer mutation);
an offspring that repeats a known genome, or breaks a cost constraint, is redrawn, so the budget
counts *unique* evaluations and infeasible candidates never cost one. Survivors are chosen by
``selNSGA2`` or ``selNSGA3`` (uniform reference points) over parents and offspring.

State lives in the run folder and is rewritten atomically: ``cache.json`` (every evaluated record,
after each evaluation) and ``checkpoint.json`` (population, RNG state, evaluation order, logbook,
after each generation). Rerunning on the folder resumes at the last finished generation and,
with the same seed, ends with the same front as an uninterrupted run (DEAP draws from Python's
global ``random``, whose state is saved; re-evaluations come from the cache).
"""
from __future__ import annotations

import copy
import math
import random
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from deap import base, tools
from tqdm.auto import tqdm

from search.evolution.objectives import Constraint, Normaliser, Objective, hypervolume, pareto_front
from supernet.errors import GreenError
from supernet.io import write_json
from supernet.space import ArchConfig, SearchSpace
from supernet.validate import finite_number, is_number, of_type, read_json, whole_number

ALGORITHMS = ("nsga2", "nsga3", "random")
STATE_VERSION = 1


class Fitness(base.Fitness):
    """Normalised objectives, all minimised (see :class:`~search.evolution.objectives.Normaliser`)."""

    weights: tuple[float, ...] = ()


class Individual(list):
    """A canonical genome with a DEAP fitness."""

    def __init__(self, genes: Sequence[int], nobj: int):
        super().__init__(genes)
        self.fitness = type("F", (Fitness,), {"weights": (-1.0,) * nobj})()


class Evolution:
    """One search run. Call :meth:`run`; read :attr:`records` and :meth:`front` afterwards.

    Args:
        space: the search space.
        objectives, constraints: what to optimise and the cost bounds.
        cost_fn: arch -> cost record (params, macs, latency_ms, energy_mj, energy_source); cheap.
        eval_fn: arch -> accuracy record (acc, recall, eval_seconds); expensive.
        algorithm: nsga2, nsga3 or random.
        population: individuals per generation (offspring per generation too).
        generations: generations after the initial population.
        budget: unique evaluations at most (None: population * (generations + 1)).
        cx_prob, mut_prob: probabilities of crossover per pair and of mutation per individual.
        mut_indpb: probability of each gene to mutate (None: 1 / genome length, at least 0.05).
        nsga3_divisions: reference-point divisions of NSGA-III.
        seed: seeds Python's ``random`` (DEAP's source of randomness) for a fresh run.
        run_dir: folder for cache and checkpoint (None: keep nothing on disk).
        memo: a shared evaluation cache (deterministic evaluations may be shared between runs).
        on_generation: called with (gen, logbook row) after each generation (TensorBoard, plots).
        bounds: upper bounds of the minimised objectives' fields for the normaliser (None: the cost
            of the space's largest candidate, for costs known before evaluation).
        initial: candidates placed in the initial population before the random draws (a warm start
            from known good settings); ignored by random search.

    ``space`` may be any object with the genome interface of :class:`~supernet.space.SearchSpace`
    (``gene_sizes``, ``encode``, ``decode``, ``sample``, ``largest``, ``smallest``, ``digest``):
    ``green-hpo`` evolves training hyperparameters with the same machinery.
    """

    def __init__(self, space: SearchSpace, objectives: Sequence[Objective], constraints: Sequence[Constraint],
                 cost_fn: Callable[[ArchConfig], dict], eval_fn: Callable[[ArchConfig], dict],
                 algorithm: str = "nsga2", population: int = 16, generations: int = 10, budget: int | None = None,
                 cx_prob: float = 0.9, mut_prob: float = 1.0, mut_indpb: float | None = None,
                 nsga3_divisions: int = 4, seed: int = 0, run_dir: str | Path | None = None,
                 memo: dict[str, dict] | None = None, on_generation: Callable[[int, dict], None] | None = None,
                 progress: bool = True, bounds: dict[str, float] | None = None, initial: Sequence[Any] = ()):
        if algorithm not in ALGORITHMS:
            raise GreenError(f"unknown algorithm {algorithm!r}; choose from {ALGORITHMS}")
        if population < 2:
            raise GreenError(f"population must be >= 2, got {population}")
        if algorithm == "nsga2" and population % 4:
            raise GreenError(f"population {population} is not usable by NSGA-II's tournament selection "
                             "(selTournamentDCD): use a multiple of 4")
        if generations < 0:
            raise GreenError(f"generations must be >= 0, got {generations}")
        budget = population * (generations + 1) if budget is None else int(budget)
        if budget < 1:
            raise GreenError(f"budget must be >= 1 unique evaluation, got {budget}")
        if not (0 <= cx_prob <= 1 and 0 <= mut_prob <= 1):
            raise GreenError("cx_prob and mut_prob must lie in [0, 1]")
        self.space, self.objectives, self.constraints = space, list(objectives), list(constraints)
        self.cost_fn, self.eval_fn = cost_fn, eval_fn
        self.algorithm, self.population, self.generations, self.budget = algorithm, population, generations, budget
        self.cx_prob, self.mut_prob, self.seed = cx_prob, mut_prob, seed
        self.sizes = space.gene_sizes()
        self.mut_indpb = mut_indpb if mut_indpb is not None else max(0.05, 1.0 / len(self.sizes))
        self.ref_points = tools.uniform_reference_points(len(objectives), nsga3_divisions) if algorithm == "nsga3" else None
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.memo = memo if memo is not None else {}
        self.on_generation, self.progress = on_generation, progress
        self.label = "green-search"
        self.initial = list(initial) if algorithm != "random" else []
        self.norm = Normaliser(objectives, bounds if bounds is not None else cost_fn(space.largest()))
        self.records: dict[str, dict] = {}  # key -> record, in evaluation order
        self.logbook: list[dict] = []
        self.cache_hits = 0
        self._cost_cache: dict[str, dict] = {}

    # ------------------------------------------------------------------ bookkeeping
    def settings(self) -> dict[str, Any]:
        """What a resumed run must share with the run that wrote the folder."""
        return {"space_digest": self.space.digest(), "objectives": [o.name for o in self.objectives],
                "constraints": [str(c) for c in self.constraints], "algorithm": self.algorithm,
                "population": self.population, "cx_prob": self.cx_prob, "mut_prob": self.mut_prob,
                "mut_indpb": self.mut_indpb, "seed": self.seed, "initial": [str(a) for a in self.initial]}

    def _cost(self, arch: ArchConfig) -> dict:
        key = str(arch)
        if key not in self._cost_cache:
            self._cost_cache[key] = dict(self.cost_fn(arch))
        return self._cost_cache[key]

    def feasible(self, arch: ArchConfig) -> bool:
        cost = self._cost(arch)
        return all(c.ok(cost) for c in self.constraints)

    def _evaluate(self, arch: ArchConfig, gen: int) -> dict:
        key = str(arch)
        if key in self.memo:
            self.cache_hits += 1
            acc = {k: v for k, v in self.memo[key].items() if k not in ("arch", "genome", "gen")}
        else:  # an evaluation may reseed Python's random (Lightning's seed_everything does): the evolution's
            state = random.getstate()  # draws must not depend on it
            try:
                acc = self.eval_fn(arch)
            finally:
                random.setstate(state)
        record = {"arch": key, "genome": self.space.encode(arch), "gen": gen, **self._cost(arch), **acc}
        self.memo[key] = record
        self.records[key] = record
        if self.run_dir is not None:
            write_json(self.run_dir / "cache.json", self.memo)
        return record

    def _individual(self, arch: ArchConfig) -> Individual:
        ind = Individual(self.space.encode(arch), len(self.objectives))
        return ind

    def _set_fitness(self, ind: Individual) -> None:
        ind.fitness.values = tuple(self.norm(self.records[str(self.space.decode(ind))]))

    # ------------------------------------------------------------------ drawing candidates
    def _draw_random(self, taken: set[str]) -> ArchConfig | None:
        """A random feasible arch not in ``taken``; None if none is found in many tries."""
        for _ in range(200):
            arch = self.space.sample(random)
            if str(arch) not in taken and self.feasible(arch):
                return arch
        return None

    def _repair(self, ind: Individual, taken: set[str]) -> ArchConfig | None:
        """The offspring's arch, or a redraw if it repeats a known genome or breaks a constraint."""
        for attempt in range(12):
            arch = self.space.decode(ind)
            if str(arch) not in taken and self.feasible(arch):
                return arch
            tools.mutUniformInt(ind, low=[0] * len(self.sizes), up=[n - 1 for n in self.sizes], indpb=self.mut_indpb)
        return self._draw_random(taken)

    def _initial(self, bar) -> list[Individual]:
        pop, taken = [], set(self.records)
        n = min(self.population, self.budget - len(self.records))
        seeds = [a for a in self.initial if str(a) not in taken and self.feasible(a)]
        while len(pop) < n:
            arch = seeds.pop(0) if seeds else self._draw_random(taken)
            if arch is None:
                if not self.records and not pop:
                    raise GreenError("no subnet of the space meets the constraints "
                                     f"{[str(c) for c in self.constraints]} (smallest subnet: "
                                     f"{ {k: v for k, v in self._cost(self.space.smallest()).items()} })")
                break
            taken.add(str(arch))
            self._evaluate(arch, 0)
            bar.update(1)
            pop.append(self._individual(arch))
        for ind in pop:
            self._set_fitness(ind)
        if self.algorithm == "nsga2":
            pop = tools.selNSGA2(pop, len(pop))  # assigns the crowding distances the tournament reads
        return pop

    def _offspring(self, pop: list[Individual], gen: int, bar) -> list[Individual]:
        n = min(self.population, self.budget - len(self.records))
        taken = set(self.records)
        if self.algorithm == "random":
            children = []
            for _ in range(n):
                arch = self._draw_random(taken)
                if arch is None:
                    break
                taken.add(str(arch))
                children.append(self._individual(arch))
        else:
            if self.algorithm == "nsga2":
                parents = tools.selTournamentDCD(pop, len(pop)) if len(pop) % 4 == 0 else random.sample(pop, len(pop))
            else:
                parents = random.sample(pop, len(pop))
            kids = [copy.deepcopy(p) for p in parents]
            for a, b in zip(kids[::2], kids[1::2]):
                if random.random() < self.cx_prob:
                    tools.cxUniform(a, b, 0.5)
            for k in kids:
                if random.random() < self.mut_prob:
                    tools.mutUniformInt(k, low=[0] * len(self.sizes), up=[s - 1 for s in self.sizes],
                                        indpb=self.mut_indpb)
            children = []
            for k in kids[:n]:
                arch = self._repair(k, taken)
                if arch is None:
                    continue
                taken.add(str(arch))
                children.append(self._individual(arch))
        for c in children:
            self._evaluate(self.space.decode(c), gen)
            bar.update(1)
            self._set_fitness(c)
        return children

    def _select(self, pop: list[Individual], children: list[Individual]) -> list[Individual]:
        both = pop + children
        if self.algorithm == "nsga2":
            return tools.selNSGA2(both, min(self.population, len(both)))
        if self.algorithm == "nsga3":
            return tools.selNSGA3(both, min(self.population, len(both)), self.ref_points)
        return both  # random search keeps everything; its front is the archive's

    # ------------------------------------------------------------------ metrics
    def front(self) -> list[dict]:
        """Non-dominated records among everything evaluated so far."""
        return pareto_front(list(self.records.values()), self.norm)

    def hypervolume(self) -> float:
        return hypervolume([self.norm(r) for r in self.front()])

    def _log(self, gen: int, n_new: int, seconds: float) -> dict:
        front = self.front()
        new = [r for r in self.records.values() if r["gen"] == gen]
        row = {"gen": gen, "evals": n_new, "unique_evals": len(self.records), "cache_hits": self.cache_hits,
               "front_size": len(front), "hypervolume": hypervolume([self.norm(r) for r in front]),
               "seconds": seconds,
               "seconds_per_eval": sum(r.get("eval_seconds", 0.0) for r in new) / max(1, len(new))}
        for o in self.objectives:
            vals = [r[o.field] for r in self.records.values()]
            row[f"{o.name}_best"] = max(vals) if o.maximise else min(vals)
        self.logbook.append(row)
        if self.on_generation:
            self.on_generation(gen, row)
        return row

    # ------------------------------------------------------------------ state
    def _save(self, gen: int, pop: list[Individual]) -> None:
        if self.run_dir is None:
            return
        state = {
            "version": STATE_VERSION, "settings": self.settings(), "gen": gen,
            "population": [{"genome": list(i), "values": list(i.fitness.values),
                            "crowding": getattr(i.fitness, "crowding_dist", None)} for i in pop],
            "random_state": _state_to_json(random.getstate()), "evaluated": list(self.records),
            "cache_hits": self.cache_hits, "logbook": self.logbook,
        }
        write_json(self.run_dir / "checkpoint.json", state)

    def _load(self) -> tuple[int, list[Individual]] | None:
        if self.run_dir is None or not (self.run_dir / "checkpoint.json").is_file():
            return None
        path = self.run_dir / "checkpoint.json"
        state = of_type(read_json(path, "search state"), dict, f"search state {str(path)!r}")
        cache = of_type(read_json(self.run_dir / "cache.json", "search state"), dict,
                        f"search state {str(self.run_dir / 'cache.json')!r}")
        if state.get("version") != STATE_VERSION:
            raise GreenError(f"{str(path)!r} has state version {state.get('version')}, expected {STATE_VERSION}")
        self._check_state(state, cache)
        if state["settings"] != self.settings():
            diff = {k: (state["settings"].get(k), v) for k, v in self.settings().items() if state["settings"].get(k) != v}
            raise GreenError(f"run folder {str(self.run_dir)!r} holds a search with other settings "
                             f"(saved vs now: {diff}); use a new run folder")
        self.memo.update(cache)
        self.records = {k: cache[k] for k in state["evaluated"]}
        self.cache_hits, self.logbook = state["cache_hits"], state["logbook"]
        try:
            random.setstate(_state_from_json(state["random_state"]))
        except (TypeError, ValueError, IndexError):
            raise GreenError(f"search state {str(path)!r}: random_state is not a saved Python RNG state") from None
        pop = []
        for item in state["population"]:
            ind = Individual(item["genome"], len(self.objectives))
            ind.fitness.values = tuple(item["values"])
            if item["crowding"] is not None:
                ind.fitness.crowding_dist = item["crowding"]
            pop.append(ind)
        return state["gen"], pop

    def _check_state(self, state: dict, cache: dict) -> None:
        """Types and ranges of what a resumed run trusts, so a damaged or hand-edited state file is one line
        naming the file and key, not a traceback or a front built on a string or a NaN."""
        ck, cf = f"search state {str(self.run_dir / 'checkpoint.json')!r}", str(self.run_dir / "cache.json")
        of_type(state.get("settings"), dict, f"{ck}: settings")
        whole_number(state.get("gen"), f"{ck}: gen", 0)
        whole_number(state.get("cache_hits"), f"{ck}: cache_hits", 0)
        of_type(state.get("logbook"), list, f"{ck}: logbook")
        of_type(state.get("random_state"), list, f"{ck}: random_state")
        fields = [o.field for o in self.objectives] + [c.field for c in self.constraints]
        for key, record in cache.items():
            where = f"search state {cf!r}: [{key!r}]"
            of_type(record, dict, where)
            for f in fields:
                finite_number(record.get(f), f"{where}.{f}")
            self._check_genome(record.get("genome"), f"{where}.genome")
        for i, key in enumerate(of_type(state.get("evaluated"), list, f"{ck}: evaluated")):
            if not isinstance(key, str) or key not in cache:
                raise GreenError(f"{ck}: evaluated[{i}] = {key!r} has no record in {cf!r}; use a new run folder")
        for i, item in enumerate(of_type(state.get("population"), list, f"{ck}: population")):
            of_type(item, dict, f"{ck}: population[{i}]")
            self._check_genome(item.get("genome"), f"{ck}: population[{i}].genome")
            values = of_type(item.get("values"), list, f"{ck}: population[{i}].values")
            if len(values) != len(self.objectives):
                raise GreenError(f"{ck}: population[{i}].values has {len(values)} figures, not one per objective")
            for j, v in enumerate(values):
                finite_number(v, f"{ck}: population[{i}].values[{j}]")
            crowd = item.get("crowding")
            if crowd is not None and (not is_number(crowd) or math.isnan(crowd)):  # boundary points: infinity
                raise GreenError(f"{ck}: population[{i}].crowding must be a number or null, got {crowd!r}")

    def _check_genome(self, genome: Any, where: str) -> None:
        if not isinstance(genome, list) or len(genome) != len(self.sizes):
            raise GreenError(f"{where} must be a list of {len(self.sizes)} genes, got {genome!r:.60}")
        for g, n in zip(genome, self.sizes):
            if not isinstance(g, int) or isinstance(g, bool) or not 0 <= g < n:
                raise GreenError(f"{where} holds {g!r}, not a gene of this space (0 to {n - 1})")

    # ------------------------------------------------------------------ the loop
    def run(self) -> list[dict]:
        """Evolve until ``generations`` or the budget is reached; returns the final front."""
        loaded = self._load()
        bar = tqdm(total=self.budget, initial=len(self.records), desc=f"{self.label} {self.algorithm}",
                   disable=not self.progress)
        if loaded is None:
            random.seed(self.seed)
            t = time.perf_counter()
            pop = self._initial(bar)
            self._log(0, len(pop), time.perf_counter() - t)
            gen = 0
            self._save(gen, pop)
        else:
            gen, pop = loaded
        while gen < self.generations and len(self.records) < self.budget:
            gen += 1
            t = time.perf_counter()
            before = len(self.records)
            children = self._offspring(pop, gen, bar)
            if not children:
                break  # the space has no unseen feasible subnet left
            pop = self._select(pop, children)
            self._log(gen, len(self.records) - before, time.perf_counter() - t)
            self._save(gen, pop)
        bar.close()
        return self.front()


def _state_to_json(state: tuple) -> list:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _state_from_json(state: Sequence) -> tuple:
    return (state[0], tuple(state[1]), state[2])
