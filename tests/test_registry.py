"""Plug-ins by name: an objective, an algorithm and a baseline source are each one file plus a config.

The objective test is the worked example of ``docs/extending.md``: a user file declaring ``weight_kb``
(the float32 weights' size) is named by ``search.plugins`` and ``search.objectives``, and nothing else
changes: the search prices, constrains, stores, draws and reads back the new objective.
"""
from __future__ import annotations

import json
import sys
import textwrap

import pytest

from search.deploy.baselines import build_baseline, check_baseline, parse_models
from search.deploy.sources import SOURCES
from search.evolution.algorithms import ALGORITHMS, make_algorithm
from search.evolution.front import Front
from search.evolution.search import search
from search.evolution.settings import Settings
from search.objectives import OBJECTIVES, cost_fields, label
from search.registry import Registry, load_plugins
from core.errors import GreenError

WEIGHT_KB = '''
"""weight_kb: the size of a subnet's float32 weights, in KiB."""
from search.objectives import Pricing, cost


@cost("weight_kb", label="weights (KiB, float32)", log_axis=True)
def weight_kb(p: Pricing) -> float:
    return p.cost.params * 4 / 1024
'''


@pytest.fixture
def plugin(tmp_path):
    """The user's one file, removed from the registries afterwards (other tests see the built-ins only)."""
    path = tmp_path / "my_objectives.py"
    path.write_text(textwrap.dedent(WEIGHT_KB))
    yield path
    OBJECTIVES.unregister("weight_kb")
    sys.modules.pop("my_objectives", None)


def test_registry_refuses_unknown_and_conflicting_names():
    reg: Registry[int] = Registry("widget")
    reg.register("a", 1)
    reg.register("a", 1)  # the same item again (a module imported twice) is fine
    with pytest.raises(GreenError, match="widget 'a' is registered twice"):
        reg.register("a", 2)
    with pytest.raises(GreenError, match=r"unknown widget 'b'; choose from a$"):
        reg["b"]
    assert "a" in reg and reg.names() == ["a"] and reg.get("b") is None


def test_plugin_module_that_does_not_import_is_one_line(tmp_path):
    with pytest.raises(GreenError, match="cannot import the plug-in module 'no_such_module_xyz'"):
        load_plugins(["no_such_module_xyz"])
    with pytest.raises(GreenError, match="cannot import the plug-in module"):
        load_plugins([str(tmp_path / "missing.py")])


def test_builtin_objectives_come_from_the_registry():
    assert {"acc", "recall", "recall_min", "params", "macs", "latency", "energy"} <= set(OBJECTIVES.names())
    assert set(cost_fields()) == {"params", "macs", "latency_ms", "energy_mj"}
    assert label("latency_ms").startswith("predicted latency") and OBJECTIVES["params"].log_axis
    with pytest.raises(GreenError, match="unknown objective"):
        Settings(["acc", "weight_kb"])  # not declared until its file is named


def test_a_new_objective_is_one_file_plus_config(plugin, tmp_path, tiny_ckpt, tiny_table, search_cfg):
    run = tmp_path / "run"
    front = search(search_cfg(run, tiny_ckpt, tiny_table, f"search.plugins=[{plugin}]",
                              "search.objectives=[acc,weight_kb]", "search.constraints=['weight_kb<=20']"))
    assert front.objectives[1].name == "weight_kb" and not front.objectives[1].maximise
    assert front.members and all(m["weight_kb"] == pytest.approx(m.params * 4 / 1024) for m in front.members)
    assert all(m["weight_kb"] <= 20 for m in front.members)  # a cost bound, met before evaluation
    assert Front.read(run) == front  # pareto.json keeps the new field and reads it back
    rows = json.loads((run / "pareto.json").read_text())["front"]
    assert all("weight_kb" in r for r in rows)
    assert "weight_kb" in (run / "history.csv").read_text().splitlines()[0].split(",")
    assert label("weight_kb") == "weights (KiB, float32)"


def test_an_algorithm_is_one_registered_class():
    from search.evolution.algorithms import RandomSearch

    @ALGORITHMS.decorator("random_again")
    class Again(RandomSearch):
        name = "random_again"

    try:
        assert isinstance(make_algorithm("random_again", 2), Again)
        assert Settings(["acc", "params"], algorithm="random_again").algorithm == "random_again"
    finally:
        ALGORITHMS.unregister("random_again")
    with pytest.raises(GreenError, match="unknown algorithm 'random_again'; choose from auto, nsga2, nsga3, random"):
        make_algorithm("random_again", 2)


def test_a_baseline_source_is_one_registered_class():
    from torch import nn

    from search.deploy.sources import Source

    @SOURCES.decorator("mylab")
    class MyLab(Source):
        def has(self, model):
            return model == "tiny"

        def create(self, model, num_classes, in_chans):
            return nn.Sequential(nn.Conv2d(in_chans, 8, 3, stride=2), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                 nn.Linear(8, num_classes))

    try:
        assert parse_models(["mylab/tiny", "timm/lcnet_050"]) == {"tiny": "mylab", "lcnet_050": "timm"}
        assert build_baseline("mylab", "tiny", 10, 1, 16)[-1].out_features == 10
        with pytest.raises(GreenError, match="unknown mylab model 'huge'"):
            check_baseline("mylab", "huge")
    finally:
        SOURCES.unregister("mylab")
    with pytest.raises(GreenError, match="source one of timm, torchvision"):
        parse_models(["mylab/tiny"])
