"""The match engine: one pipeline for the three questions techmatch answers.

- need → achievements (with the talents and institutions behind them): :meth:`MatchEngine.match_need`
- achievement → enterprises that could absorb it: :meth:`MatchEngine.match_achievement`
- enterprise → achievements worth its attention: :meth:`MatchEngine.match_enterprise`

Pipeline: text channels (BM25 words, character n-grams, two dense encoders: e5-market and USE multilingual) score
every document; each channel's rank-normal score and background z-score are fused with weights learned on the
judged tune needs, the z-scores kept for the confidence (:mod:`matcher.fusion`); the best few hundred get graph
features (:mod:`matcher.features`) added with fixed cold-start weights; the feedback re-ranker
(:mod:`matcher.rerank`) adds what brokers' verdicts taught it; the score is mapped to a calibrated confidence
(:mod:`matcher.confidence`), and a query whose best candidate stays under the threshold is a gap, reported as such
rather than padded. Every returned match carries features, contributions and an explanation.

The parts, each in its own module:

- index upkeep (:mod:`matcher.upkeep`): indexes built once, persisted under ``data_dir/index``, kept current
  by edits and :meth:`sync`, dense rows computed by a background job; readers get immutable snapshots;
- the questions (:mod:`matcher.questions.supply`: need and enterprise → achievements;
  :mod:`matcher.questions.absorbers`: achievement → enterprises);
- brokers' verdicts and the re-ranker they train (:mod:`matcher.feedback`);
- explanations (:mod:`matcher.explain`).

This class wires them together: it holds no index state of its own, and a question never takes a lock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Literal, TypedDict

import numpy as np

from graph.exceptions import NotFoundError, ValidationError
from graph.model import Achievement, Feedback, Need, NodeLabel, RejectReason, Verdict
from graph.store import GraphStore
from matcher.confidence import Calibrator
from matcher.documents import achievement_text, enterprise_text, need_min_maturity
from matcher.embedders.base import Embedder
from matcher.embedders.registry import make_embedder, make_embedders
from matcher.features.base import Demand, FeatureFamily, GraphContext
from matcher.features.chain import ChainFeatures
from matcher.features.collaboration import CollaborationFeatures
from matcher.features.fit import FitFeatures
from matcher.features.region import RegionFeatures
from matcher.feedback import FeedbackBook
from matcher.fusion import Fusion, LearnedFusion, ZScoreFusion
from matcher.index.channels import extra_channel_name
from matcher.index.corpus import CorpusIndex
from matcher.index.job import JobProgress
from matcher.questions import absorbers, supply
from matcher.recalibration import Recalibration, load_fitted, recalibrate
from matcher.rerank import FeedbackReranker
from matcher.results import Match, MatchResult, Question
from matcher.settings import MatcherSettings
from matcher.tuning import CENTRED, CHANNEL_WEIGHTS, GAP_WINDOW, GRAPH_WEIGHTS, LEARNED_FUSION, POOL, REVERSE_POOL
from matcher.upkeep import IndexKeeper, Snapshot

log = logging.getLogger(__name__)

__all__ = [
    "CENTRED", "CHANNEL_WEIGHTS", "GAP_WINDOW", "GRAPH_WEIGHTS", "POOL", "REVERSE_POOL", "MatchEngine",
    "achievement_text", "enterprise_text", "need_min_maturity", "default_families",
]


def default_families() -> list[FeatureFamily]:
    return [ChainFeatures(), CollaborationFeatures(), RegionFeatures(), FitFeatures()]


def dense_channel_name(embedder: Embedder, primary: bool) -> str:
    return "dense" if primary else extra_channel_name(embedder)


class EngineStatus(TypedDict):
    """What :meth:`MatchEngine.status` tells."""

    channels: list[str]  #: every configured channel of the achievements
    answering: list[str]  #: those that answer queries now
    documents: dict[str, int]  #: documents per corpus
    embedding: dict[str, str]  #: the embedding job's progress line per corpus and encoding


class MatchEngine:
    """Ranked, explained, calibrated matches over the graph; see the module docstring."""

    def __init__(
        self,
        store: GraphStore | None,
        settings: MatcherSettings,
        embedder: Embedder | None | Literal["settings"] = "settings",
        fusion: Fusion | None = None,
        families: Sequence[FeatureFamily] | None = None,
        calibrator: Calibrator | None = None,
        extra_embedders: Sequence[Embedder] | str = "settings",
        persist: bool | None = None,
    ) -> None:
        """``settings``: the matcher's (the entry point builds them once, :func:`api.config.load_settings`).
        ``embedder``: the primary dense encoder (``"settings"``: ``settings.embedder``; None: lexical
        channels only, and then no extra encoders either). ``extra_embedders``: further dense channels
        (``"settings"``: ``settings.extra_embedders``). ``persist``: keep the indexes under
        ``data_dir/index`` (default: when there is a graph store)."""
        self.store = store
        self.settings = settings
        # no passage cache in front of the encoders: the index's vector store keeps every passage vector once
        if isinstance(embedder, str):  # "settings"
            embedder = make_embedder(self.settings.embedder)
        self.embedder: Embedder | None = embedder
        self.extra_embedders: list[Embedder] = []
        if self.embedder is not None:
            if isinstance(extra_embedders, str):
                extra_embedders = make_embedders(self.settings.extra_embedders)
            self.extra_embedders = [e for e in extra_embedders if e.name != self.embedder.name]
        encoders = [] if self.embedder is None else [(dense_channel_name(self.embedder, True), self.embedder)]
        encoders += [(dense_channel_name(e, False), e) for e in self.extra_embedders]
        self._fixed_fusion = fusion
        # the learned fusion (rank-normal and z-score of each channel, weights fitted on the judged tune needs) with
        # the dense channels, z-score fusion with the two lexical ones alone: with the lexical channels only the mean
        # z ranks better than rank-normal (one channel's tokenisation miss is half the evidence there, and only the
        # z-score can say that the other channel is sure); figures: benchmarks/judged_quality.py and
        # benchmarks/need_achievement.py [--no-dense], tables in benchmarks/README.md. While the dense rows are being
        # computed the lexical channels answer alone, with the lexical fusion and curve.
        self._dense_fusion = LearnedFusion(LEARNED_FUSION["rank_normal"], LEARNED_FUSION["z"])
        self._zscore = ZScoreFusion(CHANNEL_WEIGHTS)
        self.families = list(families) if families is not None else default_families()
        # the shipped curves, or those the deployment refitted on its own verdicts (matcher.recalibration)
        self.calibrator = calibrator or Calibrator(fitted=load_fitted(self.settings.data_dir))
        self.keeper = IndexKeeper(store, self.settings, encoders,
                                  persist=(store is not None) if persist is None else persist)
        self.feedback = FeedbackBook(store)

    # -- what the questions read -------------------------------------------------------------------
    @property
    def fusion(self) -> Fusion:
        """The fusion of the configured channels (see :meth:`fusion_for`)."""
        return self.fusion_for(self.channel_names)

    def fusion_for(self, channels: Sequence[str]) -> Fusion:
        """The learned fusion when a dense channel answers, z-score fusion for the lexical channels alone."""
        if self._fixed_fusion is not None:
            return self._fixed_fusion
        return self._dense_fusion if any(c.startswith("dense") for c in channels) else self._zscore

    @property
    def reranker(self) -> FeedbackReranker:
        return self.feedback.reranker

    def gap_threshold_for(self, channels: Sequence[str]) -> float:
        return self.calibrator.gap_threshold(self.settings.gap_confidence, channels=channels)

    def tells_gaps_for(self, channels: Sequence[str]) -> bool:
        """Whether a gap verdict of these channels is better than chance (else results carry none). A gap
        threshold set explicitly (``MatcherSettings.gap_confidence``) is the operator's decision: verdicts are shown."""
        return self.settings.gap_confidence is not None or self.calibrator.tells_gaps(channels)

    @property
    def gap_threshold(self) -> float:
        """Top-1 confidence under which a query is a gap: ``MatcherSettings.gap_confidence`` when set, else the
        threshold fitted with the confidence curve of this engine's channels."""
        return self.gap_threshold_for(self.channel_names)

    @property
    def snapshot(self) -> Snapshot:
        return self.keeper.snapshot

    @property
    def achievements(self) -> CorpusIndex:
        return self.keeper.snapshot.achievements

    @property
    def needs(self) -> CorpusIndex:
        return self.keeper.snapshot.needs

    @property
    def enterprises(self) -> CorpusIndex:
        return self.keeper.snapshot.enterprises

    @property
    def ctx(self) -> GraphContext:
        return self.keeper.snapshot.ctx

    @property
    def channel_names(self) -> list[str]:
        """The channels configured to score achievements (the confidence curve is chosen by this set)."""
        return self.keeper.channel_names("achievements")

    # -- construction and upkeep -------------------------------------------------------------------
    @classmethod
    def from_store(
        cls,
        store: GraphStore,
        settings: MatcherSettings,
        embedder: Embedder | None | Literal["settings"] = "settings",
        extra_embedders: Sequence[Embedder] | str = "settings",
        wait: bool = True,
        persist: bool | None = None,
    ) -> MatchEngine:
        """An engine over everything in the graph: persisted indexes loaded (and synced with the graph) or
        built. ``wait``: return only when every dense channel is ready (else they become ready in the
        background and the lexical channels answer meanwhile)."""
        engine = cls(store, settings=settings, embedder=embedder, extra_embedders=extra_embedders, persist=persist)
        engine.open(wait=wait)
        return engine

    def open(self, wait: bool = True) -> None:
        """Load the persisted indexes, or build them; then (in this thread when ``wait``, else in the
        background while the loaded indexes answer) bring them up to date with the graph and compute missing
        dense rows. With several processes on one data directory only the index writer does the latter."""
        self.keeper.on_feedback = self._learn_feedback
        loaded = False

        def catch_up() -> None:
            if loaded and (self.keeper.is_writer or self.keeper.root is None):
                self.keeper.sync()
                self.keeper.reload_context()
            if self.keeper.root is None or self.keeper.is_writer:
                self.keeper.embed()

        loaded = self.keeper.open(background=None if wait else catch_up)
        self.feedback.load()
        if wait:
            catch_up()

    def refresh(self) -> None:
        """Rebuild every index and the graph context from the graph, with the dense rows."""
        if self.store is None:
            raise ValidationError("this engine has no graph store to refresh from")
        self.keeper.refresh()
        self.feedback.load()
        self.keeper.embed()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait for the background embedding; True when every dense channel answers."""
        return self.keeper.wait_dense(timeout)

    def status(self) -> EngineStatus:
        """Which channels answer, and the embedding job's progress (for the service's status and the CLI)."""
        snap = self.keeper.snapshot
        return {
            "channels": snap.achievements.channel_names,
            "answering": snap.achievements.answering,
            "documents": {c: len(snap.corpus(c)) for c in ("achievements", "needs", "enterprises")},
            "embedding": {k: p.line() for k, p in self.keeper.progress.items()},
        }

    def on_progress(self, callback: Callable[[JobProgress], None]) -> None:
        """Call ``callback(JobProgress)`` after each chunk the embedding job finishes."""
        self.keeper.progress_callback = callback

    def close(self) -> None:
        self.keeper.close()

    def index_achievements(self, achievements: Iterable[Achievement], rebuild: bool = False,
                           vectors: Mapping[str, np.ndarray] | None = None, wait: bool = True) -> None:
        """Put achievements into the indexes (no graph write; :meth:`upsert_achievement` does both) and tell
        the other processes serving from them. ``vectors``: precomputed vectors aligned with ``achievements``
        by dense channel name (rebuild only, for encoders whose rows are their own vectors). ``wait``: compute
        missing dense rows before returning."""
        achs = list(achievements)
        self.keeper.index_achievements(achs, rebuild=rebuild, vectors=vectors)
        if not rebuild:
            self.keeper.tell("achievements", [a.id for a in achs])
        if wait:
            self.keeper.embed()

    def index_needs(self, needs: Iterable[Need], rebuild: bool = False, wait: bool = True) -> None:
        needs = list(needs)
        self.keeper.index_needs(needs, rebuild=rebuild)
        if not rebuild:
            self.keeper.tell("needs", [n.id for n in needs])
        if wait:
            self.keeper.embed()

    def upsert_achievement(self, achievement: Achievement) -> None:
        """Write an achievement to the graph and re-index it at once (no full rebuild)."""
        if self.store is not None:
            self.store.upsert_nodes([achievement])
        self.index_achievements([achievement], wait=False)

    def upsert_need(self, need: Need) -> None:
        if self.store is not None:
            self.store.upsert_nodes([need])
        self.reindex_need(need)

    def reindex_need(self, need: Need) -> None:
        """Re-index a need already written to the graph (posted or edited through the service): its text and
        its graph context (segments, posting enterprise), so its next matches see its chain at once. The
        embedding job then stores its query vectors in the background, so its later views (in any worker, after
        a restart) encode nothing."""
        self.keeper.index_needs([need], reload_context=True)
        self.keeper.tell("needs", [need.id])
        self.keeper.start_embedding()

    def remove_achievement(self, achievement_id: str) -> None:
        self.keeper.remove("achievements", [achievement_id])
        self.keeper.tell("achievements", [achievement_id], op="remove")

    def remove_need(self, need_id: str) -> None:
        """Forget a withdrawn need: it no longer leads to its enterprise in reverse matches."""
        self.keeper.remove("needs", [need_id])
        self.keeper.tell("needs", [need_id], op="remove")

    def achievement_hashes(self) -> dict[str, str]:
        """Content hash of every indexed achievement (what :meth:`sync` compares with the graph)."""
        return self.keeper.achievement_hashes()

    def sync(self) -> dict[str, int]:
        """Bring the indexes up to date with the graph without a rebuild: re-index only the achievements and
        needs whose content hash changed since they were indexed, drop the deleted ones. For writes that
        bypass :meth:`upsert_achievement` / :meth:`upsert_need` (bulk loads, other services)."""
        counts = self.keeper.sync()
        counts.pop("Enterprise", None)
        return counts

    # -- the three questions -----------------------------------------------------------------------
    def demand_for_need(self, need: Need) -> Demand:
        return supply.demand_for_need(self.keeper.snapshot, need)

    def match_need(self, need: str | Need, k: int = 10, include_weak: bool = False,
                   explain: bool = True) -> MatchResult:
        """Achievements that answer a need, best first, each explained; ``is_gap`` when none fits well.
        Matches under the confidence threshold are left out unless ``include_weak`` (batch evaluation)."""
        return supply.match_need(self, self.keeper.snapshot, need, k, include_weak, explain)

    def match_needs(self, needs: Sequence[str | Need], k: int = 10,
                    include_weak: bool = False) -> dict[str, MatchResult]:
        """:meth:`match_need` without explanations for many needs at once (batch jobs such as the needs'
        standings), by need id; needs not found are left out."""
        return supply.match_needs(self, self.keeper.snapshot, needs, k, include_weak)

    def match_pair(self, need: str | Need, achievement_id: str) -> Match | None:
        """One need–achievement pair as the need's ranking sees it, also when a verdict moved it off the first
        page; None when it is not among the candidates scored at all."""
        return supply.match_pair(self, self.keeper.snapshot, need, achievement_id)

    def match_enterprise(self, enterprise_id: str, k: int = 10, include_weak: bool = False) -> MatchResult:
        """Achievements worth an enterprise's attention: its description, products and open needs as the query."""
        return supply.match_enterprise(self, self.keeper.snapshot, enterprise_id, k, include_weak)

    def match_achievement(self, achievement_id: str, k: int = 10, include_weak: bool = False) -> MatchResult:
        """Enterprises that could absorb an achievement (see :mod:`matcher.questions.absorbers`)."""
        return absorbers.match_achievement(self, self.keeper.snapshot, achievement_id, k, include_weak)

    # -- feedback ----------------------------------------------------------------------------------
    def record_feedback(
        self,
        question: str | Question,
        query_id: str,
        candidate_id: str,
        verdict: str | Verdict,
        reason: str | RejectReason | None = None,
        comment: str = "",
        user: str = "",
        strength: float = 1.0,
    ) -> Feedback:
        """Store a broker's verdict on one match in the graph (``Feedback`` node, ``ABOUT`` both sides) and
        retrain the re-ranker, so the next ranking already reflects it. ``strength``: how many plain verdicts
        this one is worth (a signed contract teaches more than a click)."""
        fb = self.feedback.record(question, query_id, candidate_id, verdict, reason, comment, user,
                                  self._pair_features, strength=strength)
        self.keeper.tell("feedback", [fb.id])
        return fb

    def recalibrate(self) -> Recalibration:
        """Refit the confidence of this engine's channels on the brokers' verdicts and deals in the graph; the
        new curve is used at once (and by every engine started later on this data directory) when it scores
        the verdicts better than the curve in use."""
        if self.store is None:
            raise ValidationError("this engine has no graph store to read verdicts from")
        found = recalibrate(self.store, self.settings.data_dir, self.channel_names, self.calibrator)
        if found.adopted:
            self.calibrator = Calibrator(self.calibrator.custom, self.calibrator.threshold,
                                         fitted=load_fitted(self.settings.data_dir))
        return found

    def _learn_feedback(self, ids: list[str]) -> None:
        """Verdicts another process recorded: read from the graph, taught to the re-ranker."""
        if self.store is None:
            return
        for fid in ids:
            props = self.store.get_props(NodeLabel.FEEDBACK, fid)
            if props is not None:
                self.feedback.learn(Feedback.from_props(props))

    def _pair_features(self, question: Question, query_id: str, candidate_id: str) -> dict[str, float]:
        """The features of one (query, candidate) pair as the engine sees them now (stored with feedback)."""
        snap = self.keeper.snapshot
        try:
            if question == Question.NEED_ACHIEVEMENT:
                need = supply.find_need(self, snap, query_id)
                scored = supply.rank_supply(self, snap, need.text, supply.demand_for_need(snap, need), question,
                                            None, 10)
                if candidate_id in scored.ids:
                    return scored.features[scored.ids.index(candidate_id)].as_dict()
                return {}
            if question == Question.ENTERPRISE_ACHIEVEMENT:
                result = self.match_enterprise(query_id, k=POOL, include_weak=True)
            else:
                result = self.match_achievement(query_id, k=POOL, include_weak=True)
        except NotFoundError:
            return {}
        return next((m.features for m in result.matches if m.candidate_id == candidate_id), {})

