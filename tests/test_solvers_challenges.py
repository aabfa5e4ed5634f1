"""Challenge lifecycle: the transition table, clear errors on illegal moves, atomic award in the graph."""

from __future__ import annotations

from datetime import date

import pytest

from graph.exceptions import NotFoundError, ValidationError
from graph.model import Challenge, ChallengeStatus, Milestone, NodeLabel
from matcher.solvers.challenges import TRANSITIONS, ChallengeService, IllegalTransitionError
from matcher.solvers.refs import SolverRef
from tests.solvers_world import build_world

pytestmark = pytest.mark.all_backends

S = ChallengeStatus


def _open(service: ChallengeService, challenge: Challenge) -> None:
    service.create(challenge)
    service.transition(challenge.id, S.PUBLISHED)
    service.transition(challenge.id, S.APPLICATIONS_OPEN)


def test_full_lifecycle_persists_status_applications_and_winners(store):
    challenge = build_world(store).model_copy(update={"milestones": [Milestone(name="中试", due=date(2030, 1, 1))]})
    service = ChallengeService(store)
    _open(service, challenge)
    service.apply("ch-1", SolverRef(label=NodeLabel.TALENT, id="t-second"))
    assert service.applicants("ch-1") == [SolverRef(label=NodeLabel.TALENT, id="t-second")]
    service.award("ch-1", ["t-second"])
    assert service.winners("ch-1") == ["t-second"]
    service.transition("ch-1", S.IN_PROGRESS)
    done = service.complete_milestone("ch-1", "中试")
    assert done.milestones[0].done
    service.transition("ch-1", S.ACCEPTED)
    assert service.get("ch-1").status == S.ACCEPTED
    posted = store.read("MATCH (:Enterprise {id: 'ent-owner'})-[:POSTED]->(c:Challenge) RETURN c.id AS id")
    assert [r["id"] for r in posted] == ["ch-1"]


def test_illegal_transition_says_what_is_allowed_and_changes_nothing(store):
    challenge = build_world(store)
    service = ChallengeService(store)
    service.create(challenge)
    with pytest.raises(IllegalTransitionError, match="from draft to awarded; allowed: published"):
        service.transition("ch-1", S.AWARDED)
    with pytest.raises(IllegalTransitionError):
        service.award("ch-1", ["t-second"])
    assert service.get("ch-1").status == S.DRAFT
    assert service.winners("ch-1") == []


def test_final_statuses_allow_nothing_and_every_status_is_in_the_table():
    assert set(TRANSITIONS) == set(ChallengeStatus)
    assert TRANSITIONS[S.ACCEPTED] == frozenset() and TRANSITIONS[S.FAILED] == frozenset()


def test_applications_only_while_open_and_award_to_unknown_talent_writes_nothing(store):
    challenge = build_world(store)
    service = ChallengeService(store)
    service.create(challenge)
    with pytest.raises(ValidationError, match="not taking applications"):
        service.apply("ch-1", SolverRef(label=NodeLabel.TALENT, id="t-second"))
    service.transition("ch-1", S.PUBLISHED)
    service.transition("ch-1", S.APPLICATIONS_OPEN)
    with pytest.raises(NotFoundError):
        service.award("ch-1", ["t-second", "t-nobody"])
    assert service.get("ch-1").status == S.APPLICATIONS_OPEN
    assert service.winners("ch-1") == []


def test_owner_must_exist(store):
    build_world(store)
    service = ChallengeService(store)
    with pytest.raises(ValidationError, match="owner 'nobody'"):
        service.create(Challenge(id="ch-x", name="x", statement="y", owner_id="nobody"))
    assert store.get_props(NodeLabel.CHALLENGE, "ch-x") is None
