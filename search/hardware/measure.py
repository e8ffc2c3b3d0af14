"""One measurement session for every final model of a run: latency round-robin, energy on one scale.

Models timed one after another, minutes apart, drift apart on a shared machine (the same arch,
timed as a winner and as its from-scratch twin, differed by up to 1.5x). Here every model and batch
size is one item of a single :func:`search.hardware.timing.measure` call: trials interleaved in a shuffled
order, so drift hits every model alike, and each figure is a median over the trials with its
p10/p90.

Energy per image is power x latency / batch. With a hardware counter (NVML, RAPL) the power of
each model is measured (idle subtracted) and the figure is labelled ``nvml``/``rapl``. Without one
the power is codecarbon's model, an estimate proportional to time: it is measured *once* for the
session, over a round-robin of every model's serving-batch call, and that single figure prices
every model, so the energies of one report share one scale (``codecarbon-estimate``).

Deployment targets join the same session: a model served by ONNX Runtime (float32 or int8, :mod:`search.targets`)
is one more item of the round-robin, so a winner's torch, float and int8 latencies are timed under one machine
state, and, without a counter, priced by the same one power figure.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from core.device import DEFAULT_MEMORY_FORMAT, Device, set_threads
from core.energy import MEASURED_SOURCES, find_meter, measure_power
from search.hardware.timing import device_fingerprint, measure, runner
from core.errors import GreenError
from core.jsontypes import JSONObject
from search.targets import Session as Served



@dataclass(frozen=True)
class Latency:
    """Milliseconds per call at one batch size: the median over the trials and its p10/p90."""

    median: float
    p10: float
    p90: float


@dataclass(frozen=True)
class Measured:
    """One model's figures from one measurement session: latency at each batch size (the first is
    batch 1, the last the serving batch) and energy per image at the serving batch, source-labelled."""

    latency: Mapping[int, Latency]
    power_w: float
    energy_source: str
    energy_batch_size: int
    memory_format: str | None = None  # stated when the model was measured alone (green-finetune, green-baselines)

    @property
    def latency_ms(self) -> float:
        return next(iter(self.latency.values())).median

    @property
    def energy_mj_per_image(self) -> float:
        return self.power_w * self.latency[self.energy_batch_size].median / self.energy_batch_size

    def to_json(self) -> JSONObject:
        """The flat row layout of results files: ``latency_ms_b<bs>`` with ``_p10``/``_p90``, ``latency_ms``,
        ``power_w``, ``energy_mj_per_image``, ``energy_source``, ``energy_batch_size``."""
        row: JSONObject = {}
        for bs, lat in self.latency.items():
            row[f"latency_ms_b{bs}"], row[f"latency_ms_b{bs}_p10"], row[f"latency_ms_b{bs}_p90"] = \
                lat.median, lat.p10, lat.p90
        row.update(latency_ms=self.latency_ms, power_w=self.power_w, energy_mj_per_image=self.energy_mj_per_image,
                   energy_source=self.energy_source, energy_batch_size=self.energy_batch_size)
        if self.memory_format is not None:
            row["memory_format"] = self.memory_format
        return row


@dataclass(frozen=True)
class Session:
    """Every model of one session and the conditions it ran under (batch sizes, trials, threads, power,
    the device fingerprint), written as ``measure.json``; ``targets`` holds the figures of the models served by
    each other deployment target (``{target: {model: Measured}}``), timed in the same session."""

    models: Mapping[str, Measured]
    conditions: JSONObject = field(default_factory=dict)
    targets: Mapping[str, Mapping[str, Measured]] = field(default_factory=dict)

    def to_json(self) -> JSONObject:
        out: JSONObject = {"models": {name: m.to_json() for name, m in self.models.items()}, "session": self.conditions}
        if self.targets:
            out["targets"] = {t: {name: m.to_json() for name, m in ms.items()} for t, ms in self.targets.items()}
        return out


def measure_models(models: Mapping[str, tuple[nn.Module, int, int]], device: torch.device,
                   batch_sizes: Sequence[int], trials: int = 15, warmup: int = 2, min_call_ms: float = 20.0,
                   power_window_s: float = 5.0, country_iso_code: str = "USA", threads: int | None = 1,
                   seed: int = 0, memory_format: str = DEFAULT_MEMORY_FORMAT,
                   served: Mapping[str, Mapping[str, Served]] | None = None) -> Session:
    """Latency (ms) at each batch size and energy per image of every model, in one session.

    ``models`` maps a name to ``(model, in_chans, resolution)``. Each model's :class:`Measured` has its
    latency at every batch size and its energy per image at the last (serving) batch size. Every model
    runs in ``memory_format``, the layout it is served in. ``served`` (``{target: {model name: session}}``, the
    sessions of other deployment targets) are timed in the same round-robin, and their figures returned as
    :attr:`Session.targets`.
    """
    if not models:
        raise GreenError("no models to measure")
    if not batch_sizes or any(int(b) < 1 for b in batch_sizes):
        raise GreenError(f"batch sizes must be a non-empty list of positive sizes, got {list(batch_sizes)}")
    if trials < 1:
        raise GreenError(f"measurement trials must be >= 1, got {trials}")
    Device.of(str(device), None, memory_format, key="measure.device")
    batch_sizes = [int(b) for b in batch_sizes]
    before = torch.get_num_threads()
    ran_at = set_threads(threads)  # the session's record: the count it is timed at, not the caller's restored below
    try:
        fingerprint = device_fingerprint(device)  # read while the session's thread count is in force
        calls = {(name, bs): runner(m, (bs, c, r, r), device, memory_format=memory_format)
                 for name, (m, c, r) in models.items() for bs in batch_sizes}
        # another target's item is (model, batch, target): one round-robin over models x targets x batch sizes
        calls.update({(name, bs, t): s.caller(bs, seed) for t, ss in (served or {}).items()
                      for name, s in ss.items() for bs in batch_sizes})
        lat = measure(calls, device, trials, warmup, min_call_ms, seed=seed)
        serving = batch_sizes[-1]
        items = [k[:1] + k[2:] for k in calls if k[1] == serving]  # (model,) or (model, target)
        meter = find_meter(device)
        power: dict[tuple, tuple[float, str]] = {}
        if meter is not None:  # counters: each model's own power, idle subtracted over the same window
            idle = measure_power(None, power_window_s, meter).watts
            for item in items:
                p = measure_power(calls[(item[0], serving, *item[1:])], power_window_s, meter)
                power[item] = (max(0.0, p.watts - idle), p.source)
            session_power = {"source": meter.source, "idle_w": idle, "per_model": True}
        else:  # no counter: one estimated power figure for the whole session, every target's calls included
            cycle = itertools.cycle([calls[(item[0], serving, *item[1:])] for item in items])
            p = measure_power(lambda: next(cycle)(), power_window_s, None, country_iso_code)
            power = {item: (p.watts, p.source) for item in items}
            session_power = {"source": p.source, "watts": p.watts, "per_model": False, "seconds": p.seconds,
                             "detail": p.detail}
    finally:
        torch.set_num_threads(before)

    def figures(item: tuple) -> Measured:
        watts, source = power[item]
        lats = {bs: lat[(item[0], bs, *item[1:])] for bs in batch_sizes}
        return Measured({bs: Latency(v["median"], v["p10"], v["p90"]) for bs, v in lats.items()}, watts,
                        source if source in MEASURED_SOURCES or len(items) == 1
                        else f"{source} (one power figure per session)", serving)
    session: JSONObject = {
        "batch_sizes": list(batch_sizes), "trials": trials, "warmup": warmup, "min_call_ms": min_call_ms,
        "threads": ran_at, "memory_format": memory_format,
        "order": "all models" + (", targets" if served else "") + " and batch sizes interleaved, shuffled each trial",
        "power": session_power, **fingerprint}
    return Session({name: figures((name,)) for name in models}, session,
                   {t: {name: figures((name, t)) for name in ss} for t, ss in (served or {}).items()})


def measure_deployed(model: torch.nn.Module, in_chans: int, resolution: int, device: torch.device,
                     batch_sizes: Sequence[int], cfg: Any) -> Measured:
    """One model's latency at each batch size and energy per image on ``device`` (source-labelled): what
    ``green-finetune`` and ``green-baselines`` measure of a model they trained (``measure`` of their config).

    A session of one model (:func:`measure_models`), so a model measured alone and the models of ``green-run``'s
    measurement session get their energy per image from the same code."""
    fmt = str(cfg.get("memory_format", DEFAULT_MEMORY_FORMAT))  # measured in the layout it is served in
    res = measure_models({"model": (model, in_chans, resolution)}, device, batch_sizes, int(cfg.trials),
                         int(cfg.warmup), float(cfg.min_call_ms), float(cfg.power_window_s),
                         str(cfg.country_iso_code), cfg.get("threads"), 0, fmt)
    return replace(res.models["model"], memory_format=fmt)
