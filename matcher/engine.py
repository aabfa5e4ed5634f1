"""The match engine: one pipeline for the three questions techmatch answers.

- need → achievements (with the talents and institutions behind them): :meth:`MatchEngine.match_need`
- achievement → enterprises that could absorb it: :meth:`MatchEngine.match_achievement`
- enterprise → achievements worth its attention: :meth:`MatchEngine.match_enterprise`

Pipeline: text channels (BM25 words, character n-grams, two dense encoders: e5-small and USE multilingual)
score every document; each channel's ranks are fused as rank-normal scores, its background z-scores kept for the
confidence (:mod:`matcher.fusion`); the best few hundred get graph features
(:mod:`matcher.features`) added with fixed cold-start weights; the feedback re-ranker (:mod:`matcher.rerank`)
adds what brokers' verdicts taught it; the score is mapped to a calibrated confidence
(:mod:`matcher.confidence`), and a query whose best candidate stays under the threshold is a gap, reported as
such rather than padded. Every returned match carries features, contributions and an explanation.

The graph is the source of truth; the indexes are derived: built by :meth:`refresh`, kept current by
:meth:`upsert_achievement` / :meth:`upsert_need` without a rebuild.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from graph.exceptions import NotFoundError, ValidationError
from graph.model import (
    MATURITY_ORDER,
    Achievement,
    Enterprise,
    Feedback,
    Maturity,
    Need,
    NodeLabel,
    RejectReason,
    Relation,
    RelType,
    Verdict,
)
from graph.settings import Settings, get_settings
from graph.store import GraphStore
from ingest.text import required_maturity, tokenize
from matcher.channels.base import Channel
from matcher.channels.bm25_words import BM25WordsChannel
from matcher.channels.char_ngram import CharNgramChannel
from matcher.channels.dense import DenseChannel, extra_channel_name
from matcher.confidence import Calibrator
from matcher.embedders.base import Embedder
from matcher.embedders.registry import make_embedder, make_embedders
from matcher.explain import chain_path, collaboration_paths, describe, shared_terms
from matcher.features.base import Demand, FeatureFamily, GraphContext, supply_info
from matcher.features.chain import ChainFeatures
from matcher.features.collaboration import CollaborationFeatures
from matcher.features.fit import FitFeatures
from matcher.features.region import RegionFeatures
from matcher.fusion import Fusion, RankNormalFusion, ZScoreFusion
from matcher.rerank import FeedbackExample, FeedbackReranker
from matcher.results import Match, MatchResult, PathStep, Question
from matcher.text_index import TextIndex

log = logging.getLogger(__name__)

#: channel weights in the fused score; equal (absent channels count 1.0): no tuning on 20 judged needs
CHANNEL_WEIGHTS = {"bm25_words": 1.0, "char_ngram": 1.0, "dense": 1.0, "dense_use_m3": 1.0}

#: cold-start weight of each graph feature, in the fused score's units (standard deviations above the corpus).
#: Preference features (fit) are centred on 0.5 = unknown. Until brokers' feedback trains the re-ranker these
#: are judgement, not fitted: same segment is worth about one σ, an earlier relationship as much.
GRAPH_WEIGHTS = {
    "chain_same_segment": 1.0,
    "chain_adjacent": 0.5,
    "chain_same_chain": 0.2,
    "prior_collaboration": 1.0,
    "same_region": 0.2,
    "maturity": 0.0,
    "cooperation_fit": 0.0,
    "budget_fit": 0.4,
    # the need's own stated floor (中试以上) not met: the enterprise said it will not take it. About half of a
    # text-perfect match's fused score (~3 on a market of thousands), so such a candidate is not counted as supply
    "maturity_short": -1.5,
}
CENTRED = {"maturity", "cooperation_fit", "budget_fit"}

#: candidates that get graph features and re-ranking, at least
POOL = 300
#: a query's confidence is that of its most confident candidate among the first GAP_WINDOW ranked (the first
#: page a broker reads), whatever k was asked: the gap decision does not depend on the page size
GAP_WINDOW = 10
#: sync() re-reads the graph context of this many changed needs one by one; more, and it reloads it whole
SYNC_CONTEXT_ONE_BY_ONE = 200
#: needs and enterprise profiles considered per achievement (each is one query against the achievement corpus)
REVERSE_POOL = 20


@dataclass
class _Scored:
    ids: list[str]
    score: np.ndarray
    features: list[dict[str, float]]
    contributions: list[dict[str, float]]
    query_terms: list[str] = field(default_factory=list)


def default_families() -> list[FeatureFamily]:
    return [ChainFeatures(), CollaborationFeatures(), RegionFeatures(), FitFeatures()]


class MatchEngine:
    """Ranked, explained, calibrated matches over the graph; see the module docstring."""

    def __init__(
        self,
        store: GraphStore | None,
        settings: Settings | None = None,
        embedder: Embedder | None | str = "settings",
        fusion: Fusion | None = None,
        families: Sequence[FeatureFamily] | None = None,
        calibrator: Calibrator | None = None,
        extra_embedders: Sequence[Embedder] | str = "settings",
    ) -> None:
        """``embedder``: the primary dense encoder (``"settings"``: ``Settings.embedder``; None: lexical
        channels only, and then no extra encoders either). ``extra_embedders``: further dense channels
        (``"settings"``: ``Settings.extra_embedders``)."""
        self.store = store
        self.settings = settings or get_settings()
        if embedder == "settings":
            embedder = make_embedder(self.settings.embedder, self.settings.cache_dir)
        self.embedder: Embedder | None = embedder  # type: ignore[assignment]
        self.extra_embedders: list[Embedder] = []
        if self.embedder is not None:
            if isinstance(extra_embedders, str):
                extra_embedders = make_embedders(self.settings.extra_embedders, self.settings.cache_dir)
            self.extra_embedders = [e for e in extra_embedders if e.name != self.embedder.name]
        # rank-normal fusion with the dense channels, z-score fusion with the two lexical ones alone: measured on
        # the dev needs, rank-normal 0.564 vs z 0.509 nDCG@10 with four channels, but 0.429 vs 0.474 with the two
        # lexical ones (one channel's tokenisation miss is half the evidence there, and only the z-score can say
        # that the other channel is sure); benchmarks/need_achievement.py [--no-dense]
        self.fusion = fusion or (
            RankNormalFusion(CHANNEL_WEIGHTS) if self.embedder is not None else ZScoreFusion(CHANNEL_WEIGHTS)
        )
        self.families = list(families) if families is not None else default_families()
        self.calibrator = calibrator or Calibrator()
        self.reranker = FeedbackReranker()
        self.ctx = GraphContext()
        self.achievements = self._new_index()
        self.needs = self._new_index()
        self.enterprises = self._new_index(dense=False)
        self._need_nodes: dict[str, Need] = {}
        self._ach_names: dict[str, str] = {}
        self._ent_nodes: dict[str, Enterprise] = {}
        self._feedback: list[FeedbackExample] = []
        self._feedback_by_pair: dict[tuple[str, str, str], FeedbackExample] = {}
        self._hashes: dict[str, dict[str, str]] = {}  # label -> id -> content hash when indexed
        self._lock = threading.RLock()
        #: encode the query on the dense channel's worker thread while the lexical channels score
        self.prefetch_queries = True

    @property
    def gap_threshold(self) -> float:
        """Top-1 confidence under which a query is a gap: ``Settings.gap_confidence`` when set, else the
        threshold fitted with the confidence curve of this engine's channels."""
        return self.calibrator.gap_threshold(self.settings.gap_confidence, channels=self.channel_names)

    # -- construction ------------------------------------------------------------------------------
    @classmethod
    def from_store(
        cls,
        store: GraphStore,
        settings: Settings | None = None,
        embedder: Embedder | None | str = "settings",
        extra_embedders: Sequence[Embedder] | str = "settings",
    ) -> MatchEngine:
        """An engine over everything in the graph, indexes built."""
        engine = cls(store, settings=settings, embedder=embedder, extra_embedders=extra_embedders)
        engine.refresh()
        return engine

    def _new_index(self, dense: bool = True) -> TextIndex:
        channels: list[Channel] = [BM25WordsChannel(), CharNgramChannel()]
        if dense and self.embedder is not None:
            channels.append(DenseChannel(self.embedder))
            channels.extend(DenseChannel(e, name=extra_channel_name(e)) for e in self.extra_embedders)
        return TextIndex(channels, self.fusion)

    @property
    def channel_names(self) -> list[str]:
        """The channels scoring achievements (the confidence curve is chosen by this set)."""
        return [c.name for c in self.achievements.channels]

    def refresh(self) -> None:
        """Rebuild every index and the graph context from the graph (the source of truth)."""
        if self.store is None:
            raise ValidationError("this engine has no graph store to refresh from")
        with self._lock:
            ach_props = self.store.all_props(NodeLabel.ACHIEVEMENT)
            need_props = self.store.all_props(NodeLabel.NEED)
            achs = [Achievement.from_props(p) for p in ach_props]
            needs = [Need.from_props(p) for p in need_props]
            self._hashes = {
                NodeLabel.ACHIEVEMENT.value: {p["id"]: p.get("content_hash") for p in ach_props},
                NodeLabel.NEED.value: {p["id"]: p.get("content_hash") for p in need_props},
            }
            ents = [Enterprise.from_props(p) for p in self.store.all_props(NodeLabel.ENTERPRISE)]
            self.index_achievements(achs, rebuild=True)
            self.index_needs(needs, rebuild=True)
            self._ent_nodes = {e.id: e for e in ents}
            self.enterprises.fit([e.id for e in ents], [enterprise_text(e) for e in ents])
            self.ctx = GraphContext.load(self.store)
            self._load_feedback()

    def index_achievements(
        self,
        achievements: Iterable[Achievement],
        rebuild: bool = False,
        vectors: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        """Put achievements into the indexes (no graph write; :meth:`upsert_achievement` does both).
        ``vectors``: precomputed vectors aligned with ``achievements`` by dense channel name (rebuild only)."""
        achs = list(achievements)
        with self._lock:
            if rebuild:
                self._ach_names = {}
                self.achievements.fit(
                    [a.id for a in achs], [achievement_text(a) for a in achs], [a.name for a in achs],
                    vectors=vectors,
                )
            else:
                self.achievements.upsert(
                    [a.id for a in achs], [achievement_text(a) for a in achs], [a.name for a in achs]
                )
            for a in achs:
                self._ach_names[a.id] = a.name
                info = supply_info({"id": a.id, **a.to_props()} | {
                    "coop": [m.value for m in a.cooperation_modes], "price": a.price_wan,
                    "maturity": a.maturity.value if a.maturity else None,
                })
                old = self.ctx.supply.get(a.id)
                if old is not None:  # keep the graph-derived relations of an edited achievement
                    info.owners, info.inventors, info.segments = old.owners, old.inventors, old.segments
                self.ctx.supply[a.id] = info
                self.ctx.names[a.id], self.ctx.labels[a.id] = a.name, NodeLabel.ACHIEVEMENT.value

    def index_needs(self, needs: Iterable[Need], rebuild: bool = False) -> None:
        needs = list(needs)
        with self._lock:
            if rebuild:
                self._need_nodes = {}
                self.needs.fit([n.id for n in needs], [n.text for n in needs], [n.name for n in needs])
            else:
                self.needs.upsert([n.id for n in needs], [n.text for n in needs], [n.name for n in needs])
            for n in needs:
                self._need_nodes[n.id] = n
                self.ctx.names[n.id], self.ctx.labels[n.id] = n.name, NodeLabel.NEED.value
                if n.enterprise_id:
                    self.ctx.need_enterprise[n.id] = n.enterprise_id
                    self.ctx.enterprise_needs[n.enterprise_id].add(n.id)

    # -- edits -------------------------------------------------------------------------------------
    def upsert_achievement(self, achievement: Achievement) -> None:
        """Write an achievement to the graph and re-index it at once (no full rebuild)."""
        if self.store is not None:
            self.store.upsert_nodes([achievement])
        self.index_achievements([achievement])
        seen = self._hashes.setdefault(NodeLabel.ACHIEVEMENT.value, {})
        seen[achievement.id] = achievement.to_props()["content_hash"]

    def upsert_need(self, need: Need) -> None:
        if self.store is not None:
            self.store.upsert_nodes([need])
        self.reindex_need(need)

    def reindex_need(self, need: Need) -> None:
        """Re-index a need already written to the graph (posted or edited through the service): its text and
        its graph context (segments, posting enterprise), so its next matches see its chain at once."""
        self.index_needs([need])
        if self.store is not None:
            with self._lock:
                self.ctx.load_need(self.store, need.id)
        self._hashes.setdefault(NodeLabel.NEED.value, {})[need.id] = need.to_props()["content_hash"]

    def sync(self) -> dict[str, int]:
        """Bring the indexes up to date with the graph without a rebuild: re-index only the achievements and
        needs whose content hash changed since they were indexed, drop the deleted ones. For writes that
        bypass :meth:`upsert_achievement` / :meth:`upsert_need` (bulk loads, other services)."""
        if self.store is None:
            return {}
        counts = {}
        for label, model, index, reindex in (
            (NodeLabel.ACHIEVEMENT, Achievement, self.achievements, self.index_achievements),
            (NodeLabel.NEED, Need, self.needs, self.index_needs),
        ):
            lbl = label.value
            rows = self.store.read(f"MATCH (n:{lbl}) RETURN n.id AS id, n.content_hash AS h")
            present = {r["id"]: r["h"] for r in rows}
            seen = self._hashes.setdefault(lbl, {})
            changed = [i for i, h in present.items() if seen.get(i) != h or i not in index]
            gone = [i for i in list(seen) if i not in present]
            if changed:
                rows = self.store.read(f"MATCH (n:{lbl}) WHERE n.id IN $ids RETURN properties(n) AS p", ids=changed)
                reindex([model.from_props(r["p"]) for r in rows])  # type: ignore[operator]
                if label is NodeLabel.NEED:
                    with self._lock:
                        if len(changed) > SYNC_CONTEXT_ONE_BY_ONE:
                            self.ctx = GraphContext.load(self.store)
                        else:
                            for need_id in changed:
                                self.ctx.load_need(self.store, need_id)
            if gone:
                with self._lock:
                    index.remove(gone)
                    for i in gone:
                        self.ctx.supply.pop(i, None)
                        seen.pop(i, None)
            seen.update({i: present[i] for i in changed})
            counts[lbl] = len(changed) + len(gone)
        return counts

    def achievement_hashes(self) -> dict[str, str]:
        """Content hash of every indexed achievement (what :meth:`sync` compares with the graph)."""
        return dict(self._hashes.get(NodeLabel.ACHIEVEMENT.value, {}))

    def remove_achievement(self, achievement_id: str) -> None:
        with self._lock:
            self.achievements.remove([achievement_id])
            self.ctx.supply.pop(achievement_id, None)

    def remove_need(self, need_id: str) -> None:
        """Forget a withdrawn need: it no longer leads to its enterprise in reverse matches."""
        with self._lock:
            if need_id in self.needs:
                self.needs.remove([need_id])
            self._need_nodes.pop(need_id, None)
            enterprise = self.ctx.need_enterprise.pop(need_id, None)
            if enterprise:
                self.ctx.enterprise_needs[enterprise].discard(need_id)
            self._hashes.get(NodeLabel.NEED.value, {}).pop(need_id, None)

    # -- scoring -----------------------------------------------------------------------------------
    def _graph_features(self, demand: Demand, ids: Sequence[str]) -> dict[str, np.ndarray]:
        feats: dict[str, np.ndarray] = {}
        for family in self.families:
            feats.update(family.compute(self.ctx, demand, ids))
        return feats

    def _rank_supply(
        self, text: str, demand: Demand, question: Question, query_id: str | None, k: int
    ) -> _Scored:
        """Score achievements for a demand text: fused channels, graph features, feedback; best first."""
        index = self.achievements
        if not len(index):
            return _Scored([], np.zeros(0, np.float32), [], [])
        if self.prefetch_queries:  # encode on the dense channels' workers while the lexical channels score
            for ch in index.channels:
                if isinstance(ch, DenseChannel):
                    ch.prefetch(text)
        fused, norm, raw, parts = index.query(text)
        pool = min(len(fused), max(POOL, 3 * k))
        top = np.argpartition(-fused, pool - 1)[:pool] if pool < len(fused) else np.arange(len(fused))
        ids = [index.doc_ids[i] for i in top]
        graph = self._graph_features(demand, ids)
        score = fused[top].astype(np.float32).copy()
        supply = self.calibrator.supply_strength(norm)  # how well the best supply anywhere answers the query
        features: list[dict[str, float]] = []
        contributions: list[dict[str, float]] = []
        for j, i in enumerate(top):
            f = {"fused": float(fused[i]), "supply": supply}
            c = {}
            for name, z in norm.items():
                f[f"z_{name}"] = float(z[i])
                f[f"raw_{name}"] = float(raw[name][i])
                c[name] = float(parts[name][i])
            for name, values in graph.items():
                v = float(values[j])
                f[name] = v
                w = GRAPH_WEIGHTS.get(name, 0.0)
                delta = w * (v - 0.5) if name in CENTRED else w * v
                if delta:
                    c[name] = delta
                    score[j] += delta
            features.append(f)
            contributions.append(c)
        learned, verdict = self.reranker.adjust_parts(question.value, query_id, ids, features)
        for j in range(len(ids)):
            if learned[j]:
                contributions[j]["feedback"] = float(learned[j])
            if verdict[j]:
                # the pair's own verdict moves it in the list; it is shown as a verdict, not as confidence
                contributions[j]["verdict"] = float(verdict[j])
        score = score + learned + verdict
        order = np.argsort(-score, kind="stable")
        return _Scored(
            ids=[ids[j] for j in order],
            score=score[order],
            features=[features[j] for j in order],
            contributions=[contributions[j] for j in order],
            query_terms=tokenize(text),
        )

    def _supply_matches(
        self, scored: _Scored, demand: Demand, k: int, include_weak: bool, explain: bool
    ) -> tuple[list[Match], float]:
        window = max(k, GAP_WINDOW)
        # the pair's own verdict moves it in the list but is no evidence of fit: left out of the confidence
        shown = [float(s) - c.get("verdict", 0.0) for s, c in zip(scored.score[:window], scored.contributions[:window],
                                                                     strict=True)]
        rows = [f | {"score": v, "bonus": v - f.get("fused", 0.0)}
                for f, v in zip(scored.features[:window], shown, strict=True)]
        conf = self.calibrator.confidences(rows)
        best = float(conf[:GAP_WINDOW].max()) if len(conf) else 0.0
        threshold = self.gap_threshold
        matches = []
        for rank, (cid, s, c) in enumerate(zip(scored.ids[:k], scored.score[:k], conf, strict=False), start=1):
            if not include_weak and c < threshold:
                continue
            m = Match(
                candidate_id=cid,
                label=NodeLabel.ACHIEVEMENT.value,
                name=self._ach_names.get(cid, cid),
                score=float(s),
                confidence=float(c),
                rank=rank,
                features=scored.features[rank - 1],
                contributions=scored.contributions[rank - 1],
            )
            if explain:
                m.explanation = self._explain_supply(cid, scored.query_terms, demand)
                m.behind = [
                    PathStep(id=oid, label=self.ctx.labels.get(oid, ""), name=name)
                    for oid, name in self.ctx.orgs_behind(cid).items()
                ]
            matches.append(m)
        return matches, best

    def _idf(self) -> dict[str, float]:
        ch = self.achievements.channel(BM25WordsChannel.name)
        if ch is None:
            return {}
        index = ch.index  # type: ignore[attr-defined]
        n = max(len(index), 1)
        df = index._df
        return _IdfView(index.vocab, df, n)  # type: ignore[return-value]

    def _doc_terms(self, index: TextIndex, doc_id: str) -> set[str]:
        ch = index.channel(BM25WordsChannel.name)
        return ch.index.terms_of(doc_id) if ch is not None else set(tokenize(index.text(doc_id)))  # type: ignore

    def _explain_supply(self, achievement_id: str, query_terms: list[str], demand: Demand):  # noqa: ANN202
        terms = shared_terms(query_terms, self._doc_terms(self.achievements, achievement_id), self._idf())
        info = self.ctx.supply.get(achievement_id)
        relation, steps = chain_path(self.ctx, info.segments if info else set(), demand.segments)
        paths = collaboration_paths(self.ctx, achievement_id, demand.enterprise_ids)
        return describe(self.ctx, terms, relation, steps, paths)

    # -- questions ---------------------------------------------------------------------------------
    def _need(self, need: str | Need) -> Need:
        if isinstance(need, Need):
            return need
        if need in self._need_nodes:
            return self._need_nodes[need]
        if self.store is not None:
            node = self.store.get_node(NodeLabel.NEED, need)
            if node is not None:
                return node  # type: ignore[return-value]
        raise NotFoundError(NodeLabel.NEED.value, need)

    def demand_for_need(self, need: Need) -> Demand:
        ent = need.enterprise_id or self.ctx.need_enterprise.get(need.id)
        return Demand(
            need_id=need.id,
            enterprise_ids=[ent] if ent else [],
            segments=set(self.ctx.need_segments.get(need.id, ())),
            region=self.ctx.enterprise_region.get(ent) if ent else None,
            budget_wan=need.budget_wan,
            cooperation=frozenset(m.value for m in need.cooperation_modes),
            min_maturity=need_min_maturity(need),
        )

    def match_need(
        self, need: str | Need, k: int = 10, include_weak: bool = False, explain: bool = True
    ) -> MatchResult:
        """Achievements that answer a need, best first, each explained; ``is_gap`` when none fits well.

        Matches under the confidence threshold are left out unless ``include_weak`` (batch evaluation).
        """
        need = self._need(need)
        if k < 1:
            raise ValidationError("k must be at least 1", field="k")
        with self._lock:
            demand = self.demand_for_need(need)
            scored = self._rank_supply(need.text, demand, Question.NEED_ACHIEVEMENT, need.id, k)
            matches, best = self._supply_matches(scored, demand, k, include_weak, explain)
        return self._result(Question.NEED_ACHIEVEMENT, need.id, NodeLabel.NEED, need.name, scored.query_terms,
                            matches, best, sorted(demand.segments))

    def match_pair(self, need: str | Need, achievement_id: str) -> Match | None:
        """One need–achievement pair as the need's ranking sees it (rank, confidence, explanation), also when
        a verdict moved it off the first page; None when it is not among the candidates scored at all."""
        need = self._need(need)
        with self._lock:
            demand = self.demand_for_need(need)
            scored = self._rank_supply(need.text, demand, Question.NEED_ACHIEVEMENT, need.id, POOL)
            if achievement_id not in scored.ids:
                return None
            matches, _ = self._supply_matches(scored, demand, len(scored.ids), include_weak=True, explain=False)
            match = next(m for m in matches if m.candidate_id == achievement_id)
            match.explanation = self._explain_supply(achievement_id, scored.query_terms, demand)
            match.behind = [PathStep(id=oid, label=self.ctx.labels.get(oid, ""), name=name)
                            for oid, name in self.ctx.orgs_behind(achievement_id).items()]
        return match

    def match_enterprise(self, enterprise_id: str, k: int = 10, include_weak: bool = False) -> MatchResult:
        """Achievements worth an enterprise's attention: its description, products and open needs as the query."""
        with self._lock:
            ent = self._enterprise(enterprise_id)
            needs = [self._need_nodes[n] for n in sorted(self.ctx.enterprise_needs.get(ent.id, ()))
                     if n in self._need_nodes]
            text = "\n".join([enterprise_text(ent), *(n.text for n in needs)])
            segs = set(self.ctx.enterprise_segments.get(ent.id, ()))
            for n in needs:
                segs |= self.ctx.need_segments.get(n.id, set())
            budgets = [n.budget_wan for n in needs if n.budget_wan is not None]
            demand = Demand(
                enterprise_ids=[ent.id], segments=segs, region=self.ctx.enterprise_region.get(ent.id),
                budget_wan=max(budgets) if budgets else None,
                cooperation=frozenset(m.value for n in needs for m in n.cooperation_modes),
            )
            scored = self._rank_supply(text, demand, Question.ENTERPRISE_ACHIEVEMENT, ent.id, k)
            matches, best = self._supply_matches(scored, demand, k, include_weak, True)
        return self._result(Question.ENTERPRISE_ACHIEVEMENT, ent.id, NodeLabel.ENTERPRISE, ent.name,
                            scored.query_terms, matches, best, sorted(segs))

    def match_achievement(self, achievement_id: str, k: int = 10, include_weak: bool = False) -> MatchResult:
        """Enterprises that could absorb an achievement: through their needs' text, their own description,
        their chain segments (same or downstream) and earlier relationships with the achievement's side.

        Needs and enterprise profiles are few, so a score against *them* as background would mean little;
        instead each candidate's text is put to the achievement corpus as a query and the achievement's
        standing there (its background z-score, as in :meth:`match_need`) is the evidence. Scores and
        confidences are therefore the same scale in both directions.
        """
        with self._lock:
            ach = self._achievement(achievement_id)
            text = achievement_text(ach)
            query_terms = tokenize(text)
            info = self.ctx.supply.get(ach.id)
            ach_segs = info.segments if info else set()
            pool = max(REVERSE_POOL, k)
            # candidate texts: the needs and enterprise profiles closest to the achievement ...
            evidence: dict[str, list[tuple[str | None, str]]] = {}  # enterprise -> [(need id or None, text)]
            if len(self.needs):
                fused = self.needs.query(text).fused
                for i in np.argsort(-fused)[:pool]:
                    need_id = self.needs.doc_ids[i]
                    ent = self.ctx.need_enterprise.get(need_id)
                    if ent:
                        evidence.setdefault(ent, []).append((need_id, self.needs.text(need_id)))
            if len(self.enterprises):
                fused = self.enterprises.query(text).fused
                for i in np.argsort(-fused)[:pool]:
                    ent = self.enterprises.doc_ids[i]
                    evidence.setdefault(ent, []).append((None, self.enterprises.text(ent)))
            # ... and the enterprises in the achievement's segment or just downstream of it
            for ent, segs in self.ctx.enterprise_segments.items():
                if ent not in evidence and (segs & ach_segs or any(
                        d in segs for s in ach_segs for d in self.ctx.downstream.get(s, ()))):
                    ent_node = self._ent_nodes.get(ent)
                    evidence[ent] = [(None, enterprise_text(ent_node) if ent_node else self.ctx.names.get(ent, ent))]
            ranked = []
            for ent, items in evidence.items():
                best_item = None
                for need_id, cand_text in items:
                    f = self._standing(cand_text, ach.id)
                    if f and (best_item is None or f["fused"] > best_item[1]["fused"]):
                        best_item = (need_id, f)
                if best_item is None:
                    continue
                via_need, features = best_item
                need = self._need_nodes.get(via_need) if via_need else None
                segs = set(self.ctx.enterprise_segments.get(ent, ()))
                for n in self.ctx.enterprise_needs.get(ent, ()):
                    segs |= self.ctx.need_segments.get(n, set())
                demand = Demand(
                    need_id=via_need, enterprise_ids=[ent], segments=segs,
                    region=self.ctx.enterprise_region.get(ent),
                    budget_wan=need.budget_wan if need else None,
                    cooperation=frozenset(m.value for m in need.cooperation_modes) if need else frozenset(),
                    min_maturity=need_min_maturity(need) if need else None,
                )
                contributions = {k[3:]: features.pop(k) for k in list(features) if k.startswith("_c_")}
                score = features["fused"]
                for name, values in self._graph_features(demand, [ach.id]).items():
                    v = float(values[0])
                    features[name] = v
                    w = GRAPH_WEIGHTS.get(name, 0.0)
                    delta = w * (v - 0.5) if name in CENTRED else w * v
                    if delta:
                        contributions[name] = delta
                        score += delta
                ranked.append([score, ent, via_need, demand, features, contributions])
            if ranked:
                learned, verdict = self.reranker.adjust_parts(Question.ACHIEVEMENT_ENTERPRISE.value, ach.id,
                                                              [r[1] for r in ranked], [r[4] for r in ranked])
                for r, a, v in zip(ranked, learned, verdict, strict=True):
                    if a:
                        r[0] += float(a)
                        r[5]["feedback"] = float(a)
                    if v:
                        r[0] += float(v)
                        r[5]["verdict"] = float(v)
            ranked.sort(key=lambda r: -r[0])
            matches = []
            best_conf = 0.0
            for rank, (score, ent, via_need, demand, features, contributions) in enumerate(ranked[:k], start=1):
                own = contributions.get("verdict", 0.0)  # the pair's own verdict is no evidence of fit
                conf = self.calibrator.confidence(
                    features | {"score": float(score) - own, "bonus": float(score) - own - features.get("fused", 0.0)}
                )
                if rank <= GAP_WINDOW:
                    best_conf = max(best_conf, conf)
                if not include_weak and conf < self.gap_threshold:
                    continue
                terms_source = self.needs if via_need else self.enterprises
                terms = shared_terms(query_terms, self._doc_terms(terms_source, via_need or ent), self._idf())
                relation, steps = chain_path(self.ctx, ach_segs, demand.segments)
                paths = collaboration_paths(self.ctx, ach.id, [ent])
                extra = f"其需求「{self.ctx.names.get(via_need, via_need)}」与成果相符" if via_need else ""
                matches.append(Match(
                    candidate_id=ent, label=NodeLabel.ENTERPRISE.value, name=self.ctx.names.get(ent, ent),
                    score=float(score), confidence=conf, rank=rank, features=features,
                    contributions=contributions, via=[via_need] if via_need else [],
                    explanation=describe(self.ctx, terms, relation, steps, paths, extra=extra),
                ))
        return self._result(Question.ACHIEVEMENT_ENTERPRISE, ach.id, NodeLabel.ACHIEVEMENT, ach.name, query_terms,
                            matches, best_conf, sorted(ach_segs))

    def _standing(self, query_text: str, achievement_id: str) -> dict[str, float]:
        """How an achievement stands in the whole achievement corpus for a query text: its fused score,
        per-channel z and raw scores, and each channel's share of the fused score (``_c_<channel>``)."""
        pos = self.achievements.position(achievement_id)
        if pos is None or not query_text:
            return {}
        fused, norm, raw, parts = self.achievements.query(query_text)
        out = {"fused": float(fused[pos]), "supply": self.calibrator.supply_strength(norm),
               **_channel_features(norm, raw, pos)}
        for name, part in parts.items():
            out[f"_c_{name}"] = float(part[pos])
        return out

    def _result(
        self, question: Question, query_id: str, label: NodeLabel, name: str, terms: list[str],
        matches: list[Match], best: float, segments: list[str],
    ) -> MatchResult:
        threshold = self.gap_threshold
        gap = best < threshold
        note = "没有足够匹配的供给 (no candidate reaches the confidence threshold)" if gap else ""
        return MatchResult(
            question=question, query_id=query_id, query_label=label.value, query_name=name,
            query_terms=list(dict.fromkeys(terms))[:10], matches=matches, is_gap=gap, threshold=threshold,
            best_confidence=best, segment_ids=segments, note=note,
        )

    def _achievement(self, achievement_id: str) -> Achievement:
        if self.store is not None:
            node = self.store.get_node(NodeLabel.ACHIEVEMENT, achievement_id)
            if node is not None:
                return node  # type: ignore[return-value]
        if achievement_id in self.achievements:
            return Achievement(id=achievement_id, name=self._ach_names.get(achievement_id, achievement_id),
                               description=self.achievements.text(achievement_id))
        raise NotFoundError(NodeLabel.ACHIEVEMENT.value, achievement_id)

    def _enterprise(self, enterprise_id: str) -> Enterprise:
        if enterprise_id in self._ent_nodes:
            return self._ent_nodes[enterprise_id]
        if self.store is not None:
            node = self.store.get_node(NodeLabel.ENTERPRISE, enterprise_id)
            if node is not None:
                return node  # type: ignore[return-value]
        raise NotFoundError(NodeLabel.ENTERPRISE.value, enterprise_id)

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
        try:
            question = Question(question)
            verdict = Verdict(verdict)
            reason = RejectReason(reason) if reason else None
        except ValueError as exc:
            raise ValidationError(f"bad feedback: {exc}", field="feedback") from exc
        query_label, cand_label = {
            Question.NEED_ACHIEVEMENT: (NodeLabel.NEED, NodeLabel.ACHIEVEMENT),
            Question.ACHIEVEMENT_ENTERPRISE: (NodeLabel.ACHIEVEMENT, NodeLabel.ENTERPRISE),
            Question.ENTERPRISE_ACHIEVEMENT: (NodeLabel.ENTERPRISE, NodeLabel.ACHIEVEMENT),
        }[question]
        features = self._pair_features(question, query_id, candidate_id)
        now = datetime.now(UTC)
        key = f"{question.value}|{query_id}|{candidate_id}|{now.isoformat()}|{user}"
        fb = Feedback(
            id="fb-" + hashlib.sha1(key.encode()).hexdigest()[:16],
            question=question.value, query_id=query_id, candidate_id=candidate_id, verdict=verdict,
            reason=reason, comment=comment, user=user, at=now, features=features, strength=strength,
        )
        if self.store is not None:
            rels = [
                Relation(type=RelType.ABOUT, source_label=NodeLabel.FEEDBACK, source_id=fb.id,
                         target_label=query_label, target_id=query_id),
                Relation(type=RelType.ABOUT, source_label=NodeLabel.FEEDBACK, source_id=fb.id,
                         target_label=cand_label, target_id=candidate_id),
            ]
            if user and self.store.get_props(NodeLabel.BROKER, user) is not None:
                rels.append(Relation(type=RelType.GAVE, source_label=NodeLabel.BROKER, source_id=user,
                                     target_label=NodeLabel.FEEDBACK, target_id=fb.id))
            report = self.store.write_batch([fb], rels)
            missing = [r for r in report.missing_endpoints if r.type == RelType.ABOUT]
            if missing:
                log.warning("feedback %s: %d ABOUT endpoints not in the graph", fb.id, len(missing))
        with self._lock:
            self._learn(_example(fb))
            self.reranker.fit(self._feedback)
        return fb

    def _learn(self, ordered: _Ordered) -> None:
        """The latest verdict on a pair is the one that teaches; a withdrawn verdict teaches nothing."""
        ex = ordered.example
        key = (ex.question, ex.query_id, ex.candidate_id)
        if ordered.withdrawn:
            self._feedback_by_pair.pop(key, None)
        else:
            self._feedback_by_pair[key] = ex
        self._feedback = list(self._feedback_by_pair.values())

    def _load_feedback(self) -> None:
        examples = []
        if self.store is not None:
            for props in self.store.all_props(NodeLabel.FEEDBACK):
                try:
                    examples.append(_example(Feedback.from_props(props)))
                except Exception as exc:  # one unreadable record must not stop the engine
                    log.warning("skipping feedback %s: %s", props.get("id"), exc)
        examples.sort(key=lambda e: e.order)
        self._feedback_by_pair = {}
        self._feedback = []
        for ordered in examples:
            self._learn(ordered)
        self.reranker.fit(self._feedback)

    def _pair_features(self, question: Question, query_id: str, candidate_id: str) -> dict[str, float]:
        """The features of one (query, candidate) pair as the engine sees them now (stored with feedback)."""
        try:
            if question == Question.NEED_ACHIEVEMENT:
                need = self._need(query_id)
                scored = self._rank_supply(need.text, self.demand_for_need(need), question, None, 10)
            elif question == Question.ENTERPRISE_ACHIEVEMENT:
                result = self.match_enterprise(query_id, k=POOL, include_weak=True)
                return next((m.features for m in result.matches if m.candidate_id == candidate_id), {})
            else:
                result = self.match_achievement(query_id, k=POOL, include_weak=True)
                return next((m.features for m in result.matches if m.candidate_id == candidate_id), {})
        except NotFoundError:
            return {}
        if candidate_id in scored.ids:
            return scored.features[scored.ids.index(candidate_id)]
        return {}


@dataclass(frozen=True)
class _Ordered:
    order: str
    example: FeedbackExample
    withdrawn: bool = False


def _example(fb: Feedback) -> _Ordered:
    ex = FeedbackExample(
        question=fb.question, query_id=fb.query_id, candidate_id=fb.candidate_id,
        accepted=fb.verdict == Verdict.ACCEPT, features=dict(fb.features), weight=fb.strength,
    )
    return _Ordered(order=(fb.at.isoformat() if fb.at else ""), example=ex, withdrawn=fb.verdict == Verdict.WITHDRAWN)


def _channel_features(norm: dict[str, np.ndarray], raw: dict[str, np.ndarray], i: int) -> dict[str, float]:
    out = {f"z_{n}": float(z[i]) for n, z in norm.items()}
    out.update({f"raw_{n}": float(r[i]) for n, r in raw.items()})
    return out


class _IdfView(dict):
    """IDF of a word from the BM25 index's document frequencies, computed on access."""

    def __init__(self, vocab: dict[str, int], df: np.ndarray, n: int) -> None:
        super().__init__()
        self.vocab, self.df, self.n = vocab, df, n

    def get(self, term: str, default: float = 0.0) -> float:  # type: ignore[override]
        col = self.vocab.get(term)
        if col is None or col >= len(self.df):
            return default
        d = float(self.df[col])
        return float(np.log1p((self.n - d + 0.5) / (d + 0.5)))


def achievement_text(a: Achievement) -> str:
    """What the text channels read of an achievement: name, description, application scope, keywords."""
    parts = [a.text]
    if a.keywords:
        parts.append(" ".join(a.keywords))
    return "\n".join(p for p in parts if p)


def enterprise_text(e: Enterprise) -> str:
    return "\n".join(p for p in (e.name, e.description, " ".join(e.products)) if p)


def need_min_maturity(need: Need) -> int | None:
    """The least maturity a need accepts, as a ``MATURITY_ORDER`` rank: its field, else what its text states."""
    stated = need.min_maturity or required_maturity(need.text)
    return MATURITY_ORDER[Maturity(stated)] if stated else None
