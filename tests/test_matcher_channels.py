"""Each text channel on small real examples, and indexes that stay current under edits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from matcher.channels.bm25_words import BM25WordsChannel
from matcher.channels.char_ngram import CharNgramChannel
from matcher.channels.dense import DenseChannel
from matcher.embedders.cached import CachedEmbedder
from matcher.embedders.e5_small import E5SmallEmbedder
from matcher.fusion import RRFFusion, ZScoreFusion
from matcher.text_index import TextIndex
from tests.matcher_world import ACHIEVEMENTS, NEED_PA66

IDS = [a.id for a in ACHIEVEMENTS]
TEXTS = [a.text for a in ACHIEVEMENTS]


@pytest.fixture(scope="module")
def e5(tmp_path_factory: pytest.TempPathFactory) -> CachedEmbedder:
    return CachedEmbedder(E5SmallEmbedder(), tmp_path_factory.mktemp("cache"))


def _rank(channel, query: str) -> list[str]:  # noqa: ANN001
    s = channel.scores(query)
    return [channel.doc_ids[i] for i in np.argsort(-s, kind="stable")]


@pytest.mark.parametrize("make", [BM25WordsChannel, CharNgramChannel])
def test_lexical_channel_finds_polyamide_before_pharmaceutical(make) -> None:  # noqa: ANN001
    ch = make()
    ch.fit(IDS, TEXTS)
    ranked = _rank(ch, NEED_PA66.text)
    assert ranked[0] == "a-pa66"
    assert ranked.index("a-pa66") < ranked.index("a-drug")
    assert ch.search(NEED_PA66.text, k=1)[0].doc_id == "a-pa66"


def test_dense_channel_finds_polyamide_before_pharmaceutical(e5: CachedEmbedder) -> None:
    ch = DenseChannel(e5)
    ch.fit(IDS, TEXTS)
    ranked = _rank(ch, NEED_PA66.text)
    assert ranked.index("a-pa66") < ranked.index("a-drug")
    assert ranked.index("a-pa66") <= 1


def test_use_channel_finds_polyamide_before_pharmaceutical_under_its_own_name() -> None:
    from matcher.channels.dense import extra_channel_name
    from matcher.embedders.use_m3 import UseMultilingualEmbedder

    use = UseMultilingualEmbedder()
    ch = DenseChannel(use, name=extra_channel_name(use))
    ch.fit(IDS, TEXTS)
    assert ch.name == "dense_use_m3" and use.dim == 512
    ranked = _rank(ch, NEED_PA66.text)
    assert ranked.index("a-pa66") < ranked.index("a-drug")
    assert ranked.index("a-pa66") <= 1
    vecs = use.embed_passages(TEXTS[:3])
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert np.allclose(use.embed_queries([TEXTS[0]])[0], vecs[0], atol=1e-5)  # symmetric: no prefixes


@pytest.mark.parametrize("make", [BM25WordsChannel, CharNgramChannel])
def test_edited_document_is_found_under_its_new_text(make) -> None:  # noqa: ANN001
    ch = make()
    ch.fit(IDS, TEXTS)
    query = "光伏组件清洗机器人"
    assert ch.search(query, k=1) == [] or ch.search(query, k=1)[0].doc_id != "a-soft"
    ch.upsert(["a-soft"], ["光伏组件自动清洗机器人，适用于大型光伏电站"])
    assert ch.search(query, k=1)[0].doc_id == "a-soft"
    assert "企业财务" not in " ".join(ch.index.terms_of("a-soft"))
    assert len(ch.doc_ids) == len(IDS)
    ch.remove(["a-soft"])
    assert all(h.doc_id != "a-soft" for h in ch.search(query, k=5))
    assert len(ch.doc_ids) == len(IDS) - 1


def test_sparse_index_compaction_keeps_the_same_ranking() -> None:
    ch = CharNgramChannel()
    ch.fit(IDS[:6], TEXTS[:6])
    ch.upsert(IDS[6:], TEXTS[6:])  # into the delta
    before = ch.search(NEED_PA66.text, k=5)
    ch.index.compact()
    after = ch.search(NEED_PA66.text, k=5)
    assert [h.doc_id for h in before] == [h.doc_id for h in after]
    assert np.allclose([h.score for h in before], [h.score for h in after], atol=0.05)


def test_dense_upsert_replaces_the_vector_in_place(e5: CachedEmbedder) -> None:
    ch = DenseChannel(e5)
    ch.fit(IDS, TEXTS)
    ch.upsert(["a-soft"], ["尼龙66注塑件耐热黄变改性热稳定剂"])
    ranked = _rank(ch, NEED_PA66.text)
    assert ranked.index("a-soft") < ranked.index("a-drug")
    assert len(ch.doc_ids) == len(IDS)


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
    ch = DenseChannel(emb)
    ch.fit(IDS, TEXTS)
    assert emb.dim == 32
    # a document is its own nearest neighbour, whatever the (untrained) weights
    assert _rank(ch, TEXTS[3])[0] == IDS[3]


def test_zscore_fusion_puts_channels_on_one_scale_and_rrf_does_not_know_gaps() -> None:
    bm25, char = BM25WordsChannel(), CharNgramChannel()
    index = TextIndex([bm25, char], ZScoreFusion())
    index.fit(IDS, TEXTS)
    scored = index.query(NEED_PA66.text)
    assert index.doc_ids[int(np.argmax(scored.fused))] == "a-pa66"
    assert set(scored.z) == {"bm25_words", "char_ngram"}
    unrelated = index.query("古籍书画装裱修复").fused
    assert scored.fused.max() > unrelated.max() + 1.0  # a real match stands far above the background
    rrf = TextIndex([BM25WordsChannel(), CharNgramChannel()], RRFFusion())
    rrf.fit(IDS, TEXTS)
    assert abs(rrf.query(NEED_PA66.text).fused.max() - rrf.query("古籍书画装裱修复").fused.max()) < 0.01


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
