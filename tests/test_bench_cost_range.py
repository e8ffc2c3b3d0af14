"""bench/cost_range.py: the cost-range table and its goals recompute from the raw session, and an edit is caught."""
import json

from bench import cost_range, recompute


def _raw():
    def m(macs, b1, b32, **kw):
        return {"macs": macs, "params": macs // 10, "latency_ms_b1": b1, "latency_ms_b32": b32, **kw}
    return {"serving_batch": 32, "baselines": ["mobilenetv3_small_050", "mobilenetv2_050"],
            "models": {"smallest": m(1_600_000, 1.7, 7.8, arch="r24_a"), "middle": m(7_000_000, 2.9, 21.0, arch="r28_b"),
                       "largest": m(45_000_000, 5.8, 150.0, arch="r32_c"),
                       "mobilenetv3_small_050": m(2_300_000, 3.0, 11.2), "mobilenetv2_050": m(7_800_000, 4.5, 7.0)}}


def test_cost_range_goals_and_recompute(bench_result):
    path, result = bench_result(recompute, "cost_range", cost_range.headline, _raw())
    assert result["smallest"]["latency_ms_serving"] == 7.8 and result["baselines"]["mobilenetv2_050"]["macs"] == 7_800_000
    g = result["goals"]
    assert g["smallest_below_cheapest_baseline_macs"] and g["smallest_below_cheapest_baseline_latency_ms_b1"]
    assert not g["smallest_below_cheapest_baseline_latency_ms_serving"]  # 7.8 ms vs mobilenetv2_050's 7.0
    assert g["largest_above_mobilenetv2_050_macs"]
    bad = json.loads(json.dumps(result))
    bad["smallest"]["macs"] = 1
    path.write_text(json.dumps(bad))
    assert any(p.startswith("smallest.macs") for p in recompute.check(path))
