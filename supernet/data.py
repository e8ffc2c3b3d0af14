"""Image classification data as LightningDataModules: digits, CIFAR-10/100 and any ImageFolder.

Images are decoded once into ``uint8`` tensors at the configured size and channels (small data
sets stay in memory, so a CPU epoch is bound by compute, not JPEG decoding); batches are
converted to float, augmented (random crop with padding, optional flip) and normalised after
they reach the device (``on_after_batch_transfer``). Validation is always carved out of the
training split with a seed; the test split is only for final reports.
"""
from __future__ import annotations

import copy

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Sampler, Subset

from supernet.errors import DataError

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def _batched(batch: Any) -> Any:
    """Collate for datasets whose ``__getitems__`` already returns a stacked batch."""
    return batch


class EpochSampler(Sampler[int]):
    """Shuffles with a generator seeded by (seed, epoch): a resumed run sees the same order.

    Lightning calls ``set_epoch`` before each epoch (as for ``DistributedSampler``, which
    replaces this sampler in distributed runs).
    """

    def __init__(self, n: int, seed: int):
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 7919 + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())


class _TensorImages(Dataset):
    """Decoded ``uint8`` images (N, C, H, W) with labels; indexing by a list returns a batch."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return self.x[i], self.y[i]

    def __getitems__(self, idx: list[int]):
        idx_t = torch.as_tensor(idx)
        return self.x[idx_t], self.y[idx_t]


class _FileImages(Dataset):
    """Images decoded from disk on access, for folders too large to hold in memory."""

    def __init__(self, files: Sequence[str], labels: Sequence[int], size: int, channels: int):
        self.files, self.y, self.size, self.channels = list(files), torch.as_tensor(labels), size, channels

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        return _decode(self.files[i], self.size, self.channels), self.y[i]

    def __getitems__(self, idx: list[int]):
        return torch.stack([_decode(self.files[i], self.size, self.channels) for i in idx]), self.y[torch.as_tensor(idx)]


def _eight_bit(im: Any, path: str) -> Any:
    """``im`` with 8-bit channels: high-depth grayscale (PIL modes ``I;16*``, ``I``, ``F``) scaled, not clipped.

    PIL's own ``convert("L")`` clips such images at 255, so a 16-bit ramp 0..65535 comes out almost all
    white. Integer modes are read as 16-bit (PNG and TIFF 16-bit grayscale open as ``I;16`` or ``I``):
    0..65535 maps onto 0..255. Float images are read as [0, 1]. A value outside that range cannot be
    placed on a scale, so it is refused rather than guessed. (16-bit RGB PNGs PIL already scales itself.)
    """
    from PIL import Image

    if not (im.mode in ("I", "F") or im.mode.startswith("I;")):
        return im
    a = np.asarray(im).astype(np.float64)
    top = 1.0 if im.mode == "F" else 65535.0
    if a.size and (not np.isfinite(a).all() or a.min() < 0 or a.max() > top):
        raise DataError(f"image file {path} (mode {im.mode}) has values outside 0..{top:g} "
                        f"(min {np.nanmin(a):g}, max {np.nanmax(a):g}); convert it to 8 or 16 bits")
    return Image.fromarray(np.round(a * (255.0 / top)).astype(np.uint8), "L")


def _decode(path: str, size: int, channels: int) -> torch.Tensor:
    """One image file as a (C, size, size) uint8 tensor; an unreadable file, or one PIL flags as a possible
    decompression bomb (more pixels than ``PIL.Image.MAX_IMAGE_PIXELS``), is a DataError naming it."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # PIL only warns between its limit and twice it: refused all the same, before decoding
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                im = _eight_bit(im, path).convert("L" if channels == 1 else "RGB")
                if im.size != (size, size):
                    im = im.resize((size, size), Image.Resampling.BILINEAR)
                arr = np.array(im, dtype=np.uint8)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise DataError(f"image file {path} was refused as a possible decompression bomb: "
                        f"{str(err).split('.')[0]}") from None
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise DataError(f"unreadable image file: {path} ({type(err).__name__})") from None
    arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(arr))  # a copy of PIL's buffer, so writable


def _to_format(x: torch.Tensor, size: int, channels: int) -> torch.Tensor:
    """Convert a uint8 (N, C, H, W) batch to ``channels`` and a ``size`` x ``size`` image."""
    if x.shape[1] != channels:
        if channels == 3 and x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        elif channels == 1 and x.shape[1] == 3:
            w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
            x = (x.float() * w).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
        else:
            raise DataError(f"cannot convert {x.shape[1]}-channel images to {channels} channels")
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x.float(), size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        x = x.round().clamp(0, 255).to(torch.uint8)
    return x.contiguous()


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
    """

    def __init__(self, image_size: int = 32, channels: int = 3, val_size: float = 0.1,
                 train_subset: int | None = None, batch_size: int = 128, crop_padding: int = 4,
                 hflip: bool = True, mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                 num_workers: int = 0, seed: int = 0):
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
        self.mean, self.std, self.num_workers, self.seed = mean, std, num_workers, seed
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
        n = len(splits.train)
        n_val = int(round(self.val_size * n)) if self.val_size < 1 else int(self.val_size)
        if not 1 <= n_val < n:
            raise DataError(f"val_size {self.val_size} leaves no images for training or validation ({n} in train)")
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed)).tolist()
        val_idx, train_idx = perm[:n_val], perm[n_val:]
        if self.train_subset is not None:
            train_idx = train_idx[: self.train_subset]
        self.train_set = Subset(splits.train, train_idx)
        self.val_set = Subset(splits.train, val_idx)
        self.test_set = splits.test
        if self.mean is None or self.std is None:
            x, _ = self.train_set.__getitems__(list(range(min(len(self.train_set), 5000))))
            x = x.float().div_(255)
            self.mean = x.mean(dim=(0, 2, 3)).tolist()
            self.std = x.std(dim=(0, 2, 3)).clamp_min(1e-3).tolist()
        self._splits = splits

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

    def _loader(self, ds: Dataset, shuffle: bool) -> DataLoader:
        sampler = EpochSampler(len(ds), self.stream_seed) if shuffle else None
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
        return (x - mean) / std

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


class DigitsDataModule(ImageDataModule):
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes), upsampled; offline."""

    def __init__(self, test_size: float = 0.2, **kwargs):
        kwargs.setdefault("channels", 1)
        kwargs.setdefault("hflip", False)
        super().__init__(**kwargs)
        self.test_size = test_size

    def peek_num_classes(self) -> int:
        return 10

    def load(self) -> Splits:
        from sklearn.datasets import load_digits

        d = load_digits()
        x = torch.from_numpy((d.images * (255.0 / 16.0)).round().astype(np.uint8))[:, None]
        x = _to_format(x, self.image_size, self.channels)
        y = torch.from_numpy(d.target.astype(np.int64))
        perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(self.seed + 7))
        n_test = int(round(self.test_size * len(y)))
        te, tr = perm[:n_test], perm[n_test:]
        return Splits(_TensorImages(x[tr], y[tr]), _TensorImages(x[te], y[te]), y[tr].numpy(),
                      [str(i) for i in range(10)])


class CIFARDataModule(ImageDataModule):
    """CIFAR-10 or CIFAR-100 through torchvision (downloaded into ``root`` when ``download``)."""

    def __init__(self, name: str = "cifar10", root: str = "data", download: bool = True, **kwargs):
        super().__init__(**kwargs)
        if name not in ("cifar10", "cifar100"):
            raise DataError(f"unknown CIFAR variant {name!r}: use cifar10 or cifar100")
        self.name, self.root, self.download = name, root, download

    def peek_num_classes(self) -> int:
        return 10 if self.name == "cifar10" else 100

    def load(self) -> Splits:
        from torchvision.datasets import CIFAR10, CIFAR100

        cls = CIFAR10 if self.name == "cifar10" else CIFAR100
        try:
            train = cls(self.root, train=True, download=self.download)
            test = cls(self.root, train=False, download=self.download)
        except RuntimeError as err:
            raise DataError(f"{self.name} not found under {self.root!r}: {err}") from None
        except OSError as err:  # no network, or an unwritable root
            raise DataError(f"could not download {self.name} into {self.root!r} ({err}); point data.root at an "
                            "existing copy, or use data=imagefolder with a local folder") from None

        def tensors(ds):
            x = torch.from_numpy(ds.data).permute(0, 3, 1, 2)
            return _to_format(x, self.image_size, self.channels), torch.as_tensor(ds.targets, dtype=torch.int64)

        (xtr, ytr), (xte, yte) = tensors(train), tensors(test)
        return Splits(_TensorImages(xtr, ytr), _TensorImages(xte, yte), ytr.numpy(), list(train.classes))


class ImageFolderDataModule(ImageDataModule):
    """Any ``root/`` with ``train/<class>/*`` and ``test/<class>/*`` images (torchvision's layout).

    Images of any size and mode are converted to ``channels`` and resized to ``image_size``.
    Folders whose decoded size stays under ``max_memory_mb`` are decoded once and kept in memory;
    larger ones are decoded on access.
    """

    def __init__(self, root: str, max_memory_mb: int = 4096, **kwargs):
        super().__init__(**kwargs)
        self.root = root
        self.max_memory_mb = max_memory_mb

    def _scan(self, split: str) -> tuple[list[str], list[str]]:
        base = Path(self.root) / split
        if not base.is_dir():
            raise DataError(f"imagefolder {self.root!r} has no {split!r} folder (expected {split}/<class>/<image>)")
        classes = sorted(e.name for e in os.scandir(base) if e.is_dir() and not e.name.startswith("."))
        if not classes:
            raise DataError(f"no class folders in {str(base)!r}")
        return classes, [str(base / c) for c in classes]

    def _files(self, dirs: list[str]) -> tuple[list[str], list[int]]:
        files, labels = [], []
        for label, d in enumerate(dirs):
            found = sorted(str(p) for p in Path(d).rglob("*") if p.suffix.lower() in IMG_EXTENSIONS and p.is_file())
            if not found:
                raise DataError(f"class folder {d!r} has no images (extensions {', '.join(IMG_EXTENSIONS)})")
            files += found
            labels += [label] * len(found)
        return files, labels

    def peek_num_classes(self) -> int:
        if not Path(self.root).is_dir():
            raise DataError(f"imagefolder root {self.root!r} does not exist or is not a folder")
        return len(self._scan("train")[0])

    def load(self) -> Splits:
        if not Path(self.root).is_dir():
            raise DataError(f"imagefolder root {self.root!r} does not exist or is not a folder")
        train_classes, train_dirs = self._scan("train")
        test_classes, test_dirs = self._scan("test")
        if train_classes != test_classes:
            only_tr = sorted(set(train_classes) - set(test_classes))
            only_te = sorted(set(test_classes) - set(train_classes))
            raise DataError(f"train and test have different classes: only in train {only_tr}, only in test {only_te}")
        train_files, train_labels = self._files(train_dirs)
        test_files, test_labels = self._files(test_dirs)
        n_bytes = (len(train_files) + len(test_files)) * self.channels * self.image_size ** 2
        if n_bytes <= self.max_memory_mb * 2 ** 20:
            train, test = self._decode_all(train_files, train_labels), self._decode_all(test_files, test_labels)
        else:
            train = _FileImages(train_files, train_labels, self.image_size, self.channels)
            test = _FileImages(test_files, test_labels, self.image_size, self.channels)
        return Splits(train, test, np.asarray(train_labels), train_classes)

    def _decode_all(self, files: list[str], labels: list[int]) -> _TensorImages:
        x = torch.empty((len(files), self.channels, self.image_size, self.image_size), dtype=torch.uint8)
        for i, f in enumerate(files):
            x[i] = _decode(f, self.image_size, self.channels)
        return _TensorImages(x, torch.as_tensor(labels, dtype=torch.int64))
