"""Loading a trained supernet from a ``green-train`` checkpoint, safely.

Checkpoints are read with ``torch.load(weights_only=True)``: tensors and plain containers only, so
a planted pickle payload is refused instead of executed. The search space, classes and data split
the supernet was trained with travel in the checkpoint's ``green`` section.
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from supernet.errors import CheckpointError
from supernet.net import SuperNet
from supernet.space import SearchSpace


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The checkpoint dict; missing, corrupt, unsafe or foreign files are a :class:`CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        text = str(err)
        globals_ = [ln.strip() for ln in text.splitlines() if "GLOBAL" in ln]
        if globals_:  # a pickled object that could run code on load: refused, never executed
            raise CheckpointError(f"checkpoint {str(path)!r} was refused: it holds more than tensors and plain "
                                  f"data ({globals_[0]})") from None
        raise CheckpointError(f"checkpoint {str(path)!r} is corrupt or truncated (not a plain-data torch "
                              "checkpoint)") from None
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise CheckpointError(f"checkpoint {str(path)!r} is corrupt or truncated ({type(err).__name__})") from None
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("green"), dict) or "state_dict" not in ckpt:
        raise CheckpointError(f"{str(path)!r} is not a green-train checkpoint")
    return ckpt


def load_supernet(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[SuperNet, dict[str, Any]]:
    """The trained supernet of a checkpoint (eval mode) and the checkpoint's ``green`` section."""
    ckpt = read_checkpoint(path, map_location)
    meta = ckpt["green"]
    space = SearchSpace.from_dict(meta["space"])
    if space.digest() != meta.get("space_digest"):
        raise CheckpointError(f"checkpoint {str(path)!r}: its search space does not match its recorded digest")
    net = SuperNet(space, int(meta["num_classes"]), int(meta["in_chans"]))
    state = {k[len("net."):]: v for k, v in ckpt["state_dict"].items() if k.startswith("net.")}
    try:
        net.load_state_dict(state)
    except RuntimeError as err:
        raise CheckpointError(f"checkpoint {str(path)!r} does not fit its search space: "
                              f"{str(err).splitlines()[0]}") from None
    return net.to(map_location).eval(), meta
