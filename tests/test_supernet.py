import copy
import random

import pytest
import torch
import torch.nn.functional as F

from supernet.arch import ArchConfig
from supernet.bn import recalibrate_bn
from supernet.net import GreenNet, SuperNet, extract_subnet


def _archs(space, n=6, seed=0):
    rng = random.Random(seed)
    return [space.smallest(), space.middle(), space.largest()] + [space.sample(rng) for _ in range(n)]


@pytest.mark.parametrize("space_name", ["tiny_space", "cifar_space"])
def test_extracted_subnet_equals_supernet(space_name, request, scramble):
    space = request.getfixturevalue(space_name)
    torch.manual_seed(0)
    net = scramble(SuperNet(space, num_classes=10, in_chans=3)).eval()
    x = torch.randn(4, 3, space.resolutions[-1], space.resolutions[-1])
    for arch in _archs(space):
        static = extract_subnet(net, arch).eval()
        assert isinstance(static, GreenNet) and static.arch == arch
        assert not any("ks_transform" in n for n, _ in static.named_parameters())
        with torch.no_grad():
            diff = (static(x) - net(x, arch)).abs().max().item()
        assert diff <= 1e-4, f"{arch}: {diff}"


def test_extracted_params_are_fewer_for_smaller_archs(tiny_net, tiny_space):
    n = lambda a: sum(p.numel() for p in extract_subnet(tiny_net, a).parameters())  # noqa: E731
    assert n(tiny_space.smallest()) < n(tiny_space.middle()) < n(tiny_space.largest())


def test_kernel_transform_identity_is_centre_crop(tiny_space):
    net = SuperNet(tiny_space, num_classes=10, in_chans=1)
    block = net.blocks[0][0]
    full = block.conv_dw.weight
    assert torch.equal(block.dw_weight(3), full[:, :, 1:4, 1:4])
    assert torch.equal(block.dw_weight(5), full)


def test_kernel_transform_applies_learned_matrix(tiny_space):
    net = SuperNet(tiny_space, num_classes=10, in_chans=1)
    block = net.blocks[0][0]
    m = torch.randn(9, 9)
    with torch.no_grad():
        block.ks_transform["5to3"].copy_(m)
    centre = block.conv_dw.weight[:4, :, 1:4, 1:4]
    want = (centre.reshape(4, 9) @ m).reshape(4, 1, 3, 3)
    assert torch.allclose(block.dw_weight(3, 4), want)
    # the transform gets gradients from a subnet using the small kernel
    x = torch.randn(2, 1, 16, 16)
    arch = ArchConfig(16, ((3,), (3,)), ((2,), (2,)))
    net(x, arch).sum().backward()
    assert block.ks_transform["5to3"].grad is not None and block.ks_transform["5to3"].grad.abs().sum() > 0


def test_depth_runs_first_blocks_only(tiny_net, tiny_space):
    arch = ArchConfig(16, ((5,), (5, 5)), ((3,), (3, 3)))
    x = torch.randn(2, 1, 16, 16)
    with torch.no_grad():
        y = tiny_net(x, arch)
        # by hand: stem, first block of stage 0, both blocks of stage 1, head
        h = tiny_net.forward_stem(x)
        h = tiny_net.blocks[0][0](h, 5, 3)
        h = tiny_net.blocks[1][1](tiny_net.blocks[1][0](h, 5, 3), 5, 3)
        assert torch.allclose(y, tiny_net.forward_head(h))
    # the skipped block receives no gradient
    tiny_net.train()
    tiny_net(x, arch).sum().backward()
    assert all(p.grad is None for p in tiny_net.blocks[0][1].parameters())
    assert tiny_net.blocks[0][0].conv_pw.weight.grad is not None


def test_width_uses_first_channels_and_slices_bn_stats(tiny_space):
    net = SuperNet(tiny_space, num_classes=10, in_chans=1).train()
    block = net.blocks[1][0]  # SE block, in_chs 8: widths 16 (e2) and 24 (e3)
    before = block.bn1.running_mean.clone()
    arch = ArchConfig(16, ((5,), (5,)), ((3,), (2,)))
    net(torch.randn(4, 1, 16, 16), arch).sum().backward()
    mid = block.mid_chs(2)
    assert mid == 16 and block.conv_pw.out_channels == 24
    changed = block.bn1.running_mean != before
    assert changed[:mid].all() and not changed[mid:].any()
    assert block.conv_pw.weight.grad[mid:].abs().sum() == 0
    assert block.conv_pw.weight.grad[:mid].abs().sum() > 0
    assert block.se.conv_expand.weight.grad[mid:].abs().sum() == 0


def test_sort_channels_keeps_largest_function_and_orders_importance(tiny_net, tiny_space):
    x = torch.randn(4, 1, 16, 16)
    opt = torch.optim.SGD(tiny_net.parameters(), lr=0.1, momentum=0.9)
    tiny_net.train()
    F.cross_entropy(tiny_net(x), torch.arange(4)).backward()
    opt.step()
    tiny_net.eval()
    with torch.no_grad():
        before = tiny_net(x)
    block = tiny_net.blocks[1][0]
    w_before = block.conv_pw.weight.clone()
    mom_before = opt.state[block.conv_pw.weight]["momentum_buffer"].clone()
    tiny_net.sort_channels(opt)
    with torch.no_grad():
        after = tiny_net(x)
    assert torch.allclose(before, after, atol=1e-5)
    imp = block.conv_pwl.weight.abs().sum(dim=(0, 2, 3))
    assert torch.all(imp[:-1] >= imp[1:])
    # the momentum followed its parameter's rows
    perm = [int(torch.nonzero((w_before == row).all(dim=(1, 2, 3)))[0]) for row in block.conv_pw.weight]
    assert torch.equal(opt.state[block.conv_pw.weight]["momentum_buffer"], mom_before[perm])


def test_active_context_manager_restores(tiny_net, tiny_space):
    x = torch.randn(2, 1, 16, 16)
    small = tiny_space.smallest()
    assert tiny_net.arch == tiny_space.largest()
    with torch.no_grad(), tiny_net.active(small):
        assert tiny_net.arch == small
        assert torch.equal(tiny_net(x), tiny_net(x, small))
    assert tiny_net.arch == tiny_space.largest()


def test_elastic_resolution_resizes_input(tiny_net, tiny_space):
    arch = tiny_space.smallest()  # resolution 12
    x = torch.randn(2, 1, 16, 16)
    x12 = F.interpolate(x, size=(12, 12), mode="bilinear", align_corners=False)
    with torch.no_grad():
        assert torch.allclose(tiny_net(x, arch), tiny_net(x12, arch))


def test_recalibrate_bn_is_cumulative_average_and_restores_state(tiny_space):
    net = SuperNet(tiny_space, num_classes=10, in_chans=1).eval()
    net.bn1.momentum = 0.3
    batches = [torch.randn(8, 1, 16, 16) * s + s for s in (1.0, 2.0, 3.0)]
    assert recalibrate_bn(net, batches) == 3
    assert not net.training and not net.bn1.training and net.bn1.momentum == 0.3
    with torch.no_grad():
        stem = [net.conv_stem(b) for b in batches]
    want = torch.stack([s.mean(dim=(0, 2, 3)) for s in stem]).mean(0)
    assert torch.allclose(net.bn1.running_mean, want, atol=1e-5)
    assert int(net.bn1.num_batches_tracked) == 3


def test_extract_with_batches_recalibrates_static_only(tiny_net, tiny_space):
    arch = tiny_space.middle()
    batches = [torch.randn(8, 1, 16, 16) for _ in range(2)]
    sup_state = copy.deepcopy(tiny_net.state_dict())
    static = extract_subnet(tiny_net, arch, batches)
    for k, v in tiny_net.state_dict().items():
        assert torch.equal(v, sup_state[k]), k
    assert int(static.bn1.num_batches_tracked) == 2
    # same as recalibrating the supernet in place for that arch
    recalibrate_bn(tiny_net, batches, forward=lambda x: tiny_net(x, arch))
    x = torch.randn(3, 1, 16, 16)
    with torch.no_grad():
        assert torch.allclose(static.eval()(x), tiny_net(x, arch), atol=1e-4)
