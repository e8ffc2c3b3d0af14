import json
import random

import pytest

from supernet.arch import ArchConfig
from core.errors import ArchError, SpaceError
from supernet.space import SearchSpace, StageSpace


def test_named_archs_are_valid_and_ordered(tiny_space):
    small, mid, large = tiny_space.smallest(), tiny_space.middle(), tiny_space.largest()
    for a in (small, mid, large):
        assert tiny_space.validate(a) is a
    assert small.depths == (1, 1) and large.depths == (2, 2)
    assert small.resolution == 12 and large.resolution == 16
    assert len({str(small), str(mid), str(large)}) == 3


def test_string_json_and_genome_round_trips(tiny_space, cifar_space):
    for space in (tiny_space, cifar_space):
        rng = random.Random(1)
        for _ in range(50):
            a = space.sample(rng)
            assert ArchConfig.parse(str(a)) == a
            assert ArchConfig.from_json(a.to_json()) == a
            assert ArchConfig.from_dict(json.loads(json.dumps(a.to_dict()))) == a
            g = space.encode(a)
            assert len(g) == len(space.gene_sizes())
            assert space.decode(g) == a


def test_string_form_is_short_and_readable():
    a = ArchConfig(32, ((3,), (5, 7)), ((4,), (6, 2.5)))
    assert str(a) == "r32_k3e4_k5e6-k7e2.5"


def test_canonical_genome_zeroes_skipped_blocks(tiny_space):
    g = tiny_space.encode(tiny_space.smallest())
    noisy = list(g)
    # stage 0 is at depth 1: genes of its second block are free; set them to non-zero
    first_block_of_stage0 = 1 + len(tiny_space.stages)
    noisy[first_block_of_stage0 + 2] = 1
    noisy[first_block_of_stage0 + 3] = 1
    assert noisy != g
    assert tiny_space.decode(noisy) == tiny_space.smallest()
    assert tiny_space.canonical(noisy) == tuple(g)


def test_sample_respects_closed_dimensions(cifar_space):
    rng = random.Random(0)
    large = cifar_space.largest()
    for _ in range(20):
        a = cifar_space.sample(rng, open=("kernel",))
        assert a.depths == large.depths and a.exp_ratios == large.exp_ratios
    assert {k for _ in range(20) for s in cifar_space.sample(rng).kernel_sizes for k in s} == {3, 5, 7}


@pytest.mark.parametrize("text, field", [
    ("r20_k3e2_k3e2", "resolution 20"),
    ("r16_k7e2_k3e2", "stage 0 block 0 kernel_size 7"),
    ("r16_k3e2_k3e9", "stage 1 block 0 exp_ratio 9"),
    ("r16_k3e2-k3e2-k3e2_k3e2", "stage 0 depth 3"),
    ("r16_k3e2", "has 1 stages"),
])
def test_out_of_space_arch_names_the_field(tiny_space, text, field):
    with pytest.raises(ArchError, match=field):
        tiny_space.validate(text)


@pytest.mark.parametrize("text", ["", "k3e2", "r16_k3x2", "r16__k3e2", "r16_k3e2-"])
def test_malformed_arch_string(text):
    with pytest.raises(ArchError, match="malformed"):
        ArchConfig.parse(text)


def test_bad_genome(tiny_space):
    with pytest.raises(ArchError, match="genes"):
        tiny_space.decode([0, 1])
    g = tiny_space.encode(tiny_space.largest())
    g[0] = 5
    with pytest.raises(ArchError, match="gene 0"):
        tiny_space.decode(g)


def test_bad_space_definitions():
    with pytest.raises(SpaceError, match="odd"):
        StageSpace(16, 1, (1,), (4,), (3,))
    with pytest.raises(SpaceError, match="stride"):
        StageSpace(16, 3, (1,), (3,), (3,))
    with pytest.raises(SpaceError, match="no stages"):
        SearchSpace(stages=())


def test_space_dict_round_trip_and_digest(tiny_space, cifar_space):
    again = SearchSpace.from_dict(json.loads(json.dumps(tiny_space.to_dict())))
    assert again == tiny_space and again.digest() == tiny_space.digest()
    assert tiny_space.digest() != cifar_space.digest()
