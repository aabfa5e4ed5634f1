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


class CountingEncoder:
    """A real encoder that counts the passages it encodes."""

    def __init__(self, inner) -> None:  # noqa: ANN001
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.passages = 0

    def embed_queries(self, texts):  # noqa: ANN001, ANN201
        return self.inner.embed_queries(texts)

    def embed_passages(self, texts):  # noqa: ANN001, ANN201
        self.passages += len(texts)
        return self.inner.embed_passages(texts)


def test_the_solvers_read_the_engines_rows_and_show_the_words_an_achievements_match_shows(store, tmp_path):
    from graph.model import Need
    from matcher.embedders.registry import make_embedder
    from matcher.engine import MatchEngine
    from matcher.solvers.ranking import SolverIndex

    build_world(store)
    counting = CountingEncoder(make_embedder("use-m3"))
    settings = MatcherSettings(data_dir=tmp_path)
    MatchEngine.from_store(store, settings=settings, embedder=counting, extra_embedders=[]).close()
    assert counting.passages > 0
    counting.passages = 0
    index = SolverIndex.build(store, scorer="combined", settings=settings, encoder=counting)
    works = index.expertise.works
    # an achievement's text was embedded for the engine's corpus: only the other works (projects) are encoded
    others = {w.text for w in works if not w.id.startswith("Achievement:")}
    assert any(w.id.startswith("Achievement:") for w in works)
    assert counting.passages == len(others)

    query = "尼龙66树脂加工耐黄变热稳定技术"
    ranking = rank_solvers(store, query, k=3, labels=(NodeLabel.TALENT,), index=index)
    evidence = {w.work_id: w.matched_terms for m in ranking.matches for w in m.works}
    engine = MatchEngine.from_store(store, settings=settings, embedder=counting, extra_embedders=[])
    try:
        matches = engine.match_need(Need(id="probe", name=query), k=10, include_weak=True).matches
    finally:
        engine.close()
    shown = {m.candidate_id: m.explanation.shared_terms for m in matches}
    both = [w for w in evidence if w.startswith("Achievement:") and w.split(":", 1)[1] in shown]
    assert both and all(evidence[w] for w in both)
    for work in both:
        assert set(evidence[work]) == set(shown[work.split(":", 1)[1]])
