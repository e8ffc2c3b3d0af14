"""Known-answer tests of the deployed-cost figures: energy per image = power x latency / batch."""
from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

import search.finetune as finetune
import search.measure as measure
from search.energy import PowerReading
from supernet.errors import GreenError


def _fake_timing(monkeypatch, module, ms_per_call: dict[int, float]):
    def fake_measure(calls, device, trials=7, warmup=3, min_call_ms=20.0, seed=0, progress=None):
        out = {}
        for key in calls:
            bs = key[1] if isinstance(key, tuple) else key
            out[key] = {"median": ms_per_call[bs], "p10": ms_per_call[bs] * 0.9, "p90": ms_per_call[bs] * 1.1, "n": 3}
        return out
    monkeypatch.setattr(module, "measure", fake_measure)


def test_session_energy_is_power_times_latency_over_batch(monkeypatch):
    _fake_timing(monkeypatch, measure, {1: 2.0, 8: 8.0})
    watts = []

    def fake_power(fn, seconds, meter, country="USA"):
        fn()  # the session's workload runs every model's serving call
        watts.append(10.0)
        return PowerReading(10.0, "codecarbon-estimate", seconds, {})
    monkeypatch.setattr(measure, "measure_power", fake_power)
    monkeypatch.setattr(measure, "find_meter", lambda device: None)
    nets = {"a": (torch.nn.Conv2d(1, 2, 3), 1, 8), "b": (torch.nn.Conv2d(1, 4, 3), 1, 8)}
    out = measure.measure_models(nets, torch.device("cpu"), [1, 8], trials=2, power_window_s=0.1)
    assert len(watts) == 1  # one power figure for the whole session
    for row in out["models"].values():
        assert row["latency_ms"] == 2.0 and row["latency_ms_b8"] == 8.0
        assert row["energy_mj_per_image"] == pytest.approx(10.0 * 8.0 / 8)  # W x ms / images = mJ per image
        assert row["power_w"] == 10.0 and "one power figure per session" in row["energy_source"]
    assert out["session"]["power"]["watts"] == 10.0 and not out["session"]["power"]["per_model"]


def test_session_with_a_counter_measures_each_model_net_of_idle(monkeypatch):
    _fake_timing(monkeypatch, measure, {1: 1.0, 4: 2.0})

    class Meter:
        source = "rapl"
    readings = iter([PowerReading(3.0, "rapl", 1, {}), PowerReading(13.0, "rapl", 1, {}),
                     PowerReading(23.0, "rapl", 1, {})])
    monkeypatch.setattr(measure, "find_meter", lambda device: Meter())
    monkeypatch.setattr(measure, "measure_power", lambda fn, s, meter, country="USA": next(readings))
    nets = {"a": (torch.nn.Conv2d(1, 2, 3), 1, 8), "b": (torch.nn.Conv2d(1, 2, 3), 1, 8)}
    out = measure.measure_models(nets, torch.device("cpu"), [1, 4], trials=1, power_window_s=0.1)
    assert out["models"]["a"]["energy_mj_per_image"] == pytest.approx((13.0 - 3.0) * 2.0 / 4)
    assert out["models"]["b"]["energy_mj_per_image"] == pytest.approx((23.0 - 3.0) * 2.0 / 4)
    assert out["models"]["a"]["energy_source"] == "rapl"


def test_measure_models_bad_input():
    with pytest.raises(GreenError, match="no models"):
        measure.measure_models({}, torch.device("cpu"), [1])
    with pytest.raises(GreenError, match="batch sizes"):
        measure.measure_models({"a": (torch.nn.Identity(), 1, 4)}, torch.device("cpu"), [0])


def test_finetune_deployed_energy_is_power_times_latency_over_batch(monkeypatch):
    def fake_measure(calls, device, trials=7, warmup=3, min_call_ms=20.0, seed=0, progress=None):
        return {bs: {"median": {1: 3.0, 16: 12.0}[bs], "p10": 0, "p90": 0, "n": 1} for bs in calls}
    monkeypatch.setattr(finetune, "measure", fake_measure)
    monkeypatch.setattr(finetune, "find_meter", lambda device: None)
    monkeypatch.setattr(finetune, "measure_power",
                        lambda fn, s, meter, country="USA": PowerReading(5.0, "codecarbon-estimate", s, {}))
    cfg = OmegaConf.create({"threads": 1, "trials": 1, "warmup": 0, "min_call_ms": 1, "power_window_s": 0.1,
                            "country_iso_code": "USA"})
    out = finetune.measure_deployed(torch.nn.Conv2d(1, 2, 3), 1, 8, torch.device("cpu"), [1, 16], cfg)
    assert out["latency_ms"] == 3.0 and out["latency_ms_b16"] == 12.0
    assert out["energy_mj_per_image"] == pytest.approx(5.0 * 12.0 / 16)
    assert out["energy_batch_size"] == 16 and out["energy_source"] == "codecarbon-estimate"
