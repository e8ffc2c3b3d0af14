"""Lightning callbacks of the supernet training, built from ``callbacks:`` in ``conf/train.yaml``.

:class:`EnergyTracker` books the energy and CO2eq of ``trainer.fit`` with codecarbon through
:func:`core.energy.track_energy`, the context manager the search commands use around their
work. It lives apart from :mod:`core.energy` so that the measuring commands (``green-lut``)
need not import Lightning.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

import pytorch_lightning as pl

from core.energy import EnergyLedger, track_energy


class EnergyTracker(pl.Callback):
    """Book the energy of a fit in ``run_dir/energy_<stage>.json`` (see :func:`~core.energy.track_energy`).

    Tracking opens at the fit's ``setup``, the first hook of ``trainer.fit`` (data and model set-up
    and the checkpoint restore are part of the training's cost), and is booked when the fit ends or
    fails, so an interrupted run keeps what it spent. Every process books its own: local rank 0
    ``energy_<stage>.json``, the ranks Lightning's launcher starts ``energy_<stage>_rank<n>.json``.

    Args:
        run_dir: the run folder the file goes in.
        stage: the file's name: ``energy_<stage>.json``.
        country_iso_code: the grid of codecarbon's CO2eq (offline, no network calls).
        accumulate: the fit continues work booked before (a resumed training): add to the file's
            figures instead of replacing them.
    """

    def __init__(self, run_dir: str | Path, stage: str = "train", country_iso_code: str = "USA",
                 accumulate: bool = False):
        self.run_dir, self.stage = Path(run_dir), stage
        self.country_iso_code, self.accumulate = country_iso_code, accumulate
        self.ledger: EnergyLedger | None = None  # its ``result`` is filled when the fit's energy is booked
        self._open: contextlib.ExitStack | None = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "fit" or self._open is not None:
            return
        rank = trainer.local_rank
        name = self.stage if rank == 0 else f"{self.stage}_rank{rank}"
        self._open = contextlib.ExitStack()
        self.ledger = self._open.enter_context(track_energy(self.run_dir, name, trainer.strategy.root_device,
                                                           self.country_iso_code, accumulate=self.accumulate))

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._book()

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._book()

    def _book(self) -> None:
        if self._open is not None:
            open_, self._open = self._open, None
            open_.close()
