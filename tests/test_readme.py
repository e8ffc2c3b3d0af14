"""The README and docs/ as a user reads them: their Python blocks run as pasted, every command's --help starts with
the title line of its section in docs/commands.md, every link between them resolves, the README stays a short page
for the user, and a mistyped flag is one line."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TEXTS = {p: p.read_text() for p in PAGES}
README = TEXTS[ROOT / "README.md"]
BLOCKS = [(p.relative_to(ROOT).as_posix(), block) for p, text in TEXTS.items()
          for block in re.findall(r"```python\n(.*?)```", text, re.S)]
HEADINGS = [(p, m) for p, text in TEXTS.items() for m in re.findall(r"^## `(green-[a-z]+)`: (.+)$", text, re.M)]
TITLES = {prog: title for _, (prog, title) in HEADINGS}
COMMANDS = {"green-train": "supernet.commands.train", "green-lut": "search.commands.lut",
            "green-search": "search.commands.search", "green-extract": "search.commands.extract",
            "green-finetune": "search.commands.finetune", "green-baselines": "search.commands.baselines",
            "green-run": "search.commands.run", "green-hpo": "search.commands.hpo", "green-table": "search.commands.table"}


@pytest.mark.slow
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
    for page, block in BLOCKS:
        r = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, env=env, capture_output=True, text=True)
        assert r.returncode == 0, f"{page} block failed:\n{block}\n{r.stderr[-1500:]}"


@pytest.mark.parametrize("prog", sorted(COMMANDS))
@pytest.mark.slow
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


def test_a_stage_is_called_optional_exactly_when_the_default_run_leaves_it_out(compose_cfg):
    from search.pipeline.stages import STAGE_TABLE

    default = set(compose_cfg("run").stages)
    assert {s.name for s in STAGE_TABLE if s.what.startswith("optional")} == {s.name for s in STAGE_TABLE} - default


def _outside_code(text: str) -> str:
    """``text`` without its fenced code blocks (a ``#`` there is a shell comment, not a heading)."""
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def anchors(text: str) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation but ``-`` and ``_`` dropped, spaces to
    ``-``, a repeated one suffixed ``-1``, ``-2``..."""
    seen: dict[str, int] = {}
    out = set()
    for heading in re.findall(r"^#{1,6} (.+)$", _outside_code(text), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        out.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
        seen[slug] = seen.get(slug, 0) + 1
    return out


def test_the_anchors_are_githubs():
    assert anchors("# A title\n## `green-run`: from data to a Green report\n```\n# no heading\n```\n## A title\n"
                   "## Parallel jobs and clusters: `launcher=`\n") == {
        "a-title", "green-run-from-data-to-a-green-report", "a-title-1", "parallel-jobs-and-clusters-launcher"}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_link_of_a_page_resolves_inside_the_repository(page):
    """Every relative link (and image) of README.md and docs/ names a file of the checkout, and its anchor a heading
    of that file."""
    text = _outside_code(TEXTS[page])
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    for link in links:
        if re.match(r"[a-z]+:", link):
            continue  # a web address
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        assert target.is_relative_to(ROOT) and target.exists(), f"{page.name}: {link} names no file of the checkout"
        if anchor:
            assert anchor in anchors(target.read_text()), f"{page.name}: {link}: no such heading in {target.name}"


def test_the_readme_is_a_short_page_for_the_user():
    lines = README.splitlines()
    assert len(lines) <= 250
    assert not re.search(r"\bissues?\s+#?\d", README, re.I)  # history and design notes live in docs/
    assert "../" not in README  # no path outside the repository
    for text in TEXTS.values():
        assert not re.search(r"\bissues?\s+#?\d", _outside_code(text), re.I)
    quickstart = README.split("## Quickstart\n\n", 1)[1]
    assert quickstart.startswith('```bash\npip install -e . && green-run\n```\n\n'
                                 '```bash\npip install -e ".[test]" && pytest\n```\n')  # CI and walltime run these


def test_the_readme_table_lists_every_command_under_its_title():
    """One row per command, its text the title of the command's section in docs/commands.md, linked there."""
    rows = dict(re.findall(r"^\| \[`(green-[a-z]+)`\]\(docs/commands\.md#[^)]+\) \| (.+?) \|$", README, re.M))
    assert rows == TITLES
    assert sorted(TITLES) == sorted(COMMANDS)
    assert len(HEADINGS) == len(COMMANDS)  # each title once, in docs/commands.md
    assert {p.name for p, _ in HEADINGS} == {"commands.md"}


def test_the_readme_figure_is_drawn_from_a_committed_result(tmp_path):
    figure = ROOT / "docs" / "figures" / "cost_range.png"
    assert "](docs/figures/cost_range.png)" in README and "bench/results/cost_range.json" in README
    assert figure.stat().st_size < 100_000
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "cost_figure.py"), "--out", str(tmp_path / "c.png")],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-1500:]
    drawn = (tmp_path / "c.png").read_bytes()
    assert drawn[:8] == b"\x89PNG\r\n\x1a\n" and len(drawn) < 100_000
    assert drawn[16:24] == figure.read_bytes()[16:24]  # the same width and height
