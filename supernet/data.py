"""Image classification data as LightningDataModules: the shared machinery of every data set.

:class:`ImageDataModule` holds the images a source decodes (see :mod:`supernet.datasets`: digits,
CIFAR-10/100 and any ImageFolder) and does the rest the same way for all: batches are converted to
float, augmented (random crop with padding, optional flip) and normalised after they reach the
device (``on_after_batch_transfer``). Validation is always carved out of the training split with a
seed; the test split is only for final reports.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Subset

from core.device import DEFAULT_MEMORY_FORMAT, memory_format_of, to_memory_format
from core.errors import DataError
from core.jsontypes import JSONObject
from supernet.splits import SPLITS, BalancedSampler, EpochSampler, long_tail, split_order


def _batched(batch: Any) -> Any:
    """Collate for datasets whose ``__getitems__`` already returns a stacked batch."""
    return batch


BALANCES = ("none", "loss", "sampler")


def class_weights_of(trainer: Any) -> torch.Tensor | None:
    """The loss weights the trainer's data module asks for (``balance=loss``), else None."""
    weights = getattr(getattr(trainer, "datamodule", None), "class_weights", None)
    return weights() if callable(weights) else None


def _check_stats(key: str, stats: list, channels: int) -> None:
    """A given normalisation: one finite number per channel, and a std > 0 (a std of 0 would divide every
    image by zero, and training would stop at a non-finite loss blamed on the learning rate)."""
    if len(stats) != channels:
        raise DataError(f"data.{key} must have one value per channel ({channels}), got {stats}")
    for v in stats:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v) or (key == "std" and v <= 0):
            raise DataError(f"data.{key} must hold finite numbers{' > 0' if key == 'std' else ''}, got {stats}")


@dataclass
class Splits:
    """What a data source provides: train and test images (uint8 NCHW or lazy) and class names."""

    train: Dataset
    test: Dataset
    train_labels: np.ndarray
    classes: list[str]


class ImageDataModule(pl.LightningDataModule):
    """Shared machinery: seeded validation split, optional train subset, loaders, augmentation.

    Args:
        image_size: side of the (square) images the network sees.
        channels: 1 (grayscale) or 3 (RGB); images are converted as needed.
        val_size: validation images carved from train, a count (>= 1) or a fraction (< 1).
        train_subset: keep only this many training images (after the validation split).
        batch_size: training and evaluation batch size.
        crop_padding: random-crop padding in pixels for training (0 disables cropping).
        hflip: random horizontal flips for training (off for digits, which flips would change).
        mean, std: per-channel normalisation; estimated from the training split when omitted.
        num_workers: loader workers (only useful for folders decoded lazily).
        seed: seed of the splits (and, unless :meth:`reseeded`, of the training order and augmentation).
        split: ``stratified`` (validation images and the training subset keep the class proportions, and so
            does every slice of the validation split) or ``random`` (the split of earlier versions).
        imbalance_ratio: keep a long-tailed subset of the training images first (exponential profile, first
            class / last class = this ratio; see :mod:`supernet.splits`); the test split stays as it is.
        balance: class-aware training: ``loss`` weighs each class's loss by the inverse of its share of the
            training images (:meth:`class_weights`), ``sampler`` draws every class equally often
            (:class:`BalancedSampler`), ``none`` trains on the data as it is.
        memory_format: layout of every batch after transfer (``channels_last``, or ``contiguous``: NCHW); the
            networks trained on it are laid out alike (:mod:`core.device`).
    """

    def __init__(self, image_size: int = 32, channels: int = 3, val_size: float = 0.1,
                 train_subset: int | None = None, batch_size: int = 128, crop_padding: int = 4,
                 hflip: bool = True, mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                 num_workers: int = 0, seed: int = 0, split: str = "stratified",
                 imbalance_ratio: float | None = None, balance: str = "none",
                 memory_format: str = DEFAULT_MEMORY_FORMAT):
        super().__init__()
        if image_size < 1 or channels not in (1, 3) or batch_size < 1:
            raise DataError(f"need image_size >= 1, channels 1 or 3 and batch_size >= 1 "
                            f"(got {image_size}, {channels}, {batch_size})")
        if val_size <= 0 or (val_size >= 1 and not float(val_size).is_integer()):
            raise DataError(f"val_size must be a fraction in (0, 1) or a whole count >= 1, got {val_size}")
        if train_subset is not None and train_subset < 1:
            raise DataError(f"train_subset must be >= 1, got {train_subset}")
        for key, stats in (("mean", mean), ("std", std)):
            if stats is not None:
                _check_stats(key, list(stats), channels)
        self.image_size, self.channels, self.val_size = image_size, channels, val_size
        self.train_subset, self.batch_size, self.crop_padding, self.hflip = train_subset, batch_size, crop_padding, hflip
        if split not in SPLITS:
            raise DataError(f"unknown data.split {split!r}; choose from {', '.join(SPLITS)}")
        ratio = imbalance_ratio
        if ratio is not None and (isinstance(ratio, bool) or not isinstance(ratio, (int, float))
                                  or not np.isfinite(ratio) or ratio < 1):
            raise DataError(f"data.imbalance_ratio must be null or a number >= 1 (first class / last class), "
                            f"got {imbalance_ratio!r}")
        self.mean, self.std, self.num_workers, self.seed = mean, std, num_workers, seed
        self.split, self.imbalance_ratio = split, None if imbalance_ratio is None else float(imbalance_ratio)
        self.balance = self._checked_balance(balance)
        memory_format_of(memory_format)  # an unknown layout is one line, before any data is read
        self.memory_format = memory_format
        self.stream_seed = seed  # training order and augmentation; the splits never follow it
        self.classes: list[str] = []
        self._splits: Splits | None = None

    # -- to implement ------------------------------------------------------------------
    def load(self) -> Splits:
        """Read the source: train and test images in the configured size and channels."""
        raise NotImplementedError

    # -- Lightning -----------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self._splits is not None:
            return
        splits = self.load()
        if len(splits.classes) < 2:
            raise DataError(f"the data has {len(splits.classes)} class ({', '.join(map(repr, splits.classes))}): "
                            "classification needs at least two")
        self.classes = list(splits.classes)
        labels = np.asarray(splits.train_labels, dtype=np.int64)
        pool = np.arange(len(splits.train))
        if self.imbalance_ratio is not None:
            pool = long_tail(labels, len(self.classes), self.imbalance_ratio, self.seed + 11)
        n = len(pool)
        n_val = int(round(self.val_size * n)) if self.val_size < 1 else int(self.val_size)
        if not 1 <= n_val < n:
            raise DataError(f"val_size {self.val_size} leaves no images for training or validation ({n} in train)")
        order = pool[split_order(labels[pool], self.split, self.seed)]
        val_idx, train_idx = order[:n_val], order[n_val:]
        if self.train_subset is not None:
            train_idx = train_idx[: self.train_subset]
        if self.split == "stratified":
            missing = [c for i, c in enumerate(self.classes) if not (labels[val_idx] == i).any()]
            if missing:
                kept = int((labels[pool] == self.classes.index(missing[0])).sum())
                if self.imbalance_ratio is not None and kept < 2:  # more validation images would not help
                    raise DataError(f"class {missing[0]!r} keeps {kept} image under data.imbalance_ratio="
                                    f"{self.imbalance_ratio:g}, too few for one validation and one training image: "
                                    "lower data.imbalance_ratio")
                raise DataError(f"class {missing[0]!r} has no validation image after stratification "
                                f"({n_val} validation images for {len(self.classes)} classes); raise data.val_size")
        self.train_set = Subset(splits.train, train_idx.tolist())
        self.val_set = Subset(splits.train, val_idx.tolist())
        self.train_targets = torch.from_numpy(labels[train_idx])
        self.val_targets = torch.from_numpy(labels[val_idx])
        self.test_set = splits.test
        if self.mean is None or self.std is None:
            x, _ = self.train_set.__getitems__(list(range(min(len(self.train_set), 5000))))
            x = x.float().div_(255)
            self.mean = x.mean(dim=(0, 2, 3)).tolist()
            self.std = x.std(dim=(0, 2, 3)).clamp_min(1e-3).tolist()
        self._splits = splits

    def split_key(self) -> JSONObject:
        """How the images were divided, beyond classes, seed and sizes: empty for the split of earlier versions.

        Records written before stratification carry no such key and meant a random split of all images, so an
        empty key compares equal to them.
        """
        out: dict[str, Any] = {} if self.split == "random" else {"split": self.split}
        if self.imbalance_ratio is not None:
            out["imbalance_ratio"] = self.imbalance_ratio
        return out

    @property
    def num_classes(self) -> int:
        if not self.classes:
            self.setup()
        return len(self.classes)

    def peek_num_classes(self) -> int:
        """Number of classes without decoding the data (for tools that only size a network)."""
        return self.num_classes

    @property
    def in_chans(self) -> int:
        return self.channels

    def reseeded(self, stream_seed: int) -> "ImageDataModule":
        """A shallow copy with the same splits whose training order and augmentation follow ``stream_seed``.

        Replicates of one model (``seeds=N``) must differ in more than their initialisation: an
        inherited start trained on the split seed's stream would be the same run N times over.
        """
        self.setup()
        view = copy.copy(self)
        view.stream_seed = int(stream_seed)
        return view

    @staticmethod
    def _checked_balance(balance: str) -> str:
        if balance not in BALANCES:
            raise DataError(f"unknown data.balance {balance!r}; choose from {', '.join(BALANCES)}")
        return balance

    def rebalanced(self, balance: str) -> "ImageDataModule":
        """A shallow copy with the same splits and another ``balance`` (an HPO trial's choice)."""
        self.setup()
        view = copy.copy(self)
        view.balance = self._checked_balance(balance)
        return view

    def class_weights(self) -> torch.Tensor | None:
        """Per-class loss weights under ``balance=loss`` (n / (C * n_c): 1 on balanced data), else None."""
        if self.balance != "loss":
            return None
        self.setup()
        counts = torch.bincount(self.train_targets, minlength=len(self.classes)).double()
        return (len(self.train_targets) / (len(self.classes) * counts.clamp_min(1))).float()

    def _loader(self, ds: Dataset, shuffle: bool) -> DataLoader:
        sampler = None
        if shuffle:
            sampler = (BalancedSampler(self.train_targets, self.stream_seed) if self.balance == "sampler"
                       and ds is self.train_set else EpochSampler(len(ds), self.stream_seed))
        return DataLoader(ds, batch_size=self.batch_size, sampler=sampler, collate_fn=_batched,
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0,
                          drop_last=shuffle and len(ds) > self.batch_size)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, shuffle=False)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        x, y = batch
        gen = None
        if self.trainer is not None and self.trainer.training:
            # augmentation seeded by the step, so a resumed run augments exactly as an uninterrupted one
            gen = torch.Generator(device=x.device).manual_seed(self.stream_seed * 1_000_003 + self.trainer.global_step)
        return self.transform(x, train=gen is not None, generator=gen), y

    # -- tensors -------------------------------------------------------------------------
    def transform(self, x: torch.Tensor, train: bool = False, generator: torch.Generator | None = None) -> torch.Tensor:
        """uint8 batch -> normalised float batch, with training augmentation when ``train``."""
        x = x.float().div_(255)
        if train:
            x = self._augment(x, generator)
        mean = torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, -1, 1, 1)
        return to_memory_format((x - mean) / std, self.memory_format)

    def _augment(self, x: torch.Tensor, g: torch.Generator | None = None) -> torch.Tensor:
        n, c, h, w = x.shape
        p = self.crop_padding
        if p > 0:
            padded = F.pad(x, (p, p, p, p), mode="reflect" if p < min(h, w) else "constant")
            i = torch.randint(0, 2 * p + 1, (n, 1), device=x.device, generator=g) + torch.arange(h, device=x.device)
            j = torch.randint(0, 2 * p + 1, (n, 1), device=x.device, generator=g) + torch.arange(w, device=x.device)
            x = padded[torch.arange(n, device=x.device)[:, None, None, None],
                       torch.arange(c, device=x.device)[None, :, None, None], i[:, None, :, None], j[:, None, None, :]]
        if self.hflip:
            flip = torch.rand(n, device=x.device, generator=g) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        return x

    def calib_batches(self, n_images: int, batch_size: int | None = None) -> list[torch.Tensor]:
        """A fixed, seeded set of normalised training images for BatchNorm recalibration."""
        if isinstance(n_images, bool) or not isinstance(n_images, int) or n_images < 1:
            # no batches would leave BatchNorm with reset statistics: every accuracy silently wrong
            raise DataError(f"calib_images must be a whole number >= 1, got {n_images!r}")
        self.setup()
        n = min(n_images, len(self.train_set))
        g = torch.Generator().manual_seed(self.seed + 1)
        idx = torch.randperm(len(self.train_set), generator=g)[:n].tolist()
        bs = batch_size or self.batch_size
        return [self.transform(self.train_set.__getitems__(idx[i:i + bs])[0]) for i in range(0, n, bs)]
