"""What the three questions share: graph-feature weights, the scored candidate list, the result."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from graph.model import NodeLabel
from graph.store import GraphStore
from matcher.confidence import Calibrator
from matcher.features.base import Demand, FeatureFamily, GraphContext
from matcher.fusion import Fusion
from matcher.rerank import FeedbackReranker
from matcher.results import Match, MatchResult, Question
from matcher.scores import ChannelScore, MatchFeatures
from matcher.settings import MatcherSettings
from matcher.tuning import CENTRED, GRAPH_WEIGHTS


class Asker(Protocol):
    """What the questions read from the engine besides the snapshot (none of it changes during a request)."""

    settings: MatcherSettings
    store: GraphStore | None
    calibrator: Calibrator

    @property
    def families(self) -> Sequence[FeatureFamily]: ...

    @property
    def reranker(self) -> FeedbackReranker: ...

    def fusion_for(self, channels: Sequence[str]) -> Fusion: ...

    def gap_threshold_for(self, channels: Sequence[str]) -> float: ...

    def tells_gaps_for(self, channels: Sequence[str]) -> bool: ...


@dataclass
class Scored:
    ids: list[str]
    score: np.ndarray
    features: list[MatchFeatures]
    contributions: list[dict[str, float]]
    query_terms: list[str] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)


def graph_features(families: Sequence[FeatureFamily], ctx: GraphContext, demand: Demand,
                   ids: Sequence[str]) -> dict[str, np.ndarray]:
    feats: dict[str, np.ndarray] = {}
    for family in families:
        feats.update(family.compute(ctx, demand, ids))
    return feats


def graph_delta(name: str, value: float) -> float:
    """What a graph feature's value adds to the ranking score."""
    w = GRAPH_WEIGHTS.get(name, 0.0)
    return w * (value - 0.5) if name in CENTRED else w * value


def graph_deltas(name: str, values: np.ndarray) -> np.ndarray:
    """:func:`graph_delta` of each candidate's value (float64, the same numbers)."""
    w = GRAPH_WEIGHTS.get(name, 0.0)
    v = np.asarray(values, dtype=np.float64)
    return w * (v - 0.5) if name in CENTRED else w * v


def channel_scores(z: dict[str, np.ndarray], raw: dict[str, np.ndarray], i: int,
                   shares: dict[str, float]) -> dict[str, ChannelScore]:
    """Each channel's raw score, z-score and share of the fused score for document ``i``."""
    return {name: ChannelScore(raw=float(raw[name][i]), z=float(zs[i]), share=shares[name]) for name, zs in z.items()}


#: why a result carries no gap verdict (measured: benchmarks/judged_quality.py)
GAP_UNKNOWN_NOTE = "当前匹配配置无法可靠判断市场上是否存在满足该需求的成果，因此不给出供给空白结论，请结合候选逐一核实"


def make_result(asker: Asker, question: Question, query_id: str, label: NodeLabel, name: str, terms: list[str],
                matches: list[Match], best: float, segments: list[str], channels: list[str]) -> MatchResult:
    threshold = asker.gap_threshold_for(channels)
    # no candidate at all (an empty corpus) is a gap whatever the curve can tell: a confidence is never 0 otherwise
    nothing = best <= 0.0
    known = nothing or asker.tells_gaps_for(channels)
    gap = nothing or (known and best < threshold)
    if not known:
        note = GAP_UNKNOWN_NOTE
    else:
        note = "没有足够匹配的供给 (no candidate reaches the confidence threshold)" if gap else ""
    return MatchResult(
        question=question, query_id=query_id, query_label=label.value, query_name=name,
        query_terms=list(dict.fromkeys(terms))[:10], matches=matches, is_gap=gap, gap_known=known, threshold=threshold,
        best_confidence=best, segment_ids=segments, note=note, channels=channels,
    )
