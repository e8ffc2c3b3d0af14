"""The package's layout rules, checked on the source: imports run one way and modules stay short.

- ``core/`` (errors, files, locks, signals, options, devices, energy) imports neither ``supernet/`` nor
  ``search/``: both sides stand on it;
- ``supernet/`` never imports ``search/`` (the supernet is trained and used without the search side);
- a command module (``supernet/commands/*``, ``search/commands/*``: the console scripts' thin
  wrappers) is a leaf: no module imports one, so shared code lives in shared modules;
- inside ``search/`` imports point down one declared order of layers (``SEARCH_LAYERS``): a
  package imports only itself and the layers below it, never up the stack or sideways;
- no module of the two packages, nor of ``bench/``, is over 300 lines (split by concept, one concept per module
  as in timm);
- every console script of pyproject.toml points at a ``main`` of a command module;
- ``bench/`` is a package that is not installed, and its scripts run as files from the repository root.
"""
from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(p for pkg in ("core", "supernet", "search") for p in (ROOT / pkg).rglob("*.py"))
BENCH = sorted((ROOT / "bench").rglob("*.py"))  # the benchmarks, their helper modules and bench/gpu/'s own script
SCRIPTS = sorted(p for p in (ROOT / "bench").glob("*.py") if 'if __name__ == "__main__":' in p.read_text())


def imported(path: Path) -> set[str]:
    """Every module name ``path`` imports, at any depth (lazy imports in functions too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def test_the_rules_see_every_module():
    names = {module_name(p) for p in MODULES}
    assert {"supernet.train", "search.evolution.engine", "search.commands.search"} <= names


def test_supernet_never_imports_search():
    bad = {module_name(p): sorted(n for n in imported(p) if n == "search" or n.startswith("search."))
           for p in MODULES if module_name(p).startswith("supernet")}
    assert {k: v for k, v in bad.items() if v} == {}


def test_core_imports_neither_side():
    bad = {module_name(p): sorted(n for n in imported(p) if n.split(".")[0] in ("supernet", "search"))
           for p in MODULES if module_name(p).startswith("core")}
    assert {"core.errors", "core.device", "core.energy"} <= set(bad)  # the rule sees the core's modules
    assert {k: v for k, v in bad.items() if v} == {}


def test_no_module_imports_a_command_module():
    commands = {module_name(p) for p in MODULES if ".commands." in module_name(p)}
    assert len(commands) == 9  # green-train and the eight search-side console scripts
    users = {module_name(p): sorted(imported(p) & commands) for p in MODULES}
    for test in (ROOT / "tests").glob("*.py"):  # tests run commands as processes, never import them
        users[f"tests.{test.stem}"] = sorted(imported(test) & commands)
    assert {k: v for k, v in users.items() if v} == {}


# search/'s layers, bottom first: each may import the ones before it (and supernet/), none after it or beside it
SEARCH_LAYERS = ("stats", "registry", "targets", "jobs", "hardware", "objectives", "training", "ranking", "evolution", "deploy",
                 "tuning", "pipeline", "commands")


def layer(name: str) -> str | None:
    """The layer of a ``search.*`` module name (``search.stats`` is its own); None outside ``search``."""
    parts = name.split(".")
    return parts[1] if parts[0] == "search" and len(parts) > 1 else None


def test_search_imports_point_down_the_layers():
    search_modules = [p for p in MODULES if module_name(p).startswith("search.")]
    assert {layer(module_name(p)) for p in search_modules} == set(SEARCH_LAYERS)  # every package is placed
    bad = {}
    for p in search_modules:
        own = SEARCH_LAYERS.index(layer(module_name(p)))
        wrong = sorted(n for n in imported(p) if layer(n) in SEARCH_LAYERS and SEARCH_LAYERS.index(layer(n)) > own
                       or (layer(n) is not None and layer(n) not in SEARCH_LAYERS))
        if wrong:
            bad[module_name(p)] = wrong
    assert bad == {}


def test_the_layer_rule_catches_an_upward_import(tmp_path):
    """The walk sees a lazy import inside a function, and an import of a higher layer fails the rule."""
    f = tmp_path / "m.py"
    f.write_text("def g():\n    from search.pipeline.run import Pipeline\n")
    names = imported(f)
    assert "search.pipeline.run" in names
    assert SEARCH_LAYERS.index(layer("search.pipeline.run")) > SEARCH_LAYERS.index(layer("search.training.fit"))


@pytest.mark.parametrize("path", MODULES + BENCH, ids=lambda p: module_name(p))
def test_modules_are_at_most_300_lines(path):
    assert len(path.read_text().splitlines()) <= 300


def test_console_scripts_are_the_command_modules():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert len(scripts) == 9
    for name, target in scripts.items():
        module, attr = target.split(":")
        assert ".commands." in module and attr == "main", name
        assert (ROOT / Path(*module.split("."))).with_suffix(".py").is_file(), name


def _bare_env() -> dict[str, str]:
    """The environment without PYTHONPATH: a script must find ``bench`` (which is not installed) on its own."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def test_bench_is_a_package_that_is_not_installed():
    find_packages = pytest.importorskip("setuptools").find_packages

    assert (ROOT / "bench" / "__init__.py").is_file()
    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    packaged = find_packages(where=str(ROOT), include=include)
    assert "supernet" in packaged and "search" in packaged
    assert not [p for p in packaged if p == "bench" or p.startswith("bench.")]


@pytest.mark.slow
def test_every_bench_script_imports_as_a_file_from_the_repository_root():
    """Each script's module code as ``python bench/<name>.py`` runs it (its folder first on sys.path, no
    PYTHONPATH), without its ``__main__`` block; one process, the bench modules forgotten between scripts so each
    must find the package itself."""
    assert {"optimizer.py", "recompute.py", "readme.py", "mutation.py"} <= {p.name for p in SCRIPTS}
    code = ("import runpy, sys\n"
            "for path in sys.argv[1:]:\n"
            "    for m in [m for m in sys.modules if m == 'bench' or m.startswith('bench.')]:\n"
            "        del sys.modules[m]\n"
            "    sys.path[0] = 'bench'\n"
            "    runpy.run_path(path, run_name='bench_script')\n"
            "    print('imported', path)\n")
    r = subprocess.run([sys.executable, "-c", code, *(str(p.relative_to(ROOT)) for p in SCRIPTS)], cwd=ROOT,
                       env=_bare_env(), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.count("imported ") == len(SCRIPTS)


@pytest.mark.parametrize("form", [["bench/recompute.py"], ["-m", "bench.recompute"], ["bench/readme.py"],
                                  ["-m", "bench.readme"]], ids=" ".join)
def test_a_bench_script_runs_as_a_file_and_as_a_module(form):
    r = subprocess.run([sys.executable, *form, "--help"], cwd=ROOT, env=_bare_env(), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-1500:]
    assert r.stdout.startswith("usage: ")
