"""Bad input found by a hostile user (issue 14), in what the commands read back: each case is one line naming
the file, never a traceback, an unpickled payload or a deleted folder.

Search state with NaN or mistyped figures or a pickle in it; model folders of ordinary mode that ``overwrite=true``
alone may replace; pickles and truncated files where JSON or safetensors belong; a diverging HPO trial.
"""
from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest
import torch

from search.deploy.export import load_subnet, save_subnet
from search.evolution.engine import Evolution
from search.evolution.state import read_cache
from supernet.arch import ArchConfig
from core.errors import GreenError
from supernet.net import GreenNet

ARCH = "r16_k3e2_k3e2"
MARKER = Path("/tmp/green_cnn_bad_input_pwned")


class _Payload:
    """A pickle that would leave a marker file behind if anything unpickled it."""

    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))

# ------------------------------------------------------------------ 1. search state

def _searched(tiny_space, run_dir: Path) -> list:
    """Run (or resume) a small search of ``tiny_space`` in ``run_dir``; returns its front."""
    from search.evolution.settings import Settings
    from search.hardware.cost import count

    def cost_fn(arch):
        macs = count(tiny_space, arch, 10, 1)[1]
        return {"params": macs, "macs": macs, "latency_ms": 1.0, "energy_mj": 1.0, "energy_source": "test"}

    def eval_fn(arch):
        return {"acc": 1 - 1 / (1 + count(tiny_space, arch, 10, 1)[1] / 2e5), "recall": 0.5}

    settings = Settings(["acc", "macs"], population=4, generations=1, seed=0)
    return Evolution(tiny_space, settings, cost_fn, run_dir=run_dir, progress=False).run(eval_fn)


@pytest.mark.parametrize("file, damage, message", [
    ("cache.jsonl", lambda c, s: c[next(iter(c))].update(acc="0.9"), r"cache.jsonl.*\]\.acc must be a finite number"),
    ("cache.jsonl", lambda c, s: c[next(iter(c))].update(macs=float("nan")), r"\]\.macs must be a finite number"),
    ("cache.jsonl", lambda c, s: c[next(iter(c))].update(genome=[0, 99, 0]), r"genome"),
    ("cache.jsonl", lambda c, s: c.update({next(iter(c)): "r16"}), r"cache.jsonl': line 1 must be a dict"),
    ("cache.jsonl", lambda c, s: c[next(iter(c))].pop("arch"), r"line 1 has no arch key"),
    ("checkpoint.json", lambda c, s: s.update(gen="1"), r"checkpoint.json.*gen must be a whole number"),
    ("checkpoint.json", lambda c, s: s["population"][0].update(values=[float("nan"), 0.1]),
     r"population\[0\]\.values\[0\] must be a finite number"),
    ("checkpoint.json", lambda c, s: s.update(evaluated=99), r"evaluated = 99, but .*cache.jsonl' holds 8 records"),
    ("checkpoint.json", lambda c, s: s.update(evaluated="8"), r"evaluated must be a whole number"),
    ("checkpoint.json", lambda c, s: s.update(random_state=[3, [1, 2], None]), r"random_state"),
    ("checkpoint.json", lambda c, s: s.update(population={"genome": 1}), r"population must be a list"),
])
def test_search_state_of_the_wrong_types_names_file_and_key(tiny_space, tmp_path, file, damage, message):
    _searched(tiny_space, tmp_path)
    cache, state = read_cache(tmp_path), json.loads((tmp_path / "checkpoint.json").read_text())
    damage(cache, state)
    (tmp_path / "cache.jsonl").write_text("".join(json.dumps(r) + "\n" for r in cache.values()))
    (tmp_path / "checkpoint.json").write_text(json.dumps(state))
    with pytest.raises(GreenError, match=message):
        _searched(tiny_space, tmp_path)


def test_search_state_that_is_a_pickle_is_one_error_naming_it(tiny_space, tmp_path):
    _searched(tiny_space, tmp_path)
    (tmp_path / "checkpoint.json").write_bytes(pickle.dumps(_Payload()))
    with pytest.raises(GreenError, match="checkpoint.json' is corrupt"):
        _searched(tiny_space, tmp_path)
    assert not MARKER.exists()

# ------------------------------------------------------------------ 5, 6. model folders: mode, overwrite

LCNET = {"name": "lcnet_050", "source": "timm", "num_classes": 10, "in_chans": 1, "image_size": 16}


def _subnet(tiny_space) -> GreenNet:
    torch.manual_seed(0)
    return GreenNet(tiny_space, ArchConfig.parse(ARCH), 10, 1).eval()


def test_model_folders_get_ordinary_modes(tmp_path, tiny_space):
    from search.deploy.baselines import build_baseline, save_baseline

    mask = os.umask(0)
    os.umask(mask)
    save_subnet(_subnet(tiny_space), tmp_path / "sub", onnx=False)
    save_baseline(build_baseline("timm", "lcnet_050", 10, 1, 16), tmp_path / "base", LCNET, onnx=False)
    for f in [*(tmp_path / "sub").iterdir(), *(tmp_path / "base").iterdir()]:
        assert f.stat().st_mode & 0o777 == 0o666 & ~mask, f  # safetensors alone would write 0600


def test_overwrite_replaces_only_a_model_folder(tmp_path, tiny_space):
    net = _subnet(tiny_space)
    run = tmp_path / "search_run"
    run.mkdir()
    (run / "pareto.json").write_text("{}")
    (run / "cache.json").write_text("{}")
    with pytest.raises(GreenError, match="is not a model folder written by green-extract"):
        save_subnet(net, run, overwrite=True)
    assert sorted(p.name for p in run.iterdir()) == ["cache.json", "pareto.json"]
    model = save_subnet(net, tmp_path / "model", onnx=False)
    (model / "notes.txt").write_text("mine")  # a user's file in a model folder: not ours to delete
    with pytest.raises(GreenError, match="not a model folder"):
        save_subnet(net, model, overwrite=True)
    (model / "notes.txt").unlink()
    assert save_subnet(net, model, overwrite=True, onnx=False) == model  # our own folder: replaced
    assert json.loads((model / "arch.json").read_text())["format"] == "green-cnn-subnet"
    empty = tmp_path / "empty"
    empty.mkdir()
    save_subnet(net, empty, overwrite=True, onnx=False)
    assert (empty / "model.safetensors").is_file()


def test_green_extract_overwrite_refuses_a_search_run_before_any_work(tmp_path, capsys, compose_cfg, one_line):
    from search.deploy.extract import extract

    run = tmp_path / "search_run"
    run.mkdir()
    (run / "pareto.json").write_text("{}")
    cfg = compose_cfg("extract", "ckpt=/nonexistent.ckpt", f"arch={ARCH}", f"out={run}", "overwrite=true",
                      output_dir=tmp_path)
    line = one_line("green-extract", extract, cfg, capsys)
    assert line == (f"green-extract: error: '{run}' is not a model folder written by green-extract, so "
                    "overwrite=true will not delete it; choose another out=")
    assert (run / "pareto.json").read_text() == "{}"


# ------------------------------------------------------------------ 7. pickles and truncated files

def _damage(folder: Path, name: str, how: str) -> None:
    f = folder / name
    if how == "pickle":
        f.write_bytes(pickle.dumps(_Payload()))
    elif how == "pickle0":  # protocol 0 is ASCII: valid UTF-8, still not JSON
        f.write_bytes(pickle.dumps(_Payload(), protocol=0))
    elif how == "latin1":
        f.write_bytes(f.read_text().replace('"r', '"\xe9').encode("latin-1"))
    elif how == "truncated":
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    elif how == "empty":
        f.write_bytes(b"")
    elif how == "mistyped":
        f.write_text(json.dumps({**json.loads(f.read_text()), "num_classes": "ten"}))


@pytest.mark.parametrize("name, how, message", [
    ("arch.json", "pickle", "arch.json' is corrupt or truncated"),
    ("arch.json", "pickle0", "arch.json' is corrupt or truncated"),
    ("arch.json", "latin1", "arch.json' is corrupt or truncated \\(UnicodeDecodeError"),
    ("arch.json", "truncated", "arch.json' is corrupt or truncated"),
    ("arch.json", "mistyped", "arch.json': num_classes must be a whole number, got 'ten'"),
    ("model.safetensors", "pickle", "model.safetensors' is not a readable safetensors file"),
    ("model.safetensors", "truncated", "model.safetensors' is not a readable safetensors file"),
    ("model.safetensors", "empty", "model.safetensors' is not a readable safetensors file"),
])
def test_load_subnet_refuses_damaged_files_without_unpickling(tmp_path, tiny_space, name, how, message):
    MARKER.unlink(missing_ok=True)
    folder = save_subnet(_subnet(tiny_space), tmp_path / "m", onnx=False)
    _damage(folder, name, how)
    with pytest.raises(GreenError, match=message):
        load_subnet(folder)
    assert not MARKER.exists()


@pytest.mark.parametrize("name, how, message", [
    ("model.json", "pickle", "model.json' is corrupt or truncated"),
    ("model.json", "mistyped", "model.json': num_classes must be a whole number"),
    ("model.safetensors", "truncated", "model.safetensors' is not a readable safetensors file"),
])
def test_load_baseline_refuses_damaged_files_without_unpickling(tmp_path, name, how, message):
    from search.deploy.baselines import build_baseline, load_baseline, save_baseline

    MARKER.unlink(missing_ok=True)
    folder = save_baseline(build_baseline("timm", "lcnet_050", 10, 1, 16), tmp_path / "b", LCNET, onnx=False)
    _damage(folder, name, how)
    with pytest.raises(GreenError, match=message):
        load_baseline(folder)
    assert not MARKER.exists()


def test_green_hpo_with_a_pickled_arch_json_is_one_line(tmp_path, tiny_space, capsys, compose_cfg, one_line):
    from search.tuning.hpo import hpo

    MARKER.unlink(missing_ok=True)
    folder = save_subnet(_subnet(tiny_space), tmp_path / "m", onnx=False)
    _damage(folder, "arch.json", "pickle")
    line = one_line("green-hpo", hpo, compose_cfg("hpo", f"model={folder}", output_dir=tmp_path / "run"), capsys)
    assert line.startswith(f"green-hpo: error: model description '{folder / 'arch.json'}' is corrupt")
    assert not MARKER.exists()


# ------------------------------------------------------------------ 8. a diverging HPO trial

HPO_DIVERGING = ["hpo.space.optimizer=[sgd]", "hpo.space.lr={low:0.02,high:0.02,steps:1}",
                 "hpo.space.weight_decay={low:4e-5,high:4e-5,steps:1}", "hpo.space.l1=[0.0]",
                 "hpo.space.dropout=[0.0]", "hpo.space.label_smoothing=[0.0,0.2]", "hpo.space.init=[inherited,he]",
                 "hpo.population=4", "hpo.generations=0", "epochs=1", "data.train_subset=128", "calib_images=32",
                 "hpo.prune.enabled=false", "progress=false", "hpo.select_images=48", "hpo.report_images=64",
                 "trainer.enable_progress_bar=false"]


def test_a_diverging_hpo_trial_is_recorded_as_failed_and_the_search_goes_on(tmp_path, tiny_space, monkeypatch,
                                                                            compose_cfg):
    import torch.nn.functional as F

    import search.tuning.hpo as h

    orig = F.cross_entropy

    def poisoned(logits, target, *a, label_smoothing=0.0, **k):  # the settings with smoothing 0.2 diverge
        loss = orig(logits, target, *a, label_smoothing=label_smoothing, **k)
        return loss * float("nan") if label_smoothing == 0.2 else loss

    monkeypatch.setattr(F, "cross_entropy", poisoned)
    trained = []
    run_trial = h.run_trial
    monkeypatch.setattr(h, "run_trial", lambda hc, *a, **k: trained.append(str(hc)) or run_trial(hc, *a, **k))
    folder = save_subnet(_subnet(tiny_space), tmp_path / "m", onnx=False)
    cfg = compose_cfg("hpo", f"model={folder}", *HPO_DIVERGING, output_dir=tmp_path / "run")
    res = h.hpo(cfg)
    w = res["winners"][0]
    assert w["n_trials"] == 4 and w["failed"] == 2 and len(trained) == 5  # the default recipe, then 4 trials
    cache = read_cache(tmp_path / "run" / f"00_{ARCH}")
    failed = {k: r for k, r in cache.items() if r.get("failed")}
    assert sorted(r["label_smoothing"] for r in failed.values()) == [0.2, 0.2]
    assert all("non-finite loss nan at step 0" in r["failed"] and r["select_acc"] == 0.0 for r in failed.values())
    assert w["best"]["arch"] not in failed and "ls0.2" not in w["best"]["arch"]
    assert not set(w["front"]) & set(failed)  # the worst fitness: never on the front
    trained.clear()
    again = h.hpo(cfg)  # the rerun reads the failed trials back from the cache instead of training them again
    assert trained == [] and again["winners"][0]["best"] == w["best"]
    MARKER.unlink(missing_ok=True)
    kept = tmp_path / "run" / f"00_{ARCH}" / "weights" / f"{w['best']['arch']}.safetensors"
    kept.write_bytes(pickle.dumps(_Payload()))  # the chosen trial's weights, replaced by a pickle payload
    with pytest.raises(GreenError, match="chosen trial's weights .* are corrupt"):
        h.hpo(cfg)
    assert not MARKER.exists()
