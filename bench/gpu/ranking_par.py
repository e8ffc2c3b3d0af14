"""bench/ranking.py, unchanged, with its two finetune() calls run as parallel single-arch jobs.

    DEADLINE=<epoch s> python ranking_par.py --ckpt ... --pool 60 --subnets 10 --epochs 0 ... overrides

What differs from a plain ``python bench/ranking.py``:
* ``load_supernet`` maps the supernet to ``RANK_DEVICE`` (cuda) so the pool is scored on the GPU
  (the bench loads it on the CPU).
* ``finetune(cfg)`` (scratch) and ``finetune(cfg_ft)`` (inherited) run one process per arch, all
  20 at once. Job i gets ``archs=[arch_i]`` and ``seed=cfg.seed+i`` (what the sequential loop's
  i-th iteration seeds with), ``data.seed`` pinned to the original seed (same split and batches).
* Epochs: FIXED_F=<F> sets F directly (no calibration). Otherwise a calibration wave (every job with epochs=1) times one epoch under the full parallel
  load; F = as many epochs as fit before ``DEADLINE`` (clamped to [F_MIN, F_MAX]); the same F for
  scratch and inherited. ranking.json's recipe.epochs is rewritten to F afterwards.
"""
from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

G = Path(__file__).resolve().parent
SRC = Path(os.environ.get("GREEN_SRC", G / "src")).resolve()
os.environ["GREEN_SRC"] = str(SRC)
sys.path.insert(0, str(SRC / "bench"))
sys.path.insert(0, str(SRC))

import ranking  # noqa: E402  (bench/ranking.py)
from omegaconf import OmegaConf  # noqa: E402

DEADLINE = float(os.environ["DEADLINE"])
F_MIN, F_MAX = int(os.environ.get("F_MIN", 2)), int(os.environ.get("F_MAX", 15))
MARGIN = float(os.environ.get("B_MARGIN", 15))
DEVICE = os.environ.get("RANK_DEVICE", "cpu")
SUMMARY = Path(os.environ.get("PAR_SUMMARY", G / "ranking_par.json"))
T0 = time.time()
STATE: dict = {"pool_scores": {}, "epochs": None, "pending": None, "waves": [], "device": DEVICE}


def log(msg: str) -> None:
    print(f"[ranking_par +{time.time() - T0:6.1f}s] {msg}", flush=True)


def dump() -> None:
    SUMMARY.parent.mkdir(parents=True, exist_ok=True)
    SUMMARY.write_text(json.dumps(STATE, indent=1, default=str))


# -- scoring on the GPU, and a record of the pool's scores (in case the run is cut short) --------
_orig_load = ranking.load_supernet
ranking.load_supernet = lambda path, map_location=None: _orig_load(path, DEVICE)
_OrigEv = ranking.SubnetEvaluator


class RecordingEvaluator(_OrigEv):
    def __call__(self, arch):
        r = super().__call__(arch)
        STATE["pool_scores"][str(arch)] = r["acc"]
        return r


ranking.SubnetEvaluator = RecordingEvaluator


# -- parallel jobs -----------------------------------------------------------------------------------
def _job_cfg(d: dict, i: int, arch: str, epochs: int, folder: Path) -> dict:
    j = copy.deepcopy(d)
    j["archs"], j["seed"], j["epochs"] = [arch], int(d["seed"]) + i, int(epochs)
    j["data"]["seed"] = d["data"]["seed"]
    j["paths"]["output_dir"] = str(folder)
    return j


def _launch(cfg: dict, tag: str) -> dict:
    folder = Path(cfg["paths"]["output_dir"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cfg.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(cfg)))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    fh = open(folder / "job.log", "w")
    p = subprocess.Popen([sys.executable, str(G / "ft_child.py"), str(folder / "cfg.yaml")], stdout=fh,
                         stderr=subprocess.STDOUT, env=env, cwd=str(SRC))
    return {"p": p, "fh": fh, "folder": folder, "tag": tag, "arch": cfg["archs"][0], "t0": time.time()}


def _wait(jobs: list[dict]) -> None:
    while any("wall" not in j for j in jobs):
        for j in jobs:
            if "wall" not in j and j["p"].poll() is not None:
                j["wall"], j["rc"] = time.time() - j["t0"], j["p"].returncode
                j["fh"].close()
                if j["rc"] != 0:
                    tail = (j["folder"] / "job.log").read_text()[-3000:]
                    for k in jobs:
                        if k["p"].poll() is None:
                            k["p"].kill()
                    raise SystemExit(f"job {j['tag']} {j['arch']} failed (rc {j['rc']}):\n{tail}")
        if time.time() > DEADLINE + MARGIN:
            for k in jobs:
                if k["p"].poll() is None:
                    k["p"].kill()
            raise SystemExit("ranking_par: deadline passed, jobs killed")
        time.sleep(0.5)


def _rows(jobs: list[dict]) -> list[dict]:
    rows = []
    for j in jobs:
        r = json.loads((j["folder"] / "finetune.json").read_text())["models"]
        assert len(r) == 1 and r[0]["arch"] == j["arch"], (r, j["arch"])
        rows.append(r[0])
    return rows


def _record(name: str, jobs: list[dict], rows: list[dict], epochs: int) -> None:
    STATE["waves"].append({"name": name, "epochs": epochs, "jobs": [
        {"tag": j["tag"], "arch": j["arch"], "wall_s": round(j["wall"], 2),
         "train_seconds": round(r["train_seconds"], 2), "test_acc": r["test_acc"]} for j, r in zip(jobs, rows)]})
    dump()


def _key(d: dict) -> dict:
    k = copy.deepcopy(d)
    for x in ("from_scratch", "epochs"):
        k.pop(x, None)
    k["paths"].pop("output_dir", None)
    return k


def par_finetune(cfg) -> list[dict]:
    d = OmegaConf.to_container(cfg, resolve=True)
    archs = [str(a) for a in d["archs"]]
    out = Path(d["paths"]["output_dir"])
    pend = STATE["pending"]
    if pend is not None and _key(d) == pend["key"] and bool(d["from_scratch"]) == pend["from_scratch"]:
        log(f"waiting for the {len(pend['jobs'])} {pend['name']} jobs started with the scratch wave")
        _wait(pend["jobs"])
        rows = _rows(pend["jobs"])
        _record(pend["name"], pend["jobs"], rows, STATE["epochs"])
        STATE["pending"] = None
        log(f"{pend['name']} done: " + ", ".join(f"{r['test_acc']:.4f}" for r in rows))
        return rows
    if STATE["epochs"] is not None:  # not the expected twin: run it as it comes, same epochs
        jobs = [_launch(_job_cfg(d, i, a, STATE["epochs"], out / f"job{i:02d}"), "extra") for i, a in enumerate(archs)]
        _wait(jobs)
        rows = _rows(jobs)
        _record("extra", jobs, rows, STATE["epochs"])
        return rows
    # first call (scratch): its inherited twin is what bench/ranking.py's cfg_ft will be
    assert d["from_scratch"], "expected the scratch call first"
    twin = copy.deepcopy(d)
    twin["from_scratch"], twin["paths"]["output_dir"] = False, str(out.parent / "inherited")
    specs = [("scratch", d), ("inherited", twin)]
    STATE["picked"] = archs
    dump()
    if os.environ.get("FIXED_F"):
        F = int(os.environ["FIXED_F"])
        STATE.update(epochs=F, calib={"fixed": F})
        return _main_waves(d, twin, archs, out, F)
    log(f"calibration wave: {2 * len(archs)} jobs with epochs=1")
    jobs = [_launch(_job_cfg(s, i, a, 1, out.parent / "calib" / f"{tag}{i:02d}"), tag)
            for tag, s in specs for i, a in enumerate(archs)]
    _wait(jobs)
    rows = _rows(jobs)
    _record("calibration", jobs, rows, 1)
    t_ep = max(r["train_seconds"] for r in rows)
    w1 = max(j["wall"] for j in jobs)
    left = DEADLINE - MARGIN - time.time()
    f = 1 + math.floor((left - w1) / t_ep)
    F = max(F_MIN, min(F_MAX, f))
    STATE.update(epochs=F, calib={"max_epoch_s": t_ep, "max_job_wall_s": w1, "left_s": left, "F_fit": f})
    dump()
    log(f"calibration: epoch <= {t_ep:.1f}s under load, job wall <= {w1:.1f}s, {left:.0f}s left -> F={F} (fit {f})")
    return _main_waves(d, twin, archs, out, F)


def _main_waves(d, twin, archs, out, F):
    scratch = [_launch(_job_cfg(d, i, a, F, out / f"job{i:02d}"), "scratch") for i, a in enumerate(archs)]
    inherited = [_launch(_job_cfg(twin, i, a, F, Path(twin["paths"]["output_dir"]) / f"job{i:02d}"), "inherited")
                 for i, a in enumerate(archs)]
    STATE["pending"] = {"name": "inherited", "key": _key(twin), "from_scratch": False, "jobs": inherited}
    _wait(scratch)
    rows = _rows(scratch)
    _record("scratch", scratch, rows, F)
    log("scratch done: " + ", ".join(f"{r['test_acc']:.4f}" for r in rows))
    return rows


ranking.finetune = par_finetune

if __name__ == "__main__":
    try:
        ranking.main()
    finally:
        if STATE.get("pending"):
            STATE["pending"] = {"name": STATE["pending"]["name"], "unfinished": True}
        STATE["wall_s"] = time.time() - T0
        dump()
    path = ranking.ROOT / "outputs" / "bench" / "ranking.json"
    res = json.loads(path.read_text())
    res["recipe"]["epochs"] = STATE["epochs"]
    res["recipe"]["runner"] = ("ranking_par.py: bench/ranking.py with pool scored on " + DEVICE +
                               "; the scratch and inherited finetune jobs all run concurrently, one process per arch "
                               "(seed+i, same data split); F " + (f"fixed by FIXED_F={os.environ['FIXED_F']}" if os.environ.get("FIXED_F")
                                                     else "chosen by a 1-epoch calibration wave"))
    path.write_text(json.dumps(res, indent=2))
    log(f"ranking.json recipe.epochs set to {STATE['epochs']}")
