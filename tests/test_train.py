import json
import subprocess
import sys

import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from core.errors import CheckpointError, TrainingError
from supernet.train import build, train

FAST = ["experiment=smoke", "module.calib_images=128", "trainer.enable_progress_bar=false"]


def _ckpt(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def _val_loss(module, dm, arch):
    net = module.net.eval()
    with torch.no_grad():
        x, y = dm.val_set.__getitems__(list(range(len(dm.val_set))))
        return float(F.cross_entropy(net(dm.transform(x), arch), y))


def test_training_lowers_the_loss(tmp_path, compose_cfg):
    cfg = compose_cfg("train", *FAST, "epochs=2", output_dir=tmp_path)
    pl.seed_everything(0)
    dm, module = build(cfg)
    space = module.net.space
    before = {a: _val_loss(module, dm, getattr(space, a)()) for a in ("smallest", "largest")}
    metrics = train(cfg)
    state = _ckpt(tmp_path / "checkpoints" / "last.ckpt")["state_dict"]
    module.load_state_dict(state)
    from supernet.bn import recalibrate_bn
    for a in ("smallest", "largest"):
        arch = getattr(space, a)()
        recalibrate_bn(module.net, dm.calib_batches(256), forward=lambda x: module.net(x, arch))
        after = _val_loss(module, dm, arch)
        assert after < before[a] - 0.5, (a, before[a], after)
    assert metrics["val/acc_largest"] > 0.5 and metrics["val/acc_smallest"] > 0.3
    assert (tmp_path / "metrics.json").is_file() and (tmp_path / "checkpoints" / "best.ckpt").is_file()
    energy = json.loads((tmp_path / "energy_train.json").read_text())
    assert energy["energy_kwh"] > 0 and energy["source"].startswith("codecarbon")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(tmp_path / "tb")).Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/loss_largest_step", "train/kd_step", "train/lr", "val/acc_smallest", "val/recall_largest"} <= tags
    # the HPARAMS tab: the settings runs are compared by, not paths, threads, callbacks or green-run's keys
    from tensorboard.plugins.hparams import plugin_data_pb2

    from supernet.train import HPARAMS
    keys = set()
    for raw in events.PluginTagToContent("hparams").values():
        data = plugin_data_pb2.HParamsPluginData.FromString(raw)
        if data.HasField("session_start_info"):
            keys |= set(data.session_start_info.hparams)
    assert {"optimizer/lr", "epochs", "seed", "space/name"} <= keys, sorted(keys)
    assert all(k.split("/")[0] in HPARAMS and "_target_" not in k and not k.endswith("root") for k in keys), keys


@pytest.mark.parametrize("strategy, epochs, stop_after", [
    ("sandwich", ["epochs=2"], 1),
    ("progressive", ["strategy.phases.0.epochs=1", "strategy.phases.1.epochs=1",
                     "strategy.phases.2.epochs=1", "strategy.phases.3.epochs=1"], 3),
])
def test_resume_matches_uninterrupted_run(tmp_path, compose_cfg, strategy, epochs, stop_after):
    common = [*FAST, f"strategy={strategy}", *epochs, "data.train_subset=256"]
    full = train(compose_cfg("train", *common, output_dir=tmp_path / "full"))
    steps_per_epoch = 256 // 64
    train(compose_cfg("train", *common, f"trainer.max_steps={stop_after * steps_per_epoch}",
                      output_dir=tmp_path / "part"))
    part = _ckpt(tmp_path / "part" / "checkpoints" / "last.ckpt")
    assert part["epoch"] == stop_after - 1
    resumed = train(compose_cfg("train", *common, f"resume={tmp_path / 'part' / 'checkpoints' / 'last.ckpt'}",
                                output_dir=tmp_path / "resumed"))
    a = _ckpt(tmp_path / "full" / "checkpoints" / "last.ckpt")
    b = _ckpt(tmp_path / "resumed" / "checkpoints" / "last.ckpt")
    assert a["global_step"] == b["global_step"]
    assert a["green"] == b["green"]
    for k, v in a["state_dict"].items():
        assert torch.allclose(v.float(), b["state_dict"][k].float(), atol=1e-6), k
    assert full["val/acc_mean"] == pytest.approx(resumed["val/acc_mean"])
    if strategy == "progressive":
        assert a["green"]["phase_idx"] == 3 and a["green"]["teacher"]
        assert part["green"]["phase_idx"] == 2  # stopped inside the depth phase, resumed into width
        assert any(k.startswith("teacher.") for k in b["state_dict"])


def test_progressive_sorts_channels_when_width_opens(tmp_path, monkeypatch, compose_cfg):
    from supernet.net import SuperNet
    calls = []
    orig = SuperNet.sort_channels
    monkeypatch.setattr(SuperNet, "sort_channels", lambda self, opt=None: (calls.append(opt), orig(self, opt))[1])
    train(compose_cfg("train", *FAST, "strategy=progressive", "data.train_subset=128", "strategy.phases.0.epochs=1",
                      "strategy.phases.1.epochs=1", "strategy.phases.2.epochs=1", "strategy.phases.3.epochs=1",
                      output_dir=tmp_path))
    assert len(calls) == 1 and isinstance(calls[0], torch.optim.Optimizer)


def test_non_finite_loss_stops_with_step_and_subnet(tmp_path, compose_cfg):
    with pytest.raises(TrainingError, match=r"non-finite loss .* at step \d+ .* subnet r\d+_"):
        train(compose_cfg("train", *FAST, "optimizer.lr=1e30", "optimizer.nesterov=false", "optimizer.momentum=0",
                          output_dir=tmp_path))


def test_resume_from_another_space_is_refused(tmp_path, compose_cfg):
    train(compose_cfg("train", *FAST, "epochs=1", "data.train_subset=64", output_dir=tmp_path / "a"))
    ckpt = tmp_path / "a" / "checkpoints" / "last.ckpt"
    other = compose_cfg("train", *FAST, "epochs=2", "data.train_subset=64", "space.stem_chs=4", f"resume={ckpt}",
                        output_dir=tmp_path / "b")
    with pytest.raises(CheckpointError, match="search space"):
        train(other)


@pytest.mark.parametrize("overrides, message", [
    (["data=imagefolder", "data.root={tmp}/nope"], "imagefolder root"),
    (["strategy.num_random=-1"], "num_random must be >= 0"),
    (["epochs=0"], "epochs must be >= 1"),
])
@pytest.mark.slow
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, overrides, message):
    overrides = [o.format(tmp=tmp_path) for o in overrides]
    out = subprocess.run([sys.executable, "-m", "supernet.commands.train", *overrides, f"hydra.run.dir={tmp_path / 'run'}"],
                         capture_output=True, text=True)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert lines[-1].startswith(f"green-train: error: {message}") and "Traceback" not in out.stderr
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_last_ckpt_is_the_last_finished_epoch_even_without_a_new_best(tmp_path, compose_cfg):
    # a tiny subset: validation accuracy stalls, so later epochs bring no new best
    cfg = compose_cfg("train", *FAST, "epochs=3", "data.train_subset=128", output_dir=tmp_path)
    train(cfg)
    last = _ckpt(tmp_path / "checkpoints" / "last.ckpt")
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert last["global_step"] == metrics["global_step"]
    assert last["epoch"] == metrics["epochs"] - 1  # Lightning stores the index of the finished epoch
