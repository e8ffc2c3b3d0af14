"""bench/reference.py (issue 32): the plateau rule and the published figures, with known answers."""
from __future__ import annotations

import pytest
from pytest import approx

import bench.reference


@pytest.fixture
def reference():
    return bench.reference


def _raw(largest, smallest, planned, middle=None, first=1):
    """Curves logged from epoch ``first`` on (earlier logs lost), the checkpoint at the last of them."""
    def by_epoch(curve):
        return [[first + i, v] for i, v in enumerate(curve)]

    return {"curves": {"largest": by_epoch(largest), "middle": by_epoch(middle or largest),
                       "smallest": by_epoch(smallest)},
            "epochs_planned": planned, "checkpoint_epoch": first + len(largest) - 2,
            "energy": {"energy_kwh": 0.5, "seconds": 3600.0, "source": "codecarbon-estimate", "sessions": 4}}


def test_plateau_is_reached_only_when_flat_and_the_schedule_ended(reference):
    flat = [0.5, 0.70, 0.802, 0.804, 0.806]
    h = reference.headline({"raw": _raw(flat, [0.4, 0.6, 0.70, 0.701, 0.7], 5)})
    assert h["plateau_points"]["largest"] == approx(0.4) and h["plateau_points"]["smallest"] == approx(0.1)
    assert h["plateau_reached"] and h["schedule_ended"] and h["epochs_done"] == 5
    assert h["final_val_acc"]["smallest"] == 0.7 and h["train_kwh"] == 0.5 and h["train_sessions"] == 4
    # the same curves with epochs left in the schedule: not a plateau (a cosine schedule still moves)
    assert not reference.headline({"raw": _raw(flat, [0.4, 0.6, 0.70, 0.701, 0.7], 30)})["plateau_reached"]
    # the smallest still climbing 0.6 points over the last 3 epochs
    h = reference.headline({"raw": _raw(flat, [0.4, 0.6, 0.700, 0.703, 0.706], 5)})
    assert h["plateau_points"]["smallest"] == approx(0.6) and not h["plateau_reached"]
    # fewer than 3 epochs: no plateau figure
    h = reference.headline({"raw": _raw([0.5, 0.6], [0.4, 0.5], 2)})
    assert h["plateau_points"]["largest"] is None and not h["plateau_reached"]
    # epochs 1-17 of a 20-epoch schedule no longer logged: judged on epochs 18-20 all the same
    h = reference.headline({"raw": _raw(flat[-3:], [0.70, 0.701, 0.7], 20, first=18)})
    assert h["epochs_done"] == 20 and h["epochs_logged"] == [18, 19, 20] and h["plateau_reached"]
    # an epoch of the last three missing from the logs: no plateau figure, never one from other epochs
    raw = _raw(flat, [0.4, 0.6, 0.70, 0.701, 0.7], 5)
    raw["curves"]["smallest"].pop(3)
    h = reference.headline({"raw": raw})
    assert h["plateau_points"]["smallest"] is None and not h["plateau_reached"]


def test_a_folder_that_is_no_run_is_refused(reference, tmp_path, capsys):
    with pytest.raises(SystemExit) as err:
        reference.main(["--run", str(tmp_path), "--out", str(tmp_path / "out")])
    assert err.value.code == 2 and "missing" in capsys.readouterr().err and not (tmp_path / "out").exists()
