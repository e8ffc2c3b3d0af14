"""green-hpo: the hyperparameter space, early stopping, the search itself, its outputs and its errors."""
from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from hydra import compose, initialize_config_module

from search.finetune import init_weights, make_optimizer
from search.hpo import HyperSpace, Pruner, hpo
from supernet.errors import GreenError

ROOT = Path(__file__).resolve().parents[1]
SPACE = dict(optimizer=["sgd", "adamw", "rmsprop"], lr={"low": 1e-3, "high": 0.1, "steps": 3, "log": True},
             weight_decay=[0.0, 1e-4], l1=[0.0, 1e-5], dropout=[0.0, 0.2], label_smoothing=[0.0, 0.1],
             init=["inherited", "he"])


def test_space_grid_and_genome_round_trip():
    space = HyperSpace(**SPACE)
    assert space.choices["lr"] == (0.001, 0.01, 0.1)
    assert space.gene_sizes() == [3, 3, 2, 2, 2, 2, 2]
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


def _cfg(tmp_path, ckpt, *overrides):
    with initialize_config_module(config_module="conf", version_base="1.3"):
        return compose("hpo", overrides=[
            f"ckpt={ckpt}", "archs=[r16_k3e2_k3e2]", "epochs=2", "data.train_subset=256", "calib_images=64",
            "hpo.population=4", "hpo.generations=1", "hpo.prune.min_trials=2", "progress=false",
            "trainer.enable_progress_bar=false", "+trainer.limit_val_batches=2", f"paths.output_dir={tmp_path}",
            *overrides])


def test_hpo_end_to_end_resumes_and_writes_a_finetune_experiment(tmp_path, tiny_ckpt):
    res = hpo(_cfg(tmp_path, tiny_ckpt))
    w = res["winners"][0]
    assert w["arch"] == "r16_k3e2_k3e2" and w["trials"] == 8
    trials = json.loads((tmp_path / "00_r16_k3e2_k3e2" / "cache.json").read_text())
    assert len(trials) == 8 and all(t["train_kwh"] > 0 and 0 <= t["acc"] <= 1 for t in trials.values())
    cfg = _cfg(tmp_path, tiny_ckpt)
    assert next(iter(trials)) == str(HyperSpace(**cfg.hpo.space).nearest(**cfg.default))  # the warm start
    assert w["best"]["acc"] == max(t["acc"] for t in trials.values())
    assert (tmp_path / "hpo.csv").read_text().count("\n") == 9
    exp = Path(w["experiment"])
    with initialize_config_module(config_module="conf", version_base="1.3"):
        ft = compose("finetune", overrides=[f"hydra.searchpath=[file://{exp.parents[1]}]", "experiment=hpo_00"])
    assert list(ft.archs) == ["r16_k3e2_k3e2"] and ft.optimizer.name == w["chosen"]["optimizer"]
    assert ft.optimizer.lr == w["chosen"]["lr"] and ft.dropout == w["chosen"]["dropout"]
    assert ft.from_scratch == (w["chosen"]["init"] != "inherited")
    again = hpo(_cfg(tmp_path, tiny_ckpt))  # resumed: nothing is trained again
    assert again["winners"][0]["best"] == w["best"]
    assert json.loads((tmp_path / "00_r16_k3e2_k3e2" / "cache.json").read_text()) == trials


@pytest.mark.parametrize("overrides, message", [
    (["hpo.budget=0"], "hpo.budget must be >= 1"),
    (["hpo.space.optimizer=[sgd,adamx]"], "unknown optimizer"),
    (["hpo.space.lr=[]"], "hpo.space.lr"),
    (["hpo.space.l1=[]"], "hpo.space.l1 is empty"),
    (["hpo.objectives=[acc,speed]"], "unknown objective"),
])
def test_cli_bad_input_is_one_line(tmp_path, tiny_ckpt, overrides, message):
    r = subprocess.run([sys.executable, "-m", "search.hpo", f"ckpt={tiny_ckpt}", "archs=[r16_k3e2_k3e2]", *overrides,
                        f"hydra.run.dir={tmp_path}"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2, r.stderr[-2000:]
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("green-hpo: error:") and message in lines[0], lines
    assert not (tmp_path / "hpo.json").exists() and not list(tmp_path.glob("00_*"))
