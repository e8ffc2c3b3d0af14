"""Checks at the boundary: option values, and numbers read back from tables, state files and model folders.

A value is checked where it enters (the command's start, the moment a file is read), so a wrong one
is one line naming the option or the file and key (``<command>: error: ...``, exit 2) instead of a
traceback after an hour of training, or worse, a silently wrong figure (a NaN median prices every
subnet at 0 ms). :func:`check_options` knows every option the commands share and checks those a
config has; the number checks serve the readers of ``lut.json``, ``cache.jsonl`` and the rest.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable

from typing import TYPE_CHECKING

from omegaconf import DictConfig, OmegaConf

from core.errors import GreenError

if TYPE_CHECKING:
    import torch


def is_number(value: Any) -> bool:
    """A JSON/YAML number (not a bool, which Python counts as an int)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def finite_number(value: Any, where: str, low: float | None = None, high: float | None = None,
                  low_open: bool = False, high_open: bool = False, error: type[GreenError] = GreenError) -> float:
    """``value`` as a float, if it is a finite number within the bounds; else ``error`` naming ``where``."""
    if not is_number(value) or not math.isfinite(value):
        raise error(f"{where} must be a finite number, got {value!r}")
    below = low is not None and (value <= low if low_open else value < low)
    above = high is not None and (value >= high if high_open else value > high)
    if below or above:
        if low is not None and high is not None:
            span = f"lie in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        elif low is not None:
            span = f"be {'>' if low_open else '>='} {low:g}"
        else:
            span = f"be {'<' if high_open else '<='} {high:g}"
        raise error(f"{where} must {span}, got {value!r}")
    return float(value)


def whole_number(value: Any, where: str, low: int | None = None, error: type[GreenError] = GreenError) -> int:
    """``value`` if it is a whole number (not a bool) of at least ``low``; else ``error`` naming ``where``."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise error(f"{where} must be a whole number, got {value!r}")
    if low is not None and value < low:
        raise error(f"{where} must be >= {low}, got {value}")
    return value


def of_type(value: Any, kind: type | tuple[type, ...], where: str, error: type[GreenError] = GreenError) -> Any:
    """``value`` if it is a ``kind`` (e.g. a dict where a section belongs); else ``error`` naming ``where``."""
    if not isinstance(value, kind):
        names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise error(f"{where} must be a {names}, got {type(value).__name__} {value!r:.60}")
    return value


def read_json(path: str | Path, what: str, error: type[GreenError] = GreenError) -> Any:
    """A JSON file the commands wrote; unreadable, not UTF-8 (a pickle, say), truncated: ``error`` naming it."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{what} {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise error(f"{what} {str(path)!r} is corrupt or truncated ({type(err).__name__}: "
                    f"{str(err).splitlines()[0][:80]})") from None


def check_device(name: Any, key: str = "device") -> torch.device:
    """The torch device ``name`` names, refused (one line) when it is malformed or absent on this machine."""
    from core.device import Device

    return Device.of(name, key=key).torch


def _whole(low: int, optional: bool = False) -> Callable[[Any, str], None]:
    def check(value: Any, key: str) -> None:
        if value is None and optional:
            return
        whole_number(value, key, low)
    return check


def _fraction(optional: bool = False) -> Callable[[Any, str], None]:
    def check(value: Any, key: str) -> None:
        if value is None and optional:
            return
        finite_number(value, key, 0.0, 1.0, high_open=True)
    return check


def _positive(value: Any, key: str) -> None:
    finite_number(value, key, 0.0, low_open=True)


def _sizes(value: Any, key: str) -> None:
    if not isinstance(value, list) or not value:
        raise GreenError(f"{key} must be a non-empty list of positive whole numbers, got {value!r}")
    for i, v in enumerate(value):
        whole_number(v, f"{key}[{i}]", 1)


def _device(value: Any, key: str) -> None:
    check_device(value, key)


def _country(value: Any, key: str) -> None:
    """An ISO 3166 alpha-3 code codecarbon knows: an unknown one falls back silently to a world average."""
    import codecarbon

    mix = Path(codecarbon.__file__).parent / "data" / "private_infra" / "global_energy_mix.json"
    known = set(json.loads(mix.read_text())) if mix.is_file() else set()
    if not isinstance(value, str) or (known and value not in known):
        raise GreenError(f"{key}={value!r} is not a country codecarbon knows (an ISO 3166 alpha-3 code such as USA, "
                         "FRA or DEU); its grid's carbon intensity prices the CO2eq")


# option (as written on the command line) -> its check; a config is checked on the options it has
OPTIONS: dict[str, Callable[[Any, str], None]] = {
    "epochs": _whole(1), "seeds": _whole(1), "scratch_epochs": _whole(1, optional=True),
    "baseline_epochs": _whole(1, optional=True), "threads": _whole(1, optional=True), "top_k": _whole(1),
    "calib_images": _whole(1), "module.calib_images": _whole(1), "eval.calib_images": _whole(1),
    "label_smoothing": _fraction(), "module.label_smoothing": _fraction(), "default.label_smoothing": _fraction(),
    "multi_trial.label_smoothing": _fraction(), "dropout": _fraction(optional=True), "default.dropout": _fraction(),
    "select_fraction": _fraction(),
    "optimizer.lr": _positive, "default.lr": _positive, "multi_trial.optimizer.lr": _positive,
    "batch_sizes": _sizes, "measure.batch_sizes": _sizes,
    "protocol.trials": _whole(1), "validate.trials": _whole(1), "measure.trials": _whole(1),
    "protocol.warmup": _whole(0), "measure.warmup": _whole(0), "measure.threads": _whole(1, optional=True),
    "device": _device, "measure.device": _device,
    "country_iso_code": _country, "measure.country_iso_code": _country,
}
_ABSENT = object()


def non_finite(node: Any, key: str = "") -> list[tuple[str, float]]:
    """Every (dotted key, value) of ``node`` (a plain container) that is a NaN or infinite float."""
    if isinstance(node, dict):
        return [b for k, v in node.items() for b in non_finite(v, f"{key}.{k}" if key else str(k))]
    if isinstance(node, list):
        return [b for i, v in enumerate(node) for b in non_finite(v, f"{key}[{i}]")]
    if isinstance(node, float) and not math.isfinite(node):
        return [(key, node)]
    return []


def check_options(cfg: DictConfig) -> None:
    """Refuse, before any work, a value of a shared option that is of the wrong type or out of range
    (``epochs=abc``, a learning rate <= 0, label smoothing outside [0, 1), an empty batch-size list, ...)."""
    bad = non_finite(OmegaConf.to_container(cfg, resolve=False))
    if bad:  # a NaN compares false both ways and inf passes every bound: refuse every such number at once
        key, value = bad[0]
        raise GreenError(f"{key}={value}: not a finite number" + (f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""))
    for key, check in OPTIONS.items():
        value = OmegaConf.select(cfg, key, default=_ABSENT)
        if value is _ABSENT:
            continue
        check(OmegaConf.to_container(value) if OmegaConf.is_config(value) else value, key)
