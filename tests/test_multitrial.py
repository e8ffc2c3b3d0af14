"""green-search's multi-trial mode: every candidate trained from scratch for a stated budget, scored on validation."""
import copy
import csv
import json
import subprocess
import sys

import pytest
import torch
from hydra.utils import instantiate

from search.evolution.evaluate import SubnetEvaluator
from search.evolution.search import build, search
from search.evolution.standalone import candidate_seed
from supernet.checkpoint import load_supernet
from core.errors import GreenError
from supernet.net import GreenNet
from search.evolution.state import read_cache

# 32 SGD steps of 16 images: enough to leave chance (10 %) behind on digits, a second per candidate
BUDGET = ["search.mode=multi_trial", "multi_trial.epochs=1", "multi_trial.train_subset=512",
          "multi_trial.batch_size=16", "multi_trial.optimizer.lr=0.2"]


@pytest.fixture(scope="module")
def mt_cfg(compose_cfg):
    """``mt_cfg(out, ckpt, table, *overrides)``: green-search's config in multi-trial mode with ``BUDGET``."""
    return lambda out, ckpt, table, *overrides: compose_cfg(
        "search", f"ckpt={ckpt}", f"table={table}", "progress=false", "search.population=4", "search.generations=1",
        "eval.calib_images=64", "eval.val_images=64", *BUDGET, *overrides, output_dir=out)


@pytest.fixture(scope="module")
def run_a(tmp_path_factory, tiny_ckpt, tiny_table, mt_cfg):
    out = tmp_path_factory.mktemp("multitrial")
    return search(mt_cfg(out, tiny_ckpt, tiny_table)), out


def history(out):
    return list(read_cache(out).values())


@pytest.mark.slow
def test_multi_trial_search_trains_each_candidate(run_a, tiny_ckpt, compose_cfg):
    res, out = run_a
    pareto = json.loads((out / "pareto.json").read_text())
    assert pareto == res.to_json() and res.mode == "multi_trial" and res.unique_evals == 8
    budget = res.multi_trial
    assert {k: budget[k] for k in ("epochs", "train_images", "batch_size", "steps_per_candidate",
                                   "images_per_candidate", "optimizer", "lr", "val_images")} == {
        "epochs": 1, "train_images": 512, "batch_size": 16, "steps_per_candidate": 32,
        "images_per_candidate": 512, "optimizer": "sgd", "lr": 0.2, "val_images": 64}
    assert (out / "energy_search.json").is_file()  # the trainings are booked with the search
    records = history(out)
    assert [r["images_seen"] for r in records] == [512] * 8  # each candidate got exactly the stated budget
    with open(out / "history.csv") as f:
        assert {"images_seen", "train_seconds"} <= set(next(csv.reader(f)))

    # the scores are the trained candidates', not the supernet's inherited weights
    net, _ = load_supernet(tiny_ckpt)
    dm = instantiate(compose_cfg("search", "ckpt=x", "table=x").data)
    one_shot = SubnetEvaluator(net, dm, 64, 64)
    assert [r["acc"] for r in records] != [one_shot(net.space.validate(r["arch"]))["acc"] for r in records]
    # and they come from training: the best candidate's initialisation, untrained, is at chance
    best = max(records, key=lambda r: r["acc"])
    assert best["acc"] >= 0.3
    torch.manual_seed(candidate_seed(0, best["arch"]))
    untrained = GreenNet(net.space, best["arch"], 10, 1).eval()
    pred = one_shot.predict(untrained)
    assert float((pred == one_shot.val_y).float().mean()) <= best["acc"] - 0.15


@pytest.mark.slow
def test_multi_trial_search_is_deterministic(run_a, tmp_path, tiny_ckpt, tiny_table, mt_cfg):
    res, out = run_a
    again = search(mt_cfg(tmp_path, tiny_ckpt, tiny_table))
    keys = ("arch", "acc", "recall", "images_seen")
    assert [{k: r[k] for k in keys} for r in history(tmp_path)] == [{k: r[k] for k in keys} for r in history(out)]
    assert again.members == res.members


@pytest.mark.slow
def test_candidate_score_depends_on_the_seed_and_arch_only(run_a, tmp_path, tiny_ckpt, tiny_table, mt_cfg):
    """The last candidate of the search, scored first by a fresh evaluator, scores the same; another seed not."""
    _, out = run_a
    last = history(out)[-1]
    _, evaluator, _ = build(mt_cfg(tmp_path, tiny_ckpt, tiny_table))
    arch = evaluator.space.validate(last["arch"])
    got = evaluator(arch)
    assert (got["acc"], got["recall"]) == (last["acc"], last["recall"])
    other = copy.copy(evaluator)
    other.seed = 1
    moved = other(arch)
    assert (moved["acc"], moved["recall"]) != (got["acc"], got["recall"])


@pytest.mark.slow
def test_resume_under_another_scoring_is_refused(run_a, tiny_ckpt, tiny_table, mt_cfg):
    _, out = run_a
    before = (out / "cache.jsonl").read_text()
    with pytest.raises(GreenError, match="scored otherwise"):
        search(mt_cfg(out, tiny_ckpt, tiny_table, "search.mode=one_shot"))
    with pytest.raises(GreenError, match="scored otherwise"):
        search(mt_cfg(out, tiny_ckpt, tiny_table, "multi_trial.epochs=2"))
    assert (out / "cache.jsonl").read_text() == before


@pytest.mark.parametrize("overrides, message", [
    (["search.mode=two_shot"], "unknown search.mode 'two_shot'"),
    (["search.mode=multi_trial", "multi_trial.epochs=0"], "multi_trial.epochs must be >= 1"),
])
@pytest.mark.slow
def test_cli_bad_mode_or_budget_is_one_line(tmp_path, tiny_ckpt, tiny_table, overrides, message):
    out = subprocess.run([sys.executable, "-m", "search.commands.search", f"ckpt={tiny_ckpt}", f"table={tiny_table}",
                          *overrides, f"hydra.run.dir={tmp_path}"], capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1].startswith(f"green-search: error: {message}")
    assert not any((tmp_path / name).exists() for name in ("cache.jsonl", "scoring.json", "pareto.json", "tb"))
