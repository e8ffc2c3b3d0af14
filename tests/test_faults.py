"""Faults, bad input and determinism, with real processes: killed runs resume, nothing half-written is trusted.

The kills are real ``SIGKILL``s of a command's own process, sent by the process itself at a chosen
point (a training step, an evaluation) so that each test is deterministic: the child runs the
console script's ``main`` with one function wrapped to kill the process when the point is reached.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from search.evolution.state import read_cache

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ["experiment=smoke", "epochs=3", "data.train_subset=256", "module.calib_images=64",
         "trainer.enable_progress_bar=false"]
KILLER = """
import os, signal, sys
sys.argv = [{prog!r}, *{args!r}]
import {module} as m
import {target_module} as t
orig = t.{cls}.{method}
count = {{"n": 0}}
def hooked(self, *a, **k):
    count["n"] += 1
    if {condition}:
        os.kill(os.getpid(), signal.SIGKILL)
    return orig(self, *a, **k)
t.{cls}.{method} = hooked
m.main()
"""


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _run(module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=_env(), capture_output=True, text=True)


def _killed(prog: str, module: str, args: list[str], target_module: str, cls: str, method: str, condition: str):
    code = KILLER.format(prog=prog, args=args, module=module, target_module=target_module, cls=cls, method=method,
                         condition=condition)
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=_env(), capture_output=True,
                       text=True)
    assert r.returncode == -9, r.stderr[-3000:]  # killed by SIGKILL, not finished or failed
    return r


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


@pytest.mark.slow
def test_train_killed_mid_epoch_resumes_to_the_uninterrupted_result(tmp_path):
    full = _run("supernet.commands.train", *TRAIN, f"hydra.run.dir={tmp_path / 'full'}")
    assert full.returncode == 0, full.stderr[-2000:]
    cut = tmp_path / "cut"
    # 4 steps per epoch: step 6 is in the middle of the second epoch, after the first epoch's last.ckpt
    _killed("green-train", "supernet.commands.train", [*TRAIN, f"hydra.run.dir={cut}"], "supernet.module", "SupernetModule",
            "training_step", "self.global_step == 6")
    last = cut / "checkpoints" / "last.ckpt"
    assert torch.load(last, map_location="cpu", weights_only=True)["epoch"] == 0  # the last whole epoch
    assert not (cut / "metrics.json").exists()
    resumed = _run("supernet.commands.train", *TRAIN, f"hydra.run.dir={cut}", f"resume={last}")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    want, got = _weights(tmp_path / "full" / "checkpoints" / "last.ckpt"), _weights(last)
    assert want.keys() == got.keys()
    for k in want:  # same seed, same CPU, deterministic data order and augmentation: bit-identical
        assert torch.equal(want[k], got[k]), k
    m_full = json.loads((tmp_path / "full" / "metrics.json").read_text())["metrics"]
    m_res = json.loads((cut / "metrics.json").read_text())["metrics"]
    for k in ("val/acc_largest", "val/acc_smallest", "val/acc_middle"):
        assert m_full[k] == m_res[k], k


@pytest.mark.slow
def test_train_is_deterministic(tmp_path):
    """Same seed, same CPU: identical green-train smoke metrics (run twice in fresh processes)."""
    args = ["experiment=smoke", "epochs=2", "data.train_subset=256", "module.calib_images=64",
            "trainer.enable_progress_bar=false"]
    runs = [_run("supernet.commands.train", *args, f"hydra.run.dir={tmp_path / str(i)}") for i in range(2)]
    assert all(r.returncode == 0 for r in runs), runs[0].stderr[-2000:]
    a, b = (json.loads((tmp_path / str(i) / "metrics.json").read_text())["metrics"] for i in range(2))
    assert a == b


SEARCH = ["search.objectives=[acc,params]", "search.population=8", "search.generations=3", "progress=false",
          "eval.calib_images=64", "eval.val_images=64"]


@pytest.mark.slow
def test_search_killed_mid_generation_resumes_to_the_same_front(tmp_path, tiny_ckpt, tiny_table):
    common = [f"ckpt={tiny_ckpt}", f"table={tiny_table}", *SEARCH]
    full = _run("search.commands.search", *common, f"hydra.run.dir={tmp_path / 'full'}")
    assert full.returncode == 0, full.stderr[-2000:]
    cut = tmp_path / "cut"
    # 8 evaluations per generation: the 13th is in the middle of generation 1
    _killed("green-search", "search.commands.search", [*common, f"hydra.run.dir={cut}"], "search.evolution.evaluate", "SubnetEvaluator",
            "__call__", 'count["n"] == 13')
    assert json.loads((cut / "checkpoint.json").read_text())["gen"] == 0
    assert len(read_cache(cut)) >= 12  # each evaluation was kept
    assert not (cut / "pareto.json").exists()
    resumed = _run("search.commands.search", *common, f"hydra.run.dir={cut}")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    want = json.loads((tmp_path / "full" / "pareto.json").read_text())
    got = json.loads((cut / "pareto.json").read_text())
    assert got == want  # exactly the same front, hypervolume and evaluation count
    assert not list(cut.glob(".*.tmp"))


@pytest.mark.slow
def test_search_is_deterministic(tmp_path, tiny_ckpt, tiny_table, compose_cfg):
    from search.evolution.search import search

    fronts = []
    for i in range(2):
        cfg = compose_cfg("search", f"ckpt={tiny_ckpt}", f"table={tiny_table}", *SEARCH, output_dir=tmp_path / str(i))
        fronts.append(search(cfg))
    assert fronts[0].members == fronts[1].members and fronts[0].hypervolume == fronts[1].hypervolume


@pytest.mark.slow
def test_non_finite_loss_keeps_the_last_good_checkpoint(tmp_path):
    """NaN in the second epoch: one line naming step and subnet, exit 2, epoch 1's checkpoint intact."""
    code = textwrap.dedent(f"""
        import sys, torch
        sys.argv = ["green-train", *{[*TRAIN, f"hydra.run.dir={tmp_path}"]!r}]
        import supernet.commands.train as m
        import supernet.module as t
        orig = t.F.cross_entropy
        def poisoned(logits, *a, **k):
            loss = orig(logits, *a, **k)
            return loss * float("nan") if torch.is_grad_enabled() and t._STEP[0] >= 6 else loss
        t.F.cross_entropy = poisoned
        t._STEP = [0]
        step = t.SupernetModule.training_step
        def counted(self, *a, **k):
            t._STEP[0] = self.global_step
            return step(self, *a, **k)
        t.SupernetModule.training_step = counted
        m.main()
    """)
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(), capture_output=True, text=True)
    assert r.returncode == 2, r.stderr[-2000:]
    line = r.stderr.strip().splitlines()[-1]
    assert line.startswith("green-train: error: non-finite loss") and "at step 6" in line and "subnet r" in line
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["epoch"] == 0
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values() if v.is_floating_point())


COMMANDS = [("supernet.commands.train", "green-train", []), ("search.commands.lut", "green-lut", []),
            ("search.commands.search", "green-search", ["ckpt=x", "table=y"]), ("search.commands.extract", "green-extract", []),
            ("search.commands.finetune", "green-finetune", []), ("search.commands.baselines", "green-baselines", []),
            ("search.commands.run", "green-run", [])]


@pytest.mark.parametrize("module, prog, args", COMMANDS)
@pytest.mark.slow
def test_unwritable_output_folder_is_one_line(tmp_path, module, prog, args):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    r = _run(module, *args, f"hydra.run.dir={blocker / 'run'}")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [f"{prog}: error: cannot write output folder "
                                             f"'{blocker / 'run'}': Not a directory"]


@pytest.mark.parametrize("overrides, message", [
    (["search.budget=0"], "budget must be"),
    (["search.algorithm=nsga9"], "unknown algorithm"),
    (["search.population=0"], "population"),
])
@pytest.mark.slow
def test_search_bad_settings_are_one_line(tmp_path, tiny_ckpt, tiny_table, overrides, message):
    r = _run("search.commands.search", f"ckpt={tiny_ckpt}", f"table={tiny_table}", *overrides, f"hydra.run.dir={tmp_path}")
    assert r.returncode == 2, r.stderr[-2000:]
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("green-search: error:") and message in lines[0], lines
    assert not (tmp_path / "cache.jsonl").exists() and not (tmp_path / "pareto.json").exists()


@pytest.mark.slow
def test_finetune_epochs_zero_is_one_line(tmp_path, tiny_ckpt):
    r = _run("search.commands.finetune", f"ckpt={tiny_ckpt}", "archs=[r16_k3e2_k3e2]", "epochs=0", f"hydra.run.dir={tmp_path}")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == ["green-finetune: error: epochs must be >= 1, got 0"]
    assert not (tmp_path / "models").exists()


@pytest.mark.parametrize("override, message", [
    ("epochz=3", "unknown option epochz (did you mean epochs?)"),
    ("data.batch_size=[", "no viable alternative"),
    ("data=imagenet9", "Could not find 'data/imagenet9'"),
])
@pytest.mark.slow
def test_mistyped_override_is_one_line(tmp_path, override, message):
    r = _run("supernet.commands.train", override, f"hydra.run.dir={tmp_path / 'run'}")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("green-train: error:") and message in lines[0], lines
    assert not (tmp_path / "run").exists()


def test_atomic_artefacts_get_ordinary_permissions(tmp_path):
    """Temporary files and folders are private; published artefacts get the mode the umask gives."""
    from search.deploy.baselines import build_baseline, save_baseline
    from core.io import write_json

    mask = os.umask(0)
    os.umask(mask)
    write_json(tmp_path / "a.json", {"x": 1})
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o666 & ~mask
    save_baseline(build_baseline("timm", "lcnet_050", 10, 1, 16), tmp_path / "m",
                  {"name": "lcnet_050", "source": "timm", "num_classes": 10, "in_chans": 1, "image_size": 16}, onnx=False)
    assert (tmp_path / "m").stat().st_mode & 0o777 == 0o777 & ~mask
    assert (tmp_path / "m" / "model.json").stat().st_mode & 0o777 == 0o666 & ~mask


@pytest.mark.slow
def test_an_interrupted_search_books_both_parts_of_its_energy(tmp_path, tiny_ckpt, tiny_table, compose_cfg,
                                                              monkeypatch):
    """Ctrl-C mid-search books the part that ran (energy_search.json); the resumed search adds its own part to it
    (two sessions) instead of replacing it, so the ledger's energy per candidate counts the whole search."""
    import search.evolution.evaluate as ev
    from search.evolution.search import search

    cfg = compose_cfg("search", f"ckpt={tiny_ckpt}", f"table={tiny_table}", *SEARCH, output_dir=tmp_path)
    call, count = ev.SubnetEvaluator.__call__, {"n": 0}

    def interrupted(self, arch):
        count["n"] += 1
        if count["n"] == 13:
            raise KeyboardInterrupt
        return call(self, arch)
    monkeypatch.setattr(ev.SubnetEvaluator, "__call__", interrupted)
    with pytest.raises(KeyboardInterrupt):
        search(cfg)
    first = json.loads((tmp_path / "energy_search.json").read_text())
    assert first["sessions"] == 1 and first["seconds"] > 0
    monkeypatch.setattr(ev.SubnetEvaluator, "__call__", call)
    search(cfg)
    both = json.loads((tmp_path / "energy_search.json").read_text())
    assert both["sessions"] == 2 and both["seconds"] > first["seconds"]
    assert both["energy_kwh"] >= first["energy_kwh"]
