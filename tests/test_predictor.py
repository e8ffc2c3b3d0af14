"""The accuracy predictor: refuses too few results, learns a known relation, drives green-search."""
import json
import math
import random

import pytest

from search.hardware.cost import count
from search.evolution.predictor import AccuracyPredictor, PredictedEvaluator
from search.evolution.search import search
from search.stats import kendall
from core.errors import GreenError


def _synthetic(space, n, seed):
    """Subnets whose 'standalone' accuracy is a known function of inherited accuracy and log MACs."""
    rng = random.Random(seed)
    archs = list({str(a): a for a in (space.sample(rng) for _ in range(4 * n))}.values())[:n]
    inh = [rng.uniform(0.3, 0.6) for _ in archs]
    macs = [math.log(count(space, a, 10, 1)[1]) for a in archs]
    truth = [0.2 * i + 0.1 * m for i, m in zip(inh, macs)]
    return archs, inh, truth


@pytest.mark.parametrize("kind", ["ridge", "gp"])
def test_predictor_learns_a_known_relation(tiny_space, kind):
    archs, inh, truth = _synthetic(tiny_space, 30, 0)
    p = AccuracyPredictor(tiny_space, 10, 1, kind=kind).fit(archs[:12], inh[:12], truth[:12])
    pred = [p.predict(a, i) for a, i in zip(archs[12:], inh[12:])]
    assert kendall(pred, truth[12:]) > 0.8  # on subnets it never saw
    assert kendall(inh[12:], truth[12:]) < 0.8  # inherited accuracy alone does not order them so well
    assert p.info() == {"kind": kind, "n_fit": 12, "min_results": 6}


def test_predictor_uses_the_inherited_accuracy(tiny_space):
    archs, inh, truth = _synthetic(tiny_space, 20, 1)
    p = AccuracyPredictor(tiny_space, 10, 1).fit(archs, inh, truth)
    assert p.predict(archs[0], 0.9) > p.predict(archs[0], 0.1)


def test_predictor_bad_input(tiny_space):
    archs, inh, truth = _synthetic(tiny_space, 8, 2)
    with pytest.raises(GreenError, match="needs at least 6 standalone results"):
        AccuracyPredictor(tiny_space, 10, 1).fit(archs[:5], inh[:5], truth[:5])
    with pytest.raises(GreenError, match="unknown predictor kind 'mlp'"):
        AccuracyPredictor(tiny_space, 10, 1, kind="mlp")
    with pytest.raises(GreenError, match="min_results must be >= 3"):
        AccuracyPredictor(tiny_space, 10, 1, min_results=2)
    with pytest.raises(GreenError, match="3 archs, 2 inherited"):
        AccuracyPredictor(tiny_space, 10, 1, min_results=3).fit(archs[:3], inh[:2], truth[:3])
    with pytest.raises(GreenError, match="not fitted"):
        AccuracyPredictor(tiny_space, 10, 1).predict(archs[0], 0.5)


def test_predicted_evaluator_swaps_the_accuracy(tiny_space):
    archs, inh, truth = _synthetic(tiny_space, 8, 3)
    p = AccuracyPredictor(tiny_space, 10, 1).fit(archs, inh, truth)
    ev = PredictedEvaluator(lambda a: {"acc": 0.5, "recall": 0.4, "eval_seconds": 0.1}, p)
    r = ev(archs[0])
    assert r["inherited_acc"] == 0.5 and r["recall"] == 0.4
    assert r["acc"] == pytest.approx(p.predict(archs[0], 0.5))


def test_green_search_with_a_predictor(tmp_path, tiny_ckpt, tiny_table, ground_table, search_cfg):
    folder, table = ground_table
    cfg = search_cfg(tmp_path, tiny_ckpt, tiny_table, f"predictor.table={folder}", "predictor.min_results=3")
    res = search(cfg)
    assert res.predictor == {"kind": "ridge", "n_fit": 3, "min_results": 3, "table": str(folder.resolve())}
    assert json.loads((tmp_path / "scoring.json").read_text())["predictor"]["n_fit"] == 3
    with pytest.raises(GreenError, match="needs at least 6 standalone results"):
        search(search_cfg(tmp_path / "b", tiny_ckpt, tiny_table, f"predictor.table={folder}"))
    with pytest.raises(GreenError, match="scored otherwise"):  # a resume under another predictor
        search(search_cfg(tmp_path, tiny_ckpt, tiny_table, f"predictor.table={folder}", "predictor.min_results=3",
                          "predictor.kind=gp"))


def test_green_search_refuses_a_table_of_other_data(tmp_path, tiny_ckpt, tiny_table, ground_table, search_cfg):
    folder, table = ground_table
    other = json.loads((folder / "table.json").read_text())
    other["identity"]["data"]["seed"] = 7  # another validation split than the supernet's
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "table.json").write_text(json.dumps(other))
    with pytest.raises(GreenError, match=r"trained on other data \(seed: table 7 vs now 0\)"):
        search(search_cfg(tmp_path / "o", tiny_ckpt, tiny_table, f"predictor.table={tmp_path / 't'}",
                          "predictor.min_results=3"))
    other["identity"]["space"] = "0" * 12
    (tmp_path / "t" / "table.json").write_text(json.dumps(other))
    with pytest.raises(GreenError, match="a table of another search space"):
        search(search_cfg(tmp_path / "o", tiny_ckpt, tiny_table, f"predictor.table={tmp_path / 't'}"))
    with pytest.raises(GreenError, match="needs search.mode=one_shot"):
        search(search_cfg(tmp_path, tiny_ckpt, tiny_table, f"predictor.table={folder}", "search.mode=multi_trial"))
