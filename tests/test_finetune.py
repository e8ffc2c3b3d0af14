import json

import pytest

from supernet.metrics import unpack_correct

from search.deploy.export import load_subnet
from search.deploy.finetune import finetune
from core.errors import GreenError

ARCHS = "archs=[r16_k5e3-k3e2_k3e3,r12_k3e2_k3e2]"
FAST = ["epochs=1", "data.train_subset=256", "calib_images=128", "trainer.enable_progress_bar=false",
        "measure.trials=2", "measure.warmup=1", "measure.min_call_ms=1", "measure.power_window_s=0.5",
        "measure.batch_sizes=[1,8]", "onnx=false"]


@pytest.fixture
def ft_cfg(compose_cfg):
    """``ft_cfg(out, ckpt, *overrides)``: green-finetune's config with the ``FAST`` budget, writing into ``out``."""
    return lambda out, ckpt, *overrides: compose_cfg("finetune", f"ckpt={ckpt}", *FAST, *overrides, output_dir=out)


@pytest.mark.slow
def test_finetune_measures_and_resumes(tmp_path, tiny_ckpt, capsys, ft_cfg):
    rows = finetune(ft_cfg(tmp_path, tiny_ckpt, ARCHS))
    assert [r["arch"] for r in rows] == ["r16_k5e3-k3e2_k3e3", "r12_k3e2_k3e2"]
    for r in rows:
        assert r["init"] == "inherited" and r["test_acc"] > 0.3 and 0 < r["test_recall"] <= 1
        assert r["latency_ms"] > 0 and r["latency_ms_b8"] > 0 and r["energy_mj_per_image"] > 0
        assert r["train_energy_kwh"] > 0 and r["train_energy_source"].startswith("codecarbon")
        correct = unpack_correct(r["test_correct"], r["test_images"])  # each test image, in order
        assert correct.mean() == pytest.approx(r["test_acc"], abs=1e-6)
    folders = sorted((tmp_path / "models").iterdir())
    assert len(folders) == 2 and load_subnet(folders[0]).arch.resolution == 16
    saved = json.loads((tmp_path / "finetune.json").read_text())["models"]
    assert saved == json.loads(json.dumps(rows))
    assert (tmp_path / "finetune.csv").read_text().startswith("name,arch,kind,")
    assert "test_correct" not in (tmp_path / "finetune.csv").read_text()
    assert list((tmp_path / "tb").rglob("events.out.tfevents*"))
    # a rerun on the same folder trains nothing again
    mtime = (folders[0] / "model.safetensors").stat().st_mtime
    again = finetune(ft_cfg(tmp_path, tiny_ckpt, ARCHS))
    assert again == json.loads(json.dumps(rows))
    assert "already fine-tuned, skipped" in capsys.readouterr().out
    assert (folders[0] / "model.safetensors").stat().st_mtime == mtime


@pytest.mark.slow
def test_finetune_from_scratch_flag(tmp_path, tiny_ckpt, ft_cfg):
    rows = finetune(ft_cfg(tmp_path, tiny_ckpt, "archs=[r12_k3e2_k3e2]", "from_scratch=true", "distill=false"))
    assert rows[0]["init"] == "scratch (default)" and rows[0]["distilled"] is False
    assert rows[0]["budget"]["init"] == "scratch (default)" and rows[0]["budget"]["distilled"] is False


def _captured(ft_cfg, monkeypatch, tmp_path, tiny_ckpt, *overrides):
    """The model and teacher green-finetune hands to training (training itself skipped)."""
    import search.deploy.finetune as ft

    seen = {}

    def fake_fit(model, name, dm, cfg, out, calib, teacher, seed, res, n_cls, in_chans, callbacks=()):
        seen.update(model=model, teacher=teacher)

        class Result:  # the part of a ModelResult green-finetune reads
            def started(self, init):
                return self

            def to_json(self):
                return {"test_acc": 0.5, "test_recall": 0.5, "budget": {}}
        return Result()
    monkeypatch.setattr(ft, "fit_and_measure", fake_fit)
    monkeypatch.setattr(ft, "save_subnet", lambda *a, **k: None)
    finetune(ft_cfg(tmp_path, tiny_ckpt, "archs=[r12_k3e2_k3e2]", *overrides))
    return seen


def test_from_scratch_reinitialises_and_uses_no_teacher(monkeypatch, tmp_path, tiny_ckpt, ft_cfg):
    import torch

    from supernet.arch import ArchConfig
    from supernet.checkpoint import load_supernet
    from supernet.net import extract_subnet

    net, _ = load_supernet(tiny_ckpt)
    inherited = extract_subnet(net, ArchConfig.parse("r12_k3e2_k3e2")).state_dict()
    scratch = _captured(ft_cfg, monkeypatch, tmp_path / "a", tiny_ckpt, "from_scratch=true", "distill=false")
    warm = _captured(ft_cfg, monkeypatch, tmp_path / "b", tiny_ckpt, "distill=true")
    assert scratch["teacher"] is None and warm["teacher"] is not None
    convs = [k for k, v in inherited.items() if k.endswith("weight") and v.ndim == 4]
    assert convs
    for k in convs:  # inherited start copies the supernet's weights, the scratch start none of them
        assert torch.equal(warm["model"].state_dict()[k], inherited[k])
        assert not torch.equal(scratch["model"].state_dict()[k], inherited[k])


@pytest.mark.parametrize("overrides, message", [
    (["epochs=0", ARCHS], "epochs must be >= 1"),
    (["archs=[r16_k9e2_k3e2]"], "kernel_size 9"),
    (["run={tmp}/nowhere"], "cannot read the search run"),
    (["seeds=0", ARCHS], "seeds must be >= 1"),
])
def test_finetune_bad_input(tmp_path, tiny_ckpt, ft_cfg, overrides, message):
    from core.cli import check_command_options

    overrides = [o.format(tmp=tmp_path) for o in overrides]
    cfg = ft_cfg(tmp_path, tiny_ckpt, *overrides)
    with pytest.raises(GreenError, match=message):
        check_command_options("green-finetune", cfg)  # what the console script checks before the function runs
        finetune(cfg)
    assert not (tmp_path / "models").exists()


@pytest.mark.slow
def test_replicates_of_an_inherited_winner_are_independent_runs(tmp_path, tiny_ckpt, ft_cfg):
    """seeds=2 of one inherited, distilled winner: same start, other training stream, so other weights."""
    import torch
    from safetensors.torch import load_file

    rows = finetune(ft_cfg(tmp_path, tiny_ckpt, "archs=[r12_k3e2_k3e2]", "seeds=2", "measure.enabled=false"))
    assert [(r["replicate"], r["seed"]) for r in rows] == [(0, 0), (1, 1000)]
    assert all(r["budget"]["images_seen"] == rows[0]["budget"]["images_seen"] > 0 for r in rows)
    a, b = (load_file(str(f / "model.safetensors")) for f in sorted((tmp_path / "models").iterdir()))
    assert a.keys() == b.keys() and any(not torch.equal(a[k], b[k]) for k in a if a[k].is_floating_point())
