"""Option keys of a command line that name nothing: refused before any work, with the closest real key.

Hydra appends any ``+key=value`` to the config, so ``+epoch=3`` (the hint Hydra itself prints for ``epoch=3``)
ran ten epochs and said nothing: a key no part of the command reads is silently ignored. A ``+`` key is
accepted where something will read it: a parameter of the ``_target_`` of the section it is added to
(``+trainer.limit_val_batches=0`` is a ``pytorch_lightning.Trainer`` argument), anything inside a constructor's
argument (``+space.stages.1.widths=...``: the constructor checks it), or a section the command reads as free
overrides (green-run's ``pipeline.<stage>``, composed into that stage's config). Any other unknown key, with
or without ``+``, is one line naming the closest key the config has (difflib), instead of Hydra's hint to
append it.
"""
from __future__ import annotations

import difflib
import inspect
from pathlib import Path
from typing import Sequence

from omegaconf import DictConfig, ListConfig, OmegaConf

_ABSENT = object()


def _select(cfg: DictConfig, key: str) -> object:
    return OmegaConf.select(cfg, key, default=_ABSENT, throw_on_resolution_failure=False) if key else cfg


def has_key(cfg: DictConfig, key: str) -> bool:
    """Whether ``cfg`` has the dotted ``key``, whatever its value (``???``, or an interpolation that cannot resolve
    outside a run, such as ``${paths.output_dir}/lut.json``: selecting it would say "absent")."""
    parent, _, name = key.rpartition(".")
    node = _select(cfg, parent)
    if isinstance(node, DictConfig):
        return name in node.keys()
    return isinstance(node, ListConfig) and name.isdigit() and int(name) < len(node)


def all_keys(node: object, prefix: str = "") -> list[str]:
    """Every dotted key of ``node`` (sections and leaves; Hydra's own and ``_target_``-style keys left out)."""
    items = (node.items_ex(resolve=False) if isinstance(node, DictConfig)
             else enumerate(node) if isinstance(node, ListConfig) else ())
    keys = []
    for k, v in items:
        if str(k).startswith("_") or (not prefix and k == "hydra"):
            continue
        key = f"{prefix}.{k}" if prefix else str(k)
        keys += [key, *all_keys(v, key)]
    return keys


def closest(key: str, candidates: Sequence[str]) -> str | None:
    """The candidate most like ``key``: one with the same last part (the shallowest), else the most similar
    dotted key, else the one with the most similar last part; None if none is close."""
    leaves: dict[str, str] = {}
    for c in candidates:
        leaves.setdefault(c.rsplit(".", 1)[-1], c)
    leaf = key.rsplit(".", 1)[-1]
    if leaf in leaves and leaves[leaf] != key:
        return leaves[leaf]
    hit = difflib.get_close_matches(key, candidates, n=1)
    if hit:
        return hit[0]
    hit = difflib.get_close_matches(leaf, list(leaves), n=1)
    return leaves[hit[0]] if hit else None


def target_parameters(target: str) -> tuple[str, list[str] | None]:
    """The name of what ``target`` builds and its keyword parameters (None: it takes any). A class whose
    ``__init__`` passes ``**kwargs`` on to its base's (``DigitsDataModule``) takes the base's too."""
    from hydra.utils import get_object

    obj = get_object(target)
    inits = [c for c in getattr(obj, "__mro__", ()) if "__init__" in vars(c) and c is not object] or [obj]
    names: list[str] = []
    for owner in inits:
        params = inspect.signature(owner).parameters.values()
        names += [p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            return owner.__name__, names
    return inits[-1].__name__, None


def added_key_problem(cfg: DictConfig, key: str) -> str | None:
    """Why ``key``, absent from ``cfg``, cannot be added to it (one line), or None when something reads it."""
    parent, _, name = key.rpartition(".")
    node = _select(cfg, parent)
    if isinstance(node, DictConfig) and "_target_" in node:
        try:
            owner, params = target_parameters(str(node._target_))
        except Exception:  # noqa: BLE001 - a target that does not import is instantiation's one line to write
            return None
        if params is None or name in params:
            return None
        near = closest(name, params + [str(k) for k in node.keys() if not str(k).startswith("_")])
        hint = f"did you mean {parent}.{near}?" if near else "a typo?"
        return f"unknown option {key}: {owner} takes no {name!r} ({hint})"
    parts = parent.split(".") if parent else []
    for i in range(len(parts) - 1, 0, -1):  # inside a constructor's argument: that constructor checks it
        above = _select(cfg, ".".join(parts[:i]))
        if isinstance(above, DictConfig) and "_target_" in above:
            return None
    near = closest(key, all_keys(cfg))
    return f"unknown option {key} " + (f"(did you mean {near}?)" if near else "(no such option in this command)")


def unknown_key_problem(config_name: str, args: Sequence[str], open_keys: Sequence[str] = ()) -> str | None:
    """The first value override of ``args`` whose key the composed ``config_name`` neither has nor reads, as
    one line (``unknown option epoch: did you mean epochs?``); None when every key is known. Keys under
    ``open_keys`` are the command's to check; a malformed override is left to Hydra's own message."""
    from hydra import compose
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        overrides = OverridesParser.create().parse_overrides(list(args))
    except Exception:  # noqa: BLE001 - Hydra's composition names a malformed override better
        return None
    import conf

    groups = Path(conf.__file__).parent  # a key naming a config group (data=, +experiment=) picks a file
    values = [o for o in overrides if not o.is_delete() and o.package is None
              and not (groups / o.key_or_group.replace(".", "/")).is_dir()
              and o.key_or_group.split(".")[0] != "hydra"
              and not any(o.key_or_group == k or o.key_or_group.startswith(f"{k}.") for k in open_keys)]
    base = compose(config_name, overrides=[o.input_line for o in overrides if all(o is not v for v in values)])
    for o in values:
        if has_key(base, o.key_or_group):
            continue  # a key the config has: Hydra checks the rest (a + of an existing key, say)
        problem = added_key_problem(base, o.key_or_group)
        if problem:
            return f"{problem}; see --help"
    return None
