"""Few-shot splits: the typed split, the part's space and strategy, training a part, routing to parts."""
import dataclasses
import random

import pytest
import torch

from search.evolution.evaluate import FewShotEvaluator, SubnetEvaluator, load_parts
from supernet.checkpoint import load_supernet
from core.errors import GreenError
from supernet.fewshot import FewShot, Split, SubSpace
from supernet.strategy import Phase, Sandwich
from supernet.train import train

SPLITS = ["depth:0", "depth:1", "kernel:1", "expand:0", "resolution"]


@pytest.mark.parametrize("text", SPLITS)
def test_split_round_trips_and_forces_every_value(tiny_space, text):
    split = Split.parse(text)
    assert str(split) == text and Split.parse(str(split)) == split
    rng = random.Random(0)
    values = split.values(tiny_space)
    assert len(values) == 2
    for _ in range(20):
        arch = tiny_space.sample(rng)
        for v in values:
            forced = split.force(arch, v, tiny_space, rng)
            assert split.value_of(forced) == v and tiny_space.contains(forced)
        assert split.force(arch, split.value_of(arch), tiny_space, rng) == arch  # already in its part


def test_force_depth_truncates_and_extends(tiny_space):
    split = Split.parse("depth:1")
    big = tiny_space.largest()
    short = split.force(big, 1, tiny_space)
    assert short.depths == (big.depths[0], 1) and short.kernel_sizes[1] == big.kernel_sizes[1][:1]
    longer = split.force(short, 2, tiny_space, fill="largest")
    assert longer == big
    assert split.force(tiny_space.smallest(), 2, tiny_space, fill="smallest").kernel_sizes[1] == (3, 3)


@pytest.mark.parametrize("text, message", [("width:1", "unknown few-shot split 'width'"),
                                           ("depth", "needs a stage"), ("resolution:1", "takes no stage"),
                                           ("depth:x", "must be a number"), ("depth:5", "has stages 0 to 1")])
def test_split_bad_input(tiny_space, text, message):
    with pytest.raises(GreenError, match=message):
        Split.parse(text).values(tiny_space)


def test_split_on_a_choice_with_one_value(cifar_space):
    with pytest.raises(GreenError, match="one value .32. there, nothing to split"):
        Split.parse("resolution").values(dataclasses.replace(cifar_space, resolutions=(32,)))


def test_subspace_and_strategy_stay_in_the_part(tiny_space):
    split = Split.parse("depth:0")
    for v in (1, 2):
        sub = SubSpace(tiny_space, split, v)
        assert split.value_of(sub.largest()) == v and split.value_of(sub.smallest()) == v
        assert sub.digest() == tiny_space.digest()  # the full space's weights and identity
        strat = FewShot(Sandwich(num_random=3), split, v)
        for step in range(10):
            archs = strat.archs(tiny_space, Phase("sandwich", 1), random.Random(step))
            assert len(archs) == 5 and all(split.value_of(a) == v for _, a in archs)
    assert SubSpace(tiny_space, split, 2).largest() == tiny_space.largest()
    with pytest.raises(GreenError, match="value 3 is not one of"):
        SubSpace(tiny_space, split, 3)


def _part(compose_cfg, tmp_path, ckpt, value, *extra):
    out = tmp_path / f"part{value}"
    train(compose_cfg("train", "experiment=smoke", "epochs=1", "data.train_subset=256", "module.calib_images=64",
                      "trainer.enable_progress_bar=false", f"init_from={ckpt}", "fewshot.split=depth:0",
                      f"fewshot.value={value}", *extra, output_dir=out))
    return out / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="module")
def parts(tmp_path_factory, tiny_ckpt, compose_cfg):
    tmp = tmp_path_factory.mktemp("fewshot")
    return [_part(compose_cfg, tmp, tiny_ckpt, v) for v in (1, 2)]


@pytest.mark.slow
def test_a_part_starts_from_the_one_shot_weights_and_records_its_split(parts, tiny_ckpt):
    base, _ = load_supernet(tiny_ckpt)
    net, meta = load_supernet(parts[0])
    assert meta["fewshot"] == {"split": "depth:0", "value": 1, "init_from": str(tiny_ckpt)}
    moved = [k for k, v in net.state_dict().items() if v.dtype.is_floating_point
             and not torch.equal(v, base.state_dict()[k])]
    assert moved  # trained further ...
    # ... and started from the one-shot weights: close to them after one short epoch, unlike a fresh net
    w = "head.weight" if "head.weight" in net.state_dict() else next(k for k in net.state_dict() if "weight" in k)
    assert torch.dist(net.state_dict()[w], base.state_dict()[w]) < 0.5 * base.state_dict()[w].norm()


@pytest.mark.slow
def test_routing_scores_each_subnet_with_its_part(parts, tiny_ckpt, compose_cfg):
    from hydra.utils import instantiate

    split, nets = load_parts([str(p) for p in parts])
    assert str(split) == "depth:0" and sorted(nets) == [1, 2]
    dm = instantiate(compose_cfg("train", "experiment=smoke").data)
    evs = {v: SubnetEvaluator(n, dm, 64, 100) for v, (n, _) in nets.items()}
    router = FewShotEvaluator(split, evs)
    rng = random.Random(0)
    for _ in range(6):
        arch = nets[1][0].space.sample(rng)
        assert router(arch)["acc"] == evs[split.value_of(arch)](arch)["acc"]
    assert router.val_images == 100


@pytest.mark.slow
def test_load_parts_refuses_incomplete_or_foreign_sets(parts, tiny_ckpt):
    with pytest.raises(GreenError, match=r"miss the value\(s\) \[2\]"):
        load_parts([str(parts[0])])
    with pytest.raises(GreenError, match="not a few-shot part"):
        load_parts([str(parts[0]), str(tiny_ckpt)])
    with pytest.raises(GreenError, match="two few-shot parts"):
        load_parts([str(parts[0]), str(parts[0])])


@pytest.mark.parametrize("extra, message", [
    (["fewshot.split=depth:0", "fewshot.value=1"], "pass init_from="),
    (["fewshot.split=depth:9", "fewshot.value=1", "init_from=X"], "has stages 0 to 1"),
    (["fewshot.split=depth:0", "init_from=X"], "needs fewshot.value"),
    (["fewshot.split=depth:0", "fewshot.value=7", "init_from=X"], "value 7 is not one of"),
])
def test_green_train_fewshot_bad_input(tmp_path, compose_cfg, extra, message):
    with pytest.raises(GreenError, match=message):
        train(compose_cfg("train", "experiment=smoke", "epochs=1", *extra, output_dir=tmp_path))


def test_init_from_of_another_space(tmp_path, tiny_ckpt, compose_cfg):
    with pytest.raises(GreenError, match="another space"):
        train(compose_cfg("train", "experiment=smoke", "space=cifar", "epochs=1", f"init_from={tiny_ckpt}",
                          output_dir=tmp_path))
    with pytest.raises(GreenError, match="does not exist"):
        train(compose_cfg("train", "experiment=smoke", "epochs=1", "init_from=/no/such.ckpt", output_dir=tmp_path))
