"""Where and how tensors run: the memory format of networks and their inputs, and the CPU threads to train on.

**Memory format.** These networks are depthwise-separable: on an AVX-512 CPU (oneDNN) and on GPUs, their
convolutions run 2-3x faster in ``channels_last`` (NHWC) than in PyTorch's default NCHW layout
(``bench/results/throughput.json``). A convolution runs in channels_last when its input or its weight is,
and its output stays so, so converting either end is enough for speed; the project converts both (the
data module's batches and every network it trains, extracts or serves), so that a user's own
``model(x)`` is fast too. ``contiguous`` (NCHW) is the layout of every result before this choice existed.

**Threads.** A training process uses the cores it may run on (its CPU affinity, within the cgroup's CPU
quota), divided among the jobs that share them, rather than a constant or torch's count of the machine's
cores: in a container limited to 2 of 64 cores, 64 threads spin against each other.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from supernet.errors import GreenError

if TYPE_CHECKING:  # torch loads when a format is used: a launcher's parent process needs only the core count
    import torch
    from torch import nn

MEMORY_FORMATS = ("channels_last", "contiguous")
DEFAULT_MEMORY_FORMAT = "channels_last"

T = TypeVar("T", "nn.Module", "torch.Tensor")


def memory_format(name: str) -> "torch.memory_format":
    """The torch memory format called ``name`` (``channels_last`` or ``contiguous``); any other is one line."""
    if name not in MEMORY_FORMATS:
        raise GreenError(f"unknown memory_format {name!r}; choose from {', '.join(MEMORY_FORMATS)}")
    import torch

    return torch.channels_last if name == "channels_last" else torch.contiguous_format


def to_memory_format(obj: T, name: str) -> T:
    """``obj`` in the memory format ``name``: a module's 4-D parameters and buffers (in place, as ``.to``), or a
    4-D tensor (a copy unless it already is; tensors of other ranks have no such layout and pass unchanged)."""
    from torch import nn

    fmt = memory_format(name)
    if isinstance(obj, nn.Module):
        return obj.to(memory_format=fmt)
    return obj.contiguous(memory_format=fmt) if obj.dim() == 4 else obj


def format_of(module: "nn.Module") -> str:
    """The memory format ``module``'s 4-D weights are laid out in (``contiguous`` for a module without any).

    A 1x1 kernel or a single input channel (a depthwise kernel, a grayscale stem) is laid out the same in both,
    so only weights where the two differ decide; a network with none runs as fast either way, its activations
    following the layout of its input.
    """
    import torch

    for p in module.parameters():
        if p.dim() == 4 and p.is_contiguous(memory_format=torch.channels_last) != p.is_contiguous():
            return "channels_last" if p.is_contiguous(memory_format=torch.channels_last) else "contiguous"
    return "contiguous"


def batch_format(trainer: object) -> str:
    """The memory format of the batches a Lightning trainer's data module delivers (``contiguous`` without one,
    or for a data module that does not choose): the networks it trains are laid out alike."""
    return str(getattr(getattr(trainer, "datamodule", None), "memory_format", "contiguous"))


def _cgroup_cpus(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """The CPU quota of this process's cgroup, in cores (cgroup v2 ``cpu.max`` or v1 ``cfs_quota/period``)."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return None if quota <= 0 else quota / period
    except (OSError, ValueError):
        return None


def available_cores() -> int:
    """Cores this process may run on: its CPU affinity, capped by its cgroup's CPU quota (at least 1)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    quota = _cgroup_cpus()
    if quota is not None:
        cores = min(cores, math.ceil(quota))
    return max(1, cores)


def default_threads() -> int:
    """Threads when none are configured: ``OMP_NUM_THREADS`` where the caller set it (a launcher's share, a
    user's choice), else every core this process may use."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    return int(env) if env.isdigit() and int(env) >= 1 else available_cores()


def thread_share(jobs: int) -> int:
    """Threads for each of ``jobs`` jobs sharing this process's cores (an even share, at least one)."""
    return max(1, available_cores() // max(1, int(jobs)))


def set_threads(threads: int | None) -> int:
    """Fix the CPU thread count (None: :func:`default_threads`); returns the count in force.

    Anything but None or a whole number >= 1 is refused: torch would fail on a negative count with a
    traceback, and 0 would silently mean "the default".
    """
    import torch

    from supernet.validate import whole_number

    torch.set_num_threads(default_threads() if threads is None else whole_number(threads, "threads", 1))
    return torch.get_num_threads()
