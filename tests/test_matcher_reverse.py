"""achievement → enterprises reads one document's standing for many queries: ``combine_at`` must give exactly
what the full fusion gives at that document, below and above the exact-rank size, ties included."""

from __future__ import annotations

import numpy as np
import pytest

from matcher.fusion import LearnedFusion, RankNormalFusion, ZScoreFusion, combine_at


@pytest.mark.parametrize("n", [50, 3000, 25_000])
def test_one_documents_fused_score_equals_the_full_fusions(n: int) -> None:
    rng = np.random.default_rng(n)
    scores = {"a": rng.normal(size=n).astype(np.float32),
              "b": np.round(rng.exponential(size=n), 1).astype(np.float32),  # many ties
              "c": np.zeros(n, np.float32)}
    scores["c"][:5] = 1.0  # a sparse channel: almost every document at 0
    learned = LearnedFusion({"a": 0.8, "b": -0.2, "c": 0.1}, {"a": 0.3, "b": 0.2})
    for fusion in (RankNormalFusion({"a": 2.0}), ZScoreFusion(), learned):
        full = fusion.combine(scores)
        for pos in [*rng.integers(0, n, 15).tolist(), int(np.argmax(scores["a"])), 0, 7]:
            at = combine_at(fusion, scores, pos)
            assert at.score == pytest.approx(float(full.score[pos]), abs=1e-5)
            for name in scores:
                assert at.parts[name] == pytest.approx(float(full.parts[name][pos]), abs=1e-6)
                assert np.array_equal(at.z[name], full.z[name])


def test_the_learned_fusion_weighs_order_and_distance_and_counts_only_the_channels_it_knows() -> None:
    rng = np.random.default_rng(3)
    a = rng.normal(size=500).astype(np.float32)
    b = rng.normal(size=500).astype(np.float32)
    fusion = LearnedFusion({"a": 1.0}, {"a": 1.0})
    fused = fusion.combine({"a": a, "b": b})
    assert np.allclose(fused.parts["b"], 0.0)  # no learned weight: no share
    assert int(np.argmax(fused.score)) == int(np.argmax(a))
    # weights renormalised over the channels present: the same document order with another channel missing
    alone = fusion.combine({"a": a})
    assert np.allclose(alone.score, fused.score, atol=1e-6)
    # rank weights alone, equal: the rank-normal mean
    both = LearnedFusion({"a": 1.0, "b": 1.0}, {}).combine({"a": a, "b": b})
    assert np.allclose(both.score, RankNormalFusion().combine({"a": a, "b": b}).score, atol=1e-6)
