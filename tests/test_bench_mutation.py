"""bench/mutation.py: the mutation report's counts are known answers of the per-mutant outcomes, and the
scope (statistics modules whole, bench headline code traced) is what it says."""
import re

import pytest

from bench import mutation


def test_headline_counts_survivors_equivalents_and_stale_equivalents():
    raw = {"mutants": {"a.x_f__mutmut_1": "killed", "a.x_f__mutmut_2": "survived", "a.x_f__mutmut_3": "survived",
                       "a.x_g__mutmut_1": "killed", "a.x_g__mutmut_2": "timeout", "a.x_g__mutmut_3": "not checked"},
           "equivalent": {"a.x_f__mutmut_3": "same value", "a.x_g__mutmut_1": "listed but killed"}, "not_run": 7}
    h = mutation.headline({"raw": raw})
    assert h["killed"] == 2 and h["mutants_run"] == 5 and h["not_run"] == 7
    assert h["survivors"] == ["a.x_f__mutmut_2", "a.x_g__mutmut_2"]  # a timeout is not a kill
    assert h["equivalent"] == [{"mutant": "a.x_f__mutmut_3", "reason": "same value"}]
    assert h["stale_equivalent"] == ["a.x_g__mutmut_1"]
    assert h["by_status"] == {"killed": 2, "survived": 2, "timeout": 1} and h["goal"] == {"no_survivor": False}
    clean = mutation.headline({"raw": {"mutants": {"a.x_f__mutmut_1": "killed"}, "equivalent": {}, "not_run": 0}})
    assert clean["survivors"] == [] and clean["goal"]["no_survivor"] is True


def test_mutant_names_and_scope():
    assert mutation.module_name("bench/ranking.py") == "bench.ranking"
    assert mutation.mutmut_function("bench.ranking", "headline") == "bench.ranking.x_headline"
    assert mutation.mutmut_function("bench.ranking", "headline.<locals>.counts") == "bench.ranking.x_headline"
    assert mutation.mutmut_function("bench.optimizer", "Timer.wrap") == "bench.optimizer.x\u01c1Timer\u01c1wrap"
    fns = ["bench.ranking.x_headline"]
    assert mutation.in_scope("bench.ranking.x_headline__mutmut_4", fns)
    assert not mutation.in_scope("bench.ranking.x_main__mutmut_4", fns)  # measurement code: not run
    assert mutation.in_scope("search.stats.x_kendall__mutmut_1", fns)  # the statistics modules: whole


def test_every_script_with_a_headline_is_in_scope():
    # a benchmark whose figures bench/recompute.py recomputes must not escape mutation testing by being new
    scripts = {str(p.relative_to(mutation.ROOT)) for p in (mutation.ROOT / "bench").rglob("*.py")
               if re.search(r"^def headline\(", p.read_text(), re.M)}
    assert scripts and scripts <= set(mutation.BENCH_MODULES), sorted(scripts - set(mutation.BENCH_MODULES))


@pytest.mark.slow
def test_the_traced_scope_is_the_headline_code():
    fns = mutation.traced(mutation.committed_results())
    assert "bench.optim.figures.x_headline" in fns and "bench.cost_range.x_headline" in fns
    # a benchmark's headline is in scope exactly when one of its results is committed (not archived)
    ranking_committed = (mutation.ROOT / "bench" / "results" / "ranking.json").is_file()
    assert ("bench.ranking.x_headline" in fns) == ranking_committed
    assert "bench.recompute.x_check" in fns and "bench.mutation.x_headline" in fns
    assert not any(f.endswith(".x_main") for f in fns)  # no script's main() runs in a recomputation
