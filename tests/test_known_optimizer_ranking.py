"""Known answers of the figures that bench/optimizer.py and bench/ranking.py report, on tiny hand-made inputs.

Every expected value is worked out by hand (the comment says how) or from first principles (the exact null
distribution of Mann-Whitney's U by enumeration, closed-form hypervolume and IGD of one-point fronts, scipy's
Kendall tau as an oracle for search.stats.kendall); none is copied from the code's output. No search runs,
training or timing: the whole file takes a few seconds.
"""
import itertools
import math
import statistics
import types

import numpy as np
import pytest

from bench import ranking
from bench.optim import figures, runners


approx = lambda v: pytest.approx(v, rel=1e-12, abs=1e-15)  # noqa: E731


# -- first-principles oracles ---------------------------------------------------------------------------------

def exact_mw_p(x, y):
    """Two-sided exact Mann-Whitney p (no ties): 2 * P(U <= min(U, n m - U)) over every split of the pooled
    values into groups of len(x) and len(y), capped at 1."""
    pooled = list(x) + list(y)
    n, m = len(x), len(y)
    u = sum(a > b for a in x for b in y)
    u = min(u, n * m - u)
    us = []
    for idx in itertools.combinations(range(n + m), n):
        xs = [pooled[i] for i in idx]
        ys = [pooled[i] for i in range(n + m) if i not in idx]
        us.append(sum(a > b for a in xs for b in ys))
    return min(1.0, 2 * sum(v <= u for v in us) / len(us))


def normal_mw_p(x, y):
    """Two-sided Mann-Whitney p by the normal approximation with tie correction and continuity correction (what
    scipy uses as soon as any value ties): sigma^2 = n m / 12 ((N + 1) - sum(t^3 - t) / (N (N - 1)))."""
    n, m = len(x), len(y)
    big = n + m
    u = sum(a > b for a in x for b in y) + 0.5 * sum(a == b for a in x for b in y)
    pooled = list(x) + list(y)
    ties = sum(t ** 3 - t for t in (pooled.count(v) for v in set(pooled)))
    sigma = math.sqrt(n * m / 12 * ((big + 1) - ties / (big * (big - 1))))
    z = (abs(u - n * m / 2) - 0.5) / sigma
    return min(1.0, math.erfc(z / math.sqrt(2)))


def count_a12(x, y):
    """P(X > Y) + P(X = Y) / 2 by counting the pairs."""
    return (sum(a > b for a in x for b in y) + 0.5 * sum(a == b for a in x for b in y)) / (len(x) * len(y))


# -- indicators and statistics ------------------------------------------------------------------------------

def test_normalise_scales_ideal_to_0_and_nadir_to_1_and_keeps_flat_coordinates():
    """A coordinate whose ideal equals its nadir is only shifted (divided by 1), never divided by 0; a flat
    list of values is read as rows of len(ideal) coordinates."""
    # x: (F - 1) / 2; y: ideal = nadir = 5, so F - 5
    expected = [[0.0, 0.0], [1.0, 2.0], [0.5, -1.0]]
    got = figures.normalise([[1, 5], [3, 7], [2, 4]], [1, 5], [3, 5])
    assert got.tolist() == expected and got.dtype == np.float64
    assert figures.normalise([1, 5, 3, 7, 2, 4], [1, 5], [3, 5]).tolist() == expected
    # one 3-D point: (2 - 1) / (5 - 1), (0 - -2) / (2 - -2), (9 - 0) / (3 - 0)
    assert figures.normalise([2, 0, 9], [1, -2, 0], [5, 2, 3]).tolist() == [[0.25, 0.5, 3.0]]


def test_normalise_reads_json_integers_as_floats():
    """JSON numbers may be integers, even beyond int64: they are read as floats (float64 result), not as numpy
    object arrays of Python ints."""
    big = 10 ** 20
    got = figures.normalise([[big, 0]], [0, 0], [2 * big, 4])
    assert got.dtype == np.float64 and got.tolist() == [[0.5, 0.0]]
    got = figures.normalise([[3 * big, 2]], [big, 0], [5 * big, 4])
    assert got.dtype == np.float64 and got.tolist() == [[0.5, 0.5]]


def test_nondominated_keeps_the_first_of_equal_rows_in_order():
    """Minimisation: (2, 2) is dominated by (1, 2); the repeated (1, 2) is kept once; order kept."""
    got = figures.nondominated([[1, 2], [2, 1], [1, 2], [2, 2], [0, 3]])
    assert got.tolist() == [[1.0, 2.0], [2.0, 1.0], [0.0, 3.0]]


def test_hypervolume_of_a_2d_staircase():
    """The area dominated by (0.2, 0.6), (0.5, 0.3), (0.8, 0.1) up to the reference point, summed strip by strip
    in x: with r = 1.1 (the default), 0.9 * 0.5 + 0.6 * 0.3 + 0.3 * 0.2 = 0.69; with r = 1, 0.8 * 0.4 + 0.5 * 0.3 +
    0.2 * 0.2 = 0.51; a point beyond the reference point adds nothing."""
    front = [[0.2, 0.6], [0.5, 0.3], [0.8, 0.1]]
    assert figures.hypervolume(front) == approx(0.69)
    assert figures.hypervolume(front, 1.1) == approx(0.69)
    assert figures.hypervolume(front, 1.0) == approx(0.51)
    assert figures.hypervolume([[0.5, 0.5]], 2.0) == approx(2.25)
    assert figures.hypervolume([]) == 0.0


def test_igd_is_the_mean_over_the_reference_of_the_nearest_distance():
    """Reference (0, 1): nearest front point (0, 0.5) at 0.5; reference (1, 0): nearest (2, 0) at 1 (not (0, 0.5) at
    sqrt(1.25)); IGD = 0.75. A single-point front is a front (3-4-5 triangle: 5)."""
    assert figures.igd([[0.0, 0.5], [2.0, 0.0]], [[0.0, 1.0], [1.0, 0.0]]) == approx(0.75)
    assert figures.igd([[3, 4]], [[0, 0]]) == approx(5.0)
    assert figures.igd([[3.0, 4.0], [6.0, 8.0]], [[0.0, 0.0], [6.0, 8.0]]) == approx(2.5)


def test_igd_of_an_empty_front_is_that_of_the_point_empty_everywhere():
    """No front: the distance from each reference point to (e, e, e); default e = 1.1."""
    ref = [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]
    assert figures.igd(np.zeros((0, 3)), ref, 2.0) == approx((math.sqrt(12) + math.sqrt(3)) / 2)
    assert figures.igd([], [[0.0, 0.0]]) == approx(1.1 * math.sqrt(2))


def test_indicators_read_values_as_float64():
    """Integers beyond int64 (legal JSON numbers) are read as floats, as every other value."""
    big = 10 ** 20
    assert figures.igd([[0, 0]], [[big, 0]]) == approx(1e20)
    assert figures.igd([[big, 0]], [[0, 0]]) == approx(1e20)
    # 10**20 + 1 and 10**20 are the same float: a tie, counted half
    assert figures.a12([big + 1], [big]) == 0.5
    assert figures.a12([big], [big + 1]) == 0.5


def test_a12_counts_wins_and_half_ties():
    """x = (1, 2, 2, 3), y = (2, 0): wins 1>0, 2>0, 2>0, 3>2, 3>0 = 5, ties 2=2 twice; (5 + 1) / 8 = 0.75 --
    U / (n m) with Mann-Whitney's U (ties half)."""
    assert figures.a12([1, 2, 2, 3], [2, 0]) == 0.75
    assert figures.a12([2, 0], [1, 2, 2, 3]) == 0.25  # A12(y, x) = 1 - A12(x, y)
    assert figures.a12([1, 2, 3], [4, 5, 6]) == 0.0 and figures.a12([7, 8], [1, 2, 3]) == 1.0
    assert figures.a12([0.5, 0.1, 0.9], [0.3, 0.7]) == approx(count_a12([0.5, 0.1, 0.9], [0.3, 0.7]))


def test_mann_whitney_known_p_values():
    """Complete separation of 3 against 3 values: 2 of C(6, 3) = 20 splits are as extreme, p = 0.1 (the docstring's
    least p for n = 3). 3 against 3 with U = 6: P(U >= 6) = 7/20 -> 0.7. Ties (1, 1, 1) vs (2, 2, 2): the normal
    approximation with tie correction and continuity, sigma^2 = 9/12 (7 - 48/30) = 4.05, z = (4.5 - 0.5) / sigma."""
    assert figures.mann_whitney([1, 2, 3], [4, 5, 6]) == approx(0.1)
    assert figures.mann_whitney([6, 5, 4], [1, 2, 3]) == approx(0.1)
    assert figures.mann_whitney([3, 4, 5], [0, 1, 6]) == approx(0.7)
    assert figures.mann_whitney([3, 4, 5], [0, 1, 6]) == approx(exact_mw_p([3, 4, 5], [0, 1, 6]))
    z = 4.0 / math.sqrt(4.05)
    assert figures.mann_whitney([1, 1, 1], [2, 2, 2]) == approx(math.erfc(z / math.sqrt(2)))
    assert figures.mann_whitney(list(range(5)), list(range(10, 15))) == approx(2 / 252)


def test_mann_whitney_is_one_when_every_value_is_the_same():
    """Nothing to tell apart: p = 1, also when one sample is empty (every value present is the same)."""
    assert figures.mann_whitney([0.5, 0.5], [0.5, 0.5, 0.5]) == 1.0
    assert figures.mann_whitney([2.0], []) == 1.0
    assert figures.mann_whitney([], []) == 1.0


def test_holm_steps_down_from_the_smallest_p_value():
    """Holm: the k-th smallest p times (m - k + 1), made monotone by a running maximum, capped at 1, returned in
    the input order. m = 4: 0.01 * 4 = 0.04, 0.03 * 3 = 0.09, 0.04 * 2 = 0.08 -> 0.09, 0.5 * 1 = 0.5."""
    assert figures.holm([0.04, 0.01, 0.03, 0.5]) == approx([0.09, 0.04, 0.09, 0.5])
    assert figures.holm([0.3, 0.01]) == approx([0.3, 0.02])
    assert figures.holm([0.6, 0.7]) == [1.0, 1.0]  # 1.2 capped at 1
    assert figures.holm([0.02]) == approx([0.02])
    assert figures.holm([]) == []


@pytest.mark.parametrize("args, expected", [
    ((0.01, 0.9, 0.5, 0.5), "better"),     # more hypervolume
    ((0.5, 0.5, 0.01, 0.1), "better"),     # less IGD
    ((0.01, 0.1, 0.5, 0.5), "worse"),      # less hypervolume
    ((0.5, 0.5, 0.01, 0.9), "worse"),      # more IGD
    ((0.01, 0.9, 0.01, 0.9), "worse"),     # better on one, worse on the other: worse
    ((0.01, 0.9, 0.01, 0.1), "better"),    # better on both
    ((0.05, 0.9, 0.05, 0.1), "same"),      # p = alpha is not significant
    ((0.05, 0.1, 0.05, 0.9), "same"),
    ((0.01, 0.5, 0.01, 0.5), "same"),      # A12 = 1/2 has no direction, even when "significant"
    ((0.5, 0.1, 0.5, 0.9), "same"),        # not significant, worse-looking A12s
    ((0.5, 0.9, 0.5, 0.1), "same"),        # not significant, better-looking A12s
    ((0.07, 0.9, 0.5, 0.5, 0.1), "better"),  # alpha given
    ((0.07, 0.9, 0.5, 0.5), "same"),       # default alpha 0.05
    ((0.5, 0.5, 0.04, 0.9, 0.01), "same"),
])
def test_verdict_table(args, expected):
    """The engine is worse when significantly worse on either indicator, better when significantly better on
    one and worse on neither; "significant" is p < alpha (strictly), a direction needs A12 != 1/2."""
    assert figures.verdict(*args) == expected


def test_compare_engine_with_a_peer():
    """_compare: Mann-Whitney p and A12 of each indicator, engine first, and the verdict at the given alpha.
    hv (3, 4, 5) vs (0, 1, 2): complete separation, p = 2/20, A12 = 1; IGD (0.1, 0.2, 0.3) vs (0.15, 0.25, 0.35):
    U = 3 of 9, A12 = 1/3, p = 2 * 7/20 = 0.7. At alpha 0.2 the engine is better (hv), at 0.05 the same."""
    mine = {"hv": [3.0, 4.0, 5.0], "igd": [0.1, 0.2, 0.3]}
    theirs = {"hv": [0.0, 1.0, 2.0], "igd": [0.15, 0.25, 0.35]}
    assert figures._compare(mine, theirs, 0.2) == {"hv_p": approx(0.1), "hv_a12": 1.0, "igd_p": approx(0.7),
                                                     "igd_a12": approx(1 / 3), "verdict": "better"}
    assert figures._compare(mine, theirs, 0.05)["verdict"] == "same"
    # IGD decides: hv U = 6 of 9 (p 0.7), IGD (0.1, 0.2, 0.3) vs (1, 2, 3): p 0.1, A12 0 -> better at 0.2
    mine = {"hv": [3.0, 4.0, 5.0], "igd": [0.1, 0.2, 0.3]}
    theirs = {"hv": [0.0, 1.0, 6.0], "igd": [1.0, 2.0, 3.0]}
    assert figures._compare(mine, theirs, 0.2) == {"hv_p": approx(0.7), "hv_a12": approx(2 / 3),
                                                     "igd_p": approx(0.1), "igd_a12": 0.0, "verdict": "better"}
    # more IGD, significantly: worse
    assert figures._compare(theirs, mine, 0.2)["verdict"] == "worse"


def test_timer_adds_the_seconds_inside_every_call_even_a_failing_one(monkeypatch):
    """A fake clock: calls from 10 to 12.5 and from 20 to 20.75 s, the second raising: 3.25 s in 2 calls."""
    ticks = iter([10.0, 12.5, 20.0, 20.75])
    monkeypatch.setattr(runners, "time", types.SimpleNamespace(perf_counter=lambda: next(ticks)))
    t = runners.Timer()
    assert (t.seconds, t.calls) == (0.0, 0)

    def boom(x):
        raise RuntimeError(x)

    assert t.wrap(lambda a, b: a + b)(2, 3) == 5
    assert (t.seconds, t.calls) == (2.5, 1)
    with pytest.raises(RuntimeError, match="x"):
        t.wrap(boom)("x")
    assert (t.seconds, t.calls) == (3.25, 2)


# -- reference fronts, scores, ranks ------------------------------------------------------------------------

def test_reference_fronts_exact_and_union():
    """An exact front is taken as stored; an unknown one is the non-dominated union of every run's front of that
    problem at the largest budget (other problems' runs and smaller budgets left out, empty fronts skipped).
    Each is normalised by its own least and largest value of each objective."""
    raw = {"budgets": [20, 5], "problems": {
        "ex": {"reference": "exact", "reference_front": [[0, 4], [2, 2], [4, 0]]},
        "un": {"reference": "union", "reference_front": None}},
        "runs": [
            {"problem": "un", "budgets": {"5": {"front": [[0.0, 0.0]]}, "20": {"front": [[1.0, 8.0], [3.0, 4.0]]}}},
            {"problem": "ex", "budgets": {"5": {"front": [[0.0, 0.0]]}, "20": {"front": [[-5.0, -5.0]]}}},
            {"problem": "un", "budgets": {"5": {"front": []}, "20": {"front": []}}},
            {"problem": "un", "budgets": {"5": {"front": [[9.0, 9.0]]}, "20": {"front": [[5.0, 0.0], [4.0, 6.0]]}}},
        ]}
    refs = figures.reference_fronts(raw)
    assert list(refs) == ["ex", "un"]
    front, ideal, nadir = refs["ex"]
    assert front.tolist() == [[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]]
    assert ideal.tolist() == [0.0, 0.0] and nadir.tolist() == [4.0, 4.0] and ideal.dtype == nadir.dtype == np.float64
    # union {(1, 8), (3, 4), (5, 0), (4, 6)}: (4, 6) is dominated by (3, 4); ideal (1, 0), nadir (5, 8)
    front, ideal, nadir = refs["un"]
    assert front.tolist() == [[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]]
    assert ideal.tolist() == [1.0, 0.0] and nadir.tolist() == [5.0, 8.0]


def test_reference_fronts_refuses_a_union_of_nothing():
    """No run of an unknown-front problem found anything: there is nothing to score against, say which."""
    raw = {"budgets": [10], "problems": {"nas": {"reference": "union", "reference_front": None}},
           "runs": [{"problem": "nas", "budgets": {"10": {"front": []}}}]}
    with pytest.raises(ValueError, match="no run of nas has a front to make its reference of"):
        figures.reference_fronts(raw)


def test_score_runs_per_problem_algorithm_budget_in_seed_order():
    """Every run is scored at every budget against its problem's normalised reference, the per-seed lists in
    seed order whatever the order of ``runs``; an empty front scores hv 0 and the IGD of (r, r), r = hv_ref."""
    ref = np.array([[0.0, 1.0], [1.0, 0.0]])
    refs = {"p": (ref, np.array([0.0, 0.0]), np.array([2.0, 4.0]))}

    def run(algo, seed, f10, f20, gen):
        return {"problem": "p", "algorithm": algo, "seed": seed,
                "budgets": {"10": {"front": f10, "generations": gen, "evaluated": 10 - seed, "feasible": seed},
                            "20": {"front": f20, "generations": 2 * gen, "evaluated": 20 - seed, "feasible": 1}}}

    raw = {"budgets": [10, 20], "hv_ref": 2.0, "runs": [
        run("b", 1, [[0.0, 0.0]], [[2.0, 4.0]], 3), run("a", 7, [], [[1.0, 2.0]], 5), run("b", 0, [], [], 4)]}
    out = figures.score_runs(raw, refs)
    assert list(out) == [("p", "a", 10), ("p", "a", 20), ("p", "b", 10), ("p", "b", 20)]
    e = math.sqrt(2 ** 2 + 1) * 1  # from (0, 1) or (1, 0) to the empty front's (2, 2): sqrt(4 + 1)
    assert out[("p", "a", 10)] == {"seeds": [7], "hv": [0.0], "igd": [approx(e)], "generations": [5],
                                   "evaluated": [3], "feasible": [7]}
    # (1, 2) normalised by nadir (2, 4): (0.5, 0.5); hv to (2, 2): 1.5^2; IGD sqrt(0.5)
    assert out[("p", "a", 20)] == {"seeds": [7], "hv": [approx(2.25)], "igd": [approx(math.sqrt(0.5))],
                                   "generations": [10], "evaluated": [13], "feasible": [1]}
    # seed 0 first: empty front; seed 1: (0, 0) -> hv 4, IGD 1
    assert out[("p", "b", 10)] == {"seeds": [0, 1], "hv": [0.0, approx(4.0)], "igd": [approx(e), approx(1.0)],
                                   "generations": [4, 3], "evaluated": [10, 9], "feasible": [0, 1]}
    # seed 1: (2, 4) -> (1, 1): hv 1, IGD 1
    assert out[("p", "b", 20)] == {"seeds": [0, 1], "hv": [0.0, approx(1.0)], "igd": [approx(e), approx(1.0)],
                                   "generations": [8, 6], "evaluated": [20, 19], "feasible": [1, 1]}


def _cell(constrained, **algs):
    return {"constrained": constrained,
            "algorithms": {a: {"hv": {"mean": hv}, "igd": {"mean": ig}} for a, (hv, ig) in algs.items()}}


def test_mean_ranks_average_hv_and_igd_ranks_over_unconstrained_cells():
    """Ranks 1 = best (most hv, least IGD), ties averaged, over the algorithms every unconstrained cell has;
    constrained cells do not count. Cell 1: hv ranks z 1, y 2, x 3; IGD ranks z 1, x 2, y 3 -> z 1, y 2.5, x 2.5.
    Cell 2: hv x 1, y 2, z 3; IGD y 1 and x, z tied (2.5) -> x 1.75, y 1.5, z 2.75. Means: y 2.0, z 1.875,
    x 2.125 -- returned best first."""
    cells = [_cell(False, x=(0.1, 0.5), y=(0.2, 0.6), z=(0.3, 0.4), only_here=(9.0, 0.0)),
             _cell(False, x=(0.9, 0.3), y=(0.8, 0.1), z=(0.7, 0.3)),
             _cell(True, x=(0.0, 9.0), y=(1.0, 0.0), z=(2.0, 0.0))]
    got = figures.mean_ranks(cells)
    assert list(got.items()) == [("z", approx(1.875)), ("y", approx(2.0)), ("x", approx(2.125))]
    assert figures.mean_ranks([cells[2]]) == {} and figures.mean_ranks([]) == {}


# -- optimizer headline ---------------------------------------------------------------------------------------
# Problems "toy" (unconstrained) and "con" (constrained) both have the exact reference front {(0, 0)}: ideal =
# nadir = (0, 0), so normalising only shifts by 0 and every score of a one-point front (x, y) is in closed form:
# hypervolume (1.1 - x)(1.1 - y), IGD sqrt(x^2 + y^2). Five seeds; budgets 10 and 20.

SEEDS5 = range(5)


def _hv(p):
    return (1.1 - p[0]) * (1.1 - p[1])


def _igd(p):
    return math.hypot(p[0], p[1])


# (problem, algorithm, budget) -> one point per seed (None: an empty front)
POINTS = {
    ("toy", "engine", 10): [(0.10 + 0.01 * s, 0.0) for s in SEEDS5],
    ("toy", "engine", 20): [(0.05 + 0.01 * s, 0.0) for s in SEEDS5],
    ("toy", "pymoo", 10): [(0.30 + 0.01 * s, 0.0) for s in SEEDS5],
    ("toy", "pymoo", 20): [(d, d) for d in (0.047, 0.053, 0.058, 0.062, 0.066)],
    ("toy", "pymoo-eta3", 10): [(0.305 + 0.01 * s, 0.0) for s in SEEDS5],
    ("toy", "pymoo-eta3", 20): [(x, 0.0) for x in (0.01, 0.02, 0.03, 0.04, 0.055)],
    ("toy", "random", 10): [(x, 0.0) for x in (0.125, 0.15, 0.16, 0.17, 0.18)],
    ("toy", "random", 20): [(0.0, 0.01 * s) for s in SEEDS5],
    ("con", "engine", 10): [(0.10 + 0.01 * s, 0.0) for s in SEEDS5],
    ("con", "engine", 20): [(0.05 + 0.01 * s, 0.0) for s in SEEDS5],
    ("con", "pymoo", 10): [None] * 5,
    ("con", "pymoo", 20): [None] * 5,
    ("con", "pymoo-eta3", 10): [(0.10 + 0.01 * s, 0.0) for s in SEEDS5],
    ("con", "pymoo-eta3", 20): [(0.05 + 0.01 * s, 0.0) for s in SEEDS5],
    ("con", "rejection", 10): [(0.10 + 0.01 * s, 0.0) for s in SEEDS5],
    ("con", "rejection", 20): [(0.30 + 0.01 * s, 0.0) for s in SEEDS5],
}


def _feasible(pid, algo, b, s):
    if pid == "toy" or algo == "engine":
        return b - s if pid == "toy" else b                # the engine: its whole budget feasible
    return {"pymoo": s, "pymoo-eta3": b - 5 + s, "rejection": b - 10 + s}[algo]  # worst at 20: 0, 15, 10


def _opt_raw():
    runs = []
    for pid, algo in sorted({(p, a) for p, a, _ in POINTS}):
        for s in reversed(SEEDS5):  # not in seed order: the scores are
            runs.append({"problem": pid, "algorithm": algo, "seed": s, "budgets": {
                str(b): {"front": [] if POINTS[(pid, algo, b)][s] is None else [list(POINTS[(pid, algo, b)][s])],
                         "generations": b // 5 + s, "evaluated": b - s, "feasible": _feasible(pid, algo, b, s)}
                for b in (10, 20)}})
    exact = {"reference": "exact", "reference_front": [[0.0, 0.0]]}
    rep = lambda w, e, n: {"wall_s": w, "eval_s": e, "unique_evals": n}  # noqa: E731
    return {"budgets": [10, 20], "alpha": 0.05, "hv_ref": 1.1,
            "problems": {"toy": {**exact, "constrained": False}, "con": {**exact, "constrained": True}},
            "runs": runs,
            "overhead": {"engine_run_dir": {"500": [rep(2.0, 1.0, 500), rep(3.0, 1.0, 500), rep(9.0, 1.0, 500)],
                                            "1000": [rep(5.0, 3.0, 1000)]},
                         "engine_no_run_dir": {"500": [rep(1.5, 1.0, 500)]},
                         "pymoo": {"500": [rep(4.0, 1.0, 300), rep(7.0, 1.0, 300)]}}}


def _spread(v):
    return {"mean": approx(statistics.fmean(v)), "std": approx(statistics.stdev(v)), "min": approx(min(v)),
            "max": approx(max(v)), "n": len(v)}


def _scores(pid, algo, b):
    pts = POINTS[(pid, algo, b)]
    hv = [0.0 if p is None else _hv(p) for p in pts]
    ig = [math.hypot(1.1, 1.1) if p is None else _igd(p) for p in pts]  # empty: the point (1.1, 1.1)
    return hv, ig


def _algo_entry(pid, algo, b):
    hv, ig = _scores(pid, algo, b)
    return {"hv": _spread(hv), "igd": _spread(ig), "generations_mean": b // 5 + 2, "evaluated_min": b - 4,
            "feasible_min": min(_feasible(pid, algo, b, s) for s in SEEDS5), "seeds": [0, 1, 2, 3, 4],
            "hv_per_seed": [approx(v) for v in hv], "igd_per_seed": [approx(v) for v in ig]}


def _vs(pid, peer, b, verdict, holm=None, ties=False):
    """The comparison with the oracles: exact Mann-Whitney p by enumeration, or with tied values the normal
    approximation (1 for identical samples: U is its mean), A12 by counting; the verdict and the Holm-adjusted
    p-values as worked out by hand."""
    (eh, ei), (ph, pi) = _scores(pid, "engine", b), _scores(pid, peer, b)
    mw = normal_mw_p if ties else exact_mw_p
    out = {"hv_p": approx(mw(eh, ph)), "hv_a12": approx(count_a12(eh, ph)),
           "igd_p": approx(mw(ei, pi)), "igd_a12": approx(count_a12(ei, pi)),
           "verdict": verdict}
    if holm is None:  # a constrained cell: no family correction
        out.update(hv_p_holm=None, igd_p_holm=None, verdict_holm=None)
    else:
        out.update(hv_p_holm=approx(holm[0]), igd_p_holm=approx(holm[1]), verdict_holm=holm[2])
    return out


def test_headline_oracles_agree_with_the_hand_worked_p_values():
    """The hand-worked facts the headline test rests on: complete separation of 5 and 5 seeds gives p = 2/252,
    one swapped pair 4/252, two 8/252; pymoo's IGD at budget 20 (U = 7) p = 2 * 39/252."""
    e20 = _scores("toy", "engine", 20)
    assert exact_mw_p(*[_scores("toy", a, 10)[0] for a in ("engine", "pymoo")]) == approx(2 / 252)
    assert exact_mw_p(e20[0], _scores("toy", "pymoo-eta3", 20)[0]) == approx(4 / 252)
    assert exact_mw_p(_scores("toy", "engine", 10)[1], _scores("toy", "random", 10)[1]) == approx(8 / 252)
    assert exact_mw_p(e20[1], _scores("toy", "pymoo", 20)[1]) == approx(78 / 252)
    assert count_a12(e20[1], _scores("toy", "pymoo", 20)[1]) == 7 / 25
    # a tied sample (pymoo's hv: all 0 on the constrained problem): N = 10, one tie of 5, U = 25 of 25:
    # sigma^2 = 25/12 (11 - 120/90), z = (12.5 - 0.5) / sigma
    z = 12 / math.sqrt(25 / 12 * (11 - 120 / 90))
    assert normal_mw_p(_scores("con", "engine", 20)[0], _scores("con", "pymoo", 20)[0]) == approx(
        math.erfc(z / math.sqrt(2)))
    assert normal_mw_p([1, 2, 3], [1, 2, 3]) == 1.0


def test_headline_counts_cells_holm_pymoo_setups_shares_overheads_and_goals():
    """Every headline figure of a constructed benchmark, worked out by hand.

    toy, budget 10: the engine beats both pymoo set-ups on both indicators (complete separation, p = 2/252) and
    random search by two swapped pairs (p = 8/252: significant alone, not after Holm's correction).
    toy, budget 20: better than pymoo on hypervolume only (its IGD: p = 78/252), worse than pymoo-eta3 (one
    swapped pair, p = 4/252) and than random search (complete separation).
    Holm over each peer's 4 tests [hv10, igd10, hv20, igd20]: pymoo [2, 2, 2, 78]/252 -> [8, 8, 8, 78]/252;
    pymoo-eta3 [2, 2, 4, 4]/252 -> all 8/252; random [8, 8, 2, 2]/252 -> [16, 16, 8, 8]/252, so its budget-10
    cell is "better" plainly and "same" corrected.
    Against pymoo (worse than either set-up, better than both): budget 10 better, budget 20 worse.
    con (constrained, not counted): pymoo finds nothing feasible (hv 0), pymoo-eta3 equals the engine, rejection
    sampling equals it at 10 and loses at 20, the largest budget: the engine is better than rejection sampling.
    Mean ranks (hv and IGD ranks agree in each toy cell): budget 10 engine 1, random 2, pymoo 3, pymoo-eta3 4;
    budget 20 random 1, pymoo-eta3 2, engine 3, pymoo 4.
    """
    h = figures.headline({"raw": _opt_raw()})
    p = lambda k: k / 252  # noqa: E731
    cells = [
        {"problem": "toy", "budget": 10, "constrained": False,
         "algorithms": {a: _algo_entry("toy", a, 10) for a in ("engine", "pymoo", "pymoo-eta3", "random")},
         "vs": {"pymoo": _vs("toy", "pymoo", 10, "better", (p(8), p(8), "better")),
                "pymoo-eta3": _vs("toy", "pymoo-eta3", 10, "better", (p(8), p(8), "better")),
                "random": _vs("toy", "random", 10, "better", (p(16), p(16), "same"))}},
        {"problem": "toy", "budget": 20, "constrained": False,
         "algorithms": {a: _algo_entry("toy", a, 20) for a in ("engine", "pymoo", "pymoo-eta3", "random")},
         "vs": {"pymoo": _vs("toy", "pymoo", 20, "better", (p(8), p(78), "better")),
                "pymoo-eta3": _vs("toy", "pymoo-eta3", 20, "worse", (p(8), p(8), "worse")),
                "random": _vs("toy", "random", 20, "worse", (p(8), p(8), "worse"))}},
        {"problem": "con", "budget": 10, "constrained": True,
         "algorithms": {a: _algo_entry("con", a, 10) for a in ("engine", "pymoo", "pymoo-eta3", "rejection")},
         "vs": {"pymoo": _vs("con", "pymoo", 10, "better", ties=True),  # pymoo's hv all 0: ties
                "pymoo-eta3": _vs("con", "pymoo-eta3", 10, "same", ties=True),
                "rejection": _vs("con", "rejection", 10, "same", ties=True)}},
        {"problem": "con", "budget": 20, "constrained": True,
         "algorithms": {a: _algo_entry("con", a, 20) for a in ("engine", "pymoo", "pymoo-eta3", "rejection")},
         "vs": {"pymoo": _vs("con", "pymoo", 20, "better", ties=True),
                "pymoo-eta3": _vs("con", "pymoo-eta3", 20, "same", ties=True),
                "rejection": _vs("con", "rejection", 20, "better")}},
    ]
    counts = lambda w, b, t, wh, bh: {"cells_worse": w, "cells_better": b, "cells_total": t,  # noqa: E731
                                      "cells_worse_holm": wh, "cells_better_holm": bh}
    expected = {
        "cells_worse": 1, "cells_better": 1, "cells_total": 2, "cells_worse_holm": 1, "cells_better_holm": 1,
        "reference_peers": ["pymoo", "pymoo-eta3"],
        "vs_pymoo": counts(0, 2, 2, 0, 2), "vs_pymoo-eta3": counts(1, 1, 2, 1, 1),
        "vs_random": counts(1, 1, 2, 1, 0), "vs_rejection": counts(0, 0, 0, 0, 0),
        "mean_rank": {"random": 1.5, "engine": 2.0, "pymoo-eta3": 3.0, "pymoo": 3.5},
        "mean_rank_few_choice": {},
        "constrained_feasible_share": 1.0, "constrained_feasible_share_pymoo": 0.0,
        "constrained_feasible_share_peers": {"pymoo": 0.0, "pymoo-eta3": 0.75, "random": None, "rejection": 0.5},
        # medians of 1000 (wall - eval) / unique: [2, 4, 16] -> 4; [2]; [1]; [10, 20] -> 15
        "overhead_ms": {"500": approx(4.0), "1000": approx(2.0)}, "overhead_ms_no_run_dir": {"500": approx(1.0)},
        "overhead_ms_pymoo": {"500": approx(15.0)},
        "overhead_growth": approx(0.5),  # 1000 evaluations' 2 ms over 500's 4 ms
        "reference_front_sizes": {"toy": 1, "con": 1},
        # worse after Holm in 1 cell; better in 1 of 2 (a quarter is met); 4 ms is above 0.3 ms
        "goals": {"no_cell_worse_than_peers_holm": False, "better_in_a_quarter_of_cells_holm": True,
                  "overhead_flat_at_most_0_3_ms": False, "constrained_whole_budget_feasible": True,
                  "constrained_better_than_rejection_sampling": True},
        "cells": cells,
    }
    assert h == expected
    assert list(h["mean_rank"]) == ["random", "engine", "pymoo-eta3", "pymoo"]  # best first


def test_deap_set_ups_are_reference_peers_and_others_are_not():
    """The same benchmark with pymoo-eta3's runs relabelled: as DEAP's integer loop it is still a reference peer
    (the engine is worse than it at budget 20: 1 worse, 1 better), as the engine-uniform ablation it is not (then
    only pymoo counts, which the engine beats in both cells)."""
    def relabel(name):
        raw = _opt_raw()
        for r in raw["runs"]:
            if r["algorithm"] == "pymoo-eta3":
                r["algorithm"] = name
        return figures.headline({"raw": raw})

    h = relabel("deap-int")
    assert h["reference_peers"] == ["deap-int", "pymoo"]
    assert (h["cells_worse"], h["cells_better"], h["cells_total"], h["cells_worse_holm"]) == (1, 1, 2, 1)
    h = relabel("engine-uniform")
    assert h["reference_peers"] == ["pymoo"] and "vs_engine-uniform" in h
    assert (h["cells_worse"], h["cells_better"], h["cells_total"], h["cells_better_holm"]) == (0, 2, 2, 2)
    assert h["goals"]["no_cell_worse_than_peers_holm"] and h["goals"]["better_in_a_quarter_of_cells_holm"]


def test_few_choice_ranks_count_only_few_choice_cells():
    raw = _opt_raw()
    for r in raw["runs"]:
        if r["problem"] == "toy":
            r["problem"] = "few-2-k1"
    raw["problems"]["few-2-k1"] = raw["problems"].pop("toy")
    h = figures.headline({"raw": raw})
    assert h["mean_rank_few_choice"] == h["mean_rank"] == {"random": 1.5, "engine": 2.0, "pymoo-eta3": 3.0, "pymoo": 3.5}


def test_overhead_goal_is_met_when_flat_and_small():
    raw = _opt_raw()
    rep = lambda ms: {"wall_s": ms / 1000 * 100, "eval_s": 0.0, "unique_evals": 100}  # noqa: E731
    raw["overhead"]["engine_run_dir"] = {"1000": [rep(0.2)], "5000": [rep(0.25)], "10000": [rep(0.29)]}
    h = figures.headline({"raw": raw})
    assert h["overhead_growth"] == approx(1.45) and h["goals"]["overhead_flat_at_most_0_3_ms"]
    raw["overhead"]["engine_run_dir"]["10000"] = [rep(0.31)]  # above 0.3 ms
    assert not figures.headline({"raw": raw})["goals"]["overhead_flat_at_most_0_3_ms"]
    raw["overhead"]["engine_run_dir"] = {"1000": [rep(0.1)], "10000": [rep(0.16)]}  # small but growing 1.6x
    assert not figures.headline({"raw": raw})["goals"]["overhead_flat_at_most_0_3_ms"]


def test_headline_without_pymoo_constraints_or_overheads():
    """A benchmark of the engine and random search alone on an unknown-front problem, with no overhead record:
    no pymoo set-up to count against (0 of 0 cells), no constrained problem (shares None, goals False), identical
    results (p = 1, A12 = 1/2, ranks tied at 1.5).

    The union reference {(0, 4), (2, 2), (4, 0)} normalises to {(0, 1), (1/2, 1/2), (1, 0)}. Seed 0's front
    {(0, 1), (1/2, 1/2)}: hv 0.11 + 0.36 - 0.06 = 0.41, IGD sqrt(1/2) / 3; seed 1's {(1, 0)}: hv 0.11,
    IGD (sqrt(2) + sqrt(1/2)) / 3."""
    front = {0: [[0.0, 4.0], [2.0, 2.0]], 1: [[4.0, 0.0]]}
    runs = [{"problem": "flat", "algorithm": a, "seed": s,
             "budgets": {"8": {"front": front[s], "generations": 3, "evaluated": 8, "feasible": 8}}}
            for a in ("random", "engine") for s in (0, 1)]
    raw = {"budgets": [8], "alpha": 0.05, "hv_ref": 1.1, "runs": runs,
           "problems": {"flat": {"reference": "union", "reference_front": None, "constrained": False}}}
    hv, ig = [0.41, 0.11], [math.sqrt(0.5) / 3, (math.sqrt(2) + math.sqrt(0.5)) / 3]
    entry = {"hv": _spread(hv), "igd": _spread(ig), "generations_mean": 3, "evaluated_min": 8, "feasible_min": 8,
             "seeds": [0, 1], "hv_per_seed": [approx(v) for v in hv], "igd_per_seed": [approx(v) for v in ig]}
    same = {"hv_p": 1.0, "hv_a12": 0.5, "igd_p": 1.0, "igd_a12": 0.5, "verdict": "same", "hv_p_holm": 1.0,
            "igd_p_holm": 1.0, "verdict_holm": "same"}
    zero = {"cells_worse": 0, "cells_better": 0, "cells_total": 0}
    assert figures.headline({"raw": raw}) == {
        **zero, "cells_worse_holm": 0, "cells_better_holm": 0, "reference_peers": [],
        "vs_random": {"cells_worse": 0, "cells_better": 0, "cells_total": 1, "cells_worse_holm": 0,
                      "cells_better_holm": 0},
        "mean_rank": {"engine": 1.5, "random": 1.5}, "mean_rank_few_choice": {},
        "constrained_feasible_share": None, "constrained_feasible_share_pymoo": None,
        "constrained_feasible_share_peers": {"random": None},
        "overhead_ms": {}, "overhead_ms_no_run_dir": {}, "overhead_ms_pymoo": {}, "overhead_growth": None,
        "reference_front_sizes": {"flat": 3},
        # no reference peer ran: a goal about them is not met by default
        "goals": {"no_cell_worse_than_peers_holm": False, "better_in_a_quarter_of_cells_holm": False,
                  "overhead_flat_at_most_0_3_ms": False, "constrained_whole_budget_feasible": False,
                  "constrained_better_than_rejection_sampling": False},
        "cells": [{"problem": "flat", "budget": 8, "constrained": False,
                   "algorithms": {"engine": entry, "random": entry}, "vs": {"random": same}}]}


# -- ranking ---------------------------------------------------------------------------------------------------

from scipy.stats import kendalltau  # noqa: E402  (an independent oracle of search.stats.kendall)

from search.ranking.fidelity import figures as library_figures  # noqa: E402
from search.stats import bootstrap_ci, kendall  # noqa: E402

PROTOCOL = {"n_boot": 60, "level": 0.9, "seed": 7}


@pytest.fixture
def protocol(monkeypatch):
    """Another bootstrap protocol than the default (and a fast one): every interval must follow the module's
    N_BOOT, LEVEL and SEED, not a default of the library's."""
    monkeypatch.setattr(ranking, "N_BOOT", PROTOCOL["n_boot"])
    monkeypatch.setattr(ranking, "LEVEL", PROTOCOL["level"])
    monkeypatch.setattr(ranking, "SEED", PROTOCOL["seed"])


def _rows(reps, roles, macs):
    return [{"arch": a, "seed": 100 * r + i, "replicate": r, "role": roles[a], "stratum": 0, "macs": macs[a],
             "params": i, "test_acc": v, "val_acc": 0.0, "test_recall": 0.0, "train_kwh": 1e-6}
            for i, (a, vs) in enumerate(reps.items()) for r, v in vs.items()]


def _nan_eq(a, b):
    """Equality of figures where nan equals nan."""
    if isinstance(a, dict):
        return isinstance(b, dict) and set(a) == set(b) and all(_nan_eq(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(_nan_eq(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == pytest.approx(b, rel=1e-12, abs=1e-15) if isinstance(b, float) else a == b


def test_ci_and_figures_follow_the_module_protocol(protocol):
    """The benchmark's intervals are bootstrap_ci under (N_BOOT, LEVEL, SEED), whatever the library defaults."""
    x, y = [1.0, 3.0, 2.0, 5.0, 4.0, 6.0], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert ranking._ci(kendall, x, y) == list(bootstrap_ci(kendall, x, y, **PROTOCOL))
    assert all(math.isnan(v) for v in ranking._ci(kendall, x[:4], y[:4]))  # fewer than 5 values: no interval
    archs = [f"a{i}" for i in range(6)]
    scores, truth = dict(zip(archs, x)), dict(zip(archs, y))
    roles = dict(zip(archs, ["smallest"] + ["sampled"] * 4 + ["largest"]))
    macs = dict(zip(archs, [1, 2, 3, 4, 5, 6]))
    got = ranking.figures(scores, truth, roles, macs)
    assert _nan_eq(got, library_figures(scores, truth, roles, macs, intervals=True, **PROTOCOL))
    assert got["kendall_tau_ci"] == list(bootstrap_ci(kendall, x, y, **PROTOCOL))
    # two swapped pairs of 15: tau = (13 - 2) / 15
    assert got["kendall_tau"] == approx(11 / 15)
    assert _nan_eq(ranking.figures(scores, truth, roles, macs, intervals=False),
                   library_figures(scores, truth, roles, macs, intervals=False))
    assert math.isnan(ranking.figures(scores, truth, roles, macs, False)["kendall_tau_ci"][0])


def test_versus_is_the_paired_tau_difference_with_its_interval(protocol):
    """diff = tau(method, truth) - tau(default, truth) (scipy's tau as the oracle), the interval a paired
    bootstrap of that difference under the protocol; better beyond noise only when its lower end is above 0."""
    archs = [f"a{i}" for i in range(7)]
    truth = dict(zip(archs, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]))
    method = dict(zip(archs, [0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 0.6]))
    base = dict(zip(archs, [0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]))
    t, a, b = list(truth.values()), list(method.values()), list(base.values())
    diff = kendalltau(a, t)[0] - kendalltau(b, t)[0]  # (19/21) - (-1)
    assert diff == approx(19 / 21 + 1)
    lo, hi = bootstrap_ci(lambda x, y, z: kendall(x, z) - kendall(y, z), a, b, t, **PROTOCOL)
    out = ranking.versus(method, base, truth, archs)
    assert out == {"kendall_tau_no_extremes_diff": approx(diff), "kendall_tau_no_extremes_diff_ci": [lo, hi],
                   "better_beyond_noise": lo > 0}
    assert lo > 0 and out["better_beyond_noise"] is True
    back = ranking.versus(base, method, truth, archs)  # the other way round: behind, not better
    assert back["kendall_tau_no_extremes_diff"] == approx(-diff) and back["better_beyond_noise"] is False
    # exactly as good: diff 0, interval [0, 0], a lower end of 0 is not above 0
    same = ranking.versus(method, dict(method), truth, archs)
    assert same == {"kendall_tau_no_extremes_diff": 0.0, "kendall_tau_no_extremes_diff_ci": [0.0, 0.0],
                    "better_beyond_noise": False}
    # a small lead: adjacent pairs swapped in the default only (tau 1 vs 7/9, diff 2/9); the interval's lower end
    # lies between 0 and 1, so the lead counts (a test of "above 0", not of "above 1")
    t10 = [f"b{i}" for i in range(10)]
    truth10 = {x: i / 10 for i, x in enumerate(t10)}
    swapped = {x: truth10[t10[j]] for x, j in zip(t10, (1, 0, 3, 2, 5, 4, 7, 6, 9, 8))}
    small = ranking.versus(dict(truth10), swapped, truth10, t10)
    lo10, hi10 = small["kendall_tau_no_extremes_diff_ci"]
    assert small["kendall_tau_no_extremes_diff"] == approx(2 / 9) and 0 < lo10 < 1 and hi10 < 1
    assert small["better_beyond_noise"] is True
    # two subnets: a difference, no interval; one subnet: no difference either
    two = ranking.versus(method, base, truth, archs[:2])
    assert two["kendall_tau_no_extremes_diff"] == 2.0 and two["better_beyond_noise"] is False
    assert math.isnan(ranking.versus(method, base, truth, archs[:1])["kendall_tau_no_extremes_diff"])


def test_best_method_takes_the_largest_difference_beyond_noise():
    """Among methods better than the default beyond noise, the one with the largest tau difference (not the
    first or last by name); none: the default."""
    res = {"method": "d", "methods": {
        "d": {}, "a": {"vs_default": {"kendall_tau_no_extremes_diff": 0.2, "better_beyond_noise": True}},
        "m": {"vs_default": {"kendall_tau_no_extremes_diff": 0.3, "better_beyond_noise": True}},
        "z": {"vs_default": {"kendall_tau_no_extremes_diff": 0.1, "better_beyond_noise": True}},
        "big": {"vs_default": {"kendall_tau_no_extremes_diff": 0.9, "better_beyond_noise": False}},
        "d+predictor": {"splits": 2}}}
    assert ranking.best_method(res) == "m"
    for n in ("a", "m", "z"):
        res["methods"][n]["vs_default"]["better_beyond_noise"] = False
    assert ranking.best_method(res) == "d"


# the goal boundaries: accuracies low enough that a 3-point regret is exactly 3.0 in floating point
# ((0.2798 - 0.2498) * 100 == 3.0); mid subnets a1..a5 whose two seeds disagree as much as they agree (noise ceiling
# tau 0 without the extremes)
B_ROLES = {"a0": "smallest", **{f"a{i}": "sampled" for i in range(1, 6)}, "a6": "largest"}
B_MACS = {f"a{i}": 10 * (i + 1) for i in range(7)}
B_REPS = {"a0": {0: 0.2498, 1: 0.2498}, "a1": {0: 0.201, 1: 0.199}, "a2": {0: 0.202, 1: 0.196},
          "a3": {0: 0.203, 1: 0.205}, "a4": {0: 0.204, 1: 0.193}, "a5": {0: 0.205, 1: 0.202},
          "a6": {0: 0.2798, 1: 0.2798}}
# truth order of the mid subnets: a4 < a2 < a1 < a5 < a3; "good" swaps two of its 10 pairs (tau 0.6 exactly),
# "flat" five (tau 0); both rank a0 first and a6 last, so at the largest budget their top 5 keeps a0 (0.2498), not
# a6 (0.2798): 3 points lost there, none at the two smaller budgets (3 and 5 subnets: all in the top 5) -> 1.0
B_GOOD = {"a0": 0.9, "a2": 0.30, "a4": 0.31, "a1": 0.32, "a3": 0.33, "a5": 0.34, "a6": 0.1}
B_FLAT = {"a0": 0.9, "a4": 0.33, "a2": 0.32, "a1": 0.35, "a5": 0.31, "a3": 0.34, "a6": 0.1}


def _b_raw(reps=B_REPS, default="good"):
    return {"table": _rows(reps, B_ROLES, B_MACS), "default": default,
            "methods": {"good": {"val_images": 100, "scores": B_GOOD}, "flat": {"val_images": 100, "scores": B_FLAT}}}


def test_ranking_goals_at_their_boundaries(protocol):
    """A goal met exactly is met: tau without the extremes = 0.6 meets ">= 0.6"; 0 meets ">= 0.8 x a noise ceiling
    of 0". Chance: at the two smaller budgets every subnet is in a random top 5 (no regret); at the largest, a random
    5 of the 7 misses a6 (0.2798) with probability 2/7 and then keeps a0 (0.2498) with probability 5/6, else a3
    (0.204): 2/7 x (0.2798 - (5/6 x 0.2498 + 1/6 x 0.204)) = 1.0752 points, 0.3584 over the three budgets. Both
    methods lose 1 point, more than half of that: the regret goal is missed (the first seeds agree with the second
    on 15 of the 21 pairs, so the noise ceiling is tau 0.429: missed too), and 7 subnets are fewer than 32."""
    h = ranking.headline({"raw": _b_raw()})
    assert h["kendall_tau_no_extremes"] == 0.6 and h["noise_ceiling_tau_no_extremes"] == 0.0
    assert h["top5_regret_points_per_budget"] == [0.0, 0.0, 3.0] and h["top5_regret_points"] == 1.0
    chance = 2 / 7 * (0.2798 - (5 / 6 * 0.2498 + 1 / 6 * 0.204)) * 100 / 3
    assert h["random_top5_regret_points"] == pytest.approx(chance, rel=1e-9)
    assert h["noise_ceiling_tau"] == approx(kendalltau([B_REPS[a][0] for a in B_MACS],
                                                       [B_REPS[a][1] for a in B_MACS])[0])
    assert h["goal"] == {"n_subnets_ge_32": False, "noise_ceiling_tau_ge_0.6": h["noise_ceiling_tau"] >= 0.6,
                         "kendall_tau_no_extremes_ge_0.6": True,
                         "kendall_tau_no_extremes_ge_0.8_noise_ceiling": True, "top5_regret_le_0.5_random": False}
    assert h["noise_ceiling_tau"] < 0.6 and h["space_digest"] is None  # no digest in this raw
    h = ranking.headline({"raw": _b_raw(default="flat")})
    assert h["method"] == "flat" and h["kendall_tau_no_extremes"] == 0.0
    assert h["goal"]["kendall_tau_no_extremes_ge_0.6"] is False
    assert h["goal"]["kendall_tau_no_extremes_ge_0.8_noise_ceiling"] is True
    # a method that ranks a6 first loses nothing anywhere: the regret goal is met (0 <= half of chance)
    best_first = {**B_GOOD, "a6": 1.0}
    raw = _b_raw()
    raw["methods"]["good"]["scores"] = best_first
    h2 = ranking.headline({"raw": raw})
    assert h2["top5_regret_points"] == 0.0 and h2["goal"]["top5_regret_le_0.5_random"] is True
    assert h["methods"]["good"]["vs_default"]["kendall_tau_no_extremes_diff"] == approx(0.6)
    assert h["best_method"] == "flat"  # +0.6 over five subnets, but not beyond noise


def test_ranking_noise_ceiling_from_the_subnets_with_both_seeds(protocol):
    """The noise ceiling pairs seed 0 with seed 1 over the subnets that have both: with only a1 and a2 having
    seed 1, two subnets: tau -1 (their order flips), no interval (under 5 values), top-5 regret 0 (budgets
    20, 30, 30 MACs: both in every top 5); with no second seed at all, every ceiling figure is undefined (nan)
    and so is the goal that compares with it (None)."""
    two = {a: ({0: v[0], 1: v[1]} if a in ("a1", "a2") else {0: v[0]}) for a, v in B_REPS.items()}
    h = ranking.headline({"raw": _b_raw(two)})
    assert h["n_rows"] == 9 and h["n_subnets"] == 7
    assert h["noise_ceiling_tau"] == -1.0 and h["noise_ceiling_tau_no_extremes"] == -1.0
    assert h["noise_ceiling_top5_regret_points"] == 0.0
    assert all(math.isnan(v) for v in h["noise_ceiling_tau_ci"] + h["noise_ceiling_tau_no_extremes_ci"])
    one = {a: {0: v[0]} for a, v in B_REPS.items()}
    h = ranking.headline({"raw": _b_raw(one)})
    for k in ("noise_ceiling_tau", "noise_ceiling_tau_no_extremes", "noise_ceiling_top5_regret_points"):
        assert math.isnan(h[k])
    assert h["goal"]["kendall_tau_no_extremes_ge_0.8_noise_ceiling"] is None
    lone = {**one, "a6": {1: 0.2798}}  # one subnet with seed 1 only: still no pair
    h = ranking.headline({"raw": _b_raw(lone)})
    assert math.isnan(h["noise_ceiling_tau"]) and math.isnan(h["noise_ceiling_top5_regret_points"])


# the full headline: 8 subnets, seeds 0-2 (a6: 0-1 only, a7: seed 1 only), two supernet methods and two
# cross-validated predictors
R_ROLES = {"a0": "smallest", **{f"a{i}": "sampled" for i in range(1, 6)}, "a6": "largest", "a7": "sampled"}
R_MACS = {"a0": 10, "a1": 20, "a2": 30, "a3": 40, "a4": 50, "a5": 60, "a6": 70, "a7": 35}
R_REPS = {"a0": {0: 0.30, 1: 0.32, 2: 0.31}, "a1": {0: 0.50, 1: 0.46, 2: 0.48}, "a2": {0: 0.45, 1: 0.75, 2: 0.50},
          "a3": {0: 0.55, 1: 0.50, 2: 0.54}, "a4": {0: 0.60, 1: 0.58, 2: 0.62}, "a5": {0: 0.58, 1: 0.64, 2: 0.61},
          "a6": {0: 0.70, 1: 0.72}, "a7": {1: 0.40}}
R_GOOD = {"a0": 0.30, "a1": 0.47, "a2": 0.52, "a3": 0.51, "a4": 0.60, "a5": 0.58, "a6": 0.70, "a7": 0.41}
R_ALT = {"a0": 0.30, "a1": 0.49, "a2": 0.48, "a3": 0.53, "a4": 0.62, "a5": 0.59, "a6": 0.72, "a7": 0.35}
R_SPLITS = [{"fit": ["a0", "a7"], "pred": {"a1": 0.5, "a2": 0.49, "a3": 0.52, "a4": 0.6, "a5": 0.65, "a6": 0.7}},
            {"fit": ["a6", "a1"], "pred": {"a0": 0.3, "a2": 0.5, "a3": 0.45, "a4": 0.62, "a5": 0.6, "a7": 0.41}},
            {"fit": ["a1", "a2", "a3", "a4", "a5"], "pred": {"a0": 0.3, "a6": 0.7, "a7": 0.4}}]


def _r_raw():
    return {"table": _rows(R_REPS, R_ROLES, R_MACS), "default": "good", "space_digest": "digest-of-the-space",
            "methods": {
        "good": {"val_images": 100, "scores": R_GOOD},
        "good+predictor": {"base": "good", "kind": "ridge", "splits": R_SPLITS},
        "alt": {"val_images": 400, "scores": R_ALT, "training": {"kwh": 0.5}},
        "alt+predictor": {"base": "alt", "kind": "gp", "splits": R_SPLITS[2:]}}}


def _cv_expected(splits, base, truth):
    """A predictor's figures: each split's figures averaged over the splits where defined, their spread, and
    the base method's average on the same held-out subnets; no intervals."""
    per = [library_figures(sp["pred"], {a: truth[a] for a in sp["pred"]}, R_ROLES, R_MACS, intervals=False)
           for sp in splits]
    paired = [library_figures({a: base[a] for a in sp["pred"]}, {a: truth[a] for a in sp["pred"]}, R_ROLES,
                              R_MACS, intervals=False) for sp in splits]
    out = {"splits": len(splits), "fit_subnets": len(splits[0]["fit"]), "held_out_subnets": len(splits[0]["pred"]),
           "base": None, "kind": None}
    for k in ("kendall_tau", "kendall_tau_no_extremes", "spearman", "top1_regret_points", "top5_regret_points"):
        vals = [f[k] for f in per if not math.isnan(f[k])]
        bvals = [f[k] for f in paired if not math.isnan(f[k])]
        out[k] = statistics.fmean(vals) if vals else math.nan
        out[k + "_sd_over_splits"] = statistics.stdev(vals) if len(vals) > 1 else math.nan
        out[k + "_base_same_subnets"] = statistics.fmean(bvals) if bvals else math.nan
    out.update(kendall_tau_no_extremes_ci=[math.nan, math.nan], kendall_tau_ci=[math.nan, math.nan],
               spearman_ci=[math.nan, math.nan],
               top5_regret_points_per_budget=[statistics.fmean(f["top5_regret_points_per_budget"][i] for f in per)
                                              for i in range(3)])
    return out


def test_ranking_headline_whole(protocol):
    """Every figure of ranking.json's headline for a small table, from first principles or the shared library.

    Truth = the mean over a subnet's seeds (a7 has seed 1 only). The noise ceiling pairs seed 0 and seed 1 over
    a0..a6 (a7 lacks seed 0); a2's seed 1 (0.75) is the best, and seed 0's top 5 at 70 MACs (a6, a4, a5, a3, a1)
    misses it: 3 points lost there, none at 30 and 50 MACs (3 and 5 subnets) -> 1 point. Each supernet method's
    figures are the library's under the protocol, with the largest binomial SE of its scores (the score nearest
    0.5 on its val_images), the spread of its mid scores and its training energy; the other method is compared
    with the default on the mid subnets (a1..a5, a7). Predictors: their splits averaged (the third split holds
    out one mid subnet only: its tau without the extremes is undefined and left out of the mean).
    """
    h = ranking.headline({"raw": _r_raw()})
    truth = {a: statistics.fmean(v.values()) for a, v in R_REPS.items()}
    both = [f"a{i}" for i in range(7)]
    s0, s1 = [R_REPS[a][0] for a in both], [R_REPS[a][1] for a in both]
    mid = [f"a{i}" for i in range(1, 6)]
    m0, m1 = [R_REPS[a][0] for a in mid], [R_REPS[a][1] for a in mid]
    methods = {}
    for name, sc, n, kwh in (("good", R_GOOD, 100, None), ("alt", R_ALT, 400, 0.5)):
        f = library_figures(sc, truth, R_ROLES, R_MACS, intervals=True, **PROTOCOL)
        near = min(sc.values(), key=lambda v: abs(v - 0.5))
        f["score_se_max"] = math.sqrt(near * (1 - near) / n)
        f["score_spread_sd_no_extremes"] = statistics.stdev([sc[a] for a in truth if R_ROLES[a] == "sampled"])
        f["training_kwh"] = kwh
        methods[name] = f
    mids = [a for a in truth if R_ROLES[a] == "sampled"]
    a, b, t = [R_ALT[x] for x in mids], [R_GOOD[x] for x in mids], [truth[x] for x in mids]
    lo, hi = bootstrap_ci(lambda x, y, z: kendall(x, z) - kendall(y, z), a, b, t, **PROTOCOL)
    methods["alt"]["vs_default"] = {"kendall_tau_no_extremes_diff": kendalltau(a, t)[0] - kendalltau(b, t)[0],
                                    "kendall_tau_no_extremes_diff_ci": [lo, hi], "better_beyond_noise": lo > 0}
    methods["good+predictor"] = {**_cv_expected(R_SPLITS, R_GOOD, truth), "base": "good", "kind": "ridge"}
    methods["alt+predictor"] = {**_cv_expected(R_SPLITS[2:], R_ALT, truth), "base": "alt", "kind": "gp"}
    d = methods["good"]
    # chance: a random ranking keeps the best of 5 subnets drawn at random under each budget; averaged over every
    # 5-subset (all of them when fewer than 5 fit)
    chance_per = []
    for m in (30, 50, 70):  # the thirds of the sorted MACs, as the docstring says
        pool = [truth[a] for a in truth if R_MACS[a] <= m]
        picks = list(itertools.combinations(pool, min(5, len(pool))))
        chance_per.append((max(pool) - statistics.fmean(max(c) for c in picks)) * 100)
    chance = statistics.fmean(chance_per)
    expected = {
        "method": "good", "n_subnets": 8, "n_rows": 21,  # 6 x 3 + 2 + 1
        **{k: d[k] for k in ("kendall_tau", "kendall_tau_ci", "kendall_tau_no_extremes", "kendall_tau_no_extremes_ci",
                             "spearman", "spearman_ci", "top1_regret_points", "top5_regret_points",
                             "top5_regret_points_per_budget")},
        "noise_ceiling_tau": kendalltau(s0, s1)[0], "noise_ceiling_tau_ci": list(bootstrap_ci(kendall, s0, s1,
                                                                                               **PROTOCOL)),
        "noise_ceiling_tau_no_extremes": kendalltau(m0, m1)[0],
        "noise_ceiling_tau_no_extremes_ci": list(bootstrap_ci(kendall, m0, m1, **PROTOCOL)),
        "noise_ceiling_top5_regret_points": (0.75 - 0.72) * 100 / 3,
        "methods": methods, "random_top5_regret_points": chance, "space_digest": "digest-of-the-space",
        "best_method": "good",
        "goal": {"n_subnets_ge_32": False, "noise_ceiling_tau_ge_0.6": kendalltau(s0, s1)[0] >= 0.6,
                 "kendall_tau_no_extremes_ge_0.6": d["kendall_tau_no_extremes"] >= 0.6,
                 "kendall_tau_no_extremes_ge_0.8_noise_ceiling":
                     bool(d["kendall_tau_no_extremes"] >= 0.8 * kendalltau(m0, m1)[0]),
                 "top5_regret_le_0.5_random": d["top5_regret_points"] <= 0.5 * chance}}
    assert list(h) == list(expected) and _nan_eq(h, expected)
    assert list(h["methods"]) == ["good", "good+predictor", "alt", "alt+predictor"]
    # hand checks of the oracles: truth order a0 .31, a7 .40, a1 .48, a3 .53, a2 .5667, a4 .60, a5 .61, a6 .71; the
    # good method's scores swap a4/a5 only: 1 discordant pair of 28
    assert h["kendall_tau"] == approx(26 / 28)
    assert h["methods"]["good"]["score_se_max"] == approx(math.sqrt(0.51 * 0.49 / 100))  # a3's 0.51: nearest 1/2
    assert h["methods"]["alt"]["score_se_max"] == approx(math.sqrt(0.49 * 0.51 / 400))
    assert h["noise_ceiling_top5_regret_points"] == approx(1.0)


def test_ranking_score_spread_needs_two_mid_subnets(protocol):
    """The spread of a method's scores over the mid subnets is their sample standard deviation: two of them
    (0.32, 0.30 for a1, a2) give |0.02| / sqrt(2); one gives none (nan)."""
    keep = {a: B_REPS[a] for a in ("a0", "a1", "a2", "a6")}
    h = ranking.headline({"raw": _b_raw(keep)})
    assert h["methods"]["good"]["score_spread_sd_no_extremes"] == approx(0.02 / math.sqrt(2))
    keep = {a: B_REPS[a] for a in ("a0", "a1", "a6")}
    assert math.isnan(ranking.headline({"raw": _b_raw(keep)})["methods"]["good"]["score_spread_sd_no_extremes"])


def test_inputs_finds_the_committed_table_and_what_disagrees(tmp_path):
    """The table folder whose identity is the result's (an archived copy and another identity skipped, wherever
    they sort) is the input; a raw row it lacks and a row.json it lacks are both reported, rows compared by
    (arch, int replicate, float accuracy)."""
    import json

    def put(path, data):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data))

    rows = [{"arch": "a", "replicate": 0, "test_acc": 0.5}, {"arch": "b", "replicate": 1, "test_acc": 0.25}]
    put(tmp_path / "a_other" / "table.json", {"identity": {"space": "Y"}, "rows": rows})
    put(tmp_path / "archive" / "t" / "table.json", {"identity": {"space": "X"}, "rows": rows})
    put(tmp_path / "good" / "table.json", {"identity": {"space": "X"}, "rows": rows})
    put(tmp_path / "good" / "r1" / "row.json", {"result": {"arch": "a", "replicate": 0, "test_acc": 0.5}})
    put(tmp_path / "good" / "r2" / "row.json", {"result": {"arch": "c", "replicate": 1, "test_acc": 0.75}})
    result = {"table_identity": {"space": "X"}, "raw": {"table": [
        {"arch": "a", "replicate": 0, "test_acc": 0.5}, {"arch": "b", "replicate": "1", "test_acc": "0.25"},
        {"arch": "z", "replicate": 0, "test_acc": 0.125}]}}
    files, problems = ranking.inputs(result, tmp_path)
    assert files == [tmp_path / "good" / "table.json", tmp_path / "good" / "r1" / "row.json",
                     tmp_path / "good" / "r2" / "row.json"]
    assert problems == ["good/table.json: no row ('z', 0, 0.125) of the result's raw table",
                        "good/r2/row.json: a row that table.json does not hold"]
    assert ranking.inputs({**result, "table_identity": {"space": "W"}}, tmp_path) == ([], [])


def _one_cell_raw(alpha):
    """One unconstrained cell, budget 10, the engine against pymoo over 5 seeds, one-point fronts against the exact
    reference {(0, 0)}: every seed of the engine at (0.1, 0.1), of pymoo at (0, 1.1 - 1/1.1). Both have
    hypervolume (1.1 - x)(1.1 - y) = 1.0 (tied: p = 1); the engine's IGD, hypot(0.1, 0.1) = 0.1414, is below
    pymoo's 0.1909."""
    y = 1.1 - 1 / 1.1
    pts = {"engine": (0.1, 0.1), "pymoo": (0.0, y)}
    runs = [{"problem": "t", "algorithm": a, "seed": s,
             "budgets": {"10": {"front": [list(pts[a])], "generations": 2, "evaluated": 10, "feasible": 10}}}
            for a in ("engine", "pymoo") for s in range(5)]
    return {"budgets": [10], "alpha": alpha, "hv_ref": 1.1, "runs": runs,
            "problems": {"t": {"reference": "exact", "reference_front": [[0.0, 0.0]], "constrained": False}}}


def test_holm_verdict_reads_the_corrected_igd_p_its_a12_and_the_runs_alpha():
    """The Holm verdict of a cell decided by IGD alone: hypervolumes tied (p = 1), IGD separated with every value
    tied inside each sample (normal approximation: p = 0.0040, Holm over the 2 tests 0.0080). The engine's IGD
    is below pymoo's (A12 = P(engine > peer) = 0): better at alpha 0.05; at alpha 0.005 the corrected p is not
    significant: same (the run's alpha, not the default 0.05)."""
    y = 1.1 - 1 / 1.1
    ie, ip = math.hypot(0.1, 0.1), y
    assert ie < ip
    for alpha, want in ((0.05, "better"), (0.005, "same")):
        vs = figures.headline({"raw": _one_cell_raw(alpha)})["cells"][0]["vs"]["pymoo"]
        p = normal_mw_p([ie] * 5, [ip] * 5)
        assert vs["igd_p"] == approx(p) and vs["igd_a12"] == 0.0 and vs["hv_p"] == approx(1.0)
        assert vs["igd_p_holm"] == approx(min(1.0, 2 * p)) and 0.005 < 2 * p < 0.05
        assert vs["verdict_holm"] == want and vs["verdict"] == "better"


def test_holm_verdict_worse_on_igd_alone():
    """The mirror case (pymoo's points given to the engine): worse on IGD alone, uncorrected and corrected: the
    verdict reads the corrected IGD p-value and the IGD A12 (P(engine > peer) = 1), each in its place."""
    raw = _one_cell_raw(0.05)
    for r in raw["runs"]:
        r["algorithm"] = {"engine": "pymoo", "pymoo": "engine"}[r["algorithm"]]
    vs = figures.headline({"raw": raw})["cells"][0]["vs"]["pymoo"]
    assert vs["igd_a12"] == 1.0 and (vs["verdict"], vs["verdict_holm"]) == ("worse", "worse")


def test_random_regret_by_hand():
    """Three subnets at 0.01, 0.02, 0.03 under the budget, k = 2: the three pairs keep 0.02, 0.03, 0.03, so a random
    ranking keeps 0.08/3 on average and loses 1/3 of a point; k at or above the pool loses nothing; a subnet over
    the budget is not drawn; an empty pool has no regret (nan)."""
    from search.ranking.fidelity import random_regret

    truth = {"a": 0.01, "b": 0.02, "c": 0.03, "d": 0.9}
    macs = {"a": 1, "b": 2, "c": 3, "d": 4}
    assert random_regret(truth, macs, 3, 2) == approx(1 / 3)
    assert random_regret(truth, macs, 3, 5) == approx(0.0)
    assert random_regret(truth, macs, 3, 1) == approx((0.03 - 0.02) * 100)
    assert math.isnan(random_regret(truth, macs, 0, 2))
