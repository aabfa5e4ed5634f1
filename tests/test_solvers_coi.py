"""回避 rules: each one removes the candidate it should, with a reason, and is configurable."""

from __future__ import annotations

import pytest

from graph.model import NodeLabel
from matcher.solvers.coi import ConflictPolicy, check_conflicts
from matcher.solvers.ranking import SolverIndex, rank_solvers
from matcher.solvers.refs import SolverRef
from tests.solvers_world import build_world

pytestmark = pytest.mark.all_backends

T = NodeLabel.TALENT
POLICY = ConflictPolicy(window_years=3, reference_year=2026)


def _talent(i: str) -> SolverRef:
    return SolverRef(label=T, id=i)


def test_conflict_removes_the_otherwise_best_solver(store):
    challenge = build_world(store)
    index = SolverIndex.build(store, scorer="lexical", labels=(T,))
    free = rank_solvers(store, challenge, k=3, index=index, labels=(T,), policy=ConflictPolicy(rules=[]))
    assert free.matches[0].solver.id == "t-best"

    ranked = rank_solvers(store, challenge, k=3, index=index, labels=(T,), policy=POLICY)
    assert "t-best" not in [m.solver.id for m in ranked.matches]
    removed = {m.solver.id: m for m in ranked.removed}
    assert removed["t-best"].conflicts[0].rule == "financial_tie"
    assert "持有发榜方股份" in removed["t-best"].conflicts[0].reason
    assert ranked.matches[0].solver.id == "t-second"
    # the explanation names the works and the track record that put it there
    assert ranked.matches[0].works[0].work_id == "Achievement:a-second"
    assert any("成果转化1项" in r for r in ranked.matches[0].track_record)
    assert ranked.matches[0].requirements == {"lead_industrialised": True}


def test_each_rule_finds_its_own_case(store):
    challenge = build_world(store)
    ids = ["t-best", "t-second", "t-employee", "t-coinventor", "t-collab-new", "t-collab-old", "t-third"]
    found = check_conflicts(store, challenge, [_talent(i) for i in ids], POLICY)
    rules = {key.split(":", 1)[1]: {c.rule for c in cs} for key, cs in found.items()}
    assert rules == {
        "t-best": {"financial_tie"},
        "t-employee": {"same_organisation"},
        "t-coinventor": {"co_inventor"},
        "t-collab-new": {"recent_collaboration"},
    }


def test_collaboration_window_and_rule_choice_are_configurable(store):
    challenge = build_world(store)
    cands = [_talent("t-collab-old"), _talent("t-best")]
    wide = check_conflicts(store, challenge, cands, ConflictPolicy(window_years=15, reference_year=2026))
    assert "Talent:t-collab-old" in wide
    only_collab = check_conflicts(store, challenge, cands, ConflictPolicy(rules=["recent_collaboration"],
                                                                          window_years=15, reference_year=2026))
    assert "Talent:t-best" not in only_collab


def test_candidate_that_is_the_owner_itself_is_removed(store):
    challenge = build_world(store)
    found = check_conflicts(store, challenge, [SolverRef(label=NodeLabel.ENTERPRISE, id="ent-owner")], POLICY)
    assert found["Enterprise:ent-owner"][0].rule == "same_organisation"


def test_policy_from_settings_chooses_rules_and_window(store, monkeypatch):
    from api.config import load_settings

    challenge = build_world(store)
    monkeypatch.setenv("TECHMATCH_COI_RULES", "recent_collaboration")
    monkeypatch.setenv("TECHMATCH_COI_WINDOW_YEARS", "50")
    policy = ConflictPolicy.from_settings(load_settings())  # what the service and the CLI do at start
    found = check_conflicts(store, challenge, [_talent("t-collab-old"), _talent("t-best")], policy)
    # the 2015 collaboration is inside a 50-year window; the shareholding rule is switched off
    assert set(found) == {"Talent:t-collab-old"}
