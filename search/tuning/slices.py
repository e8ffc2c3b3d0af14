"""Held-out selection for ``green-hpo``: the validation split cut once into a select and a report slice.

The best of many noisy trials, scored on the images that picked it, looks better than it is (the
winner's curse): trials are scored, pruned and chosen on the ``select`` slice only, and the chosen
trial is reported on the disjoint ``report`` slice. The split has a seed of its own, and a winner's
folder is tied to its slices (``slices.json``), so a resumed search never mixes two selections.
"""
from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig
from torch.utils.data import Subset

from search.evolution.state import has_state
from core.errors import GreenError
from core.io import write_json
from core.validate import of_type, read_json
from core.jsontypes import JSONObject


def _count(key: str, value: Any, n_val: int) -> int:
    """A slice size: a fraction in (0, 1) of the ``n_val`` validation images or a whole count (as data.val_size)."""
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0
            or (value >= 1 and not float(value).is_integer())):
        raise GreenError(f"hpo.{key} must be a fraction in (0, 1) or a whole count >= 1 of validation images, "
                         f"got {value!r}")
    n = int(round(value * n_val)) if value < 1 else int(value)
    if n < 1:
        raise GreenError(f"hpo.{key}={value} is less than one of the {n_val} validation images")
    return n


def slice_indices(n_val: int, select: float, report: float | None, seed: int) -> tuple[list[int], list[int]]:
    """Disjoint ``select`` and ``report`` positions in a validation split of ``n_val`` images.

    The permutation has a seed of its own (``hpo.slice_seed``), so a trial seed never moves the
    slices and every run on the same validation split scores on the same images. ``report=None``
    takes the images the select slice leaves.
    """
    n_sel = _count("select_images", select, n_val)
    if report is None and n_sel >= n_val:
        raise GreenError(f"hpo.select_images={select} takes all {n_val} validation images: none is left for "
                         "the report slice")
    n_rep = n_val - n_sel if report is None else _count("report_images", report, n_val)
    if n_sel + n_rep > n_val:
        raise GreenError(f"hpo.select_images ({n_sel}) and hpo.report_images ({n_rep}) need {n_sel + n_rep} "
                         f"validation images, the validation split (data.val_size) has {n_val}")
    perm = torch.randperm(n_val, generator=torch.Generator().manual_seed(int(seed))).tolist()
    return sorted(perm[:n_sel]), sorted(perm[n_sel:n_sel + n_rep])


def _on_val(dm: pl.LightningDataModule, idx: list[int]) -> pl.LightningDataModule:
    """A shallow copy of ``dm`` validating on ``idx`` of its validation images; training images,
    augmentation and seeds stay shared, so a trial trains exactly as on ``dm``."""
    view = copy.copy(dm)
    view.val_set = Subset(dm.val_set, idx)
    return view


@dataclass(frozen=True)
class Slices:
    """The validation split seen as two disjoint slices: ``select`` scores, prunes and chooses trials;
    ``report`` only scores the chosen trial and the default recipe, so the figure reported is not
    the one that picked. ``images`` are the slices' indices in the training split (before the
    validation split is carved), the identity a resumed folder is checked against."""

    select: pl.LightningDataModule
    report: pl.LightningDataModule
    images: tuple[tuple[int, ...], tuple[int, ...]]
    seed: int

    def info(self) -> JSONObject:
        """Sizes, seed and a digest of the images: what hpo.json records."""
        digest = hashlib.sha256(json.dumps([list(s) for s in self.images]).encode()).hexdigest()[:12]
        return {"select_images": len(self.images[0]), "report_images": len(self.images[1]), "slice_seed": self.seed,
                "digest": digest}


def carve(cfg: DictConfig, dm: pl.LightningDataModule) -> Slices:
    """The select and report slices of ``cfg.hpo`` over ``dm``'s (set up) validation split."""
    limit = cfg.trainer.get("limit_val_batches")
    if limit is not None and not (isinstance(limit, float) and limit == 1.0):
        raise GreenError(f"trainer.limit_val_batches={limit} would cut the validation slices short: size them "
                         "with hpo.select_images and hpo.report_images instead")
    h = cfg.hpo
    sel, rep = slice_indices(len(dm.val_set), h.select_images, h.report_images, h.slice_seed)
    base = getattr(dm.val_set, "indices", range(len(dm.val_set)))
    images = (tuple(int(base[i]) for i in sel), tuple(int(base[i]) for i in rep))
    return Slices(_on_val(dm, sel), _on_val(dm, rep), images, int(h.slice_seed))


def claim(folder: Path, data: Slices) -> None:
    """Tie a winner's folder to its slices: a resumed search on other images would mix two selections."""
    path, info = folder / "slices.json", data.info()
    if path.is_file():
        have = of_type(read_json(path, "validation slices"), dict, f"validation slices {str(path)!r}")
        if have.get("digest") != info["digest"]:
            raise GreenError(f"{str(folder)!r} holds trials scored on other validation slices "
                             f"({have.get('select_images')}/{have.get('report_images')} images, digest "
                             f"{have.get('digest')}; now {info['select_images']}/{info['report_images']}, "
                             f"{info['digest']}); use a new run folder")
    elif has_state(folder):
        raise GreenError(f"{str(folder)!r} holds trials of a green-hpo without held-out slices; use a new run folder")
    else:
        write_json(path, {**info, "select": list(data.images[0]), "report": list(data.images[1])})
