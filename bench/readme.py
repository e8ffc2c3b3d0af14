"""Write the figure sections of README.md and docs/*.md from the committed results: no figure there is typed by hand.

Each section between ``<!-- figures:NAME -->`` and ``<!-- /figures:NAME -->`` is rendered by ``SECTIONS[NAME]``
from the JSONs in ``bench/results/``, in whichever of those files holds it: every name of ``SECTIONS`` stands in
exactly one of them, once. ``--check`` rewrites nothing and exits 1 when a section differs from what the results
give, naming the files (the test suite runs it, so documentation that drifts from its results fails CI).

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
from bench.sections.deploy import deploy  # noqa: E402
from bench.sections.headlines import headlines  # noqa: E402
from bench.sections.pipeline import pipeline  # noqa: E402
from bench.sections.reruns import hpo, recall, search_quality  # noqa: E402
from bench.sections.search import breakeven, budget_pilot, cost_range, reference, lut_accuracy, optimizer, optimizer_tuning, ranking  # noqa: E402
from bench.sections.speed import first_hour, parallel, supernet_overhead, throughput, walltime  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


SECTIONS: dict[str, Callable[[], str]] = {"throughput": throughput, "walltime": walltime, "parallel": parallel,
                                          "results": results, "cost_range": cost_range,
                                          "lut_accuracy": lut_accuracy, "optimizer": optimizer,
                                          "optimizer_tuning": optimizer_tuning,
                                          "supernet_overhead": supernet_overhead, "bad_input": bad_input,
                                          "ranking": ranking, "mutation": mutation, "headlines": headlines,
                                          "first_hour": first_hour, "budget_pilot": budget_pilot,
                                          "reference": reference, "breakeven": breakeven,
                                          "deploy": deploy, "pipeline": pipeline,
                                          "search_quality": search_quality, "hpo": hpo, "recall": recall}
OPENING = re.compile(r"<!-- figures:([A-Za-z0-9_]+) -->")


def documents(root: Path | None = None) -> list[Path]:
    """The files that may hold sections: README.md and every page of docs/."""
    root = ROOT if root is None else root
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def render(text: str) -> str:
    """``text`` with every figures section it holds rewritten from the results."""
    for name in OPENING.findall(text):
        if name not in SECTIONS:
            raise SystemExit(f"readme: unknown section <!-- figures:{name} --> (known: {', '.join(SECTIONS)})")
        pattern = re.compile(rf"(<!-- figures:{name} -->\n)(?:.*?\n)?(<!-- /figures:{name} -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"readme: <!-- figures:{name} --> has no <!-- /figures:{name} --> line after it")
        body = SECTIONS[name]()
        text = pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)
    return text


def placed(texts: dict[Path, str]) -> dict[str, Path]:
    """Which file holds each section; exits when a section is unknown, missing, or stands twice (in one file or two)."""
    where: dict[str, Path] = {}
    for path, text in texts.items():
        for name in OPENING.findall(text):
            if name not in SECTIONS:
                raise SystemExit(f"readme: {path.name} has an unknown section <!-- figures:{name} --> (known: "
                                 f"{', '.join(SECTIONS)})")
            if name in where:
                raise SystemExit(f"readme: <!-- figures:{name} --> stands twice ({where[name].name} and "
                                 f"{path.name}): each section belongs in one place")
            where[name] = path
    missing = [name for name in SECTIONS if name not in where]
    if missing:
        raise SystemExit(f"readme: no file has a <!-- figures:{missing[0]} --> section (README.md, docs/*.md)")
    return where


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="exit 1 if a section is stale; write nothing")
    args = p.parse_args(argv)
    texts = {path: path.read_text() for path in documents() if path.is_file()}
    placed(texts)
    fresh = {path: render(text) for path, text in texts.items()}
    stale = [path for path in texts if fresh[path] != texts[path]]
    names = ", ".join(path.relative_to(documents()[0].parent).as_posix() for path in stale)
    if args.check:
        if stale:
            print(f"readme: the figures of {names} differ from bench/results (run python bench/readme.py)",
                  file=sys.stderr)
            return 1
        print(f"readme: {len(SECTIONS)} figure sections match bench/results")
        return 0
    if stale:
        from core.io import write_atomic

        for path in stale:
            write_atomic(path, fresh[path])
    print(f"readme: {len(SECTIONS)} figure sections written from bench/results" + (f" ({names})" if stale else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
