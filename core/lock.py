"""One writer per run folder, no debris: the lock every command takes on its output folder.

Two ``green-search`` runs on one folder would interleave their caches and the second would silently
overwrite the first's front; a killed writer leaves hidden temporaries (``.lut.json.<random>.tmp``,
``.model.<random>.tmp``); a command that fails before it made anything leaves a folder of logs that
looks like a run. :func:`run_folder` holds an exclusive ``flock`` on ``<folder>/.lock`` for the whole
command (the kernel releases it when the process dies, even by SIGKILL, so a stale lock never blocks),
then sweeps the temporaries a killed writer left, and on failure removes a folder that it found new and
that still holds nothing but bookkeeping.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from pathlib import Path
from typing import Any, Iterator

from core.errors import GreenError
from core.io import sweep_temp

LOCK = ".lock"
BOOKKEEPING = (".hydra", LOCK, "tb")  # plus *.log and energy_*.json: what a run writes before any result


def _rank() -> int:
    """This process's rank when it is one of several of a distributed run (the launcher's children set these)."""
    for var in ("LOCAL_RANK", "RANK", "SLURM_PROCID"):
        if os.environ.get(var, "0") not in ("", "0"):
            return 1
    return 0


def bookkeeping_only(folder: Path) -> bool:
    """Whether ``folder`` holds nothing a user would want back: Hydra's records, logs, the lock, TensorBoard
    events and energy records of a run that produced no result."""
    for p in folder.iterdir():
        if p.is_dir() and not any(p.iterdir()):
            continue  # a folder made for a result that never came (checkpoints/ before the first epoch)
        if not (p.name in BOOKKEEPING or p.suffix == ".log" or (p.name.startswith("energy_") and p.suffix == ".json")):
            return False
    return True


@contextlib.contextmanager
def locked(folder: str | os.PathLike, prog: str) -> Iterator[None]:
    """Hold ``folder``'s lock; a second writer gets a :class:`GreenError` naming the holder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            raise GreenError(f"{str(folder)!r} is in use by {holder}: wait for it to end, or write to another "
                             "folder (hydra.run.dir=...)") from None
        os.ftruncate(fd, 0)
        try:
            os.pwrite(fd, f"{prog} (pid {os.getpid()})\n".encode(), 0)
        except OSError as err:  # a full disk: name the lock file (the one-line message names what was written)
            raise OSError(err.errno, err.strerror, str(folder / LOCK)) from None
        yield
    finally:
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def run_folder(prog: str, cfg: Any) -> Iterator[None]:
    """The command's output folder, locked for the command's lifetime and swept of dead writers' temporaries;
    removed again if the command fails in a folder it found new before it made any result."""
    from hydra.core.hydra_config import HydraConfig

    if _rank():  # the other ranks of a distributed run write through rank 0's folder, under its lock
        yield
        return
    folder = Path(HydraConfig.get().runtime.output_dir) if HydraConfig.initialized() else Path(cfg.paths.output_dir)
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(locked(folder, prog))
        except OSError:  # the lock could not be recorded (a full disk): a folder of bookkeeping only goes
            if folder.is_dir() and bookkeeping_only(folder):
                shutil.rmtree(folder, ignore_errors=True)
            raise
        fresh = bookkeeping_only(folder)
        sweep_temp(folder)
        try:
            yield
        except BaseException as err:
            if fresh and not (isinstance(err, SystemExit) and not err.code) and bookkeeping_only(folder):
                shutil.rmtree(folder, ignore_errors=True)
            raise
