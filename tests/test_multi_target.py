"""Several cost tables in one search: objectives name a table (``latency@ort``, ``latency@ort/b4``), so one front
trades accuracy against costs on different targets; every figure stored is that table's own prediction, the
outputs and charts say which target, batch size and energy source each cost comes from, and bad names are one
line before anything is written."""
from __future__ import annotations

import csv
import re
import subprocess
import sys

import pytest

import search.hardware.lut as lut
from search.evolution.front import Front
from search.evolution.search import search
from search.hardware.cost import CostModel
from search.hardware.lookup import LookupTable
from search.objectives import OBJECTIVES
from search.objectives.tables import TableInfo, describe
from search.pipeline.fronts import target_fronts, target_lines

OBJECTIVES_3 = "search.objectives=[acc,latency@ort,energy]"


@pytest.fixture(scope="module")
def ort_table(tmp_path_factory, lut_cfg):
    """A quickly measured onnxruntime table of the tiny space (batch sizes 1 and 4), energy estimated."""
    mp = pytest.MonkeyPatch()
    mp.setattr(lut, "find_meter", lambda device: None)
    try:
        return lut.build_table(lut_cfg(tmp_path_factory.mktemp("ort"), "target=onnxruntime"))
    finally:
        mp.undo()


@pytest.fixture(scope="module")
def two_tables(tmp_path_factory, search_cfg, tiny_ckpt, tiny_table, ort_table):
    """A search of [acc, latency@ort, energy] on the torch table (its own) and the onnxruntime one (named ort)."""
    run = tmp_path_factory.mktemp("two") / "run"
    front = search(search_cfg(run, tiny_ckpt, tiny_table, f"tables={{ort: {ort_table}}}", OBJECTIVES_3))
    return run, front


def test_each_cost_is_its_own_tables_prediction(two_tables, tiny_table, ort_table, tiny_space):
    run, front = two_tables
    torch_model, ort_model = CostModel.load(tiny_table, tiny_space), CostModel.load(ort_table, tiny_space)
    assert [o.field for o in front.objectives] == ["acc", "latency_ms@ort", "energy_mj"]
    assert front.members
    for m in front.members:
        assert m["latency_ms@ort"] == pytest.approx(ort_model.predict(m.arch, 1).latency_ms, rel=1e-12)
        assert m.energy_mj == pytest.approx(torch_model.predict(m.arch, 1).energy_mj, rel=1e-12)
        assert m.latency_ms == pytest.approx(torch_model.predict(m.arch, 1).latency_ms, rel=1e-12)
    # the two tables price differently, so reading the wrong one would fail the equalities above
    assert any(abs(m["latency_ms@ort"] - m.latency_ms) > 1e-9 for m in front.members)
    with (run / "history.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert rows and all(float(r["latency_ms@ort"]) == pytest.approx(ort_model.predict(r["arch"], 1).latency_ms)
                        for r in rows)
    assert "latency_ms@ort" in (run / "pareto.csv").read_text().splitlines()[0].split(",")
    assert not any("@" in n for n in OBJECTIVES.names())  # derived, never registered


def test_the_front_reads_back_with_its_tables(two_tables, ort_table):
    run, front = two_tables
    again = Front.read(run)
    assert again == front
    own, ort = again.cost_tables
    assert (own.name, own.target, own.batch_size) == (None, "torch", 1)
    assert (ort.name, ort.target, ort.path, ort.batch_sizes) == ("ort", "onnxruntime", str(ort_table), (1, 4))
    assert ort.energy_source == "codecarbon-estimate" and ort.power_w > 0


def test_labels_name_target_batch_and_energy_source():
    ort = TableInfo("ort", "t.json", "onnxruntime_int8", "cpu", 1, (1, 32), "codecarbon-estimate", 12.5)
    gpu = TableInfo("gpu", "g.json", "torch", "cuda", 1, (1, 32), "nvml")
    assert describe("latency_ms@ort", (ort,)) == "predicted latency (ms per call) on onnxruntime_int8 (cpu), batch 1"
    assert describe("energy_mj@ort/b32", (ort,)) == (
        "predicted energy (mJ per call) on onnxruntime_int8 (cpu), batch 32; codecarbon-estimate: no energy counter, "
        "latency x one power figure of 12.5 W")
    assert describe("energy_mj@gpu/b32", (gpu,)).endswith("on torch (cuda), batch 32; nvml energy counter")
    assert describe("params@ort", (ort,)) == "parameters (count) on table ort"  # an exact count: no table's figure
    assert describe("acc", (ort,)) == "inherited val accuracy"


def test_one_chart_per_target(two_tables):
    run, front = two_tables
    charts = target_fronts(run)
    assert [c.key for c in charts] == ["front", "front_ort"]
    assert "torch (cpu)" in charts[0].title and "onnxruntime (cpu)" in charts[1].title
    assert all(c.png.startswith(b"\x89PNG") and len(c.png) > 5_000 for c in charts)
    lines = target_lines(charts, {"front": "report_front.png", "front_ort": "report_front_ort.png"})
    assert "![" + charts[1].title + "](report_front_ort.png)" in lines and "power figure" in lines[2]
    from search.evolution.plots import plot_front

    fig = plot_front([], front.members, front.objectives, front.cost_tables)
    xlabels = [ax.get_xlabel().replace("\n", " ") for ax in fig.axes]
    assert xlabels[0].startswith("predicted latency (ms per call) on onnxruntime (cpu), batch 1")
    assert "on torch (cpu), batch 1; codecarbon-estimate: no energy counter, latency x one power figure" in xlabels[1]


def test_a_constraint_on_another_tables_batch(tmp_path, search_cfg, tiny_ckpt, tiny_table, ort_table, tiny_space):
    model = CostModel.load(ort_table, tiny_space)
    b4 = sorted(model.predict(a, 4).latency_ms for a in (tiny_space.smallest(), tiny_space.largest()))
    bound = (b4[0] + b4[1]) / 2  # the largest subnet misses it, the smallest meets it
    run = tmp_path / "run"
    front = search(search_cfg(run, tiny_ckpt, tiny_table, f"tables={{ort: {ort_table}}}",
                              "search.objectives=[acc,latency@ort/b4]", f"search.constraints=['latency@ort/b4<={bound}']"))
    assert front.constraints == (f"latency_ms@ort/b4 <= {bound:g}",)
    with (run / "history.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) > 4
    for r in rows:  # every candidate was priced at batch 4 of the ort table, and met the bound before evaluation
        assert float(r["latency_ms@ort/b4"]) == pytest.approx(model.predict(r["arch"], 4).latency_ms)
        assert float(r["latency_ms@ort/b4"]) <= bound


@pytest.mark.parametrize("overrides, match", [
    (["tables={ort: TABLE}", "search.objectives=[acc,latency@gpu]"], "'latency_ms@gpu' names no cost table 'gpu' "
                                                                     r"\(tables= gives ort\)"),
    (["tables={ort: TABLE}", "search.objectives=[acc,energy@ort/b8]"], "table 'ort' .* measured batch sizes 1, 4, "
                                                                       "not 8"),
    (["tables={ort: TABLE}", "search.objectives=[acc@ort,energy]"], "acc is a score, evaluated on validation images"),
    (["tables={ort: OTHER}", "search.objectives=[acc,latency@ort]"], "tables.ort: lookup table .* was built for "
                                                                     "search space"),
    (["tables={1x: TABLE}", "search.objectives=[acc,latency]"], "'1x' is not a table name"),
    (["tables={ort: TABLE}", "search.objectives=[acc,latency]", "search.constraints=['latency@ort/b2<=1']"],
     "measured batch sizes 1, 4, not 2"),
])
def test_bad_names_are_one_line(overrides, match, tmp_path, search_cfg, tiny_ckpt, tiny_table, ort_table, capsys,
                                one_line):
    other = LookupTable.read(ort_table)
    other.fingerprint["space_digest"] = "0" * 16  # the same figures, said to be of another space
    other.write(tmp_path / "other.json")
    subs = {"TABLE": str(ort_table), "OTHER": str(tmp_path / "other.json")}
    overrides = [o.replace("TABLE", subs["TABLE"]).replace("OTHER", subs["OTHER"]) for o in overrides]
    run = tmp_path / "run"
    line = one_line("green-search", search, search_cfg(run, tiny_ckpt, tiny_table, *overrides), capsys)
    assert re.search(match, line), line
    assert not (run / "pareto.json").exists() and not (run / "history.csv").exists()


@pytest.mark.slow
def test_the_console_script_refuses_an_unknown_table(tmp_path, tiny_ckpt, tiny_table, ort_table):
    run = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "search.commands.search", f"ckpt={tiny_ckpt}", f"table={tiny_table}",
                        f"tables={{ort: {ort_table}}}", "search.objectives=[acc,latency@int8]", "progress=false",
                        f"hydra.run.dir={run}"], capture_output=True, text=True)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("green-search: error:") and "names no cost table 'int8'" in lines[0]
    assert not (run / "pareto.json").exists()
