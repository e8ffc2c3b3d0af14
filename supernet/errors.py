"""Errors a user can cause and fix, and the one-line reporting every command shares.

Commands raise a :class:`GreenError` subclass for bad input; :func:`exit_on_error` turns it into a
single ``<prog>: error: <message>`` line on stderr and exit status 2, so a user is never handed a
traceback for a typo (set ``HYDRA_FULL_ERROR=1`` to see one anyway).
"""
from __future__ import annotations

import contextlib
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


@contextlib.contextmanager
def exit_on_error(prog: str) -> Iterator[None]:
    """Report a :class:`GreenError` as one line and exit 2 instead of raising it."""
    try:
        yield
    except Exception as err:  # noqa: BLE001 - re-raised unless it is (or wraps) a GreenError
        cause: BaseException | None = err
        while cause is not None and not isinstance(cause, GreenError):
            cause = cause.__cause__  # Hydra's instantiate wraps errors raised by constructors
        if cause is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        msg = " ".join(str(cause).split())
        print(f"{prog}: error: {msg}", file=sys.stderr)
        sys.exit(2)
