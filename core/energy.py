"""Energy of running code: hardware counters where the machine has them, codecarbon's estimate where not.

* ``nvml``: NVIDIA's total-energy counter of the GPU (millijoules since driver load; Volta and later).
* ``rapl``: Linux powercap RAPL package counters of the CPU (microjoules, wrapping), when readable.
* ``codecarbon-estimate``: no counter (a VM, say): codecarbon's power model (TDP x CPU load, RAM
  by size) over a timed window gives an average power, and energy is that power times time. It is
  an *estimate*, proportional to latency, and is always labelled so; never a measurement.

Counters integrate over a window long enough for their update rate (the op is looped), and idle
power, measured over a quiet window, is subtracted; both gross and net figures are kept.
"""
from __future__ import annotations

import contextlib
import glob
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Iterator, Mapping

import torch

from core.device import sync
from core.jsontypes import JSONObject

MEASURED_SOURCES = ("nvml", "rapl")


class EnergyMeter:
    """A cumulative energy counter: :meth:`joules` only ever grows (wrap-around handled)."""

    source = "none"

    def joules(self) -> float:
        raise NotImplementedError


class NvmlMeter(EnergyMeter):
    """GPU energy from NVML's ``nvmlDeviceGetTotalEnergyConsumption`` (mJ)."""

    source = "nvml"

    def __init__(self, index: int = 0):
        import pynvml

        pynvml.nvmlInit()
        self._nvml = pynvml
        self._handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        self.joules()  # raises where the GPU has no energy counter

    def joules(self) -> float:
        return self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle) / 1e3


class RaplMeter(EnergyMeter):
    """CPU package energy from ``/sys/class/powercap/intel-rapl:N/energy_uj`` (all packages)."""

    source = "rapl"

    def __init__(self, root: str = "/sys/class/powercap"):
        self._files = sorted(glob.glob(os.path.join(root, "intel-rapl:[0-9]*")))
        self._files = [f for f in self._files if f.count(":") == 1]  # packages, not sub-domains
        if not self._files:
            raise OSError(f"no RAPL package domains under {root}")
        self._max = [int(open(os.path.join(f, "max_energy_range_uj")).read()) for f in self._files]
        self._last = [self._read(i) for i in range(len(self._files))]
        self._total = 0.0

    def _read(self, i: int) -> int:
        with open(os.path.join(self._files[i], "energy_uj")) as fh:
            return int(fh.read())

    def joules(self) -> float:
        for i in range(len(self._files)):
            now = self._read(i)
            delta = now - self._last[i]
            if delta < 0:  # the counter wrapped
                delta += self._max[i]
            self._total += delta / 1e6
            self._last[i] = now
        return self._total


def find_meter(device: torch.device) -> EnergyMeter | None:
    """The hardware counter for ``device``, or None where the machine has none readable."""
    try:
        if device.type == "cuda":
            return NvmlMeter(device.index or 0)
        return RaplMeter()
    except Exception:  # noqa: BLE001 - no driver, no counter, no permission: all mean "none here"
        return None


@dataclass
class PowerReading:
    """Average power over a window and how it was obtained."""

    watts: float
    source: str
    seconds: float
    detail: dict


def measure_power(fn: Callable[[], None], seconds: float, meter: EnergyMeter | None,
                  country_iso_code: str = "USA") -> PowerReading:
    """Average power while ``fn`` runs repeatedly for about ``seconds`` (``fn=None``: idle)."""
    if meter is not None:
        e0, t0 = meter.joules(), time.perf_counter()
        _run_for(fn, seconds)
        e1, t1 = meter.joules(), time.perf_counter()
        return PowerReading((e1 - e0) / (t1 - t0), meter.source, t1 - t0, {})
    return _codecarbon_power(fn, seconds, country_iso_code)


def _run_for(fn: Callable[[], None] | None, seconds: float) -> None:
    end = time.perf_counter() + seconds
    if fn is None:
        time.sleep(seconds)
        return
    while time.perf_counter() < end:
        fn()
    sync()


def _codecarbon_power(fn: Callable[[], None] | None, seconds: float, country_iso_code: str) -> PowerReading:
    from codecarbon import OfflineEmissionsTracker

    logging.getLogger("codecarbon").setLevel(logging.ERROR)
    tracker = OfflineEmissionsTracker(country_iso_code=country_iso_code, measure_power_secs=max(1, int(seconds / 3)),
                                      log_level="error", save_to_file=False, tracking_mode="process")
    tracker.start()
    t0 = time.perf_counter()
    try:
        _run_for(fn, seconds)
    finally:
        tracker.stop()
    dt = time.perf_counter() - t0
    d = tracker.final_emissions_data
    joules = float(d.energy_consumed) * 3.6e6  # kWh -> J
    modes = {type(h).__name__: getattr(h, "_mode", None) for h in getattr(tracker, "_hardware", [])}
    return PowerReading(joules / dt, "codecarbon-estimate", dt, {
        "cpu_power_w": float(d.cpu_power), "ram_power_w": float(d.ram_power), "gpu_power_w": float(d.gpu_power),
        "cpu_model": d.cpu_model, "modes": {k: str(v) for k, v in modes.items()},
        "note": "codecarbon power model (no hardware energy counter readable here): an estimate, not a measurement",
    })


@dataclass(frozen=True)
class EnergyUse:
    """The energy a block of work booked (:func:`track_energy`): what a training row's budget and a
    search's ledger state, with the ``source`` that says how far to trust it."""

    stage: str
    source: str
    seconds: float
    energy_kwh: float
    co2eq_kg: float
    cpu_kwh: float
    gpu_kwh: float
    ram_kwh: float
    country_iso_code: str
    sessions: int = 1

    def to_json(self) -> JSONObject:
        return asdict(self)

    def plus(self, before: Mapping[str, object]) -> "EnergyUse":
        """This block added to the figures booked earlier (``before``, an ``energy_<stage>.json``)."""
        add = {k: getattr(self, k) + float(before.get(k, 0.0))  # type: ignore[arg-type]
               for k in ("seconds", "energy_kwh", "co2eq_kg", "cpu_kwh", "gpu_kwh", "ram_kwh")}
        prev = before.get("source")
        source = self.source if prev in (None, self.source) else f"{prev}+{self.source}"
        return replace(self, **add, source=source, sessions=self.sessions + int(before.get("sessions", 1)))  # type: ignore[arg-type]


class EnergyLedger:
    """Result holder of :func:`track_energy` (``result`` is filled when the block ends)."""

    def __init__(self) -> None:
        self.result: EnergyUse | None = None


@contextlib.contextmanager
def track_energy(run_dir: str | Path, stage: str, device: torch.device,
                 country_iso_code: str = "USA", accumulate: bool = False) -> Iterator[EnergyLedger]:
    """Book the energy and CO2eq of a block of work with codecarbon (offline, no network calls).

    Writes ``energy_<stage>.json`` in ``run_dir``. The ``source`` says how codecarbon got it: through
    a hardware counter (``codecarbon:rapl``, ``codecarbon:nvml``) or its power model
    (``codecarbon-estimate``). ``accumulate``: the block continues work booked earlier (a resumed
    training), so an existing file's figures are added to, not replaced (``sessions`` counts them);
    otherwise an interrupted-then-resumed run would book only its last part.
    """
    from codecarbon import OfflineEmissionsTracker

    from core.io import write_json

    logging.getLogger("codecarbon").setLevel(logging.ERROR)
    meter = find_meter(device)
    source = f"codecarbon:{meter.source}" if meter is not None else "codecarbon-estimate"
    ledger = EnergyLedger()
    tracker = OfflineEmissionsTracker(country_iso_code=country_iso_code, log_level="error", save_to_file=False,
                                      tracking_mode="process", measure_power_secs=5)
    tracker.start()
    t0 = time.perf_counter()
    try:
        yield ledger
    finally:
        emissions = tracker.stop()
        d = tracker.final_emissions_data
        use = EnergyUse(stage, source, time.perf_counter() - t0, float(d.energy_consumed), float(emissions or 0.0),
                        float(d.cpu_energy), float(d.gpu_energy), float(d.ram_energy), country_iso_code)
        path = Path(run_dir) / f"energy_{stage}.json"
        if accumulate and path.is_file():
            use = use.plus(json.loads(path.read_text()))
        ledger.result = use
        write_json(path, use.to_json())
