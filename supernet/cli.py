"""The entry point every Green command shares: a thin ``@hydra.main`` with one-line errors.

:func:`command` turns a library function ``fn(cfg)`` into a console script. Before Hydra starts,
the output folder named on the command line (``hydra.run.dir=``, or ``outputs/`` by default) is
created and checked, since Hydra would otherwise fail there with a traceback; afterwards a
:class:`~supernet.errors.GreenError` becomes one ``<prog>: error: ...`` line and exit status 2.
"""
from __future__ import annotations

import functools
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

import hydra
from omegaconf import DictConfig

from supernet.errors import exit_on_error


def output_dir_problem(args: Sequence[str]) -> tuple[str, str] | None:
    """``(folder, why)`` when the output folder the arguments name cannot be written, else None."""
    folder = "outputs"
    for a in args:
        if a.startswith(("hydra.run.dir=", "hydra.sweep.dir=")):
            folder = a.split("=", 1)[1]
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        return folder, err.strerror or str(err)
    return None


def command(prog: str, config_name: str) -> Callable[[Callable[[DictConfig], Any]], Callable[[], None]]:
    """Wrap ``fn(cfg)`` as the console script ``prog`` on ``conf/<config_name>.yaml``."""
    def wrap(fn: Callable[[DictConfig], Any]) -> Callable[[], None]:
        @hydra.main(version_base="1.3", config_path="pkg://conf", config_name=config_name)
        def app(cfg: DictConfig) -> None:
            with exit_on_error(prog):
                fn(cfg)

        @functools.wraps(fn)
        def main() -> None:
            problem = output_dir_problem(sys.argv[1:])
            if problem:
                print(f"{prog}: error: cannot write output folder {problem[0]!r}: {problem[1]}", file=sys.stderr)
                sys.exit(2)
            app()

        return main
    return wrap
