"""Shared fixtures: composed configs, the tiny registered space, a trained-looking supernet, small budgets of the
commands, the shared CIFAR-10 folder and the checks of the bad-input tests."""
from __future__ import annotations

import json
import os
import tempfile

import random
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from hydra.utils import instantiate
from omegaconf import DictConfig

from core.cli import check_command_options
from core.errors import exit_on_error
from supernet.net import SuperNet

SHARED_CIFAR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cifar10"
# decoded-image caches (data.cache_dir=auto) of the tests go to a folder of their own, not the user's ~/.cache
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="green-cnn-tests-cache-")

LUT_FAST = ["protocol.trials=2", "protocol.warmup=1", "protocol.min_call_ms=0.5", "calib.subnets=2",
            "batch_sizes=[1,4]", "energy.power_window_s=1", "validate.subnets=3", "validate.trials=1"]
TABLE_FAST = ["table.subnets=3", "table.strata=1", "table.pool=50", "table.seeds=2", "epochs=2",
              "data.train_subset=256", "calib_images=64", "trainer.enable_progress_bar=false", "threads=1"]
SEARCH_FAST = ["progress=false", "search.population=8", "search.generations=2", "eval.calib_images=64",
               "eval.val_images=64"]


@pytest.hookimpl(tryfirst=True)  # before pytest's own -m selection reads the marks
def pytest_collection_modifyitems(config, items):
    """``@pytest.mark.slow_after_first``: a parametrized test's first case runs in the fast set, the others are
    ``slow`` (one-line-error checks that each start a command: one case shows the path works, CI runs them all)."""
    seen = set()
    for item in items:
        if item.get_closest_marker("slow_after_first") is None:
            continue
        key = (item.module.__name__, item.originalname)
        if key in seen:
            item.add_marker(pytest.mark.slow)
        seen.add(key)


def _compose(config_name: str, *overrides: str, output_dir: str | Path | None = None) -> DictConfig:
    """``conf/<config_name>.yaml`` composed with ``overrides``; ``paths.output_dir`` first, where given."""
    head = [] if output_dir is None else [f"paths.output_dir={output_dir}"]
    with initialize_config_module(config_module="conf", version_base="1.3"):
        return compose(config_name, overrides=[*head, *overrides])


@pytest.fixture(scope="session")
def compose_cfg():
    """``compose_cfg(config_name, *overrides, output_dir=None) -> DictConfig``: a command's config as it would see it.

    The one place the tests compose Hydra configs, so that every test module asks for this fixture instead of
    rebuilding ``initialize_config_module`` + ``compose`` or importing a helper from conftest. Hydra is initialised
    for each call and cleared after it, so no global Hydra state leaks between tests. Outside a Hydra run
    ``paths.output_dir`` (``${hydra:runtime.output_dir}``) cannot resolve: a test that lets a command write passes
    ``output_dir`` (a test's own folder), which sets it first, before ``overrides``; nothing else is set.
    """
    return _compose


# compose_cfg with the small budgets that several test modules share (a module's own budget stays in that module)

@pytest.fixture(scope="session")
def lut_cfg(compose_cfg):
    """``lut_cfg(out, *overrides)``: green-lut's config with tiny budgets (``LUT_FAST``), writing into ``out``."""
    return lambda out, *overrides: compose_cfg("lut", *LUT_FAST, *overrides, output_dir=out)


@pytest.fixture(scope="session")
def table_cfg(compose_cfg):
    """``table_cfg(out, *overrides)``: green-table's config with tiny budgets (3 subnets, 2 seeds, 2 epochs on 256
    digits), writing into ``out``."""
    return lambda out, *overrides: compose_cfg("table", *TABLE_FAST, *overrides, output_dir=out)


@pytest.fixture(scope="session")
def search_cfg(compose_cfg):
    """``search_cfg(out, ckpt, table, *overrides)``: green-search's config with a small budget (8 x 2 generations,
    64 images), writing into ``out``."""
    return lambda out, ckpt, table, *overrides: compose_cfg("search", f"ckpt={ckpt}", f"table={table}", *SEARCH_FAST,
                                                            *overrides, output_dir=out)


@pytest.fixture(scope="session")
def tiny_space():
    return instantiate(_compose("train").space)


@pytest.fixture(scope="session")
def cifar_space():
    return instantiate(_compose("train", "space=cifar").space)


def _scramble(net: SuperNet, seed: int = 0) -> SuperNet:
    """Give a fresh supernet non-trivial BN statistics and kernel transforms, as training would."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if "ks_transform" in name:
                p.add_(0.1 * torch.randn(p.shape, generator=g))
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
    return net


@pytest.fixture
def tiny_net(tiny_space):
    torch.manual_seed(0)
    return _scramble(SuperNet(tiny_space, num_classes=10, in_chans=1)).eval()


@pytest.fixture
def rng():
    return random.Random(0)


@pytest.fixture(scope="session")
def tiny_table(tmp_path_factory):
    """A quickly measured table of the tiny space, energy labelled as on a machine without counters."""
    import search.hardware.lut as lut

    tmp = tmp_path_factory.mktemp("lut")
    mp = pytest.MonkeyPatch()
    mp.setattr(lut, "find_meter", lambda device: None)
    try:
        return lut.build_table(_compose("lut", *LUT_FAST, output_dir=tmp))
    finally:
        mp.undo()


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory):
    """A briefly trained tiny supernet on digits (its last.ckpt)."""
    from supernet.train import train

    tmp = tmp_path_factory.mktemp("train")
    train(_compose("train", "experiment=smoke", "epochs=2", "data.train_subset=512", "module.calib_images=128",
                   "trainer.enable_progress_bar=false", output_dir=tmp))
    return tmp / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="session")
def ground_table(tmp_path_factory):
    """(folder, Table): a built ground-truth table of the tiny space on digits."""
    from search.ranking.build import build

    out = tmp_path_factory.mktemp("ground_table")
    return out, build(_compose("table", *TABLE_FAST, output_dir=out))


@pytest.fixture
def shared_cifar() -> Path:
    """The shared CIFAR-10 folder (``../shared/data/cifar10``: train/ and test/, a folder per class); the test is
    skipped where it is absent."""
    if not SHARED_CIFAR.is_dir():
        pytest.skip("shared CIFAR-10 folder not present")
    return SHARED_CIFAR


def _one_line(prog: str, fn, cfg, capsys) -> str:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        with exit_on_error(prog):
            check_command_options(prog, cfg)  # as the console script's wrapper does, before the function
            fn(cfg)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "Traceback" not in err, err
    lines = [ln for ln in err.strip().splitlines() if ln.startswith(f"{prog}: error:")]
    assert len(lines) == 1 and err.strip().splitlines()[-1] == lines[0], err
    return lines[0]


@pytest.fixture(scope="session")
def one_line():
    """``one_line(prog, fn, cfg, capsys) -> str``: run the command function as its console script does; it must exit
    2 with one error line, which is returned."""
    return _one_line



@pytest.fixture
def scramble():
    """``scramble(net, seed=0) -> net``: a fresh supernet with the BN statistics and kernel transforms training
    would give it, so equality tests cannot pass on the trivial initial values."""
    return _scramble


@pytest.fixture
def write_front():
    """``write_front(folder, archs=(), digest="0" * 16, unique_evals=None, **fields) -> folder``: a search run
    folder whose ``pareto.json`` is a real :class:`~search.evolution.front.Front` of ``archs`` (made-up figures,
    best first), for tests of its readers; ``fields`` are Front's optional fields (``multi_trial``, ``ckpt``...)."""
    from search.evolution.front import Front, Member
    from search.evolution.objectives import parse_objectives

    def write(folder: Path, archs=(), digest: str = "0" * 16, unique_evals: int | None = None, **fields) -> Path:
        members = tuple(Member(a, 0.9 - i / 10, 0.9, 1000, 10_000, 1.0, 1.0, "codecarbon-estimate", 0, (0,))
                        for i, a in enumerate(archs))
        front = Front(tuple(parse_objectives(["acc", "params"])), (), "nsga2", 0, digest, "codecarbon-estimate", 1,
                      len(archs) if unique_evals is None else unique_evals, 0.5, members, **fields)
        Path(folder).mkdir(parents=True, exist_ok=True)
        front.write(folder)
        return Path(folder)
    return write


@pytest.fixture
def bench_result(tmp_path, monkeypatch):
    """Write a result of ``bench/<name>.py`` from ``raw`` as the script would (provenance, headline, raw),
    with ``recompute`` (the module ``bench.recompute``) reading ``headline``; checks that it recomputes and
    returns (path, result) for a test to tamper with."""
    def make(recompute, name: str, headline, raw: dict):
        monkeypatch.setattr(recompute, "_headline_fn", lambda _: headline)
        result = {"benchmark": name, "commit": "abc", "command": f"python bench/{name}.py", "config": {},
                  **headline({"raw": raw}), "raw": raw}
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(result))
        assert recompute.check(path) == []
        return path, result
    return make


@pytest.fixture
def write_run():
    """``write_run(root, seeds=1, stages=None) -> root``: a finished green-run folder of one winner (``f1``) and one
    baseline (``b1``), each trained with ``seeds`` seeds (3 epochs after a supernet of 6) and measured by its own
    stage (no session), for tests of the report's text; ``stages`` is run.json's ``stages`` record."""
    def write(root: Path, seeds: int = 1, stages: dict | None = None) -> Path:
        row = {"arch": "a", "params": 10, "macs": 20, "test_images": 0, "train_energy_kwh": 0.5,
               "train_energy_source": "codecarbon-estimate", "epochs": 3, "budget": {"epochs": 3, "distilled": True}}
        for stage, name in (("finetune", "finetune.json"), ("baselines", "baselines.json")):
            (root / stage).mkdir(parents=True)
            models = [{**row, "name": f"{stage[0]}1", "seed": r, "replicate": r, "test_acc": 0.8 + r / 100,
                       "test_recall": 0.8} for r in range(seeds)]
            (root / stage / name).write_text(json.dumps({"models": models, "num_classes": 10}))
            (root / stage / f"energy_{stage}.json").write_text(json.dumps(
                {"energy_kwh": 0.5, "co2eq_kg": 0.1, "seconds": 1.0, "source": "codecarbon-estimate"}))
        (root / "train").mkdir()
        (root / "train" / "metrics.json").write_text(json.dumps({"epochs": 6}))
        cost = {"latency_ms": 1.0, "latency_ms_b1_p10": 1.0, "latency_ms_b1_p90": 1.0, "energy_mj_per_image": 1.0,
                "energy_batch_size": 1, "energy_source": "codecarbon-estimate", "power_w": 2.0}
        (root / "measure").mkdir()
        (root / "measure" / "measure.json").write_text(json.dumps({"session": None, "models": {
            "finetune/f1": cost, "baselines/b1": cost}}))
        (root / "run.json").write_text(json.dumps({"stages": stages or {}}))
        return root
    return write
