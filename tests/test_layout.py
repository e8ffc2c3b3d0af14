"""The package's layout rules, checked on the source: imports run one way and modules stay short.

- ``supernet/`` never imports ``search/`` (the supernet is trained and used without the search side);
- a command module (``supernet/commands/*``, ``search/commands/*``: the console scripts' thin
  wrappers) is a leaf: no module imports one, so shared code lives in shared modules;
- inside ``search/`` imports point down one declared order of layers (``SEARCH_LAYERS``): a
  package imports only itself and the layers below it, never up the stack or sideways;
- no module of the two packages is over 300 lines (split by concept, one concept per module as in timm);
- every console script of pyproject.toml points at a ``main`` of a command module.
"""
from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(p for pkg in ("supernet", "search") for p in (ROOT / pkg).rglob("*.py"))


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


def test_no_module_imports_a_command_module():
    commands = {module_name(p) for p in MODULES if ".commands." in module_name(p)}
    assert len(commands) == 9  # green-train and the eight search-side console scripts
    users = {module_name(p): sorted(imported(p) & commands) for p in MODULES}
    for test in (ROOT / "tests").glob("*.py"):  # tests run commands as processes, never import them
        users[f"tests.{test.stem}"] = sorted(imported(test) & commands)
    assert {k: v for k, v in users.items() if v} == {}


# search/'s layers, bottom first: each may import the ones before it (and supernet/), none after it or beside it
SEARCH_LAYERS = ("stats", "registry", "jobs", "hardware", "objectives", "training", "ranking", "evolution", "deploy",
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


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_modules_are_at_most_300_lines(path):
    assert len(path.read_text().splitlines()) <= 300


def test_console_scripts_are_the_command_modules():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert len(scripts) == 9
    for name, target in scripts.items():
        module, attr = target.split(":")
        assert ".commands." in module and attr == "main", name
        assert (ROOT / Path(*module.split("."))).with_suffix(".py").is_file(), name
