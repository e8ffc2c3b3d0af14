"""bench/first_hour.py: its headline comes from the raw item records only, and its plan alternates idle and
loaded quickstarts."""
from __future__ import annotations

import os
import time

from bench.first_hour import busy_loops, headline, plan, stop


def _rec(item, repeat, wall, rc=0, summary=None):
    return {"item": item, "repeat": repeat, "wall_s": wall, "returncode": rc, "summary": summary}


def test_headline_is_medians_and_the_loaded_ratio():
    raw = {"install_0": _rec("install", 0, 120.0), "quickstart_0": _rec("quickstart", 0, 100.0),
           "quickstart_1": _rec("quickstart", 1, 110.0), "quickstart_2": _rec("quickstart", 2, 90.0),
           "quickstart_loaded_0": _rec("quickstart_loaded", 0, 250.0),
           "quickstart_loaded_1": _rec("quickstart_loaded", 1, 350.0, rc=1),
           "tests_0": _rec("tests", 0, 280.0, summary="700 passed, 1 skipped in 279.00s"),
           "help_0": _rec("help", 0, 4.0), "help_1": _rec("help", 1, 2.5), "help_2": _rec("help", 2, 2.0)}
    h = headline({"raw": raw})
    assert h["quickstart_s"] == 100.0 and h["quickstart_values_s"] == [100.0, 110.0, 90.0]
    assert h["quickstart_loaded_s"] == 300.0 and not h["quickstart_loaded_ok"] and h["quickstart_ok"]
    assert h["loaded_over_idle"] == 3.0 and h["loaded_within_3x"]
    assert h["install_s"] == 120.0 and h["tests_s"] == 280.0 and h["tests_passed"] == 700
    assert h["help_s"] == 2.5 and h["help_values_s"] == [4.0, 2.5, 2.0]
    # goals: the idle quickstart and --help are met; the tests (280 <= 300) too; a failed item never meets one
    assert h["goals"] == {"quickstart_within_120s": True, "tests_within_300s": True, "help_within_3s": True,
                          "loaded_within_3x": True}
    raw["quickstart_loaded_0"]["wall_s"] = 400.0
    raw["tests_0"]["returncode"] = 1
    h = headline({"raw": raw})
    assert not h["loaded_within_3x"] and not h["goals"]["loaded_within_3x"] and not h["goals"]["tests_within_300s"]


def test_plan_alternates_and_busy_loops_are_not_descendants():
    assert plan(2) == [("install", 0), ("help", 0), ("help", 1), ("help", 2), ("quickstart", 0), ("quickstart_loaded", 0), ("quickstart", 1),
                       ("quickstart_loaded", 1), ("tests", 0)]
    pids = busy_loops(1)
    try:
        import psutil

        assert pids[0] not in {c.pid for c in psutil.Process().children(recursive=True)}
        deadline = time.monotonic() + 20  # it loops: CPU time grows (slowly on a loaded machine)
        while psutil.Process(pids[0]).cpu_times().user <= 0.05 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert psutil.Process(pids[0]).cpu_times().user > 0.05
    finally:
        stop(pids)
    time.sleep(0.3)
    try:
        os.kill(pids[0], 0)
        import psutil

        assert psutil.Process(pids[0]).status() == psutil.STATUS_ZOMBIE
    except ProcessLookupError:
        pass
