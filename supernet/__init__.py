"""Green CNN's elastic supernet: search space, elastic ops, supernet, data and training.

The names below load on first use (PEP 562), so a process that needs only the light modules of the package
(a launcher's parent process, a command's ``--help``) does not import torch and timm for them.
"""
from __future__ import annotations

import importlib
from typing import Any

_LAZY = {"ArchConfig": "supernet.arch", "GreenNet": "supernet.net", "SuperNet": "supernet.net",
         "extract_subnet": "supernet.net", "SearchSpace": "supernet.space"}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'supernet' has no attribute {name!r}")
