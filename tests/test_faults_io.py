"""Nothing lost: interrupted checkpoint saves, full disks, signals, concurrent writers, damaged checkpoints.

Real processes and real faults: a SIGKILL inside a checkpoint write on a run folder that sits on another
filesystem than the system's temporary folder, a 1 MB tmpfs that fills up, SIGTERM and SIGINT sent to a
training, a second writer on a locked folder.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from core.lock import locked

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ["experiment=smoke", "data.train_subset=256", "module.calib_images=64", "trainer.enable_progress_bar=false"]


def _env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env.update(PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1", **extra)
    return env


def _run(module: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=_env(**env), capture_output=True,
                          text=True)


def _lines(r: subprocess.CompletedProcess) -> list[str]:
    return [ln for ln in r.stderr.strip().splitlines() if ": error:" in ln]


def _epoch(path: Path) -> int:
    return torch.load(path, map_location="cpu", weights_only=True)["epoch"]


@pytest.fixture
def small_fs(tmp_path):
    """A 1 MB tmpfs (root only; skipped where mounting is not allowed)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@pytest.mark.slow
def test_kill_during_a_checkpoint_save_keeps_the_good_one(tmp_path, small_fs):
    """The run folder on a tmpfs, the system temp folder elsewhere: a SIGKILL in the middle of writing the
    second epoch's last.ckpt leaves the first epoch's intact; the rerun sweeps the dead writer's temp file."""
    run = small_fs / "run"
    args = [*TRAIN, "epochs=2", f"hydra.run.dir={run}"]
    code = textwrap.dedent(f"""
        import os, signal, sys
        sys.argv = ["green-train", *{args!r}]
        import core.io as io
        import supernet.commands.train as m
        orig, n = io.os.fsync, [0]
        def fsync(fd):
            name = os.readlink(f"/proc/self/fd/{{fd}}")
            if ".last.ckpt." in name:
                n[0] += 1
                if n[0] == 2:  # the second epoch's last.ckpt, half way: written, not yet renamed
                    os.kill(os.getpid(), signal.SIGKILL)
            return orig(fd)
        io.os.fsync = fsync
        m.main()
    """)
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(TMPDIR=str(tmp_path)), capture_output=True,
                       text=True)
    assert r.returncode == -9, r.stderr[-2000:]
    last = run / "checkpoints" / "last.ckpt"
    assert _epoch(last) == 0  # the first epoch's checkpoint, whole
    assert list((run / "checkpoints").glob(".last.ckpt.*.tmp"))  # what the kill left
    again = _run("supernet.commands.train", *args, f"resume={last}")
    assert again.returncode == 0, again.stderr[-2000:]
    assert _epoch(last) == 1
    assert not list(run.rglob("*.tmp"))


@pytest.mark.slow
def test_full_disk_is_one_line_and_keeps_the_last_checkpoint(tmp_path, small_fs):
    run = small_fs / "run"
    first = _run("supernet.commands.train", *TRAIN, "epochs=1", f"hydra.run.dir={run}")
    assert first.returncode == 0, first.stderr[-2000:]
    last = run / "checkpoints" / "last.ckpt"
    good = last.read_bytes()
    st = os.statvfs(small_fs)
    free = st.f_bavail * st.f_frsize
    (small_fs / "filler").write_bytes(b"\0" * max(0, free - 40_000))  # room for logs, not for a checkpoint
    r = _run("supernet.commands.train", *TRAIN, "epochs=2", f"resume={last}")
    assert r.returncode == 2, r.stderr[-2000:]
    lines = _lines(r)
    assert len(lines) == 1 and lines[0].startswith("green-train: error: no space left on device"), r.stderr[-2000:]
    assert last.read_bytes() == good
    assert not list(run.rglob("*.tmp"))


@pytest.mark.slow
def test_a_disk_too_full_for_the_lock_is_one_line_and_leaves_no_folder(small_fs):
    """Less than a block free: the first write of the run (its lock record) fails; the line names that file, and
    the folder the command made for the run goes again instead of looking like a run."""
    st = os.statvfs(small_fs)
    (small_fs / "filler").write_bytes(b"\0" * (st.f_bavail * st.f_frsize - 2000))
    run = small_fs / "run"
    r = _run("supernet.commands.train", *TRAIN, "epochs=1", f"hydra.run.dir={run}")
    assert r.returncode == 2, r.stderr[-2000:]
    assert r.stderr.strip().splitlines() == [f"green-train: error: no space left on device writing '{run / '.lock'}'; "
                                             "free some space and rerun (finished artefacts are intact)"]
    assert not run.exists()


@pytest.mark.slow
def test_a_fresh_run_replaces_a_stale_best_checkpoint(tmp_path):
    """An attempt stopped by a full disk after best.ckpt and before last.ckpt leaves a best.ckpt behind; the next
    run in that folder replaces it instead of writing best-v1.ckpt beside it."""
    old, run = tmp_path / "old", tmp_path / "run"
    assert _run("supernet.commands.train", *TRAIN, "epochs=1", "seed=1", f"hydra.run.dir={old}").returncode == 0
    (run / "checkpoints").mkdir(parents=True)
    stale = (old / "checkpoints" / "best.ckpt").read_bytes()
    (run / "checkpoints" / "best.ckpt").write_bytes(stale)
    r = _run("supernet.commands.train", *TRAIN, "epochs=1", f"hydra.run.dir={run}")
    assert r.returncode == 0, r.stderr[-2000:]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    assert (run / "checkpoints" / "best.ckpt").read_bytes() != stale


@pytest.mark.slow
def test_branching_from_a_finished_run_with_no_epoch_left_is_refused(tmp_path):
    """resume=<another run's last.ckpt> into a new folder with no epoch left would train nothing and publish a
    metrics.json naming a last.ckpt never written: one line, no folder; with more epochs the branch trains."""
    base, branch = tmp_path / "base", tmp_path / "branch"
    assert _run("supernet.commands.train", *TRAIN, "epochs=1", f"hydra.run.dir={base}").returncode == 0
    ckpt = base / "checkpoints" / "last.ckpt"
    r = _run("supernet.commands.train", *TRAIN, "epochs=1", f"resume={ckpt}", f"hydra.run.dir={branch}")
    assert r.returncode == 2
    assert _lines(r) == [f"green-train: error: nothing to train: '{ckpt}' has trained 1 epochs and this run asks "
                         f"for 1 in all; ask for more (epochs=...) to continue it into '{branch}'"]
    assert not branch.exists()
    r = _run("supernet.commands.train", *TRAIN, "epochs=2", f"resume={ckpt}", f"hydra.run.dir={branch}")
    assert r.returncode == 0, r.stderr[-2000:]
    assert _epoch(branch / "checkpoints" / "last.ckpt") == 1


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 300) -> None:
    t = time.time()
    while not path.exists():
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.time() - t < timeout
        time.sleep(0.2)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.slow
def test_signal_stops_at_a_safe_point_resumably(tmp_path, sig):
    """SIGTERM (a scheduler) or SIGINT (Ctrl-C) after the first epoch: one line naming the checkpoint, exit
    128 + signal, no metrics.json; rerunning with resume= finishes the run."""
    run = tmp_path / "run"
    args = [*TRAIN, "epochs=50", f"hydra.run.dir={run}"]
    proc = subprocess.Popen([sys.executable, "-m", "supernet.commands.train", *args], cwd=ROOT, env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    last = run / "checkpoints" / "last.ckpt"
    _wait_for(last, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 128 + sig, err[-2000:]
    lines = [ln for ln in err.splitlines() if ": error:" in ln]
    assert len(lines) == 1 and f"stopped by {sig.name}" in lines[0] and f"resume={last}" in lines[0], err[-2000:]
    assert not (run / "metrics.json").exists()
    epoch = _epoch(last)
    again = _run("supernet.commands.train", *[a for a in args if a != "epochs=50"], f"epochs={epoch + 2}", f"resume={last}")
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads((run / "metrics.json").read_text())["epochs"] == epoch + 2


@pytest.mark.slow
def test_a_second_writer_is_refused(tmp_path, tiny_ckpt, tiny_table):
    run = tmp_path / "run"
    with locked(run, "green-search (pid 1)"):
        r = _run("search.commands.search", f"ckpt={tiny_ckpt}", f"table={tiny_table}", f"hydra.run.dir={run}")
    assert r.returncode == 2
    lines = _lines(r)
    assert len(lines) == 1 and "is in use by green-search (pid 1)" in lines[0], r.stderr[-2000:]
    assert not (run / "cache.jsonl").exists()
    assert not (run / ".hydra").exists()  # the records are the holder's: written only once the lock is taken


@pytest.mark.slow
def test_truncated_checkpoint_names_the_good_one(tmp_path):
    run = tmp_path / "run"
    assert _run("supernet.commands.train", *TRAIN, "epochs=1", f"hydra.run.dir={run}").returncode == 0
    last, best = run / "checkpoints" / "last.ckpt", run / "checkpoints" / "best.ckpt"
    last.write_bytes(last.read_bytes()[:1000])
    r = _run("supernet.commands.train", *TRAIN, "epochs=2", f"resume={last}")
    assert r.returncode == 2
    lines = _lines(r)
    assert len(lines) == 1 and "truncated" in lines[0] and f"resume={best}" in lines[0], r.stderr[-2000:]
    last.write_bytes(b"")
    r = _run("supernet.commands.train", *TRAIN, "epochs=2", f"resume={last}")
    assert r.returncode == 2 and "truncated" in _lines(r)[0]


@pytest.mark.slow
def test_resume_continues_in_the_checkpoint_folder_and_a_finished_run_has_nothing_to_do(tmp_path):
    run = tmp_path / "run"
    assert _run("supernet.commands.train", *TRAIN, "epochs=1", f"hydra.run.dir={run}").returncode == 0
    last = run / "checkpoints" / "last.ckpt"
    before = sorted(p.name for p in tmp_path.iterdir())
    done = _run("supernet.commands.train", *TRAIN, "epochs=1", f"resume={last}")
    assert done.returncode == 0 and "nothing to do" in done.stdout, done.stderr[-2000:]
    more = _run("supernet.commands.train", *TRAIN, "epochs=2", f"resume={last}")  # no hydra.run.dir: the run's own folder
    assert more.returncode == 0, more.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no new timestamped folder
    assert json.loads((run / "metrics.json").read_text())["epochs"] == 2 and _epoch(last) == 1


@pytest.mark.slow
def test_resume_auto_picks_up_the_folder_checkpoint(tmp_path):
    run = tmp_path / "run"
    fresh = _run("supernet.commands.train", *TRAIN, "epochs=1", "resume=auto", f"hydra.run.dir={run}")
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    again = _run("supernet.commands.train", *TRAIN, "epochs=2", "resume=auto", f"hydra.run.dir={run}")
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads((run / "metrics.json").read_text())["global_step"] == 8  # 4 steps an epoch, 2 epochs


@pytest.mark.parametrize("module, prog, option", [("search.commands.search", "green-search", "ckpt"),
                                                  ("search.commands.extract", "green-extract", "ckpt")])
@pytest.mark.slow
def test_missing_mandatory_option_is_one_line_and_leaves_no_folder(tmp_path, module, prog, option):
    run = tmp_path / "run"
    r = _run(module, f"hydra.run.dir={run}")
    assert r.returncode == 2
    assert _lines(r) == [f"{prog}: error: missing mandatory option {option}= (e.g. {prog} {option}=<...>; "
                         f"see {prog} --help)"]
    assert not run.exists()  # the folder it made held nothing but logs


@pytest.mark.slow
def test_failure_keeps_a_folder_with_results(tmp_path):
    """A failed rerun in a folder that holds a finished run removes nothing."""
    run = tmp_path / "run"
    assert _run("supernet.commands.train", *TRAIN, "epochs=1", f"hydra.run.dir={run}").returncode == 0
    r = _run("supernet.commands.train", *TRAIN, "epochs=2", f"resume={tmp_path / 'nope.ckpt'}", f"hydra.run.dir={run}")
    assert r.returncode == 2 and "does not exist" in _lines(r)[0]
    assert (run / "checkpoints" / "last.ckpt").is_file() and (run / "metrics.json").is_file()


@pytest.mark.slow
def test_non_finite_weights_are_refused(tmp_path, tiny_ckpt):
    from supernet.checkpoint import load_supernet
    from core.errors import CheckpointError

    ckpt = torch.load(tiny_ckpt, map_location="cpu", weights_only=True)
    key = next(k for k, v in ckpt["state_dict"].items() if k.startswith("net.") and v.is_floating_point())
    ckpt["state_dict"][key] = torch.full_like(ckpt["state_dict"][key], float("nan"))
    torch.save(ckpt, tmp_path / "nan.ckpt")
    with pytest.raises(CheckpointError, match=f"non-finite weights \\(first: {key[4:]}\\)"):
        load_supernet(tmp_path / "nan.ckpt")
    # and on resume: one line naming a good checkpoint of the folder instead of training on from NaN
    run = tmp_path / "run" / "checkpoints"
    run.mkdir(parents=True)
    (tmp_path / "nan.ckpt").rename(run / "last.ckpt")
    shutil.copy(tiny_ckpt, run / "best.ckpt")
    r = _run("supernet.commands.train", *TRAIN, "epochs=3", f"resume={run / 'last.ckpt'}")
    assert r.returncode == 2, r.stderr[-2000:]
    lines = _lines(r)
    assert len(lines) == 1 and f"has non-finite weights (first: {key})" in lines[0], r.stderr[-2000:]
    assert f"resume={run / 'best.ckpt'}" in lines[0]


def test_sweep_removes_only_dead_writers_temporaries(tmp_path):
    from core.io import sweep_temp

    (tmp_path / "models" / ".01_r16.abc123.tmp").mkdir(parents=True)
    (tmp_path / ".lut.json.x1y2.tmp").write_text("{")
    keep = [tmp_path / "lut.json", tmp_path / ".hydra", tmp_path / "notes.tmp"]
    keep[0].write_text("{}")
    keep[1].mkdir()
    keep[2].write_text("mine")
    gone = sweep_temp(tmp_path)
    assert sorted(p.name for p in gone) == [".01_r16.abc123.tmp", ".lut.json.x1y2.tmp"]
    assert all(p.exists() for p in keep)


@pytest.mark.slow
def test_sigterm_during_finetune_exits_143_and_the_rerun_does_only_what_is_missing(tmp_path, tiny_ckpt):
    """Outside green-train's fit too (here green-finetune, between and inside its models' trainings): one line,
    exit 143, the finished models kept; the same command on the same folder skips them and completes."""
    run = tmp_path / "ft"
    args = [f"ckpt={tiny_ckpt}", "archs=[r16_k3e2_k3e2]", "seeds=3", "epochs=2", "data.train_subset=256",
            "calib_images=64", "trainer.enable_progress_bar=false", "measure.enabled=false", "onnx=false",
            f"hydra.run.dir={run}"]
    proc = subprocess.Popen([sys.executable, "-m", "search.commands.finetune", *args], cwd=ROOT, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t = time.time()
    while not list((run / "models").glob("*/arch.json")):  # the first model finished
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.time() - t < 300
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 143, err[-2000:]
    lines = [ln for ln in err.splitlines() if ": error:" in ln]
    assert len(lines) == 1 and lines[0].startswith("green-finetune: error: stopped by SIGTERM"), err[-2000:]
    assert "rerun the same green-finetune command" in lines[0]
    kept = sorted(p.parent.name for p in (run / "models").glob("*/arch.json"))
    assert 1 <= len(kept) < 3 and not (run / "finetune.json").exists()
    again = _run("search.commands.finetune", *args)
    assert again.returncode == 0, again.stderr[-2000:]
    assert all(f"{k} already" in again.stdout for k in kept), again.stdout[-2000:]
    assert len(json.loads((run / "finetune.json").read_text())["models"]) == 3


@pytest.mark.slow
def test_a_killed_joblib_worker_loses_no_finished_job_and_the_rerun_does_only_what_is_missing(tmp_path, tiny_ckpt):
    """One loky worker of a joblib batch killed mid-job: the batch fails in one line naming the job(s) that died,
    the jobs that finished keep their results, and the same command on the same folder trains only the others."""
    import psutil

    run = tmp_path / "ft"
    args = [f"ckpt={tiny_ckpt}", "archs=[r16_k3e2_k3e2]", "seeds=4", "epochs=3", "data.train_subset=256",
            "calib_images=64", "trainer.enable_progress_bar=false", "measure.enabled=false", "onnx=false",
            "launcher=joblib", "launcher.jobs=2", "launcher.exclusive=false", f"hydra.run.dir={run}"]
    proc = subprocess.Popen([sys.executable, "-m", "search.commands.finetune", *args], cwd=ROOT, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t = time.time()
    while not list((run / "jobs" / "done").glob("*")):  # a job finished: kill a worker busy with another
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.time() - t < 300
        time.sleep(0.1)
    def cmd(p):  # a child that just exited (a zombie) or is gone has no command line: skip it, never fail on it
        try:
            return " ".join(p.cmdline())
        except psutil.Error:
            return ""

    children = psutil.Process(proc.pid).children(recursive=True)
    workers = [p for p in children if "loky" in cmd(p) or "joblib" in cmd(p)]
    assert workers, [cmd(p) for p in children]
    workers[-1].kill()
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 2, err[-2000:]
    lines = [ln for ln in err.splitlines() if ": error:" in ln]
    assert len(lines) == 1 and "failed" in lines[0] and "the finished jobs are kept" in lines[0], err[-2000:]
    kept = sorted(p.parent.name for p in (run / "models").glob("*/arch.json"))
    assert 1 <= len(kept) < 4
    again = _run("search.commands.finetune", *args)
    assert again.returncode == 0, again.stderr[-2000:]
    assert all(f"{k} already" in again.stdout for k in kept), again.stdout[-2000:]
    assert len(json.loads((run / "finetune.json").read_text())["models"]) == 4
