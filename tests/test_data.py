from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from supernet.datasets import DigitsDataModule, ImageFolderDataModule
from core.errors import DataError


def test_digits_splits_are_seeded_and_disjoint():
    a = DigitsDataModule(image_size=16, val_size=0.1, seed=3)
    b = DigitsDataModule(image_size=16, val_size=0.1, seed=3)
    a.setup(), b.setup()
    assert a.num_classes == 10 and a.in_chans == 1
    assert a.train_set.indices == b.train_set.indices
    assert not set(a.train_set.indices) & set(a.val_set.indices)
    assert len(a.train_set) + len(a.val_set) + len(a.test_set) == 1797
    x, y = next(iter(a.train_dataloader()))
    assert x.shape == (a.batch_size, 1, 16, 16) and x.dtype == torch.uint8 and y.dtype == torch.int64
    c = DigitsDataModule(image_size=16, val_size=0.1, seed=4)
    c.setup()
    assert c.val_set.indices != a.val_set.indices


def test_transform_normalises_and_augments_in_shape():
    dm = DigitsDataModule(image_size=16, channels=3, crop_padding=2, hflip=True)
    dm.setup()
    x, _ = dm.train_set.__getitems__(list(range(64)))
    assert x.shape == (64, 3, 16, 16)
    t = dm.transform(x)
    assert abs(float(t.mean())) < 0.5
    g = torch.Generator().manual_seed(0)
    aug = dm.transform(x, train=True, generator=g)
    assert aug.shape == t.shape and not torch.equal(aug, t)
    g2 = torch.Generator().manual_seed(0)
    assert torch.equal(aug, dm.transform(x, train=True, generator=g2))


def test_calib_batches_are_fixed():
    dm = DigitsDataModule(image_size=16, batch_size=32)
    a, b = dm.calib_batches(100), dm.calib_batches(100)
    assert sum(len(x) for x in a) == 100 and all(torch.equal(x, y) for x, y in zip(a, b))


def _folder(root: Path, classes=("a", "b"), n=6, splits=("train", "test")):
    rng = np.random.default_rng(0)
    for split in splits:
        for c in classes:
            d = root / split / c
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                size, mode = [(20, "RGB"), (9, "L"), (33, "RGBA"), (16, "P")][i % 4]
                arr = rng.integers(0, 255, (size, size + i, 3), dtype=np.uint8)
                Image.fromarray(arr).convert(mode).save(d / f"{i}.png")
    return root


def test_imagefolder_mixed_sizes_and_modes_just_work(tmp_path):
    root = _folder(tmp_path)
    (root / "train" / "a" / "notes.txt").write_text("not an image, ignored by extension")
    for channels in (1, 3):
        dm = ImageFolderDataModule(root=str(root), image_size=12, channels=channels, val_size=2, batch_size=4)
        dm.setup()
        assert dm.classes == ["a", "b"]
        assert len(dm.train_set) == 10 and len(dm.val_set) == 2 and len(dm.test_set) == 12
        x, _ = next(iter(dm.train_dataloader()))
        assert x.shape == (4, channels, 12, 12)


def test_imagefolder_lazy_decoding_matches_memory(tmp_path):
    root = _folder(tmp_path)
    mem = ImageFolderDataModule(root=str(root), image_size=12, val_size=2)
    lazy = ImageFolderDataModule(root=str(root), image_size=12, val_size=2, max_memory_mb=0)
    mem.setup(), lazy.setup()
    xm, ym = mem.test_set.__getitems__([0, 5, 7])
    xl, yl = lazy.test_set.__getitems__([0, 5, 7])
    assert torch.equal(xm, xl) and torch.equal(ym, yl)


@pytest.mark.parametrize("breakage, message", [
    ("missing_root", "does not exist"),
    ("no_test", "has no 'test' folder"),
    ("no_classes", "no class folders"),
    ("empty_class", "has no images"),
    ("class_mismatch", "different classes"),
    ("corrupt", "unreadable image file: .*bad.jpg"),
])
def test_imagefolder_bad_input(tmp_path, breakage, message):
    root = tmp_path / "data"
    if breakage == "missing_root":
        pass
    elif breakage == "no_test":
        _folder(root, splits=("train",))
    elif breakage == "no_classes":
        (root / "train").mkdir(parents=True)
        (root / "test").mkdir(parents=True)
    elif breakage == "empty_class":
        _folder(root)
        (root / "train" / "c").mkdir()
        (root / "test" / "c").mkdir()
        (root / "test" / "c" / "x.png").write_bytes((root / "test" / "a" / "0.png").read_bytes())
    elif breakage == "class_mismatch":
        _folder(root, classes=("a", "b"), splits=("train",))
        _folder(root, classes=("a", "z"), splits=("test",))
    elif breakage == "corrupt":
        _folder(root)
        (root / "train" / "b" / "bad.jpg").write_bytes(b"this is not a jpeg")
    with pytest.raises(DataError, match=message):
        ImageFolderDataModule(root=str(root), image_size=8).setup()


def test_bad_arguments():
    with pytest.raises(DataError, match="val_size"):
        DigitsDataModule(val_size=0)
    with pytest.raises(DataError, match="train_subset"):
        DigitsDataModule(train_subset=0)


def test_shared_cifar_folder_reads_as_imagefolder(tmp_path, shared_cifar):
    # a small slice of the real folder: 3 images per class
    root = tmp_path / "c10"
    for split in ("train", "test"):
        for cdir in sorted((shared_cifar / split).iterdir()):
            d = root / split / cdir.name
            d.mkdir(parents=True)
            for f in sorted(cdir.iterdir())[:3]:
                (d / f.name).symlink_to(f)
    dm = ImageFolderDataModule(root=str(root), image_size=32, val_size=10)
    dm.setup()
    assert dm.num_classes == 10 and "airplane" in dm.classes
    x, _ = dm.test_set.__getitems__([0])
    assert x.shape == (1, 3, 32, 32) and x.float().std() > 0


def test_reseeded_keeps_the_splits_and_changes_the_training_stream():
    dm = DigitsDataModule(val_size=144, seed=0)
    dm.setup()
    other = dm.reseeded(5)
    assert other.val_set.indices == dm.val_set.indices and other.train_set.indices == dm.train_set.indices
    assert dm.stream_seed == 0 and other.stream_seed == 5
    order = lambda d: list(iter(d.train_dataloader().sampler))  # noqa: E731
    assert order(dm) != order(other) and order(dm.reseeded(0)) == order(dm)


def test_imagefolder_decodes_once_then_reads_its_cache(tmp_path, monkeypatch):
    import os

    import supernet.datasets as datasets

    root, cache = _folder(tmp_path / "imgs"), tmp_path / "cache"
    first = ImageFolderDataModule(root=str(root), image_size=12, val_size=2, cache_dir=str(cache))
    first.setup()
    files = sorted(cache.glob("*.npy"))
    assert len(files) == 2  # train and test, plain .npy arrays (no pickle)
    calls = []
    real = datasets._decode
    monkeypatch.setattr(datasets, "_decode", lambda *a: calls.append(a) or real(*a))
    again = ImageFolderDataModule(root=str(root), image_size=12, val_size=2, cache_dir=str(cache))
    again.setup()
    assert calls == [] and torch.equal(again.test_set.x, first.test_set.x)
    assert torch.equal(again.train_set.__getitems__([0, 3])[0], first.train_set.__getitems__([0, 3])[0])
    # another size, a changed image or a damaged cache file: decoded again, never read stale
    ImageFolderDataModule(root=str(root), image_size=10, val_size=2, cache_dir=str(cache)).setup()
    assert len(calls) == 24 and len(list(cache.glob("*.npy"))) == 4
    img = root / "test" / "a" / "0.png"
    Image.fromarray(np.zeros((12, 12, 3), np.uint8)).save(img)
    os.utime(img, ns=(1, 1))
    changed = ImageFolderDataModule(root=str(root), image_size=12, val_size=2, cache_dir=str(cache))
    changed.setup()
    assert int(changed.test_set.x[0].sum()) == 0 and len(calls) == 36
    for f in cache.glob("*.npy"):
        f.write_bytes(b"\x93NUMPY garbage")
    ImageFolderDataModule(root=str(root), image_size=12, val_size=2, cache_dir=str(cache)).setup()
    assert len(calls) == 60
    none = ImageFolderDataModule(root=str(root), image_size=12, val_size=2, cache_dir=None)
    none.setup()
    assert len(calls) == 84 and datasets.image_cache(None) is None
