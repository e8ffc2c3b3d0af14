"""Committed benchmark figures recompute from their raw data (CI runs this), and tampering is caught."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench import recompute

ROOT = Path(__file__).resolve().parents[1]

EVERY = sorted((ROOT / "bench" / "results").rglob("*.json"))
RESULTS = [p for p in EVERY if not recompute.is_archived(p) and recompute.is_result(p)]


def test_every_committed_result_recomputes_and_every_json_is_accounted_for():
    assert RESULTS, "no committed results in bench/results"
    assert any(p.parent.name != "results" for p in RESULTS)  # the results in subfolders are checked too
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "recompute.py")], cwd=ROOT, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("every headline figure matches") == len(RESULTS)
    counts = re.search(r"(\d+) results recomputed \+ (\d+) files read as their inputs \+ (\d+) archived "
                       r"\(not checked\) = (\d+) of (\d+) JSON files", r.stdout)
    assert counts, r.stdout[-500:]
    n = [int(x) for x in counts.groups()]
    assert n[0] == len(RESULTS) and n[0] + n[1] + n[2] == n[3] == n[4] == len(EVERY)


@pytest.mark.slow
def test_a_stray_json_or_a_disagreeing_input_fails(tmp_path, monkeypatch, capsys):
    import shutil

    results = tmp_path / "results"
    shutil.copytree(ROOT / "bench" / "results", results)
    monkeypatch.setattr(recompute, "RESULTS", results)
    assert recompute.main([]) == 0
    (results / "optimizer_tuning" / "notes.json").write_text("{}")
    assert recompute.main([]) == 1
    assert "notes.json: neither a result, an input a result was computed from, nor archived" in capsys.readouterr().err
    (results / "optimizer_tuning" / "notes.json").unlink()
    rows = sorted(r for r in results.rglob("row.json") if "archive" not in r.relative_to(results).parts)
    if rows:  # a row of the committed ground-truth table edited: it no longer agrees with the result it fed
        row = json.loads(rows[0].read_text())
        row["result"]["test_acc"] += 0.01
        rows[0].write_text(json.dumps(row))
        assert recompute.main([]) == 1
        assert "a row that table.json does not hold" in capsys.readouterr().err


@pytest.mark.parametrize("path", RESULTS, ids=[str(p.relative_to(ROOT / "bench" / "results")) for p in RESULTS])
def test_committed_results_carry_provenance_and_raw_data(path):
    data = json.loads(path.read_text())
    assert data["benchmark"] == path.stem
    assert data["commit"] and data["commit"] != "unknown" and data["command"] and "config" in data
    assert "bench/" in data["command"]  # written by its script


def _first_number(d, path=()):
    for k, v in d.items():
        if isinstance(v, bool):
            continue
        if isinstance(v, (int, float)):
            return (*path, k)
        if isinstance(v, dict):
            found = _first_number(v, (*path, k))
            if found:
                return found
    return None


@pytest.mark.parametrize("path", RESULTS, ids=[str(p.relative_to(ROOT / "bench" / "results")) for p in RESULTS])
@pytest.mark.slow_after_first
def test_a_hand_edited_figure_fails_recomputation(tmp_path, path):
    data = json.loads(path.read_text())
    fresh = recompute._headline_fn(data["benchmark"])(data)
    key = _first_number(fresh)
    assert key, "no numeric headline figure"
    node = data
    for k in key[:-1]:
        node = node[k]
    node[key[-1]] = node[key[-1]] + 0.5
    edited = tmp_path / path.name
    edited.write_text(json.dumps(data))
    assert recompute.main([str(edited)]) == 1


def test_a_result_without_provenance_fails(tmp_path):
    f = tmp_path / "pipeline.json"
    f.write_text(json.dumps({"benchmark": "pipeline", "raw": {}}))
    assert recompute.check(f) == ["no provenance (commit, command, config missing)"]
    assert recompute.main([str(f)]) == 1


def test_mismatches_compares_nested_figures():
    assert recompute.mismatches({"a": {"b": 1.0}}, {"a": {"b": 1.0 + 1e-12}}) == []
    assert recompute.mismatches({"a": {"b": 1.0}}, {"a": {"b": 1.1}}) == ["a.b: stored 1.0 vs recomputed 1.1"]
    assert recompute.mismatches({"a": [1, 2]}, {"a": [1, 3]}) == ["a[1]: stored 2 vs recomputed 3"]
    assert recompute.mismatches({}, {"x": 0.5}) == ["x: stored '<missing>' vs recomputed 0.5"]


def test_absolute_paths_are_found_in_every_string_and_relative_ones_pass():
    found = recompute.absolute_paths({"command": "python bench/x.py --table /work/lut.json", "config": {
        "out": "outputs/bench/x", "data": "../shared/data/cifar10", "url": "https://github.com/a/b",
        "rate": "img/s", "list": ["a=/tmp/run/x", "ok"]}})
    assert found == ["command: absolute path '/work/lut.json'", "config.list[0]: absolute path '/tmp/run/x'"]
    assert recompute.absolute_paths({"x": "/"}) == [] and recompute.absolute_paths({"x": 1.0}) == []


def test_save_makes_this_machines_paths_relative_and_names_inputs_by_hash(tmp_path, monkeypatch):
    import hashlib

    from bench import common

    monkeypatch.setattr(sys, "argv", ["bench/x.py", f"--run={common.ROOT}/outputs/bench/x"])
    f = tmp_path / "in.json"
    f.write_text("{}")
    path = common.save("x", {"run": str(common.ROOT / "outputs" / "r"), "data": str(common.ROOT.parent / "d"),
                             "root": str(common.ROOT), "inputs": {"t": common.input_ref(f)}}, out_dir=tmp_path)
    d = json.loads(path.read_text())
    assert d["run"] == "outputs/r" and d["data"] == "../d" and d["root"] == "."
    assert d["command"].endswith("--run=outputs/bench/x")
    assert d["inputs"]["t"]["sha256"] == hashlib.sha256(b"{}").hexdigest()
