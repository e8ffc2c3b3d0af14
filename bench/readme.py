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
import re
import sys
from pathlib import Path
from typing import Callable

if __package__ in (None, ""):  # run as a file, `python bench/<name>.py`: see bench/__init__.py
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.sections.checks import bad_input, mutation, results  # noqa: E402
from bench.sections.search import cost_range, lut_accuracy, optimizer, optimizer_tuning, ranking  # noqa: E402
from bench.sections.speed import parallel, supernet_overhead, throughput, walltime  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


SECTIONS: dict[str, Callable[[], str]] = {"throughput": throughput, "walltime": walltime, "parallel": parallel,
                                          "results": results, "cost_range": cost_range,
                                          "lut_accuracy": lut_accuracy, "optimizer": optimizer,
                                          "optimizer_tuning": optimizer_tuning,
                                          "supernet_overhead": supernet_overhead, "bad_input": bad_input,
                                          "ranking": ranking, "mutation": mutation}


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
        from core.io import write_atomic

        write_atomic(README, fresh)
    print(f"readme: {len(SECTIONS)} figure sections written from bench/results")
    return 0


if __name__ == "__main__":
    sys.exit(main())
