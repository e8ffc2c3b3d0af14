"""bench/breakeven.py: the interleaved per-candidate costs give known break-even figures, per round too; the
script runs end to end on a tiny digits supernet (slow)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import breakeven

ROOT = Path(__file__).resolve().parents[1]


def _item(seconds, busy=False):
    return {"seconds": seconds, "load": {"busy": busy}}


def _raw(trials, scoring=(0.1, 0.1, 0.1)):
    # 3600 W: a second costs 1e-3 kWh
    return {"power_w": 3600.0, "power_source": "codecarbon-estimate", "supernet_kwh": 1.0, "candidates": 1000,
            "supernet_record": {"seconds": 2000.0},
            "rounds": [{"order": "AB", "scoring": [_item(s) for s in scoring], "trial": _item(t, busy=i == 0)}
                       for i, t in enumerate(trials)]}


def test_known_break_even_from_the_medians():
    h = breakeven.headline({"raw": _raw([10.0, 10.0])})
    assert h["scoring_kwh"] == pytest.approx(1e-4) and h["trial_kwh"] == pytest.approx(1e-2)
    assert h["breakeven_candidates"] == pytest.approx(1.0 / (1e-2 - 1e-4))
    assert h["energy_ratio"] == pytest.approx((1.0 + 1000 * 1e-4) / (1000 * 1e-2))
    assert h["trial_over_scoring"] == pytest.approx(100.0)
    # one scale: the supernet's 2000 s at 3600 W = 2 kWh
    assert h["same_scale"]["supernet_kwh"] == pytest.approx(2.0)
    assert h["same_scale"]["breakeven_candidates"] == pytest.approx(2.0 / (1e-2 - 1e-4))
    assert h["breakeven_candidates_ci95"] is None and h["interval"] == "none: fewer than 5 rounds"
    assert h["busy_items"] == 1 and h["items"] == 8
    assert "3.6e+03 W" in h["energy_source"] and h["energy_source"].startswith("codecarbon-estimate")


def test_per_round_break_even_and_an_interval_from_five_rounds():
    h = breakeven.headline({"raw": _raw([5.1, 10.1, 20.1, 10.1, 10.1])})
    assert h["breakeven_candidates_per_round"][0] == pytest.approx(1.0 / 5e-3)
    assert h["trial_seconds"]["median"] == pytest.approx(10.1) and h["trial_seconds"]["n"] == 5
    lo, hi = h["breakeven_candidates_ci95"]
    assert lo <= 100.0 <= hi and h["interval"] == "bootstrap over rounds"


def test_a_trial_no_dearer_than_scoring_never_breaks_even():
    h = breakeven.headline({"raw": _raw([0.05], scoring=(0.1,))})
    assert h["breakeven_candidates"] is None and h["breakeven_candidates_per_round"] == [None]


@pytest.mark.slow
def test_quick_run_writes_a_recomputable_result(tmp_path):
    out = subprocess.run([sys.executable, "bench/breakeven.py", "--quick", "--out", str(tmp_path)], cwd=ROOT,
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads((tmp_path / "breakeven.json").read_text())
    assert len(result["raw"]["rounds"]) == 2 and result["quick"] is True
    assert result["breakeven_candidates"] == breakeven.headline(result)["breakeven_candidates"]
    assert {"commit", "command", "config"} <= set(result)


def test_missing_ckpt_is_one_line_and_non_zero():
    out = subprocess.run([sys.executable, "bench/breakeven.py"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and out.stderr.strip().splitlines()[-1].startswith("breakeven: --ckpt is required")
