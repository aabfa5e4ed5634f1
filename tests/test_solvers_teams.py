"""Team assembly: teams cover every required competence, draw on earlier ties and pick a qualified lead."""

from __future__ import annotations

import pytest

from graph.model import NodeLabel
from matcher.solvers.coi import ConflictPolicy
from matcher.solvers.ranking import SolverIndex
from matcher.solvers.teams import assemble_teams
from tests.solvers_world import build_world, team_challenge

pytestmark = pytest.mark.all_backends


def test_best_team_covers_all_competences_with_an_industrialised_lead(store):
    build_world(store)
    challenge = team_challenge()
    index = SolverIndex.build(store, scorer="lexical", labels=(NodeLabel.TALENT,))
    teams, removed = assemble_teams(store, challenge, index=index, n_teams=3,
                                    policy=ConflictPolicy(reference_year=2026))
    best = teams[0]
    assert best.covers_all
    assert {c.competence: c.member for c in best.covers} == {
        "复合材料配方": "t-mat", "注塑成型工艺": "t-proc", "挤出装备设计": "t-equip"}
    # 刘工艺 transferred an achievement; the others did not
    assert best.lead.id == "t-proc" and best.requirements["lead_industrialised"]
    # 黄装备 works for a 平顶山 enterprise: the local partner requirement is met
    assert best.requirements["local_partner"]
    kinds = {(lk.kind, frozenset((lk.a, lk.b))) for lk in best.links}
    assert ("co_inventor", frozenset(("t-mat", "t-proc"))) in kinds
    assert ("same_platform", frozenset(("t-equip", "t-proc"))) in kinds
    assert best.score >= max(t.score for t in teams)
    assert removed == {}


def test_conflicted_talent_is_not_put_in_a_team(store):
    build_world(store)
    # the owner here is the enterprise 黄装备 works for: he must be left out
    challenge = team_challenge().model_copy(update={"owner_id": "ent-local"})
    index = SolverIndex.build(store, scorer="lexical", labels=(NodeLabel.TALENT,))
    teams, removed = assemble_teams(store, challenge, index=index, policy=ConflictPolicy(reference_year=2026))
    assert "Talent:t-equip" in removed
    assert all("t-equip" not in {m.id for m in t.members} for t in teams)


def test_team_is_filled_up_to_the_challenges_minimum_size(store):
    from graph.model import ChallengeRequirement

    build_world(store)
    base = team_challenge()
    challenge = base.model_copy(update={"requirements": [*base.requirements,
                                                         ChallengeRequirement(kind="min_team_size", value="4")]})
    index = SolverIndex.build(store, scorer="lexical", labels=(NodeLabel.TALENT,))
    teams, _ = assemble_teams(store, challenge, index=index, policy=ConflictPolicy(reference_year=2026))
    best = teams[0]
    assert len(best.members) >= 4 and best.requirements["min_team_size"]
    # the competences are still covered by the same people; the fourth member is an addition
    assert {c.member for c in best.covers} == {"t-mat", "t-proc", "t-equip"}
    assert len({m.id for m in best.members}) == len(best.members)


def test_a_minimum_size_that_cannot_be_reached_is_reported_unmet(store):
    import pytest

    from graph.exceptions import ValidationError
    from graph.model import ChallengeRequirement

    build_world(store)
    base = team_challenge()
    big = base.model_copy(update={"requirements": [ChallengeRequirement(kind="min_team_size", value="50")]})
    index = SolverIndex.build(store, scorer="lexical", labels=(NodeLabel.TALENT,))
    teams, _ = assemble_teams(store, big, index=index, policy=ConflictPolicy(reference_year=2026))
    assert teams and not teams[0].requirements["min_team_size"]
    bad = base.model_copy(update={"requirements": [ChallengeRequirement(kind="min_team_size", value="三人")]})
    with pytest.raises(ValidationError, match="团队最少人数"):
        bad.min_team_size()
