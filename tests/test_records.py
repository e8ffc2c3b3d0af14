"""Records that travel between stages are typed values, not ``dict[str, Any]``: a ratchet on the count.

The redesign issue's goal is fewer than 15 function signatures (a parameter or the return) annotated
``dict[str, Any]`` (or ``dict[str, object]``), or an alias of it, anywhere in the annotation, across ``core/``,
``supernet/``, ``search/`` and ``bench/``. :data:`CEILING` is the count today: the Lightning checkpoint (``on_save_checkpoint`` and
``on_load_checkpoint`` take Lightning's own ``Dict[str, Any]`` of tensors and state). A new untyped signature fails.

What travels between stages is a dataclass (energy use, measurement, recipe, budget, model result, data
identity, front member, cost table). What is a JSON document at a file's edge (a results file, a headline, a
job's metadata, a report section) is annotated :data:`core.jsontypes.JSONObject`; :data:`JSON_CEILING` caps
those too, so a record cannot hide there unnoticed: a new one must either be a document or become a dataclass.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CEILING = 4  # the goal was < 15; lower this as the rest goes, never raise it
JSON_CEILING = 137  # JSON documents at a file's edge today; lower it as any becomes a record
# 128 until the deployment benchmark and the first-hour benchmark added their result sections and raw item
# records (bench/deploy.py, bench/first_hour.py: documents written to files), two to_json of new records
UNTYPED = ("dict[str, Any]", "Dict[str, Any]", "typing.Dict[str, Any]", "dict[str, object]", "Dict[str, object]")


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
    """Whether ``dict[str, Any]`` (or an alias) appears anywhere in the annotation, nested ones included
    (``list[dict[str, Any]]``, ``tuple[Net, dict[str, Any]]``, ``dict[str, dict[str, Any]]``)."""
    if annotation is None:
        return False
    text = ast.unparse(annotation).replace("'", "").replace('"', "")
    if any(u in text for u in UNTYPED):
        return True
    names = {n.id for n in ast.walk(ast.parse(text, mode="eval")) if isinstance(n, ast.Name)}
    return bool(names & aliases)


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
           "def c(*, r: Row) -> None: ...\ndef d(x: dict[str, int]) -> list[Any]: ...\n"
           "def e(x: list[dict[str, Any]]) -> tuple[int, Row]: ...\ndef f() -> dict[str, dict[str, Any]]: ...\n"
           "def g(rows: list[Rows]) -> None: ...\n")
    assert untyped_signatures(src) == ["a", "b", "c", "e", "f"]


def test_untyped_record_signatures_do_not_grow():
    found = count()
    total = sum(len(v) for v in found.values())
    worst = sorted(found.items(), key=lambda kv: -len(kv[1]))[:5]
    assert total <= CEILING, f"{total} signatures take or return dict[str, Any] (ceiling {CEILING}): {worst}"


def json_signatures(source: str) -> list[str]:
    """Names of the functions of ``source`` with a parameter or a return that mentions ``JSONObject``."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            a = node.args
            params = [*a.posonlyargs, *a.args, *a.kwonlyargs, *filter(None, (a.vararg, a.kwarg))]
            notes = [node.returns, *(p.annotation for p in params)]
            if any(n is not None and "JSONObject" in ast.unparse(n) for n in notes):
                out.append(node.name)
    return out


def test_json_documents_do_not_grow():
    found = {str(p.relative_to(ROOT)): names for pkg in ("core", "supernet", "search", "bench")
             for p in sorted((ROOT / pkg).rglob("*.py")) if (names := json_signatures(p.read_text()))}
    total = sum(len(v) for v in found.values())
    assert total <= JSON_CEILING, f"{total} signatures take or return a JSON document (ceiling {JSON_CEILING})"
