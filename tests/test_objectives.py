"""Known answers for search.evolution.objectives: directions, constraints, fixed-bound normalisation, dominance,
the Pareto front and the hypervolume every search figure is built on."""
from __future__ import annotations

import pytest

from search.evolution.objectives import (Constraint, Normaliser, dominates, hypervolume, parse_constraints,
                                         parse_objectives, pareto_front)
from search.objectives import cost_fields, directions
from core.errors import GreenError


def test_objective_directions_and_weights():
    acc, recall, params, macs, lat, energy = parse_objectives(["acc", "recall", "params", "macs", "latency", "energy"])
    assert [o.field for o in (acc, recall, params, macs, lat, energy)] == [
        "acc", "recall", "params", "macs", "latency_ms", "energy_mj"]
    assert acc.maximise and recall.maximise and acc.weight == 1.0
    assert not any(o.maximise for o in (params, macs, lat, energy)) and energy.weight == -1.0
    assert directions()["energy"] == ("energy_mj", "min")
    assert set(cost_fields()) == {"params", "macs", "latency_ms", "energy_mj"}
    custom = parse_objectives(["a", "b"], {"a": ("fa", "max"), "b": ("fb", "min")})
    assert [(o.name, o.field, o.maximise) for o in custom] == [("a", "fa", True), ("b", "fb", False)]


@pytest.mark.parametrize("names, message", [
    (["acc", "speed"], r"unknown objective\(s\) \['speed'\]; choose from \['acc', 'energy'"),
    (["acc"], "at least two distinct names, got \\['acc'\\]"),
    (["acc", "acc"], "at least two distinct names"),
    ([], "at least two distinct names"),
])
def test_bad_objectives(names, message):
    with pytest.raises(GreenError, match=message):
        parse_objectives(names)


def test_constraints_parse_and_check():
    c = parse_constraints(["latency <= 5", "params<300000", " energy_mj >= 1e-3 ", "macs > 2_000"])
    assert c == [Constraint("latency_ms", "<=", 5.0), Constraint("params", "<", 300000.0),
                 Constraint("energy_mj", ">=", 0.001), Constraint("macs", ">", 2000.0)]
    rec = {"latency_ms": 5.0, "params": 300000, "energy_mj": 0.001, "macs": 2000}
    assert [x.ok(rec) for x in c] == [True, False, True, False]
    assert [x.ok({**rec, "params": 299999, "macs": 2001}) for x in c[1::2]] == [True, True]
    assert str(c[0]) == "latency_ms <= 5" and str(c[2]) == "energy_mj >= 0.001"
    assert parse_constraints([]) == []


@pytest.mark.parametrize("text, message", [
    ("latency == 5", "malformed constraint 'latency == 5'"),
    ("eval_seconds <= 5", r"'eval_seconds' is not computed by the search; constrain a cost \(params, macs, latency_ms, "
                          r"energy_mj\) or a score \(acc, recall, recall_min, recall:<class>\)$"),
    ("recall: >= 0.5", "malformed constraint|is not computed"),
    ("params <= 1.2.3", "'1.2.3' is not a number"),
    ("recall_min >= 1e999", "the bound 1e999 is not a finite number"),  # would be 'met' by a NaN comparison
    ("latency_ms <= -1e999", "the bound -1e999 is not a finite number"),
    ("recall_min >= 1.5", "recall_min is a fraction in \\[0, 1\\], so the bound 1.5 can never be met"),
    ("acc <= -0.1", "acc is a fraction in \\[0, 1\\]"),
])
def test_bad_constraints(text, message):
    with pytest.raises(GreenError, match=message):
        parse_constraints([text])


def test_normaliser_uses_fixed_bounds():
    norm = Normaliser(parse_objectives(["acc", "macs"]), {"macs": 200.0, "acc": 0.3})
    assert norm.hi == {"acc": 1.0, "macs": 200.0}  # accuracy's bound is 1, never the largest subnet's
    assert norm({"acc": 0.75, "macs": 50}) == [0.25, 0.25]
    assert Normaliser(parse_objectives(["recall", "params"]), {"params": 0})({"recall": 0.4, "params": 9}) == [
        pytest.approx(0.6), 0.0]  # a zero bound maps to 0 instead of dividing by it


def test_dominance_is_strict_minimisation():
    assert dominates([0.1, 0.2], [0.1, 0.3]) and dominates([0.0, 0.0], [0.1, 0.1])
    assert not dominates([0.1, 0.2], [0.1, 0.2]) and not dominates([0.1, 0.4], [0.2, 0.3])
    assert not dominates([0.2, 0.3], [0.1, 0.3])


def test_pareto_front_keeps_the_first_of_equal_points():
    norm = Normaliser(parse_objectives(["acc", "macs"]), {"macs": 100.0})
    recs = [{"id": 0, "acc": 0.9, "macs": 80}, {"id": 1, "acc": 0.8, "macs": 40}, {"id": 2, "acc": 0.7, "macs": 60},
            {"id": 3, "acc": 0.8, "macs": 40}, {"id": 4, "acc": 0.95, "macs": 100}]
    assert [r["id"] for r in pareto_front(recs, norm)] == [0, 1, 4]


def test_pareto_front_in_more_dimensions_keeps_order_and_the_first_duplicate():
    norm = Normaliser(parse_objectives(["acc", "params", "macs", "latency"]),
                      {"params": 10.0, "macs": 10.0, "latency_ms": 10.0})
    rows = [(0.5, 5, 5, 5), (0.9, 9, 9, 9), (0.5, 5, 5, 5), (0.5, 6, 5, 5), (0.4, 1, 9, 9), (0.9, 9, 9, 9)]
    recs = [{"id": i, "acc": a, "params": p, "macs": m, "latency_ms": t} for i, (a, p, m, t) in enumerate(rows)]
    # 3 is dominated by 0 (more params, nothing better); 2 and 5 repeat 0 and 1
    assert [r["id"] for r in pareto_front(recs, norm)] == [0, 1, 4]
    assert [r["id"] for r in pareto_front(recs[::-1], norm)] == [5, 4, 2]
    assert pareto_front([], norm) == []


def test_hypervolume_against_the_fixed_reference():
    assert hypervolume([[0.5, 0.5]]) == pytest.approx(0.25)
    assert hypervolume([[0.5, 0.5], [0.25, 0.75]]) == pytest.approx(0.25 + 0.0625)
    assert hypervolume([[0.0, 0.0, 0.5]]) == pytest.approx(0.5)
    assert hypervolume([[1.0, 0.1]]) == 0.0 and hypervolume([[0.9, 1.0]]) == 0.0 and hypervolume([]) == 0.0
    assert hypervolume([[0.5, 0.5], [1.2, 0.0]]) == pytest.approx(0.25)  # beyond the reference: nothing added
    # boxes 0.5^3 = 0.125 and 1 x 0.25 x 0.25 = 0.0625 overlapping in 0.5 x 0.25 x 0.25 = 0.03125
    assert hypervolume([[0.5, 0.5, 0.5], [0.0, 0.75, 0.75]]) == pytest.approx(0.15625, rel=1e-12)
