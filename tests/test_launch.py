"""Batches of independent jobs through Hydra's launchers (search.jobs): same results as a serial run,
resume job by job, one-line errors naming a failed job, devices assigned, bad launcher settings refused."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from search.deploy.finetune import finetune
from search.jobs.launch import Job, Launcher, launcher_of, replicate_jobs, results
from search.pipeline.overrides import shared_for
from core.device import available_cores, thread_share
from core.errors import GreenError

ROOT = Path(__file__).resolve().parents[1]
FAST = ["epochs=1", "data.train_subset=256", "calib_images=128", "trainer.enable_progress_bar=false",
        "measure.enabled=false", "onnx=false", "threads=1", "archs=[r16_k5e3-k3e2_k3e3,r12_k3e2_k3e2]", "seeds=2"]
SAME = ("name", "arch", "replicate", "seed", "test_acc", "test_recall", "test_recall_min", "test_class_recall",
        "test_confusion", "params", "macs", "select_acc")


def probe_job(cfg, job: Job) -> None:
    """A job for the launcher tests: logs each run, fails or dies on request, else writes its result."""
    folder = Path(job.folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / "runs.log", "a") as f:
        f.write(f"{job.key} threads={cfg.threads}\n")
    what = job.payload.get("do", "ok")
    if what == "fail" and not (folder.parent / "fixed").exists():
        raise ValueError("the probe was told to fail")
    if what == "die" and not (folder.parent / "fixed").exists():
        os.kill(os.getpid(), signal.SIGKILL)
    folder.mkdir()
    (folder / "done.json").write_text(json.dumps({"result": {"key": job.key, "seed": job.seed}}))


def _probe_jobs(tmp_path, kinds, names=None):
    return replicate_jobs(names or [f"m{i}" for i in range(len(kinds))], 1, 7, tmp_path / "models",
                          [{"do": k} for k in kinds])


def _runs(tmp_path):
    return (tmp_path / "models" / "runs.log").read_text().split()


@pytest.mark.slow
def test_parallel_fine_tunes_equal_the_serial_ones_and_resume(tmp_path, tiny_ckpt, compose_cfg):
    serial = finetune(compose_cfg("finetune", f"ckpt={tiny_ckpt}", *FAST, output_dir=tmp_path / "serial"))
    par_cfg = compose_cfg("finetune", f"ckpt={tiny_ckpt}", *FAST, "launcher=joblib", "launcher.jobs=2",
                          "launcher.exclusive=false", output_dir=tmp_path / "par")
    par = finetune(par_cfg)
    assert len(serial) == len(par) == 4
    assert [{k: r.get(k) for k in SAME} for r in par] == [{k: r.get(k) for k in SAME} for r in serial]
    for a, b in zip(sorted((tmp_path / "serial" / "models").iterdir()), sorted((tmp_path / "par" / "models").iterdir())):
        assert a.name == b.name and (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
    assert json.loads((tmp_path / "par" / "finetune.json").read_text())["models"] == json.loads(json.dumps(par))
    # a rerun launches nothing
    mtime = (tmp_path / "par" / "models" / "00_r16_k5e3-k3e2_k3e3" / "model.safetensors").stat().st_mtime
    assert finetune(par_cfg) == json.loads(json.dumps(par))
    assert (tmp_path / "par" / "models" / "00_r16_k5e3-k3e2_k3e3" / "model.safetensors").stat().st_mtime == mtime


@pytest.mark.slow
def test_a_failed_job_is_named_the_others_kept_and_only_it_reruns(tmp_path):
    jobs = _probe_jobs(tmp_path, ["ok", "fail", "ok"])
    cfg = OmegaConf.create({"threads": None})
    launcher = Launcher("joblib", jobs=2, exclusive=False)
    with pytest.raises(GreenError) as err:
        launcher.run(jobs, probe_job, cfg, tmp_path / "jobs", "probe")
    msg = str(err.value)
    assert "\n" not in msg and "job m1 failed: ValueError: the probe was told to fail" in msg
    assert [r["key"] for r in results(jobs, "done.json")] == ["m0", "m2"]
    assert f"threads={thread_share(2)}" in _runs(tmp_path)  # each of 2 jobs: half the cores
    (tmp_path / "models" / "fixed").touch()
    todo = [j for j in jobs if not (Path(j.folder) / "done.json").exists()]
    launcher.run(todo, probe_job, cfg, tmp_path / "jobs", "probe")
    assert [r["key"] for r in results(jobs, "done.json")] == ["m0", "m1", "m2"]
    assert sorted(x for x in _runs(tmp_path) if x.startswith("m")) == ["m0", "m1", "m1", "m2"]  # only m1 again


@pytest.mark.slow
def test_keys_with_dots_are_matched_whole(tmp_path):
    """Arch strings hold widths such as w0.5: a job's markers must not be cut at the last dot."""
    jobs = _probe_jobs(tmp_path, ["ok", "fail"], names=["00_r24_w0.5-k3e2", "01_r24_w0.75-k3e2"])
    with pytest.raises(GreenError) as err:
        Launcher("joblib", jobs=2, exclusive=False).run(jobs, probe_job, OmegaConf.create({"threads": None}),
                                                      tmp_path / "jobs", "probe")
    assert "job 01_r24_w0.75-k3e2 failed: ValueError" in str(err.value) and "2 jobs failed" not in str(err.value)
    assert [r["key"] for r in results(jobs, "done.json")] == ["00_r24_w0.5-k3e2"]


@pytest.mark.slow
def test_a_job_whose_process_dies_is_named_and_finished_ones_are_kept(tmp_path):
    jobs = _probe_jobs(tmp_path, ["ok", "die"])
    launcher = Launcher("submitit_local", jobs=1, exclusive=False, params={"timeout_min": 5})
    with pytest.raises(GreenError) as err:
        launcher.run(jobs, probe_job, OmegaConf.create({"threads": None}), tmp_path / "jobs", "probe")
    assert "\n" not in str(err.value) and "job m1 failed" in str(err.value)
    assert [r["key"] for r in results(jobs, "done.json")] == ["m0"]


def test_bad_launcher_settings_are_one_line_errors(compose_cfg):
    with pytest.raises(GreenError, match=r"launcher submitit_slurm needs launcher.params.partition"):
        launcher_of(compose_cfg("finetune", "launcher=submitit_slurm"))
    with pytest.raises(GreenError, match=r"unknown launcher plugin 'ray'"):
        Launcher("ray")
    with pytest.raises(GreenError, match=r"launcher.jobs must be a whole number >= 1, got 0"):
        launcher_of(compose_cfg("finetune", "launcher=joblib", "launcher.jobs=0"))
    many = available_cores() + 1
    cfg = compose_cfg("finetune", "launcher=joblib", f"launcher.jobs={many}", "measure.enabled=false")
    with pytest.raises(GreenError, match=rf"launcher.jobs={many} asks for more parallel jobs than the"):
        launcher_of(cfg).check(cfg, "green-finetune")
    Launcher("joblib", jobs=many, exclusive=False).check(cfg, "green-finetune")  # shared devices: allowed
    measured = compose_cfg("finetune", "launcher=joblib", "launcher.exclusive=false")
    with pytest.raises(GreenError, match=r"latency measured while 2 jobs share this machine"):
        launcher_of(measured).check(measured, "green-finetune")


@pytest.mark.slow
def test_the_cli_refuses_a_slurm_launcher_without_its_partition(tmp_path):
    r = subprocess.run([sys.executable, "-m", "search.commands.finetune", f"hydra.run.dir={tmp_path / 'ft'}",
                        "ckpt=x.ckpt", "launcher=submitit_slurm"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("green-finetune: error: ") and "launcher.params.partition" in lines[0]
    assert not (tmp_path / "ft" / "models").exists()


def test_the_slurm_command_line_is_valid_for_hydras_submitit_launcher(tmp_path):
    launcher = Launcher("submitit_slurm", jobs=4, params={"partition": "gpu", "timeout_min": 60, "gpus_per_node": 1,
                                                          "account": "proj42"})
    cmd = [c for c in launcher.command(tmp_path / "jobs", 3) if c != "--multirun" and not c.startswith("job=")]
    cmd += ["job=0", "--cfg", "hydra"]  # the composed Hydra config of one job, nothing submitted
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-1500:]
    hydra = OmegaConf.create(r.stdout.split("\n", 1)[1] if r.stdout.startswith("#") else r.stdout)
    la = hydra.hydra.launcher
    assert la._target_.endswith("SlurmLauncher") and la.partition == "gpu" and la.account == "proj42"
    assert la.array_parallelism == 4 and la.timeout_min == 60


def test_green_run_passes_its_launcher_to_the_training_stages_only():
    shared = ["launcher=joblib", "launcher.jobs=2", "data=digits"]
    assert shared_for("finetune", shared) == shared and shared_for("table", shared) == shared
    assert shared_for("search", shared) == ["data=digits"] and shared_for("lut", shared) == ["data=digits"]


def test_results_come_back_in_job_order_not_in_key_order(tmp_path):
    """Rows are read back in the order of the jobs (a serial run's), whatever their keys sort to."""
    keys = ["zeta", "alpha", "mid_w0.5", "beta"]
    jobs = [Job(key=k, folder=str(tmp_path / k), index=i) for i, k in enumerate(keys)]
    for job in jobs[:3]:  # the last job has not finished: no row, the others keep their places
        Path(job.folder).mkdir()
        (Path(job.folder) / "done.json").write_text(json.dumps({"result": {"key": job.key}}))
    assert [r["key"] for r in results(jobs, "done.json")] == ["zeta", "alpha", "mid_w0.5"]
    assert [r["key"] for r in results(jobs[::-1], "done.json")] == ["mid_w0.5", "alpha", "zeta"]
