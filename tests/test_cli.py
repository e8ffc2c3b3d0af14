"""The console-script wrapper (core.cli) as a new user meets it (issue 34): Lightning's banners silenced whatever
the import order, an unknown option named with the closest real one, ``--help`` without the heavy imports."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# what Lightning prints for every Trainer, unasked: banners (logger INFO) and per-fit warnings
NOISE = ("GPU available", "TPU available", "Tip:", "LOCAL_RANK", "Seed set to", "`Trainer.fit` stopped",
         "log_every_n_steps", "does not have many workers", "LeafSpec")
# quiet() first, Lightning imported afterwards (as in a launcher's worker, or a command that imports Lightning
# only once it trains), then a tiny fit whose logger and loader provoke the usual warnings
FIT_AFTER_QUIET = """
import sys
from core.cli import quiet
quiet(verbose=sys.argv[1] == "verbose")
import torch, pytorch_lightning as pl
from torch.utils.data import DataLoader, TensorDataset

class Tiny(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 2)
    def training_step(self, batch, i):
        x, y = batch
        return torch.nn.functional.cross_entropy(self.lin(x), y)
    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

pl.seed_everything(0)
data = DataLoader(TensorDataset(torch.randn(8, 4), torch.randint(0, 2, (8,))), batch_size=4)
pl.Trainer(max_epochs=1, accelerator="cpu", enable_progress_bar=False, enable_model_summary=False,
           default_root_dir=sys.argv[2]).fit(Tiny(), data)
"""


def _env() -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k not in ("HYDRA_FULL_ERROR", "PYTHONWARNINGS")},
            "PYTHONPATH": str(ROOT)}


@pytest.mark.parametrize("verbose", [False, True])
@pytest.mark.slow
def test_quiet_holds_when_lightning_is_imported_after_it(tmp_path, verbose):
    r = subprocess.run([sys.executable, "-c", FIT_AFTER_QUIET, "verbose" if verbose else "quiet", str(tmp_path)],
                       cwd=ROOT, env=_env(), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    heard = [n for n in NOISE if n in r.stdout + r.stderr]
    if verbose:  # the program does provoke the noise: verbose=true shows it
        assert {"GPU available", "Seed set to", "log_every_n_steps"} <= set(heard)
    else:
        assert heard == [], r.stdout + r.stderr


@pytest.mark.slow
def test_a_tiny_training_prints_only_its_closing_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "supernet.commands.train", "experiment=smoke", "epochs=1",
                        "data.train_subset=128", "module.calib_images=32", "trainer.enable_progress_bar=false",
                        "threads=1", f"hydra.run.dir={tmp_path / 'run'}"], cwd=ROOT, env=_env(), capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = (r.stdout + r.stderr).strip().splitlines()  # its progress lines (core.progress), then the closing one
    assert lines[-1].startswith("green-train: 1 epochs, val acc"), lines
    assert lines[:-1] and all(ln.startswith("green-train supernet: epoch ") for ln in lines[:-1]), lines
    assert (tmp_path / "run" / "train.log").read_text() == ""  # nor in the run's log file


@pytest.mark.parametrize("config, args, line", [
    ("train", ["+epoch=3"], "unknown option epoch (did you mean epochs?); see --help"),
    ("train", ["epoch=3"], "unknown option epoch (did you mean epochs?); see --help"),  # not Hydra's "use +epoch=3"
    ("train", ["+lr=0.1"], "unknown option lr (did you mean optimizer.lr?); see --help"),
    ("train", ["+zzzz=1"], "unknown option zzzz (no such option in this command); see --help"),
    ("train", ["+trainer.limit_val_batch=0"], "unknown option trainer.limit_val_batch: Trainer takes no "
                                              "'limit_val_batch' (did you mean trainer.limit_val_batches?); see --help"),
    # DigitsDataModule passes **kwargs on: its base's parameters are what it takes
    ("train", ["+data.batchsize=3"], "unknown option data.batchsize: ImageDataModule takes no 'batchsize' "
                                     "(did you mean data.batch_size?); see --help"),
    ("run", ["+topk=3"], "unknown option topk (did you mean top_k?); see --help"),
    ("finetune", ["batch_sizes=[]"], "unknown option batch_sizes (did you mean measure.batch_sizes?); see --help"),
    # an unknown config option: its options, not Hydra's search path
    ("run", ["data=cifar"], "In 'run': Could not find 'data/cifar'; options of data: cifar10, cifar100, digits, "
                            "imagefolder"),
])
def test_a_key_that_names_nothing_is_one_line_naming_the_closest(config, args, line):
    from core.cli import composition_problem

    assert composition_problem(config, args, ("pipeline",) if config == "run" else ()) == line


@pytest.mark.parametrize("config, args", [
    ("train", ["+trainer.limit_val_batches=0", "+trainer.fast_dev_run=1"]),  # pytorch_lightning.Trainer arguments
    ("train", ["+data.mean=[0.5]", "+data.std=[0.5]"]),
    ("train", ["+space.stages.1.widths=[0.5,1.0]"]),  # inside SearchSpace's argument: it checks its stages
    ("train", ["++epochs=3", "experiment=smoke"]),
    ("run", ["+pipeline.train.strategy=progressive", "++pipeline.mt_search={search.population:4}"]),
    ("finetune", ["launcher=joblib", "+launcher.params.n_jobs=2"]),
    ("search", ["ckpt=x.ckpt", "table=t.json"]),  # a mandatory key (???) is a key the config has
    ("lut", ["mode=validate", "table=x.json"]),  # so is one whose value cannot resolve outside a run (${paths...})
])
def test_added_keys_that_something_reads_keep_working(config, args):
    from core.cli import composition_problem

    assert composition_problem(config, args, ("pipeline",) if config == "run" else ()) is None


def test_the_console_script_refuses_an_unknown_key_before_any_work(tmp_path, monkeypatch, capsys):
    from core.cli import command

    ran = []
    main = command("green-train", "train")(ran.append)  # what every console script is, around a recording fn
    monkeypatch.setattr(sys, "argv", ["green-train", "+epoch=3", f"hydra.run.dir={tmp_path / 'run'}"])
    with pytest.raises(SystemExit) as stop:
        main()
    assert stop.value.code == 2 and ran == []
    assert capsys.readouterr().err.splitlines() == ["green-train: error: unknown option epoch (did you mean epochs?); "
                                                    "see --help"]
    assert not (tmp_path / "run").exists()


HEAVY = {"torch", "pytorch_lightning", "lightning_fabric", "timm", "torchvision", "codecarbon"}


def _imports_of(*args, cwd=ROOT):
    """Run ``green-run *args`` under ``-X importtime``: (exit status, modules it imported, its other stderr lines)."""
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "search.commands.run", *args], cwd=cwd, env=_env(),
                       capture_output=True, text=True)
    timed = [line for line in r.stderr.splitlines() if line.startswith("import time:")]
    names = {line.rsplit("|", 1)[1].strip().split(".")[0] for line in timed[1:]}  # the first line is the header
    return r, names, [line for line in r.stderr.splitlines() if not line.startswith("import time:")]


def test_green_run_help_imports_neither_torch_nor_lightning(tmp_path):
    r, names, rest = _imports_of("--help", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("green-run: from data to a Green report"), rest
    assert "hydra" in names and names & HEAVY == set()  # the check sees imports at all, and none of the heavy ones
    assert not (tmp_path / "outputs").exists()
    groups = r.stdout.split("Config groups (group=option):\n")[1].split("\n\n")[0].splitlines()
    # the groups green-run composes, not every folder of conf/ (optimizer=, strategy= are other commands')
    assert [g.split(":")[0] for g in groups] == ["data", "experiment", "launcher", "paths", "space", "trainer"]
    assert "launcher: joblib, serial, submitit_local, submitit_slurm" in groups


@pytest.mark.parametrize("override, line", [
    ("seeds=0", "green-run: error: seeds must be >= 1, got 0"),
    ("select_fraction=1.0", "green-run: error: select_fraction must lie in [0, 1), got 1.0"),
    ("+epoch=3", "green-run: error: unknown option epoch (did you mean pipeline.train.epochs?); see --help"),
])
def test_a_refused_green_run_option_is_one_line_before_the_heavy_imports(tmp_path, override, line):
    r, names, rest = _imports_of(override, f"hydra.run.dir={tmp_path / 'run'}")
    assert r.returncode == 2 and rest == [line]
    assert names & HEAVY == set() and not (tmp_path / "run").exists()
