"""Expertise affinity: how well a person's (or organisation's) body of work fits a challenge text.

The works (achievements, patents, projects, papers) are one corpus of the engine's index stack
(:class:`~matcher.index.corpus.CorpusIndex`, made by a :class:`~matcher.index.builder.CorpusBuilder`: the same
analysers, inverted matrices, dense rows and vector store as the achievements), and every work is scored
against the query by its channels and the channels are fused by a :class:`~matcher.fusion.Fusion` of the engine's
module (default :class:`~matcher.fusion.ZSumFusion`: plain z-scores over the works, so a lexical cosine and a
compressed dense cosine can be added, summed with the scorer's weights). A solver's affinity is
then an *aggregation* over its works. Aggregations are sibling classes behind one small protocol:
``max`` (the single best work), ``mean``, ``sum`` (rewards sheer volume), ``topk`` (a decaying
weighted mean of the best few works; missing works count as zero, so depth is rewarded without
letting many weak works add up) and ``softmax`` (a smooth maximum, log-sum-exp at a temperature,
where each further strong work adds a little and weak ones add almost nothing).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from ingest.text import tokenize
from matcher.explain import terms_shared_with
from matcher.fusion import Fusion, ZSumFusion
from matcher.index.builder import CorpusBuilder
from matcher.index.corpus import Change, CorpusIndex
from matcher.index.job import JobProgress

#: cells per chunk when gathering (queries x solvers x works); bounds memory on big corpora
_CHUNK_CELLS = 8_000_000


@runtime_checkable
class Aggregation(Protocol):
    """Turns each solver's work scores into one affinity."""

    name: str

    def reduce(self, padded: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """``padded``: (queries, solvers, width) work scores sorted best first per solver, ``mask`` marks
        real works (solvers have different numbers of works). Returns (queries, solvers)."""


class MaxAggregation:
    name = "max"

    def reduce(self, padded: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return padded[..., 0]


class MeanAggregation:
    name = "mean"

    def reduce(self, padded: np.ndarray, mask: np.ndarray) -> np.ndarray:
        counts = np.maximum(mask.sum(axis=-1), 1)
        return np.where(mask, padded, 0.0).sum(axis=-1) / counts


class SumAggregation:
    name = "sum"

    def reduce(self, padded: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return np.where(mask, padded, 0.0).sum(axis=-1)


class TopKAggregation:
    """Weighted mean of the best ``k`` works, weights ``decay**i``, divided by the weights of all k slots."""

    def __init__(self, k: int = 3, decay: float = 0.5) -> None:
        if k < 1 or not 0 < decay <= 1:
            raise ValueError("top-k aggregation needs k >= 1 and 0 < decay <= 1")
        self.k, self.decay = k, decay
        self.name = f"top{k}"

    def reduce(self, padded: np.ndarray, mask: np.ndarray) -> np.ndarray:
        width = min(self.k, padded.shape[-1])
        weights = self.decay ** np.arange(self.k, dtype=np.float32)
        # A missing work contributes the floor score of the slot (0 after the floor shift below).
        top = np.where(mask[..., :width], padded[..., :width], 0.0)
        return (top * weights[:width]).sum(axis=-1) / weights.sum()


class SoftmaxAggregation:
    """Smooth maximum anchored at zero, ``T * log(1 + sum(exp(s / T) - 1))`` over works ``s >= 0``.

    One work scores exactly ``s``; each further strong work adds up to ``T * log 2``; a work at 0 (no
    better than the corpus average) adds nothing, so a pile of weak works cannot add up.
    """

    def __init__(self, temperature: float = 0.5) -> None:
        if temperature <= 0:
            raise ValueError("softmax temperature must be positive")
        self.temperature = temperature
        self.name = f"softmax(T={temperature:g})"

    def reduce(self, padded: np.ndarray, mask: np.ndarray) -> np.ndarray:
        t = self.temperature
        best = padded[..., :1]
        # factor out exp(best / T) so large scores do not overflow
        floor = np.exp(-best / t)
        terms = np.where(mask, np.exp((padded - best) / t) - floor, 0.0).sum(axis=-1, keepdims=True)
        return (best + t * np.log(floor + terms))[..., 0]


class PowerMeanAggregation:
    """Generalised mean ``(mean s^p)^(1/p)`` of the (non-negative) work scores; p→∞ is max, p=1 mean."""

    def __init__(self, p: float = 4.0) -> None:
        self.p = p
        self.name = f"powermean(p={p:g})"

    def reduce(self, padded: np.ndarray, mask: np.ndarray) -> np.ndarray:
        counts = np.maximum(mask.sum(axis=-1), 1)
        pos = np.where(mask, np.maximum(padded, 0.0), 0.0)
        return (np.power(pos, self.p).sum(axis=-1) / counts) ** (1.0 / self.p)


AGGREGATIONS: dict[str, type] = {
    "max": MaxAggregation,
    "mean": MeanAggregation,
    "sum": SumAggregation,
    "topk": TopKAggregation,
    "softmax": SoftmaxAggregation,
    "powermean": PowerMeanAggregation,
}


def make_aggregation(spec: str) -> Aggregation:
    """``"max"``, ``"topk:3:0.5"``, ``"softmax:0.5"``, ``"powermean:4"`` → an aggregation object."""
    name, *args = spec.split(":")
    cls = AGGREGATIONS.get(name)
    if cls is None:
        raise ValueError(f"unknown aggregation {name!r}; choose from {', '.join(AGGREGATIONS)}")
    try:
        values = [float(a) for a in args]
    except ValueError as exc:
        raise ValueError(f"aggregation {spec!r}: parameters must be numbers") from exc
    if name == "topk" and values:
        values[0] = int(values[0])
    return cls(*values)


@dataclass(frozen=True)
class Work:
    """One thing a solver did, with the solvers credited for it (inventors, project members ...)."""

    id: str
    text: str
    owners: tuple[str, ...]
    year: int | None = None
    kind: str = ""
    title: str = ""


@dataclass(frozen=True)
class WorkEvidence:
    work_id: str
    title: str
    score: float
    year: int | None = None
    kind: str = ""
    terms: tuple[str, ...] = ()


@dataclass
class ExpertAffinity:
    solver_id: str
    score: float
    works: list[WorkEvidence] = field(default_factory=list)


def work_change(work: Work) -> Change:
    """A work as a document of the index stack: its text, and its title for the lexical channels (read once
    more, as an achievement's is)."""
    return Change(work.id, work.text, work.title)


class EmbeddingStopped(RuntimeError):
    """The works' dense rows were not all computed: the caller asked the job to stop."""


class ExpertiseIndex:
    """Works of many solvers as one corpus, scored by weighted channels and aggregated per solver."""

    def __init__(self, builder: CorpusBuilder, weights: Mapping[str, float],
                 aggregation: Aggregation | None = None, fusion: Fusion | None = None) -> None:
        """``builder``: the channels the works are indexed with; ``weights``: each channel's weight in the work
        score, by channel name (every one a channel of ``builder``); ``fusion``: how the channels' scores of a work
        become one (default: :class:`~matcher.fusion.ZSumFusion` with ``weights``)."""
        if not weights:
            raise ValueError("an expertise index needs at least one channel")
        unknown = sorted(set(weights) - set(builder.channel_names))
        if unknown:
            raise ValueError(f"no such channel in the builder: {', '.join(unknown)}")
        self.builder = builder
        self.weights = dict(weights)
        self.fusion: Fusion = fusion or ZSumFusion(self.weights)
        self.aggregation = aggregation or SoftmaxAggregation()
        self.corpus: CorpusIndex = builder.empty()
        self.works: list[Work] = []
        self.solver_ids: list[str] = []
        self._slots = np.zeros((0, 1), dtype=np.int64)  # (solvers, width) work indices, -1 = none
        self._solver_pos: dict[str, int] = {}

    def fit(self, works: Sequence[Work], progress: Callable[[JobProgress], None] | None = None,
            stop: threading.Event | None = None, workers: int = 1) -> None:
        """Index ``works`` (solvers are every owner named by some work) and compute their dense rows: from the
        vector store where any corpus already encoded the text, else encoded now (``progress`` reports it,
        ``stop`` ends it with :class:`EmbeddingStopped`)."""
        self.adopt(works)
        corpus = self.builder.build([work_change(w) for w in self.works])
        ready = self.builder.embed(corpus, stop=stop, progress=progress, what="works", workers=workers)
        if ready is None:
            raise EmbeddingStopped("the works' dense rows were not all computed")
        self.corpus = ready

    def adopt(self, works: Sequence[Work], corpus: CorpusIndex | None = None) -> None:
        """Take ``works`` as the indexed works and ``corpus`` as their index (a stored one,
        :mod:`matcher.solvers.stored`), without building anything; ``corpus`` must hold exactly these works in
        this order."""
        self._adopt(works)
        if corpus is not None:
            if corpus.doc_ids != [w.id for w in self.works]:
                raise ValueError("the corpus index does not hold these works in this order")
            if not all(ch.ready for ch in corpus.dense):
                corpus = self.builder.fill_from_store(corpus)
            self.corpus = corpus

    def _adopt(self, works: Sequence[Work]) -> None:
        self.works = [w for w in works if w.owners]
        ids = [w.id for w in self.works]
        if len(set(ids)) != len(ids):
            raise ValueError("work ids must be unique")
        by_solver: dict[str, list[int]] = {}
        for i, w in enumerate(self.works):
            for owner in dict.fromkeys(w.owners):
                by_solver.setdefault(owner, []).append(i)
        self.solver_ids = list(by_solver)
        self._solver_pos = {s: i for i, s in enumerate(self.solver_ids)}
        width = max((len(v) for v in by_solver.values()), default=1)
        self._slots = np.full((len(self.solver_ids), width), -1, dtype=np.int64)
        for s, idx in enumerate(by_solver.values()):
            self._slots[s, : len(idx)] = idx

    def work_scores(self, queries: Sequence[str]) -> np.ndarray:
        """Fused work scores, (queries, works): the fusion of the weighted channels' scores of every work."""
        total = np.zeros((len(queries), len(self.works)), dtype=np.float32)
        if not self.works or not len(queries):
            return total
        missing = [ch.name for ch in self.corpus.dense if not ch.ready and ch.name in self.weights]
        if missing:
            raise RuntimeError(f"the works' dense rows are not computed ({', '.join(missing)}): fit the index")
        for row, raw in zip(total, self.corpus.channel_scores_many(queries), strict=True):
            row += self.fusion.combine({name: raw[name] for name in self.weights}).score
        return total

    def solver_scores(self, queries: Sequence[str], work_scores: np.ndarray | None = None) -> np.ndarray:
        """Affinity of every solver (aligned with :attr:`solver_ids`) for each query, (queries, solvers)."""
        ws = self.work_scores(queries) if work_scores is None else work_scores
        n_q, n_s = ws.shape[0], len(self.solver_ids)
        out = np.zeros((n_q, n_s), dtype=np.float32)
        if n_s == 0 or n_q == 0:
            return out
        mask = self._slots >= 0
        width = self._slots.shape[1]
        sorted_mask = np.arange(width)[None, :] < mask.sum(axis=1)[:, None]
        step = max(1, _CHUNK_CELLS // max(1, n_s * width))
        for start in range(0, n_q, step):
            block = ws[start : start + step]
            # Only works above the corpus average for this query count (fused z-scores have mean 0): a pile
            # of average works must not add up to expertise under sum/softmax aggregations.
            block = np.maximum(block, 0.0)
            padded = np.where(mask, block[:, np.maximum(self._slots, 0)], -np.inf)
            # Best first per solver; missing slots (-inf) sort last, so the first `count` slots are real.
            padded = -np.sort(-padded, axis=-1)
            smask = np.broadcast_to(sorted_mask, padded.shape)
            padded = np.where(smask, padded, 0.0)
            out[start : start + step] = self.aggregation.reduce(padded, smask)
        return out

    def top_solvers(
        self, query: str, k: int = 10, explain_works: int = 3, candidates: set[str] | None = None
    ) -> list[ExpertAffinity]:
        """The ``k`` best solvers for ``query`` with their best works as evidence."""
        if not self.solver_ids:
            return []
        ws = self.work_scores([query])
        scores = self.solver_scores([query], ws)[0]
        order = np.argsort(-scores, kind="stable")
        result: list[ExpertAffinity] = []
        for s in order:
            sid = self.solver_ids[s]
            if candidates is not None and sid not in candidates:
                continue
            result.append(ExpertAffinity(sid, float(scores[s]), self.evidence(query, sid, ws[0], explain_works)))
            if len(result) >= k:
                break
        return result

    def evidence(self, query: str, solver_id: str, work_scores: np.ndarray, n: int = 3,
                 words: Sequence[str] | None = None) -> list[WorkEvidence]:
        """The solver's ``n`` best works for this query, each with the query's words it holds (read from the works'
        word channel as an achievement's match reads them, :func:`matcher.explain.terms_shared_with`; ``words``:
        the query's ``tokenize``, when the caller asks for the evidence of several solvers)."""
        pos = self._solver_pos.get(solver_id)
        if pos is None:
            return []
        idx = [i for i in self._slots[pos] if i >= 0]
        idx.sort(key=lambda i: -work_scores[i])
        if words is None:
            words = tokenize(query) if idx[:n] else []
        out = []
        for i in idx[:n]:
            w = self.works[i]
            shown = tuple(terms_shared_with(self.corpus, w.id, words))
            out.append(WorkEvidence(w.id, w.title or w.text[:60], float(work_scores[i]), w.year, w.kind, shown))
        return out

    def works_of(self, solver_id: str) -> list[Work]:
        """Every work credited to the solver (best first is the caller's business)."""
        pos = self._solver_pos.get(solver_id)
        if pos is None:
            return []
        return [self.works[i] for i in self._slots[pos] if i >= 0]

    def rank(self, queries: Sequence[str], k: int = 100) -> list[list[tuple[str, float]]]:
        """Batch ranking: for each query the ``k`` best (solver_id, score), best first."""
        out: list[list[tuple[str, float]]] = []
        step = 64
        for start in range(0, len(queries), step):
            scores = self.solver_scores(queries[start : start + step])
            for row in scores:
                kk = min(k, len(row))
                if kk == 0:
                    out.append([])
                    continue
                top = np.argpartition(-row, kk - 1)[:kk]
                top = top[np.argsort(-row[top], kind="stable")]
                out.append([(self.solver_ids[i], float(row[i])) for i in top])
        return out
