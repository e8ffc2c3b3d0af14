"""Errors a user can cause and fix, and the one-line reporting every command shares.

Commands raise a :class:`GreenError` subclass for bad input; :func:`exit_on_error` turns it into a
single ``<prog>: error: <message>`` line on stderr and exit status 2, so a user is never handed a
traceback for a typo (set ``HYDRA_FULL_ERROR=1`` to see one anyway).
"""
from __future__ import annotations

import contextlib
import errno
import os
import sys
from typing import Iterator


class GreenError(Exception):
    """Bad input or state that the user can fix; its message is shown as one line."""


class ArchError(GreenError, ValueError):
    """An architecture that is malformed or lies outside its search space."""


class SpaceError(GreenError, ValueError):
    """A search-space definition that is inconsistent."""


class DataError(GreenError):
    """A dataset that is missing, empty or unreadable."""


class CheckpointError(GreenError):
    """A checkpoint that is missing, corrupt or from another search space."""


class TrainingError(GreenError):
    """Training that cannot go on (for example a non-finite loss)."""


class DiskFullError(GreenError):
    """A write that found no space left; the file it would have replaced is intact."""


class Infeasible(GreenError):
    """A search that ran to its end without one candidate meeting its constraints. Its outputs are written
    (``pareto.json`` says ``feasible: false``) and the command exits 3: neither a result (0) nor bad input (2),
    so a script or a pipeline cannot take an empty front for a finished search."""

    exit_code = 3


class Interrupted(GreenError):
    """A run stopped at a safe point by a signal (SIGTERM from a scheduler, SIGINT from Ctrl-C); it exits
    with the shell's convention for that signal, 128 + its number, so a scheduler sees it was not a success."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.exit_code = 128 + int(signum)


class SignalStop(BaseException):
    """A signal that stopped a command wherever it landed (:func:`core.signals.interruptible`): a
    ``BaseException``, so no ``except Exception`` on the way (an energy tracker's, a measurement's) swallows it
    and lets the run carry on; :func:`exit_on_error` reports its :class:`Interrupted` as one line."""

    def __init__(self, interrupted: Interrupted):
        super().__init__(str(interrupted))
        self.interrupted = interrupted


def bad_option(err: BaseException) -> str | None:
    """Hydra's instantiation error for an option the target does not take (``+data.batchsize=3``, a typo), as
    one line naming the option; None for any other error."""
    if type(err).__name__ != "InstantiationException" or not isinstance(err.__cause__, TypeError):
        return None
    import re

    m = re.search(r"unexpected keyword argument '(\w+)'", str(err.__cause__))
    where = re.search(r"full_key: (\S+)", str(err))
    if not m:
        return None
    key = f"{where.group(1)}.{m.group(1)}" if where else m.group(1)
    return f"unknown option {key}: {str(err.__cause__).split('(')[0].removesuffix('.__init__')} takes no {m.group(1)!r} (a typo?); see --help"


def out_of_memory(err: BaseException) -> str | None:
    """A failed allocation (huge channel counts, a batch too large for the device), as one line; else None."""
    cause: BaseException | None = err
    while cause is not None:
        text = str(cause)
        if isinstance(cause, (RuntimeError, MemoryError)) and ("allocate" in text or isinstance(cause, MemoryError)):
            import re

            size = re.search(r"allocate (?:memory: you tried to allocate )?(\d+) bytes", text)
            what = f" ({int(size.group(1)) / 2 ** 30:.1f} GiB asked)" if size else ""
            return (f"out of memory{what}: the networks, batch or images are too large for this device; use a "
                    "smaller space (channels, depths), batch size or image size")
        cause = cause.__cause__ or cause.__context__
    return None


def disk_full(err: BaseException) -> bool:
    """Whether ``err`` is the operating system's "no space left" (or "quota exceeded")."""
    return isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT)


@contextlib.contextmanager
def exit_on_error(prog: str) -> Iterator[None]:
    """Report a :class:`GreenError` (or a full disk) as one line and exit 2 (an :class:`Interrupted` run:
    128 + the signal) instead of raising it."""
    try:
        yield
    except SignalStop as stop:
        print(f"{prog}: error: {' '.join(str(stop.interrupted).split())}", file=sys.stderr)
        sys.exit(stop.interrupted.exit_code)
    except Exception as err:  # noqa: BLE001 - re-raised unless it is (or wraps) a GreenError or a full disk
        bad = bad_option(err) or out_of_memory(err)
        if bad and os.environ.get("HYDRA_FULL_ERROR") != "1":
            print(f"{prog}: error: {bad}", file=sys.stderr)
            sys.exit(2)
        cause: BaseException | None = err
        while cause is not None and not isinstance(cause, GreenError) and not disk_full(cause):
            cause = cause.__cause__  # Hydra's instantiate wraps errors raised by constructors
        if cause is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        if isinstance(cause, GreenError):
            msg = " ".join(str(cause).split())
        else:  # ENOSPC from a library's own write (TensorBoard, Lightning): name the file it was writing
            where = f" writing {cause.filename!r}" if getattr(cause, "filename", None) else ""
            msg = f"no space left on device{where}; free some space and rerun (finished artefacts are intact)"
        print(f"{prog}: error: {msg}", file=sys.stderr)
        sys.exit(getattr(cause, "exit_code", 2))
