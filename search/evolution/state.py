"""The resumable state of a search in its run folder: ``cache.jsonl``, ``generations.jsonl``, ``checkpoint.json``.

``cache.jsonl`` holds each evaluated candidate's flat record, one JSON line per evaluation in
evaluation order, and ``generations.jsonl`` the logbook, one line per generation; both are
*appended* to (a search of thousands of evaluations no longer rewrites everything it kept after
each one). ``checkpoint.json`` holds the population, the search's random generator and how many
records of the cache the run had made (written atomically after every generation, after its
logbook line). A resumed run takes the first ``evaluated`` records as its own and keeps any later
ones (made after the last checkpoint) as a cache of scores, so re-evaluating them costs nothing. Before a resumed run trusts the files, every field it reads is
checked, so a damaged or hand-edited file is one line naming the file and key, not a traceback or
a front built on a NaN. Folders written before the cache was a log (``cache.json``, state
version 1) are read too, and converted.
"""
from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from search.evolution.algorithms import Individual
from search.evolution.records import Evaluation
from core.errors import GreenError
from core.io import append_line, write_atomic
from core.validate import finite_number, is_number, of_type, read_json, whole_number
from core.jsontypes import JSONObject

VERSION = 2
CACHE, CHECKPOINT, GENERATIONS = "cache.jsonl", "checkpoint.json", "generations.jsonl"
LEGACY_CACHE = "cache.json"  # state version 1: the whole cache as one mapping, rewritten per evaluation
LEGACY_VARIATION = "uniform + uniform"  # the operators of every search written before they were a setting


@dataclass
class Saved:
    """What a resumed run continues from: ``cache`` is every cached row by key, the run's own first."""

    gen: int
    population: list[Individual]
    evaluated: list[str]
    cache: dict[str, dict[str, Any]]
    cache_hits: int
    logbook: list[dict[str, Any]]


def has_state(folder: Path) -> bool:
    """Does ``folder`` hold evaluations of a search (of this or an older version)?"""
    return (folder / CACHE).is_file() or (folder / LEGACY_CACHE).is_file()


def append_record(folder: Path, record: Evaluation) -> None:
    """Add one evaluation to the folder's cache."""
    append_line(folder / CACHE, json.dumps(record.row()))


def read_log(path: Path) -> list[Any]:
    """The JSON values of a log, one per line (a last line cut short by a crash is left out)."""
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except (OSError, UnicodeDecodeError) as err:
        raise GreenError(f"search state {str(path)!r} is unreadable ({type(err).__name__})") from None
    out = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            if i == len(lines) - 1:  # unterminated: the line being appended when the run was killed
                break
            raise GreenError(f"search state {str(path)!r}: line {i + 1} is not a JSON record") from None
    return out


def read_cache(folder: Path) -> dict[str, JSONObject]:
    """Every cached row by key, in evaluation order."""
    path = folder / CACHE
    if not path.is_file():
        return of_type(read_json(folder / LEGACY_CACHE, "search state"), dict,
                       f"search state {str(folder / LEGACY_CACHE)!r}")
    rows: dict[str, dict[str, Any]] = {}
    for i, row in enumerate(read_log(path)):
        where = f"search state {str(path)!r}: line {i + 1}"
        key = of_type(row, dict, where).get("arch")
        if not isinstance(key, str) or key in rows:
            raise GreenError(f"{where} has {'a repeated' if key in rows else 'no'} arch key {key!r:.60}")
        rows[key] = row
    return rows


def append_generation(folder: Path, row: JSONObject) -> None:
    """Add one generation's logbook row to the folder's log of them."""
    append_line(folder / GENERATIONS, json.dumps(row))


def _keep(path: Path, rows: Sequence[Any], n: int) -> None:
    """Leave the first ``n`` of a log's ``rows`` in it (a resumed run appends right after them)."""
    if len(rows) > n or _cut_short(path) or not path.is_file():
        write_atomic(path, "".join(json.dumps(r) + "\n" for r in rows[:n]))


def _cut_short(path: Path) -> bool:
    """Does the log end inside a line (a run killed while appending)?"""
    if not path.is_file():
        return False
    with open(path, "rb") as f:
        f.seek(0, 2)
        if f.tell() == 0:
            return False
        f.seek(-1, 2)
        return f.read(1) != b"\n"


def write_checkpoint(folder: Path, settings: JSONObject, gen: int, pop: Sequence[Individual],
                     rng: random.Random, evaluated: int, cache_hits: int) -> None:
    """The state after generation ``gen``: the first ``evaluated`` records of the cache are the run's own,
    and the first ``gen + 1`` rows of the generations log."""
    state = {
        "version": VERSION, "settings": settings, "gen": gen,
        "population": [{"genome": list(i), "values": list(i.fitness.values),
                        "crowding": getattr(i.fitness, "crowding_dist", None)} for i in pop],
        "random_state": _state_to_json(rng.getstate()), "evaluated": evaluated,
        "cache_hits": cache_hits,
    }
    # one line: json's C encoder (an indented dump runs the pure-Python one, a tenth of a millisecond per evaluation
    # in a fast search: bench/optimizer.py's overhead)
    write_atomic(folder / CHECKPOINT, json.dumps(state) + "\n")
    (folder / LEGACY_CACHE).unlink(missing_ok=True)  # a converted version-1 folder: the log replaces it


def read_state(folder: Path, settings: JSONObject, nobj: int, sizes: Sequence[int], fields: Sequence[str],
               rng: random.Random) -> Saved | None:
    """The saved state of ``folder`` (``rng`` set to the saved generator), or None for a fresh folder.

    ``settings`` must equal the saved ones; ``fields`` are the figures every cached record must hold
    as finite numbers (the objectives' and the constraints'). The cache is left holding the run's own
    records only, so the resumed run appends after them."""
    path = folder / CHECKPOINT
    if not path.is_file():
        return None
    state = of_type(read_json(path, "search state"), dict, f"search state {str(path)!r}")
    version = state.get("version")
    if version not in (1, VERSION):
        raise GreenError(f"{str(path)!r} has state version {version}, expected {VERSION}")
    cache = read_cache(folder) if version == VERSION else of_type(
        read_json(folder / LEGACY_CACHE, "search state"), dict, f"search state {str(folder / LEGACY_CACHE)!r}")
    saved_settings = of_type(state.get("settings"), dict, f"search state {str(path)!r}: settings")
    if version == 1:
        saved_settings.setdefault("variation", LEGACY_VARIATION)
        logbook = of_type(state.get("logbook"), list, f"search state {str(path)!r}: logbook")
        order = of_type(state.get("evaluated"), list, f"search state {str(path)!r}: evaluated")
        bad = next((k for k in order if not isinstance(k, str) or k not in cache), None)
        if bad is not None or len(set(order)) != len(order):
            raise GreenError(f"search state {str(path)!r}: evaluated holds {bad!r:.60}, which has no record in "
                             f"{str(folder / LEGACY_CACHE)!r} or is repeated; use a new run folder")
        cache = {**{k: cache[k] for k in order}, **cache}
        state["evaluated"] = len(order)
    else:
        logbook = read_log(folder / GENERATIONS) if (folder / GENERATIONS).is_file() else []
    if saved_settings != settings:  # before the files are checked against today's objectives: name the change
        diff = {k: (saved_settings.get(k), v) for k, v in settings.items() if saved_settings.get(k) != v}
        what = ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in diff.items())
        lead = "the objectives changed" if "objectives" in diff or "constraints" in diff else "the settings changed"
        raise GreenError(f"run folder {str(folder)!r} holds a search of other settings: {lead} ({what}); rerun with "
                         "the saved ones to resume it, or use a new run folder")
    _check(folder, state, cache, nobj, sizes, fields, CACHE if version == VERSION else LEGACY_CACHE)
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
    evaluated = list(cache)[:state["evaluated"]]
    if len(logbook) <= state["gen"]:
        raise GreenError(f"search state {str(folder / GENERATIONS)!r} has {len(logbook)} generations, the "
                         f"checkpoint {state['gen'] + 1}; use a new run folder")
    _keep(folder / CACHE, list(cache.values()), len(evaluated))
    _keep(folder / GENERATIONS, logbook, state["gen"] + 1)
    return Saved(state["gen"], pop, evaluated, cache, state["cache_hits"], logbook[:state["gen"] + 1])


def _check(folder: Path, state: dict, cache: dict, nobj: int, sizes: Sequence[int], fields: Sequence[str],
           cache_name: str) -> None:
    """Types and ranges of everything a resumed run trusts."""
    ck, cf = f"search state {str(folder / CHECKPOINT)!r}", str(folder / cache_name)
    whole_number(state.get("gen"), f"{ck}: gen", 0)
    whole_number(state.get("cache_hits"), f"{ck}: cache_hits", 0)
    of_type(state.get("random_state"), list, f"{ck}: random_state")
    for key, record in cache.items():
        where = f"search state {cf!r}: [{key!r}]"
        of_type(record, dict, where)
        for f in fields:
            finite_number(record.get(f), f"{where}.{f}")
        check_genome(record.get("genome"), sizes, f"{where}.genome")
    whole_number(state.get("evaluated"), f"{ck}: evaluated", 0)
    if state["evaluated"] > len(cache):
        raise GreenError(f"{ck}: evaluated = {state['evaluated']}, but {cf!r} holds {len(cache)} records; "
                         "use a new run folder")
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
