"""The bureau's views read maintained results: the solvers' index kept on disk and the needs' words and key terms
kept by text. They answer what recomputing would answer, are reused while their inputs hold, and follow every
change of a work, an ownership or a need's text (on the real graph)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest

from bureau.topics import analyse_need_texts, curate_topics, tfidf_representation
from graph.model import Achievement, Need, Talent
from ingest.text import keywords, tokenize
from matcher.index import words as words_mod
from matcher.index.words import StoredWords
from matcher.solvers import stored
from matcher.solvers import stored_rankings as rankings_mod
from matcher.solvers.expertise import ExpertiseIndex
from matcher.solvers.ranking import SolverIndex, rank_solvers
from matcher.solvers.stored_rankings import StoredRankings
from tests.solvers_world import build_world, invented
from tests.test_bureau_gapmap import NYLON_NEEDS, chain_graph  # noqa: F401 - the nylon chain's fixture

pytestmark = pytest.mark.all_backends
QUERIES = ("双螺杆挤出装备", "尼龙66耐黄变热稳定", "注塑成型工艺")


@pytest.fixture()
def lexical():
    stored._LOADED.clear()
    yield
    stored._LOADED.clear()


@pytest.fixture()
def fits(monkeypatch) -> list[int]:
    """How many times an expertise index is fitted on works (every text analysed)."""
    calls: list[int] = []
    original = ExpertiseIndex.fit

    def counted(self, works, **kwargs):  # noqa: ANN001, ANN003, ANN202
        calls.append(len(works))
        return original(self, works, **kwargs)

    monkeypatch.setattr(ExpertiseIndex, "fit", counted)
    return calls


def _ranked(store, index: SolverIndex) -> list[list[tuple[str, float, list[str]]]]:  # noqa: ANN001
    return [[(m.solver.key, round(m.score, 5), [w.work_id for w in m.works])
             for m in rank_solvers(store, q, k=5, index=index).matches] for q in QUERIES]


def _fresh(store, root: Path) -> SolverIndex:  # noqa: ANN001
    stored._LOADED.clear()  # as a new process would: from the files
    return stored.stored_solver_index(store, "lexical", root)


def test_the_stored_solver_index_ranks_as_a_fresh_build_and_is_read_not_rebuilt(store, lexical, fits, tmp_path):
    build_world(store)
    root = tmp_path / "solvers"
    first = _fresh(store, root)
    assert len(fits) == 1 and (root / "lexical" / "manifest.json").is_file()
    again = _fresh(store, root)
    assert len(fits) == 1  # read from the files: no work analysed again
    built = SolverIndex.build(store, scorer="lexical")
    assert _ranked(store, again) == _ranked(store, built) == _ranked(store, first)


def test_a_changed_work_text_or_ownership_rebuilds_the_stored_solver_index(store, lexical, fits, tmp_path):
    build_world(store)
    root = tmp_path / "solvers"
    _fresh(store, root)
    # same counts, another text: only the content hash tells
    store.upsert_nodes([Achievement(id="a-third", name="双螺杆挤出装备的注塑成型工艺", description="挤出 注塑")])
    changed = _fresh(store, root)
    assert len(fits) == 2
    store.write_batch([Talent(id="t-new", name="新人")], [invented("t-new", "a-third")])
    owned = _fresh(store, root)
    assert len(fits) == 3 and "Talent:t-new" in owned.solvers and "Talent:t-new" not in changed.solvers
    assert _ranked(store, owned) == _ranked(store, SolverIndex.build(store, scorer="lexical"))
    assert len(list((root / "lexical").glob("g-*"))) == 1  # older generations removed


def test_need_words_are_cut_once_and_again_when_the_text_changes(tmp_path, monkeypatch):
    analysed: list[str] = []
    original = words_mod.analyse

    def counted(text: str) -> words_mod.Analysed:
        analysed.append(text)
        return original(text)

    monkeypatch.setattr(words_mod, "analyse", counted)
    texts = ["尼龙66切片黄变，寻求耐高温热稳定剂", "高压开关柜局部放电在线监测"]
    first = StoredWords(tmp_path).of(texts)
    assert [list(a.words) for a in first] == [tokenize(t) for t in texts]
    assert [list(a.keywords[:8]) for a in first] == [keywords(t, k=8) for t in texts]
    words_mod._MEMO.clear()  # a new process: from the file
    assert StoredWords(tmp_path).of(texts) == first and len(analysed) == 2
    edited = "高压开关柜局部放电在线监测与定位"
    StoredWords(tmp_path).of([texts[0], edited])
    assert analysed[2:] == [edited]


def test_topics_from_the_kept_words_are_the_topics_from_cutting_every_text(chain_graph, lexical, tmp_path):  # noqa: F811
    store = chain_graph
    kept = StoredWords(tmp_path / "words")
    assert analyse_need_texts(store, kept) == len(NYLON_NEEDS) + 1

    def topics(words: StoredWords, representation=None) -> list[dict]:  # noqa: ANN001
        return [asdict(t) for t in curate_topics(store, solver_ranker=lambda _t, _k: [], words=words,
                                                 representation=representation, data_dir=tmp_path)]

    cut = topics(StoredWords(tmp_path / "nothing-kept"), tfidf_representation)
    assert topics(kept) == cut
    # a need's text edited: its key terms follow
    store.upsert_nodes([Need(id="n4", name="己二胺加氢催化剂失活再生", enterprise_id="e1")])
    after = topics(kept)
    n4 = next(t for t in after if "n4" in t["need_ids"])
    assert "催化剂" in "".join(n4["keywords"]) and after != cut
    assert after == topics(StoredWords(tmp_path / "other"), tfidf_representation)


@pytest.fixture()
def rankings(monkeypatch) -> list[str]:
    """The statements whose solvers are ranked (not read from the kept rankings)."""
    calls: list[str] = []
    original = rankings_mod.rank_solvers

    def counted(store, text, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        calls.append(text)
        return original(store, text, *args, **kwargs)

    monkeypatch.setattr(rankings_mod, "rank_solvers", counted)
    return calls


def test_topic_solvers_are_kept_read_while_unchanged_and_ranked_again_when_an_input_changes(
        chain_graph, lexical, rankings, tmp_path):  # noqa: F811
    store = chain_graph
    words = StoredWords(tmp_path / "words")

    def view() -> list[dict]:
        rankings_mod._MEMO.clear()  # a new process: the kept rankings read from the file
        stored._LOADED.clear()
        ranker = StoredRankings(store, tmp_path)
        return [asdict(t) for t in curate_topics(store, solver_ranker=ranker, words=words, data_dir=tmp_path)]

    def ranked_now() -> list[dict]:  # every topic ranked on an index built from the graph now
        index = SolverIndex.build(store, scorer="lexical")
        return [asdict(t) for t in curate_topics(
            store, solver_ranker=lambda s, k: rankings_mod.solver_rows(store, s, k, index), words=words,
            data_dir=tmp_path)]

    first = view()
    statements = {t["statement"] for t in first}
    assert sorted(rankings) == sorted(statements) and len(statements) >= 2
    assert (tmp_path / "index" / "rankings" / "lexical.json").stat().st_mode & 0o777 == 0o600
    nylon = next(t for t in first if "n1" in t["need_ids"])
    assert [s["id"] for s in nylon["solvers"]] == ["t1"]  # the only solver in the graph, on a distillation work
    del rankings[:]
    assert view() == first == ranked_now()
    assert len(rankings) == len(statements)  # ranked_now only: the view read every topic's solvers

    # a new achievement credited to a solver: every topic ranked again, the nylon topic's evidence follows
    del rankings[:]
    store.write_batch([Achievement(id="a9", name="尼龙66切片热稳定剂配方", description="抑制熔融黄变")],
                      [invented("t1", "a9")])
    credited = view()
    assert sorted(rankings) == sorted(statements)
    nylon = next(t for t in credited if "n1" in t["need_ids"])
    assert "尼龙66切片热稳定剂配方" in nylon["solvers"][0]["explanation"] and credited != first
    assert credited == ranked_now()

    # a need's text changed: only the topic whose statement changed is ranked again
    del rankings[:]
    store.upsert_nodes([Need(id="n4", name="己二胺精馏塔能耗高，寻求节能精馏与热泵工艺", enterprise_id="e1")])
    edited = view()
    changed = {t["statement"] for t in edited} - statements
    assert changed and rankings == sorted(changed) and len(rankings) < len(statements)
    assert edited == ranked_now()
    del rankings[:]
    assert view() == edited and rankings == []


def test_a_chains_clustering_is_kept_and_redone_only_when_its_needs_texts_change(
        chain_graph, lexical, monkeypatch, tmp_path):  # noqa: F811
    from bureau import topics as topics_mod
    from bureau.stored_clusters import StoredClusters

    store = chain_graph
    words = StoredWords(tmp_path / "words")
    calls: list[int] = []
    original = topics_mod.cluster_texts

    def counted(texts, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        calls.append(len(texts))
        return original(texts, *args, **kwargs)

    monkeypatch.setattr(topics_mod, "cluster_texts", counted)

    def view(path: Path) -> list[dict]:  # a new process each time: the kept clusterings read from the file
        return [asdict(t) for t in curate_topics(store, solver_ranker=lambda _t, _k: [], words=words,
                                                 clusters=StoredClusters(path))]

    kept = tmp_path / "clusters.json"
    first = view(kept)
    assert len(calls) == 1 and len(first) >= 2  # one chain with unmet needs: clustered once
    assert kept.stat().st_mode & 0o777 == 0o600
    del calls[:]
    assert view(kept) == first and calls == []  # read, not clustered again
    # a need's text edited: its chain is clustered again, and the topics are those clustering from scratch gives
    store.upsert_nodes([Need(id="n4", name="己二胺精馏塔能耗高，寻求节能精馏与热泵工艺", enterprise_id="e1")])
    edited = view(kept)
    assert len(calls) == 1 and edited != first
    del calls[:]
    assert edited == view(tmp_path / "nothing-kept.json") and len(calls) == 1
    del calls[:]
    assert view(kept) == edited and calls == []
