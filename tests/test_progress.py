"""The per-model progress line: model i/n, epoch, img/s and ETA, printed as whole lines."""
from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from core.progress import ProgressLine, batch_images, clock, model_label
from search.jobs.launch import replicate_jobs


class Tiny(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 2)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.cross_entropy(self.lin(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _fit(line: ProgressLine, epochs: int = 3) -> None:
    data = TensorDataset(torch.randn(40, 4), torch.randint(0, 2, (40,)))
    trainer = pl.Trainer(max_epochs=epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, callbacks=[line])
    trainer.fit(Tiny(), DataLoader(data, batch_size=8))


def test_lines_name_model_epoch_rate_and_eta():
    out = io.StringIO()
    _fit(ProgressLine(model_label("green-baselines", 2, 3, "mobilenetv2_050"), 2, 3, every_s=0.0, out=out))
    lines = out.getvalue().splitlines()
    assert len(lines) == 3 * 5 + 1  # every batch (every_s=0) and the end
    pat = re.compile(r"^green-baselines model 2/3 mobilenetv2_050: epoch (\d)/3, (\d+) img/s, ETA (\S+), all 3: (\S+)$")
    matches = [pat.match(line) for line in lines]
    assert all(matches), lines
    assert [int(m.group(1)) for m in matches] == [1] * 5 + [2] * 5 + [3] * 5 + [3]
    assert matches[-1].group(3) == "0:00"  # the end: nothing left of this model, one model of the stage to come
    assert int(matches[-1].group(2)) > 0


def test_lines_are_throttled():
    out = io.StringIO()
    _fit(ProgressLine("green-train supernet", every_s=3600.0, out=out))
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("green-train supernet: epoch 3/3,") and "all" not in lines[0]


def test_clock_and_batch_images():
    assert [clock(s) for s in (0, 59.4, 61, 3725, float("nan"), -1)] == ["0:00", "0:59", "1:01", "1:02:05", "?", "?"]
    assert batch_images((torch.zeros(7, 3), torch.zeros(7))) == 7 and batch_images(None) == 0
    with pytest.raises(ValueError):
        ProgressLine("x", 4, 3)


def test_jobs_count_models_across_replicates():
    jobs = replicate_jobs(["a", "b", "c"], 2, 0, Path("m"))
    assert [(j.key, j.position, j.total) for j in jobs] == [
        ("a", 1, 6), ("b", 2, 6), ("c", 3, 6), ("a_s1", 4, 6), ("b_s1", 5, 6), ("c_s1", 6, 6)]
    assert jobs[4].progress("green-finetune").label == "green-finetune model 5/6 b_s1"
