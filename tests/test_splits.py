"""Stratified splits and long-tailed subsets (issue 18): proportions in every slice, the profile, bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from supernet.checkpoint import check_data
from supernet.datasets import DigitsDataModule
from core.errors import DataError, GreenError
from supernet.splits import long_tail, long_tail_counts, split_order, stratified_order


def test_every_slice_of_a_stratified_order_keeps_the_class_proportions():
    labels = np.repeat(np.arange(4), [400, 300, 200, 100])  # 40%, 30%, 20%, 10%
    order = stratified_order(labels, seed=3)
    assert sorted(order.tolist()) == list(range(1000))
    share = np.array([0.4, 0.3, 0.2, 0.1])
    for start, size in ((0, 100), (100, 250), (517, 300), (900, 100)):
        counts = np.bincount(labels[order[start:start + size]], minlength=4)
        assert np.all(np.abs(counts - size * share) <= 1.0), (start, size, counts)
    # a random order of the same labels is far from that in some slice of 100
    rand = split_order(labels, "random", 3)
    worst = max(np.abs(np.bincount(labels[rand[s:s + 100]], minlength=4) - 100 * share).max() for s in range(0, 1000, 100))
    assert worst > 1.0


def test_the_random_split_is_the_permutation_of_earlier_versions():
    assert split_order(np.zeros(50, dtype=int), "random", 7).tolist() == \
        torch.randperm(50, generator=torch.Generator().manual_seed(7)).tolist()
    assert stratified_order(np.arange(20) % 3, 1).tolist() == stratified_order(np.arange(20) % 3, 1).tolist()


def test_long_tail_follows_the_exponential_profile():
    counts = long_tail_counts([5000] * 10, 10)
    assert counts[0] == 5000 and counts[-1] == 500 and counts == sorted(counts, reverse=True)
    assert counts[4] == int(5000 * 10 ** (-4 / 9))  # 1,795: the long-tailed CIFAR-10 of the literature
    assert long_tail_counts([5000] * 10, 100)[-1] == 50 and long_tail_counts([30, 10], 2) == [30, 10]
    labels = np.repeat(np.arange(3), 100)
    keep = long_tail(labels, 3, 4, seed=0)
    assert np.bincount(labels[keep]).tolist() == [100, 50, 25] and np.all(np.diff(keep) > 0)


@pytest.mark.parametrize("kwargs, message", [
    ({"split": "stratify"}, "unknown data.split 'stratify'"),
    ({"imbalance_ratio": 0.5}, "data.imbalance_ratio must be null or a number >= 1"),
    ({"imbalance_ratio": "ten"}, "data.imbalance_ratio must be null or a number >= 1"),
])
def test_bad_split_settings_are_one_line(kwargs, message):
    with pytest.raises(DataError, match=message):
        DigitsDataModule(image_size=8, **kwargs)


def test_a_class_without_validation_images_is_named():
    dm = DigitsDataModule(image_size=8, val_size=5)
    with pytest.raises(DataError, match=r"class '\d' has no validation image after stratification \(5 validation"):
        dm.setup()


def test_an_extreme_imbalance_names_the_ratio_not_the_validation_size():
    dm = DigitsDataModule(image_size=8, val_size=0.2, imbalance_ratio=1e9)  # the tail classes keep 1 image each
    with pytest.raises(DataError, match=r"keeps 1 image under data.imbalance_ratio=1e\+09, too few .*: lower "
                                        r"data.imbalance_ratio$"):
        dm.setup("fit")


def test_a_long_tailed_digits_split_keeps_its_profile_and_a_balanced_test_split():
    dm = DigitsDataModule(image_size=8, val_size=0.2, imbalance_ratio=10)
    dm.setup()
    train = np.bincount(dm.train_targets.numpy(), minlength=10)
    val = np.bincount(dm.val_targets.numpy(), minlength=10)
    pool = train + val
    assert pool[0] / pool[-1] == pytest.approx(10, rel=0.1) and np.all(np.diff(pool) <= 0)
    assert np.all(np.abs(val - 0.2 * pool) <= 1)  # validation keeps the long tail's proportions
    test = np.bincount(dm.test_set.__getitems__(list(range(len(dm.test_set))))[1].numpy(), minlength=10)
    assert test.max() - test.min() <= 2  # the test split keeps the (balanced) proportions of the source
    assert dm.split_key() == {"split": "stratified", "imbalance_ratio": 10.0}


def test_a_checkpoint_of_before_stratification_needs_the_random_split():
    old = {"data": {"classes": [str(i) for i in range(10)], "seed": 0, "val_size": 0.1}}  # no split key
    with pytest.raises(GreenError, match="split: trained 'random' vs now 'stratified'"):
        check_data(DigitsDataModule(image_size=8), old)
    check_data(DigitsDataModule(image_size=8, split="random"), old)
    with pytest.raises(GreenError, match="imbalance_ratio: trained None vs now 10.0"):
        check_data(DigitsDataModule(image_size=8, imbalance_ratio=10), {"data": {**old["data"], "split": "stratified"}})


def test_the_balanced_sampler_draws_every_class_equally_and_repeatably():
    from supernet.splits import BalancedSampler

    labels = torch.tensor([0] * 900 + [1] * 90 + [2] * 10)
    s = BalancedSampler(labels, seed=4)
    s.set_epoch(2)
    first = list(s)
    counts = np.bincount(labels[first].numpy(), minlength=3)
    assert len(first) == 1000 and np.all(np.abs(counts - 1000 / 3) < 60)  # 3 sd of a binomial(1000, 1/3) is 45
    assert list(s) == first
    s.set_epoch(3)
    assert list(s) != first


def test_class_weights_follow_the_inverse_frequency():
    dm = DigitsDataModule(image_size=8, imbalance_ratio=10, balance="loss")
    dm.setup()
    w = dm.class_weights()
    counts = torch.bincount(dm.train_targets, minlength=10).float()
    assert torch.allclose(w * counts, torch.full((10,), len(dm.train_targets) / 10))
    assert float((w[dm.train_targets]).mean()) == pytest.approx(1.0)  # the mean weight of an image is 1
    assert DigitsDataModule(image_size=8).class_weights() is None
    with pytest.raises(DataError, match="unknown data.balance 'equal'; choose from none, loss, sampler"):
        DigitsDataModule(image_size=8, balance="equal")
    assert dm.rebalanced("sampler").balance == "sampler" and dm.balance == "loss"


@pytest.mark.parametrize("balance", ["loss", "sampler"])
def test_training_uses_the_class_aware_option(balance, compose_cfg, tmp_path):
    """green-finetune's recipe trains with the weighted loss or the balanced sampler the data asks for."""
    from hydra.utils import instantiate

    from search.training.fit import fit
    from supernet.net import GreenNet

    cfg = compose_cfg("finetune", "epochs=1", f"data.balance={balance}", "data.imbalance_ratio=10",
                      "trainer.enable_progress_bar=false", "+trainer.limit_train_batches=2", output_dir=tmp_path)
    dm = instantiate(cfg.data)
    dm.setup()
    space = instantiate(compose_cfg("train", "experiment=smoke").space)
    model = GreenNet(space, space.smallest(), 10, 1)
    module, trainer, _ = fit(model, "m", dm, cfg, tmp_path, 0, torch.device("cpu"), "USA")
    if balance == "loss":
        assert torch.equal(module.class_weight, dm.class_weights())
    else:
        assert module.class_weight is None
        assert type(trainer.train_dataloader.sampler).__name__ == "BalancedSampler"
