"""green-extract target=...: the deployable file, its calibration identity and its measured figures beside the arch,
with the accuracy measured through that runtime (int8 beside its float original)."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import onnxruntime as ort
import pytest
import torch
from hydra.utils import instantiate

import search.deploy.runtime as runtime
from search.deploy.export import load_subnet
from search.deploy.extract import extract
from supernet.identity import DataIdentity

ARCH = "r16_k5e3-k3e2_k3e3"
FAST = ["measure.trials=2", "measure.warmup=1", "measure.min_call_ms=1", "measure.power_window_s=1",
        "measure.batch_sizes=[1,4]", "calib_images=128", "val_images=100", "onnx=false"]


def test_extract_to_int8_writes_the_file_its_calibration_and_measured_figures(tmp_path, tiny_ckpt, compose_cfg,
                                                                              monkeypatch):
    monkeypatch.setattr(runtime, "find_meter", lambda device: None)  # as on a machine without counters
    cfg = compose_cfg("extract", f"ckpt={tiny_ckpt}", f"arch={ARCH}", "target=onnxruntime_int8",
                      "target.calibration_images=64", *FAST, output_dir=tmp_path)
    out = extract(cfg)
    assert {p.name for p in out.iterdir()} == {"arch.json", "model.safetensors", "card.md", "deploy.json",
                                               "model.onnxruntime_int8.onnx"}
    rec = json.loads((out / "deploy.json").read_text())
    data = rec["calibration"]["data"]
    dm = instantiate(compose_cfg("train").data)
    assert rec["arch"] == ARCH and rec["target"]["name"] == "onnxruntime_int8" and rec["target"]["precision"] == "int8"
    assert rec["calibration"]["source"] == "train" and rec["calibration"]["images"] == 64
    assert DataIdentity.from_json(data).differences(DataIdentity.of(dm)) == []  # the supernet's own training split
    onnx_file = out / rec["file"]
    assert rec["sha256"] == hashlib.sha256(onnx_file.read_bytes()).hexdigest()
    int8, fp32 = rec["served"]
    assert (int8["target"], fp32["target"]) == ("onnxruntime_int8", "onnxruntime")
    n_val = len(dm.val_set)
    for s in (int8, fp32):
        assert s["accuracy"]["split"] == "val" and s["accuracy"]["images"] == n_val
        assert set(s["latency_ms"]) == {"1", "4"} and s["latency_ms"]["4"]["n"] == 2
        assert s["energy_source"] == "codecarbon-estimate (one power figure per session)"
        assert s["energy_mj_per_image"] == pytest.approx(s["power_w"] * s["latency_ms"]["4"]["median"] / 4)
    assert rec["acc_drop_points"] == pytest.approx(100 * (fp32["accuracy"]["acc"] - int8["accuracy"]["acc"]))
    # the recorded accuracy is the written file's, recomputed here through ONNX Runtime on the validation images
    sess = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    hits = 0
    for x, y in dm.val_dataloader():
        logits = sess.run(None, {sess.get_inputs()[0].name: np.ascontiguousarray(dm.transform(x).contiguous().numpy())})[0]
        hits += int((torch.from_numpy(logits).argmax(1) == y).sum())
    assert hits == int8["accuracy"]["correct"]
    meta = json.loads((out / "arch.json").read_text())
    assert meta["deployed_target"] == "onnxruntime_int8" and meta["deployed_val_acc"] == int8["accuracy"]["acc"]
    assert meta["deployed_acc_drop_points"] == pytest.approx(rec["acc_drop_points"])
    assert "accuracy cost of quantisation" in (out / "card.md").read_text()
    assert load_subnet(out).arch.to_dict() == meta["arch"]
    # a deployed folder is an extraction folder: overwrite=true may replace it
    extract(compose_cfg("extract", f"ckpt={tiny_ckpt}", f"arch={ARCH}", "overwrite=true", *FAST, output_dir=tmp_path))
    assert not (out / "deploy.json").exists()


def test_extract_to_torch_measures_the_float_model_without_a_file_of_its_own(tmp_path, tiny_ckpt, compose_cfg,
                                                                             monkeypatch):
    monkeypatch.setattr(runtime, "find_meter", lambda device: None)
    out = extract(compose_cfg("extract", f"ckpt={tiny_ckpt}", f"arch={ARCH}", "target=torch", *FAST,
                              output_dir=tmp_path))
    rec = json.loads((out / "deploy.json").read_text())
    assert rec["file"] is None and rec["calibration"] is None and rec["acc_drop_points"] is None
    assert [s["target"] for s in rec["served"]] == ["torch"]
    assert rec["served"][0]["energy_source"] == "codecarbon-estimate"  # one model: no "per session" note
    assert not list(out.glob("model.*.onnx"))


def test_extract_to_onnxruntime_on_a_gpu_it_lacks_is_one_line(tmp_path, tiny_ckpt, compose_cfg, one_line, capsys):
    if torch.cuda.is_available() and "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this machine runs ONNX Runtime on CUDA")
    line = one_line("green-extract", extract, compose_cfg("extract", f"ckpt={tiny_ckpt}", f"arch={ARCH}",
                                                          "target=onnxruntime", "measure.device=cuda", *FAST,
                                                          output_dir=tmp_path), capsys)
    assert "device=cuda" in line
    assert not (tmp_path / "model").exists()


def test_finetune_to_int8_measures_test_accuracy_through_the_runtime(tmp_path, tiny_ckpt, compose_cfg, monkeypatch):
    from search.deploy.finetune import finetune

    monkeypatch.setattr(runtime, "find_meter", lambda device: None)
    cfg = compose_cfg("finetune", f"ckpt={tiny_ckpt}", f"archs=[{ARCH}]", "epochs=1", "data.train_subset=256",
                      "calib_images=128", "trainer.enable_progress_bar=false", "measure.trials=2", "measure.warmup=1",
                      "measure.min_call_ms=1", "measure.power_window_s=0.5", "measure.batch_sizes=[1,4]", "onnx=false",
                      "target=onnxruntime_int8", "target.calibration_images=64", output_dir=tmp_path)
    (row,) = finetune(cfg)
    assert row["deployed_target"] == "onnxruntime_int8"
    n_test = row["test_images"]
    # ONNX Runtime float32 runs the network torch tested: the same test accuracy (to an argmax tie or two)
    assert row["deployed_float_test_acc"] == pytest.approx(row["test_acc"], abs=2 / n_test)
    assert row["deployed_acc_drop_points"] == pytest.approx(100 * (row["deployed_float_test_acc"]
                                                                   - row["deployed_test_acc"]))
    (folder,) = (tmp_path / "models").iterdir()
    rec = json.loads((folder / "deploy.json").read_text())
    assert rec["served"][0]["accuracy"]["split"] == "test" and rec["served"][0]["accuracy"]["images"] == n_test
    assert rec["calibration"]["source"] == "train" and (folder / "model.onnxruntime_int8.onnx").is_file()
    assert json.loads((tmp_path / "finetune.json").read_text())["models"][0]["deployed_test_acc"] == row["deployed_test_acc"]


@pytest.mark.parametrize("target", ["onnxruntime_int8", "onnxruntime"])
def test_baselines_deployed_to_a_target_measure_test_accuracy_through_the_runtime(tmp_path, compose_cfg, monkeypatch,
                                                                                 target):
    from search.deploy.baselines import baselines, load_baseline

    monkeypatch.setattr(runtime, "find_meter", lambda device: None)
    cfg = compose_cfg("baselines", "models=[timm/lcnet_050]", "epochs=1", "data.train_subset=256", "calib_images=64",
                      "trainer.enable_progress_bar=false", "measure.trials=2", "measure.warmup=1",
                      "measure.min_call_ms=1", "measure.power_window_s=0.5", "measure.batch_sizes=[1,4]",
                      f"target={target}", "target.calibration_images=64" if target.endswith("int8") else "onnx=false",
                      output_dir=tmp_path)
    (row,) = baselines(cfg)
    folder = tmp_path / "models" / "lcnet_050"
    rec = json.loads((folder / "deploy.json").read_text())
    assert rec["arch"] == "timm/lcnet_050" and rec["target"]["name"] == target == row["deployed_target"]
    onnx_file = folder / f"model.{target}.onnx"
    assert rec["file"] == onnx_file.name and rec["sha256"] == hashlib.sha256(onnx_file.read_bytes()).hexdigest()
    n_test = row["test_images"]
    own = rec["served"][0]
    assert own["accuracy"]["split"] == "test" and own["accuracy"]["images"] == n_test
    assert row["deployed_test_acc"] == own["accuracy"]["acc"]
    # the recorded accuracy is the written file's, recomputed here through ONNX Runtime on the test images
    dm = instantiate(cfg.data)
    dm.setup()
    sess = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    hits = 0
    for x, y in dm.test_dataloader():
        logits = sess.run(None, {sess.get_inputs()[0].name: np.ascontiguousarray(dm.transform(x).contiguous().numpy())})[0]
        hits += int((torch.from_numpy(logits).argmax(1) == y).sum())
    assert hits == own["accuracy"]["correct"]
    if target == "onnxruntime_int8":
        assert rec["calibration"]["source"] == "train" and rec["calibration"]["images"] == 64
        assert row["deployed_float_test_acc"] == pytest.approx(row["test_acc"], abs=2 / n_test)  # fp32 ORT = torch
        assert row["deployed_acc_drop_points"] == pytest.approx(100 * (row["deployed_float_test_acc"]
                                                                       - row["deployed_test_acc"]))
    else:  # a float runtime runs the network torch tested: the same accuracy (to an argmax tie or two)
        assert rec["calibration"] is None and "deployed_acc_drop_points" not in row
        assert row["deployed_test_acc"] == pytest.approx(row["test_acc"], abs=2 / n_test)
    assert json.loads((tmp_path / "baselines.json").read_text())["models"][0]["deployed_test_acc"] == row["deployed_test_acc"]
    assert load_baseline(folder).meta["result"]["deployed_target"] == target  # still a loadable baseline folder


def test_a_baseline_folder_refuses_a_stray_file(tmp_path):
    from core.errors import GreenError
    from search.deploy.baselines import build_baseline, save_baseline

    model = build_baseline("timm", "lcnet_050", 10, 1, 8)
    with pytest.raises(GreenError, match="'notes.txt' is not a file of a baseline folder"):
        save_baseline(model, tmp_path / "b", {"name": "lcnet_050"}, onnx=False, files={"notes.txt": b"x"})
    assert not (tmp_path / "b").exists()
