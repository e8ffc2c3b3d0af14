"""The benchmarks: scripts that write the figures in ``bench/results/``, and the modules they share.

``bench`` is a package so that the scripts, ``bench/recompute.py``, mutation testing and the tests all import one
module under one name: ``bench.common``, ``bench.problems``, ``bench.optimizer``... (mutmut names a mutant by
that module path, and a function's module is the same whichever of them imported it first). Shared code is
imported absolutely from the package, never by a bare name from ``bench/`` on ``sys.path``.

Run a script from the repository root, either way:

    python bench/optimizer.py --quick       # as the committed results record their commands
    python -m bench.optimizer --quick       # the same script as a module of the package

Run as a file, Python puts ``bench/`` itself first on ``sys.path``; so each script starts with one idiom, before
it imports ``bench.*``, ``search.*`` or ``supernet.*``, that puts the repository root there instead (imported as
a module, ``__package__`` is ``"bench"`` and nothing changes):

    if __package__ in (None, ""):  # run as a file, `python bench/<name>.py`: see bench/__init__.py
        sys.path[0] = str(Path(__file__).resolve().parents[1])

A script is ``bench/<name>.py`` with a ``main()``; the result ``bench/results/**/<name>.json`` it writes is
recomputed by ``bench/recompute.py`` with its ``headline(result)`` (defined in the script, or imported into it
from the module that holds it). Code that serves one script lives beside it: a module ``bench/<name>_*.py``
(``bench/ranking_methods.py``, ``bench/throughput_loops.py``), or a subpackage where it takes several
(``bench/optim/`` for ``bench/optimizer.py``, ``bench/sections/`` the figure sections of ``bench/readme.py``);
``bench/common.py`` (provenance, saving a result), ``bench/problems/`` (the optimizer's test problems) and
``bench/deap_loop.py`` are shared. No module here is over 300 lines (``tests/test_layout.py``, which also runs
the scripts' imports as files).

``bench`` is not installed: ``pyproject.toml`` packages ``supernet``, ``search`` and ``conf`` only, so the
benchmarks run from a checkout (the tests find them through pytest's ``pythonpath = ["."]``).
"""
