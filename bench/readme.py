"""Write the README's benchmark figures from the committed results: no figure there is typed by hand.

Each section of the README between ``<!-- figures:NAME -->`` and ``<!-- /figures:NAME -->`` is rendered by
``SECTIONS[NAME]`` from the JSONs in ``bench/results/``. ``--check`` rewrites nothing and exits 1 when a
section differs from what the results give (the test suite runs it, so a README that drifts from its
results fails CI).

    python bench/readme.py            # rewrite the sections
    python bench/readme.py --check    # exit 1 if any section is stale
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
README = ROOT / "README.md"


def _load(name: str) -> dict[str, Any]:
    return json.loads((RESULTS / name).read_text())


def _variant(v: str) -> str:
    fmt, dtype, threads = v.split("-")
    return f"{'NCHW' if fmt == 'contiguous' else fmt} {dtype}, {'all cores' if threads == 'T' else '1 thread'}"


def throughput() -> str:
    """Project paths against a bare PyTorch loop, and channels_last against NCHW (``throughput.json``)."""
    r = _load("throughput.json")
    head = (f"`python bench/throughput.py` at {r['commit'][:7]}: `{r['space']}` space, batch {r['batch_size']}, "
            f"{r['image_size']} px, {r['cores']} cores ({r['cpu_capability']}), torch {r['torch']}, "
            f"{r['rounds']} interleaved rounds (median img/s; the project at its default, "
            f"{_variant(r['default_variant'])}; the bare loop in its fastest variant at the same threads).")
    rows = ["| path | project img/s | bare loop img/s (its best variant) | ratio | channels_last / NCHW |",
            "| --- | ---: | ---: | ---: | ---: |"]
    for path, p in r["paths"].items():
        sp = r["speedup_vs_nchw"].get(path)
        speedup = f"{sp['median']:.2f}x" if sp else "-"
        rows.append(f"| {path}{'' if p['held_to_ratio'] else ' (reported only)'} | {p['img_s']:.0f} | "
                    f"{p['bare_img_s']:.0f} ({_variant(p['bare_best_variant'])}) | {p['ratio']:.2f} | {speedup} |")
    variants = ["| path | " + " | ".join(_variant(v) for v in r["variants"]) + " |",
                "| --- |" + " ---: |" * len(r["variants"])]
    for path, by in r["img_s"].items():
        variants.append(f"| {path} | " + " | ".join(f"{by[v]['project']:.0f} / {by[v]['bare']:.0f}"
                                                    for v in r["variants"]) + " |")
    goals = r["goals"]
    tail = (f"Lowest ratio of a held path to the bare loop: **{r['min_ratio_vs_bare']:.2f}** (goal >= 0.9 "
            f"{'met' if goals['min_ratio_vs_bare_at_least_0.9'] else '**not met**'}); supernet step speedup over "
            f"NCHW {'>= 2x on the largest and middle arch: met' if goals['supernet_speedup_at_least_2'] else 'goal of 2x **not met**'}.")
    return "\n".join([head, "", *rows, "", tail, "", "Every variant (project / bare img/s):", "", *variants])


def walltime() -> str:
    """The quickstart and the test suite before and after (``walltime.json``)."""
    r = _load("walltime.json")
    before, after = r["refs"]
    rows = [f"| command | before ({before}) | after ({after}) | ratio | 1-min load before each run |",
            "| --- | ---: | ---: | ---: | --- |"]
    names = {"quickstart": "`green-run` (quickstart)", "tests": "`pytest` (fast suite)"}
    for item, w in r["walltimes"].items():
        load = ", ".join(f"{x:.2f}" for x in w["load_1min_before_run"])
        rows.append(f"| {names[item]} | {w['before_s']:.0f} s | {w['after_s']:.0f} s | {w['ratio']:.2f} | {load} |")
    return "\n".join([f"`python bench/walltime.py --refs {before} {after}`: one run of each, not interleaved.",
                      "", *rows])


def parallel() -> str:
    """Parallel fine-tunes through the joblib launcher against one after another (``parallel.json``)."""
    r = _load("parallel.json")
    b, raw = r["bound"], r["raw"]
    ratios = ", ".join(f"{x:.3f}" for x in r["wall_ratios"])
    ci = r["wall_ratio_ci95"]
    ci_text = (f", bootstrap 95% interval {ci[0]:.3f}-{ci[1]:.3f}" if len(r["wall_ratios"]) >= 5 else
               f" (per round: {ratios}; too few rounds for an interval)")
    return "\n".join([
        f"`{r['command'].split(' ', 1)[1]}` at {r['commit'][:7]}: {r['models']} fine-tunes "
        f"({raw['budgets']['finetune_epochs']} epoch each, from a {raw['budgets']['supernet_epochs']}-epoch supernet), "
        f"{r['jobs']} jobs at a time through Hydra's {r['launcher']} launcher against one after another on "
        f"{raw['cores']} cores, {raw['budgets']['rounds']} interleaved rounds.",
        "",
        "| figure | value |", "| --- | ---: |",
        f"| wall time, parallel / sequential (median) | {r['wall_ratio']:.3f}{ci_text} |",
        f"| the bound with no setup cost (a fit on its share of the cores / all cores / jobs) | "
        f"{b['ratio_without_overhead']:.3f} |",
        f"| within 5% of the bound (ratio <= {1.05 * b['ratio_without_overhead']:.3f}) | "
        f"{'yes' if r['wall_ratio'] <= 1.05 * b['ratio_without_overhead'] else '**no**'} |",
        f"| a fit's seconds: all cores / its share | {b['fit_s_per_job_sequential']:.1f} / "
        f"{b['fit_s_per_job_parallel']:.1f} (slowdown {b['thread_slowdown']:.2f}) |",
        f"| setup seconds per batch: sequential / parallel | {b['overhead_s']['sequential']:.1f} / "
        f"{b['overhead_s']['parallel']:.1f} |",
        f"| same weights as the serial run at equal threads | {'yes' if r['identical_at_equal_threads'] else 'no'} |",
        f"| same weights as the serial run on all cores | {'yes' if r['identical'] else 'no'} |"])


SECTIONS: dict[str, Callable[[], str]] = {"throughput": throughput, "walltime": walltime, "parallel": parallel}


def render(text: str) -> str:
    """``text`` with every figures section rewritten from the results."""
    for name, fn in SECTIONS.items():
        pattern = re.compile(rf"(<!-- figures:{name} -->\n)(?:.*?\n)?(<!-- /figures:{name} -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"readme: README.md has no <!-- figures:{name} --> section")
        body = fn()
        text = pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)
    return text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="exit 1 if a section is stale; write nothing")
    args = p.parse_args(argv)
    text = README.read_text()
    fresh = render(text)
    if args.check:
        if fresh != text:
            print("readme: README.md's figures differ from bench/results (run python bench/readme.py)",
                  file=sys.stderr)
            return 1
        print(f"readme: {len(SECTIONS)} figure sections match bench/results")
        return 0
    if fresh != text:
        sys.path.insert(0, str(ROOT))
        from supernet.io import write_atomic

        write_atomic(README, fresh)
    print(f"readme: {len(SECTIONS)} figure sections written from bench/results")
    return 0


if __name__ == "__main__":
    sys.exit(main())
