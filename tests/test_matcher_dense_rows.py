"""The dense channel's speed machinery keeps its answers: float16 rows rank like float32 ones, a prefetched or
cached query vector is the one encoding would give, and edits land in float16 rows too."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import pytest

from matcher.channels.dense import DenseChannel, Float16Rows, Float32Rows, default_rows
from matcher.embedders.cached import CachedEmbedder
from matcher.embedders.e5_small import E5SmallEmbedder
from tests.matcher_world import ACHIEVEMENTS, NEED_PA66

IDS = [a.id for a in ACHIEVEMENTS]
TEXTS = [a.text for a in ACHIEVEMENTS]


class CountingEmbedder:
    """Wraps a real encoder and counts query encodings (and on which thread they ran)."""

    def __init__(self, inner: CachedEmbedder) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.query_calls = 0
        self.threads: list[str] = []

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        self.query_calls += 1
        self.threads.append(threading.current_thread().name)
        return self.inner.embed_queries(texts)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.embed_passages(texts)


@pytest.fixture(scope="module")
def e5(tmp_path_factory: pytest.TempPathFactory) -> CachedEmbedder:
    return CachedEmbedder(E5SmallEmbedder(), tmp_path_factory.mktemp("cache"))


def test_float16_rows_score_like_float32_rows(e5: CachedEmbedder) -> None:
    pytest.importorskip("torch", reason="float16 rows need the st extra")
    exact = DenseChannel(e5, rows=Float32Rows(e5.dim))
    half = DenseChannel(e5, rows=Float16Rows(e5.dim))
    exact.fit(IDS, TEXTS)
    half.fit(IDS, TEXTS)
    a, b = exact.scores(NEED_PA66.text), half.scores(NEED_PA66.text)
    assert np.abs(a - b).max() < 2e-3  # raw cosines kept (the centre's share is added back)
    assert list(np.argsort(-a)[:3]) == list(np.argsort(-b)[:3])
    assert half.rows.nbytes() * 2 == exact.rows.nbytes()


def test_edit_into_float16_rows_is_found_under_its_new_text(e5: CachedEmbedder) -> None:
    pytest.importorskip("torch", reason="float16 rows need the st extra")
    ch = DenseChannel(e5, rows=Float16Rows(e5.dim))
    ch.fit(IDS, TEXTS)
    ch.upsert(["a-soft"], ["尼龙66注塑件耐热黄变改性热稳定剂"])
    ch.upsert(["a-new"], ["中药饮片炮制与质量控制"])  # grows past the fitted rows
    ranked = [ch.doc_ids[i] for i in np.argsort(-ch.scores(NEED_PA66.text), kind="stable")]
    assert ranked.index("a-soft") < ranked.index("a-drug")
    assert len(ch.doc_ids) == len(IDS) + 1


def test_small_corpus_stays_float32_and_large_goes_float16_where_torch_is_installed() -> None:
    assert isinstance(default_rows(384, 1000), Float32Rows)
    try:
        import torch  # noqa: F401
    except ImportError:
        assert isinstance(default_rows(384, 300_000), Float32Rows)
    else:
        assert isinstance(default_rows(384, 300_000), Float16Rows)


def test_prefetched_query_is_encoded_once_off_the_caller_thread(e5: CachedEmbedder) -> None:
    counting = CountingEmbedder(e5)
    ch = DenseChannel(counting)
    ch.fit(IDS, TEXTS)
    direct = e5.embed_queries([NEED_PA66.text])[0]
    ch.prefetch(NEED_PA66.text)
    ch.prefetch(NEED_PA66.text)  # already on its way: not encoded twice
    first = ch.scores(NEED_PA66.text)
    assert np.allclose(ch.query_vector(NEED_PA66.text), direct, atol=1e-6)
    again = ch.scores(NEED_PA66.text)  # the same need viewed again: from the cache
    assert counting.query_calls == 1
    assert counting.threads[0].startswith("dense-query")
    assert np.array_equal(first, again)
    ch.clear_query_cache()
    ch.scores(NEED_PA66.text)
    assert counting.query_calls == 2


def test_query_cache_keeps_only_the_latest(e5: CachedEmbedder) -> None:
    counting = CountingEmbedder(e5)
    ch = DenseChannel(counting, query_cache_size=2)
    ch.fit(IDS, TEXTS)
    for q in ("尼龙", "光伏", "中药", "尼龙"):
        ch.query_vector(q)
    assert counting.query_calls == 4  # 尼龙 was evicted by the third query
    ch.query_vector("中药")
    assert counting.query_calls == 4
