"""What a search is asked to do: objectives, constraints, algorithm, operators and budget, as one value.

Built from ``conf/search.yaml``'s ``search`` node (and ``green-hpo``'s) with ``_target_``, validated
on construction, so a bad option is one line before anything runs; :class:`~search.evolution.engine.Evolution`
runs it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from search.evolution.algorithms import CROSSOVER, ETA_CX, ETA_MUT, MUTATION, Variation, make_algorithm
from search.evolution.objectives import Constraint, Objective, parse_constraints, parse_objectives
from search.registry import load_plugins
from core.errors import GreenError

MODES = ("one_shot", "multi_trial")


@dataclass(frozen=True)
class Settings:
    """A search's objectives, constraints, algorithm and budget, validated on construction.

    ``objectives`` and ``constraints`` may be given as names and strings (``"latency_ms <= 5"``);
    ``budget`` counts unique evaluations (None: ``population * (generations + 1)``). ``algorithm``
    ``auto`` (the default) runs NSGA-II on 2 objectives and NSGA-III on 3 or more (never worse than NSGA-II on the
    3-objective problems of ``bench/optimizer.py``); :attr:`algorithm_why` says which ran and why. ``crossover``,
    ``mutation``, ``eta_cx`` and ``eta_mut`` choose the operators (:class:`Variation`). ``mode`` (how
    ``green-search`` scores candidates) and ``batch_size`` (the table's batch size of the costs)
    belong to the same config node and are read by the command, not by the evolution. ``plugins`` names user
    modules (dotted names or ``.py`` files) imported before anything is parsed, so the objectives and
    algorithms they register (:mod:`search.objectives`, :mod:`search.evolution.algorithms`) can be named.
    """

    objectives: Sequence[Any] = ("acc", "params")
    constraints: Sequence[Any] = ()
    algorithm: str = "auto"
    population: int = 16
    generations: int = 10
    budget: int | None = None
    cx_prob: float = 0.9
    mut_prob: float = 1.0
    mut_indpb: float | None = None
    crossover: str = CROSSOVER
    mutation: str = MUTATION
    eta_cx: float = ETA_CX
    eta_mut: float = ETA_MUT
    nsga3_divisions: int = 4
    seed: int = 0
    mode: str = "one_shot"
    batch_size: int | None = None
    plugins: Sequence[str] = ()  # user modules that register objectives or algorithms, imported first
    algorithm_why: str = field(init=False, default="")  # which algorithm ran and why (reports state it)

    def __post_init__(self) -> None:
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        put("plugins", tuple(str(m) for m in self.plugins or ()))
        load_plugins(self.plugins)
        objs = list(self.objectives)
        put("objectives", tuple(objs if objs and all(isinstance(o, Objective) for o in objs)
                                else parse_objectives([str(o) for o in objs])))
        cons = list(self.constraints or ())
        put("constraints", tuple(c if isinstance(c, Constraint) else parse_constraints([c])[0] for c in cons))
        if self.mode not in MODES:
            raise GreenError(f"unknown search.mode {self.mode!r}; choose from {', '.join(MODES)}")
        if self.population < 2:
            raise GreenError(f"population must be >= 2, got {self.population}")
        put("algorithm", str(self.algorithm))
        if self.algorithm == "auto":
            many = len(self.objectives) >= 3
            put("algorithm", "nsga3" if many else "nsga2")
            put("algorithm_why", f"auto for {len(self.objectives)} objective(s): " + (
                "NSGA-III, whose reference directions keep a front of 3 or more objectives spread where NSGA-II's "
                "crowding distance loses selection pressure" if many else "NSGA-II, crowding distance on a 2-D front"))
        else:
            put("algorithm_why", f"{self.algorithm}: asked for (search.algorithm)")
        make_algorithm(self.algorithm, len(self.objectives))
        self.variation((2,), ("ordinal",))  # refuses unknown operators and negative distribution indices
        if self.generations < 0:
            raise GreenError(f"generations must be >= 0, got {self.generations}")
        put("budget", self.population * (self.generations + 1) if self.budget is None else int(self.budget))
        if self.budget < 1:
            raise GreenError(f"search.budget must be >= 1 unique evaluation, got {self.budget}")
        if not (0 <= self.cx_prob <= 1 and 0 <= self.mut_prob <= 1):
            raise GreenError("cx_prob and mut_prob must lie in [0, 1]")

    def variation(self, sizes: Sequence[int], kinds: Sequence[str]) -> Variation:
        """The operators these settings ask for, on genomes of ``sizes`` genes of ``kinds``."""
        return Variation(tuple(sizes), tuple(kinds), self.cx_prob, self.mut_prob, self.mut_indpb, self.crossover,
                         self.mutation, self.eta_cx, self.eta_mut)
