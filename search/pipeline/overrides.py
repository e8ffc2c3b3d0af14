"""The Hydra overrides of ``green-run``'s stages: which of its command-line overrides every stage receives,
and a stage's ``pipeline`` entry written in Hydra's override grammar."""
from __future__ import annotations

import re
from typing import Any, Sequence

from omegaconf import OmegaConf

from core.errors import GreenError

SHARED = ("experiment", "data", "space", "trainer", "seed", "launcher", "country_iso_code")  # command-line overrides every stage receives
UNTRAINED = ("lut",)  # configs without a trainer: trainer overrides are not passed to them
LAUNCHED = ("finetune", "baselines", "table", "hpo")  # configs whose trainings run through a launcher
# options whose value is the user's own mapping of names (green-search's tables={int8: <lut.json>}, green-baselines'
# model_lr={squeezenet1_1: 0.02}), not a config section: passed whole (tables={int8:...}), since a dotted
# tables.int8=... cannot set a key of a null option
MAPPINGS = ("tables", "model_lr")


def shared_overrides(task: Sequence[str]) -> list[str]:
    """The command-line overrides of green-run that concern every stage (data, space, trainer, seed, launcher)."""
    return [o for o in task if _key(o).split(".", 1)[0].split("@", 1)[0] in SHARED]


def shared_for(name: str, shared: Sequence[str]) -> list[str]:
    """The shared overrides the config ``name`` accepts (a config without a trainer takes no trainer override,
    one without trainings to launch no launcher override)."""
    return [o for o in shared if (name not in UNTRAINED or not _key(o).startswith("trainer"))
            and (name in LAUNCHED or not _key(o).startswith("launcher"))]


def stage_overrides(node: Any) -> list[str]:
    """A ``pipeline`` entry (nested or dotted keys: ``{epochs: 3, calib.subnets: 8, strategy: progressive}``)
    as the command-line overrides of the stage's command."""
    if node is None:
        return []
    if OmegaConf.is_config(node):
        node = OmegaConf.to_container(node, resolve=True)
    if not isinstance(node, dict):
        raise GreenError(f"a pipeline entry must be a mapping of settings, got {node!r}")
    out = []

    def walk(d: dict, prefix: str) -> None:
        for k, v in d.items():
            if isinstance(v, dict) and v and f"{prefix}{k}" not in MAPPINGS:
                walk(v, f"{prefix}{k}.")
            else:
                out.append(f"{prefix}{k}={_value(v)}")

    walk(node, "")
    return out


def _value(v: Any) -> str:
    """A value in Hydra's override grammar."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(f"{k}:{_value(x)}" for k, x in v.items()) + "}"
    if isinstance(v, str) and not re.fullmatch(r"[\w./\-:+]+", v):
        return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return str(v)


def _key(override: str) -> str:
    return override.lstrip("+~").split("=", 1)[0]
