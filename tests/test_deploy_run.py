"""green-run's deployment targets: every final model timed through each target in one round-robin session, its test
accuracy measured through that runtime (int8 beside its float original), the report's side-by-side section, and the
multi-table search's tables= passed through to the stages."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from hydra.utils import instantiate

import search.hardware.measure as measure
from core.device import Device
from core.energy import PowerReading
from core.errors import GreenError
from search.deploy.export import save_subnet
from search.pipeline.overrides import stage_overrides
from search.targets.accuracy import runtime_accuracy
from search.targets.calibration import CalibrationSet
from search.targets.int8 import OrtInt8Target
from supernet.net import extract_subnet

ARCHS = ("r16_k5e3-k3e2_k3e3", "r12_k3e2_k5e3-k3e2")


class FakeSession:
    """A target's session whose call counts how often the power window ran it."""

    def __init__(self):
        self.calls = 0

    def caller(self, batch_size, seed=None):
        def call():
            self.calls += 1
        return call


def test_other_targets_join_the_round_robin_and_share_the_power_figure(monkeypatch):
    order = []

    def fake_measure(calls, device, trials=7, warmup=3, min_call_ms=20.0, seed=0, progress=None):
        order.extend(calls)
        # torch items take 2 ms per image, int8 items 1 ms: each figure must come from its own item
        return {k: {"median": (1.0 if len(k) == 3 else 2.0) * k[1], "p10": 1.0, "p90": 3.0, "n": 1} for k in calls}
    monkeypatch.setattr(measure, "measure", fake_measure)
    monkeypatch.setattr(measure, "find_meter", lambda device: None)
    served = {"a": FakeSession(), "b": FakeSession()}

    def fake_power(fn, seconds, meter, country="USA"):
        for _ in range(4):  # two torch and two int8 serving calls in the cycle
            fn()
        return PowerReading(10.0, "codecarbon-estimate", seconds, {})
    monkeypatch.setattr(measure, "measure_power", fake_power)
    nets = {"a": (torch.nn.Conv2d(1, 2, 3), 1, 8), "b": (torch.nn.Conv2d(1, 2, 3), 1, 8)}
    out = measure.measure_models(nets, torch.device("cpu"), [1, 4], trials=1, power_window_s=0.1,
                                 served={"int8": served}).to_json()
    assert set(order) == {(n, bs) for n in "ab" for bs in (1, 4)} | {(n, bs, "int8") for n in "ab" for bs in (1, 4)}
    assert served["a"].calls == served["b"].calls == 1  # the power window cycled through the int8 calls too
    for n in "ab":
        t, q = out["models"][n], out["targets"]["int8"][n]
        assert (t["latency_ms"], t["latency_ms_b4"], q["latency_ms"], q["latency_ms_b4"]) == (2.0, 8.0, 1.0, 4.0)
        assert q["energy_mj_per_image"] == pytest.approx(10.0 * 4.0 / 4) and t["energy_mj_per_image"] == pytest.approx(10.0 * 8.0 / 4)
        assert q["energy_source"] == t["energy_source"] == "codecarbon-estimate (one power figure per session)"
    assert "targets" not in measure.measure_models(nets, torch.device("cpu"), [1], trials=1).to_json()


def _run_folder(root: Path, tiny_net, dm) -> None:
    calib = dm.calib_batches(64)
    for i, arch in enumerate(ARCHS):
        model = extract_subnet(tiny_net, arch, calib)
        save_subnet(model, root / "finetune" / "models" / f"{i:02d}_{arch}", {"result": {"replicate": 0}}, onnx=False)


def test_measure_stage_serves_every_model_through_each_target(tmp_path, tiny_net, compose_cfg, monkeypatch):
    from search.pipeline.stages import measure as measure_stage

    monkeypatch.setattr(measure, "find_meter", lambda device: None)
    cfg = compose_cfg("run", "targets=[torch,onnxruntime_int8]", "measure.trials=1", "measure.warmup=0",
                      "measure.min_call_ms=1", "measure.power_window_s=0.5", "measure.batch_sizes=[1,4]",
                      output_dir=tmp_path)
    dm = instantiate(cfg.data)
    dm.setup()
    _run_folder(tmp_path, tiny_net, dm)
    measure_stage(SimpleNamespace(cfg=cfg, root=tmp_path))
    rec = json.loads((tmp_path / "measure" / "measure.json").read_text())
    keys = {f"finetune/{a}" for a in ARCHS}
    assert set(rec["models"]) == set(rec["targets"]["onnxruntime_int8"]) == set(rec["deployed"]["onnxruntime_int8"]) == keys
    assert rec["target_specs"]["onnxruntime_int8"]["precision"] == "int8"
    calib = CalibrationSet.of_data(dm, OrtInt8Target().calibration_images)
    where = Device.of("cpu", 1, "channels_last")
    for i, arch in enumerate(ARCHS):
        d, q = rec["deployed"]["onnxruntime_int8"][f"finetune/{arch}"], rec["targets"]["onnxruntime_int8"][f"finetune/{arch}"]
        model = extract_subnet(tiny_net, arch, dm.calib_batches(64))
        # the recorded accuracy is the int8 model's: an int8 session built here on the same training images agrees
        again = runtime_accuracy(OrtInt8Target().session(model, (1, 1, 16, 16), where, calib=calib), dm, "test")
        assert d["correct"] == again.correct and d["images"] == again.images == len(dm.test_set)
        assert d["calibration"]["source"] == "train" and d["float_target"] == "onnxruntime"
        torch_acc = runtime_accuracy(measure_torch_session(model), dm, "test").acc
        assert d["float_test_acc"] == pytest.approx(torch_acc, abs=2 / d["images"])  # fp32 ORT runs torch's network
        assert d["acc_drop_points"] == pytest.approx(100 * (d["float_test_acc"] - d["test_acc"]))
        assert set(q) >= {"latency_ms_b1", "latency_ms_b4", "energy_mj_per_image"}
        assert q["power_w"] == rec["models"][f"finetune/{arch}"]["power_w"]  # one power figure for every target


def measure_torch_session(model):
    from search.targets.pytorch import TorchTarget

    return TorchTarget().session(model, (1, 1, 16, 16), Device.of("cpu", 1, "channels_last"))


def test_report_shows_float_and_int8_side_by_side(tmp_path, write_run):
    from search.pipeline.report import write_report

    root = write_run(tmp_path / "run")
    rec = json.loads((root / "measure" / "measure.json").read_text())
    fig = {"latency_ms": 0.5, "latency_ms_b1": 0.5, "latency_ms_b32": 4.0, "energy_mj_per_image": 0.25,
           "energy_source": "codecarbon-estimate (one power figure per session)"}
    acc = {"target": "onnxruntime_int8", "test_acc": 0.75, "correct": 75, "images": 100,
           "float_target": "onnxruntime", "float_test_acc": 0.78, "acc_drop_points": 3.0, "calibration": None}
    rec["targets"] = {"onnxruntime_int8": {"finetune/f1": fig, "baselines/b1": fig}}
    rec["deployed"] = {"onnxruntime_int8": {"finetune/f1": acc, "baselines/b1": {**acc, "acc_drop_points": -1.0}}}
    rec["session"] = {"batch_sizes": [1, 32], "power": {"source": "codecarbon-estimate", "watts": 7.5,
                                                       "per_model": False}}
    (root / "measure" / "measure.json").write_text(json.dumps(rec))
    write_report(root)
    md = (root / "report.md").read_text()
    section = md[md.index("## Deployed to each target"):]
    assert "at most **+3.00 points**, mean +1.00 over 2 models" in section
    assert "| f1 | winner | 0.8 | 0.78 | 0.75 | 3 | 1 | 0.5 | 1 | 4 | 0.25 |" in section
    assert "one power figure (7.5 W, codecarbon-estimate)" in section
    # one chart per target: torch against the target, per model, embedded in the section
    assert "![Final models deployed to onnxruntime_int8](report_deployed_onnxruntime_int8.png)" in section
    assert (root / "report_deployed_onnxruntime_int8.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((root / "report.json").read_text())["deployed"]["onnxruntime_int8"]["finetune/f1"]["test_acc"] == 0.75


def test_a_run_measured_on_torch_alone_has_no_deployed_section(tmp_path, write_run):
    from search.pipeline.report import write_report

    write_report(write_run(tmp_path / "run"))
    assert "## Deployed to each target" not in (tmp_path / "run" / "report.md").read_text()
    assert not list((tmp_path / "run").glob("report_deployed_*.png"))


def test_tables_pass_through_to_the_search_stage_whole(compose_cfg):
    over = stage_overrides({"tables": {"int8": "lut_int8/lut.json"}, "search": {"population": 4}})
    assert over == ["tables={int8:lut_int8/lut.json}", "search.population=4"]
    cfg = compose_cfg("search", "ckpt=x", "table=y", *over)  # a dotted tables.int8=... cannot set a null option
    assert dict(cfg.tables) == {"int8": "lut_int8/lut.json"} and cfg.search.population == 4


def test_run_tables_name_a_target_or_a_table(tmp_path, compose_cfg):
    from search.pipeline.run import Pipeline
    from search.pipeline.stages import extra_tables

    table = tmp_path / "other.json"
    table.write_text("{}")
    p = Pipeline(compose_cfg("run", "+tables.int8=onnxruntime_int8", f"+tables.gpu={table}", output_dir=tmp_path))
    assert extra_tables(p) == {"int8": ("onnxruntime_int8", tmp_path / "lut_int8" / "lut.json"), "gpu": (None, table)}
    with pytest.raises(GreenError, match=r"tables.x='no_such' is neither a deployment target \(.*onnxruntime_int8.*\) "
                                         "nor a green-lut lut.json"):
        Pipeline(compose_cfg("run", "+tables.x=no_such", output_dir=tmp_path))
    with pytest.raises(GreenError, match="deployment target"):
        Pipeline(compose_cfg("run", "targets=[torch,tensorrt]", output_dir=tmp_path))


def test_the_lut_stage_builds_and_validates_each_targets_table_and_the_search_gets_them(tmp_path, compose_cfg,
                                                                                       monkeypatch):
    import search.evolution.search as evo
    import search.hardware.lut as lut
    from hydra import initialize_config_module

    from search.pipeline import stages
    from search.pipeline.run import Pipeline

    built, validated, searched = [], [], []

    def build(cfg):
        built.append((cfg.target._target_, cfg.paths.output_dir))
        Path(cfg.table).parent.mkdir(parents=True, exist_ok=True)
        Path(cfg.table).write_text("{}")
    monkeypatch.setattr(lut, "build_table", build)
    monkeypatch.setattr(lut, "validate_table", lambda cfg: validated.append(cfg.table) or
                        Path(cfg.paths.output_dir, "lut_validate.json").write_text("{}"))
    monkeypatch.setattr(evo, "search", lambda cfg: searched.append(dict(cfg.tables)))
    cfg = compose_cfg("run", "+tables.int8=onnxruntime_int8", "select_fraction=0", output_dir=tmp_path)
    with initialize_config_module(config_module="conf", version_base="1.3"):
        p = Pipeline(cfg)
        assert not stages.lut_done(p)
        stages.lut(p)
        assert stages.lut_done(p)
        stages.search(p)
    assert [b[1] for b in built] == [str(tmp_path / "lut"), str(tmp_path / "lut_int8")]
    assert built[1][0] == "search.targets.int8.OrtInt8Target" and built[0][0] == "search.targets.pytorch.TorchTarget"
    assert validated == [str(tmp_path / "lut" / "lut.json"), str(tmp_path / "lut_int8" / "lut.json")]
    assert searched == [{"int8": str(tmp_path / "lut_int8" / "lut.json")}]
