"""Records that travel between stages are typed values, not ``dict[str, Any]``: a ratchet on the count.

The redesign issue's goal is fewer than 15 function signatures (a parameter or the return) annotated
``dict[str, Any]``, or an alias of it, across ``core/``, ``supernet/``, ``search/`` and ``bench/``. :data:`CEILING` is
the count today; each record that becomes a dataclass lowers it, and a new untyped signature fails here.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CEILING = 103  # the goal is < 15 (issue 33); lower this as records land, never raise it
UNTYPED = ("dict[str, Any]", "Dict[str, Any]", "typing.Dict[str, Any]")


def _aliases(tree: ast.Module) -> set[str]:
    """Module-level names bound to ``dict[str, Any]`` (``Row = dict[str, Any]``, ``Row: TypeAlias = ...``)."""
    out = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if ast.unparse(node.value) in UNTYPED:
                out.add(node.targets[0].id)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            if ast.unparse(node.value) in UNTYPED:
                out.add(node.target.id)
    return out


def _untyped(annotation: ast.expr | None, aliases: set[str]) -> bool:
    if annotation is None:
        return False
    text = ast.unparse(annotation).strip("'\"")
    return any(part.strip() in UNTYPED or part.strip() in aliases for part in text.replace("Optional[", "").rstrip("]")
               .split("|")) or text in UNTYPED


def untyped_signatures(source: str) -> list[str]:
    """Names of the functions of ``source`` with a parameter or a return annotated ``dict[str, Any]`` (or alias)."""
    tree = ast.parse(source)
    aliases = _aliases(tree)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            a = node.args
            params = [*a.posonlyargs, *a.args, *a.kwonlyargs, *filter(None, (a.vararg, a.kwarg))]
            if _untyped(node.returns, aliases) or any(_untyped(p.annotation, aliases) for p in params):
                out.append(node.name)
    return out


def count() -> dict[str, list[str]]:
    return {str(p.relative_to(ROOT)): names for pkg in ("core", "supernet", "search", "bench")
            for p in sorted((ROOT / pkg).rglob("*.py")) if (names := untyped_signatures(p.read_text()))}


def test_the_counter_sees_parameters_returns_and_aliases():
    src = ("from typing import Any\nRow = dict[str, Any]\n"
           "def a(x: dict[str, Any]) -> int: ...\ndef b() -> 'dict[str, Any] | None': ...\n"
           "def c(*, r: Row) -> None: ...\ndef d(x: dict[str, int]) -> list[Any]: ...\n")
    assert untyped_signatures(src) == ["a", "b", "c"]


def test_untyped_record_signatures_do_not_grow():
    found = count()
    total = sum(len(v) for v in found.values())
    worst = sorted(found.items(), key=lambda kv: -len(kv[1]))[:5]
    assert total <= CEILING, f"{total} signatures take or return dict[str, Any] (ceiling {CEILING}): {worst}"
