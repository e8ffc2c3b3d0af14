"""bench/throughput.py and bench/walltime.py: headlines recomputed from raw data (known answers), and the figure
sections of README.md and docs/ written from the committed results (bench/readme.py)."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench import readme, throughput, walltime

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"


def _rec(path, variant, kind, r, step_s, images=100):
    return {"round": r, "path": path, "variant": variant, "kind": kind, "step_s": step_s, "images": images}


def test_throughput_headline_known_answers():
    cl, nchw, one = "channels_last-fp32-T", "contiguous-fp32-T", "channels_last-fp32-1"
    recs = []
    for r, slow in enumerate((1.0, 1.2)):  # the second round runs 20% slower: every figure of it alike
        recs += [_rec("supernet_largest", cl, "project", r, [0.5 * slow, 0.6 * slow, 0.4 * slow]),   # 200, 167
                 _rec("supernet_largest", cl, "bare", r, [0.4 * slow]),                              # 250, 208
                 _rec("supernet_largest", nchw, "project", r, [1.0 * slow]),                         # 100, 83
                 _rec("supernet_largest", nchw, "bare", r, [0.8 * slow]),
                 _rec("supernet_largest", one, "project", r, [0.9 * slow]),
                 _rec("supernet_largest", one, "bare", r, [0.1 * slow]),  # 1 thread: never the bare reference
                 _rec("lut", cl, "project", r, [1.0 * slow]), _rec("lut", cl, "bare", r, [0.5 * slow]),
                 _rec("lut", nchw, "project", r, [1.0 * slow]), _rec("lut", nchw, "bare", r, [0.25 * slow])]
    h = throughput.headline({"raw": {"rounds": recs}})
    big = h["paths"]["supernet_largest"]
    assert big["img_s"] == pytest.approx((200 + 200 / 1.2) / 2)
    assert big["bare_img_s"] == pytest.approx((250 + 250 / 1.2) / 2) and big["bare_best_variant"] == cl
    assert big["ratio"] == pytest.approx(0.8) and big["held_to_ratio"]
    lut = h["paths"]["lut"]  # the fastest bare variant is the reference, whatever the project runs in
    assert lut["bare_best_variant"] == nchw and lut["ratio"] == pytest.approx(0.25) and not lut["held_to_ratio"]
    assert h["min_ratio_vs_bare"] == pytest.approx(0.8)  # the cost table is not held to the ratio
    assert h["speedup_vs_nchw"]["supernet_largest"]["per_round"] == pytest.approx([2.0, 2.0])
    assert h["goals"] == {"min_ratio_vs_bare_at_least_0.9": False, "supernet_speedup_at_least_2": True}


def test_walltime_headline_known_answers():
    raw = {f"{ref}_{item}": {"wall_s": s, "returncode": rc, "load_before": [load, 0, 0]}
           for ref, item, s, rc, load in (("a", "quickstart", 200.0, 0, 0.1), ("b", "quickstart", 100.0, 0, 0.2),
                                          ("a", "tests", 900.0, 0, 0.3), ("b", "tests", 1200.0, 1, 0.4))}
    h = walltime.headline({"refs": ["a", "b"], "raw": raw})["walltimes"]
    assert h["quickstart"]["ratio"] == pytest.approx(0.5) and h["tests"]["ratio"] == pytest.approx(4 / 3)
    assert h["tests"]["after_ok"] is False and h["quickstart"]["load_1min_before_run"] == [0.1, 0.2]


@pytest.mark.slow
def test_readme_figures_are_the_committed_results(tmp_path, monkeypatch, capsys):
    """The figure sections of README.md and docs/ are the committed results; a hand edit in any page is overwritten,
    and --check names the page that drifted."""
    r = subprocess.run([sys.executable, str(BENCH / "readme.py"), "--check"], cwd=ROOT, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    where = readme.placed({p: p.read_text() for p in readme.documents()})
    assert where["throughput"] == ROOT / "docs" / "benchmarks.md" and where["headlines"] == ROOT / "README.md"
    text = where["throughput"].read_text()
    stale = text.replace("<!-- figures:throughput -->\n", "<!-- figures:throughput -->\n| typed by hand |\n")
    assert readme.render(stale) == text  # a hand edit inside a section is overwritten by the results
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    (tmp_path / "docs" / "benchmarks.md").write_text(stale)
    monkeypatch.setattr(readme, "ROOT", tmp_path)
    capsys.readouterr()
    assert readme.main(["--check"]) == 1
    assert "docs/benchmarks.md" in capsys.readouterr().err
    assert readme.main([]) == 0 and (tmp_path / "docs" / "benchmarks.md").read_text() == text
    assert readme.main(["--check"]) == 0


def test_readme_wants_each_section_once_across_the_pages(tmp_path, monkeypatch):
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    monkeypatch.setattr(readme, "ROOT", tmp_path)
    bench_page = tmp_path / "docs" / "benchmarks.md"
    moved = bench_page.read_text()
    (tmp_path / "docs" / "other.md").write_text("<!-- figures:throughput -->\n<!-- /figures:throughput -->\n")
    with pytest.raises(SystemExit, match="stands twice"):
        readme.main(["--check"])
    (tmp_path / "docs" / "other.md").unlink()
    bench_page.write_text(moved.replace("<!-- figures:walltime -->", "<!-- figures:wall -->"))
    with pytest.raises(SystemExit, match="unknown section"):
        readme.main(["--check"])
    bench_page.write_text(moved.replace("<!-- figures:walltime -->", "walltime"))
    with pytest.raises(SystemExit, match="no file has a <!-- figures:walltime -->"):
        readme.main(["--check"])
