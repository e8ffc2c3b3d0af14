"""Bad input found by a hostile user (issue 14), in the data: each case is one line naming the file, never a
traceback or a silently wrong figure.

Lookup tables with NaN, negative or mistyped figures; 16-bit, float and oversized images; one-class data.
"""
from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from search.hardware.cost import CostModel, space_ops
from search.hardware.lookup import TableError
from supernet.datasets import ImageFolderDataModule, _decode
from core.errors import DataError

ARCH = "r16_k3e2_k3e2"


# ------------------------------------------------------------------ 1. lookup tables and search state

def synthetic_table(space) -> dict:
    """A well-formed table of ``space`` where every op costs 0.1 ms at batch 1 (nothing measured)."""
    entries = {op.key: {"params": 1, "macs": 1, "1": {"latency_ms": {"median": 0.1, "p10": 0.1, "p90": 0.1, "n": 2}}}
               for op in space_ops(space)}
    return {"kind": "green-cnn-lut", "version": 1,
            "fingerprint": {"device": "cpu", "device_name": "test", "batch_sizes": [1], "space_name": space.name,
                            "space_digest": space.digest(), "num_classes": 10, "in_chans": 1},
            "entries": entries, "correction": {"1": {"latency_ms": {"a": 1.0, "b": 0.0, "r2": float("nan")}}},
            "energy": {"source": "codecarbon-estimate", "power_w": 10.0}}


def first_key(table: dict) -> str:
    return next(iter(table["entries"]))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -0.5, 0.0, "0.1", [0.1], None])
def test_table_median_that_is_not_a_positive_number_is_refused(tiny_space, tmp_path, value):
    table = synthetic_table(tiny_space)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(table))
    assert CostModel.load(good, tiny_space).predict(ARCH).latency_ms == pytest.approx(0.1 * 4)
    key = first_key(table)
    table["entries"][key]["1"]["latency_ms"]["median"] = value
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(table))  # NaN and Infinity as Python's json writes them
    with pytest.raises(TableError) as err:
        CostModel.load(bad, tiny_space)
    msg = str(err.value)
    assert "bad.json" in msg and f"entries.{key}.1.latency_ms.median" in msg and "\n" not in msg


@pytest.mark.parametrize("path, value, key", [
    (("correction", "1", "latency_ms", "a"), float("nan"), "correction.1.latency_ms.a"),
    (("energy", "power_w"), -3.0, "energy.power_w"),
    (("fingerprint", "num_classes"), "ten", "fingerprint.num_classes"),
    (("fingerprint", "batch_sizes"), "1", "fingerprint.batch_sizes"),
    (("entries", "stem_h16"), [1, 2], "entries.stem_h16"),
])
def test_table_figures_of_the_wrong_type_or_range_name_file_and_key(tiny_space, tmp_path, path, value, key):
    table = synthetic_table(tiny_space)
    node = table
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    bad = tmp_path / "lut.json"
    bad.write_text(json.dumps(table))
    with pytest.raises(TableError, match=f"lut.json.*{key.replace('.', '[.]')}"):
        CostModel.load(bad, tiny_space)


def test_green_lut_validate_with_a_nan_table_is_one_line(tiny_space, tmp_path, capsys, compose_cfg, one_line):
    from search.hardware.lut import run

    table = synthetic_table(tiny_space)
    table["entries"][first_key(table)]["1"]["latency_ms"]["median"] = float("nan")
    (tmp_path / "lut.json").write_text(json.dumps(table))
    cfg = compose_cfg("lut", "mode=validate", "batch_sizes=[1]", output_dir=tmp_path)
    line = one_line("green-lut", run, cfg, capsys)
    assert "lut.json" in line and "median must be a finite number, got nan" in line



# ------------------------------------------------------------------ 2. images

def png16(path: Path, arr: np.ndarray) -> Path:
    """A 16-bit PNG written by hand (PIL cannot write 16-bit RGB): gray, gray+alpha, RGB or RGBA."""
    h, w = arr.shape[:2]
    color = {1: 0, 2: 4, 3: 2, 4: 6}[1 if arr.ndim == 2 else arr.shape[2]]
    raw = b"".join(b"\0" + arr[i].astype(">u2").tobytes() for i in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, color, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    return path


RAMP = np.linspace(0, 65535, 256).round().astype(np.uint16).reshape(16, 16)
EXPECTED = np.round(RAMP / 257.0).astype(np.uint8)  # 0..65535 onto 0..255, proportionally


@pytest.mark.parametrize("writer", ["pil_png", "hand_png", "tiff_I;16B", "tiff_I"])
def test_sixteen_bit_gray_ramp_is_scaled_not_clipped(tmp_path, writer):
    if writer == "pil_png":
        path = tmp_path / "ramp.png"
        Image.fromarray(RAMP).save(path)  # opens as I;16
    elif writer == "hand_png":
        path = png16(tmp_path / "ramp.png", RAMP)
    elif writer == "tiff_I;16B":
        path = tmp_path / "ramp.tif"
        Image.frombytes("I;16B", (16, 16), RAMP.astype(">u2").tobytes()).save(path)
    else:
        path = tmp_path / "ramp.tif"
        Image.fromarray(RAMP.astype(np.int32)).save(path)  # opens as I (32-bit)
    with Image.open(path) as im:
        assert im.mode in ("I;16", "I;16B", "I")
    gray = _decode(str(path), 16, 1)[0].numpy()
    assert np.abs(gray.astype(int) - EXPECTED).max() <= 1 and gray.min() == 0 and gray.max() == 255
    assert (gray == 255).mean() < 0.01  # PIL's own convert("L") makes 99% of this ramp 255
    rgb = _decode(str(path), 16, 3).numpy()
    assert all(np.array_equal(c, gray) for c in rgb)


def test_sixteen_bit_rgb_png_and_float_images_are_scaled(tmp_path):
    rgb = png16(tmp_path / "rgb.png", np.stack([RAMP, RAMP // 2, 65535 - RAMP], -1))
    x = _decode(str(rgb), 16, 3).numpy().astype(int)
    assert np.abs(x[0] - EXPECTED).max() <= 1 and np.abs(x[2] - EXPECTED[::-1, ::-1]).max() <= 1
    assert np.abs(x[1] - EXPECTED // 2).max() <= 1
    f = tmp_path / "unit.tif"
    Image.fromarray((RAMP / 65535.0).astype(np.float32)).save(f)  # mode F, values in [0, 1]
    assert np.abs(_decode(str(f), 16, 1)[0].numpy().astype(int) - EXPECTED).max() <= 1
    wide = tmp_path / "wide.tif"
    Image.fromarray(RAMP.astype(np.float32)).save(wide)  # F with values up to 65535: no scale to trust
    with pytest.raises(DataError, match="wide.tif .*outside 0..1"):
        _decode(str(wide), 16, 1)


def test_sixteen_bit_imagefolder_trains_on_scaled_images(tmp_path):
    for split in ("train", "test"):
        for c, k in (("dark", 4), ("light", 1)):
            (tmp_path / split / c).mkdir(parents=True)
            for i in range(4):
                Image.fromarray(RAMP // k).save(tmp_path / split / c / f"{i}.png")
    dm = ImageFolderDataModule(root=str(tmp_path), image_size=16, channels=1, val_size=2)
    dm.setup()
    x, y = dm.train_set.__getitems__(list(range(len(dm.train_set))))
    for img, label in zip(x, y):
        assert int(img.max()) == (64 if dm.classes[label] == "dark" else 255)


@pytest.mark.parametrize("limit", [100, 200])  # 256 pixels: above twice the limit (PIL's error) or above it (warns)
def test_decompression_bomb_is_a_data_error_naming_the_file(tmp_path, monkeypatch, limit):
    path = tmp_path / "bomb.png"
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
    with pytest.raises(DataError, match="bomb.png was refused as a possible decompression bomb"):
        _decode(str(path), 16, 1)


def test_one_class_data_is_refused(tmp_path):
    for split in ("train", "test"):
        (tmp_path / split / "only").mkdir(parents=True)
        for i in range(4):
            Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(tmp_path / split / "only" / f"{i}.png")
    with pytest.raises(DataError, match="has 1 class \\('only'\\): classification needs at least two"):
        ImageFolderDataModule(root=str(tmp_path), image_size=8, channels=1, val_size=1).setup()
