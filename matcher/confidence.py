"""Calibrated confidence: the probability that a broker would judge a candidate relevant.

Inputs are the candidate's background z-score in each channel (see :mod:`matcher.fusion`: how many standard
deviations it stands above the whole corpus for this query) plus ``bonus``, what the graph features and
brokers' feedback added to its score (same units):

    confidence = 1 / (1 + exp(-(intercept + Σ coefficient_f × feature_f)))

Coefficients are fitted by ``python benchmarks/calibrate_confidence.py``: a logistic regression of "judged
relevant (grade >= 1)" on every judged (need, achievement) pair of the dev set; a handful of parameters,
nothing per query. Measured gap_auc of the top-1 confidence: 0.77 in-sample, 0.72 leave-one-need-out (the
honest figure), against 0.65 for the fused score alone: the dense channel's margin over the background is
what best tells a need with real supply from one without, so it carries most weight. A deployment without
the dense channel gets the curve fitted on the lexical channels alone (weaker; that script with --no-dense).
``bonus`` is not fitted (the dev set has no graph): it counts like a channel z-score of average weight.
A deployment refits on its own brokers' verdicts with :meth:`Calibrator.fit`. A query whose best candidate
stays under ``Settings.gap_confidence`` is a gap: no good supply, reported as such and never padded.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

#: fitted by benchmarks/calibrate_confidence.py (all three channels), see the module docstring
DENSE_COEFFICIENTS = {"z_dense": 0.9308, "z_char_ngram": 0.2821, "z_bm25_words": 0.0642, "bonus": 0.4}
DENSE_INTERCEPT = -6.4003
#: the same fitted with the lexical channels only (no embedder configured)
LEXICAL_COEFFICIENTS = {"z_char_ngram": 0.2608, "z_bm25_words": 0.0992, "bonus": 0.4}
LEXICAL_INTERCEPT = -4.406
#: the features the curve reads (missing ones count as 0)
CONFIDENCE_FEATURES = ("z_dense", "z_char_ngram", "z_bm25_words", "bonus")


class Calibrator:
    def __init__(self, coefficients: Mapping[str, float] | None = None, intercept: float | None = None) -> None:
        """Without arguments: the fitted defaults, picking the lexical-only curve for candidates that have no
        dense-channel score. With ``coefficients``: that one curve for everything."""
        self.coefficients = dict(coefficients) if coefficients is not None else None
        self.intercept = float(intercept) if intercept is not None else DENSE_INTERCEPT

    def logit(self, features: Mapping[str, float]) -> float:
        if self.coefficients is not None:
            coefs, intercept = self.coefficients, self.intercept
        elif "z_dense" in features:
            coefs, intercept = DENSE_COEFFICIENTS, DENSE_INTERCEPT
        else:
            coefs, intercept = LEXICAL_COEFFICIENTS, LEXICAL_INTERCEPT
        return intercept + sum(c * float(features.get(f, 0.0)) for f, c in coefs.items())

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
