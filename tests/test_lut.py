import json
import subprocess
import sys

import pytest

import search.hardware.lut as lut
from search.hardware.cost import CostModel, arch_ops, count, count_net, space_ops
from search.hardware.lookup import LookupTable, TableError
from supernet.net import SuperNet, extract_subnet


@pytest.fixture(scope="module")
def table_path(tiny_table):
    return tiny_table  # built as on a VM without RAPL, wherever the tests run


@pytest.fixture(scope="module")
def table(table_path):
    return LookupTable.read(table_path)


def test_space_ops_cover_every_arch(tiny_space, rng):
    keys = {op.key for op in space_ops(tiny_space)}
    for _ in range(50):
        assert {op.key for op in arch_ops(tiny_space, tiny_space.sample(rng))} <= keys


def test_table_round_trip_and_fingerprint(table_path, table, tiny_space):
    assert json.loads(table_path.read_text()) == table.to_json()
    fp = table.fingerprint
    assert fp["space_digest"] == tiny_space.digest() and fp["batch_sizes"] == [1, 4]
    assert fp["num_classes"] == 10 and fp["in_chans"] == 1 and fp["threads"] >= 1 and fp["device_name"]
    assert set(table.entries) == {op.key for op in space_ops(tiny_space)}
    entry = next(iter(table.entries.values()))["1"]["latency_ms"]
    assert entry["n"] == 2 and entry["p10"] <= entry["median"] <= entry["p90"]
    assert table.protocol["trials"] == 2 and "interleaved" in table.protocol["order"]
    assert not list(table_path.parent.glob(".*.tmp"))


def test_energy_is_labelled_an_estimate_without_counters(table, tiny_space):
    assert table.energy["source"] == "codecarbon-estimate" and table.energy["power_w"] > 0
    assert "estimate" in table.energy["note"]
    cost = CostModel(table, tiny_space).predict(tiny_space.largest())
    assert cost.energy_source == "codecarbon-estimate"
    assert cost.energy_mj == pytest.approx(table.energy["power_w"] * cost.latency_ms)


def test_predictor_equals_hand_sum(table, tiny_space):
    model = CostModel(table, tiny_space)
    arch = tiny_space.smallest()
    keys = ["stem_h12", "block_i8_o8_s1_k3_e2_h12_se0_relu", "block_i8_o16_s2_k3_e2_h12_se1_hard_swish", "head_h6"]
    assert [op.key for op in arch_ops(tiny_space, arch)] == keys
    for bs in (1, 4):
        raw = sum(table.entries[k][str(bs)]["latency_ms"]["median"] for k in keys)
        fit = table.correction[str(bs)]["latency_ms"]
        cost = model.predict(arch, bs)
        assert cost.latency_ms == pytest.approx(max(0.0, fit["a"] * raw + fit["b"]))
        assert cost.batch_size == bs
    with pytest.raises(TableError, match="batch sizes"):
        model.predict(arch, 3)


def test_params_and_macs_equal_the_extracted_network(tiny_space, cifar_space, rng):
    for space, chans in ((tiny_space, 1), (cifar_space, 3)):
        net = SuperNet(space, num_classes=10, in_chans=chans)
        for arch in [space.smallest(), space.largest()] + [space.sample(rng) for _ in range(3)]:
            static = extract_subnet(net, arch)
            assert count(space, arch, 10, chans) == count_net(static, arch.resolution, chans)
            assert count(space, arch, 10, chans)[0] == sum(p.numel() for p in static.parameters())


def test_fingerprint_mismatch_is_an_error(table_path, table, tiny_space, cifar_space):
    with pytest.raises(TableError, match="built for search space"):
        CostModel.load(table_path, cifar_space)
    assert CostModel.load(table_path, cifar_space, allow_mismatch=True).space is cifar_space
    here = dict(table.fingerprint, device_name="Some Other CPU")
    with pytest.raises(TableError, match="another device .*device_name"):
        CostModel.load(table_path, tiny_space, device=here)
    assert CostModel.load(table_path, tiny_space, device=table.fingerprint)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "not_a_table", "no_entries"])
def test_corrupt_table_is_an_error_naming_the_file(table_path, tmp_path, damage):
    bad = tmp_path / "bad.json"
    text = table_path.read_text()
    bad.write_text({"truncate": text[: len(text) // 2], "garbage": "\x00\x01",
                    "not_a_table": json.dumps({"hello": 1}),
                    "no_entries": json.dumps({**json.loads(text), "entries": None})}[damage])
    with pytest.raises(TableError, match="bad.json"):
        LookupTable.read(bad)


def test_prediction_stats_known_answer():
    # errors relative to the measurement: +5/100, -30/110, +10/40, -5/35 (dividing by the prediction
    # would give 5/105, 30/80, 10/50, 5/30: MAPE 0.197 instead of 0.179)
    st = lut.prediction_stats([105, 80, 50, 30], [100, 110, 40, 35])
    rel = [0.05, -30 / 110, 0.25, -5 / 35]
    assert st["mape"] == pytest.approx(sum(map(abs, rel)) / 4, rel=1e-12)
    assert st["bias"] == pytest.approx(sum(rel) / 4, rel=1e-12)
    assert st["within_10pct"] == 0.25  # only the first is within 10%
    # the prediction swaps the two largest: 5 concordant pairs of 6, rank differences (1, -1, 0, 0)
    assert st["kendall"] == pytest.approx(4 / 6, rel=1e-12)
    assert st["spearman"] == pytest.approx(1 - 6 * 2 / (4 * 15), rel=1e-12)
    perfect = lut.prediction_stats([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert perfect == {"mape": 0.0, "within_10pct": 1.0, "spearman": pytest.approx(1.0), "kendall": pytest.approx(1.0),
                       "bias": 0.0}


def test_validate_writes_json_and_plot(table_path, tmp_path, lut_cfg):
    res = lut.validate_table(lut_cfg(tmp_path, "mode=validate", f"table={table_path}"))
    assert res["n_subnets"] == 3 and res["energy_source"] == "codecarbon-estimate"
    b1 = res["batches"]["1"]
    for key in ("mape", "within_10pct", "spearman", "kendall", "bias"):
        assert key in b1["latency"] and key in b1["retest"]
    assert all(len(s["measured_ms"]) == 2 for s in b1["subnets"])
    assert "cannot be validated" in b1["energy"]["note"]
    assert (tmp_path / "lut_validate.json").is_file() and (tmp_path / "lut_validate_b1.png").stat().st_size > 1000


@pytest.mark.slow
def test_cli_missing_table_is_one_line(tmp_path):
    out = subprocess.run([sys.executable, "-m", "search.commands.lut", "mode=validate", f"table={tmp_path / 'none.json'}",
                          f"hydra.run.dir={tmp_path / 'run'}"], capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1].startswith("green-lut: error: lookup table") and "none.json" in out.stderr


def test_resumed_energy_is_added_to_what_was_booked_before(tmp_path):
    """A resumed training books its energy on top of the interrupted part's; a fresh one replaces it."""
    import time

    import torch

    from core.energy import track_energy

    cpu = torch.device("cpu")
    for accumulate in (False, True):
        with track_energy(tmp_path, "train", cpu, accumulate=accumulate):
            time.sleep(0.3)
    both = json.loads((tmp_path / "energy_train.json").read_text())
    assert both["sessions"] == 2 and both["seconds"] >= 0.6 and both["energy_kwh"] > 0
    with track_energy(tmp_path, "train", cpu):
        time.sleep(0.3)
    fresh = json.loads((tmp_path / "energy_train.json").read_text())
    assert fresh["sessions"] == 1 and fresh["seconds"] < both["seconds"] and fresh["energy_kwh"] < both["energy_kwh"]


def test_fit_line_known_answers():
    """Least squares by hand: x = 1..4, y = 1, 3, 2, 4 gives y = 0.8 x + 0.5 with R^2 = 0.64; the degenerate fits
    stay usable as a correction (identity for one point, slope 1 through the means for a constant x)."""
    from search.hardware.cost import fit_line

    fit = fit_line([1, 2, 3, 4], [1, 3, 2, 4])
    assert fit["a"] == pytest.approx(0.8) and fit["b"] == pytest.approx(0.5) and fit["r2"] == pytest.approx(0.64)
    assert fit["n"] == 4
    one = fit_line([2.0], [5.0])
    assert (one["a"], one["b"], one["n"]) == (1.0, 0.0, 1)
    flat = fit_line([3.0, 3.0, 3.0], [1.0, 2.0, 6.0])
    assert flat["a"] == 1.0 and flat["b"] == pytest.approx(3.0 - 3.0)


def test_whole_subnets_are_timed_after_the_op_runners_are_released(tmp_path, lut_cfg, monkeypatch):
    """The calibration subnets are timed in the state they are used in: no op module of the build still alive."""
    import weakref

    from supernet.net import GreenNet

    ops, alive_at_e2e = [], []
    made, timed = lut.Served.session, lut.measure

    def tracking_session(self, module, *args, **kwargs):
        session = made(self, module, *args, **kwargs)
        if not isinstance(module, GreenNet):
            ops.append(weakref.ref(session.module))  # the torch target's copy, which the op's calls run
        return session

    def tracking_measure(calls, *args, **kwargs):
        if any(isinstance(k, tuple) and str(k[0]).startswith("r") for k in calls):  # whole subnets: "r<res>_..."
            alive_at_e2e.append(sum(r() is not None for r in ops))
        return timed(calls, *args, **kwargs)

    monkeypatch.setattr(lut.Served, "session", tracking_session)
    monkeypatch.setattr(lut, "measure", tracking_measure)
    monkeypatch.setattr(lut, "find_meter", lambda device: None)
    lut.build_table(lut_cfg(tmp_path))
    assert ops and alive_at_e2e == [0, 0]  # one calibration group per batch size, after every op is gone


def test_a_poor_correction_fit_is_named(table):
    fit = {"a": 1.0, "b": 0.0, "n": 10}
    poor = LookupTable({"batch_sizes": [1, 8]}, {}, {"source": "x"}, correction={
        "1": {"latency_ms": {**fit, "r2": 0.99}},
        "8": {"latency_ms": {**fit, "r2": 0.42}, "energy_mj": {**fit, "r2": float("nan")}}})
    assert poor.poor_fits() == [
        f"the {what} correction at batch 8 fits poorly (r2 {r2} < 0.9 over 10 subnets): its predictions at that batch "
        "are unreliable; measure on a quieter machine, or with more protocol.trials and calib.subnets"
        for what, r2 in (("energy_mj", "nan"), ("latency_ms", "0.42"))]
    assert table.poor_fits(min_r2=-1) == []  # a built table's fits are numbers; none below -1


def test_green_lut_warns_on_a_poor_fit(tmp_path, lut_cfg, monkeypatch, capsys):
    monkeypatch.setattr(lut, "find_meter", lambda device: None)
    monkeypatch.setattr(lut, "fit_line", lambda x, y: {"a": 1.0, "b": 0.0, "r2": 0.3, "n": len(x)})
    lut.build_table(lut_cfg(tmp_path))
    warned = [line for line in capsys.readouterr().err.splitlines() if line.startswith("green-lut: warning:")]
    assert [w.split(" fits poorly")[0] for w in warned] == [
        "green-lut: warning: the latency_ms correction at batch 1", "green-lut: warning: the latency_ms correction at "
        "batch 4"]
    assert (tmp_path / "lut.json").is_file()  # written all the same: a warning, not an error
