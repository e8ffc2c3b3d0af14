"""A trained model deployed to a target: its file, what it was calibrated on, its accuracy through that runtime,
and its latency and energy measured in one interleaved session.

Deployed accuracy is the runtime's own: an int8 model's accuracy comes from the int8 session's logits on the
held-out images, beside its float original's (ONNX Runtime float32, same graph settings) on the same images, so
the accuracy cost of quantisation is a measured difference, not an assumption. Both variants and every batch size
are timed in one :func:`search.hardware.timing.measure` session (trials interleaved in a shuffled order, so drift
hits them alike). Energy per image is power x latency / batch: each variant's own power where a counter exists
(NVML, RAPL), otherwise one codecarbon power figure for the session, labelled ``codecarbon-estimate``, as
:mod:`search.hardware.measure` does for a run's final models.
"""
from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from typing import Mapping, Sequence

import torch
from torch import nn

from core.device import Device, set_threads
from core.energy import MEASURED_SOURCES, find_meter, measure_power
from core.errors import GreenError
from core.jsontypes import JSONObject
from search.hardware.timing import device_fingerprint, measure
from search.targets import Session, Target, TargetSpec, target_of
from search.targets.accuracy import RuntimeAccuracy, runtime_accuracy
from search.targets.calibration import CalibrationSet


@dataclass(frozen=True)
class Figures:
    """One variant's figures: accuracy through its runtime, latency per batch size (median, p10, p90, n) and energy
    per image at the serving (last) batch size with its source."""

    target: str
    accuracy: RuntimeAccuracy
    latency_ms: Mapping[int, Mapping[str, float]]
    energy_mj_per_image: float
    energy_source: str
    power_w: float

    def to_json(self) -> JSONObject:
        return {"target": self.target, "accuracy": self.accuracy.to_json(),
                "latency_ms": {str(bs): dict(s) for bs, s in self.latency_ms.items()},
                "energy_mj_per_image": self.energy_mj_per_image, "energy_source": self.energy_source,
                "power_w": self.power_w}


@dataclass(frozen=True)
class Deployment:
    """A model deployed to ``target``: the deployable ``file`` (None for torch: the safetensors weights are it) and
    its sha256, the calibration record (a quantising target), and the figures of the target's session first and,
    for a quantising target, of its float counterpart second (``session``: how they were measured)."""

    target: TargetSpec
    file: str | None
    sha256: str | None
    calibration: Mapping[str, object] | None
    served: tuple[Figures, ...]
    session: Mapping[str, object]

    @property
    def acc_drop_points(self) -> float | None:
        """Float accuracy minus the quantised one, in percentage points (None without a float counterpart)."""
        if len(self.served) < 2:
            return None
        return 100.0 * (self.served[1].accuracy.acc - self.served[0].accuracy.acc)

    def to_json(self) -> JSONObject:
        return {"target": self.target.to_json(), "file": self.file, "sha256": self.sha256,
                "calibration": None if self.calibration is None else dict(self.calibration),
                "served": [s.to_json() for s in self.served], "acc_drop_points": self.acc_drop_points,
                "session": dict(self.session)}

    def summary(self) -> JSONObject:
        """Flat figures for a model's arch.json and a results row (``deployed_*``)."""
        own = self.served[0]
        out: dict[str, object] = {"deployed_target": own.target, f"deployed_{own.accuracy.split}_acc": own.accuracy.acc,
                                  "deployed_energy_mj_per_image": own.energy_mj_per_image,
                                  "deployed_energy_source": own.energy_source}
        out.update({f"deployed_latency_ms_b{bs}": s["median"] for bs, s in own.latency_ms.items()})
        if self.acc_drop_points is not None:
            out[f"deployed_float_{own.accuracy.split}_acc"] = self.served[1].accuracy.acc
            out["deployed_acc_drop_points"] = self.acc_drop_points
        return out


def deploy(model: nn.Module, target: Target, dm: object, where: Device, batch_sizes: Sequence[int], split: str,
           trials: int = 7, warmup: int = 2, min_call_ms: float = 20.0, power_window_s: float = 3.0,
           country_iso_code: str = "USA", seed: int = 0) -> tuple[Deployment, dict[str, bytes]]:
    """Deploy ``model`` (inputs: ``dm``'s images) to ``target`` on ``where``; returns the record and the files to
    write beside the model (``model.<target>.onnx``, where the runtime has a file of its own).

    A quantising target is calibrated on ``calibration_images`` training images of ``dm`` (never validation or
    test ones) and measured beside its float counterpart; accuracy is measured on ``split`` (``val``/``test``).
    """
    batch_sizes = [int(b) for b in batch_sizes]
    if not batch_sizes or min(batch_sizes) < 1:
        raise GreenError(f"measure.batch_sizes must be a non-empty list of positive sizes, got {batch_sizes}")
    target.check(where, "float32")
    shape = (1, int(dm.channels), int(dm.image_size), int(dm.image_size))
    calib = (CalibrationSet.of_data(dm, int(target.calibration_images)) if target.needs_calibration else None)
    variants: list[tuple[str, Session]] = [(target.name, target.session(model, shape, where, "float32", calib))]
    counterpart = target.float_counterpart()
    if counterpart is not None:
        variants.append((counterpart.name, counterpart.session(model, shape, where, "float32")))
    before = torch.get_num_threads()
    set_threads(where.threads)
    try:
        accuracy = {name: runtime_accuracy(s, dm, split) for name, s in variants}
        calls = {(name, bs): s.caller(bs, seed) for name, s in variants for bs in batch_sizes}
        lat = measure(calls, where.torch, trials, warmup, min_call_ms, seed)
        power, session_power = _power(variants, calls, batch_sizes[-1], where, power_window_s, country_iso_code)
    finally:
        torch.set_num_threads(before)
    serving = batch_sizes[-1]
    served = tuple(Figures(name, accuracy[name], {bs: lat[(name, bs)] for bs in batch_sizes},
                          power[name][0] * lat[(name, serving)]["median"] / serving, power[name][1], power[name][0])
                   for name, _ in variants)
    artefact = variants[0][1].artefact()
    files = {} if artefact is None else {f"model.{target.name}.onnx": artefact}
    session = {"batch_sizes": batch_sizes, "trials": trials, "warmup": warmup, "min_call_ms": min_call_ms,
               "threads": where.threads, "order": "every variant and batch size interleaved, shuffled each trial",
               "power": session_power, "accuracy_split": split, **device_fingerprint(where.torch)}
    record = Deployment(target.spec(), next(iter(files), None),
                        hashlib.sha256(artefact).hexdigest() if artefact is not None else None,
                        variants[0][1].calibration, served, session)
    return record, files


def deployment_target(cfg: object) -> tuple[Target, Device] | None:
    """The target a command's ``target=`` names and the device its ``measure`` section serves on, checked before
    any work (a device or runtime this machine lacks is one line); None without ``target=``."""
    if cfg.get("target") is None:
        return None
    m = cfg.measure
    where = Device.of(m.device, m.get("threads"), m.get("memory_format"), key="measure.device")
    target = target_of(cfg.target)
    target.check(where, "float32")
    return target, where


def deploy_with(cfg: object, model: nn.Module, chosen: tuple[Target, Device], dm: object, split: str,
                arch: str) -> tuple[Deployment, dict[str, bytes]]:
    """:func:`deploy` with a command's ``measure`` settings; the files include ``deploy.json`` (the arch, the
    target's spec, the calibration identity and the measured figures), written beside the deployable file."""
    m = cfg.measure
    record, files = deploy(model, chosen[0], dm, chosen[1], list(m.batch_sizes), split, int(m.trials), int(m.warmup),
                           float(m.min_call_ms), float(m.power_window_s), str(m.country_iso_code), int(cfg.seed))
    text = json.dumps({"arch": arch, **record.to_json()}, indent=2) + "\n"
    return record, {**files, "deploy.json": text.encode()}


def _power(variants: list[tuple[str, Session]], calls: Mapping, serving: int, where: Device, window_s: float,
           country_iso_code: str) -> tuple[dict[str, tuple[float, str]], JSONObject]:
    """Each variant's power (watts, source) at the serving batch, and the session's power record."""
    meter = find_meter(where.torch)
    if meter is not None:  # counters: each variant's own power, idle subtracted over the same window
        idle = measure_power(None, window_s, meter).watts
        power = {}
        for name, _ in variants:
            p = measure_power(calls[(name, serving)], window_s, meter)
            power[name] = (max(0.0, p.watts - idle), p.source)
        return power, {"source": meter.source, "idle_w": idle, "per_model": True}
    cycle = itertools.cycle([calls[(name, serving)] for name, _ in variants])
    p = measure_power(lambda: next(cycle)(), window_s, None, country_iso_code)
    label = p.source if p.source in MEASURED_SOURCES or len(variants) == 1 else f"{p.source} (one power figure per session)"
    return ({name: (p.watts, label) for name, _ in variants},
            {"source": p.source, "watts": p.watts, "per_model": False, "seconds": p.seconds, "detail": p.detail})
