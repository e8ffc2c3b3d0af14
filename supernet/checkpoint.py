"""Loading a trained supernet from a ``green-train`` checkpoint, safely.

Checkpoints are read with ``torch.load(weights_only=True)``: tensors and plain containers only, so
a planted pickle payload is refused instead of executed. The search space, classes and data split
the supernet was trained with travel in the checkpoint's ``green`` section.
"""
from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any, Mapping

import torch
from hydra.utils import instantiate
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from omegaconf import DictConfig, OmegaConf

from core.errors import CheckpointError, GreenError
from supernet.identity import DataIdentity, data_differences
from core.io import write_atomic
from core.validate import check_device
from core.jsontypes import JSONObject
from supernet.net import SuperNet
from supernet.space import SearchSpace


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The checkpoint dict; missing, corrupt, unsafe or foreign files are a :class:`CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    check_device(map_location)  # torch's own complaint would read as a corrupt checkpoint
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


def load_supernet(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[SuperNet, JSONObject]:
    """The trained supernet of a checkpoint (eval mode) and the checkpoint's ``green`` section."""
    ckpt = read_checkpoint(path, map_location)
    meta = ckpt["green"]
    space = SearchSpace.from_dict(meta["space"])
    if space.digest() != meta.get("space_digest"):
        raise CheckpointError(f"checkpoint {str(path)!r}: its search space does not match its recorded digest")
    net = SuperNet(space, int(meta["num_classes"]), int(meta["in_chans"]))
    state = {k[len("net."):]: v for k, v in ckpt["state_dict"].items() if k.startswith("net.")}
    bad = non_finite(state)
    if bad is not None:  # a diverged run: every subnet would score as chance, silently
        raise CheckpointError(f"checkpoint {str(path)!r} has non-finite weights (first: {bad}); it cannot be "
                              "searched or extracted")
    try:
        net.load_state_dict(state)
    except RuntimeError as err:
        raise CheckpointError(f"checkpoint {str(path)!r} does not fit its search space: "
                              f"{str(err).splitlines()[0]}") from None
    return net.to(map_location).eval(), meta


def check_data(dm: Any, meta: dict) -> None:
    """The data must give the split the supernet was trained with: same classes, seed and val size."""
    trained = meta.get("data") or {}
    if not trained:
        return  # checkpoints of early versions carry no data summary
    diff = data_differences(dm, DataIdentity.from_json(trained, "the checkpoint's data summary"))
    if diff:
        raise GreenError("the data differs from the supernet's training data, so validation images may have been "
                         f"trained on ({'; '.join(diff)}); pass the same data settings")


def check_space(cfg: DictConfig, space: SearchSpace) -> None:
    """A configured space (``cfg.space``, e.g. from an experiment preset) must be the checkpoint's."""
    if cfg.get("space"):
        given = instantiate(cfg.space)
        if not isinstance(given, SearchSpace):  # e.g. +space.stages.1.widths=... where the command's space is null
            raise GreenError(f"the configured space ({OmegaConf.to_yaml(cfg.space).strip()[:80]!r}) is not a whole "
                             "search space: choose one with space=<name>, or leave it out to use the checkpoint's")
        if given.digest() != space.digest():
            raise GreenError(f"the configured search space {given.name!r} ({given.digest()}) is not the checkpoint's "
                             f"{space.name!r} ({space.digest()})")


def load_matching(cfg: DictConfig, ckpt: str | Path,
                  map_location: str | torch.device = "cpu") -> tuple[SuperNet, JSONObject, Any]:
    """The supernet of ``ckpt`` with the data module of ``cfg.data``, checked against each other: the configured
    space (if any) is the checkpoint's and the data gives the split it was trained with, so validation images
    were never trained on. Every command that scores or extracts subnets starts here."""
    net, meta = load_supernet(ckpt, map_location)
    check_space(cfg, net.space)
    dm = instantiate(cfg.data)
    check_data(dm, meta)
    return net, meta, dm


def non_finite(state: Mapping[str, torch.Tensor]) -> str | None:
    """The first tensor of ``state`` holding a NaN or an infinity (a diverged run), or None."""
    return next((k for k, v in state.items() if torch.is_tensor(v) and v.is_floating_point()
                 and not bool(torch.isfinite(v).all())), None)


def checkpoint_problem(path: str | Path) -> str | None:
    """Why ``path`` cannot be resumed from (missing, truncated, unsafe, foreign, diverged), or None if it can."""
    try:
        ckpt = read_checkpoint(path)
    except CheckpointError as err:
        return str(err)
    bad = non_finite(ckpt["state_dict"])
    if bad is not None:  # resuming would train on from NaN: every later epoch is lost too
        return f"checkpoint {str(path)!r} has non-finite weights (first: {bad}): the run diverged before it was saved"
    return None


def refuse_unusable(path: str | Path, what: str = "resume") -> None:
    """Raise a :class:`CheckpointError` for a checkpoint that cannot be resumed from, naming a good one of the
    same folder (``last.ckpt`` or ``best.ckpt``) as the way on, so a damaged file is never silently trusted."""
    problem = checkpoint_problem(path)
    if problem is None:
        return
    others = [p for p in sorted(Path(path).parent.glob("*.ckpt")) if p != Path(path) and checkpoint_problem(p) is None]
    hint = f"; the good checkpoint {str(others[0])!r} can be used instead ({what}={others[0]})" if others else ""
    raise CheckpointError(f"cannot {what}: {problem}{hint}")


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, made atomic where the run folder is: a temporary file in the same folder,
    fsynced, then renamed over the old checkpoint.

    Lightning's own atomic save stages the file in the system's temporary folder; on another filesystem the
    final move is a copy, and a kill during it leaves a truncated ``last.ckpt`` where the good one was.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        buf = io.BytesIO()
        torch.save(checkpoint, buf)
        write_atomic(path, buf.getvalue())
