"""The latency/energy lookup table ``green-lut`` measures: its one schema, reader and writer.

A :class:`LookupTable` holds where it was measured (``fingerprint``: device, threads, dtype, batch
sizes, the space and the data's classes and channels), how (``protocol``), the per-op medians
(``entries``: ``op key -> batch size -> latency_ms/energy_mj -> {median, p10, p90, ...}``, plus the
op's params and MACs), the end-to-end ``correction`` fitted per batch size with the subnets it was
fitted on (``calibration``), and the energy scale (``energy``: a measured source with its idle
power, or one codecarbon power figure that prices energy as power x latency). Reading checks every
figure that prices a subnet, so a damaged table is one line naming the file and key.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from core.energy import MEASURED_SOURCES
from core.errors import GreenError
from core.io import write_json
from core.validate import finite_number, of_type, read_json, whole_number
from core.jsontypes import JSONObject

KIND = "green-cnn-lut"
VERSION = 1


def table_format(table: "LookupTable") -> str:
    """The memory format a table's networks were timed in: recorded since it became a choice; a table of before
    was timed in NCHW (``contiguous``)."""
    return str(table.fingerprint.get("memory_format", "contiguous"))


class TableError(GreenError):
    """A lookup table that is corrupt, truncated or does not fit the space or device."""


@dataclass(frozen=True)
class LookupTable:
    """One device's table for one search space (see the module docstring for the sections)."""

    fingerprint: dict[str, Any]
    entries: dict[str, dict[str, Any]]
    energy: dict[str, Any]
    correction: dict[str, dict[str, Any]] = field(default_factory=dict)
    calibration: dict[str, list] = field(default_factory=dict)
    protocol: dict[str, Any] = field(default_factory=dict)
    space: dict[str, Any] = field(default_factory=dict)
    created: str | None = None
    build_seconds: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # keys of newer writers, kept on a rewrite

    @property
    def num_classes(self) -> int:
        return int(self.fingerprint["num_classes"])

    @property
    def in_chans(self) -> int:
        return int(self.fingerprint["in_chans"])

    @property
    def batch_sizes(self) -> list[int]:
        return [int(b) for b in self.fingerprint["batch_sizes"]]

    @property
    def energy_source(self) -> str:
        return str(self.energy["source"])

    def median(self, op_key: str, batch_size: int, what: str) -> float:
        """The measured median of ``what`` (``latency_ms`` or ``energy_mj``) of one op; KeyError if absent."""
        return self.entries[op_key][str(batch_size)][what]["median"]

    def fit(self, batch_size: int, what: str) -> Mapping[str, float] | None:
        """The end-to-end correction ``{a, b, r2, n}`` of ``what`` at ``batch_size`` (None: not fitted)."""
        return self.correction.get(str(batch_size), {}).get(what)

    def poor_fits(self, min_r2: float = 0.9) -> list[str]:
        """A line for each end-to-end correction that explains its measured subnets poorly (R^2 below ``min_r2``,
        or none fitted): the table's predictions at that batch size are then unreliable, though it is written."""
        out = []
        for bs in self.batch_sizes:
            for what, f in sorted(self.correction.get(str(bs), {}).items()):
                if not f["r2"] >= min_r2:  # NaN too: measured subnets all alike, nothing to explain
                    out.append(f"the {what} correction at batch {bs} fits poorly (r2 {f['r2']:.2f} < {min_r2} over "
                               f"{f['n']} subnets): its predictions at that batch are unreliable; measure on a quieter "
                               "machine, or with more protocol.trials and calib.subnets")
        return out

    def to_json(self) -> JSONObject:
        """The file's layout."""
        out = {"kind": KIND, "version": VERSION, "fingerprint": self.fingerprint, "protocol": self.protocol,
               "space": self.space, "entries": self.entries, "correction": self.correction,
               "calibration": self.calibration, "energy": self.energy}
        if self.created is not None:
            out["created"] = self.created
        if self.build_seconds is not None:
            out["build_seconds"] = self.build_seconds
        return {**out, **self.extra}

    def write(self, path: str | Path) -> Path:
        """The table as JSON at ``path``, atomically."""
        return write_json(path, self.to_json())

    @classmethod
    def read(cls, path: str | Path) -> LookupTable:
        """A table written by ``green-lut``; a corrupt, truncated or out-of-range file is a :class:`TableError`."""
        path = Path(path)
        data = read_json(path, "lookup table", TableError)
        if not isinstance(data, dict) or data.get("kind") != KIND:
            raise TableError(f"{str(path)!r} is not a green-cnn lookup table")
        if data.get("version") != VERSION:
            raise TableError(f"lookup table {str(path)!r} has version {data.get('version')}, expected {VERSION}")
        for key in ("fingerprint", "entries", "correction", "energy"):
            if not isinstance(data.get(key), dict):
                raise TableError(f"lookup table {str(path)!r} is incomplete: no {key!r} section")
        check_numbers(data, str(path))
        known = {f.name for f in fields(cls)} - {"extra"}
        return cls(**{k: data[k] for k in known if k in data},
                   extra={k: v for k, v in data.items() if k not in known and k not in ("kind", "version")})


def fingerprint_mismatch(have: Mapping, want: Mapping, keys: tuple[str, ...]) -> list[str]:
    """Human-readable differences of ``keys`` between two fingerprints."""
    return [f"{k}: table {have.get(k)!r} vs here {want.get(k)!r}" for k in keys if have.get(k) != want.get(k)]


def check_numbers(table: dict, path: str) -> None:
    """Every figure that prices a subnet must be a finite number in range: a NaN median would price every
    subnet at 0 ms (NaN propagates, then ``max(0, NaN)`` is 0), a negative one below the truth, and a
    string would fail mid-search. The error names the file and the key."""
    def where(key: str) -> str:
        return f"lookup table {path!r}: {key}"

    fp = table["fingerprint"]
    for key in ("num_classes", "in_chans"):
        whole_number(fp.get(key), where(f"fingerprint.{key}"), 1, TableError)
    sizes = of_type(fp.get("batch_sizes"), list, where("fingerprint.batch_sizes"), TableError)
    for i, bs in enumerate(sizes):
        whole_number(bs, where(f"fingerprint.batch_sizes[{i}]"), 1, TableError)
    energy = table["energy"]
    of_type(energy.get("source"), str, where("energy.source"), TableError)
    if energy["source"] not in MEASURED_SOURCES:  # an estimate: power x latency prices the energy
        finite_number(energy.get("power_w"), where("energy.power_w"), 0.0, error=TableError)
    for key, entry in table["entries"].items():
        of_type(entry, dict, where(f"entries.{key}"), TableError)
        for bs, figures in entry.items():
            if bs in ("params", "macs"):
                whole_number(figures, where(f"entries.{key}.{bs}"), 0, TableError)
                continue
            for what, stats in of_type(figures, dict, where(f"entries.{key}.{bs}"), TableError).items():
                stats = of_type(stats, dict, where(f"entries.{key}.{bs}.{what}"), TableError)
                # a latency is never 0; an idle-subtracted energy may be
                finite_number(stats.get("median"), where(f"entries.{key}.{bs}.{what}.median"), 0.0,
                              low_open=what == "latency_ms", error=TableError)
    for bs, fits in table["correction"].items():
        for what, fit in of_type(fits, dict, where(f"correction.{bs}"), TableError).items():
            for coef in ("a", "b"):
                value = of_type(fit, dict, where(f"correction.{bs}.{what}"), TableError).get(coef)
                finite_number(value, where(f"correction.{bs}.{what}.{coef}"), error=TableError)
