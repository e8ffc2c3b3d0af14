"""bench/deploy.py: headline figures against known answers, a smoke run on digits and the tiny space, a bad --run."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra.utils import instantiate

from bench import deploy, recompute

ROOT = Path(__file__).resolve().parents[1]


def _subnets(pred, m1, m2):
    return [{"predicted_ms": p, "measured_ms": [a, b]} for p, a, b in zip(pred, m1, m2)]


def _raw():
    p = [1.0, 2.0, 3.0, 4.0, 5.0]
    good = _subnets(p, [1.1 * x for x in p], [0.9 * x for x in p])  # the table between two measurements 20% apart
    bad = _subnets(p, [2.0 * x for x in p[::-1]], [2.0 * x for x in p[::-1]])  # 2x off, reversed order, no noise
    member = lambda acc_bits, ms: {"arch": f"a{ms}", "int8_correct": acc_bits, "int8_latency_ms": ms}  # noqa: E731
    return {"tables": {"torch": {"batches": {"1": {"subnets": good}, "4": {"subnets": good}}},
                       "onnxruntime_int8": {"batches": {"1": {"subnets": good}, "4": {"subnets": bad}}}},
            "winners": [{"name": "w1", "float_correct": 90, "int8_correct": 89, "images": 100},
                        {"name": "w2", "float_correct": 80, "int8_correct": 82, "images": 100}],
            "fronts": {"num_classes": 2, "int8_searched": [member("1111100000", 1.0)],
                       "torch_searched": [member("1111100000", 2.0)]}}


def test_headline_known_answers():
    h = deploy.headline({"raw": _raw()})
    torch_t, int8_t = h["targets"]["torch"], h["targets"]["onnxruntime_int8"]
    assert torch_t["lut_mape"] == pytest.approx((0.1 / 1.1 + 0.1 / 0.9) / 2)
    assert torch_t["retest_mape"] == pytest.approx(0.2 / 0.9) and torch_t["lut_spearman"] == pytest.approx(1.0)
    assert torch_t["goals_met"] is True
    # the int8 table's worst batch is 4 (MAPE (9/10 + 6/8 + 3/6 + 0 + 3/2) / 5 over a retest of 0), not batch 1
    assert int8_t["worst_batch"] == 4 and int8_t["lut_mape"] == pytest.approx(0.73) and int8_t["retest_mape"] == 0.0
    assert int8_t["lut_spearman"] == pytest.approx(-1.0) and int8_t["goals_met"] is False
    assert h["int8_acc_drop_points"] == pytest.approx(1.0)  # w1 loses 1 point, w2 gains 2: the worst is 1
    assert h["int8_acc_drop_points_per_model"] == pytest.approx({"w1": 1.0, "w2": -2.0})
    f = h["fronts"]
    # one member each at accuracy 0.5 (chance is 0.5: no area), so both hypervolumes are 0 and the difference too
    assert f["reference"] == [0.5, pytest.approx(2.2)] and f["hv_diff"] == 0.0
    raw = _raw()
    raw["fronts"]["num_classes"] = 10  # chance 0.1: each front is the box (0.5 - 0.1) x (2.2 - latency)
    f = deploy.headline({"raw": raw})["fronts"]
    assert f["hv_int8_searched"] == pytest.approx(0.4 * 1.2) and f["hv_torch_searched"] == pytest.approx(0.4 * 0.2)
    # paired over the same images: the difference is 0.8 x (accuracy - 0.1) for every resample, never below 0
    assert f["hv_diff_ci95"][0] > 0 and f["int8_front_beats_torch_front"] is True


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


@pytest.mark.slow
def test_a_missing_run_folder_is_one_line(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "deploy.py"), "--run", str(tmp_path / "nope"),
                        "--out", str(tmp_path / "out")], cwd=ROOT, env=_env(), capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [f"bench/deploy.py: error: --run '{tmp_path / 'nope'}' is not a folder "
                                             "(a green-run output folder)"]
    assert not (tmp_path / "out" / "deploy.json").exists()


@pytest.mark.slow
def test_smoke_run_on_digits_and_the_tiny_space(tmp_path, tiny_ckpt, compose_cfg):
    from search.deploy.export import save_subnet
    from supernet.checkpoint import load_supernet
    from supernet.net import extract_subnet

    net, _ = load_supernet(tiny_ckpt)
    dm = instantiate(compose_cfg("train").data)
    dm.setup()
    run = tmp_path / "run"
    for i, arch in enumerate(("r16_k5e3-k3e2_k3e3", "r12_k3e2_k5e3-k3e2")):
        save_subnet(extract_subnet(net, arch, dm.calib_batches(64)), run / "finetune" / "models" / f"{i:02d}_{arch}",
                    {"result": {"replicate": 0}, "supernet": str(tiny_ckpt), "classes": list(dm.classes)}, onnx=False)
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "deploy.py"), "--run", str(run), "--smoke",
                        "--out", str(tmp_path / "out")], cwd=ROOT, env=_env(), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    path = tmp_path / "out" / "deploy.json"
    result = json.loads(path.read_text())
    assert set(result["targets"]) == {"torch", "onnxruntime", "onnxruntime_int8"}
    for t in result["targets"].values():
        assert set(t["by_batch"]) == {"1", "4"} and t["worst_batch"] in (1, 4)
        assert t["lut_mape"] == t["by_batch"][str(t["worst_batch"])]["lut_mape"] >= 0
        assert {"retest_mape", "lut_spearman"} <= set(t)
    assert set(result["int8_acc_drop_points_per_model"]) == {"00_r16_k5e3-k3e2_k3e3", "01_r12_k3e2_k5e3-k3e2"}
    assert result["int8_acc_drop_points"] == max(result["int8_acc_drop_points_per_model"].values())
    assert all(w["calibration"]["source"] == "train" for w in result["raw"]["winners"])
    members = result["raw"]["fronts"]["int8_searched"] + result["raw"]["fronts"]["torch_searched"]
    assert members and all(len(m["int8_correct"]) == len(dm.test_set) for m in members)
    assert result["commit"] and result["command"] and "lut_onnxruntime_int8" in result["config"]
    assert recompute.check(path) == []  # every headline figure recomputes from the raw data


def test_the_docs_section_is_written_from_the_result(tmp_path, monkeypatch):
    """The section of docs/benchmarks.md names every target and batch, the worst int8 cost and the fronts' verdict."""
    from bench.sections import deploy as section

    raw = _raw()
    raw["fronts"]["num_classes"] = 10
    result = {**deploy.headline({"raw": raw}), "raw": raw, "run": "r", "space": "tiny", "command": "c",
              "commit": "0123456789"}
    (tmp_path / "deploy.json").write_text(json.dumps(result))
    monkeypatch.setattr(section, "RESULTS", tmp_path)
    monkeypatch.setattr(section, "load_result", lambda name: json.loads((tmp_path / name).read_text()))
    text = section.deploy()
    assert "| onnxruntime_int8 | 4 | 73.0% | 0.0% | -1.000 | **not met** | **not met** |" in text
    assert "| torch | 1 |" in text and "worst +1.00 points (per winner: w1 +1.00, w2 -2.00)" in text
    assert "the int8-searched front beats it beyond noise" in text
    (tmp_path / "deploy.json").unlink()
    assert section.deploy().startswith("No full run is committed yet")
