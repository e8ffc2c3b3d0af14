"""Bad input found by a hostile user (issue 14): each case is one line naming the file or option, never a
traceback, a silently wrong figure or a deleted folder.

Lookup tables and search state with NaN, negative or mistyped figures; 16-bit, float and oversized
images; one-class data; option values of the wrong type or range; ``device=cuda`` without CUDA; model
folders of ordinary mode that ``overwrite=true`` alone may replace; pickles and truncated files where
JSON or safetensors belong; a diverging HPO trial.
"""
from __future__ import annotations

import json
import os
import pickle
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_module
from PIL import Image

from search.hardware.cost import CostModel, TableError, space_ops
from search.evolution.engine import Evolution
from search.deploy.export import load_subnet, save_subnet
from search.evolution.objectives import parse_objectives
from supernet.data import DigitsDataModule, ImageFolderDataModule, _decode
from supernet.errors import DataError, GreenError, exit_on_error
from supernet.net import GreenNet
from supernet.space import ArchConfig
from tests.conftest import make_cfg

ROOT = Path(__file__).resolve().parents[1]
ARCH = "r16_k3e2_k3e2"
MARKER = Path("/tmp/green_cnn_bad_input_pwned")


def cfg_of(name: str, tmp_path: Path, *overrides: str):
    """``conf/<name>.yaml`` composed as its command would, writing into ``tmp_path``."""
    with initialize_config_module(config_module="conf", version_base="1.3"):
        return compose(name, overrides=[f"paths.output_dir={tmp_path}", *overrides])


def one_line(prog: str, fn, cfg, capsys) -> str:
    """Run the command function as its console script does; it must exit 2 with one error line."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        with exit_on_error(prog):
            fn(cfg)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "Traceback" not in err, err
    lines = [ln for ln in err.strip().splitlines() if ln.startswith(f"{prog}: error:")]
    assert len(lines) == 1 and err.strip().splitlines()[-1] == lines[0], err
    return lines[0]


class _Payload:
    """A pickle that would leave a marker file behind if anything unpickled it."""

    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


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


def test_green_lut_validate_with_a_nan_table_is_one_line(tiny_space, tmp_path, capsys):
    from search.hardware.lut import run

    table = synthetic_table(tiny_space)
    table["entries"][first_key(table)]["1"]["latency_ms"]["median"] = float("nan")
    (tmp_path / "lut.json").write_text(json.dumps(table))
    line = one_line("green-lut", run, cfg_of("lut", tmp_path, "mode=validate", "batch_sizes=[1]"), capsys)
    assert "lut.json" in line and "median must be a finite number, got nan" in line


def _searched(tiny_space, run_dir: Path) -> dict:
    from search.hardware.cost import count

    def cost_fn(arch):
        macs = count(tiny_space, arch, 10, 1)[1]
        return {"params": macs, "macs": macs, "latency_ms": 1.0, "energy_mj": 1.0, "energy_source": "test"}

    def eval_fn(arch):
        return {"acc": 1 - 1 / (1 + count(tiny_space, arch, 10, 1)[1] / 2e5), "recall": 0.5}

    return dict(space=tiny_space, objectives=parse_objectives(["acc", "macs"]), constraints=[], cost_fn=cost_fn,
                eval_fn=eval_fn, population=4, generations=1, seed=0, run_dir=run_dir, progress=False)


@pytest.mark.parametrize("file, damage, message", [
    ("cache.json", lambda c, s: c[next(iter(c))].update(acc="0.9"), r"cache.json.*\]\.acc must be a finite number"),
    ("cache.json", lambda c, s: c[next(iter(c))].update(macs=float("nan")), r"\]\.macs must be a finite number"),
    ("cache.json", lambda c, s: c[next(iter(c))].update(genome=[0, 99, 0]), r"genome"),
    ("cache.json", lambda c, s: c.update({next(iter(c)): "r16"}), r"cache.json.*must be a dict"),
    ("checkpoint.json", lambda c, s: s.update(gen="1"), r"checkpoint.json.*gen must be a whole number"),
    ("checkpoint.json", lambda c, s: s["population"][0].update(values=[float("nan"), 0.1]),
     r"population\[0\]\.values\[0\] must be a finite number"),
    ("checkpoint.json", lambda c, s: s.update(evaluated=["r99_x"]), r"evaluated\[0\]"),
    ("checkpoint.json", lambda c, s: s.update(random_state=[3, [1, 2], None]), r"random_state"),
    ("checkpoint.json", lambda c, s: s.update(population={"genome": 1}), r"population must be a list"),
])
def test_search_state_of_the_wrong_types_names_file_and_key(tiny_space, tmp_path, file, damage, message):
    Evolution(**_searched(tiny_space, tmp_path)).run()
    cache, state = (json.loads((tmp_path / f).read_text()) for f in ("cache.json", "checkpoint.json"))
    damage(cache, state)
    (tmp_path / "cache.json").write_text(json.dumps(cache))
    (tmp_path / "checkpoint.json").write_text(json.dumps(state))
    with pytest.raises(GreenError, match=message):
        Evolution(**_searched(tiny_space, tmp_path)).run()


def test_search_state_that_is_a_pickle_is_one_error_naming_it(tiny_space, tmp_path):
    Evolution(**_searched(tiny_space, tmp_path)).run()
    (tmp_path / "checkpoint.json").write_bytes(pickle.dumps(_Payload()))
    with pytest.raises(GreenError, match="checkpoint.json' is corrupt"):
        Evolution(**_searched(tiny_space, tmp_path)).run()
    assert not MARKER.exists()


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


# ------------------------------------------------------------------ 3. option values at the boundary

@pytest.mark.parametrize("override, message", [
    ("optimizer.lr=-0.1", "optimizer.lr must be > 0, got -0.1"),
    ("optimizer.lr=0", "optimizer.lr must be > 0, got 0"),
    ("threads=-2", "threads must be >= 1, got -2"),
    ("label_smoothing=1.5", "label_smoothing must lie in [0, 1), got 1.5"),
    ("label_smoothing=1.0", "label_smoothing must lie in [0, 1), got 1.0"),
    ("measure.batch_sizes=[]", "measure.batch_sizes must be a non-empty list of positive whole numbers, got []"),
    ("measure.trials=0", "measure.trials must be >= 1, got 0"),
    ("calib_images=0", "calib_images must be >= 1, got 0"),
    ("epochs=abc", "epochs must be a whole number, got 'abc'"),
])
def test_finetune_options_are_checked_before_anything_trains(tmp_path, capsys, override, message):
    from search.deploy.finetune import finetune

    cfg = cfg_of("finetune", tmp_path, "ckpt=/nonexistent.ckpt", f"archs=[{ARCH}]", override)
    assert one_line("green-finetune", finetune, cfg, capsys) == f"green-finetune: error: {message}"
    assert not (tmp_path / "models").exists() and not (tmp_path / "tb").exists()


def test_epochs_abc_on_the_command_line_is_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "search.commands.finetune", "ckpt=x", f"archs=[{ARCH}]", "epochs=abc",
                        f"hydra.run.dir={tmp_path}"], cwd=ROOT, capture_output=True, text=True,
                       env={k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"})
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == ["green-finetune: error: epochs must be a whole number, got 'abc'"]


@pytest.mark.parametrize("command, overrides, message", [
    ("lut", ["protocol.trials=0"], "protocol.trials must be >= 1, got 0"),
    ("lut", ["threads=-1"], "threads must be >= 1, got -1"),
    ("lut", ["batch_sizes=[]"], "batch_sizes must be a non-empty list"),
    ("hpo", ["default.lr=-0.02", "model=x"], "default.lr must be > 0, got -0.02"),
    ("hpo", ["calib_images=0", "model=x"], "calib_images must be >= 1, got 0"),
    ("hpo", ["hpo.space.label_smoothing=[0.0,1.5]", "model=x"], "hpo.space.label_smoothing must lie in [0, 1)"),
    ("baselines", ["measure.batch_sizes=[]"], "measure.batch_sizes must be a non-empty list"),
    ("baselines", ["label_smoothing=-0.1"], "label_smoothing must lie in [0, 1), got -0.1"),
])
def test_other_commands_check_options_at_start(tmp_path, capsys, command, overrides, message):
    from search.deploy.baselines import baselines
    from search.tuning.hpo import hpo
    from search.hardware.lut import run

    fn = {"lut": run, "hpo": hpo, "baselines": baselines}[command]
    line = one_line(f"green-{command}", fn, cfg_of(command, tmp_path, *overrides), capsys)
    assert message in line
    assert not list(tmp_path.iterdir())  # nothing measured, trained or written


def test_calib_images_below_one_is_refused_by_the_data_for_every_command():
    dm = DigitsDataModule(image_size=8)
    for n in (0, -5):
        with pytest.raises(DataError, match=f"calib_images must be a whole number >= 1, got {n}"):
            dm.calib_batches(n)
    assert sum(len(b) for b in dm.calib_batches(3)) == 3


# ------------------------------------------------------------------ 4. messages that tell the truth

@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("command, overrides", [("lut", ["device=cuda"]), ("hpo", ["device=cuda", "model=x"]),
                                                ("finetune", ["measure.device=cuda", "ckpt=x", f"archs=[{ARCH}]"])])
def test_cuda_without_cuda_says_so(tmp_path, capsys, command, overrides):
    from search.deploy.finetune import finetune
    from search.tuning.hpo import hpo
    from search.hardware.lut import run

    fn = {"lut": run, "hpo": hpo, "finetune": finetune}[command]
    line = one_line(f"green-{command}", fn, cfg_of(command, tmp_path, *overrides), capsys)
    assert line.endswith("=cuda: CUDA is not available on this machine; use " + overrides[0].replace("cuda", "cpu"))


@pytest.mark.parametrize("std, message", [("[0.0]", "data.std must hold finite numbers > 0"),
                                          ("[0.2,0.2]", "data.std must have one value per channel")])
def test_zero_std_is_named_not_blamed_on_the_learning_rate(tmp_path, capsys, std, message):
    from supernet.train import train

    cfg = make_cfg(tmp_path, "experiment=smoke", "epochs=1", "data.train_subset=64", "+data.mean=[0.5]",
                   f"+data.std={std}")
    line = one_line("green-train", train, cfg, capsys)
    assert message in line and "learning rate" not in line
    assert not (tmp_path / "checkpoints").exists()


def test_non_finite_fine_tune_loss_is_a_training_error():
    from search.deploy.finetune import SubnetModule, make_optimizer
    from supernet.errors import TrainingError

    with pytest.raises(GreenError, match="learning rate must be a finite number, got nan"):
        make_optimizer(torch.nn.Linear(2, 2).parameters(), "sgd", float("nan"))
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    with torch.no_grad():
        model[1].weight.fill_(float("nan"))
    module = SubnetModule(model, lambda p: None, num_classes=2, name="toy")
    with pytest.raises(TrainingError, match="non-finite loss nan at step 0 training toy"):
        module.training_step((torch.ones(3, 1, 2, 2), torch.tensor([0, 1, 0])), 0)


# ------------------------------------------------------------------ 5, 6. model folders: mode, overwrite

LCNET = {"name": "lcnet_050", "source": "timm", "num_classes": 10, "in_chans": 1, "image_size": 16}


def _subnet(tiny_space) -> GreenNet:
    torch.manual_seed(0)
    return GreenNet(tiny_space, ArchConfig.parse(ARCH), 10, 1).eval()


def test_model_folders_get_ordinary_modes(tmp_path, tiny_space):
    from search.deploy.baselines import build_baseline, save_baseline

    mask = os.umask(0)
    os.umask(mask)
    save_subnet(_subnet(tiny_space), tmp_path / "sub", onnx=False)
    save_baseline(build_baseline("timm", "lcnet_050", 10, 1, 16), tmp_path / "base", LCNET, onnx=False)
    for f in [*(tmp_path / "sub").iterdir(), *(tmp_path / "base").iterdir()]:
        assert f.stat().st_mode & 0o777 == 0o666 & ~mask, f  # safetensors alone would write 0600


def test_overwrite_replaces_only_a_model_folder(tmp_path, tiny_space):
    net = _subnet(tiny_space)
    run = tmp_path / "search_run"
    run.mkdir()
    (run / "pareto.json").write_text("{}")
    (run / "cache.json").write_text("{}")
    with pytest.raises(GreenError, match="is not a model folder written by green-extract"):
        save_subnet(net, run, overwrite=True)
    assert sorted(p.name for p in run.iterdir()) == ["cache.json", "pareto.json"]
    model = save_subnet(net, tmp_path / "model", onnx=False)
    (model / "notes.txt").write_text("mine")  # a user's file in a model folder: not ours to delete
    with pytest.raises(GreenError, match="not a model folder"):
        save_subnet(net, model, overwrite=True)
    (model / "notes.txt").unlink()
    assert save_subnet(net, model, overwrite=True, onnx=False) == model  # our own folder: replaced
    assert json.loads((model / "arch.json").read_text())["format"] == "green-cnn-subnet"
    empty = tmp_path / "empty"
    empty.mkdir()
    save_subnet(net, empty, overwrite=True, onnx=False)
    assert (empty / "model.safetensors").is_file()


def test_green_extract_overwrite_refuses_a_search_run_before_any_work(tmp_path, capsys):
    from search.deploy.extract import extract

    run = tmp_path / "search_run"
    run.mkdir()
    (run / "pareto.json").write_text("{}")
    cfg = cfg_of("extract", tmp_path, "ckpt=/nonexistent.ckpt", f"arch={ARCH}", f"out={run}", "overwrite=true")
    line = one_line("green-extract", extract, cfg, capsys)
    assert line == (f"green-extract: error: '{run}' is not a model folder written by green-extract, so "
                    "overwrite=true will not delete it; choose another out=")
    assert (run / "pareto.json").read_text() == "{}"


# ------------------------------------------------------------------ 7. pickles and truncated files

def _damage(folder: Path, name: str, how: str) -> None:
    f = folder / name
    if how == "pickle":
        f.write_bytes(pickle.dumps(_Payload()))
    elif how == "pickle0":  # protocol 0 is ASCII: valid UTF-8, still not JSON
        f.write_bytes(pickle.dumps(_Payload(), protocol=0))
    elif how == "latin1":
        f.write_bytes(f.read_text().replace('"r', '"\xe9').encode("latin-1"))
    elif how == "truncated":
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    elif how == "empty":
        f.write_bytes(b"")
    elif how == "mistyped":
        f.write_text(json.dumps({**json.loads(f.read_text()), "num_classes": "ten"}))


@pytest.mark.parametrize("name, how, message", [
    ("arch.json", "pickle", "arch.json' is corrupt or truncated"),
    ("arch.json", "pickle0", "arch.json' is corrupt or truncated"),
    ("arch.json", "latin1", "arch.json' is corrupt or truncated \\(UnicodeDecodeError"),
    ("arch.json", "truncated", "arch.json' is corrupt or truncated"),
    ("arch.json", "mistyped", "arch.json': num_classes must be a whole number, got 'ten'"),
    ("model.safetensors", "pickle", "model.safetensors' is not a readable safetensors file"),
    ("model.safetensors", "truncated", "model.safetensors' is not a readable safetensors file"),
    ("model.safetensors", "empty", "model.safetensors' is not a readable safetensors file"),
])
def test_load_subnet_refuses_damaged_files_without_unpickling(tmp_path, tiny_space, name, how, message):
    MARKER.unlink(missing_ok=True)
    folder = save_subnet(_subnet(tiny_space), tmp_path / "m", onnx=False)
    _damage(folder, name, how)
    with pytest.raises(GreenError, match=message):
        load_subnet(folder)
    assert not MARKER.exists()


@pytest.mark.parametrize("name, how, message", [
    ("model.json", "pickle", "model.json' is corrupt or truncated"),
    ("model.json", "mistyped", "model.json': num_classes must be a whole number"),
    ("model.safetensors", "truncated", "model.safetensors' is not a readable safetensors file"),
])
def test_load_baseline_refuses_damaged_files_without_unpickling(tmp_path, name, how, message):
    from search.deploy.baselines import build_baseline, load_baseline, save_baseline

    MARKER.unlink(missing_ok=True)
    folder = save_baseline(build_baseline("timm", "lcnet_050", 10, 1, 16), tmp_path / "b", LCNET, onnx=False)
    _damage(folder, name, how)
    with pytest.raises(GreenError, match=message):
        load_baseline(folder)
    assert not MARKER.exists()


def test_green_hpo_with_a_pickled_arch_json_is_one_line(tmp_path, tiny_space, capsys):
    from search.tuning.hpo import hpo

    MARKER.unlink(missing_ok=True)
    folder = save_subnet(_subnet(tiny_space), tmp_path / "m", onnx=False)
    _damage(folder, "arch.json", "pickle")
    line = one_line("green-hpo", hpo, cfg_of("hpo", tmp_path / "run", f"model={folder}"), capsys)
    assert line.startswith(f"green-hpo: error: model description '{folder / 'arch.json'}' is corrupt")
    assert not MARKER.exists()


# ------------------------------------------------------------------ 8. a diverging HPO trial

HPO_DIVERGING = ["hpo.space.optimizer=[sgd]", "hpo.space.lr={low:0.02,high:0.02,steps:1}",
                 "hpo.space.weight_decay={low:4e-5,high:4e-5,steps:1}", "hpo.space.l1=[0.0]",
                 "hpo.space.dropout=[0.0]", "hpo.space.label_smoothing=[0.0,0.2]", "hpo.space.init=[inherited,he]",
                 "hpo.population=4", "hpo.generations=0", "epochs=1", "data.train_subset=128", "calib_images=32",
                 "hpo.prune.enabled=false", "progress=false", "hpo.select_images=48", "hpo.report_images=64",
                 "trainer.enable_progress_bar=false"]


def test_a_diverging_hpo_trial_is_recorded_as_failed_and_the_search_goes_on(tmp_path, tiny_space, monkeypatch):
    import torch.nn.functional as F

    import search.tuning.hpo as h

    orig = F.cross_entropy

    def poisoned(logits, target, *a, label_smoothing=0.0, **k):  # the settings with smoothing 0.2 diverge
        loss = orig(logits, target, *a, label_smoothing=label_smoothing, **k)
        return loss * float("nan") if label_smoothing == 0.2 else loss

    monkeypatch.setattr(F, "cross_entropy", poisoned)
    trained = []
    run_trial = h.run_trial
    monkeypatch.setattr(h, "run_trial", lambda hc, *a, **k: trained.append(str(hc)) or run_trial(hc, *a, **k))
    folder = save_subnet(_subnet(tiny_space), tmp_path / "m", onnx=False)
    cfg = cfg_of("hpo", tmp_path / "run", f"model={folder}", *HPO_DIVERGING)
    res = h.hpo(cfg)
    w = res["winners"][0]
    assert w["n_trials"] == 4 and w["failed"] == 2 and len(trained) == 5  # the default recipe, then 4 trials
    cache = json.loads((tmp_path / "run" / f"00_{ARCH}" / "cache.json").read_text())
    failed = {k: r for k, r in cache.items() if r.get("failed")}
    assert sorted(r["label_smoothing"] for r in failed.values()) == [0.2, 0.2]
    assert all("non-finite loss nan at step 0" in r["failed"] and r["select_acc"] == 0.0 for r in failed.values())
    assert w["best"]["arch"] not in failed and "ls0.2" not in w["best"]["arch"]
    assert not set(w["front"]) & set(failed)  # the worst fitness: never on the front
    trained.clear()
    again = h.hpo(cfg)  # the rerun reads the failed trials back from the cache instead of training them again
    assert trained == [] and again["winners"][0]["best"] == w["best"]
    MARKER.unlink(missing_ok=True)
    kept = tmp_path / "run" / f"00_{ARCH}" / "weights" / f"{w['best']['arch']}.pt"
    kept.write_bytes(pickle.dumps(_Payload()))  # the chosen trial's weights, replaced by a pickle payload
    with pytest.raises(GreenError, match="chosen trial's weights .* are corrupt"):
        h.hpo(cfg)
    assert not MARKER.exists()
