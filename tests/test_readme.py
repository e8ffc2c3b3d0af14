"""The README as a user reads it: its Python blocks run as pasted, every command's --help starts with the
README's own title line for it, and a mistyped flag is one line."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, re.S)
TITLES = dict(re.findall(r"^## `(green-[a-z]+)`: (.+)$", README, re.M))
COMMANDS = {"green-train": "supernet.commands.train", "green-lut": "search.commands.lut",
            "green-search": "search.commands.search", "green-extract": "search.commands.extract",
            "green-finetune": "search.commands.finetune", "green-baselines": "search.commands.baselines",
            "green-run": "search.commands.run", "green-hpo": "search.commands.hpo", "green-table": "search.commands.table"}


def test_every_python_block_of_the_readme_runs_as_pasted(tmp_path, tiny_table, tiny_space):
    from search.deploy.export import save_subnet
    from supernet.net import GreenNet

    assert len(BLOCKS) >= 3
    (tmp_path / "outputs" / "lut" / "tiny").mkdir(parents=True)  # what the blocks' "after:" commands make
    shutil.copy(tiny_table, tmp_path / "outputs" / "lut" / "tiny" / "lut.json")
    torch.manual_seed(0)
    save_subnet(GreenNet(tiny_space, tiny_space.largest(), 10, 1).eval(), tmp_path / "outputs" / "extract" / "mine"
                / "model", onnx=False)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    for block in BLOCKS:
        r = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, env=env, capture_output=True, text=True)
        assert r.returncode == 0, f"README block failed:\n{block}\n{r.stderr[-1500:]}"


@pytest.mark.parametrize("prog", sorted(COMMANDS))
def test_help_starts_with_the_readme_title_and_gives_an_example(prog, tmp_path):
    r = subprocess.run([sys.executable, "-m", COMMANDS[prog], "--help"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-800:]
    lines = r.stdout.splitlines()
    assert lines[0] == f"{prog}: {TITLES[prog]}"
    assert any(line.startswith("Main options:") for line in lines)
    assert f"  {prog} " in r.stdout.split("Example:", 1)[1]
    assert not (tmp_path / "outputs").exists()  # asking for help writes nothing


def test_a_mistyped_flag_is_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "search.commands.finetune", "--hlep"], cwd=tmp_path,
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == ["green-finetune: error: unknown flag '--hlep': options are key=value; "
                                             "see --help"]


def test_run_help_lists_the_stage_table_in_run_order(tmp_path):
    """``green-run --help`` prints the runner's own stage table (name and what it does), not a copy of it."""
    from search.pipeline.stages import STAGE_TABLE

    r = subprocess.run([sys.executable, "-m", COMMANDS["green-run"], "--help"], cwd=tmp_path, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr[-800:]
    listed = [line.split()[0] for line in r.stdout.splitlines()
              if line.startswith("  ") and line.split()[0] in {s.name for s in STAGE_TABLE}]
    assert listed == [s.name for s in STAGE_TABLE]
    for s in STAGE_TABLE:
        assert s.what in r.stdout
