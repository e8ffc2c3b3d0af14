"""Named plug-ins of one kind (objectives, search algorithms, baseline sources), found by name from config.

Why a registry: a config names a thing (``search.objectives=[acc,weight_kb]``, ``search.algorithm=nsga2``,
``models=[timm/lcnet_050]``) and the code that defines it should be one file that says so, not an entry in
every place that lists the choices (timm's ``@register_model``). A :class:`Registry` is filled by the
modules that register into it when they are imported: every module of its home package (so a file dropped
into ``search/objectives/`` is found) and any module a config names (``search.plugins=[my_objectives]``: a
user's own file, importable from the working directory or the Python path). Choices listed in errors and
``--help`` come from the registry, so they never go stale.
"""
from __future__ import annotations

import importlib
import os
import pkgutil
import sys
from pathlib import Path
from typing import Callable, Generic, Iterable, Iterator, TypeVar

from core.errors import GreenError

T = TypeVar("T")


class Registry(Generic[T]):
    """``name -> T`` for one ``kind`` of plug-in, whose built-ins live in the modules of ``package`` (None: in the
    module that makes the registry)."""

    def __init__(self, kind: str, package: str | None = None):
        self.kind, self.package = kind, package
        self._items: dict[str, T] = {}
        self._found = False

    def register(self, name: str, item: T) -> T:
        """Add ``item`` as ``name``; a second, different item of one name is an error (two files disagree)."""
        old = self._items.get(name)
        if old is not None and old != item:
            raise GreenError(f"{self.kind} {name!r} is registered twice ({_where(old)} and {_where(item)})")
        self._items[name] = item
        return item

    def decorator(self, name: str) -> Callable[[T], T]:
        """``@REGISTRY.decorator("name")`` registers the decorated class or function."""
        return lambda item: self.register(name, item)

    def _discover(self) -> None:
        if not self._found and self.package:
            self._found = True
            pkg = importlib.import_module(self.package)
            for info in pkgutil.iter_modules(pkg.__path__):
                importlib.import_module(f"{self.package}.{info.name}")

    def __getitem__(self, name: str) -> T:
        self._discover()
        try:
            return self._items[name]
        except KeyError:
            raise GreenError(f"unknown {self.kind} {name!r}; choose from {', '.join(self.names())}") from None

    def get(self, name: str) -> T | None:
        self._discover()
        return self._items.get(name)

    def __contains__(self, name: object) -> bool:
        self._discover()
        return name in self._items

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        self._discover()
        return sorted(self._items)

    def values(self) -> Iterator[T]:
        self._discover()
        return iter(list(self._items.values()))

    def unregister(self, name: str) -> None:
        """Drop ``name`` (tests that register a temporary plug-in clean up with it)."""
        self._items.pop(name, None)


def _where(item: object) -> str:
    return f"{getattr(item, '__module__', '?')}.{getattr(item, '__qualname__', type(item).__name__)}"


def load_plugins(modules: Iterable[str]) -> None:
    """Import user modules that register plug-ins (each a dotted module name, or a ``.py`` file path).

    A module name is looked up from the working directory too (console scripts leave it off the path).
    """
    for name in modules:
        name = str(name)
        try:
            if name.endswith(".py"):
                path = Path(name).resolve()
                if not path.is_file():
                    raise ModuleNotFoundError(f"no file {name}")
                if str(path.parent) not in sys.path:
                    sys.path.insert(0, str(path.parent))
                name = path.stem
            elif "" not in sys.path and os.getcwd() not in sys.path:
                sys.path.insert(0, os.getcwd())
            importlib.import_module(name)
        except ImportError as err:
            raise GreenError(f"cannot import the plug-in module {name!r} ({err})") from None
