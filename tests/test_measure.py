"""Known-answer tests of the deployed-cost figures: energy per image = power x latency / batch."""
from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

import search.hardware.measure as measure
from core.energy import PowerReading
from core.errors import GreenError


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
    out = measure.measure_models(nets, torch.device("cpu"), [1, 8], trials=2, power_window_s=0.1).to_json()
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
    out = measure.measure_models(nets, torch.device("cpu"), [1, 4], trials=1, power_window_s=0.1).to_json()
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
        return {k: {"median": {1: 3.0, 16: 12.0}[k[1]], "p10": 0, "p90": 0, "n": 1} for k in calls}
    monkeypatch.setattr(measure, "measure", fake_measure)
    monkeypatch.setattr(measure, "find_meter", lambda device: None)
    monkeypatch.setattr(measure, "measure_power",
                        lambda fn, s, meter, country="USA": PowerReading(5.0, "codecarbon-estimate", s, {}))
    cfg = OmegaConf.create({"threads": 1, "trials": 1, "warmup": 0, "min_call_ms": 1, "power_window_s": 0.1,
                            "country_iso_code": "USA"})
    out = measure.measure_deployed(torch.nn.Conv2d(1, 2, 3), 1, 8, torch.device("cpu"), [1, 16], cfg).to_json()
    assert out["latency_ms"] == 3.0 and out["latency_ms_b16"] == 12.0
    assert out["energy_mj_per_image"] == pytest.approx(5.0 * 12.0 / 16)
    assert out["energy_batch_size"] == 16 and out["energy_source"] == "codecarbon-estimate"


def test_session_figures_known_answer(monkeypatch):
    """Every figure of a session, and what the timing and power calls were asked for."""
    seen = {}

    def fake_measure(calls, device, trials=7, warmup=3, min_call_ms=20.0, seed=0, progress=None):
        seen["timing"] = (sorted(calls), trials, warmup, min_call_ms, seed)
        return {k: {"median": 2.0 * k[1], "p10": 1.5 * k[1], "p90": 3.0 * k[1], "n": trials} for k in calls}

    def fake_power(fn, seconds, meter, country="USA"):
        seen["power"] = (seconds, meter, country)
        fn(), fn(), fn()  # round-robin over the models' serving calls
        return PowerReading(6.0, "codecarbon-estimate", seconds, {"cpu_w": 6.0})

    ran = []
    monkeypatch.setattr(measure, "measure", fake_measure)
    monkeypatch.setattr(measure, "measure_power", fake_power)
    monkeypatch.setattr(measure, "find_meter", lambda device: None)
    formats = []
    monkeypatch.setattr(measure, "runner", lambda m, shape, device, memory_format: formats.append(memory_format)
                        or (lambda: ran.append((m, shape))))
    monkeypatch.setattr(measure, "device_fingerprint", lambda device: {"device": "cpu", "device_name": "x"})
    a, b = torch.nn.Identity(), torch.nn.Identity()
    threads = torch.get_num_threads()
    out = measure.measure_models({"a": (a, 1, 8), "b": (b, 3, 16)}, torch.device("cpu"), [1, 4], trials=5, warmup=1,
                                 min_call_ms=7.0, power_window_s=2.5, country_iso_code="FRA", threads=1, seed=9).to_json()
    assert torch.get_num_threads() == threads  # the caller's thread count is restored
    assert seen["timing"] == ([("a", 1), ("a", 4), ("b", 1), ("b", 4)], 5, 1, 7.0, 9)
    assert seen["power"] == (2.5, None, "FRA")
    assert ran == [(a, (4, 1, 8, 8)), (b, (4, 3, 16, 16)), (a, (4, 1, 8, 8))]  # serving batch, each in turn
    assert formats == ["channels_last"] * 4  # every model timed in the layout it is served in
    row = {"latency_ms_b1": 2.0, "latency_ms_b1_p10": 1.5, "latency_ms_b1_p90": 3.0, "latency_ms_b4": 8.0,
           "latency_ms_b4_p10": 6.0, "latency_ms_b4_p90": 12.0, "latency_ms": 2.0, "power_w": 6.0,
           "energy_mj_per_image": 6.0 * 8.0 / 4, "energy_source": "codecarbon-estimate (one power figure per session)",
           "energy_batch_size": 4}
    assert out["models"] == {"a": row, "b": row}
    typed = measure.measure_models({"a": (a, 1, 8)}, torch.device("cpu"), [1, 4], trials=5, threads=1).models["a"]
    assert typed.latency[4] == measure.Latency(8.0, 6.0, 12.0) and typed.latency_ms == 2.0
    assert out["session"] == {
        "batch_sizes": [1, 4], "trials": 5, "warmup": 1, "min_call_ms": 7.0, "threads": 1,
        "memory_format": "channels_last", "order": "all models and batch sizes interleaved, shuffled each trial", "device": "cpu", "device_name": "x",
        "power": {"source": "codecarbon-estimate", "watts": 6.0, "per_model": False, "seconds": 2.5,
                  "detail": {"cpu_w": 6.0}}}


def test_counter_session_records_idle_and_never_goes_below_zero(monkeypatch):
    _fake_timing(monkeypatch, measure, {2: 4.0})

    class Meter:
        source = "nvml"
    readings = iter([PowerReading(5.0, "nvml", 1, {}), PowerReading(4.0, "nvml", 1, {})])
    asked = []

    def fake_power(fn, seconds, meter, country="USA"):
        asked.append((fn is None, seconds, meter.source))
        return next(readings)
    monkeypatch.setattr(measure, "find_meter", lambda device: Meter())
    monkeypatch.setattr(measure, "measure_power", fake_power)
    out = measure.measure_models({"a": (torch.nn.Identity(), 1, 4)}, torch.device("cpu"), [2], power_window_s=0.5).to_json()
    assert asked == [(True, 0.5, "nvml"), (False, 0.5, "nvml")]  # idle first, then the model, same window
    assert out["models"]["a"]["power_w"] == 0.0 and out["models"]["a"]["energy_mj_per_image"] == 0.0
    assert out["models"]["a"]["energy_source"] == "nvml"
    assert out["session"]["power"] == {"source": "nvml", "idle_w": 5.0, "per_model": True}


@pytest.mark.parametrize("sizes, trials, message", [
    ([], 1, r"batch sizes must be a non-empty list of positive sizes, got \[\]"),
    ([4, -1], 1, r"got \[4, -1\]"),
    ([1], 0, "measurement trials must be >= 1, got 0"),
])
def test_measure_models_rejects_bad_protocols(sizes, trials, message):
    with pytest.raises(GreenError, match=message):
        measure.measure_models({"a": (torch.nn.Identity(), 1, 4)}, torch.device("cpu"), sizes, trials=trials)


def test_session_defaults_and_the_device_reach_every_call(monkeypatch):
    seen = {}
    dev = torch.device("cpu")

    def fake_measure(calls, device, trials=7, warmup=3, min_call_ms=20.0, seed=0, progress=None):
        seen["timing"] = (device, trials, warmup, min_call_ms, seed, torch.get_num_threads())
        return {k: {"median": 1.0, "p10": 1.0, "p90": 1.0, "n": 1} for k in calls}

    def fake_power(fn, seconds, meter, country="USA"):
        seen["power"] = (seconds, country)
        return PowerReading(1.0, "codecarbon-estimate", seconds, {})

    def fake_runner(m, shape, device, memory_format="channels_last"):
        seen.setdefault("runner", []).append(device)
        return lambda: None
    monkeypatch.setattr(measure, "measure", fake_measure)
    monkeypatch.setattr(measure, "measure_power", fake_power)
    monkeypatch.setattr(measure, "runner", fake_runner)
    monkeypatch.setattr(measure, "find_meter", lambda device: seen.setdefault("meter", device) and None)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        measure.measure_models({"a": (torch.nn.Identity(), 1, 4)}, dev, [1, 2])
    finally:
        torch.set_num_threads(before)
    assert seen["timing"] == (dev, 15, 2, 20.0, 0, 1)  # 15 trials, 2 warm-up, 20 ms calls, seed 0, on 1 thread
    assert seen["power"] == (5.0, "USA") and seen["runner"] == [dev, dev] and seen["meter"] == dev


def test_no_models_message_is_exact():
    with pytest.raises(GreenError, match=r"^no models to measure$"):
        measure.measure_models({}, torch.device("cpu"), [1])


def test_timing_runs_with_the_garbage_collector_off_and_gives_it_back():
    """As timeit does: a collection during a timed call would bill it for every object the process holds."""
    import gc

    from search.hardware.timing import measure as timed

    seen = []
    out = timed({"a": lambda: seen.append(gc.isenabled())}, torch.device("cpu"), trials=2, warmup=1, min_call_ms=0.1)
    assert seen and not any(seen) and gc.isenabled() and out["a"]["n"] == 2
    gc.disable()
    try:
        timed({"a": lambda: None}, torch.device("cpu"), trials=1, warmup=0, min_call_ms=0.1)
        assert not gc.isenabled()  # a caller's choice is left as it was
    finally:
        gc.enable()


def test_per_image_correctness_packs_and_unpacks():
    import numpy as np

    from supernet.metrics import pack_correct, unpack_correct

    bits = np.random.default_rng(0).random(10_001) < 0.7
    text = pack_correct(torch.as_tensor(bits))
    assert len(text) == 4 * (((10_001 + 7) // 8 + 2) // 3) == 1668  # base64 of 1,251 bytes
    assert (unpack_correct(text, 10_001) == bits).all() and (unpack_correct(pack_correct([True]), 1) == [True]).all()
    with pytest.raises(ValueError, match="holds 10008 bits, not 9992 images"):
        unpack_correct(text, 10_000 - 8)
    with pytest.raises(ValueError, match="not base64"):
        unpack_correct("not base64!", 8)


def test_session_records_the_thread_count_it_was_timed_at(monkeypatch):
    """A session timed on 1 thread in a process of 2 says 1 (it said 2: the fingerprint was read after the restore)."""
    during = []

    def fake_measure(calls, device, trials=7, warmup=3, min_call_ms=20.0, seed=0, progress=None):
        during.append(torch.get_num_threads())
        return {k: {"median": 1.0, "p10": 1.0, "p90": 1.0, "n": trials} for k in calls}

    monkeypatch.setattr(measure, "measure", fake_measure)
    monkeypatch.setattr(measure, "find_meter", lambda device: None)
    monkeypatch.setattr(measure, "measure_power", lambda fn, s, meter, country="USA":
                        PowerReading(5.0, "codecarbon-estimate", s, {}))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        out = measure.measure_models({"a": (torch.nn.Identity(), 1, 4)}, torch.device("cpu"), [1], trials=1,
                                     threads=1)
        assert torch.get_num_threads() == 2  # the caller's count is back
    finally:
        torch.set_num_threads(before)
    assert during == [1] and out.conditions["threads"] == 1
