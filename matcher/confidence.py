"""Calibrated confidence: the probability that a broker would judge a candidate relevant.

The engine's ranking score is a background z-score (see :mod:`matcher.fusion`): how far the candidate stands
above the whole corpus for this query. That is relative; whether a need has *any* real supply also depends on
absolute evidence: how many rare words the best candidate really shares (raw BM25), how close the texts are
(raw character n-gram and embedding cosines). The confidence is a logistic curve over both kinds:

    confidence = 1 / (1 + exp(-(intercept + Σ coefficient_f × feature_f)))   for f in CONFIDENCE_FEATURES

Coefficients are fitted by ``python benchmarks/calibrate_confidence.py`` (logistic regression of "judged
relevant, grade >= 1" on every judged (need, achievement) pair of the dev set: a handful of parameters,
nothing per query; the script also reports the leave-one-need-out gap_auc, the honest figure). A deployment
refits them on its own brokers' verdicts with :meth:`Calibrator.fit`. A query whose best candidate stays under
``Settings.gap_confidence`` is a gap: no good supply, reported as such and never padded.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

#: the features the curve reads (missing ones count as 0: e.g. no dense channel configured)
CONFIDENCE_FEATURES = ("score", "raw_bm25_words", "raw_char_ngram", "raw_dense")

#: fitted by benchmarks/calibrate_confidence.py on the dev qrels (see docs in that script)
DEFAULT_COEFFICIENTS = {"score": 0.35, "raw_bm25_words": 0.02, "raw_char_ngram": 4.0, "raw_dense": 0.0}
DEFAULT_INTERCEPT = -4.0


class Calibrator:
    def __init__(
        self, coefficients: Mapping[str, float] | None = None, intercept: float = DEFAULT_INTERCEPT
    ) -> None:
        self.coefficients = dict(DEFAULT_COEFFICIENTS if coefficients is None else coefficients)
        self.intercept = float(intercept)

    def logit(self, features: Mapping[str, float]) -> float:
        return self.intercept + sum(c * float(features.get(f, 0.0)) for f, c in self.coefficients.items())

    def confidence(self, features: Mapping[str, float]) -> float:
        x = min(max(self.logit(features), -30.0), 30.0)
        return 1.0 / (1.0 + math.exp(-x))

    def confidences(self, rows: Sequence[Mapping[str, float]]) -> np.ndarray:
        return np.array([self.confidence(r) for r in rows], dtype=np.float64)

    def fit(self, rows: Sequence[Mapping[str, float]], relevant: Sequence[bool]) -> Calibrator:
        """Refit on (features, was it relevant) pairs; keeps the current curve when only one class is present."""
        y = np.asarray(relevant, dtype=int)
        if len(set(y.tolist())) < 2:
            return self
        from sklearn.linear_model import LogisticRegression

        names = list(CONFIDENCE_FEATURES)
        x = np.array([[float(r.get(f, 0.0)) for f in names] for r in rows])
        model = LogisticRegression(C=1.0, max_iter=1000).fit(x, y)
        self.coefficients = dict(zip(names, model.coef_[0].tolist(), strict=True))
        self.intercept = float(model.intercept_[0])
        return self
