"""Each text channel of the index stack on small real examples, indexes that stay current under edits, the
query encoder's prefetch and cache, and the fusions."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from matcher.embedders.base import Embedder
from matcher.embedders.cached import CachedEmbedder
from matcher.embedders.e5_small import E5SmallEmbedder
from matcher.fusion import RRFFusion, ZScoreFusion
from matcher.index.builder import CorpusBuilder
from matcher.index.channels import extra_channel_name, lexical_specs
from matcher.index.corpus import Change, CorpusIndex
from matcher.index.queries import QueryEncoder
from tests.matcher_world import ACHIEVEMENTS, NEED_PA66

IDS = [a.id for a in ACHIEVEMENTS]
TEXTS = [a.text for a in ACHIEVEMENTS]
SPECS = {s.name: s for s in lexical_specs()}


@pytest.fixture(scope="module")
def e5() -> Embedder:
    return E5SmallEmbedder()


def _corpus(builder: CorpusBuilder, ids: Sequence[str] = IDS, texts: Sequence[str] = TEXTS) -> CorpusIndex:
    index = builder.embed(builder.build([Change(i, t) for i, t in zip(ids, texts, strict=True)]))
    assert index is not None
    return index


def _rank(index: CorpusIndex, channel: str, query: str) -> list[str]:
    s = index.channel_scores(query)[channel]
    return [index.doc_ids[i] for i in np.argsort(-s, kind="stable")]


@pytest.mark.parametrize("channel", ["bm25_words", "char_ngram"])
def test_lexical_channel_finds_polyamide_before_pharmaceutical(channel: str) -> None:
    index = _corpus(CorpusBuilder([SPECS[channel]]))
    ranked = _rank(index, channel, NEED_PA66.text)
    assert ranked[0] == "a-pa66"
    assert ranked.index("a-pa66") < ranked.index("a-drug")


def test_dense_channel_finds_polyamide_before_pharmaceutical(e5: Embedder, tmp_path: Path) -> None:
    index = _corpus(CorpusBuilder([], [("dense", e5)], tmp_path))
    ranked = _rank(index, "dense", NEED_PA66.text)
    assert ranked.index("a-pa66") < ranked.index("a-drug")
    assert ranked.index("a-pa66") <= 1


def test_use_channel_finds_polyamide_before_pharmaceutical_under_its_own_name() -> None:
    from matcher.embedders.use_m3 import UseMultilingualEmbedder

    use = UseMultilingualEmbedder()
    name = extra_channel_name(use)
    index = _corpus(CorpusBuilder([], [(name, use)]))
    assert name == "dense_use_m3" and use.dim == 512
    ranked = _rank(index, name, NEED_PA66.text)
    assert ranked.index("a-pa66") < ranked.index("a-drug")
    assert ranked.index("a-pa66") <= 1
    vecs = use.embed_passages(TEXTS[:3])
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert np.allclose(use.embed_queries([TEXTS[0]])[0], vecs[0], atol=1e-5)  # symmetric: no prefixes


@pytest.mark.parametrize("channel", ["bm25_words", "char_ngram"])
def test_edited_document_is_found_under_its_new_text(channel: str) -> None:
    index = _corpus(CorpusBuilder([SPECS[channel]]))
    query = "光伏组件清洗机器人"
    assert _rank(index, channel, query)[0] != "a-soft"
    new_text = "光伏组件自动清洗机器人，适用于大型光伏电站"
    edited = index.with_changes([Change("a-soft", new_text)])
    assert _rank(edited, channel, query)[0] == "a-soft"
    analyse = SPECS[channel].analyzer
    old_only = sorted(set(analyse(TEXTS[IDS.index("a-soft")])) - set(analyse(new_text)))
    assert index.terms_in("a-soft", old_only, channel)
    assert not edited.terms_in("a-soft", old_only, channel)  # the old text's terms are gone
    assert len(edited) == len(IDS)
    removed = edited.with_changes([], removed=["a-soft"])
    assert "a-soft" not in removed.doc_ids and len(removed) == len(IDS) - 1
    assert _rank(index, channel, query)[0] != "a-soft"  # a reader of the first snapshot saw nothing move


def test_compaction_keeps_the_same_ranking() -> None:
    builder = CorpusBuilder([SPECS["char_ngram"]])
    index = _corpus(builder, IDS[:6], TEXTS[:6]).with_changes(
        [Change(i, t) for i, t in zip(IDS[6:], TEXTS[6:], strict=True)])  # into the delta
    before = index.channel_scores(NEED_PA66.text)["char_ngram"]
    compact = index.compacted()
    after = compact.channel_scores(NEED_PA66.text)["char_ngram"]
    assert compact.doc_ids == index.doc_ids
    # a base document's norm was fixed with the IDF of its build (half this corpus): the order holds, not the values
    assert list(np.argsort(-before, kind="stable")[:5]) == list(np.argsort(-after, kind="stable")[:5])
    assert np.array_equal(before > 0, after > 0)


def test_a_dense_edit_appends_its_new_vector(e5: Embedder, tmp_path: Path) -> None:
    index = _corpus(CorpusBuilder([], [("dense", e5)], tmp_path))
    edited = index.with_changes([Change("a-soft", "尼龙66注塑件耐热黄变改性热稳定剂")])
    ranked = _rank(edited, "dense", NEED_PA66.text)
    assert ranked.index("a-soft") < ranked.index("a-drug")
    assert len(edited) == len(IDS)


def test_a_text_any_corpus_encoded_is_read_from_the_vector_store_not_encoded_again(
    e5: Embedder, tmp_path: Path
) -> None:
    counting = CountingEmbedder(e5)
    _corpus(CorpusBuilder([], [("dense", counting)], tmp_path))
    assert counting.passages == len(TEXTS)
    # another corpus (the solvers' works) on the same store, with one new text
    again = CountingEmbedder(e5)
    index = _corpus(CorpusBuilder([], [("dense", again)], tmp_path), [*IDS, "w-new"], [*TEXTS, "中药饮片炮制"])
    assert again.passages == 1 and len(index) == len(IDS) + 1


def test_embedding_cache_reuses_vectors_on_disk(tmp_path: Path) -> None:
    inner = E5SmallEmbedder()
    first = CachedEmbedder(inner, tmp_path)
    v1 = first.embed_passages(TEXTS[:3])
    assert first.misses == 3 and first.hits == 0
    first.close()
    second = CachedEmbedder(inner, tmp_path)  # a new process would see the same file
    v2 = second.embed_passages(TEXTS[:3] + ["新文本"])
    assert second.hits == 3 and second.misses == 1
    assert np.allclose(v1, v2[:3])
    assert (tmp_path / "embeddings" / "e5-small.sqlite").exists()


def test_sentence_transformer_embedder_runs_a_local_model_offline() -> None:
    pytest.importorskip("sentence_transformers", reason="the st extra (torch, sentence-transformers) is not installed")
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Split

    from matcher.embedders.sentence_transformer import SentenceTransformerEmbedder

    chars = sorted({c for t in TEXTS for c in t})
    vocab = {"[UNK]": 0, **{c: i + 1 for i, c in enumerate(chars)}}
    tok = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = Split("", behavior="isolated")
    model = SentenceTransformer(modules=[StaticEmbedding(tok, embedding_dim=32)], device="cpu")
    emb = SentenceTransformerEmbedder(model, name="static-test")
    index = _corpus(CorpusBuilder([], [("dense", emb)]))
    assert emb.dim == 32
    # a document is its own nearest neighbour, whatever the (untrained) weights
    assert _rank(index, "dense", TEXTS[3])[0] == IDS[3]


class CountingEmbedder:
    """Wraps a real encoder and counts encodings (and on which thread the queries ran)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.query_calls = 0
        self.passages = 0
        self.threads: list[str] = []

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        self.query_calls += 1
        self.threads.append(threading.current_thread().name)
        return self.inner.embed_queries(texts)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        self.passages += len(texts)
        return self.inner.embed_passages(texts)


def test_prefetched_query_is_encoded_once_off_the_caller_thread(e5: Embedder) -> None:
    counting = CountingEmbedder(e5)
    queries = QueryEncoder(counting)
    direct = e5.embed_queries([NEED_PA66.text])[0]
    queries.prefetch(NEED_PA66.text)
    queries.prefetch(NEED_PA66.text)  # already on its way: not encoded twice
    first = queries.vector(NEED_PA66.text)
    assert np.allclose(first, direct, atol=1e-6)
    again = queries.vector(NEED_PA66.text)  # the same need viewed again: remembered
    assert counting.query_calls == 1
    assert counting.threads[0].startswith("query-")
    assert np.array_equal(first, again)
    queries.clear()
    queries.vector(NEED_PA66.text)
    assert counting.query_calls == 2


def test_query_cache_keeps_only_the_latest(e5: Embedder) -> None:
    counting = CountingEmbedder(e5)
    queries = QueryEncoder(counting, cache_size=2)
    for q in ("尼龙", "光伏", "中药", "尼龙"):
        queries.vector(q)
    assert counting.query_calls == 4  # 尼龙 was evicted by the third query
    queries.vector("中药")
    assert counting.query_calls == 4


def _fused(index: CorpusIndex, fusion, query: str) -> np.ndarray:  # noqa: ANN001
    return index.query(query, fusion).fused


def test_zscore_fusion_puts_channels_on_one_scale_and_rrf_does_not_know_gaps() -> None:
    index = _corpus(CorpusBuilder(lexical_specs()))
    scored = index.query(NEED_PA66.text, ZScoreFusion())
    assert index.doc_ids[int(np.argmax(scored.fused))] == "a-pa66"
    assert set(scored.z) == {"bm25_words", "char_ngram"}
    unrelated = _fused(index, ZScoreFusion(), "古籍书画装裱修复")
    assert scored.fused.max() > unrelated.max() + 1.0  # a real match stands far above the background
    rrf = RRFFusion()
    assert abs(_fused(index, rrf, NEED_PA66.text).max() - _fused(index, rrf, "古籍书画装裱修复").max()) < 0.01


def test_rank_normal_fusion_ranks_by_order_not_by_one_channels_outlier_score() -> None:
    from matcher.fusion import RankNormalFusion

    # doc 0 is first in both channels by a little; doc 1 has a huge outlier score in one channel only
    a = np.array([5.0, 100.0, 1.0, 0.5, 0.2, 0.1], dtype=np.float32)
    b = np.array([0.9, 0.1, 0.8, 0.2, 0.3, 0.4], dtype=np.float32)
    a[0], a[1] = 6.0, 100.0  # doc 1 top in a, last in b; doc 0 second in a, first in b
    fused = RankNormalFusion().combine({"a": a, "b": b})
    assert int(np.argmax(ZScoreFusion().combine({"a": a, "b": b}).score)) == 1  # the outlier wins on z
    assert int(np.argmax(fused.score)) == 0  # near the top of both lists wins on ranks
    # the parts are each channel's share and add up to the score; z-scores are kept for the confidence
    assert np.allclose(fused.parts["a"] + fused.parts["b"], fused.score)
    assert set(fused.z) == {"a", "b"} and fused.z["a"][1] > 2


def test_rank_normal_is_exact_where_it_ranks_and_keeps_ties_equal_on_a_large_corpus() -> None:
    from scipy.special import ndtri
    from scipy.stats import rankdata

    from matcher.fusion import EXACT_RANKS_UP_TO, TOP_EXACT, rank_normal

    rng = np.random.default_rng(5)
    n = EXACT_RANKS_UP_TO * 3
    # a sparse lexical channel: most documents tie at 0, fewer non-zero than the exact top
    sparse = np.where(rng.random(n) < 0.99, 0.0, rng.exponential(3.0, n)).astype(np.float32)
    dense = (0.85 + 0.02 * rng.standard_normal(n)).astype(np.float32)
    for s in (sparse, dense):
        exact = -ndtri(rankdata(-s, method="average") / (n + 1))
        got = rank_normal(s)
        top = np.argsort(-s, kind="stable")[:TOP_EXACT]
        assert np.allclose(got[top], exact[top], atol=1e-5)
        # order kept: nothing outside the exact top scores above anything inside it
        rest = np.setdiff1d(np.arange(n), top)
        assert got[rest].max() <= got[top].min() + 1e-6
    zeros = sparse == 0
    assert np.ptp(rank_normal(sparse)[zeros]) == 0  # equal scores, equal values


def test_background_z_has_no_small_corpus_ceiling_and_matches_plain_z_on_a_large_corpus() -> None:
    from matcher.fusion import background_z

    rng = np.random.default_rng(3)
    # 71 documents (the demo's size), one clear match: the plain z cannot exceed sqrt(70) ~ 8.4
    small = rng.random(71) * 0.1
    small[0] = 1.0
    plain = (small - small.mean()) / small.std()
    assert plain[0] <= np.sqrt(70) and background_z(small)[0] > plain[0] + 2
    # 2,810 documents: the leave-one-out background is the whole background
    large = rng.random(2810)
    large[0] = 3.0
    plain = (large - large.mean()) / large.std()
    assert np.allclose(background_z(large)[1:], plain[1:], atol=0.01)
    # a handful of sparse scores (all others 0): not read as an infinitely strong match
    tiny = np.array([0.2, 0, 0, 0, 0, 0], dtype=np.float32)
    assert background_z(tiny)[0] < 6


def test_average_ranks_share_ties_like_scipy() -> None:
    from scipy.stats import rankdata as scipy_rankdata

    from matcher.fusion import rankdata

    rng = np.random.default_rng(0)
    for values in (rng.integers(0, 5, 500).astype(float), rng.random(500), np.zeros(7), np.array([3.0, 1, 2, 2])):
        np.testing.assert_allclose(rankdata(values), scipy_rankdata(values, method="average"))
