"""Elastic output channels per stage (issue 17): the arch string's width field, the space's width choices,
the supernet running and extracting any width exactly, sorting output channels, and their cost."""
from __future__ import annotations

import importlib.util
import json
import random

import pytest
import torch

from search.hardware.cost import arch_ops, count, count_net, space_ops
from supernet.arch import ArchConfig
from core.errors import ArchError, GreenError, SpaceError
from supernet.net import SuperNet, extract_subnet
from supernet.space import SearchSpace, StageSpace

STAGES = (StageSpace(16, 1, (1, 2), (3, 5), (2.0, 3.0), widths=(0.5, 1.0)),
          StageSpace(24, 2, (1, 2), (3, 5), (2.0, 3.0), se=True, act="hard_swish", widths=(0.5, 1.0)),
          StageSpace(40, 2, (1, 2), (3,), (2.0, 4.0), widths=(0.5, 0.75, 1.0)))


@pytest.fixture(params=[0, 32], ids=["no_head_conv", "head_conv"])
def wide(request):
    return SearchSpace(STAGES, stem_chs=16, head_chs=request.param, resolutions=(12, 16), name="wide")


def _net(space):
    torch.manual_seed(0)
    net = SuperNet(space, 10, 3).eval()
    for m in net.modules():  # BN statistics away from (0, 1): a wrong slice shows in the logits
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return net


def test_the_arch_string_carries_a_width_per_stage_and_old_strings_stay_as_they_were(wide, tiny_space):
    a = ArchConfig.parse("r12_w0.5-k3e2_w1-k5e3-k3e2_w0.75-k3e4")
    assert a.widths == (0.5, 1.0, 0.75) and str(a) == "r12_w0.5-k3e2_w1-k5e3-k3e2_w0.75-k3e4"
    assert ArchConfig.from_dict(a.to_dict()) == a and wide.validate(str(a)) == a
    old = tiny_space.sample(random.Random(0))
    assert old.widths is None and "w" not in str(old) and ArchConfig.parse(str(old)) == old
    assert tiny_space.to_dict()["stages"][0].keys().isdisjoint({"widths"})  # digests of older spaces unchanged


@pytest.mark.parametrize("text, message", [
    ("r12_k3e2_k5e3_k3e4", "has no width per stage, and this space chooses them"),
    ("r12_w0.6-k3e2_w1-k5e3_w1-k3e4", "stage 0 width 0.6 not in choices"),
    ("r12_w0.5-k3e2_k5e3_w1-k3e4", "a width .* starts every stage or none"),
    ("r12_w1.5-k3e2_w1-k5e3_w1-k3e4", r"width 1.5 is outside \(0, 1\]"),
])
def test_bad_widths_in_an_arch_are_one_line(wide, text, message):
    with pytest.raises(ArchError, match=message):
        wide.validate(text)


def test_widths_on_a_space_without_them_are_refused(tiny_space):
    arch = tiny_space.smallest()
    with pytest.raises(ArchError, match="this space has no width choice"):
        tiny_space.validate(ArchConfig(arch.resolution, arch.kernel_sizes, arch.exp_ratios, (1.0,) * len(arch.depths)))


@pytest.mark.parametrize("widths, message", [((0.0, 1.0), r"in \(0, 1\]"), ((1.0, 1.5), r"in \(0, 1\]"),
                                              ((0.9, 1.0), "round to .* the same subnet")])
def test_bad_width_choices_of_a_space_are_refused(widths, message):
    with pytest.raises(SpaceError, match=message):
        StageSpace(24, 1, (1,), (3,), (2.0,), widths=widths)


@pytest.mark.slow_after_first
def test_any_width_runs_and_extracts_exactly(wide):
    net, rng = _net(wide), random.Random(0)
    x = torch.randn(4, 3, 16, 16)
    archs = [wide.smallest(), wide.middle(), wide.largest()] + [wide.sample(rng) for _ in range(20)]
    assert len({a.widths for a in archs}) > 4
    for arch in archs:
        static = extract_subnet(net, arch).eval()
        assert (static(x) - net(x, arch)).abs().max() <= 1e-4, arch
        assert wide.decode(wide.encode(arch)) == arch
        assert count(wide, arch, 10, 3) == count_net(static, arch.resolution, 3)  # the cost model's own figures
    assert extract_subnet(net, wide.smallest()).blocks[0][0].conv_pwl.out_channels == 8


def test_sorting_output_channels_leaves_the_full_net_unchanged_and_moves_important_ones_first(wide):
    net = _net(wide)
    x = torch.randn(4, 3, 16, 16)
    before, small = net(x, wide.largest()), net(x, wide.smallest())
    net.sort_channels()
    assert torch.allclose(net(x, wide.largest()), before, atol=1e-5)
    assert not torch.allclose(net(x, wide.smallest()), small)  # narrow subnets now use the important channels
    reader = net.blocks[2][0].conv_pw.weight.abs().sum(dim=(0, 2, 3))  # stage 2 reads stage 1's channels
    assert reader[:16].mean() >= reader[16:].mean()


def test_the_cost_table_prices_every_width(wide):
    keys = {op.key for op in space_ops(wide)}
    rng = random.Random(1)
    for arch in [wide.smallest(), wide.largest()] + [wide.sample(rng) for _ in range(30)]:
        assert {op.key for op in arch_ops(wide, arch)} <= keys
    assert any(k.startswith("head_c24_") for k in keys) and any(k.startswith("head_c40_") for k in keys)


def test_the_cifar_space_reaches_below_the_compact_baselines(cifar_space):
    """Issue 17: widths, resolutions 24-32 and expand ratio 2 reach a smallest subnet under MobileNetV3-Small
    0.5's 2.3 M MACs (the measured comparison is bench/results/cost_range.json)."""
    assert cifar_space.has_widths and cifar_space.resolutions == (24, 28, 32)
    macs_small = count(cifar_space, cifar_space.smallest(), 10, 3)[1]
    macs_large = count(cifar_space, cifar_space.largest(), 10, 3)[1]
    assert macs_small < 2.3e6 and macs_large / macs_small > 10


def test_a_strategy_that_never_opens_channels_is_refused_on_a_space_with_widths(wide):
    from supernet.module import SupernetModule
    from supernet.strategy import Progressive

    frozen = Progressive([{"name": "full", "epochs": 1, "open": []}, {"name": "k", "epochs": 1, "open": ["kernel"]}])
    with pytest.raises(GreenError, match="no phase of the Progressive strategy opens 'channels'"):
        SupernetModule(SuperNet(wide, 10, 3), frozen, optimizer=lambda p: torch.optim.SGD(p, lr=0.1))


def test_drawing_in_a_space_without_widths_is_as_before(tiny_space):
    """The channel dimension draws nothing where there is no width choice: old seeds give old subnets."""
    rng = random.Random(5)
    got = [str(tiny_space.sample(rng)) for _ in range(3)]
    ref = random.Random(5)
    want = []
    for _ in range(3):
        res = ref.choice(tiny_space.resolutions)
        stages = []
        for s in tiny_space.stages:
            d = ref.choice(s.depths)
            ks = [ref.choice(s.kernel_sizes) for _ in range(d)]
            es = [ref.choice(s.exp_ratios) for _ in range(d)]
            stages.append((tuple(ks), tuple(es)))
        want.append(str(ArchConfig(res, tuple(k for k, _ in stages), tuple(e for _, e in stages))))
    assert got == want


WIDE = ["+space.stages.1.widths=[0.5,1.0]"]  # the tiny space, its last stage with widths (8 or 16 channels)


@pytest.mark.slow
def test_train_price_search_and_extract_a_space_with_widths(tmp_path, compose_cfg, lut_cfg, search_cfg, monkeypatch):
    """The commands run on the new dimension: a supernet with widths trains, its table prices every width, a
    search over it, the extraction (with its ONNX export), fine-tuning and HPO of a winner work, and the extracted
    model is the supernet's subnet."""
    import search.hardware.lut as lut
    from search.deploy.export import load_subnet
    from search.deploy.extract import extract
    from search.evolution.search import search
    from supernet.checkpoint import load_supernet
    from supernet.train import train

    train(compose_cfg("train", "experiment=smoke", *WIDE, "epochs=1", "data.train_subset=256", "module.calib_images=64",
                      "trainer.enable_progress_bar=false", output_dir=tmp_path / "train"))
    ckpt = tmp_path / "train" / "checkpoints" / "last.ckpt"
    monkeypatch.setattr(lut, "find_meter", lambda device: None)
    table = lut.build_table(lut_cfg(tmp_path / "lut", *WIDE))
    front = search(search_cfg(tmp_path / "search", ckpt, table, "search.population=6", "search.generations=1"))
    widths = {m["arch"].split("_")[2].split("-")[0] for m in front.to_json()["front"]}
    assert widths <= {"w0.5", "w1"} and front.unique_evals == 12
    folder = extract(compose_cfg("extract", f"ckpt={ckpt}", f"pareto={tmp_path / 'search'}", "index=0",
                                 "calib_images=64", output_dir=tmp_path / "extract"))
    meta = json.loads((folder / "arch.json").read_text())
    if importlib.util.find_spec("onnxruntime"):  # the ONNX export of a subnet with widths runs as the model does
        assert meta["onnx"]["checked"] and meta["onnx"]["max_abs_diff"] < 1e-3
    model = load_subnet(folder)
    net, _ = load_supernet(ckpt)
    assert model.arch.widths is not None and model.arch in {net.space.validate(m["arch"]) for m in front.to_json()["front"]}
    static = extract_subnet(net.eval(), model.arch)
    saved, made = model.state_dict(), static.state_dict()
    assert saved.keys() == made.keys() and all(saved[k].shape == made[k].shape for k in saved)
    assert all(torch.equal(saved[k], made[k]) for k in saved if "conv" in k)  # inherited weights (BN recalibrated)
    from search.deploy.finetune import finetune
    from search.tuning.hpo import hpo

    rows = finetune(compose_cfg("finetune", f"ckpt={ckpt}", f"archs=[{model.arch}]", "epochs=1", "data.train_subset=128",
                                "calib_images=64", "trainer.enable_progress_bar=false", "measure.enabled=false",
                                "onnx=false", output_dir=tmp_path / "finetune"))
    assert [r["arch"] for r in rows] == [str(model.arch)]
    res = hpo(compose_cfg("hpo", f"ckpt={ckpt}", f"archs=[{model.arch}]", "epochs=1", "data.train_subset=128",
                          "calib_images=64", "hpo.population=2", "hpo.generations=0", "hpo.prune.enabled=false",
                          "progress=false", "hpo.select_images=48", "hpo.report_images=64",
                          "trainer.enable_progress_bar=false", output_dir=tmp_path / "hpo"))
    assert res["winners"][0]["arch"] == str(model.arch)


def test_the_old_cifar_space_keeps_its_digest(compose_cfg):
    """cifar_v1 is the cifar space of before issue 17: its tables, checkpoints and run folders still match."""
    from hydra.utils import instantiate

    assert instantiate(compose_cfg("train", "space=cifar_v1").space).digest() == "a50fbc1ded693147"
    assert instantiate(compose_cfg("train", "experiment=cifar10_small").space).digest() == "2a541a4849aff467"


def test_a_partial_space_given_to_a_command_that_reads_the_checkpoints_is_one_error(tmp_path, tiny_ckpt, tiny_table,
                                                                                     search_cfg):
    from search.evolution.search import search

    with pytest.raises(GreenError, match="is not a whole search space: choose one with space=<name>"):
        search(search_cfg(tmp_path, tiny_ckpt, tiny_table, "+space.stages.1.widths=[0.5,1.0]"))


def test_a_width_off_the_grid_is_printed_exactly_not_rounded_to_a_valid_looking_value():
    from supernet.arch import fmt_ratio

    assert fmt_ratio(0.5) == "0.5" and fmt_ratio(6.0) == "6" and fmt_ratio(4.5) == "4.5"
    assert fmt_ratio(0.5000001) == "0.5000001"  # f"{x:g}" would print 0.5, a valid choice
