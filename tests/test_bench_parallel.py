"""bench/parallel.py: the headline recomputed from raw data (known answers), and "identical" catches one
changed weight."""
import pytest

from bench import parallel


def _raw(par_weights="aa"):
    same = {"rows": [{"test_acc": 0.5}], "weights_sha256": {"00_x": "aa"}}
    par = {"rows": [{"test_acc": 0.5}], "weights_sha256": {"00_x": par_weights}}
    return {"raw": {"sequential_s": [100.0, 110.0, 90.0], "parallel_s": [60.0, 77.0, 63.0],
                    "fingerprints": {"sequential": [same] * 3, "parallel": [par] * 3, "control": par},
                    "fit_s": {"sequential": [[20.0] * 4] * 3, "parallel": [[30.0] * 4] * 3},
                    "jobs": 2, "launcher": "joblib", "models": 4}}


def test_headline_known_answers():
    h = parallel.headline(_raw())
    assert h["wall_ratios"] == pytest.approx([0.6, 0.7, 0.7])
    assert h["wall_ratio"] == pytest.approx(0.7) and h["goal"]["wall_ratio_at_most_0.75"]
    assert h["wall_ratio_ci95"] is None  # 3 rounds: the values, no interval
    raw = _raw()["raw"]
    raw["sequential_s"], raw["parallel_s"] = [100.0] * 5, [60.0, 77.0, 63.0, 70.0, 66.0]
    for k in ("sequential", "parallel"):
        raw["fingerprints"][k], raw["fit_s"][k] = raw["fingerprints"][k][:1] * 5, raw["fit_s"][k][:1] * 5
    five = parallel.headline({"raw": raw})
    assert five["wall_ratio"] == pytest.approx(0.66) and five["wall_ratio_ci95"][0] <= 0.66 <= five["wall_ratio_ci95"][1]
    assert h["identical"] and h["identical_at_equal_threads"]
    assert h["noise"]["sequential_spread"] == pytest.approx(20 / 100)
    assert (h["jobs"], h["launcher"], h["models"]) == (2, "joblib", 4)
    b = h["bound"]  # a job fits in 30 s on half the cores, 20 s on all: 4 jobs, 2 at a time -> 60 s vs 80 s
    assert b["thread_slowdown"] == pytest.approx(1.5) and b["ratio_without_overhead"] == pytest.approx(0.75)
    assert b["overhead_s"] == {"sequential": pytest.approx(20.0), "parallel": pytest.approx(3.0)}


def test_one_changed_weight_is_not_identical():
    h = parallel.headline(_raw(par_weights="ab"))
    assert not h["identical"] and h["identical_at_equal_threads"]
