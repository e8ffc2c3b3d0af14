"""The data sets: scikit-learn's digits, CIFAR-10/100 and any ImageFolder, and image decoding.

Images are decoded once into ``uint8`` tensors at the configured size and channels (small data
sets stay in memory, so a CPU epoch is bound by compute, not JPEG decoding); folders too large for
memory are decoded on access. A decoded folder is cached as a plain ``.npy`` array (``cache_dir``), so
the next process, a parallel job say, reads it in a fraction of a second instead of decoding 60,000
JPEGs again. Splits, loaders and augmentation are :class:`~supernet.data.ImageDataModule`'s.
"""
from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from supernet.data import ImageDataModule, Splits
from core.errors import DataError
from core.io import write_atomic
from supernet.splits import split_order

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


CACHE_VERSION = 1  # bump when decoding changes, so no image decoded the old way is read again


def image_cache(cache_dir: str | None) -> Path | None:
    """The folder of decoded-image caches: ``cache_dir``, or with ``auto`` ``$XDG_CACHE_HOME/green-cnn/images``
    (``~/.cache`` without it); None (``cache_dir=null``) decodes every time."""
    if cache_dir is None:
        return None
    if cache_dir == "auto":
        return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "green-cnn" / "images"
    return Path(cache_dir)


def _files_key(files: Sequence[str], size: int, channels: int) -> str:
    """A digest of what the decoded array depends on: each file's path, size and modification time, the image
    size and channels and the decoder's version (a changed, added or removed image gives another key)."""
    h = hashlib.sha256(f"v{CACHE_VERSION} {size} {channels}\n".encode())
    for f in files:
        st = os.stat(f)
        h.update(f"{os.path.abspath(f)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:32]


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
        perm = torch.from_numpy(split_order(y.numpy(), self.split, self.seed + 7))  # the test split keeps proportions
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

    def __init__(self, root: str, max_memory_mb: int = 4096, cache_dir: str | None = "auto", **kwargs):
        super().__init__(**kwargs)
        self.root = root
        self.max_memory_mb = max_memory_mb
        self.cache_dir = cache_dir

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
            train, test = self._decoded(train_files, train_labels), self._decoded(test_files, test_labels)
        else:
            train = _FileImages(train_files, train_labels, self.image_size, self.channels)
            test = _FileImages(test_files, test_labels, self.image_size, self.channels)
        return Splits(train, test, np.asarray(train_labels), train_classes)

    def _decoded(self, files: list[str], labels: list[int]) -> _TensorImages:
        """The decoded images, read from the cache when these files were decoded at this size before."""
        folder = image_cache(self.cache_dir)
        if folder is None:
            return self._decode_all(files, labels)
        key = _files_key(files, self.image_size, self.channels)
        path = folder / f"{key}.npy"
        try:
            x = np.load(path, allow_pickle=False)  # raw uint8 array: nothing in the file can run
            if x.shape == (len(files), self.channels, self.image_size, self.image_size) and x.dtype == np.uint8:
                return _TensorImages(torch.from_numpy(x), torch.as_tensor(labels, dtype=torch.int64))
        except (OSError, ValueError):
            pass  # no cache yet, or a damaged one: decode again and rewrite it
        images = self._decode_all(files, labels)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            buf = io.BytesIO()
            np.save(buf, images.x.numpy(), allow_pickle=False)
            write_atomic(path, buf.getvalue())
        except OSError:
            pass  # a cache that cannot be written (read-only home, full disk) only costs the next decode
        return images

    def _decode_all(self, files: list[str], labels: list[int]) -> _TensorImages:
        x = torch.empty((len(files), self.channels, self.image_size, self.image_size), dtype=torch.uint8)
        for i, f in enumerate(files):
            x[i] = _decode(f, self.image_size, self.channels)
        return _TensorImages(x, torch.as_tensor(labels, dtype=torch.int64))
