"""Bad input found by a hostile user (issue 14), in the options: each case is one line naming the option,
never a traceback or a message that blames the wrong thing.

Option values of the wrong type or range, checked before anything trains or is measured; ``device=cuda``
without CUDA; a zero standard deviation; a non-finite fine-tuning loss.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from supernet.datasets import DigitsDataModule
from core.errors import DataError, GreenError

ROOT = Path(__file__).resolve().parents[1]
ARCH = "r16_k3e2_k3e2"


# ------------------------------------------------------------------ 3. option values at the boundary

@pytest.mark.parametrize("override, message", [
    ("optimizer.lr=-0.1", "optimizer.lr must be > 0, got -0.1"),
    ("optimizer.lr=0", "optimizer.lr must be > 0, got 0"),
    ("threads=-2", "threads must be >= 1, got -2"),
    ("label_smoothing=1.5", "label_smoothing must lie in [0, 1), got 1.5"),
    ("label_smoothing=1.0", "label_smoothing must lie in [0, 1), got 1.0"),
    ("measure.batch_sizes=[]", "measure.batch_sizes must be a non-empty list of positive whole numbers, got []"),
    ("measure.trials=0", "measure.trials must be >= 1, got 0"),
    ("calib_images=0", "calib_images must be >= 1, got 0"),
    ("epochs=abc", "epochs must be a whole number, got 'abc'"),
])
def test_finetune_options_are_checked_before_anything_trains(tmp_path, capsys, compose_cfg, one_line, override,
                                                             message):
    from search.deploy.finetune import finetune

    cfg = compose_cfg("finetune", "ckpt=/nonexistent.ckpt", f"archs=[{ARCH}]", override, output_dir=tmp_path)
    assert one_line("green-finetune", finetune, cfg, capsys) == f"green-finetune: error: {message}"
    assert not (tmp_path / "models").exists() and not (tmp_path / "tb").exists()


@pytest.mark.slow
def test_epochs_abc_on_the_command_line_is_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "search.commands.finetune", "ckpt=x", f"archs=[{ARCH}]", "epochs=abc",
                        f"hydra.run.dir={tmp_path}"], cwd=ROOT, capture_output=True, text=True,
                       env={k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"})
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == ["green-finetune: error: epochs must be a whole number, got 'abc'"]


@pytest.mark.parametrize("command, overrides, message", [
    ("lut", ["protocol.trials=0"], "protocol.trials must be >= 1, got 0"),
    ("lut", ["threads=-1"], "threads must be >= 1, got -1"),
    ("lut", ["batch_sizes=[]"], "batch_sizes must be a non-empty list"),
    ("hpo", ["default.lr=-0.02", "model=x"], "default.lr must be > 0, got -0.02"),
    ("hpo", ["calib_images=0", "model=x"], "calib_images must be >= 1, got 0"),
    ("hpo", ["hpo.space.label_smoothing=[0.0,1.5]", "model=x"], "hpo.space.label_smoothing must lie in [0, 1)"),
    ("baselines", ["measure.batch_sizes=[]"], "measure.batch_sizes must be a non-empty list"),
    ("baselines", ["label_smoothing=-0.1"], "label_smoothing must lie in [0, 1), got -0.1"),
    ("baselines", ["model_lr={resnet18: 0.01}"], "model_lr names 'resnet18', which is not one of the baselines"),
    ("baselines", ["model_lr={lcnet_050: -1}"], "model_lr.lcnet_050=-1: expected a positive learning rate"),
    # a NaN compares false both ways and inf passes every bound: any non-finite number is refused at the start
    ("lut", ["protocol.min_call_ms=inf"], "protocol.min_call_ms=inf: not a finite number"),
    ("hpo", ["default.lr=nan", "model=x"], "default.lr=nan: not a finite number"),
    ("baselines", ["label_smoothing=-inf", "measure.power_window_s=nan"],
     "label_smoothing=-inf: not a finite number (and 1 more)"),
])
def test_other_commands_check_options_at_start(tmp_path, capsys, compose_cfg, one_line, command, overrides, message):
    from search.deploy.baselines import baselines
    from search.tuning.hpo import hpo
    from search.hardware.lut import run

    fn = {"lut": run, "hpo": hpo, "baselines": baselines}[command]
    line = one_line(f"green-{command}", fn, compose_cfg(command, *overrides, output_dir=tmp_path), capsys)
    assert message in line
    assert not list(tmp_path.iterdir())  # nothing measured, trained or written


def test_calib_images_below_one_is_refused_by_the_data_for_every_command():
    dm = DigitsDataModule(image_size=8)
    for n in (0, -5):
        with pytest.raises(DataError, match=f"calib_images must be a whole number >= 1, got {n}"):
            dm.calib_batches(n)
    assert sum(len(b) for b in dm.calib_batches(3)) == 3


# ------------------------------------------------------------------ 4. messages that tell the truth

@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("command, overrides", [("lut", ["device=cuda"]), ("hpo", ["device=cuda", "model=x"]),
                                                ("finetune", ["measure.device=cuda", "ckpt=x", f"archs=[{ARCH}]"])])
def test_cuda_without_cuda_says_so(tmp_path, capsys, compose_cfg, one_line, command, overrides):
    from search.deploy.finetune import finetune
    from search.tuning.hpo import hpo
    from search.hardware.lut import run

    fn = {"lut": run, "hpo": hpo, "finetune": finetune}[command]
    line = one_line(f"green-{command}", fn, compose_cfg(command, *overrides, output_dir=tmp_path), capsys)
    assert line.endswith("=cuda: CUDA is not available on this machine; use " + overrides[0].replace("cuda", "cpu"))


@pytest.mark.parametrize("std, message", [("[0.0]", "data.std must hold finite numbers > 0"),
                                          ("[0.2,0.2]", "data.std must have one value per channel")])
def test_zero_std_is_named_not_blamed_on_the_learning_rate(tmp_path, capsys, compose_cfg, one_line, std, message):
    from supernet.train import train

    cfg = compose_cfg("train", "experiment=smoke", "epochs=1", "data.train_subset=64", "+data.mean=[0.5]",
                      f"+data.std={std}", output_dir=tmp_path)
    line = one_line("green-train", train, cfg, capsys)
    assert message in line and "learning rate" not in line
    assert not (tmp_path / "checkpoints").exists()


def test_non_finite_fine_tune_loss_is_a_training_error():
    from search.training.fit import make_optimizer
    from search.training.module import SubnetModule
    from core.errors import TrainingError

    with pytest.raises(GreenError, match="learning rate must be a finite number, got nan"):
        make_optimizer(torch.nn.Linear(2, 2).parameters(), "sgd", float("nan"))
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    with torch.no_grad():
        model[1].weight.fill_(float("nan"))
    module = SubnetModule(model, lambda p: None, num_classes=2, name="toy")
    with pytest.raises(TrainingError, match="non-finite loss nan at step 0 training toy"):
        module.training_step((torch.ones(3, 1, 2, 2), torch.tensor([0, 1, 0])), 0)


@pytest.mark.parametrize("override, message", [
    ("+data.batchsize=3", "green-train: error: unknown option data.batchsize: ImageDataModule takes no 'batchsize' "
                          "(did you mean data.batch_size?); see --help"),
    ("country_iso_code=XXX", "green-train: error: country_iso_code='XXX' is not a country codecarbon knows"),
    ("space.head_chs=1000000000", "green-train: error: out of memory (59.6 GiB asked): the networks, batch or "
                                  "images are too large for this device"),
])
@pytest.mark.slow
def test_a_typo_d_option_or_an_unknown_country_is_one_line(tmp_path, override, message):
    run = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "supernet.commands.train", "experiment=smoke", "epochs=1", override,
                        f"hydra.run.dir={run}"], cwd=ROOT, capture_output=True, text=True,
                       env={k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"})
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), r.stderr[-2000:]
    assert not run.exists()  # nothing half-written: the failed run's new folder is gone


@pytest.mark.parametrize("module, args, message", [
    ("search.commands.finetune", ["ckpt=x", "select=foo", "run=somewhere"], "unknown select 'foo': use spread or top"),
    ("search.commands.finetune", ["ckpt=x"], "no subnets to fine-tune: pass archs=[<arch>,...] or run=<"),
    ("search.commands.hpo", ["model=x", f"archs=[{ARCH}]"], "model= names one extraction folder to tune; it cannot "
                                                             "be combined with archs=:"),
])
@pytest.mark.slow
def test_conflicting_or_unknown_choices_are_refused_before_any_work(tmp_path, module, args, message):
    run = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", module, *args, f"hydra.run.dir={run}"], cwd=ROOT, capture_output=True,
                       text=True, env={k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"})
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], r.stderr[-2000:]
    assert not run.exists()
