"""The learned re-ranker: brokers' accept/reject verdicts (``Feedback`` nodes) teach it which features matter.

Cold start (no feedback, or only one kind of verdict): the fused score is the ranking, unchanged. With both
kinds, a scikit-learn logistic regression over each candidate's features (channel z-scores, graph features,
the fused score) learns P(accept); its log-odds are added to the score with a weight that grows with the
amount of feedback (``n / (n + prior)``), so a handful of verdicts nudges and hundreds steer. The verdict on a
specific (query, candidate) pair also applies directly to that pair: a rejected match sinks for that query,
an accepted one rises. A verdict stored without features (one imported from elsewhere) counts for its pair only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from matcher.scores import MatchFeatures
from matcher.tuning import ACCEPT_BOOST, REJECT_PENALTY, RERANK_PRIOR


@dataclass(frozen=True)
class FeedbackExample:
    question: str
    query_id: str
    candidate_id: str
    accepted: bool
    features: Mapping[str, float]  #: as stored with the verdict (:meth:`MatchFeatures.as_dict`)
    weight: float = 1.0  # a signed contract teaches more than a click


class _Classifier(Protocol):
    """The fitted scikit-learn pipeline: a signed distance from the decision boundary per row."""

    def decision_function(self, x: np.ndarray) -> np.ndarray: ...


class FeedbackReranker:
    def __init__(self, prior: float = RERANK_PRIOR) -> None:
        self.prior = prior
        self.feature_names: list[str] = []
        self.model: _Classifier | None = None
        self.n_examples = 0
        self._pairs: dict[tuple[str, str, str], float] = {}

    @property
    def trained(self) -> bool:
        return self.model is not None

    def fit(self, examples: Sequence[FeedbackExample]) -> FeedbackReranker:
        self._pairs = {}
        for ex in examples:  # later verdicts on the same pair win
            self._pairs[(ex.question, ex.query_id, ex.candidate_id)] = ACCEPT_BOOST if ex.accepted else REJECT_PENALTY
        # a verdict recorded without the pair's features (imported, or the demo's) teaches that pair only
        examples = [ex for ex in examples if ex.features]
        self.n_examples = len(examples)
        labels = [ex.accepted for ex in examples]
        self.model = None
        if len(set(labels)) < 2:
            return self
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self.feature_names = sorted({k for ex in examples for k in ex.features})
        x = np.array([[float(ex.features.get(f, 0.0)) for f in self.feature_names] for ex in examples])
        model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, class_weight="balanced"))
        self.model = model
        model.fit(x, np.asarray(labels, dtype=int),
                       logisticregression__sample_weight=np.asarray([ex.weight for ex in examples]))
        return self

    def adjust(
        self, question: str, query_id: str | None, candidate_ids: Sequence[str], features: Sequence[MatchFeatures]
    ) -> np.ndarray:
        """The score change for each candidate: learned log-odds (weighted) plus the pair's own verdict."""
        learned, verdict = self.adjust_parts(question, query_id, candidate_ids, features)
        return learned + verdict

    def adjust_parts(
        self, question: str, query_id: str | None, candidate_ids: Sequence[str], features: Sequence[MatchFeatures]
    ) -> tuple[np.ndarray, np.ndarray]:
        """(learned log-odds, the pair's own verdict) for each candidate, apart: the verdict moves the pair in
        the ranking but is shown as a verdict, not folded into the pair's confidence."""
        learned = np.zeros(len(candidate_ids), dtype=np.float32)
        verdict = np.zeros(len(candidate_ids), dtype=np.float32)
        if self.model is not None and len(candidate_ids):
            flat = [f.as_dict() for f in features]  # the model was fitted on the stored flat form
            x = np.array([[float(f.get(name, 0.0)) for name in self.feature_names] for f in flat])
            weight = self.n_examples / (self.n_examples + self.prior)
            learned += (weight * self.model.decision_function(x)).astype(np.float32)
        if query_id is not None and self._pairs:
            for i, cid in enumerate(candidate_ids):
                verdict[i] += self._pairs.get((question, query_id, cid), 0.0)
        return learned, verdict
