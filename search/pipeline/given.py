"""A supernet trained elsewhere (``green-run ckpt=...``): its training energy still belongs in the run's ledger.

Without this the train stage is skipped and the ledger books 0 kWh for the supernet, which makes the one-shot
route look free: the break-even candidate count and the amortisation would be wrong by the whole training. The
record is found, in order, inside the checkpoint (``green.train_energy``, written when a checkpoint is published,
e.g. by ``bench/reference.py``), beside it, or in the green-train run folder it sits in
(``<run>/checkpoints/last.ckpt`` -> ``<run>/energy_train.json``). A checkpoint without one is refused: an
unknown training cost is not a zero one.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from core.errors import GreenError
from core.io import write_json
from core.validate import of_type, read_json

RECORD = "energy_train.json"
KEYS = ("energy_kwh", "co2eq_kg", "seconds", "source")


@dataclass(frozen=True)
class GivenTraining:
    """The energy record of the training that made a checkpoint (green-train's, whole) and where it was found."""

    record: Mapping[str, object]
    found_in: str
    energy_kwh: float
    epochs: int  # the checkpoint's trained epochs (the report's "after a supernet of N epochs")


def _checked(rec: object, where: str, found_in: str, epochs: int) -> GivenTraining:
    rec = of_type(rec, dict, where)
    missing = [k for k in KEYS if k not in rec]
    if missing:
        raise GreenError(f"{where} has no {missing[0]}: not a green-train energy record")
    return GivenTraining(rec, found_in, float(rec["energy_kwh"]), epochs)


def training_energy(ckpt: Path) -> GivenTraining:
    """The energy record of the training that made ``ckpt``: inside it, beside it, or in its run folder."""
    from supernet.checkpoint import read_checkpoint

    data = read_checkpoint(ckpt)
    inside, epochs = data["green"].get("train_energy"), int(data.get("epoch", -1)) + 1
    if inside is not None:
        return _checked(inside, f"checkpoint {str(ckpt)!r}: green.train_energy", str(ckpt), epochs)
    for path in (ckpt.parent / RECORD, ckpt.parent.parent / RECORD):
        if path.is_file():
            return _checked(read_json(path, "energy record"), f"energy record {str(path)!r}", str(path), epochs)
    raise GreenError(f"ckpt {str(ckpt)!r}: its training energy is unknown (no green.train_energy in it, no {RECORD} "
                     "beside it or in its run folder), and the ledger would book the supernet as free; copy "
                     f"green-train's {RECORD} beside it")


def book(ckpt: Path, into: Path) -> None:
    """Write the given checkpoint's training energy as the train stage's record in ``into``."""
    given = training_energy(ckpt)
    path = write_json(into / RECORD, {**given.record, "stage": "train", "given_ckpt": str(ckpt),
                                      "found_in": given.found_in, "supernet_epochs": given.epochs})
    print(f"green-run: train: given supernet {ckpt}; its training ({given.energy_kwh:.4g} kWh, "
          f"{given.record['source']}) is booked in {path}", flush=True)
