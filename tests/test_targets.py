"""Deployment targets: ONNX Runtime float32 runs the network PyTorch runs, int8 is quantised and calibrated on
training images only, its accuracy comes from its own session, and green-lut prices and validates a target."""
from __future__ import annotations

import json
import subprocess
import sys

import onnx
import pytest
import torch
from hydra.utils import instantiate

import search.hardware.lut as lut
from core.device import Device
from core.errors import GreenError
from search.hardware.cost import space_ops
from search.hardware.lookup import LookupTable
from search.targets import TARGETS, Session, target_of
from search.targets.accuracy import runtime_accuracy
from search.targets.calibration import CalibrationSet
from supernet.net import GreenNet, extract_subnet

CPU = Device.of("cpu", 1, "channels_last")


@pytest.fixture(scope="module")
def digits(compose_cfg):
    dm = instantiate(compose_cfg("train").data)
    dm.setup()
    return dm


@pytest.fixture(scope="module")
def trained(digits, tiny_space):
    """The tiny space's largest subnet trained for 6 epochs on the digits' training split (about 93% test accuracy)."""
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same weights whatever thread count an earlier test left behind
    try:
        net = GreenNet(tiny_space, tiny_space.largest(), digits.num_classes, digits.channels)
        opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
        net.train()
        for _ in range(6):
            for x, y in digits.train_dataloader():
                opt.zero_grad()
                torch.nn.functional.cross_entropy(net(digits.transform(x)), y).backward()
                opt.step()
    finally:
        torch.set_num_threads(threads)
    return net.eval()


def test_the_three_targets_are_registered_and_a_bad_name_is_one_line():
    assert {"torch", "onnxruntime", "onnxruntime_int8"} <= set(TARGETS.names())
    assert target_of(None).name == "torch"  # a table or command without a target: PyTorch, as before targets
    with pytest.raises(GreenError, match="unknown deployment target 'tflite'; choose from onnxruntime, "
                                         "onnxruntime_int8, torch"):
        target_of("tflite")


def test_a_named_target_gets_its_conf_file_settings(monkeypatch):
    """``targets=[onnxruntime_int8]`` in a list is the target ``target=onnxruntime_int8`` composes: the settings of
    conf/target/<name>.yaml, not the class defaults."""
    from omegaconf import OmegaConf

    import search.targets as targets

    for name in ("torch", "onnxruntime", "onnxruntime_int8"):
        node = targets.target_config(name)
        assert node is not None and target_of(name).spec() == target_of(node).spec()
    assert targets.target_config("tflite") is None
    edited = OmegaConf.merge(targets.target_config("onnxruntime_int8"), {"calibration_images": 7})
    monkeypatch.setattr(targets, "target_config", lambda name: edited if name == "onnxruntime_int8" else None)
    assert target_of("onnxruntime_int8").calibration_images == 7
    assert target_of("onnxruntime").name == "onnxruntime"  # no file: the registered defaults


@pytest.mark.slow
def test_green_lut_with_a_bad_target_exits_non_zero_with_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "search.commands.lut", "target=tflite",
                        f"hydra.run.dir={tmp_path / 'run'}"], capture_output=True, text=True)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("green-lut: error:") and "target/tflite" in lines[0]
    assert "onnxruntime_int8" in lines[0]  # the choices are listed
    assert not (tmp_path / "run" / "lut.json").exists()


def test_onnxruntime_float_matches_torch(tiny_net, tiny_space, rng):
    """Whole subnets (the supernet's weights, a resize from 16 to 12 pixels included) and single blocks of a cost
    table: ONNX Runtime's float32 logits equal PyTorch's to 1e-4."""
    ort = target_of("onnxruntime")
    x = torch.randn(5, 1, 16, 16)
    for arch in (tiny_space.smallest(), tiny_space.largest(), tiny_space.sample(rng)):
        model = extract_subnet(tiny_net, arch).eval()
        with torch.no_grad():
            want = model(x)
        got = ort.session(model, (1, 1, 16, 16), CPU).run(x)  # exported at batch 1: the batch is dynamic
        assert got.shape == want.shape and (got - want).abs().max() < 1e-4, arch
    op = next(o for o in space_ops(tiny_space) if o.kind == "block" and o.spec.se)
    block = op.module(tiny_space, 10, 1).eval()
    xb = torch.randn(op.input_shape(tiny_space, 1, 3))
    with torch.no_grad():
        assert (ort.session(block, tuple(xb.shape), CPU).run(xb) - block(xb)).abs().max() < 1e-4


def test_targets_leave_the_callers_model_as_it_was(tiny_net, tiny_space):
    model = extract_subnet(tiny_net, tiny_space.largest()).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    target_of("torch").session(model, (1, 1, 16, 16), Device.of("cpu", 1, "contiguous"), "bfloat16")
    target_of("onnxruntime").session(model, (1, 1, 16, 16), CPU)
    after = model.state_dict()
    assert all(after[k].dtype == v.dtype and torch.equal(after[k], v) for k, v in before.items())


def test_calibration_uses_training_images_only(digits):
    for split in ("val", "test"):
        with pytest.raises(GreenError, match=f"training images only, not the '{split}' split"):
            CalibrationSet.of_data(digits, 32, split=split)
    calib = CalibrationSet.of_data(digits, 40, batch_size=16)
    assert [b.shape[0] for b in calib.batches] == [16, 16, 8] and calib.source == "train"
    rec = calib.record()
    assert rec["images"] == 40 and rec["seed"] == digits.seed + 1 and rec["data"]["seed"] == digits.seed
    assert rec["data"]["classes"] == list(digits.classes)
    # the same images as BatchNorm recalibration draws (same seed, same order), normalised as the network sees them
    assert torch.allclose(torch.cat(calib.batches), torch.cat(digits.calib_batches(40, 16)))
    assert CalibrationSet.of_data(digits, 40, seed=7).digest != calib.digest


def test_int8_needs_calibration_and_checks_its_options(tiny_net, tiny_space, tmp_path, capsys, compose_cfg, one_line):
    model = extract_subnet(tiny_net, tiny_space.smallest()).eval()
    with pytest.raises(GreenError, match="needs calibration images"):
        target_of("onnxruntime_int8").session(model, (1, 1, 16, 16), CPU)
    with pytest.raises(GreenError, match="serves float32 models"):
        target_of("onnxruntime").session(model, (1, 1, 16, 16), CPU, "float16")
    cfg = compose_cfg("lut", "target=onnxruntime_int8", "target.calibrate_method=Median", output_dir=tmp_path)
    line = one_line("green-lut", lut.run, cfg, capsys)
    assert line.endswith("target.calibrate_method='Median'; choose from MinMax, Entropy, Percentile")
    assert not (tmp_path / "lut.json").exists()


def test_reduce_range_auto_is_7_bit_weights_exactly_on_x86_without_vnni(monkeypatch):
    """Without VNNI, ONNX Runtime's x86 int8 kernels sum uint8 x int8 pairs in 16 bits and saturate (a winner lost
    9 points); auto turns on 7-bit weights there only, and the resolved value is what a table records."""
    from search.targets import int8

    zen = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 avx512f avx512_vnni\n"
    assert int8.cpu_has_vnni(zen, "x86_64") is True
    assert int8.cpu_has_vnni(zen.replace(" avx512_vnni", ""), "x86_64") is False
    assert int8.cpu_has_vnni("flags : avx avx_vnni\n", "AMD64") is True
    assert int8.cpu_has_vnni("", "aarch64") is True  # other kernels: no 16-bit sums to saturate
    for has, expected in ((True, False), (False, True)):
        monkeypatch.setattr(int8, "cpu_has_vnni", lambda has=has: has)
        t = int8.OrtInt8Target()
        assert t.reduce_range is expected and t.options()["reduce_range"] is expected
        assert int8.OrtInt8Target(reduce_range=False).reduce_range is False  # an explicit value is kept
    with pytest.raises(GreenError, match="target.reduce_range='yes'; choose from auto, true, false"):
        int8.OrtInt8Target(reduce_range="yes")


@pytest.mark.slow
def test_int8_is_quantised_and_its_accuracy_is_measured_through_onnxruntime(trained, digits):
    calib = CalibrationSet.of_data(digits, 256)
    shape = (1, digits.channels, digits.image_size, digits.image_size)
    fp32 = target_of("onnxruntime").session(trained, shape, CPU)
    int8 = target_of("onnxruntime_int8").session(trained, shape, CPU, calib=calib)
    graph = onnx.load_from_string(int8.artefact()).graph
    ops = {n.op_type for n in graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops  # QDQ format
    weights = [i for i in graph.initializer if i.data_type == onnx.TensorProto.INT8 and len(i.dims) == 4]
    assert weights  # int8 convolution weights ...
    scales = {i.name: list(i.dims) for i in graph.initializer if i.name.endswith("_scale")}
    assert any(d and d[0] > 1 for d in scales.values())  # ... with a scale per output channel
    assert int8.calibration["source"] == "train" and int8.calibration["images"] == 256
    a32, a8 = runtime_accuracy(fp32, digits, "test"), runtime_accuracy(int8, digits, "test")
    assert (a32.target, a8.target, a8.split, a8.images) == ("onnxruntime", "onnxruntime_int8", "test", len(digits.test_set))
    x = digits.transform(next(iter(digits.test_dataloader()))[0])
    assert (int8.run(x) - fp32.run(x)).abs().max() > 1e-3  # the int8 session's own logits, not the float ones
    # a broken quantisation (scales from the wrong data, a lost per-channel axis) costs tens of points; a sound one
    # costs a few on this small network and 359 test images (one image: 0.28 points): seen 0.3 to 3.3
    assert a32.acc > 0.85 and abs(a8.acc - a32.acc) <= 0.05, (a32, a8)


class _Always(Session):
    """A session that predicts one class for every image."""

    target = "always"

    def __init__(self, cls: int, classes: int):
        self.cls, self.classes = cls, classes

    def run(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.one_hot(torch.full((x.shape[0],), self.cls), self.classes).float()


def test_runtime_accuracy_known_answer(digits):
    """A session that always answers class 3 is right on exactly the test images of class 3."""
    labels = torch.cat([y for _, y in digits.test_dataloader()])
    acc = runtime_accuracy(_Always(3, digits.num_classes), digits, "test")
    assert acc.correct == int((labels == 3).sum()) and acc.images == len(labels)
    assert acc.acc == pytest.approx(acc.correct / len(labels))
    with pytest.raises(GreenError, match="held-out images"):
        runtime_accuracy(_Always(3, digits.num_classes), digits, "train")


@pytest.mark.parametrize("target", ["onnxruntime", "onnxruntime_int8"])
@pytest.mark.slow_after_first
def test_green_lut_prices_and_validates_a_target(tmp_path, lut_cfg, monkeypatch, tiny_space, target):
    monkeypatch.setattr(lut, "find_meter", lambda device: None)
    path = lut.build_table(lut_cfg(tmp_path / "build", f"target={target}"))
    table = LookupTable.read(path)
    fp = table.fingerprint
    assert fp["target"] == target and fp["target_runtime"]["runtime"] == "onnxruntime"
    assert fp["target_runtime"]["precision"] == ("int8" if target.endswith("int8") else "float32")
    assert fp["memory_format"] == "contiguous"  # an ONNX graph is NCHW, whatever the torch layout option says
    assert set(table.entries) == {op.key for op in space_ops(tiny_space)}
    assert table.protocol["mode"] == "onnxruntime InferenceSession.run"
    assert ("calibration" in table.protocol) == target.endswith("int8")
    assert table.energy["source"] == "codecarbon-estimate" and table.energy["power_w"] > 0
    with pytest.raises(GreenError, match=f"measured on target {target}, not torch: pass target={target}"):
        lut.validate_table(lut_cfg(tmp_path / "v0", "mode=validate", f"table={path}"))
    res = lut.validate_table(lut_cfg(tmp_path / "v1", "mode=validate", f"table={path}", f"target={target}"))
    assert res["target"] == target and res["n_subnets"] == 3
    assert all(len(s["measured_ms"]) == 2 for s in res["batches"]["1"]["subnets"])
    written = json.loads((tmp_path / "v1" / "lut_validate.json").read_text())
    assert written["target"] == target and set(written["batches"]) == {"1", "4"}
