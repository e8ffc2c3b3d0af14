"""A signal whose raise Python drops still stops the run: at the next safe point, not never.

Python runs a signal handler at the next bytecode boundary of the main thread, which can be inside a ``__del__``
or a weakref callback; an exception raised there is printed as "Exception ignored" and dropped. These tests
land SIGTERM exactly there (``signal.raise_signal`` runs the handler before it returns) and check that the next
safe point of each long loop (a training batch, a search evaluation, a job) raises the stop, that a second
signal raises again and a third is left to the system, and that nothing of the stop outlives its block.
"""
from __future__ import annotations

import gc
import signal
import sys

import pytest
import pytorch_lightning as pl
import torch

from core.errors import SignalStop
from core.signals import SafePoints, interruptible
from core.stop import check_stop, stop_pending
from search.evolution.engine import Evolution
from search.evolution.settings import Settings
from search.evolution.state import read_cache
from search.jobs.launch import Job, Launcher

from tests.test_engine import F1, F2, Grid, cost, score

class SignalOnDelete:
    """Sends SIGTERM to this process from its ``__del__``: the handler's raise is dropped there."""

    def __del__(self):
        signal.raise_signal(signal.SIGTERM)


def drop_a_sigterm() -> None:
    obj = SignalOnDelete()
    del obj  # the handler runs inside __del__ and its SignalStop is printed as ignored
    gc.collect()


def test_a_dropped_raise_is_noted_and_raised_at_the_next_safe_point(tmp_path, capsys):
    before, hook = signal.getsignal(signal.SIGTERM), sys.unraisablehook
    with interruptible("green-x", tmp_path):
        drop_a_sigterm()  # no exception reaches here: this is the bug's first half
        assert "Exception ignored" not in capsys.readouterr().err  # no traceback: the stop is raised below
        assert stop_pending() is not None
        with pytest.raises(SignalStop) as err:
            check_stop()
    assert err.value.interrupted.exit_code == 128 + signal.SIGTERM
    assert "stopped by SIGTERM" in str(err.value) and str(tmp_path) in str(err.value)
    assert stop_pending() is None  # the block ended: no later command inherits the stop
    check_stop()
    assert signal.getsignal(signal.SIGTERM) == before and sys.unraisablehook is hook  # both are back


def test_a_second_signal_raises_again_and_a_third_is_left_to_the_system(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    with interruptible("green-x", tmp_path):
        drop_a_sigterm()
        with pytest.raises(SignalStop):
            signal.raise_signal(signal.SIGTERM)  # the user sends it again: it raises where it lands
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # a third would end the process at once
    assert signal.getsignal(signal.SIGTERM) == before


class Tiny(pl.LightningModule):
    """Ten batches of a linear model; batch 3 drops a SIGTERM in a ``__del__``."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 2)
        self.steps = 0

    def training_step(self, batch, i):
        self.steps += 1
        if self.steps == 3:
            drop_a_sigterm()
        x, y = batch
        return torch.nn.functional.cross_entropy(self.lin(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self):
        ds = torch.utils.data.TensorDataset(torch.randn(40, 4), torch.randint(0, 2, (40,)))
        return torch.utils.data.DataLoader(ds, batch_size=4)


def test_a_fit_stops_at_the_batch_end_after_a_dropped_raise(tmp_path):
    model = Tiny()
    trainer = pl.Trainer(max_epochs=1, callbacks=[SafePoints()], logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, default_root_dir=str(tmp_path))
    with interruptible("green-x", tmp_path), pytest.raises(SignalStop):
        trainer.fit(model)
    assert model.steps == 3 and trainer.global_step == 3  # the third step finished, the fourth never began


def test_a_search_stops_before_the_next_evaluation_after_a_dropped_raise(tmp_path):
    calls = []

    def evaluate(x):
        calls.append(x)
        if len(calls) == 3:
            drop_a_sigterm()
        return score(x)

    evo = Evolution(Grid(), Settings([F1, F2], population=10, generations=2, seed=0), cost, run_dir=tmp_path,
                    bounds={"f1": 1.0, "f2": 12.0}, progress=False)
    with interruptible("green-x", tmp_path), pytest.raises(SignalStop):
        evo.run(evaluate)
    assert len(calls) == 3 and len(read_cache(tmp_path)) == 3  # the third is kept, no fourth was begun


def _job(cfg, job):
    _job.ran.append(job.key)
    if len(_job.ran) == 1:
        drop_a_sigterm()


def test_a_serial_batch_stops_before_the_next_job_after_a_dropped_raise(tmp_path):
    _job.ran = []
    jobs = [Job(key=f"m{i}", folder=str(tmp_path / f"m{i}"), seed=i) for i in range(3)]
    with interruptible("green-x", tmp_path), pytest.raises(SignalStop):
        Launcher("serial").run(jobs, _job, None, tmp_path / "batch", "green-x")
    assert _job.ran == ["m0"]
