"""Calibrated confidence: the probability that a broker would judge a candidate relevant, from its score.

The engine's score is a background z-score (see :mod:`matcher.fusion`): how many standard deviations the
candidate stands above the whole corpus for this query, plus graph-feature and feedback terms in the same
units. It means the same from one query to the next, so one logistic curve maps it to a probability:

    confidence = 1 / (1 + exp(-(slope * score + intercept)))

The two parameters are fitted by ``python benchmarks/calibrate_confidence.py`` (logistic regression of
"judged relevant, grade >= 1" on the score of every judged pair of the need → achievement dev set; two
parameters, nothing per query). The fitted values are the defaults below; a deployment refits them on its
own broker feedback with :meth:`Calibrator.fit`. A need whose best candidate stays under
``Settings.gap_confidence`` is a gap: no good supply, reported as such.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

#: fitted by benchmarks/calibrate_confidence.py on the dev qrels (see that script's output)
DEFAULT_SLOPE = 0.55
DEFAULT_INTERCEPT = -4.6


class Calibrator:
    def __init__(self, slope: float = DEFAULT_SLOPE, intercept: float = DEFAULT_INTERCEPT) -> None:
        self.slope, self.intercept = float(slope), float(intercept)

    def __call__(self, score: float | np.ndarray) -> np.ndarray | float:
        x = np.clip(self.slope * np.asarray(score, dtype=np.float64) + self.intercept, -30, 30)
        p = 1.0 / (1.0 + np.exp(-x))
        return float(p) if np.ndim(p) == 0 else p

    def fit(self, scores: Sequence[float], relevant: Sequence[bool]) -> Calibrator:
        """Refit on (score, was it relevant) pairs; keeps the current curve when only one class is present."""
        y = np.asarray(relevant, dtype=int)
        if len(set(y.tolist())) < 2:
            return self
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=10.0).fit(np.asarray(scores, dtype=np.float64).reshape(-1, 1), y)
        self.slope, self.intercept = float(model.coef_[0][0]), float(model.intercept_[0])
        return self

    def score_for(self, confidence: float) -> float:
        """The score at which the confidence reaches ``confidence`` (inverse of the curve)."""
        c = min(max(confidence, 1e-6), 1 - 1e-6)
        return (math.log(c / (1 - c)) - self.intercept) / self.slope
