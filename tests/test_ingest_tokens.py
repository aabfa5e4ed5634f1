"""Tokenise once: the token cache gives what a fresh cut gives, and the rjieba-backed cut gives jieba's tokens."""

from __future__ import annotations

import pytest

from ingest import text as textpipe

TEXTS = [
    "尼龙66切片熔融保持后发黄，寻求热稳定剂配方。",
    "根据泉州师范学院专利技术（ZL201720001285.X），在3.2V达到37.15cd/A，效率18.8%。",
    "基于WebGIS平台与ArcGIS 10.0的8-hydroxyquinoline分析--高精度测量，工业4.0发展。",
    "一种碳纤维增强复合材料的制备方法及其在锂离子电池中的应用，c++和c#软件，SaaS大数据。",
    "抗旱小麦新品种选育 pa66 igbt 开关柜局部放电在线监测",
]


def test_cached_tokens_equal_fresh_ones():
    textpipe._token_cache.clear()
    fresh = [textpipe.tokenize(t) for t in TEXTS]
    assert len(textpipe._token_cache) == len(TEXTS)
    again = [textpipe.tokenize(t) for t in TEXTS]
    assert again == fresh
    again[0].append("changed")  # a caller's list is its own: the cache is not touched
    assert textpipe.tokenize(TEXTS[0]) == fresh[0]
    textpipe._token_cache.clear()
    assert [textpipe.tokenize(t) for t in TEXTS] == fresh
    assert textpipe.tokenize(TEXTS[0], keep_stopwords=True) != fresh[0]  # its own cache entry


def test_the_fast_cut_gives_jiebas_tokens():
    pytest.importorskip("rjieba")
    fast = textpipe._fast()
    assert fast is not None and textpipe.segmenter_id().startswith("rjieba")
    jieba = textpipe._jieba()
    for text in TEXTS:
        norm = textpipe.normalize(text)
        assert fast.cut(norm) == jieba.lcut(norm, HMM=True), text
