"""``green-lut``: measure the latency/energy lookup table of a search space on this device and deployment
target, or validate one (``mode=validate``) against end-to-end measurements of random subnets.

The target (``target=torch|onnxruntime|onnxruntime_int8``, :mod:`search.targets`) decides how every op and
subnet runs; the protocol (interleaved trials, end-to-end correction, interleaved retest) is the same for all,
and the table records its target so that its validation and its users run the same one.

``build_table(cfg)`` and ``validate_table(cfg)`` are the importable commands; :func:`main` is the
thin Hydra wrapper (``conf/lut.yaml``).
"""
from __future__ import annotations

import dataclasses
import gc
import random
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from tqdm.auto import tqdm

from search.hardware.cost import CostModel, count_op, fit_line, space_ops
from search.hardware.lookup import LookupTable, table_format
from search.hardware.lut_figures import log_scalars, scatter
from core.device import Device, sync
from core.energy import MEASURED_SOURCES, EnergyMeter, find_meter, measure_power
from search.stats import kendall, mape, spearman
from search.hardware.timing import device_fingerprint, measure
from search.targets import Session, Target, recorded_target, target_of
from search.targets.pytorch import DTYPES
from supernet.arch import ArchConfig
from core.errors import GreenError
from core.io import write_json
from core.jsontypes import JSONObject
from supernet.net import GreenNet
from supernet.space import SearchSpace


@dataclasses.dataclass(frozen=True)
class Served:
    """How the priced networks are served: the target (runtime and precision), the device with its threads and
    memory format, and the dtype (every timing runs in these)."""

    target: Target
    where: Device
    dtype: str

    @property
    def device(self) -> torch.device:
        return self.where.torch

    @property
    def memory_format(self) -> str:
        """The layout the networks really run in (an ONNX Runtime target ignores the request)."""
        return self.target.layout(self.where.memory_format)

    def session(self, module: torch.nn.Module, shape: tuple[int, ...], seed: int) -> Session:
        """``module`` made runnable by the target (a quantising one calibrated as a table is: time only)."""
        return self.target.session(module, shape, self.where, self.dtype, self.target.calibration_for(shape, seed))


def _setup(cfg: DictConfig) -> tuple[SearchSpace, Served, int, int]:
    if cfg.dtype not in DTYPES:
        raise GreenError(f"unknown dtype {cfg.dtype!r}; choose from {sorted(DTYPES)}")
    dev = Device.of(cfg.device, cfg.threads, cfg.memory_format).activate()  # one line for a bad one of the three
    target = target_of(cfg.get("target"))
    target.check(dev, str(cfg.dtype))
    space = instantiate(cfg.space)
    num_classes = cfg.num_classes or instantiate(cfg.data).peek_num_classes()
    return space, Served(target, dev, str(cfg.dtype)), int(num_classes), int(cfg.in_chans)


def _net_call(space: SearchSpace, arch: ArchConfig, num_classes: int, in_chans: int, bs: int, served: Served,
              seed: int = 0):
    net = GreenNet(space, arch, num_classes, in_chans)
    return served.session(net, (bs, in_chans, arch.resolution, arch.resolution), seed).caller(bs)


def _energy_per_call(calls: dict, meter: EnergyMeter, idle_w: float, window_s: float, seed: int) -> dict:
    """Gross and idle-subtracted energy per call (mJ), each op looped for ``window_s`` seconds."""
    out = {}
    keys = list(calls)
    random.Random(seed).shuffle(keys)
    for key in tqdm(keys, desc="energy", leave=False):
        fn = calls[key]
        n, e0, t0 = 0, meter.joules(), time.perf_counter()
        while time.perf_counter() - t0 < window_s:
            fn()
            n += 1
        sync()  # every GPU's queue (the meter counts the whole card)
        de, dt = meter.joules() - e0, time.perf_counter() - t0
        out[key] = {"median": max(0.0, (de - idle_w * dt) / n * 1e3), "gross": de / n * 1e3, "n": n, "window_s": dt}
    return out


def build_table(cfg: DictConfig) -> Path:
    """Measure every op of the space (and a few whole subnets for the correction); write the table."""
    t_start = time.perf_counter()
    space, served, num_classes, in_chans = _setup(cfg)
    device = served.device
    out = Path(cfg.table)
    ops = space_ops(space)
    batch_sizes = [int(b) for b in cfg.batch_sizes]
    p = cfg.protocol
    meter = find_meter(device)
    e = cfg.energy
    idle = measure_power(None, e.idle_s, meter, e.country_iso_code) if meter else None

    # end-to-end calibration subnets (the correction for what per-op sums miss), timed first: in the state in
    # which subnets are validated and used, a process that has not yet built the thousands of op runners. Timed
    # after them (even released), whole int8 subnets at batch 1 ran 1.8x slower than in a fresh process, and that
    # factor went into the correction (a table 73% off, its retest 1%)
    rng = random.Random(p.seed)
    calib = [space.smallest(), space.largest()] + [space.sample(rng) for _ in range(cfg.calib.subnets)]
    e2e_calls, e2e = {}, {}
    for bs in batch_sizes:  # each batch size on its own, as below
        group = {(str(a), bs): _net_call(space, a, num_classes, in_chans, bs, served) for a in calib}
        e2e.update(measure(group, device, p.trials, p.warmup, p.min_call_ms, p.seed + 1 + bs))
        e2e_calls.update(group)
    e2e_energy = _energy_per_call(e2e_calls, meter, idle.watts, e.window_s, p.seed + 1) if meter else None
    del e2e_calls, group
    gc.collect()

    # each batch size is measured on its own, ops and whole subnets alike, exactly as validation and
    # later measurements run: interleaving a batch of 1 with a batch of 32 would time it on cold caches
    calls, op_of, lat = {}, {op.key: op for op in ops}, {}
    # one session per op serves every batch size (an ONNX model's batch dimension is dynamic)
    sessions = {op.key: served.session(op.module(space, num_classes, in_chans),
                                       op.input_shape(space, in_chans, batch_sizes[0]), p.seed)
                for op in tqdm(ops, desc=f"green-lut: {served.target.name} sessions", leave=False)}
    bar = tqdm(total=len(ops) * len(batch_sizes) * p.trials, desc=f"green-lut {len(ops)} ops x {len(batch_sizes)} "
               "batch sizes")
    for bs in batch_sizes:
        group = {(op.key, bs): sessions[op.key].caller(bs) for op in ops}
        lat.update(measure(group, device, p.trials, p.warmup, p.min_call_ms, p.seed + bs,
                           progress=lambda d, t: bar.update(1)))
        calls.update(group)
    bar.close()
    energy = _energy_per_call(calls, meter, idle.watts, e.window_s, p.seed) if meter else None
    calib_record = {k: v for k, v in (next(iter(sessions.values())).calibration or {}).items() if k != "sha256"}
    del calls, group, sessions
    gc.collect()

    entries: dict[str, dict] = {}
    for (key, bs), stats in lat.items():
        pc, macs = count_op(space, op_of[key], num_classes, in_chans)
        entry = entries.setdefault(key, {"params": pc, "macs": macs})
        entry[str(bs)] = {"latency_ms": stats}
        if energy:
            entry[str(bs)]["energy_mj"] = energy[(key, bs)]

    spec = served.target.spec()
    fingerprint = {**device_fingerprint(device), "target": spec.name, "target_runtime": spec.to_json(),
                   "batch_sizes": batch_sizes, "dtype": cfg.dtype, "memory_format": served.memory_format,
                   "space_name": space.name, "space_digest": space.digest(), "num_classes": num_classes,
                   "in_chans": in_chans}
    protocol = {"warmup": p.warmup, "trials": p.trials, "min_call_ms": p.min_call_ms, "seed": p.seed,
                "order": "per batch size; random, interleaved across ops each trial", "statistic": "median (p10, p90)",
                "mode": spec.mode, "threads": torch.get_num_threads(), "cuda_sync": device.type == "cuda"}
    if calib_record:  # a quantising target: what its blocks were calibrated on, and why that is enough
        protocol["calibration"] = calib_record
    if meter:
        energy_scale = {"source": meter.source, "idle_w": idle.watts, "idle_window_s": idle.seconds,
                        "window_s": e.window_s, "note": "energy_mj.median is idle-subtracted; gross kept beside it"}
    else:  # no counter: codecarbon's power model over a representative workload, labelled as an estimate
        work = _net_call(space, space.largest(), num_classes, in_chans, batch_sizes[-1], served)
        power = measure_power(work, e.power_window_s, None, e.country_iso_code)
        energy_scale = {"source": power.source, "power_w": power.watts, "window_s": power.seconds, **power.detail}
    table = LookupTable(fingerprint, entries, energy_scale, protocol=protocol, space=space.to_dict())
    model = CostModel(table, space)
    for bs in batch_sizes:  # the correction of per-op sums, fitted on the end-to-end measurements
        sums = [model.op_sum(a, bs) for a in calib]
        measured = [e2e[(str(a), bs)]["median"] for a in calib]
        table.correction[str(bs)] = {"latency_ms": fit_line(sums, measured)}
        table.calibration[str(bs)] = [{"arch": str(a), "op_sum_ms": s, "measured_ms": m}
                                      for a, s, m in zip(calib, sums, measured)]
        if meter:
            esums = [model.op_sum(a, bs, "energy_mj") for a in calib]
            emeas = [e2e_energy[(str(a), bs)]["median"] for a in calib]
            table.correction[str(bs)]["energy_mj"] = fit_line(esums, emeas)
    seconds = time.perf_counter() - t_start
    table = dataclasses.replace(table, created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                build_seconds=seconds)
    table.write(out)
    fits = ", ".join(f"b{bs}: a={table.fit(bs, 'latency_ms')['a']:.3f} r2={table.fit(bs, 'latency_ms')['r2']:.3f}"
                     for bs in batch_sizes)
    print(f"green-lut: {len(ops)} ops x {len(batch_sizes)} batch sizes on {fingerprint['device_name']} "
          f"(target {spec.name}), "
          f"energy source {table.energy_source}, correction {fits}, {seconds:.0f} s -> {out}")
    for line in table.poor_fits():
        print(f"green-lut: warning: {line}", file=sys.stderr)
    log_scalars(Path(cfg.paths.output_dir), "build", {"ops": len(ops), "seconds": seconds, **{
        f"b{bs}/correction_{k}": table.fit(bs, "latency_ms")[k] for bs in batch_sizes for k in ("a", "r2")}})
    return out


def prediction_stats(pred: list[float], meas: list[float]) -> dict[str, float]:
    """How well ``pred`` matches the measured ``meas``: MAPE, share within 10%, rank correlations, mean signed error.

    The figures come from :mod:`search.stats`, so the table's validation and the benchmarks report
    the same, known-answer-tested statistics; ``bias`` (signed, relative to the measurement) says
    whether the table over- or under-predicts.
    """
    rel = [(p - m) / abs(m) for p, m in zip(pred, meas)]
    return {"mape": mape(pred, meas), "within_10pct": sum(abs(r) <= 0.10 for r in rel) / len(rel),
            "spearman": spearman(pred, meas), "kendall": kendall(pred, meas), "bias": sum(rel) / len(rel)}


def validate_table(cfg: DictConfig) -> JSONObject:
    """Compare the table's predictions with two end-to-end measurements of random subnets, interleaved trial by trial."""
    space, served, num_classes, in_chans = _setup(cfg)
    device = served.device
    v, p = cfg.validate, cfg.protocol
    if v.subnets < 2:
        raise GreenError(f"validate.subnets must be >= 2, got {v.subnets}")
    model = CostModel.load(cfg.table, space, device=device_fingerprint(device), allow_mismatch=v.allow_mismatch)
    measured_in, spec = recorded_target(model.table.fingerprint), served.target.spec()
    if measured_in != spec.name:  # a table is validated in the runtime it prices, never another
        raise GreenError(f"lookup table {str(cfg.table)!r} was measured on target {measured_in}, not "
                         f"{spec.name}: pass target={measured_in}")
    was = dict(model.table.fingerprint.get("target_runtime", {}).get("options", spec.options))
    diff = [f"target.{k}: table {was.get(k)!r} vs here {v!r}" for k, v in spec.options.items() if was.get(k) != v]
    if diff:
        raise GreenError(f"lookup table {str(cfg.table)!r} was measured with other target settings ({'; '.join(diff)})")
    # the subnets are timed as the table was: its memory format (tables of before it was recorded were NCHW)
    served = dataclasses.replace(served, where=dataclasses.replace(served.where, memory_format=table_format(model.table)))
    rng = random.Random(v.seed)
    archs, seen = [], set()
    while len(archs) < v.subnets and len(seen) < 50 * v.subnets:
        a = space.sample(rng)
        if str(a) not in seen:
            archs.append(a)
        seen.add(str(a))
    result: dict[str, Any] = {"table": str(cfg.table), "target": served.target.name, "n_subnets": len(archs),
                              "device": str(device),
                              "memory_format": served.memory_format,
                              "fingerprint": model.table.fingerprint, "energy_source": model.energy_source,
                              "batches": {}}
    meter = find_meter(device) if model.energy_source in MEASURED_SOURCES else None
    idle_w = model.table.energy.get("idle_w", 0.0)
    bar = tqdm(total=2 * len(model.batch_sizes) * v.trials * len(archs),
               desc=f"green-lut validate: {len(archs)} subnets x {len(model.batch_sizes)} batch sizes, timed twice")
    for bs in model.batch_sizes:
        calls = {str(a): _net_call(space, a, num_classes, in_chans, bs, served, v.seed) for a in archs}
        # both measurements in one session, every trial timing each subnet twice in shuffled order (A, B, A, B):
        # the retest compares one machine state, not two passes minutes apart (a drift of 1.34x between
        # passes once posed as noise)
        both = measure({(k, i): fn for k, fn in calls.items() for i in (1, 2)}, device, v.trials, p.warmup,
                       p.min_call_ms, v.seed + 10 * bs, progress=lambda d, t: bar.update(1))
        first, second = ({k: both[(k, i)] for k in calls} for i in (1, 2))
        pred = [model.predict(a, bs) for a in archs]
        m1 = [first[str(a)]["median"] for a in archs]
        m2 = [second[str(a)]["median"] for a in archs]
        pred_ms = [c.latency_ms for c in pred]
        lat_a, lat_b = prediction_stats(pred_ms, m1), prediction_stats(pred_ms, m2)
        res = {"latency": {k: (lat_a[k] + lat_b[k]) / 2 for k in lat_a}, "retest": prediction_stats(m1, m2),
               "subnets": [{"arch": str(a), "predicted_ms": c.latency_ms, "measured_ms": [x, y], "params": c.params,
                            "macs": c.macs, "predicted_energy_mj": c.energy_mj}
                           for a, c, x, y in zip(archs, pred, m1, m2)]}
        if meter:
            e1 = _energy_per_call(calls, meter, idle_w, cfg.energy.window_s, v.seed)
            e2 = _energy_per_call(calls, meter, idle_w, cfg.energy.window_s, v.seed + 1)
            em1, em2 = [e1[str(a)]["median"] for a in archs], [e2[str(a)]["median"] for a in archs]
            pred_mj = [c.energy_mj for c in pred]
            ea, eb = prediction_stats(pred_mj, em1), prediction_stats(pred_mj, em2)
            res["energy"] = {k: (ea[k] + eb[k]) / 2 for k in ea}
            res["energy_retest"] = prediction_stats(em1, em2)
        else:
            res["energy"] = {"note": f"no energy counter here: energies are {model.energy_source} "
                                     "(power x predicted latency), so they cannot be validated by measurement"}
        result["batches"][str(bs)] = res
        scatter(res, bs, Path(cfg.paths.output_dir) / f"lut_validate_b{bs}.png", served.target.name)
        lat, rt = res["latency"], res["retest"]
        print(f"green-lut validate b{bs}: MAPE {lat['mape']:.1%} (retest {rt['mape']:.1%}), within 10% "
              f"{lat['within_10pct']:.0%}, Spearman {lat['spearman']:.3f} (retest {rt['spearman']:.3f}), "
              f"Kendall {lat['kendall']:.3f}, bias {lat['bias']:+.1%} over {len(archs)} subnets")
    bar.close()
    path = write_json(Path(cfg.paths.output_dir) / "lut_validate.json", result)
    log_scalars(Path(cfg.paths.output_dir), "validate", {
        f"b{bs}/{k}": r[part][k] for bs, r in result["batches"].items() for part, k in
        (("latency", "mape"), ("latency", "spearman"), ("latency", "bias"), ("retest", "mape"),
         ("retest", "spearman"))})
    print(f"green-lut validate: {len(archs)} subnets measured against {cfg.table} -> {path} (and lut_validate_b*.png)")
    return result


def run(cfg: DictConfig) -> Any:
    """Dispatch on ``cfg.mode``."""
    if cfg.mode == "build":
        return build_table(cfg)
    if cfg.mode == "validate":
        return validate_table(cfg)
    raise GreenError(f"unknown mode {cfg.mode!r}: use mode=build or mode=validate")
