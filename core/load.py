"""How busy the machine was around a piece of work: load average and other processes' CPU use.

On a shared machine a run's times, and every energy estimated from them, follow its neighbours: the same
recipe, trained twice, was measured 4.4x apart in kWh. A figure is only comparable with the load it was taken
under, so ``green-run`` takes a :func:`snapshot` before and after each stage and keeps the :class:`Load` between
them in ``run.json``; the report states it. Other processes' CPU use is the machine's busy CPU time (psutil,
else ``/proc/stat``) less this process's and its descendants' own, over the interval: unlike the load
average, it does not count the run itself. Both are machine-wide (in a container: the host's).
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, fields

from core.device import available_cores

MARGIN_CORES = 0.25  # an idle machine's daemons stay below a quarter of a core


@dataclass(frozen=True)
class Snapshot:
    """The machine's counters at one moment: seconds on a monotonic clock, the 1-minute load average, CPU seconds
    every CPU spent busy since boot and CPU seconds this process and its descendants spent (NaN: unreadable)."""

    wall: float
    loadavg: float
    busy_s: float
    own_s: float


def _busy_seconds() -> float:
    try:
        import psutil

        t = psutil.cpu_times()
        return t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0) + getattr(t, "steal", 0.0)
    except ImportError:
        pass
    try:  # cpu  user nice system idle iowait irq softirq steal ... (in clock ticks)
        ticks = [int(v) for v in open("/proc/stat").readline().split()[1:9]]
    except (OSError, ValueError):
        return math.nan
    return (sum(ticks[:3]) + sum(ticks[5:8])) / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    t = os.times()  # this process, and its children once they have ended
    own = t.user + t.system + t.children_user + t.children_system
    try:
        import psutil

        for child in psutil.Process().children(recursive=True):  # running workers (a launcher's, a loader's)
            try:
                c = child.cpu_times()
                own += c.user + c.system
            except psutil.Error:  # ended between the listing and the reading
                pass
    except ImportError:
        pass
    return own


def snapshot() -> Snapshot:
    """The counters now."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = math.nan
    return Snapshot(time.monotonic(), load, _busy_seconds(), _own_seconds())


@dataclass(frozen=True)
class Load:
    """How busy the machine was over an interval, as ``run.json`` keeps it: the 1-minute load average at its
    start and end, other processes' mean CPU use (in cores; NaN: unknown), the machine's CPUs, the cores this
    run may use and the threads it ran on. ``busy``: other processes used more than the cores the run left free
    (``cores - threads``, plus :data:`MARGIN_CORES`), so they competed with it for CPU time."""

    load_before: float
    load_after: float
    others_cores: float
    cpus: int
    cores: int
    threads: int

    @classmethod
    def between(cls, before: Snapshot, after: Snapshot, threads: int, cores: int | None = None) -> Load:
        """The load between two snapshots of a piece of work that ran on ``threads`` threads."""
        wall = after.wall - before.wall
        others = ((after.busy_s - before.busy_s) - (after.own_s - before.own_s)) / wall if wall > 0 else math.nan
        return cls(before.loadavg, after.loadavg, max(0.0, others) if math.isfinite(others) else math.nan,
                   os.cpu_count() or 1, available_cores() if cores is None else cores, threads)

    @property
    def busy(self) -> bool:
        return self.others_cores > max(0, self.cores - self.threads) + MARGIN_CORES  # False when unknown (NaN)

    @property
    def others_share(self) -> float:
        """Other processes' share of the machine's CPU time, 0 to 1."""
        return self.others_cores / self.cpus

    def to_json(self) -> dict[str, float | int | bool | None]:
        """The record (NaN as null, which JSON has), with ``busy`` spelled out for readers of the file."""
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in asdict(self).items()} | {"busy": self.busy}

    @classmethod
    def from_json(cls, rec: dict[str, float | int | bool | None]) -> Load:
        """A record of :meth:`to_json` back (``busy`` is recomputed, not trusted)."""
        return cls(**{f.name: math.nan if rec.get(f.name) is None else rec[f.name] for f in fields(cls)})

    def brief(self) -> str:
        """``load 4.6 -> 5.1, others 1.8 of 2 CPUs``: the figures of one interval at a glance."""
        others = "unknown" if math.isnan(self.others_cores) else f"{self.others_cores:.1f}"
        return f"load {self.load_before:.1f} -> {self.load_after:.1f}, other processes {others} of {self.cpus} CPUs"


def free_cores(window_s: float = 0.1) -> int:
    """The cores this process may use less those other processes keep busy now (over ``window_s``), at least 1.

    Why: PyTorch's intra-op threads wait on each other at every parallel region, so threads on cores that
    other processes hold lose a time slice at each wait. Beside two busy processes on this 2-core machine, the
    quickstart's supernet training on 2 threads ran 26x slower than idle, where a fair share predicts 2x.
    Starting on the free cores keeps a loaded run near its fair share. Other processes' CPU use is the
    machine's (a container's host's): its share of the machine is taken from this process's cores.
    """
    before = snapshot()
    time.sleep(window_s)
    share = Load.between(before, snapshot(), threads=1).others_share
    cores = available_cores()
    if not math.isfinite(share):
        return cores
    return max(1, min(cores, round(cores * (1.0 - min(1.0, share)))))
