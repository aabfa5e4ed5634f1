"""Calibrated confidence: the probability that a broker would judge a candidate relevant.

Inputs are the candidate's background z-score in each channel (see :mod:`matcher.fusion`: how many standard
deviations it stands above the whole corpus for this query) plus ``bonus``, what the graph features and
brokers' feedback added to its score (same units):

    confidence = 1 / (1 + exp(-(intercept + Σ coefficient_f × feature_f)))

Coefficients are fitted by ``python benchmarks/calibrate_confidence.py``: a logistic regression of "judged
relevant (grade >= 1)" on every judged (need, achievement) pair of the dev set; a handful of parameters,
nothing per query. Measured gap_auc of the top-1 confidence: 0.77 in-sample, 0.73 leave-one-need-out (the
honest figure), against 0.65 for the fused score alone: the dense channel's margin over the background is
what best tells a need with real supply from one without, so it carries most weight. A deployment without
the dense channel gets the curve fitted on the lexical channels alone (much weaker: leave-one-need-out gap_auc
0.44, lexical margins hardly tell needs with supply from needs without; that script with --no-dense).
``bonus`` is not fitted (the dev set has no graph): it counts like a channel z-score of average weight.
A deployment refits on its own brokers' verdicts with :meth:`Calibrator.fit`.

Gap decision: a query whose best candidate stays under the gap threshold is a gap (no good supply, reported as
such and never padded). The threshold is fitted with each curve, not chosen by hand: the top-1 confidence that
maximises Youden's J (balanced accuracy) of "need has supply" over the dev needs, leave-one-need-out
(:func:`youden_threshold`). ``Settings.gap_confidence`` overrides it when set.

Corpus size: the channel z-scores are leave-one-out (:func:`matcher.fusion.background_z`), so a strong match
reads about the same on the 71-achievement demo graph as on a 2,810-achievement market; a plain z would be
capped at sqrt(N-1) and a small deployment would see every real match as a gap.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

#: fitted by benchmarks/calibrate_confidence.py (all three channels), see the module docstring
DENSE_COEFFICIENTS = {"z_dense": 0.9261, "z_char_ngram": 0.2771, "z_bm25_words": 0.0651, "bonus": 0.4}
DENSE_INTERCEPT = -6.3803
#: the gap threshold fitted with that curve: the top-1 confidence that best separates dev needs with supply from
#: needs without (Youden's J on leave-one-need-out confidences)
DENSE_GAP_THRESHOLD = 0.1369
#: the same fitted with the lexical channels only (no embedder configured)
LEXICAL_COEFFICIENTS = {"z_char_ngram": 0.2569, "z_bm25_words": 0.0987, "bonus": 0.4}
LEXICAL_INTERCEPT = -4.3941
LEXICAL_GAP_THRESHOLD = 0.2941
#: the features the curve reads (missing ones count as 0)
CONFIDENCE_FEATURES = ("z_dense", "z_char_ngram", "z_bm25_words", "bonus")


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
    def __init__(
        self,
        coefficients: Mapping[str, float] | None = None,
        intercept: float | None = None,
        threshold: float | None = None,
    ) -> None:
        """Without arguments: the fitted defaults, picking the lexical-only curve (and its gap threshold) for
        candidates that have no dense-channel score. With ``coefficients``: that one curve for everything,
        with ``threshold`` as its gap threshold (default: the dense curve's)."""
        self.coefficients = dict(coefficients) if coefficients is not None else None
        self.intercept = float(intercept) if intercept is not None else DENSE_INTERCEPT
        self.threshold = threshold

    def logit(self, features: Mapping[str, float]) -> float:
        if self.coefficients is not None:
            coefs, intercept = self.coefficients, self.intercept
        elif "z_dense" in features:
            coefs, intercept = DENSE_COEFFICIENTS, DENSE_INTERCEPT
        else:
            coefs, intercept = LEXICAL_COEFFICIENTS, LEXICAL_INTERCEPT
        return intercept + sum(c * float(features.get(f, 0.0)) for f, c in coefs.items())

    def gap_threshold(self, override: float | None = None, dense: bool = True) -> float:
        """The top-1 confidence under which a query is a gap: ``override`` (``Settings.gap_confidence``) when
        set, else the threshold fitted together with the curve in use (``dense``: an embedder is configured)."""
        if override is not None:
            return float(override)
        if self.threshold is not None:
            return self.threshold
        if self.coefficients is not None:
            return DENSE_GAP_THRESHOLD
        return DENSE_GAP_THRESHOLD if dense else LEXICAL_GAP_THRESHOLD

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
        # the threshold comes from the same fit: the confidence that best separates the verdicts given
        self.threshold = youden_threshold(self.confidences(rows), y.astype(bool))
        return self
