"""bench/lut_accuracy.py: MAPE and signed bias reported apart, per round and averaged, against known answers."""
import pytest

from bench import lut_accuracy as lut


def _round(pred, m1, m2):
    return {"build_seconds": 10.0, "batches": {"1": {"subnets": [
        {"predicted_ms": p, "measured_ms": [a, b]} for p, a, b in zip(pred, m1, m2)]}}}


def test_mape_bias_retest_and_drift_known_answers():
    p = [1.0, 2.0, 3.0, 4.0, 5.0]
    # round 1: the table sits between two measurements 10% above and 10% below it (one machine state);
    # round 2: the same table, the machine twice as slow, both measurements equal
    r1 = _round(p, [1.1 * x for x in p], [0.9 * x for x in p])
    r2 = _round(p, [2 * x for x in p], [2 * x for x in p])
    h = lut.headline({"raw": {"batch_size": 1, "rounds": [r1, r2]}})
    lo, hi = -0.1 / 1.1, 0.1 / 0.9  # each prediction's signed error against measurement 1 and 2 of round 1
    b = h["by_batch"]["1"]
    assert b["mape_per_round"] == pytest.approx([(-lo + hi) / 2, 0.5])
    assert b["bias_per_round"] == pytest.approx([(lo + hi) / 2, -0.5])  # +1%: small, though every error is ~10%
    assert b["mape"] == pytest.approx(((-lo + hi) / 2 + 0.5) / 2) and b["bias"] == pytest.approx(((lo + hi) / 2 - 0.5) / 2)
    assert b["retest_mape_per_round"] == pytest.approx([0.2 / 0.9, 0.0])
    assert b["table_retest_mape"] == 0.0 and b["drift_between_rounds"] == pytest.approx(2.0)
    assert b["cross_round_mape"] == pytest.approx(0.5)  # round 1's table against round 2's machine
    assert h["lut_mape"] == pytest.approx(b["mape"]) and h["bias"] == pytest.approx(b["bias"])
    assert h["retest_mape"] == pytest.approx(0.1 / 0.9) and h["mape_over_retest"] == pytest.approx(b["mape"] / (0.1 / 0.9))
    assert h["n_subnets"] == 5 and h["rounds"] == 2 and h["goals"]["build_under_10_min"] is True
    assert h["lut_spearman"] == pytest.approx(1.0) and h["lut_mape_ci"][0] <= h["lut_mape"] <= h["lut_mape_ci"][1]
    four = lut.headline({"raw": {"batch_size": 1, "rounds": [_round(p[:4], p[:4], p[:4])]}})
    assert four["lut_mape_ci"] is None and four["lut_mape"] == 0.0  # no interval from 4 subnets
    assert "drift_between_rounds" not in four["by_batch"]["1"]  # one round: no drift to show
