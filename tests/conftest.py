"""Shared fixtures: the tiny registered space, a trained-looking supernet, composed configs."""
from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from hydra.utils import instantiate

from supernet.net import SuperNet

SHARED_CIFAR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cifar10"


def make_cfg(tmp_path: Path, *overrides: str):
    """The train config composed as ``green-train`` would, writing into ``tmp_path``."""
    with initialize_config_module(config_module="conf", version_base="1.3"):
        return compose("train", overrides=[f"paths.output_dir={tmp_path}", *overrides])


@pytest.fixture(scope="session")
def tiny_space():
    with initialize_config_module(config_module="conf", version_base="1.3"):
        cfg = compose("train")
    return instantiate(cfg.space)


@pytest.fixture(scope="session")
def cifar_space():
    with initialize_config_module(config_module="conf", version_base="1.3"):
        cfg = compose("train", overrides=["space=cifar"])
    return instantiate(cfg.space)


def scramble(net: SuperNet, seed: int = 0) -> SuperNet:
    """Give a fresh supernet non-trivial BN statistics and kernel transforms, as training would."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if "ks_transform" in name:
                p.add_(0.1 * torch.randn(p.shape, generator=g))
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
    return net


@pytest.fixture
def tiny_net(tiny_space):
    torch.manual_seed(0)
    return scramble(SuperNet(tiny_space, num_classes=10, in_chans=1)).eval()


@pytest.fixture
def rng():
    return random.Random(0)


@pytest.fixture(scope="session")
def tiny_table(tmp_path_factory):
    """A quickly measured table of the tiny space, energy labelled as on a machine without counters."""
    import search.hardware.lut as lut

    tmp = tmp_path_factory.mktemp("lut")
    mp = pytest.MonkeyPatch()
    mp.setattr(lut, "find_meter", lambda device: None)
    try:
        with initialize_config_module(config_module="conf", version_base="1.3"):
            cfg = compose("lut", overrides=[f"paths.output_dir={tmp}", *LUT_FAST])
        return lut.build_table(cfg)
    finally:
        mp.undo()


LUT_FAST = ["protocol.trials=2", "protocol.warmup=1", "protocol.min_call_ms=0.5", "calib.subnets=2",
            "batch_sizes=[1,4]", "energy.power_window_s=1", "validate.subnets=3", "validate.trials=1"]


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory):
    """A briefly trained tiny supernet on digits (its last.ckpt)."""
    from supernet.train import train

    tmp = tmp_path_factory.mktemp("train")
    train(make_cfg(tmp, "experiment=smoke", "epochs=2", "data.train_subset=512", "module.calib_images=128",
                   "trainer.enable_progress_bar=false"))
    return tmp / "checkpoints" / "last.ckpt"


TABLE_FAST = ["table.subnets=3", "table.strata=1", "table.pool=50", "table.seeds=2", "epochs=2",
              "data.train_subset=256", "calib_images=64", "trainer.enable_progress_bar=false", "threads=1"]


def table_cfg(out, *overrides):
    """The green-table config with tiny budgets (3 subnets, 2 seeds, 2 epochs on 256 digits), writing into ``out``."""
    with initialize_config_module(config_module="conf", version_base="1.3"):
        return compose("table", overrides=[f"paths.output_dir={out}", *TABLE_FAST, *overrides])


@pytest.fixture(scope="session")
def ground_table(tmp_path_factory):
    """(folder, Table): a built ground-truth table of the tiny space on digits."""
    from search.ranking.table import build

    out = tmp_path_factory.mktemp("ground_table")
    return out, build(table_cfg(out))
