"""Assignment under load limits, team sizes and conflicts: exact (min-cost flow) versus the greedy baseline."""

from __future__ import annotations

import itertools
import random

import pytest

from graph.exceptions import ValidationError
from matcher.solvers.assignment import assign, assign_greedy

pytestmark = pytest.mark.all_backends


def test_load_limit_forces_the_second_choice():
    affinity = {("p1", "A"): 0.9, ("p1", "B"): 0.8, ("p2", "A"): 0.5, ("p2", "B"): 0.7}
    result = assign(affinity, loads={"p1": 1, "p2": 1}, team_sizes={"A": 1, "B": 1})
    assert result.people_of("A") == ["p1"]
    assert result.people_of("B") == ["p2"]  # its first choice p1 is at the load limit
    relaxed = assign(affinity, loads={"p1": 2, "p2": 1}, team_sizes={"A": 1, "B": 1})
    assert relaxed.people_of("B") == ["p1"]


def test_optimal_assignment_beats_greedy_on_a_crossed_case():
    # greedy takes p1->A (0.9) first and leaves p2 the poor B (0.1): 1.0 in all; swapping gives 1.65
    affinity = {("p1", "A"): 0.9, ("p1", "B"): 0.85, ("p2", "A"): 0.8, ("p2", "B"): 0.1}
    loads, sizes = {"p1": 1, "p2": 1}, {"A": 1, "B": 1}
    greedy = assign_greedy(affinity, loads, sizes)
    best = assign(affinity, loads, sizes)
    assert greedy.objective == pytest.approx(1.0)
    assert best.objective == pytest.approx(1.65)
    assert best.people_of("A") == ["p2"] and best.people_of("B") == ["p1"]


def test_conflicts_and_team_sizes_are_respected():
    affinity = {("p1", "A"): 0.9, ("p2", "A"): 0.6, ("p3", "A"): 0.4, ("p1", "B"): 0.2}
    result = assign(affinity, loads={"p1": 2, "p2": 1, "p3": 1}, team_sizes={"A": 2, "B": 1},
                    conflicts=[("p1", "A")])
    assert sorted(result.people_of("A")) == ["p2", "p3"]
    assert result.people_of("B") == ["p1"]
    assert result.skipped_conflicts == [("p1", "A")]
    # a person never fills two slots of the same challenge even with load to spare
    solo = assign({("p1", "A"): 0.9}, loads={"p1": 3}, team_sizes={"A": 3})
    assert solo.people_of("A") == ["p1"] and solo.unfilled == {"A": 2}


def test_bad_limits_are_refused_with_the_culprit_named():
    with pytest.raises(ValidationError, match="p9"):
        assign({("p9", "A"): 0.5}, loads={"p9": -1}, team_sizes={"A": 1})


def _brute_force(affinity, loads, sizes):
    pairs = list(affinity)
    best = 0.0
    for r in range(len(pairs) + 1):
        for chosen in itertools.combinations(pairs, r):
            if all(sum(1 for p, _ in chosen if p == x) <= loads[x] for x in loads) and all(
                sum(1 for _, c in chosen if c == y) <= sizes[y] for y in sizes
            ):
                best = max(best, sum(affinity[k] for k in chosen))
    return best


def test_min_cost_flow_matches_brute_force_on_small_random_cases():
    rng = random.Random(3)
    for _ in range(25):
        people, challenges = ["a", "b", "c"], ["X", "Y", "Z"]
        affinity = {(p, c): round(rng.random(), 3) for p in people for c in challenges if rng.random() < 0.7}
        loads = {p: rng.randint(0, 2) for p in people}
        sizes = {c: rng.randint(0, 2) for c in challenges}
        result = assign(affinity, loads, sizes)
        assert result.objective == pytest.approx(_brute_force(affinity, loads, sizes), abs=1e-5)
        assert result.objective >= assign_greedy(affinity, loads, sizes).objective - 1e-9


def test_challenges_from_the_graph_respect_conflicts_and_loads(store):
    from graph.model import Challenge, NodeLabel
    from matcher.solvers.assignment import assign_challenges
    from matcher.solvers.coi import ConflictPolicy
    from matcher.solvers.ranking import SolverIndex
    from tests.solvers_world import build_world

    owned = build_world(store)  # owned by the enterprise 王磊 (t-best) holds shares in
    public = Challenge(id="ch-2", name="尼龙66耐黄变热稳定技术", statement="尼龙66树脂耐黄变与热稳定",
                       owner_id="dept-kj")
    index = SolverIndex.build(store, scorer="lexical", labels=(NodeLabel.TALENT,))
    plan = assign_challenges(store, [owned, public], index=index, policy=ConflictPolicy(reference_year=2026))
    assert plan.optimal.people_of("ch-2") == ["Talent:t-best"]
    assert plan.optimal.people_of("ch-1") == ["Talent:t-second"]  # t-best is conflicted and at his load limit
    assert any(r.startswith("Talent:t-best (financial_tie") for r in plan.conflicts["ch-1"])
    assert plan.gain_over_greedy >= 0
