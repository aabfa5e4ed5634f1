"""Solver ranking from the graph: explanations name works and matched terms; the cached index follows edits."""

from __future__ import annotations

import pytest

from graph.model import Achievement, NodeLabel, Talent
from matcher.settings import MatcherSettings
from matcher.solvers.ranking import cached_solver_index, rank_solvers
from tests.solvers_world import build_world, invented

pytestmark = pytest.mark.all_backends


def test_text_query_is_explained_by_works_and_terms(store, tmp_path):
    lexical = MatcherSettings(data_dir=tmp_path, embedder="none")  # lexical only: no model needed for this check
    build_world(store)
    ranking = rank_solvers(store, "双螺杆挤出装备", k=2, labels=(NodeLabel.TALENT,),
                           index=cached_solver_index(store, settings=lexical))
    top = ranking.matches[0]
    assert top.solver.id == "t-equip"
    assert top.works[0].title == "双螺杆挤出装备设计与制造"
    assert "双螺杆" in "".join(top.works[0].matched_terms)
    assert "黄装备" in top.explanation and "代表成果" in top.explanation

    before = cached_solver_index(store, settings=lexical)
    assert cached_solver_index(store, settings=lexical) is before
    store.write_batch([Talent(id="t-new", name="新人"), Achievement(id="a-new", name="挤出装备新设计")],
                      [invented("t-new", "a-new")])
    after = cached_solver_index(store, settings=lexical)
    assert after is not before and "Talent:t-new" in after.solvers
