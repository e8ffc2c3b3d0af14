"""green-hpo: the hyperparameter space, early stopping, held-out slices, the search itself, its outputs, its errors."""
from __future__ import annotations

import math
import random
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from hydra.utils import instantiate
from safetensors.torch import load_file

from search.training.fit import init_weights, make_optimizer
from search.tuning.hpo import hpo
from search.tuning.slices import carve, slice_indices
from search.tuning.space import HyperSpace
from search.tuning.trials import Pruner
from supernet.arch import ArchConfig
from supernet.checkpoint import load_supernet
from supernet.datasets import DigitsDataModule
from core.errors import GreenError
from supernet.net import GreenNet
from search.evolution.state import read_cache

ROOT = Path(__file__).resolve().parents[1]
SPACE = dict(optimizer=["sgd", "adamw", "rmsprop"], lr={"low": 1e-3, "high": 0.1, "steps": 3, "log": True},
             weight_decay=[0.0, 1e-4], l1=[0.0, 1e-5], dropout=[0.0, 0.2], label_smoothing=[0.0, 0.1],
             init=["inherited", "he"])


def test_space_grid_and_genome_round_trip():
    space = HyperSpace(**SPACE)
    assert space.choices["lr"] == (0.001, 0.01, 0.1)
    assert space.gene_sizes() == [3, 3, 2, 2, 2, 2, 2]
    # names are unordered, numeric grids ordered; a list in no order is unordered too
    assert space.gene_kinds() == ["categorical"] + ["ordinal"] * 5 + ["categorical"]
    assert HyperSpace(**{**SPACE, "dropout": [0.2, 0.0, 0.1]}).gene_kinds()[4] == "categorical"
    rng = random.Random(0)
    for _ in range(20):
        hc = space.sample(rng)
        assert space.decode(space.encode(hc)) == hc
    assert str(space.decode([1, 2, 1, 0, 1, 1, 0])) == "adamw-lr0.1-wd0.0001-l10-do0.2-ls0.1-inherited"
    assert space.digest() == HyperSpace(**SPACE).digest() != HyperSpace(**{**SPACE, "l1": [0.0]}).digest()


@pytest.mark.parametrize("change, message", [
    ({"optimizer": ["sgd", "adagrad9"]}, "unknown optimizer"),
    ({"lr": []}, "lr is empty"),
    ({"lr": {"low": 0.1, "high": 0.01, "steps": 3}}, "empty or invalid range"),
    ({"init": ["xavier"]}, "unknown init"),
    ({"dropout": [1.0]}, "dropout must lie"),
    ({"colour": ["red"]}, "unknown dimension"),
])
def test_bad_space(change, message):
    with pytest.raises(GreenError, match=message):
        HyperSpace(**{**SPACE, **change})


def test_pruner_stops_below_the_better_half():
    past = [0.5, 0.6, 0.7, 0.8]
    pruner = Pruner([1], eta=2, min_trials=4, history=lambda epoch: past)

    def epoch_end(acc, epoch=0):
        t = SimpleNamespace(current_epoch=epoch, callback_metrics={"val/acc": torch.tensor(acc)}, should_stop=False)
        pruner.on_train_epoch_end(t, None)
        return t.should_stop

    assert not epoch_end(0.75) and pruner.pruned_at is None
    assert epoch_end(0.65) and pruner.pruned_at == 1
    assert not epoch_end(0.1, epoch=1)  # not a rung
    assert not Pruner([1], 2, 5, lambda e: past).on_train_epoch_end(
        SimpleNamespace(current_epoch=0, callback_metrics={"val/acc": torch.tensor(0.0)}, should_stop=False), None)


def test_optimizers_and_inits():
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.Linear(4, 2))
    assert type(make_optimizer(m.parameters(), "adamw", 0.01, 1e-4)).__name__ == "AdamW"
    assert type(make_optimizer(m.parameters(), "rmsprop", 0.01)).__name__ == "RMSprop"
    with pytest.raises(GreenError, match="unknown optimizer"):
        make_optimizer(m.parameters(), "sgdd")
    with pytest.raises(GreenError, match="must be > 0"):
        make_optimizer(m.parameters(), "sgd", 0.0)
    torch.manual_seed(0)
    init_weights(m, "glorot")
    bound = (6 / (3 * 9 + 4 * 9)) ** 0.5
    assert m[0].weight.abs().max() <= bound and torch.all(m[0].bias == 0)
    with pytest.raises(GreenError, match="unknown init"):
        init_weights(m, "xavier")


def test_slices_are_disjoint_seeded_and_sized():
    sel, rep = slice_indices(144, 0.5, None, 0)
    assert (len(sel), len(rep)) == (72, 72) and not set(sel) & set(rep) and set(sel) | set(rep) == set(range(144))
    assert slice_indices(144, 0.5, None, 0) == (sel, rep)  # the same images on every run
    assert slice_indices(144, 0.5, None, 1) != (sel, rep)
    s, r = slice_indices(144, 40, 0.25, 0)
    assert (len(s), len(r)) == (40, 36) and not set(s) & set(r)


@pytest.mark.parametrize("select, report, message", [
    (0, None, "select_images must be a fraction in (0, 1) or a whole count"),
    (-8, None, "select_images must be"),
    (1.5, None, "select_images must be"),
    (0.5, 0, "report_images must be"),
    (0.001, None, "less than one of the 144"),
    (144, None, "none is left for the report slice"),
    (100, 50, "need 150 validation images, the validation split (data.val_size) has 144"),
])
def test_bad_slices(select, report, message):
    with pytest.raises(GreenError, match=re.escape(message)):
        slice_indices(144, select, report, 0)


@pytest.fixture
def hpo_cfg(compose_cfg):
    """``hpo_cfg(out, ckpt, *overrides)``: green-hpo's config with a small budget, writing into ``out``."""
    return lambda out, ckpt, *overrides: compose_cfg(
        "hpo", f"ckpt={ckpt}", "archs=[r16_k3e2_k3e2]", "epochs=2", "data.train_subset=256", "calib_images=64",
        "hpo.population=4", "hpo.generations=1", "hpo.prune.min_trials=2", "progress=false",
        "hpo.select_images=48", "hpo.report_images=64", "trainer.enable_progress_bar=false", *overrides, output_dir=out)


def _carve(hpo_cfg, tmp_path, *overrides):
    cfg = hpo_cfg(tmp_path, "unused", *overrides)
    dm = instantiate(cfg.data)
    dm.setup("fit")
    return dm, carve(cfg, dm)


def test_slices_hold_fixed_validation_images_whatever_the_trial_seed(tmp_path, hpo_cfg):
    dm, data = _carve(hpo_cfg, tmp_path, "seed=0", "data.seed=0")
    _, other_seed = _carve(hpo_cfg, tmp_path, "seed=5", "data.seed=0")
    assert other_seed.images == data.images and other_seed.info() == data.info()
    assert _carve(hpo_cfg, tmp_path, "data.seed=0", "hpo.slice_seed=1")[1].images != data.images
    sel, rep = data.images
    assert (len(sel), len(rep)) == (48, 64) and not set(sel) & set(rep)
    assert set(sel) | set(rep) <= set(dm.val_set.indices)  # validation images only, never training or test ones
    for view, ids in ((data.select, sel), (data.report, rep)):  # what the loaders serve is the slice
        x = torch.cat([b[0] for b in view.val_dataloader()])
        assert torch.equal(x, dm.val_set.dataset.__getitems__(list(ids))[0])
    assert len(data.select.train_set) == len(dm.train_set) == 256  # training is untouched


def _accuracy(model, dm, ids):
    x, y = dm.val_set.dataset.__getitems__(list(ids))
    with torch.no_grad():
        return (model.eval()(dm.transform(x)).argmax(1) == y).float().mean().item()


@pytest.mark.slow
def test_hpo_chooses_on_the_select_slice_and_reports_on_the_other(tmp_path, tiny_ckpt, monkeypatch, compose_cfg,
                                                                  hpo_cfg):
    monkeypatch.setattr(DigitsDataModule, "test_dataloader", lambda self: pytest.fail("green-hpo read the test split"))
    res = hpo(hpo_cfg(tmp_path, tiny_ckpt))
    w, folder = res["winners"][0], tmp_path / "00_r16_k3e2_k3e2"
    assert w["arch"] == "r16_k3e2_k3e2" and w["n_trials"] == len(w["trials"]) == 8
    assert (res["slices"]["select_images"], res["slices"]["report_images"]) == (48, 64)
    trials = read_cache(folder)
    assert len(trials) == 8 and all(t["train_kwh"] > 0 and 0 <= t["select_acc"] <= 1 for t in trials.values())
    cfg = hpo_cfg(tmp_path, tiny_ckpt)
    assert next(iter(trials)) == str(HyperSpace(**cfg.hpo.space).nearest(**cfg.default))  # the warm start
    top = max(t["select_acc"] for t in trials.values())  # chosen: best on select, cheaper on a tie
    assert w["best"]["arch"] == min((t for t in trials.values() if t["select_acc"] == top),
                                    key=lambda t: t["train_kwh"])["arch"]
    assert w["best"]["select_acc"] == top
    # the kept weights of the chosen trial, scored by hand on each slice, give the recorded figures
    dm = instantiate(cfg.data)
    dm.setup("fit")
    sel, rep = slice_indices(len(dm.val_set), 48, 64, 0)
    sel, rep = [dm.val_set.indices[i] for i in sel], [dm.val_set.indices[i] for i in rep]
    assert [p.stem for p in (folder / "weights").glob("*.safetensors")] == [w["best"]["arch"]]
    space = load_supernet(tiny_ckpt)[0].space
    model = GreenNet(space, ArchConfig.parse("r16_k3e2_k3e2"), 10, 1)
    model.load_state_dict(load_file(folder / "weights" / f"{w['best']['arch']}.safetensors"))
    assert _accuracy(model, dm, sel) == pytest.approx(w["best"]["select_acc"], abs=1e-6)
    assert _accuracy(model, dm, rep) == pytest.approx(w["best"]["report_acc"], abs=1e-6)
    for r in (w["best"], w["default"]):
        assert r["report_images"] == 64 and r["report_se"] == pytest.approx(
            math.sqrt(r["report_acc"] * (1 - r["report_acc"]) / 64))
    assert (tmp_path / "hpo.csv").read_text().count("\n") == 9
    exp = Path(w["experiment"])
    assert f"accuracy {w['best']['report_acc']:.4f} +- {w['best']['report_se']:.4f}" in exp.read_text()
    ft = compose_cfg("finetune", f"hydra.searchpath=[file://{exp.parents[1]}]", "experiment=hpo_00")
    assert list(ft.archs) == ["r16_k3e2_k3e2"] and ft.optimizer.name == w["chosen"]["optimizer"]
    assert ft.optimizer.lr == w["chosen"]["lr"] and ft.dropout == w["chosen"]["dropout"]
    assert ft.from_scratch == (w["chosen"]["init"] != "inherited")
    again = hpo(hpo_cfg(tmp_path, tiny_ckpt))  # resumed: nothing is trained again
    assert again["winners"][0]["best"] == w["best"]
    assert read_cache(folder) == trials
    with pytest.raises(GreenError, match="other validation slices"):  # nor resumed on other images
        hpo(hpo_cfg(tmp_path, tiny_ckpt, "hpo.slice_seed=1"))


@pytest.mark.slow
def test_random_search_gets_the_same_warm_start(tmp_path, tiny_ckpt, hpo_cfg):
    cfg = hpo_cfg(tmp_path, tiny_ckpt, "hpo.algorithm=random", "hpo.population=2", "hpo.generations=0", "epochs=1",
                  "hpo.prune.enabled=false")
    hpo(cfg)
    trials = read_cache(tmp_path / "00_r16_k3e2_k3e2")
    assert len(trials) == 2
    assert str(HyperSpace(**cfg.hpo.space).nearest(**cfg.default)) in [k for k, t in trials.items() if t["gen"] == 0]


@pytest.mark.parametrize("overrides, message", [
    (["hpo.budget=0"], "hpo.budget must be >= 1"),
    (["hpo.space.optimizer=[sgd,adamx]"], "unknown optimizer"),
    (["hpo.space.lr=[]"], "hpo.space.lr"),
    (["hpo.space.l1=[]"], "hpo.space.l1 is empty"),
    (["hpo.objectives=[acc,speed]"], "unknown objective"),
    (["hpo.select_images=0"], "hpo.select_images must be a fraction"),
    (["hpo.report_images=-3"], "hpo.report_images must be a fraction"),
    (["hpo.select_images=100", "hpo.report_images=100"], "the validation split (data.val_size) has 144"),
    (["+trainer.limit_val_batches=2"], "limit_val_batches=2 would cut the validation slices"),
    (["hpo.objectives=[acc,recall:cow]"], "'select_recall:cow' names no class of the data"),
    (["hpo.constraints=['train_time <= 5']"], "'train_time' is not computed by the search"),
])
@pytest.mark.slow
def test_cli_bad_input_is_one_line(tmp_path, tiny_ckpt, overrides, message):
    r = subprocess.run([sys.executable, "-m", "search.commands.hpo", f"ckpt={tiny_ckpt}", "archs=[r16_k3e2_k3e2]", *overrides,
                        f"hydra.run.dir={tmp_path}"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2, r.stderr[-2000:]
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("green-hpo: error:") and message in lines[0], lines
    assert not (tmp_path / "hpo.json").exists() and not list(tmp_path.glob("00_*"))


@pytest.mark.slow
def test_hpo_on_worst_class_recall_under_a_recall_bound(tmp_path, tiny_ckpt, hpo_cfg):
    """recall_min as an HPO objective, a bound on a named class's recall; the chosen trial meets it."""
    import csv

    res = hpo(hpo_cfg(tmp_path, tiny_ckpt, "hpo.objectives=[recall_min,train_energy]", "hpo.population=2",
                      "hpo.generations=0", "epochs=1", "hpo.prune.enabled=false", "hpo.constraints=['recall:3 >= 0']"))
    with open(tmp_path / "00_r16_k3e2_k3e2" / "trials.csv") as fh:
        trials = list(csv.DictReader(fh))
    assert len(trials) == 2 and all(0 <= float(t["select_recall_min"]) <= float(t["select_recall"]) for t in trials)
    best = res["winners"][0]["best"]
    assert 0 <= best["report_recall_min"] <= best["report_recall"] + 1e-9
    with pytest.raises(Exception, match=r"no trial of 2 met select_recall_min >= 1 on the select slice"):
        hpo(hpo_cfg(tmp_path / "b", tiny_ckpt, "hpo.population=2", "hpo.generations=0", "epochs=1",
                    "hpo.prune.enabled=false", "hpo.constraints=['recall_min >= 1.0']"))


def test_class_aware_training_is_a_dimension_only_where_the_space_names_it():
    old = HyperSpace(**SPACE)
    assert old.dims == tuple(SPACE) and "bal" not in str(old.smallest())
    space = HyperSpace(**SPACE, balance=["none", "loss", "sampler"])
    hc = space.decode([0] * 7 + [2])
    assert str(hc).endswith("-inherited-balsampler") and hc.overrides()["data"] == {"balance": "sampler"}
    assert space.gene_kinds()[-1] == "categorical" and space.encode(hc) == [0] * 7 + [2]
    assert space.nearest(optimizer="sgd", lr=0.05, weight_decay=0.0, l1=0.0, dropout=0.0, label_smoothing=0.1,
                         init="inherited", balance="loss").balance == "loss"
    assert "data" not in old.smallest().overrides()
    with pytest.raises(GreenError, match=r"unknown balance\(s\) \['equal'\]"):
        HyperSpace(**SPACE, balance=["none", "equal"])
