"""The latency measurement protocol shared by the lookup table, its validation and fine-tuning.

Noise on a shared machine hits runs unevenly, so every figure comes from the same protocol:
eval mode under ``torch.inference_mode``, a fixed CPU thread count, warm-up calls, then repeated
timed trials *interleaved in a random order* across all items (drift hits every item alike),
each timed call batching enough repetitions to last ``min_call_ms`` (timer resolution and
scheduler jitter vanish), CUDA synchronised around each timed call. Each item reports the
median with p10/p90 and the count.
"""
from __future__ import annotations

import gc
import math
import random
import statistics
import time
from typing import Callable, Hashable

import numpy as np
import torch
from torch import nn

from core.device import DEFAULT_MEMORY_FORMAT, hardware_name, sync
from core.errors import GreenError
from core.jsontypes import JSONObject
from search.targets.pytorch import TorchSession


def summary(samples: list[float]) -> dict[str, float]:
    """Median, p10, p90 and count of per-call figures."""
    arr = np.asarray(samples, dtype=float)
    return {"median": float(np.median(arr)), "p10": float(np.percentile(arr, 10)),
            "p90": float(np.percentile(arr, 90)), "n": int(arr.size)}


def runner(module: nn.Module, shape: tuple[int, ...], device: torch.device, dtype: torch.dtype = torch.float32,
           memory_format: str = DEFAULT_MEMORY_FORMAT) -> Callable[[], None]:
    """A no-argument call running ``module`` once in eval mode on a fixed random input, both in the dtype and
    memory format the model is served in (a cost is measured as served): the ``torch`` target's call."""
    return TorchSession(module, shape, device, dtype, memory_format).caller(shape[0])


def measure(calls: dict[Hashable, Callable[[], None]], device: torch.device, trials: int = 7, warmup: int = 3,
            min_call_ms: float = 20.0, seed: int = 0, progress: Callable[[int, int], None] | None = None
            ) -> dict[Hashable, dict[str, float]]:
    """Per-call latency in milliseconds of every item (median, p10, p90, n) under the protocol.

    Python's garbage collector is off while timing, as ``timeit`` turns it off: a full collection costs
    time in proportion to every object the process holds (a table build holds thousands of op modules),
    so with it on, the same network timed 1.3x-1.7x slower inside a build than alone (issue 17).
    """
    if trials < 1 or warmup < 0:
        raise GreenError(f"measurement trials must be >= 1 and warmup >= 0, got {trials} and {warmup}")
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        return _measure(calls, device, trials, warmup, min_call_ms, seed, progress)
    finally:
        if was_enabled:
            gc.enable()


def _measure(calls: dict[Hashable, Callable[[], None]], device: torch.device, trials: int, warmup: int,
             min_call_ms: float, seed: int, progress: Callable[[int, int], None] | None) -> dict[Hashable, dict[str, float]]:
    reps: dict[Hashable, int] = {}
    for key, fn in calls.items():  # warm up, then size each timed call on the median warm call
        times = []
        for _ in range(max(warmup, 1)):
            sync(device)
            t = time.perf_counter()
            fn()
            sync(device)
            times.append(time.perf_counter() - t)
        one = max(statistics.median(times), 1e-6)
        reps[key] = max(1, math.ceil(min_call_ms / 1e3 / one))
    rng = random.Random(seed)
    keys = list(calls)
    samples: dict[Hashable, list[float]] = {k: [] for k in keys}
    done, total = 0, trials * len(keys)
    for _ in range(trials):
        rng.shuffle(keys)
        for key in keys:
            fn, n = calls[key], reps[key]
            sync(device)
            t = time.perf_counter()
            for _ in range(n):
                fn()
            sync(device)
            samples[key].append((time.perf_counter() - t) / n * 1e3)
            done += 1
            if progress:
                progress(done, total)
    return {k: summary(v) for k, v in samples.items()}


def device_fingerprint(device: torch.device) -> JSONObject:
    """What a timing depends on: device kind and model, thread count, torch version (the dtype and memory
    format are the caller's, recorded beside it). Call it while the timing's thread count is in force: read
    after a caller restores its own, the record names a count the timing never ran at."""
    return {"device": device.type, "device_name": hardware_name(device), "threads": torch.get_num_threads(), "torch": torch.__version__}
