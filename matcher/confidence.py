"""Calibrated confidence: the probability that a broker would judge a candidate relevant.

Two inputs, both in the units of :mod:`matcher.fusion`:

- the candidate's ``fused`` ranking score plus ``bonus`` (what graph features and brokers' feedback added):
  where it stands in this query's list;
- the query's ``supply`` strength: the best, over the whole corpus, of the documents' channel z-scores weighed
  by ``supply_weights`` (how far the best supply anywhere stands out from the background; the dense channels'
  margins carry most of it). It says whether this query has real supply at all.

    confidence = 1 / (1 + exp(-(intercept + a × (fused + bonus) + b × supply)))

so within one query the confidence falls with the rank (the list's order and its confidences agree), and
between queries it follows the supply strength. Both stages are logistic regressions of "judged relevant
(grade >= 1)" over every judged (need, achievement) pair of the dev set, fitted by
``python benchmarks/calibrate_confidence.py``: a handful of parameters, nothing per query. Measured gap_auc of
the top-ranked candidate's confidence with the default channels: 0.76 leave-one-need-out (both stages refitted
without the need). A deployment refits on its own brokers' verdicts with :meth:`Calibrator.fit`.

Gap decision: a query whose best candidate stays under the gap threshold is a gap (no good supply, reported as
such and never padded). The threshold is fitted with each curve, not chosen by hand: the top confidence that
maximises Youden's J (balanced accuracy) of "need has supply" over the dev needs, leave-one-need-out
(:func:`youden_threshold`). ``Settings.gap_confidence`` overrides it when set.

Corpus size: the channel z-scores are leave-one-out (:func:`matcher.fusion.background_z`), so a strong match
reads about the same on the 71-achievement demo graph as on a 2,810-achievement market; a plain z would be
capped at sqrt(N-1) and a small deployment would see every real match as a gap.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Curve:
    """One fitted confidence curve and the gap threshold fitted with it.

    ``supply_weights`` weigh a document's channel z-scores (``z_<channel>``) into how well it answers the
    query on an absolute scale; a query's *supply strength* is the best of that over the whole corpus.
    ``coefficients`` read a candidate's ``fused`` ranking score, its query's ``supply`` strength and the
    ``bonus`` graph features and feedback added to the fused score (weighted like it, so the confidence is
    monotone in the final ranking score: the list's order and its confidences agree).
    """

    supply_weights: Mapping[str, float]
    coefficients: Mapping[str, float]
    intercept: float
    gap_threshold: float
    #: leave-one-need-out gap_auc measured when it was fitted (documentation, not used)
    loo_gap_auc: float = field(default=float("nan"), compare=False)

    def logit(self, features: Mapping[str, float]) -> float:
        return self.intercept + sum(c * float(features.get(f, 0.0)) for f, c in self.coefficients.items())

    def supply_strength(self, z: Mapping[str, np.ndarray]) -> float:
        """max over the documents of Σ weight × z-score (0 for an empty corpus)."""
        total: np.ndarray | None = None
        for name, w in self.supply_weights.items():
            values = z.get(name[2:]) if name.startswith("z_") else None
            if values is None or not len(values):
                continue
            total = w * values if total is None else total + w * values
        return float(total.max()) if total is not None else 0.0


#: fitted by ``python benchmarks/calibrate_confidence.py`` for each channel set an engine can have (paste its
#: output here after a change to the channels or the fusion), keyed by the channels' names
CURVES: dict[frozenset[str], Curve] = {
    # the default: e5-small + USE multilingual + both lexical channels
    frozenset({"bm25_words", "char_ngram", "dense", "dense_use_m3"}): Curve(
        supply_weights={"z_bm25_words": 0.0154, "z_char_ngram": 0.2477, "z_dense": 0.8009, "z_dense_use_m3": 0.3876},
        coefficients={"fused": 1.9117, "supply": 0.3014, "bonus": 1.9117},
        intercept=-8.4960, gap_threshold=0.2686, loo_gap_auc=0.76,
    ),
    # one encoder (Settings.extra_embedders empty)
    frozenset({"bm25_words", "char_ngram", "dense"}): Curve(
        supply_weights={"z_bm25_words": 0.0734, "z_char_ngram": 0.2682, "z_dense": 0.923},
        coefficients={"fused": 1.7574, "supply": 0.3338, "bonus": 1.7574},
        intercept=-8.3384, gap_threshold=0.1760, loo_gap_auc=0.71,
    ),
    # no encoder (Settings.embedder = none; z-score fusion): much weaker, lexical margins hardly tell needs with
    # supply from needs without
    frozenset({"bm25_words", "char_ngram"}): Curve(
        supply_weights={"z_bm25_words": 0.0987, "z_char_ngram": 0.2569},
        coefficients={"fused": 0.3789, "supply": 0.21, "bonus": 0.3789},
        intercept=-5.0663, gap_threshold=0.1237, loo_gap_auc=0.44,
    ),
}
#: the default engine's curve (tests and docs refer to it)
DEFAULT_CHANNELS = frozenset({"bm25_words", "char_ngram", "dense", "dense_use_m3"})
LEXICAL_CHANNELS = frozenset({"bm25_words", "char_ngram"})


def curve_for(channels: Collection[str]) -> Curve:
    """The curve fitted for exactly these channels, else for the largest fitted set among them (a channel
    without a fitted coefficient then does not count), else the lexical one."""
    present = frozenset(channels)
    if present in CURVES:
        return CURVES[present]
    subsets = [c for c in CURVES if c <= present]
    if subsets:
        return CURVES[max(subsets, key=len)]
    return CURVES[LEXICAL_CHANNELS]


def channels_of(features: Mapping[str, float]) -> frozenset[str]:
    """The channels a candidate was scored by: those whose z-score (``z_<channel>``) is among its features."""
    return frozenset(k[2:] for k in features if k.startswith("z_"))


def youden_threshold(confidences: Sequence[float], positive: Sequence[bool]) -> float:
    """The cut that maximises Youden's J (sensitivity + specificity - 1, i.e. balanced accuracy) when
    ``confidence >= cut`` is read as positive; midway between the two confidences it separates, so it does
    not sit on a training point. Ties in J go to the lower cut (flag fewer real needs as gaps)."""
    conf = np.asarray(confidences, dtype=np.float64)
    pos = np.asarray(positive, dtype=bool)
    if pos.all() or not pos.any():
        raise ValueError("a gap threshold needs both needs with supply and needs without")
    values = np.unique(conf)
    cuts = np.concatenate([[values[0]], (values[:-1] + values[1:]) / 2])
    best, best_j = float(cuts[0]), -2.0
    for cut in cuts:
        j = float(np.mean(conf[pos] >= cut) + np.mean(conf[~pos] < cut) - 1.0)
        if j > best_j + 1e-12:
            best, best_j = float(cut), j
    return best


class Calibrator:
    def __init__(self, curve: Curve | None = None, threshold: float | None = None) -> None:
        """Without arguments: the fitted curves of :data:`CURVES`, each candidate read with the curve of the
        channels that scored it. With ``curve``: that one for everything. ``threshold`` overrides the gap
        threshold fitted with the curve."""
        self.custom = curve
        self.threshold = threshold

    def curve(self, features: Mapping[str, float]) -> Curve:
        return self.custom if self.custom is not None else curve_for(channels_of(features))

    def curve_for_channels(self, channels: Collection[str]) -> Curve:
        return self.custom if self.custom is not None else curve_for(channels)

    def supply_strength(self, z: Mapping[str, np.ndarray]) -> float:
        """A query's supply strength (see :class:`Curve`) from every document's channel z-scores."""
        return self.curve_for_channels(z.keys()).supply_strength(z)

    def logit(self, features: Mapping[str, float]) -> float:
        return self.curve(features).logit(features)

    def gap_threshold(self, override: float | None = None, channels: Collection[str] | None = None) -> float:
        """The top-1 confidence under which a query is a gap: ``override`` (``Settings.gap_confidence``) when
        set, else the threshold fitted together with the curve in use for ``channels`` (the engine's)."""
        if override is not None:
            return float(override)
        if self.threshold is not None:
            return self.threshold
        return self.curve_for_channels(channels if channels is not None else DEFAULT_CHANNELS).gap_threshold

    def confidence(self, features: Mapping[str, float]) -> float:
        x = min(max(self.logit(features), -30.0), 30.0)
        return 1.0 / (1.0 + math.exp(-x))

    def confidences(self, rows: Sequence[Mapping[str, float]]) -> np.ndarray:
        return np.array([self.confidence(r) for r in rows], dtype=np.float64)

    def fit(self, rows: Sequence[Mapping[str, float]], relevant: Sequence[bool]) -> Calibrator:
        """Refit the curve on (features, was it relevant) pairs, e.g. brokers' verdicts; the supply weights are
        kept. Keeps the current curve when only one class is present."""
        y = np.asarray(relevant, dtype=int)
        if len(set(y.tolist())) < 2:
            return self
        from sklearn.linear_model import LogisticRegression

        names = ["fused", "supply", "bonus"]
        x = np.array([[float(r.get(f, 0.0)) for f in names] for r in rows])
        model = LogisticRegression(C=1.0, max_iter=1000).fit(x, y)
        base = self.curve(rows[0])
        coefficients = dict(zip(names, model.coef_[0].tolist(), strict=True))
        self.custom = Curve(base.supply_weights, coefficients, float(model.intercept_[0]), 0.0)
        # the threshold comes from the same fit: the confidence that best separates the verdicts given
        self.threshold = youden_threshold(self.confidences(rows), y.astype(bool))
        self.custom = Curve(base.supply_weights, coefficients, self.custom.intercept, self.threshold)
        return self
