"""Stopping a training on SIGTERM or SIGINT at a safe point, resumably.

A cluster scheduler sends SIGTERM before it kills a job (SLURM: at the time limit, on preemption,
``scancel``); a user presses Ctrl-C. Lightning on its own turns SIGTERM into a ``SystemExit`` with
status 0, so a scheduler would count the job as a success, and Ctrl-C into status 1 with no word
about what was kept. :class:`StopOnSignal` notes the signal and raises :class:`Interrupted` at the
next batch boundary (after the optimizer step, never inside one): ``last.ckpt`` still holds the last
finished epoch, the message names it, and the process exits with 128 + the signal number.

SLURM's requeue (``#SBATCH --signal=SIGUSR1@90`` with Lightning's SLURM environment) is left to
Lightning; a requeued ``green-train resume=auto hydra.run.dir=<same folder>`` continues from that
folder's ``last.ckpt``.
"""
from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytorch_lightning as pl

from core.errors import Interrupted, SignalStop
from core.stop import check_stop, clear_stop, note_stop

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopOnSignal(pl.Callback):
    """Install SIGTERM/SIGINT handlers for the fit and stop at the next safe point once one arrives."""

    def __init__(self, last_ckpt: Path):
        self.last_ckpt = Path(last_ckpt)
        self.signum: int | None = None
        self._old: dict[int, Any] = {}

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signals reach the main thread only
        for s in SIGNALS:  # Lightning registers its own SIGTERM notifier later and calls this one too
            self._old[s] = signal.getsignal(s)
            signal.signal(s, self._note)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.restore()

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self.restore()

    def restore(self) -> None:
        for s, h in self._old.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)
        self._old.clear()

    def _note(self, signum: int, frame: Any) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: the user wants out now
        self.signum = signum

    def check(self, trainer: pl.Trainer) -> None:
        """Raise :class:`Interrupted` if a signal has arrived (called at safe points)."""
        if self.signum is not None:
            raise self.interrupted(trainer)

    def interrupted(self, trainer: pl.Trainer) -> Interrupted:
        name = signal.Signals(self.signum).name
        where = f"in epoch {trainer.current_epoch + 1}, step {trainer.global_step}"
        if self.last_ckpt.is_file():
            how = (f"the last finished epoch is saved in {str(self.last_ckpt)!r}: rerun with "
                   f"resume={self.last_ckpt} to continue")
        else:
            how = "no epoch had finished, so there is nothing to resume: rerun from the start"
        return Interrupted(f"stopped by {name} {where}; {how}", self.signum)

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        self.check(trainer)

    def on_validation_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        self.check(trainer)


class SafePoints(pl.Callback):
    """Honour a stop a signal asked for at every batch end of a fit run under :func:`interruptible`.

    The handler raises where the signal lands; when Python drops that raise (it landed in a ``__del__`` or a
    weakref callback), the next batch end raises it again, after the optimizer step, never inside one."""

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        check_stop()

    def on_validation_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        check_stop()

    def on_test_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        check_stop()


@contextmanager
def interruptible(prog: str, folder: Path) -> Iterator[None]:
    """SIGTERM or SIGINT anywhere in a command: stop with one line and exit 128 + the signal, keeping what finished.

    Every command outside ``green-train``'s own fit (a run's stages, fine-tunes, baselines, a ground-truth
    table, HPO trials, measurements) records what finished as it goes and writes every artefact atomically,
    so the handler can raise :class:`Interrupted` wherever the signal lands: a half-done item is simply not
    recorded, and the same command on the same folder skips what finished. ``green-train``'s fit installs
    :class:`StopOnSignal` over this one, to stop at a batch boundary with its own message.

    Python drops an exception raised in a ``__del__`` or weakref callback, so the handler also notes the stop
    (:mod:`core.stop`) and the long loops raise it again at their next safe point (:class:`SafePoints` on every
    fit, each search evaluation, job and stage). A second signal of the same kind raises again, in case the
    first was dropped; a third ends the process at once.
    """
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield
        return

    seen: dict[int, int] = {}

    def stop(signum: int, frame: Any) -> None:
        seen[signum] = seen.get(signum, 0) + 1
        if seen[signum] >= 2:  # the second one raises again (the first may have been dropped); a third ends at once
            signal.signal(signum, signal.SIG_DFL)
        interrupted = Interrupted(f"stopped by {signal.Signals(signum).name}; what finished is kept in "
                                  f"{str(folder)!r}: rerun the same {prog} command on that folder to continue",
                                  signum)
        note_stop(interrupted)  # raised again at the next safe point if this raise lands where Python drops it
        raise SignalStop(interrupted)

    hook = sys.unraisablehook

    def unraisable(args: Any) -> None:  # a dropped stop is raised at the next safe point: no traceback for it
        if not isinstance(args.exc_value, SignalStop):
            hook(args)

    old = {s: signal.getsignal(s) for s in SIGNALS}
    for s in SIGNALS:
        signal.signal(s, stop)
    sys.unraisablehook = unraisable
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)
        sys.unraisablehook = hook
        clear_stop()
