"""A stop that a signal asked for, kept until a safe point honours it.

:func:`core.signals.interruptible` raises :class:`~core.errors.SignalStop` from its signal handler, wherever the
signal lands. Python runs a handler at the next bytecode boundary of the main thread, and that can be inside a
weakref callback, a ``__del__`` or a garbage-collector pass; an exception raised there is printed as "Exception
ignored in ..." and dropped, and the run would go on as if no signal had come. So the handler also notes the stop
here, and the loops that can run for long (every training batch, every search evaluation, every job and stage)
call :func:`check_stop` at their safe points: a dropped raise is raised again there, moments later.

Plain module state with no Lightning, so the search engine and the job loop can import it cheaply.
"""
from __future__ import annotations

from core.errors import Interrupted, SignalStop

_pending: list[Interrupted] = []  # the first signal's stop, until the interruptible block ends


def note_stop(interrupted: Interrupted) -> None:
    """Remember the stop a signal asked for (the first one wins: it names the signal the user sent)."""
    if not _pending:
        _pending.append(interrupted)


def stop_pending() -> Interrupted | None:
    """The stop a signal asked for and no safe point has honoured yet, if any."""
    return _pending[0] if _pending else None


def check_stop() -> None:
    """Raise :class:`SignalStop` if a signal asked for a stop: a safe point of a long loop."""
    if _pending:
        raise SignalStop(_pending[0])


def clear_stop() -> None:
    """Forget the pending stop (the block that installed the handlers has ended)."""
    _pending.clear()
