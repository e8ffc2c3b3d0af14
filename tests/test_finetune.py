import json

import pytest
from hydra import compose, initialize_config_module

from search.export import load_subnet
from search.finetune import finetune
from supernet.errors import GreenError

ARCHS = "archs=[r16_k5e3-k3e2_k3e3,r12_k3e2_k3e2]"


def ft_cfg(tmp_path, ckpt, *overrides):
    with initialize_config_module(config_module="conf", version_base="1.3"):
        return compose("finetune", overrides=[
            f"paths.output_dir={tmp_path}", f"ckpt={ckpt}", "epochs=1", "data.train_subset=256", "calib_images=128",
            "trainer.enable_progress_bar=false", "measure.trials=2", "measure.warmup=1", "measure.min_call_ms=1",
            "measure.power_window_s=0.5", "measure.batch_sizes=[1,8]", "onnx=false", *overrides])


def test_finetune_measures_and_resumes(tmp_path, tiny_ckpt, capsys):
    rows = finetune(ft_cfg(tmp_path, tiny_ckpt, ARCHS))
    assert [r["arch"] for r in rows] == ["r16_k5e3-k3e2_k3e3", "r12_k3e2_k3e2"]
    for r in rows:
        assert r["init"] == "inherited" and r["test_acc"] > 0.3 and 0 < r["test_recall"] <= 1
        assert r["latency_ms"] > 0 and r["latency_ms_b8"] > 0 and r["energy_mj_per_image"] > 0
        assert r["train_energy_kwh"] > 0 and r["train_energy_source"].startswith("codecarbon")
    folders = sorted((tmp_path / "models").iterdir())
    assert len(folders) == 2 and load_subnet(folders[0]).arch.resolution == 16
    saved = json.loads((tmp_path / "finetune.json").read_text())["models"]
    assert saved == json.loads(json.dumps(rows))
    assert (tmp_path / "finetune.csv").read_text().startswith("name,arch,kind,")
    assert list((tmp_path / "tb").rglob("events.out.tfevents*"))
    # a rerun on the same folder trains nothing again
    mtime = (folders[0] / "model.safetensors").stat().st_mtime
    again = finetune(ft_cfg(tmp_path, tiny_ckpt, ARCHS))
    assert again == json.loads(json.dumps(rows))
    assert "already fine-tuned, skipped" in capsys.readouterr().out
    assert (folders[0] / "model.safetensors").stat().st_mtime == mtime


def test_finetune_from_scratch_flag(tmp_path, tiny_ckpt):
    rows = finetune(ft_cfg(tmp_path, tiny_ckpt, "archs=[r12_k3e2_k3e2]", "from_scratch=true", "distill=false"))
    assert rows[0]["init"] == "scratch" and rows[0]["distilled"] is False


@pytest.mark.parametrize("overrides, message", [
    (["epochs=0", ARCHS], "epochs must be >= 1"),
    (["archs=[r16_k9e2_k3e2]"], "kernel_size 9"),
    (["run={tmp}/nowhere"], "cannot read the search run"),
])
def test_finetune_bad_input(tmp_path, tiny_ckpt, overrides, message):
    overrides = [o.format(tmp=tmp_path) for o in overrides]
    with pytest.raises(GreenError, match=message):
        finetune(ft_cfg(tmp_path, tiny_ckpt, *overrides))
    assert not (tmp_path / "models").exists()
