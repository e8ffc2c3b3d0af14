"""Memory format and threads (core.device): channels_last gives the numbers NCHW gives, and every path
that trains, extracts, evaluates or measures runs in the configured layout."""
from __future__ import annotations

import copy
import os

import pytest
import torch
import torch.nn.functional as F

from core import device, load
from core.device import available_cores, format_of, memory_format_of, thread_share, to_memory_format
from core.errors import GreenError
from supernet.net import SuperNet, extract_subnet


def _archs(space):
    import random

    rng = random.Random(0)
    return [space.smallest(), space.middle(), space.largest()] + [space.sample(rng) for _ in range(4)]


def test_unknown_memory_format_is_one_line():
    with pytest.raises(GreenError, match="unknown memory_format 'nhwc'; choose from channels_last, contiguous"):
        memory_format_of("nhwc")


def test_to_memory_format_converts_modules_and_4d_tensors_only(tiny_space):
    net = SuperNet(tiny_space, num_classes=10, in_chans=3)
    assert format_of(net) == "contiguous"
    assert to_memory_format(net, "channels_last") is net and format_of(net) == "channels_last"
    x = to_memory_format(torch.randn(2, 3, 8, 8), "channels_last")
    assert x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    v = torch.randn(2, 3)
    assert to_memory_format(v, "channels_last") is v
    assert format_of(to_memory_format(net, "contiguous")) == "contiguous"
    assert format_of(torch.nn.Linear(3, 2)) == "contiguous"


@pytest.mark.parametrize("space_name", ["tiny_space", "cifar_space"])
def test_extraction_is_exact_in_nchw_and_within_1e_5_in_channels_last(space_name, request, scramble):
    space = request.getfixturevalue(space_name)
    torch.manual_seed(0)
    net = scramble(SuperNet(space, num_classes=10, in_chans=3)).eval()
    x = torch.randn(4, 3, space.resolutions[-1], space.resolutions[-1])
    for arch in _archs(space):
        with torch.no_grad():
            assert torch.equal(extract_subnet(net, arch).eval()(x), net(x, arch)), f"NCHW {arch}"
    to_memory_format(net, "channels_last")
    xc = to_memory_format(x, "channels_last")
    for arch in _archs(space):
        static = extract_subnet(net, arch).eval()
        assert format_of(static) == "channels_last"  # extracted in the supernet's layout
        with torch.no_grad():
            diff = (static(xc) - net(xc, arch)).abs().max().item()
        assert diff <= 1e-5, f"channels_last {arch}: {diff}"


@pytest.mark.slow
def test_channels_last_step_gives_nchw_loss_and_gradients(cifar_space, scramble):
    """Within fp32 tolerance, judged against a float64 reference: in train-mode BN a fp32 gradient can sit a few
    percent from the exact one in either layout (NCHW's own error reaches 2% on the largest arch), so channels_last
    must be about as close to float64 as NCHW is, per parameter (within 3x its error, or 2%: oneDNN's
    channels_last backward sums the BN weight gradients of sliced layers less exactly, up to 0.6% here), and close to NCHW overall (a layout bug, channels
    mixed up, would be off by 100%)."""
    torch.manual_seed(0)
    base = scramble(SuperNet(cifar_space, num_classes=10, in_chans=3)).train()
    x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
    for arch in _archs(cifar_space)[:4]:
        out = {}
        for fmt, dtype in (("contiguous", torch.float64), ("contiguous", torch.float32),
                           ("channels_last", torch.float32)):
            net = to_memory_format(copy.deepcopy(base).to(dtype), fmt)
            loss = F.cross_entropy(net(to_memory_format(x.to(dtype), fmt), arch), y)
            loss.backward()
            out[fmt, dtype] = (loss.detach().double(),
                               {n: p.grad.double() for n, p in net.named_parameters() if p.grad is not None})
        (l64, g64), (l0, g0), (l1, g1) = out.values()
        assert torch.allclose(l1, l0, rtol=1e-5) and torch.allclose(l1, l64, rtol=1e-5)
        assert g0.keys() == g1.keys() == g64.keys() and g0
        flat = [torch.cat([g[n].flatten() for n in sorted(g64)]) for g in (g64, g0, g1)]
        assert float((flat[2] - flat[1]).norm() / flat[0].norm()) <= 1e-2, arch
        top = max(float(g.norm()) for g in g64.values())
        for n, ref in g64.items():
            if float(ref.norm()) > 1e-4 * top:  # gradients that cancel to ~0 (a BN bias before a BN) have no scale
                err0, err1 = (float((g[n] - ref).norm() / ref.norm()) for g in (g0, g1))
                assert err1 <= max(3 * err0, 2e-2), f"{arch} {n}: channels_last {err1:.2e}, NCHW {err0:.2e}"


def test_data_module_batches_follow_its_memory_format(compose_cfg):
    from hydra.utils import instantiate

    for fmt, last in (("channels_last", True), ("contiguous", False)):
        dm = instantiate(compose_cfg("train", "data.image_size=8", f"data.memory_format={fmt}").data)
        dm.setup()
        x = dm.transform(dm.train_set.__getitems__([0, 1])[0], train=True)
        assert x.shape == (2, 1, 8, 8)
        assert x.is_contiguous(memory_format=torch.channels_last) == last or x.is_contiguous()
        assert all(b.is_contiguous(memory_format=torch.channels_last) or not last for b in dm.calib_batches(4))
    from supernet.datasets import DigitsDataModule

    with pytest.raises(GreenError, match="unknown memory_format 'x'"):
        DigitsDataModule(memory_format="x")


@pytest.mark.parametrize("fmt", ["channels_last", "contiguous"])
@pytest.mark.slow_after_first
def test_green_train_trains_in_the_data_modules_layout(tmp_path, compose_cfg, fmt):
    from supernet.train import train

    train(compose_cfg("train", "experiment=smoke", "epochs=1", "data.train_subset=128", "data.channels=3",
                      "module.calib_images=64", "trainer.enable_progress_bar=false", f"data.memory_format={fmt}",
                      output_dir=tmp_path))
    stem = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]["net.conv_stem.weight"]
    assert stem.shape[1] == 3  # 3 input channels: the one weight whose two layouts differ in memory
    assert stem.is_contiguous(memory_format=torch.channels_last) == (fmt == "channels_last")
    assert stem.is_contiguous() == (fmt == "contiguous")


def test_runner_serves_in_the_requested_layout(tiny_space):
    from search.hardware.timing import runner
    from supernet.net import GreenNet

    seen = []
    model = GreenNet(tiny_space, tiny_space.middle(), num_classes=10, in_chans=3)
    model.register_forward_pre_hook(lambda m, args: seen.append(args[0].is_contiguous(memory_format=torch.channels_last)))
    runner(model, (2, 3, 16, 16), torch.device("cpu"), memory_format="channels_last")()
    assert format_of(model) == "channels_last" and seen == [True]
    runner(model, (2, 3, 16, 16), torch.device("cpu"), memory_format="contiguous")()
    assert format_of(model) == "contiguous" and seen == [True, False]


def test_threads_follow_affinity_quota_and_env(tmp_path, monkeypatch):
    assert 1 <= available_cores() <= len(os.sched_getaffinity(0))
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert device._cgroup_cpus(tmp_path) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert device._cgroup_cpus(tmp_path) is None
    monkeypatch.setattr(device, "available_cores", lambda: 6)
    assert [thread_share(j) for j in (1, 2, 4, 12)] == [6, 3, 1, 1]
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(load, "free_cores", lambda: 5)  # without OMP_NUM_THREADS: the cores left free now
    assert device.default_threads() == 5
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert device.default_threads() == 2
    before = torch.get_num_threads()
    try:
        assert device.set_threads(None) == 2 and device.set_threads(1) == 1
        with pytest.raises(GreenError):
            device.set_threads(0)
    finally:
        torch.set_num_threads(before)


def test_extraction_writes_every_tensor_of_the_uninitialised_static_net(cifar_space, scramble):
    """The static net is built on the meta device and filled by copying: any tensor the copy missed would hold
    uninitialised memory, so every parameter and buffer must equal what the copy into an initialised net gives."""
    from supernet.net import GreenNet

    torch.manual_seed(0)
    net = scramble(SuperNet(cifar_space, num_classes=10, in_chans=3)).eval()
    for arch in _archs(cifar_space)[:4]:
        ref = GreenNet(cifar_space, arch, 10, 3)
        ref.load_state_dict({k: v for k, v in extract_subnet(net, arch).state_dict().items()
                             if k.startswith(("conv_stem", "bn1.", "conv_head", "bn2.", "classifier"))}, strict=False)
        specs = iter(cifar_space.block_specs(arch))
        for stage, blocks, ks, es in zip(ref.blocks, net.blocks, arch.kernel_sizes, arch.exp_ratios):
            for j, (block, k, e) in enumerate(zip(blocks, ks, es)):
                spec = next(specs)
                stage[j] = block.to_static(k, e, spec.in_chs, spec.out_chs)  # a fresh, initialised timm block
        got, want = extract_subnet(net, arch).state_dict(), ref.state_dict()
        assert got.keys() == want.keys()
        for key in want:
            assert torch.equal(got[key], want[key]), f"{arch} {key}"


def test_device_is_checked_once_and_asked_for_its_specifics():
    from core.device import Device, available, hardware_name, sync

    d = Device.of("cpu", 1, "contiguous")
    assert (d.kind, d.threads, d.memory_format, d.torch) == ("cpu", 1, "contiguous", torch.device("cpu"))
    before = torch.get_num_threads()
    try:
        assert d.activate() is d and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert Device.of().memory_format == "channels_last" and Device.of().threads is None
    for bad, msg in (("meta", "only cpu and cuda"), ("gpu:x", "is not a device"), ("cpu", "unknown memory_format")):
        with pytest.raises(GreenError, match=msg):
            Device.of(bad, None, "nhwc" if msg.startswith("unknown") else None)
    with pytest.raises(GreenError, match="threads"):
        Device.of("cpu", 0)
    if not torch.cuda.is_available():
        with pytest.raises(GreenError, match="device=cuda: CUDA is not available on this machine; use device=cpu"):
            Device.of("cuda")
        assert not available("cuda")
    assert available("cpu") and isinstance(hardware_name(torch.device("cpu")), str) and d.hardware()
    sync(d.torch)  # a no-op on the CPU
    net = torch.nn.Conv2d(3, 4, 3)
    assert format_of(Device.of("cpu", None, "channels_last").place(net)) == "channels_last"


@pytest.mark.parametrize("others, cpus, cores, want", [(0.0, 2, 2, 2), (0.3, 2, 2, 2), (0.8, 2, 2, 1), (2.0, 2, 2, 1),
                                                      (16.0, 64, 8, 6), (float("nan"), 2, 2, 2)])
def test_free_cores_leave_other_processes_their_cores(monkeypatch, others, cpus, cores, want):
    """Other processes' CPU use over the window (machine-wide; a container's host's) takes its share of this
    process's cores; at least one is always left."""
    snaps = iter([load.Snapshot(0.0, 0.0, 100.0, 10.0), load.Snapshot(1.0, 0.0, 100.0 + others, 10.0)])
    monkeypatch.setattr(load, "snapshot", lambda: next(snaps))
    monkeypatch.setattr(load, "available_cores", lambda: cores)
    monkeypatch.setattr(load.os, "cpu_count", lambda: cpus)
    monkeypatch.setattr(load.time, "sleep", lambda s: None)
    assert load.free_cores() == want
