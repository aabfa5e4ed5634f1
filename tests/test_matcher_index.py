"""The engine's persisted indexes: built once, memory-mapped at start, private on disk, updated by edits
without per-query work, consistent for readers while a writer swaps, shared between processes."""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from graph.model import Achievement, Need
from graph.store import GraphStore
from matcher.embedders.base import Embedder
from matcher.embedders.registry import make_embedder
from matcher.engine import MatchEngine
from matcher.index.channels import lexical_specs
from matcher.index.files import write_atomic
from matcher.index.job import embed_missing
from matcher.index.vectors import VectorStore
from matcher.settings import MatcherSettings
from tests.matcher_world import NEED_PA66, background_achievements, build_graph

TEXTS = [
    "尼龙66用高效复合热稳定剂，改善高温加工黄变",
    "头孢类原料药酶法合成工艺，收率高杂质少",
    "LED恒流驱动电源芯片，宽电压输入过温保护",
    "焦炉煤气变压吸附制氢提纯，用于加氢站",
    "高强耐磨钢板控轧控冷热处理工艺",
    "井矿盐卤水膜法净化，去除钙镁离子",
]
QUERIES = ["尼龙 热稳定剂 黄变", "原料药 合成", "煤气 制氢", "耐磨钢板 热处理"]


class Counting:
    """A real encoder that counts the passages it encodes."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name, self.dim = inner.name, inner.dim
        self.vector_key = getattr(inner, "vector_key", inner.name)
        self.passages = 0
        self.queries = 0
        self.gate: threading.Event | None = None

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        self.queries += len(texts)
        return self.inner.embed_queries(texts)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if self.gate is not None:
            self.gate.wait(60)
        self.passages += len(texts)
        return self.inner.embed_passages(texts)


class CountingRebuildable(Counting):
    """A counting encoder a worker process can rebuild (from the real encoder's spec)."""

    @property
    def spec(self) -> str:
        return self.inner.spec  # type: ignore[attr-defined]


class CountingStorable(Counting):
    """A counting encoder whose query vectors the embedding job may store (the real encoder's query key)."""

    @property
    def query_key(self) -> str:
        return self.inner.query_key  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def use_m3() -> Embedder:
    emb = make_embedder("use-m3")
    assert emb is not None
    return emb


def test_lexical_channels_score_as_okapi_bm25_and_scikit_learns_tfidf_cosine() -> None:
    from collections import Counter

    from sklearn.feature_extraction.text import TfidfVectorizer

    words, chars = lexical_specs()
    index = words.build(TEXTS)
    docs = [Counter(words.analyzer(t)) for t in TEXTS]
    avgdl = sum(sum(d.values()) for d in docs) / len(docs)
    for q in QUERIES:
        expected = np.zeros(len(TEXTS))
        for term in dict.fromkeys(words.analyzer(q)):
            df = sum(term in d for d in docs)
            idf = np.log1p((len(docs) - df + 0.5) / (df + 0.5))
            for i, d in enumerate(docs):
                tf = d[term]
                expected[i] += idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * sum(d.values()) / avgdl))
        np.testing.assert_allclose(index.scores(q), expected, rtol=1e-5, atol=1e-6)
    tfidf = TfidfVectorizer(analyzer=chars.analyzer, sublinear_tf=True)
    matrix = tfidf.fit_transform(TEXTS)
    index = chars.build(TEXTS)
    for q in QUERIES:
        np.testing.assert_allclose(index.scores(q), (matrix @ tfidf.transform([q]).T).toarray().ravel(),
                                   rtol=1e-5, atol=1e-6)


def test_an_edit_goes_to_the_delta_and_is_found_without_reweighting_the_base() -> None:
    spec = lexical_specs()[1]
    base = spec.build(TEXTS)
    edited = base.with_changes(["井矿盐卤水净化后用于制氢的新工艺"], [TEXTS[5]])
    assert edited.base is base.base  # the built matrix is shared, not copied or re-weighted
    assert len(edited.delta) == 1 and edited.n_live == len(TEXTS)
    scores = edited.scores("卤水 制氢")
    assert int(np.argmax(scores)) == len(TEXTS)  # the new row (position 6) comes first
    # compaction (a new generation) keeps the order of the live documents' scores
    live = np.r_[0:5, 6]
    compact = edited.compacted(live)
    assert np.argsort(-compact.scores("卤水 制氢"))[0] == int(np.argsort(-edited.scores("卤水 制氢")[live])[0])


def test_two_stage_dense_scoring_gives_the_exact_top_and_scores_for_every_row() -> None:
    from matcher.index.dense import CoarseRows, RowBlock, exact_share

    # rows like an encoder's: a few shared topics plus noise, unit length
    rng = np.random.default_rng(3)
    topics = rng.standard_normal((40, 96)).astype(np.float32)
    rows = topics[rng.integers(0, 40, 12_000)] + 0.6 * rng.standard_normal((12_000, 96)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    exact, staged = RowBlock.of(rows, coarse=False), RowBlock.of(rows, coarse=True)
    assert exact.coarse is None and isinstance(staged.coarse, CoarseRows) and staged.scoring == "two-stage"
    assert exact_share(len(rows)) < len(rows)  # the test exercises the estimate for the rest
    for q in rows[rng.choice(len(rows), 20, replace=False)]:
        a, b = exact.dot(q), staged.dot(q)
        assert b.shape == a.shape
        top = np.argsort(-a)[:10]
        np.testing.assert_allclose(b[top], a[top], rtol=1e-5, atol=1e-6)  # what can be shown is exact
        assert set(np.argsort(-b)[:10]) == set(top)
    # a large block's rows as stored (half precision): the same top, scores within the rounding of the rows
    from matcher.index.dense import ROWS_ON_DISK

    stored = RowBlock.of(rows.astype(ROWS_ON_DISK), coarse=staged.coarse)
    for q in rows[rng.choice(len(rows), 20, replace=False)]:
        a, c = exact.dot(q), stored.dot(q)
        top = np.argsort(-a)[:10]
        assert c.dtype == np.float32 and set(np.argsort(-c)[:10]) == set(top)
        np.testing.assert_allclose(c[top], a[top], atol=2e-3)
    # rows indexed after the block are scored exactly too
    grown = staged.appended(rows[:5])
    np.testing.assert_allclose(grown.dot(rows[0])[-5:], rows[:5] @ rows[0], rtol=1e-5, atol=1e-6)


def test_atomic_write_leaves_the_old_file_whole_when_writing_fails(tmp_path: Path) -> None:
    target = tmp_path / "f.bin"
    write_atomic(target, lambda fh: fh.write(b"old"))

    def fail(fh) -> None:  # noqa: ANN001
        fh.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        write_atomic(target, fail)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_embedding_job_resumes_where_it_stopped(tmp_path: Path, use_m3: Embedder) -> None:
    from matcher.index.dense import FullVectors

    counting = Counting(use_m3)
    store = VectorStore(tmp_path, counting.vector_key, counting.dim)
    digests = [f"{i:040x}" for i in range(len(TEXTS))]
    stop = threading.Event()

    def stop_after_first(progress) -> None:  # noqa: ANN001
        stop.set()

    assert not embed_missing(store, FullVectors(counting), digests, lambda i: TEXTS[i], stop, stop_after_first,
                             chunk=2)
    assert counting.passages == 2
    assert embed_missing(store, FullVectors(counting), digests, lambda i: TEXTS[i], threading.Event(), chunk=2)
    assert counting.passages == len(TEXTS)  # the first chunk was not encoded again
    np.testing.assert_allclose(store.get(digests), use_m3.embed_passages(TEXTS), atol=1e-5)


def test_embedding_job_in_worker_processes_stores_the_rows_the_encoder_makes_in_process(
    tmp_path: Path, use_m3: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from matcher.index import job
    from matcher.index.dense import FullVectors

    monkeypatch.setattr(job, "MIN_PASSAGES", 1)  # a job this small would otherwise stay in process
    counting = CountingRebuildable(use_m3)
    texts = TEXTS * 3 + [t[::-1] for t in TEXTS]  # more pieces than workers, texts seen twice encoded once
    digests = [f"{abs(hash(t)):040x}" for t in texts]
    store = VectorStore(tmp_path, counting.vector_key, counting.dim)
    seen = []
    assert embed_missing(store, FullVectors(counting), digests, lambda i: texts[i], threading.Event(),
                         lambda p: seen.append(p.done), chunk=8, workers=2)
    assert counting.passages == 0  # every row came from the workers
    assert seen[-1] == len(set(texts))
    np.testing.assert_allclose(store.get(digests), use_m3.embed_passages(texts), atol=1e-5)  # batch shapes differ


def test_an_encoder_a_worker_cannot_rebuild_is_encoded_in_process(tmp_path: Path, use_m3: Embedder,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from matcher.index import job
    from matcher.index.dense import FullVectors
    from matcher.index.encoder_pool import PoolableEmbedder

    monkeypatch.setattr(job, "MIN_PASSAGES", 1)
    counting = Counting(use_m3)
    assert isinstance(use_m3, PoolableEmbedder) and not isinstance(counting, PoolableEmbedder)
    store = VectorStore(tmp_path, counting.vector_key, counting.dim)
    digests = [f"{i:040x}" for i in range(len(TEXTS))]
    assert embed_missing(store, FullVectors(counting), digests, lambda i: TEXTS[i], workers=2)
    assert counting.passages == len(TEXTS)


@pytest.fixture()
def world(store: GraphStore, shared_dir: Path) -> GraphStore:
    build_graph(store, background_achievements(shared_dir, 40))
    return store


def test_restart_maps_the_persisted_indexes_without_rebuilding_or_reembedding(
    world: GraphStore, tmp_path: Path, use_m3: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from matcher.index import dense, generation

    for module in (dense, generation):  # the small world's rows count as a large block: projected and persisted
        monkeypatch.setattr(module, "COARSE_FROM", 10)
    settings = MatcherSettings(data_dir=tmp_path)
    first = Counting(use_m3)
    engine = MatchEngine.from_store(world, settings=settings, embedder=first, extra_embedders=[])
    before = engine.match_need(NEED_PA66.id, k=3, include_weak=True)
    assert first.passages > 0 and "dense" in before.channels
    engine.close()
    index_dir = tmp_path / "index"
    for path in index_dir.rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path

    from matcher.index import lexical

    real_build = lexical.LexicalIndex.build.__func__  # type: ignore[attr-defined]

    def no_build(cls, name, analyzer, scheme, texts, progress=None):  # noqa: ANN001, ANN202
        if len(texts):
            raise AssertionError("a restart must not rebuild a lexical index")
        return real_build(cls, name, analyzer, scheme, texts, progress)

    monkeypatch.setattr(lexical.LexicalIndex, "build", classmethod(no_build))
    second = Counting(use_m3)
    again = MatchEngine.from_store(world, settings=settings, embedder=second, extra_embedders=[])
    try:
        assert second.passages == 0
        base = again.achievements.lexical[0].base
        rows = again.achievements.dense[0].rows
        assert isinstance(base.rows, np.memmap) and isinstance(rows.base, np.memmap)
        assert rows.coarse is not None and isinstance(rows.coarse.rows, np.memmap)  # the projection is not refitted
        assert rows.base.dtype == np.float16, "a large block's rows are stored in half precision"
        after = again.match_need(NEED_PA66.id, k=3, include_weak=True)
        assert [m.candidate_id for m in after.matches] == [m.candidate_id for m in before.matches]
    finally:
        again.close()


def test_a_posted_need_is_answered_from_its_query_vector_stored_ahead_and_free_text_is_encoded(
    world: GraphStore, tmp_path: Path, use_m3: Embedder
) -> None:
    settings = MatcherSettings(data_dir=tmp_path)
    first = CountingStorable(use_m3)
    engine = MatchEngine.from_store(world, settings=settings, embedder=first, extra_embedders=[])
    try:
        assert engine.keeper.embed_need_queries()  # what the embedding job does after the passages
        assert not engine.keeper.need_queries_missing()
        n_needs = len(engine.snapshot.needs)
        assert first.queries >= n_needs > 0
        encoded = engine.match_need(NEED_PA66.id, k=3, include_weak=True)
    finally:
        engine.close()
    second = CountingStorable(use_m3)
    again = MatchEngine.from_store(world, settings=settings, embedder=second, extra_embedders=[])
    try:
        stored = again.match_need(NEED_PA66.id, k=3, include_weak=True)
        assert second.queries == 0 and "dense" in stored.channels  # nothing encoded on the request path
        assert [(m.candidate_id, m.confidence) for m in stored.matches] == [
            (m.candidate_id, m.confidence) for m in encoded.matches]
        again.match_need(Need(id="n-unposted", name="卤水提锂", description="从井矿盐卤水中提取碳酸锂"), k=3,
                         include_weak=True)
        assert second.queries == 1  # a text no need holds is encoded as before
    finally:
        again.close()


def test_a_need_posted_while_serving_gets_its_query_vector_stored_in_the_background(
    world: GraphStore, tmp_path: Path, use_m3: Embedder
) -> None:
    settings = MatcherSettings(data_dir=tmp_path)
    counting = CountingStorable(use_m3)
    engine = MatchEngine.from_store(world, settings=settings, embedder=counting, extra_embedders=[])
    try:
        assert engine.keeper.embed_need_queries()
        posted = Need(id="n-posted-live", name="尼龙66切片增韧",
                      description="尼龙66注塑件低温冲击强度不足，求增韧改性配方")
        engine.reindex_need(posted)  # what the service does once the need is written to the graph
        deadline = time.monotonic() + 60
        while engine.keeper.need_queries_missing() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not engine.keeper.need_queries_missing(), "the embedding job stored the posted need's query vector"
        before = counting.queries
        result = engine.match_need(posted.id, k=3, include_weak=True)
        assert counting.queries == before and "dense" in result.channels  # its view encodes nothing
    finally:
        engine.close()


def test_needs_matched_in_a_batch_read_the_stored_query_vectors_and_match_as_each_alone(
    world: GraphStore, tmp_path: Path, use_m3: Embedder
) -> None:
    settings = MatcherSettings(data_dir=tmp_path)
    first = CountingStorable(use_m3)
    engine = MatchEngine.from_store(world, settings=settings, embedder=first, extra_embedders=[])
    try:
        assert engine.keeper.embed_need_queries()
    finally:
        engine.close()
    unposted = [Need(id="n-lithium", name="卤水提锂", description="从井矿盐卤水中提取碳酸锂"),
                Need(id="n-hydrogen", name="焦炉煤气制氢", description="焦炉煤气变压吸附提纯氢气，供加氢站")]
    counting = CountingStorable(use_m3)
    again = MatchEngine.from_store(world, settings=settings, embedder=counting, extra_embedders=[])
    try:
        together = again.match_needs([NEED_PA66.id, *unposted], k=3, include_weak=True)
        assert counting.queries == len(unposted)  # the posted need's vector read from the store, not encoded
        assert "dense" in together[NEED_PA66.id].channels
        for need in (NEED_PA66.id, *unposted):  # the very results a lone match gives, dense scores included
            alone = again.match_need(need, k=3, include_weak=True, explain=False)
            assert together[need if isinstance(need, str) else need.id] == alone
    finally:
        again.close()


def test_a_restart_reindexes_and_embeds_only_what_changed_in_the_graph(
    world: GraphStore, tmp_path: Path, use_m3: Embedder
) -> None:
    settings = MatcherSettings(data_dir=tmp_path)
    MatchEngine.from_store(world, settings=settings, embedder=Counting(use_m3), extra_embedders=[]).close()
    world.upsert_nodes([Achievement(id="a-new", name="卤水提锂新工艺",
                                    description="从井矿盐卤水中提取碳酸锂的膜分离工艺")])
    counting = Counting(use_m3)
    engine = MatchEngine.from_store(world, settings=settings, embedder=counting, extra_embedders=[])
    try:
        assert counting.passages == 1
        assert "a-new" in engine.achievements
    finally:
        engine.close()


def test_lexical_channels_answer_while_the_dense_rows_are_computed(
    world: GraphStore, tmp_path: Path, use_m3: Embedder
) -> None:
    counting = Counting(use_m3)
    counting.gate = threading.Event()  # the embedding job waits until released
    engine = MatchEngine.from_store(world, settings=MatcherSettings(data_dir=tmp_path), embedder=counting,
                                    extra_embedders=[], wait=False)
    try:
        early = engine.match_need(NEED_PA66.id, k=3, include_weak=True)
        assert early.channels == ["bm25_words", "char_ngram"]
        assert early.matches[0].candidate_id == "a-pa66"
        counting.gate.set()
        assert engine.wait_ready(timeout=120)
        late = engine.match_need(NEED_PA66.id, k=3, include_weak=True)
        assert late.channels == ["bm25_words", "char_ngram", "dense"]
    finally:
        counting.gate.set()
        engine.close()


def test_a_reader_keeps_its_snapshot_while_an_edit_is_swapped_in(world: GraphStore, tmp_path: Path) -> None:
    engine = MatchEngine.from_store(world, settings=MatcherSettings(data_dir=tmp_path), embedder=None)
    try:
        held = engine.snapshot
        engine.upsert_achievement(Achievement(id="a-pa66", name="改写后的成果", description="与尼龙无关的软件系统"))
        assert "尼龙" in held.achievements.text("a-pa66")  # the reader's view did not move
        assert "软件" in engine.achievements.text("a-pa66")
        assert engine.achievements.docs.n_base == held.achievements.docs.n_base  # no rebuild
    finally:
        engine.close()


def test_a_second_process_on_the_same_indexes_sees_an_edit_made_by_the_first(
    world: GraphStore, tmp_path: Path
) -> None:
    settings = MatcherSettings(data_dir=tmp_path)
    writer = MatchEngine.from_store(world, settings=settings, embedder=None)
    follower = MatchEngine.from_store(world, settings=settings, embedder=None)
    try:
        assert writer.keeper.is_writer and not follower.keeper.is_writer
        writer.upsert_achievement(Achievement(id="a-brine", name="卤水提锂", description="井矿盐卤水提取碳酸锂"))
        follower.keeper.follow_once()
        assert "a-brine" in follower.achievements
        assert follower.achievements.lexical[0].base.rows is not writer.achievements.lexical[0].base.rows
        writer.close()  # the writer goes away: the follower takes over its role
        follower.keeper.follow_once()
        assert follower.keeper.is_writer
    finally:
        writer.close()
        follower.close()


def test_worker_processes_share_the_index_pages(world: GraphStore, tmp_path: Path) -> None:
    engine = MatchEngine.from_store(world, settings=MatcherSettings(data_dir=tmp_path), embedder=None)
    try:
        rows = engine.achievements.lexical[1].base.rows
        assert isinstance(rows, np.memmap) and not rows.flags.writeable
        assert os.path.samefile(rows.filename, next((tmp_path / "index" / "achievements").rglob("rows.npy")))
    finally:
        engine.close()
