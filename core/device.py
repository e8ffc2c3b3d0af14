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

**One Device.** Training, measurement and serving ask a :class:`Device` (the torch device, its CPU threads,
the memory format) what differs between CPU and GPU: whether it exists here, waiting for queued work
(:meth:`Device.sync`), the hardware's name in a timing's fingerprint, and its energy counter (NVML on a GPU,
RAPL on a CPU: :meth:`Device.meter`). The CUDA branches live here and nowhere else.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from core.errors import GreenError

if TYPE_CHECKING:  # torch loads when a format is used: a launcher's parent process needs only the core count
    import torch
    from torch import nn

    from core.energy import EnergyMeter

MEMORY_FORMATS = ("channels_last", "contiguous")
DEFAULT_MEMORY_FORMAT = "channels_last"

T = TypeVar("T", "nn.Module", "torch.Tensor")


def memory_format_of(name: str) -> "torch.memory_format":
    """The torch memory format called ``name`` (``channels_last`` or ``contiguous``); any other is one line."""
    if name not in MEMORY_FORMATS:
        raise GreenError(f"unknown memory_format {name!r}; choose from {', '.join(MEMORY_FORMATS)}")
    import torch

    return torch.channels_last if name == "channels_last" else torch.contiguous_format


def to_memory_format(obj: T, name: str) -> T:
    """``obj`` in the memory format ``name``: a module's 4-D parameters and buffers (in place, as ``.to``), or a
    4-D tensor (a copy unless it already is; tensors of other ranks have no such layout and pass unchanged)."""
    from torch import nn

    fmt = memory_format_of(name)
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
    user's choice), else the cores other processes leave free when the command starts
    (:func:`core.load.free_cores`: every core this process may use on an idle machine)."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) >= 1:
        return int(env)
    from core.load import free_cores  # core.load imports this module

    return free_cores()


def thread_share(jobs: int) -> int:
    """Threads for each of ``jobs`` jobs sharing this process's cores (an even share, at least one)."""
    return max(1, available_cores() // max(1, int(jobs)))


def set_threads(threads: int | None) -> int:
    """Fix the CPU thread count (None: :func:`default_threads`); returns the count in force.

    Anything but None or a whole number >= 1 is refused: torch would fail on a negative count with a
    traceback, and 0 would silently mean "the default".
    """
    import torch

    from core.validate import whole_number

    torch.set_num_threads(default_threads() if threads is None else whole_number(threads, "threads", 1))
    return torch.get_num_threads()


@dataclass(frozen=True)
class Device:
    """Where and how a process runs networks: ``name`` (``cpu``, ``cuda``, ``cuda:1``), CPU ``threads`` (None:
    :func:`default_threads`) and the ``memory_format`` networks and inputs are laid out in.

    :meth:`of` checks all three (one line for a device this machine lacks); :meth:`activate` applies the
    thread count. Everything CUDA-specific is asked of it, so the rest of the code has no device branches.
    """

    name: str = "cpu"
    threads: int | None = None
    memory_format: str = DEFAULT_MEMORY_FORMAT

    @classmethod
    def of(cls, name: Any = "cpu", threads: Any = None, memory_format: str | None = None,
           key: str = "device") -> Device:
        """A checked device: ``key`` names the option in the one-line error for a malformed or absent device."""
        import torch

        try:
            dev = torch.device(str(name))
        except RuntimeError:
            raise GreenError(f"{key}={name!r} is not a device: use cpu or cuda") from None
        if dev.type not in ("cpu", "cuda"):
            raise GreenError(f"{key}={name!r}: only cpu and cuda are supported")
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise GreenError(f"{key}={name}: CUDA is not available on this machine; use {key}=cpu")
        if threads is not None:
            from core.validate import whole_number

            threads = whole_number(threads, "threads", 1)
        fmt = DEFAULT_MEMORY_FORMAT if memory_format is None else str(memory_format)
        memory_format_of(fmt)
        return cls(str(dev), threads, fmt)

    @property
    def torch(self) -> "torch.device":
        import torch

        return torch.device(self.name)

    @property
    def kind(self) -> str:
        """``cpu`` or ``cuda``."""
        return self.name.split(":")[0]

    def activate(self) -> Device:
        """Apply the thread count (and make a GPU the current one); returns itself, for chaining."""
        set_threads(self.threads)
        if self.kind == "cuda":
            import torch

            torch.cuda.set_device(self.torch)
        return self

    def sync(self) -> None:
        """Wait until work queued on the device is done (a no-op on the CPU): timings and energy windows end here."""
        sync(self.torch)

    def place(self, obj: T) -> T:
        """``obj`` (a module, in place, or a tensor) on this device and in its memory format."""
        return to_memory_format(obj.to(self.torch), self.memory_format)

    def hardware(self) -> str:
        """The device's model name: the GPU's, or the CPU's from ``/proc/cpuinfo``."""
        return hardware_name(self.torch)

    def meter(self) -> "EnergyMeter | None":
        """The hardware energy counter (NVML on a GPU, RAPL on a CPU), or None where none is readable."""
        from core.energy import find_meter

        return find_meter(self.torch)


def available(kind: str) -> bool:
    """Whether this machine has a device of ``kind`` (``cpu`` always; ``cuda`` with a driver and a GPU)."""
    if kind != "cuda":
        return kind == "cpu"
    import torch

    return torch.cuda.is_available()


def gpus() -> int:
    """GPUs this process can see (0 without a driver or a GPU)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def sync(device: "torch.device | None" = None) -> None:
    """Wait for ``device``'s queued work (None: every GPU's, if there is one); a no-op on the CPU."""
    import torch

    if device is None or device.type == "cuda":
        if torch.cuda.is_available():
            torch.cuda.synchronize(device)


def hardware_name(device: "torch.device") -> str:
    """The model name of ``device``: the GPU's, or this machine's CPU's."""
    if device.type == "cuda":
        import torch

        return torch.cuda.get_device_name(device)
    import platform

    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"
