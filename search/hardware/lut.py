"""``green-lut``: measure the latency/energy lookup table of a search space on this device, or
validate one (``mode=validate``) against end-to-end measurements of random subnets.

``build_table(cfg)`` and ``validate_table(cfg)`` are the importable commands; :func:`main` is the
thin Hydra wrapper (``conf/lut.yaml``).
"""
from __future__ import annotations

import dataclasses
import gc
import io
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
from core.device import Device, sync
from core.energy import MEASURED_SOURCES, EnergyMeter, find_meter, measure_power
from search.stats import kendall, mape, spearman
from search.hardware.timing import device_fingerprint, measure, runner
from supernet.arch import ArchConfig
from core.errors import GreenError
from core.io import write_atomic, write_json
from supernet.net import GreenNet
from supernet.space import SearchSpace

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclasses.dataclass(frozen=True)
class Served:
    """How the priced networks are served: device, dtype and memory format (every timing runs in these)."""

    device: torch.device
    dtype: torch.dtype
    memory_format: str


def _setup(cfg: DictConfig) -> tuple[SearchSpace, Served, int, int]:
    if cfg.dtype not in DTYPES:
        raise GreenError(f"unknown dtype {cfg.dtype!r}; choose from {sorted(DTYPES)}")
    dev = Device.of(cfg.device, cfg.threads, cfg.memory_format).activate()  # one line for a bad one of the three
    device = dev.torch
    space = instantiate(cfg.space)
    num_classes = cfg.num_classes or instantiate(cfg.data).peek_num_classes()
    return space, Served(device, DTYPES[cfg.dtype], str(cfg.memory_format)), int(num_classes), int(cfg.in_chans)


def _net_call(space: SearchSpace, arch: ArchConfig, num_classes: int, in_chans: int, bs: int, served: Served):
    net = GreenNet(space, arch, num_classes, in_chans)
    return runner(net, (bs, in_chans, arch.resolution, arch.resolution), served.device, served.dtype,
                  served.memory_format)


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

    # each batch size is measured on its own, ops and whole subnets alike, exactly as validation and
    # later measurements run: interleaving a batch of 1 with a batch of 32 would time it on cold caches
    calls, op_of, lat = {}, {op.key: op for op in ops}, {}
    bar = tqdm(total=len(ops) * len(batch_sizes) * p.trials, desc=f"green-lut {len(ops)} ops x {len(batch_sizes)} "
               "batch sizes")
    for bs in batch_sizes:
        group = {(op.key, bs): runner(op.module(space, num_classes, in_chans), op.input_shape(space, in_chans, bs),
                                      device, served.dtype, served.memory_format) for op in ops}
        lat.update(measure(group, device, p.trials, p.warmup, p.min_call_ms, p.seed + bs,
                           progress=lambda d, t: bar.update(1)))
        calls.update(group)
    bar.close()
    energy = _energy_per_call(calls, meter, idle.watts, e.window_s, p.seed) if meter else None
    # the op runners (thousands of modules and inputs) are released before whole subnets are timed: the
    # subnets are then timed in the state in which they are used and validated, a process not holding them
    del calls, group
    gc.collect()

    entries: dict[str, dict] = {}
    for (key, bs), stats in lat.items():
        pc, macs = count_op(space, op_of[key], num_classes, in_chans)
        entry = entries.setdefault(key, {"params": pc, "macs": macs})
        entry[str(bs)] = {"latency_ms": stats}
        if energy:
            entry[str(bs)]["energy_mj"] = energy[(key, bs)]

    # end-to-end calibration subnets: the correction for what per-op sums miss
    rng = random.Random(p.seed)
    calib = [space.smallest(), space.largest()] + [space.sample(rng) for _ in range(cfg.calib.subnets)]
    e2e_calls, e2e = {}, {}
    for bs in batch_sizes:
        group = {(str(a), bs): _net_call(space, a, num_classes, in_chans, bs, served) for a in calib}
        e2e.update(measure(group, device, p.trials, p.warmup, p.min_call_ms, p.seed + 1 + bs))
        e2e_calls.update(group)
    e2e_energy = _energy_per_call(e2e_calls, meter, idle.watts, e.window_s, p.seed + 1) if meter else None
    fingerprint = {**device_fingerprint(device), "batch_sizes": batch_sizes, "dtype": cfg.dtype,
                   "memory_format": served.memory_format,
                   "space_name": space.name, "space_digest": space.digest(), "num_classes": num_classes,
                   "in_chans": in_chans}
    protocol = {"warmup": p.warmup, "trials": p.trials, "min_call_ms": p.min_call_ms, "seed": p.seed,
                "order": "per batch size; random, interleaved across ops each trial", "statistic": "median (p10, p90)",
                "mode": "eval + torch.inference_mode", "threads": torch.get_num_threads(),
                "cuda_sync": device.type == "cuda"}
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
    print(f"green-lut: {len(ops)} ops x {len(batch_sizes)} batch sizes on {fingerprint['device_name']}, "
          f"energy source {table.energy_source}, correction {fits}, {seconds:.0f} s -> {out}")
    for line in table.poor_fits():
        print(f"green-lut: warning: {line}", file=sys.stderr)
    log_scalars(Path(cfg.paths.output_dir), "build", {"ops": len(ops), "seconds": seconds, **{
        f"b{bs}/correction_{k}": table.fit(bs, "latency_ms")[k] for bs in batch_sizes for k in ("a", "r2")}})
    return out


def log_scalars(folder: Path, prefix: str, values: dict[str, float]) -> None:
    """The cost table's figures in TensorBoard too (``<folder>/tb``), beside the trainings' logs."""
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(folder / "tb")) as writer:
        for k, v in values.items():
            writer.add_scalar(f"lut/{prefix}/{k}", float(v), 0)


def prediction_stats(pred: list[float], meas: list[float]) -> dict[str, float]:
    """How well ``pred`` matches the measured ``meas``: MAPE, share within 10%, rank correlations, mean signed error.

    The figures come from :mod:`search.stats`, so the table's validation and the benchmarks report
    the same, known-answer-tested statistics; ``bias`` (signed, relative to the measurement) says
    whether the table over- or under-predicts.
    """
    rel = [(p - m) / abs(m) for p, m in zip(pred, meas)]
    return {"mape": mape(pred, meas), "within_10pct": sum(abs(r) <= 0.10 for r in rel) / len(rel),
            "spearman": spearman(pred, meas), "kendall": kendall(pred, meas), "bias": sum(rel) / len(rel)}


def validate_table(cfg: DictConfig) -> dict[str, Any]:
    """Compare the table's predictions with two end-to-end measurements of random subnets, interleaved trial by trial."""
    space, served, num_classes, in_chans = _setup(cfg)
    device = served.device
    v, p = cfg.validate, cfg.protocol
    if v.subnets < 2:
        raise GreenError(f"validate.subnets must be >= 2, got {v.subnets}")
    model = CostModel.load(cfg.table, space, device=device_fingerprint(device), allow_mismatch=v.allow_mismatch)
    # the subnets are timed as the table was: its memory format (tables of before it was recorded were NCHW)
    served = dataclasses.replace(served, memory_format=table_format(model.table))
    rng = random.Random(v.seed)
    archs, seen = [], set()
    while len(archs) < v.subnets and len(seen) < 50 * v.subnets:
        a = space.sample(rng)
        if str(a) not in seen:
            archs.append(a)
        seen.add(str(a))
    result: dict[str, Any] = {"table": str(cfg.table), "n_subnets": len(archs), "device": str(device),
                              "memory_format": served.memory_format,
                              "fingerprint": model.table.fingerprint, "energy_source": model.energy_source,
                              "batches": {}}
    meter = find_meter(device) if model.energy_source in MEASURED_SOURCES else None
    idle_w = model.table.energy.get("idle_w", 0.0)
    bar = tqdm(total=2 * len(model.batch_sizes) * v.trials * len(archs),
               desc=f"green-lut validate: {len(archs)} subnets x {len(model.batch_sizes)} batch sizes, timed twice")
    for bs in model.batch_sizes:
        calls = {str(a): _net_call(space, a, num_classes, in_chans, bs, served) for a in archs}
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
        _scatter(res, bs, Path(cfg.paths.output_dir) / f"lut_validate_b{bs}.png")
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


def _scatter(res: dict, bs: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pred = [s["predicted_ms"] for s in res["subnets"]]
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=120)
    for i, mark in ((0, "o"), (1, "x")):
        ax.scatter(pred, [s["measured_ms"][i] for s in res["subnets"]], marker=mark, s=18,
                   label=f"measurement {i + 1}")
    lo, hi = min(pred + [s["measured_ms"][0] for s in res["subnets"]]), max(pred)
    ax.plot([lo, hi * 1.1], [lo, hi * 1.1], "k--", lw=0.8, label="y = x")
    ax.set_xlabel("predicted latency (ms)")
    ax.set_ylabel("measured latency (ms)")
    lat = res["latency"]
    ax.set_title(f"batch {bs}: MAPE {lat['mape']:.1%}, Spearman {lat['spearman']:.2f}", fontsize=9)
    ax.legend(fontsize=7)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    write_atomic(path, buf.getvalue())


def run(cfg: DictConfig) -> Any:
    """Dispatch on ``cfg.mode``."""
    if cfg.mode == "build":
        return build_table(cfg)
    if cfg.mode == "validate":
        return validate_table(cfg)
    raise GreenError(f"unknown mode {cfg.mode!r}: use mode=build or mode=validate")
