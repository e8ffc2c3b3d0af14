"""Machine load around the stages of a run (core.load, search.pipeline.machine): known answers for the busy rule,
the counters of this process and its children, and the report's one statement and marks (issue 34: energies
followed machine load, 4.4x apart in kWh, and nothing said so)."""
from __future__ import annotations

import json
import math
import subprocess
import sys
import time

import pytest

from core.load import Load, Snapshot, snapshot
from search.pipeline.machine import MARK, load_lines, load_summary


@pytest.mark.parametrize("others_s, cores, threads, busy", [
    (20.0, 2, 2, True),     # others used 2 of the 2 cores the run trained on
    (1.0, 2, 2, False),     # 0.1 core: daemons, within the margin
    (20.0, 4, 1, False),    # 2 cores of the 3 the run left free: no competition
    (35.0, 4, 1, True),     # 3.5 cores: more than the 3 left free
])
def test_others_cpu_and_the_busy_rule_known_answers(others_s, cores, threads, busy):
    # 10 s apart: the machine was busy 5 + others_s CPU seconds, of which 5 were the run's own
    before, after = Snapshot(100.0, 1.5, 1000.0, 50.0), Snapshot(110.0, 3.5, 1005.0 + others_s, 55.0)
    load = Load.between(before, after, threads, cores)
    assert load.others_cores == pytest.approx(others_s / 10)
    assert (load.load_before, load.load_after, load.threads, load.cores) == (1.5, 3.5, threads, cores)
    assert load.busy is busy
    back = Load.from_json(json.loads(json.dumps(load.to_json())))
    assert back == load and load.to_json()["busy"] is busy


def test_unknown_counters_are_null_and_never_busy():
    load = Load.between(Snapshot(0.0, math.nan, math.nan, 1.0), Snapshot(5.0, math.nan, math.nan, 2.0), 1, 1)
    rec = load.to_json()
    assert rec["others_cores"] is None and rec["load_before"] is None and rec["busy"] is False
    assert math.isnan(Load.from_json(rec).others_cores)


def test_this_process_and_its_running_children_are_not_other_processes():
    pytest.importorskip("psutil")  # a running child is read through psutil; without it only ended ones count
    before = snapshot()
    child = subprocess.Popen([sys.executable, "-c", "import time\nt = time.process_time()\n"
                              "while time.process_time() - t < 0.6: pass\nprint('spun', flush=True)\ntime.sleep(30)"],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "spun"
        t = time.process_time()
        while time.process_time() - t < 0.3:  # and this process's own CPU time
            pass
        after = snapshot()  # the child still runs
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
    own = after.own_s - before.own_s
    assert own >= 0.8  # 0.3 s here and the child's 0.6 s (less a clock tick each)
    assert after.busy_s - before.busy_s >= own - 0.1  # the machine's busy time holds ours
    assert not math.isnan(after.loadavg) and after.wall > before.wall


def _loads(busy_train: bool):
    train = Load(4.6, 5.0, 2.0 if busy_train else 0.0, 2, 2, 2)
    lut = Load(5.0, 5.1, 0.1, 2, 2, 2)
    return {"lut": {"seconds": 1.0, "finished": 20.0, "load": lut.to_json()},  # run.json order is not run order
            "train": {"seconds": 9.0, "finished": 10.0, "load": train.to_json()},
            "search": {"seconds": 3.0, "finished": 30.0}}  # recorded before loads were: left out


def test_the_report_states_the_load_once_and_names_the_stages_under_load():
    summary = load_summary(_loads(busy_train=True))
    assert list(summary["stages"]) == ["train", "lut"] and summary["busy"] == ["train"]
    line = load_lines(summary)[0]
    assert line.startswith("Machine load: 1-minute load average 4.6 before the first stage and 5.1 after the last; "
                           "the run may use 2 cores and trained on 2 thread(s); other processes used 0.1 to 2.0 of the "
                           "2 CPUs while the stages ran. **Under load**")
    assert line.endswith(f": train; their figures are marked {MARK} below.")
    assert load_lines(load_summary(_loads(busy_train=False)))[0].endswith("No stage ran under load.")
    assert load_summary({"train": {"seconds": 1.0}}) is None and load_lines(None)[0].startswith("Machine load: not")


def test_figures_of_a_stage_under_load_are_marked_in_the_report(tmp_path, write_run):
    from search.pipeline.report import chart_labels, markdown
    from search.pipeline.summary import summarise

    write_run(tmp_path, stages={
        "finetune": {"seconds": 5.0, "finished": 1.0, "load": Load(1.0, 1.0, 0.0, 2, 2, 2).to_json()},
        "baselines": {"seconds": 5.0, "finished": 2.0, "load": Load(3.0, 4.0, 1.9, 2, 2, 2).to_json()}})
    s = summarise(tmp_path)
    assert s["load"]["busy"] == ["baselines"]
    md = markdown(s, [], {c: f"report_{c}.png" for c, _ in chart_labels(s)}, tmp_path)
    assert md.count("Machine load:") == 1 and "**Under load** (" in md
    rows = [line for line in md.splitlines() if line.startswith("| ")]
    marked = [r.split(" | ")[0] for r in rows if MARK in r]
    # the baselines' own measurement (no session), their training kWh, their ledger and stage-time rows
    assert marked == ["| b1", "| b1", f"| baselines {MARK}", f"| baselines {MARK}"], marked
    assert sum(r.startswith(("| W1", "| f1", "| finetune")) for r in rows) == 4  # the winner's rows: unmarked


def test_green_run_records_each_stage_load_in_its_log(tmp_path, compose_cfg, capsys):
    import torch

    from search.pipeline.run import Pipeline

    pipe = Pipeline(compose_cfg("run", output_dir=tmp_path))
    pipe.stage("lut", lambda: False, lambda: time.sleep(0.2))
    rec = json.loads((tmp_path / "run.json").read_text())["stages"]["lut"]["load"]
    load = Load.from_json(rec)
    assert load.threads == torch.get_num_threads() and load.cores >= 1 and load.others_cores >= 0
    assert rec["busy"] is load.busy
    done = capsys.readouterr().out.strip().splitlines()[-1]
    assert done.startswith("green-run: [2/") and ("under load: load " in done) is load.busy
