"""SIGTERM at a fixed point of each training command, then the same command again: same result as a run never stopped.

A scheduler's SIGTERM (SLURM at the time limit, preemption, ``scancel``) reaches whichever command is training. Each
command here is stopped once its first model, table row or HPO trial has finished (a fixed point, found by
watching for that item's file), must exit 143 with one line naming what to rerun, and the same command on the
same folder must finish with what an uninterrupted run in another folder gives. Every run here uses one thread,
so "the same" is bit-identical: equal figures and equal weights. The one exception is stated where it applies:
latency and energy are measured, not computed, and are left out of the comparison.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.test_pipeline import TINY_RUN

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

COMMON = ["trainer.enable_progress_bar=false", "data.train_subset=256", "calib_images=64", "threads=1"]
BASELINES = [*COMMON, "models=[timm/lcnet_050,torchvision/squeezenet1_1]", "seeds=2", "epochs=2",
             "measure.enabled=false"]
TABLE = [*COMMON, "table.subnets=3", "table.strata=1", "table.pool=50", "table.seeds=2", "epochs=2"]


def _hpo(ckpt: Path) -> list[str]:
    # accuracy and recall: objectives computed from predictions, so the search itself is deterministic (a measured
    # objective such as train_energy would let the selection depend on the machine's load)
    return [*COMMON, f"ckpt={ckpt}", "archs=[r16_k3e2_k3e2]", "epochs=2", "hpo.population=4", "hpo.generations=2",
            "hpo.prune.min_trials=2", "progress=false", "hpo.select_images=48", "hpo.report_images=64",
            "hpo.objectives=[acc,recall]"]


def _env() -> dict:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}


def _run(module: str, args: list[str], out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args, f"hydra.run.dir={out}"], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=900)


def _count(out: Path, finished: str) -> int:
    """Finished items: files matching ``finished``, or the lines of one file (``lines:<glob>``, an append-only log)."""
    if finished.startswith("lines:"):
        return sum(len(p.read_text().splitlines()) for p in out.glob(finished[6:]))
    return len(list(out.glob(finished)))


def _stopped(module: str, prog: str, args: list[str], out: Path, finished: str, enough: int = 1) -> list[Path]:
    """Run ``module`` into ``out``, send SIGTERM once ``enough`` items are finished (:func:`_count`): exit 143 and
    one line. Returns the finished items' files as they were at the stop."""
    proc = subprocess.Popen([sys.executable, "-m", module, *args, f"hydra.run.dir={out}"], cwd=ROOT, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t = time.time()
    while _count(out, finished) < enough:
        assert proc.poll() is None, f"{prog} ended before the stop point: " + proc.communicate()[1][-2000:]
        assert time.time() - t < 600, f"{prog}: no {finished} after 600 s"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    lines = [ln for ln in err.splitlines() if ": error:" in ln]
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: stopped by SIGTERM"), err[-2000:]
    return [] if finished.startswith("lines:") else sorted(out.glob(finished))


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return {f"{p.parent.name}/{k}": v for p in sorted(folder.glob("*/model.safetensors")) for k, v in load_file(p).items()}


def _same_weights(a: Path, b: Path) -> None:
    wa, wb = _weights(a), _weights(b)
    assert wa and wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa), [k for k in wa if not torch.equal(wa[k], wb[k])][:5]


MODEL_FIGURES = ("name", "replicate", "seed", "epochs", "params", "macs", "test_acc", "test_recall", "test_recall_min",
                 "test_confusion", "test_images")


def _models(path: Path) -> list[dict]:
    return [{k: m.get(k) for k in MODEL_FIGURES} for m in json.loads(path.read_text())["models"]]


def test_baselines(tmp_path):
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert _run("search.commands.baselines", BASELINES, whole).returncode == 0
    kept = _stopped("search.commands.baselines", "green-baselines", BASELINES, cut, "models/*/model.json")
    assert 1 <= len(kept) < 4 and not (cut / "baselines.json").exists()
    before = {p: p.read_bytes() for p in kept}
    again = _run("search.commands.baselines", BASELINES, cut)
    assert again.returncode == 0, again.stderr[-2000:]
    assert all(p.read_bytes() == b for p, b in before.items())  # finished models kept, not trained again
    assert again.stdout.count("already trained, skipped") == len(kept)
    assert _models(cut / "baselines.json") == _models(whole / "baselines.json")
    _same_weights(cut / "models", whole / "models")


def _rows(path: Path) -> list[dict]:
    keep = ("arch", "seed", "replicate", "stratum", "role", "params", "macs", "val_acc", "test_acc", "test_recall",
            "epochs", "images_seen", "test_curve", "val_curve")
    return [{k: r[k] for k in keep} for r in json.loads(path.read_text())["rows"]]


def test_table(tmp_path):
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert _run("search.commands.table", TABLE, whole).returncode == 0
    kept = _stopped("search.commands.table", "green-table", TABLE, cut, "runs/*/row.json")
    assert 1 <= len(kept) < 6
    again = _run("search.commands.table", TABLE, cut)
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout.count("skipped") >= len(kept)
    assert _rows(cut / "table.json") == _rows(whole / "table.json")


def _trials(folder: Path) -> list[tuple]:
    import csv

    with open(next(folder.glob("00_*/trials.csv"))) as fh:
        return sorted((r["arch"], r["gen"], r["select_acc"], r["select_recall"], r["pruned"], r["failed"])
                      for r in csv.DictReader(fh))


def test_hpo(tmp_path, tiny_ckpt):
    args = _hpo(tiny_ckpt)
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert _run("search.commands.hpo", args, whole).returncode == 0
    # stopped inside the first generation, after two of its four trials (cache.jsonl: a line per finished trial)
    _stopped("search.commands.hpo", "green-hpo", args, cut, "lines:00_*/cache.jsonl", enough=2)
    assert not (cut / "hpo.json").exists()
    again = _run("search.commands.hpo", args, cut)
    assert again.returncode == 0, again.stderr[-2000:]
    assert _trials(cut) == _trials(whole)
    a, b = (json.loads((f / "hpo.json").read_text())["winners"][0] for f in (whole, cut))
    figures = ("select_acc", "select_recall", "report_acc", "report_recall", "report_recall_min", "report_images")
    assert a["chosen"] == b["chosen"] and {k: a["best"][k] for k in figures} == {k: b["best"][k] for k in figures}


def test_run_during_finetune(tmp_path):
    """green-run stopped inside its finetune stage; the rerun skips the finished stages and models. Its resumed
    finetune stage equals one run uninterrupted from the same search (the same run folder's train, lut and search
    stages, copied; ``stages=[finetune]``): latency is measured for the search, so two whole runs may pick other
    winners, while everything downstream of the search is computed."""
    args = ["space=tiny_wide", *TINY_RUN, "seeds=2"]
    cut = tmp_path / "cut"
    kept = _stopped("search.commands.run", "green-run", args, cut, "finetune/models/*/arch.json")
    assert not (cut / "report.md").exists()
    before = {p: p.read_bytes() for p in kept}
    again = _run("search.commands.run", args, cut)
    assert again.returncode == 0, again.stderr[-2000:]
    for stage in ("train", "lut", "search"):
        assert f"{stage}: outputs exist, skipped" in again.stdout
    assert all(p.read_bytes() == b for p, b in before.items())
    assert (cut / "report.html").is_file()
    whole = tmp_path / "whole"
    whole.mkdir()
    for stage in ("train", "lut", "search"):
        shutil.copytree(cut / stage, whole / stage)
    r = _run("search.commands.run", [*args, "stages=[finetune]"], whole)
    assert r.returncode == 0, r.stderr[-2000:]
    assert _models(cut / "finetune" / "finetune.json") == _models(whole / "finetune" / "finetune.json")
    _same_weights(cut / "finetune" / "models", whole / "finetune" / "models")
