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
(grade >= 1)" over the judged (need, achievement) pairs of the tune part of the project's judged set
(``eval/judging``), fitted by ``python benchmarks/judged_quality.py --fit`` and checked on its report part
(reliability table, Brier score, gap_auc with intervals: ``benchmarks/README.md``): a handful of parameters,
nothing per query. A deployment refits on its own brokers' verdicts and deals (:mod:`matcher.recalibration`).
The bonus counts like the fused score it adds to, so graph features and the learned re-ranker move the
confidence with the ranking; a pair's own verdict moves it in the list but not its confidence.

Gap decision: a query whose best candidate stays under the gap threshold is a gap (no good supply, reported as
such and never padded). The threshold is fitted with each curve, not chosen by hand: the top confidence that
maximises Youden's J (balanced accuracy) of "need has supply" over the tune needs, leave-one-need-out
(:func:`youden_threshold`). ``Settings.gap_confidence`` overrides it when set. A channel set whose top
confidence does not tell needs with supply from needs without better than chance (``Curve.tells_gaps``, a
one-sided test on the tune needs) gives no gap verdict at all: its results say so instead.

Corpus size: the channel z-scores are leave-one-out (:func:`matcher.fusion.background_z`), so a strong match
reads about the same on the 71-achievement demo graph as on a 2,810-achievement market; a plain z would be
capped at sqrt(N-1) and a small deployment would see every real match as a gap.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike

from matcher.scores import ConfidenceInputs, Curve
from matcher.tuning import CURVES

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


def youden_threshold(confidences: ArrayLike, positive: ArrayLike) -> float:
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
    def __init__(self, curve: Curve | None = None, threshold: float | None = None,
                 fitted: Mapping[frozenset[str], Curve] | None = None) -> None:
        """Without arguments: the fitted curves of :data:`CURVES`, each candidate read with the curve of the
        channels that scored it. ``fitted``: curves a deployment refitted on its own verdicts
        (:mod:`matcher.recalibration`), used for their channel sets before the shipped ones. With ``curve``:
        that one for everything. ``threshold`` overrides the gap threshold fitted with the curve."""
        self.custom = curve
        self.threshold = threshold
        self.fitted = dict(fitted or {})

    def curve(self, inputs: ConfidenceInputs) -> Curve:
        return self.curve_for_channels(inputs.channels)

    def curve_for_channels(self, channels: Collection[str]) -> Curve:
        if self.custom is not None:
            return self.custom
        return self.fitted.get(frozenset(channels)) or curve_for(channels)

    def supply_strength(self, z: Mapping[str, np.ndarray]) -> float:
        """A query's supply strength (see :class:`Curve`) from every document's channel z-scores."""
        return self.curve_for_channels(z.keys()).supply_strength(z)

    def logit(self, inputs: ConfidenceInputs) -> float:
        return self.curve(inputs).logit(inputs)

    def gap_threshold(self, override: float | None = None, channels: Collection[str] | None = None) -> float:
        """The top-1 confidence under which a query is a gap: ``override`` (``Settings.gap_confidence``) when
        set, else the threshold fitted together with the curve in use for ``channels`` (the engine's)."""
        if override is not None:
            return float(override)
        if self.threshold is not None:
            return self.threshold
        return self.curve_for_channels(channels if channels is not None else DEFAULT_CHANNELS).gap_threshold

    def tells_gaps(self, channels: Collection[str] | None = None) -> bool:
        """Whether the curve in use for ``channels`` can back a gap verdict (see :attr:`Curve.tells_gaps`)."""
        return self.curve_for_channels(channels if channels is not None else DEFAULT_CHANNELS).tells_gaps

    def confidence(self, inputs: ConfidenceInputs) -> float:
        x = min(max(self.logit(inputs), -30.0), 30.0)
        return 1.0 / (1.0 + math.exp(-x))

    def confidences(self, rows: Sequence[ConfidenceInputs]) -> np.ndarray:
        return np.array([self.confidence(r) for r in rows], dtype=np.float64)

    def fit(self, rows: Sequence[ConfidenceInputs], relevant: Sequence[bool]) -> Calibrator:
        """Refit the curve on (features, was it relevant) pairs, e.g. brokers' verdicts; the supply weights are
        kept. Keeps the current curve when only one class is present."""
        y = np.asarray(relevant, dtype=int)
        if len(set(y.tolist())) < 2:
            return self
        from sklearn.linear_model import LogisticRegression

        names = ["fused", "supply", "bonus"]
        x = np.array([[r.as_dict()[f] for f in names] for r in rows])
        model = LogisticRegression(C=1.0, max_iter=1000).fit(x, y)
        base = self.curve(rows[0])
        coefficients = dict(zip(names, model.coef_[0].tolist(), strict=True))
        self.custom = Curve(base.supply_weights, coefficients, float(model.intercept_[0]), 0.0)
        # the threshold comes from the same fit: the confidence that best separates the verdicts given
        self.threshold = youden_threshold(self.confidences(rows), y.astype(bool))
        self.custom = Curve(base.supply_weights, coefficients, self.custom.intercept, self.threshold)
        return self
