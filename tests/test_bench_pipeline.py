"""bench/pipeline.py: the headline's energy figures are known answers of the stage ledger (the one-shot route's
kWh and the multi-trial route's, the cost table counted in both)."""
import copy
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def test_route_energies_are_known_answers_of_the_ledger(load_bench):
    result = copy.deepcopy(json.loads((BENCH / "results" / "archive" / "issue29" / "pipeline.json").read_text()))
    raw = result["raw"]
    kwh = {"train": 2.0, "lut": 0.5, "search": 0.5, "finetune": 2.0, "scratch": 16.0, "mt_search": 9.0,
           "mt_train": 2.0}
    for stage, v in kwh.items():
        raw["ledger"][stage]["energy_kwh"] = v
    raw["seeds"] = 2
    h = load_bench("pipeline").headline(result)
    # per seed: one-shot = train 2 + lut 0.5 + search 0.5 + finetune 2/2; multi-trial = lut 0.5 + mt_search 9
    # + mt_train 2/2 (the cost table prices both searches); from scratch: 16/2
    mt = h["multi_trial"]
    assert mt["one_shot_kwh"] == pytest.approx(4.0) and mt["multi_trial_kwh"] == pytest.approx(10.5)
    assert mt["energy_ratio"] == pytest.approx(4.0 / 10.5) and h["amortisation_ratio"] == pytest.approx(0.5)
