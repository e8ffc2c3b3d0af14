"""python -m supernet.cifar_folder: torchvision's CIFAR written as an ImageFolder the data module reads."""
import numpy as np
import pytest

import supernet.cifar_folder as cf


class FakeCIFAR10:
    classes = ["airplane", "automobile", "bird"]

    def __init__(self, root, train=True, download=False):
        n = 6 if train else 3
        rng = np.random.default_rng(0 if train else 1)
        self.data = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        self.targets = [i % 3 for i in range(n)]


def test_writes_a_lossless_image_folder_the_data_module_reads(tmp_path, monkeypatch):
    import torchvision.datasets
    from PIL import Image

    from supernet.datasets import ImageFolderDataModule

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCIFAR10)
    counts = cf.cifar_folder(tmp_path / "c10", tmp_path / "tv")
    assert counts == {"train": 6, "test": 3}
    first = tmp_path / "c10" / "train" / "airplane" / "00000.png"
    assert np.array_equal(np.asarray(Image.open(first)), FakeCIFAR10("x").data[0])  # lossless
    assert sorted(p.name for p in (tmp_path / "c10" / "test").iterdir()) == sorted(FakeCIFAR10.classes)
    dm = ImageFolderDataModule(root=str(tmp_path / "c10"), image_size=32, val_size=3, batch_size=2)
    dm.setup()
    assert list(dm.classes) == sorted(FakeCIFAR10.classes) and len(dm.test_set) == 3


def test_an_existing_folder_or_no_network_is_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys):
    import torchvision.datasets

    (tmp_path / "there").mkdir()
    with pytest.raises(SystemExit) as ex:
        cf.main(["--out", str(tmp_path / "there")])
    assert ex.value.code == 2 and "exists: give a new folder" in capsys.readouterr().err

    def offline(*a, **k):
        raise RuntimeError("Error downloading cifar-10-python.tar.gz\nmore")
    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    with pytest.raises(SystemExit) as ex:
        cf.main(["--out", str(tmp_path / "new"), "--root", str(tmp_path / "tv")])
    err = capsys.readouterr().err.strip().splitlines()
    assert ex.value.code == 2 and err == [f"cifar_folder: error: cannot get CIFAR-10 into {str(tmp_path / 'tv')!r}: "
                                          "Error downloading cifar-10-python.tar.gz"]
    assert not (tmp_path / "new").exists()
