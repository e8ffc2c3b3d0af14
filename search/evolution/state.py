"""The resumable state of a search in its run folder: ``cache.json`` and ``checkpoint.json``.

``cache.json`` maps each evaluated candidate to its flat record (rewritten after every
evaluation); ``checkpoint.json`` holds the population, the search's random generator, the
evaluation order and the logbook (rewritten after every generation). Both are written
atomically. Before a resumed run trusts them, every field it reads is checked, so a damaged or
hand-edited file is one line naming the file and key, not a traceback or a front built on a NaN.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from search.evolution.algorithms import Individual
from search.evolution.records import Evaluation
from supernet.errors import GreenError
from supernet.io import write_json
from supernet.validate import finite_number, is_number, of_type, read_json, whole_number

VERSION = 1
CACHE, CHECKPOINT = "cache.json", "checkpoint.json"


@dataclass
class Saved:
    """What a resumed run continues from."""

    gen: int
    population: list[Individual]
    evaluated: list[str]
    cache: dict[str, dict[str, Any]]
    cache_hits: int
    logbook: list[dict[str, Any]]


def write_cache(folder: Path, memo: dict[str, Evaluation]) -> None:
    write_json(folder / CACHE, {k: e.row() for k, e in memo.items()})


def write_checkpoint(folder: Path, settings: dict[str, Any], gen: int, pop: Sequence[Individual],
                     rng: random.Random, evaluated: Sequence[str], cache_hits: int, logbook: list[dict]) -> None:
    state = {
        "version": VERSION, "settings": settings, "gen": gen,
        "population": [{"genome": list(i), "values": list(i.fitness.values),
                        "crowding": getattr(i.fitness, "crowding_dist", None)} for i in pop],
        "random_state": _state_to_json(rng.getstate()), "evaluated": list(evaluated),
        "cache_hits": cache_hits, "logbook": logbook,
    }
    write_json(folder / CHECKPOINT, state)


def read_state(folder: Path, settings: dict[str, Any], nobj: int, sizes: Sequence[int], fields: Sequence[str],
               rng: random.Random) -> Saved | None:
    """The saved state of ``folder`` (``rng`` set to the saved generator), or None for a fresh folder.

    ``settings`` must equal the saved ones; ``fields`` are the figures every cached record must hold
    as finite numbers (the objectives' and the constraints')."""
    path = folder / CHECKPOINT
    if not path.is_file():
        return None
    state = of_type(read_json(path, "search state"), dict, f"search state {str(path)!r}")
    cache = of_type(read_json(folder / CACHE, "search state"), dict, f"search state {str(folder / CACHE)!r}")
    if state.get("version") != VERSION:
        raise GreenError(f"{str(path)!r} has state version {state.get('version')}, expected {VERSION}")
    _check(folder, state, cache, nobj, sizes, fields)
    if state["settings"] != settings:
        diff = {k: (state["settings"].get(k), v) for k, v in settings.items() if state["settings"].get(k) != v}
        raise GreenError(f"run folder {str(folder)!r} holds a search with other settings "
                         f"(saved vs now: {diff}); use a new run folder")
    try:
        rng.setstate(_state_from_json(state["random_state"]))
    except (TypeError, ValueError, IndexError):
        raise GreenError(f"search state {str(path)!r}: random_state is not a saved Python RNG state") from None
    pop = []
    for item in state["population"]:
        ind = Individual(item["genome"], nobj)
        ind.fitness.values = tuple(item["values"])
        if item["crowding"] is not None:
            ind.fitness.crowding_dist = item["crowding"]
        pop.append(ind)
    return Saved(state["gen"], pop, state["evaluated"], cache, state["cache_hits"], state["logbook"])


def _check(folder: Path, state: dict, cache: dict, nobj: int, sizes: Sequence[int], fields: Sequence[str]) -> None:
    """Types and ranges of everything a resumed run trusts."""
    ck, cf = f"search state {str(folder / CHECKPOINT)!r}", str(folder / CACHE)
    of_type(state.get("settings"), dict, f"{ck}: settings")
    whole_number(state.get("gen"), f"{ck}: gen", 0)
    whole_number(state.get("cache_hits"), f"{ck}: cache_hits", 0)
    of_type(state.get("logbook"), list, f"{ck}: logbook")
    of_type(state.get("random_state"), list, f"{ck}: random_state")
    for key, record in cache.items():
        where = f"search state {cf!r}: [{key!r}]"
        of_type(record, dict, where)
        for f in fields:
            finite_number(record.get(f), f"{where}.{f}")
        check_genome(record.get("genome"), sizes, f"{where}.genome")
    for i, key in enumerate(of_type(state.get("evaluated"), list, f"{ck}: evaluated")):
        if not isinstance(key, str) or key not in cache:
            raise GreenError(f"{ck}: evaluated[{i}] = {key!r} has no record in {cf!r}; use a new run folder")
    for i, item in enumerate(of_type(state.get("population"), list, f"{ck}: population")):
        of_type(item, dict, f"{ck}: population[{i}]")
        check_genome(item.get("genome"), sizes, f"{ck}: population[{i}].genome")
        values = of_type(item.get("values"), list, f"{ck}: population[{i}].values")
        if len(values) != nobj:
            raise GreenError(f"{ck}: population[{i}].values has {len(values)} figures, not one per objective")
        for j, v in enumerate(values):
            finite_number(v, f"{ck}: population[{i}].values[{j}]")
        crowd = item.get("crowding")
        if crowd is not None and (not is_number(crowd) or math.isnan(crowd)):  # boundary points: infinity
            raise GreenError(f"{ck}: population[{i}].crowding must be a number or null, got {crowd!r}")


def check_genome(genome: Any, sizes: Sequence[int], where: str) -> None:
    """``genome`` is a list of one valid gene per position of a genome of ``sizes``."""
    if not isinstance(genome, list) or len(genome) != len(sizes):
        raise GreenError(f"{where} must be a list of {len(sizes)} genes, got {genome!r:.60}")
    for g, n in zip(genome, sizes):
        if not isinstance(g, int) or isinstance(g, bool) or not 0 <= g < n:
            raise GreenError(f"{where} holds {g!r}, not a gene of this space (0 to {n - 1})")


def _state_to_json(state: tuple) -> list:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _state_from_json(state: Sequence) -> tuple:
    return (state[0], tuple(state[1]), state[2])
