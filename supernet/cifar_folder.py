"""Write CIFAR-10 (or CIFAR-100) as an ImageFolder: ``<out>/{train,test}/<class>/<n>.png``.

``data=imagefolder data.root=<out>`` then reads it like any folder of your own images, which is how
the CIFAR-10 examples of docs/commands.md use it (``data/cifar10`` is such a folder). torchvision
downloads the archive once into ``--root``; the PNGs are lossless, so accuracies match published
CIFAR figures. The folder is filled under a temporary name and renamed at the end, so an interrupted
run leaves nothing half-written.

    python -m supernet.cifar_folder --out data/cifar10
    python -m supernet.cifar_folder --out data/cifar100 --cifar100 --root ~/.cache/torchvision
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

from core.errors import GreenError, exit_on_error
from core.io import atomic_folder


def write_split(images: Sequence[Any], labels: Sequence[int], classes: Sequence[str], folder: Path) -> int:
    """Save ``images`` (PIL images or HxWxC uint8 arrays) as ``folder/<class>/<n>.png``; returns the count."""
    from PIL import Image

    for c in classes:
        (folder / c).mkdir(parents=True, exist_ok=True)
    for n, (img, y) in enumerate(zip(images, labels)):
        img = img if isinstance(img, Image.Image) else Image.fromarray(img)
        img.save(folder / classes[int(y)] / f"{n:05d}.png")
    return len(labels)


def cifar_folder(out: str | Path, root: str | Path, cifar100: bool = False, download: bool = True) -> dict[str, int]:
    """Download CIFAR-10/100 with torchvision into ``root`` and write it as an ImageFolder at ``out``."""
    from torchvision import datasets

    out = Path(out)
    if out.exists():
        raise GreenError(f"{str(out)!r} exists: give a new folder (nothing was written)")
    cls = datasets.CIFAR100 if cifar100 else datasets.CIFAR10
    try:
        splits = {name: cls(str(root), train=name == "train", download=download) for name in ("train", "test")}
    except (RuntimeError, OSError) as err:  # no network, a damaged archive
        name = "CIFAR-100" if cifar100 else "CIFAR-10"
        raise GreenError(f"cannot get {name} into {str(root)!r}: {str(err).splitlines()[0]}") from None
    counts = {}
    with atomic_folder(out) as tmp:
        for name, ds in splits.items():
            counts[name] = write_split(ds.data, ds.targets, ds.classes, tmp / name)
    return counts


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m supernet.cifar_folder", description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="the ImageFolder to write (must not exist)")
    p.add_argument("--root", default="data/torchvision", help="where torchvision keeps the downloaded archive")
    p.add_argument("--cifar100", action="store_true", help="CIFAR-100 instead of CIFAR-10")
    args = p.parse_args(argv)
    with exit_on_error("cifar_folder"):
        counts = cifar_folder(args.out, args.root, args.cifar100)
        print(f"cifar_folder: {counts['train']} training and {counts['test']} test images -> {args.out} "
              f"(use: data=imagefolder data.root={args.out})")


if __name__ == "__main__":
    main(sys.argv[1:])
