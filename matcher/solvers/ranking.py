"""Solver ranking for 揭榜挂帅: who (talent, institution, enterprise) can solve a challenge, and why.

:class:`SolverIndex` reads every solver's works from the graph (achievements they invented or own,
projects they worked on or undertook; an institution or enterprise is also credited with the works of
the talents affiliated with it) and indexes them with the engine's channels (:func:`solver_builder`: the
same index stack and vector store as the achievements). :func:`rank_solvers`
scores a challenge (or a free text) against it: expertise affinity aggregated over works, lifted by
the track record (a bounded multiplicative bonus, so an off-topic star never outranks an on-topic
expert), then removes candidates with a conflict of interest and reports each removal with its rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from graph.model import Challenge, NodeLabel
from graph.store import GraphStore
from ingest.text import tokenize
from matcher.embedders.base import Embedder
from matcher.embedders.registry import make_embedder
from matcher.index.builder import CorpusBuilder
from matcher.index.channels import lexical_specs
from matcher.index.job import JobProgress
from matcher.settings import MatcherSettings
from matcher.solvers.coi import Conflict, ConflictPolicy, check_conflicts
from matcher.solvers.expertise import Aggregation, ExpertiseIndex, Work, make_aggregation
from matcher.solvers.refs import SOLVER_LABELS, SolverRef, solver_key
from matcher.solvers.track_record import TrackRecord, TrackRecordWeights, track_records
from matcher.tuning import DEFAULT_AGGREGATION, SCORERS

# the named scorers' channel weights and the default aggregation: matcher.tuning, with where they came from


class WorkEvidenceOut(BaseModel):
    work_id: str
    title: str
    score: float
    year: int | None = None
    kind: str = ""
    matched_terms: list[str] = []


class SolverMatch(BaseModel):
    """One ranked solver with everything needed to explain it."""

    solver: SolverRef
    name: str
    score: float
    affinity: float
    track_record_score: float = 0.0
    works: list[WorkEvidenceOut] = []
    track_record: list[str] = []
    requirements: dict[str, bool] = {}  # e.g. {"lead_industrialised": True}
    conflicts: list[Conflict] = []

    @property
    def explanation(self) -> str:
        # no raw affinity here: it is a sum of z-scores, unbounded and meaningless to a reader
        parts = [self.name]
        if self.works:
            parts.append("代表成果：" + "；".join(
                f"「{w.title}」" + (f"（相关词：{'、'.join(w.matched_terms)}）" if w.matched_terms else "")
                for w in self.works
            ))
        parts.extend(self.track_record)
        parts.extend(f"回避：{c.reason}" for c in self.conflicts)
        return "。".join(parts)


class SolverRanking(BaseModel):
    query: str
    matches: list[SolverMatch] = []
    #: candidates that would have ranked but were removed by a 回避 rule, with the conflicts
    removed: list[SolverMatch] = []


@dataclass
class SolverInfo:
    ref: SolverRef
    name: str


def scorer_weights(scorer: str) -> dict[str, float]:
    """The channels of a named scorer and their weights, by channel name: ``char`` (character 2-3 gram TF-IDF),
    ``lexical`` (that plus word BM25), ``dense`` (the primary encoder) or ``combined`` (all three)."""
    if scorer not in SCORERS:
        raise ValueError(f"unknown scorer {scorer!r}; choose from {', '.join(SCORERS)}")
    return dict(SCORERS[scorer])


def solver_builder(scorer: str = "combined", settings: MatcherSettings | None = None,
                   encoder: Embedder | None = None) -> CorpusBuilder:
    """The channels a scorer indexes the works with: the engine's lexical channels it names and, for a scorer
    with ``dense``, the settings' encoder (or ``encoder``: an engine's, so that a process loads one model),
    its rows kept in the data directory's vector store, which the engine's corpora share. With the settings'
    embedder ``none`` the dense part is left out."""
    weights = scorer_weights(scorer)
    settings = settings or MatcherSettings()
    specs = [s for s in lexical_specs() if s.name in weights]
    encoders: list[tuple[str, Embedder]] = []
    if "dense" in weights:
        embedder = encoder or make_embedder(settings.embedder)
        if embedder is not None:
            encoders.append(("dense", embedder))
    if not specs and not encoders:
        raise ValueError(f"scorer {scorer!r} needs an encoder but the settings' embedder is 'none'")
    return CorpusBuilder(specs, encoders, Path(settings.data_dir) / "index" / "vectors")


def expertise_index(scorer: str = "combined", aggregation: Aggregation | str = DEFAULT_AGGREGATION,
                    settings: MatcherSettings | None = None, encoder: Embedder | None = None) -> ExpertiseIndex:
    """An empty expertise index of a named scorer (see :func:`solver_builder`)."""
    agg = make_aggregation(aggregation) if isinstance(aggregation, str) else aggregation
    builder = solver_builder(scorer, settings, encoder)
    weights = {name: w for name, w in scorer_weights(scorer).items() if name in builder.channel_names}
    return ExpertiseIndex(builder, weights, agg)


_ACHIEVEMENT_WORKS = (
    "MATCH (a:Achievement) OPTIONAL MATCH (s)-[:INVENTED|OWNS]->(a) "
    "RETURN a.id AS id, a.name AS name, a.description AS description, a.application_scope AS scope, "
    "a.keywords AS keywords, a.kind AS kind, a.posted_on AS posted, "
    "collect(DISTINCT labels(s)[0] + ':' + s.id) AS owners"
)
_PROJECT_WORKS = (
    "MATCH (p:Project) OPTIONAL MATCH (s)-[:WORKED_ON|UNDERTAKES]->(p) "
    "RETURN p.id AS id, p.name AS name, p.description AS description, p.year AS year, "
    "collect(DISTINCT labels(s)[0] + ':' + s.id) AS owners"
)
_AFFILIATIONS = (
    "MATCH (t:Talent)-[:AFFILIATED_WITH]->(o) RETURN t.id AS talent, labels(o)[0] AS label, o.id AS org"
)
_NAMES = (
    "MATCH (s) WHERE s:Talent OR s:Institution OR s:Enterprise "
    "RETURN labels(s)[0] AS label, s.id AS id, s.name AS name"
)


def works_from_graph(store: GraphStore, labels: Sequence[NodeLabel] = SOLVER_LABELS) -> list[Work]:
    """Every achievement and project with the solvers credited for it (organisations via their people)."""
    wanted = {NodeLabel(label).value for label in labels}
    orgs_of: dict[str, list[str]] = {}
    for row in store.read(_AFFILIATIONS):
        orgs_of.setdefault(solver_key(NodeLabel.TALENT, row["talent"]), []).append(solver_key(row["label"], row["org"]))

    def credited(owners: Iterable[str | None]) -> tuple[str, ...]:
        keys: list[str] = []
        for key in owners:
            if not key or ":" not in key:
                continue
            keys.append(key)
            keys.extend(orgs_of.get(key, []))
        return tuple(k for k in dict.fromkeys(keys) if k.split(":", 1)[0] in wanted)

    works: list[Work] = []
    for row in store.read(_ACHIEVEMENT_WORKS):
        keywords = row["keywords"] or []
        text = "\n".join(p for p in (row["name"], row["description"], row["scope"], " ".join(keywords)) if p)
        posted = str(row["posted"] or "")[:4]
        works.append(Work(id=f"Achievement:{row['id']}", text=text, owners=credited(row["owners"]),
                          year=int(posted) if posted.isdigit() else None, kind=row["kind"] or "", title=row["name"]))
    for row in store.read(_PROJECT_WORKS):
        text = "\n".join(p for p in (row["name"], row["description"]) if p)
        works.append(Work(id=f"Project:{row['id']}", text=text, owners=credited(row["owners"]),
                          year=row["year"], kind="项目", title=row["name"]))
    return [w for w in works if w.owners]


class SolverIndex:
    """The expertise index of every solver in the graph plus their (query-independent) track records."""

    def __init__(
        self,
        expertise: ExpertiseIndex,
        solvers: dict[str, SolverInfo],
        records: dict[str, TrackRecord],
        track_weight: float,
    ) -> None:
        self.expertise = expertise
        self.solvers = solvers
        self.records = records
        self.track_weight = track_weight
        #: the digest of the works the expertise index was fitted on, when known (the stored index's fingerprint):
        #: what a kept ranking is keyed on
        self.source = ""
        self._bonus = np.array(
            [1.0 + track_weight * (records[k].score if k in records else 0.0) for k in expertise.solver_ids],
            dtype=np.float32,
        )

    @property
    def bonus(self) -> np.ndarray:
        """Each solver's track-record multiplier (1 + track_weight × score), aligned with the expertise index."""
        return self._bonus

    @classmethod
    def build(
        cls,
        store: GraphStore,
        scorer: str = "combined",
        aggregation: Aggregation | str = DEFAULT_AGGREGATION,
        track_weight: float = 0.2,
        track_weights: TrackRecordWeights | None = None,
        labels: Sequence[NodeLabel] = SOLVER_LABELS,
        reference_year: int | None = None,
        settings: MatcherSettings | None = None,
        encoder: Embedder | None = None,
        progress: Callable[[JobProgress], None] | None = None,
    ) -> SolverIndex:
        """The solvers' index fitted on the graph's works now; ``settings`` name the dense encoder and the data
        directory whose vector store keeps its rows (the default ones without); ``encoder``: the dense encoder
        to use instead of making one (see :func:`solver_builder`)."""
        expertise = expertise_index(scorer, aggregation, settings, encoder)
        expertise.fit(works_from_graph(store, labels), progress=progress)
        return cls.over(store, expertise, track_weight, track_weights, reference_year)

    @classmethod
    def over(
        cls,
        store: GraphStore,
        expertise: ExpertiseIndex,
        track_weight: float = 0.2,
        track_weights: TrackRecordWeights | None = None,
        reference_year: int | None = None,
    ) -> SolverIndex:
        """The solvers of a fitted expertise index, with their names and track records as the graph has them now
        (read here: they change with deals and projects that leave the works as they are)."""
        names = {solver_key(r["label"], r["id"]): str(r["name"] or r["id"]) for r in store.read(_NAMES)}
        solvers = {k: SolverInfo(SolverRef.from_key(k), names.get(k, k)) for k in expertise.solver_ids}
        records = (
            track_records(store, [s.ref for s in solvers.values()], track_weights, reference_year)
            if track_weight
            else {}
        )
        return cls(expertise, solvers, records, track_weight)

    def scores(self, queries: Sequence[str], work_scores: np.ndarray | None = None) -> np.ndarray:
        """Final solver scores (queries, solvers): affinity times the track-record bonus."""
        return self.expertise.solver_scores(queries, work_scores) * self._bonus

    def rank(
        self, queries: Sequence[str], k: int = 100, work_scores: np.ndarray | None = None
    ) -> list[list[tuple[str, float]]]:
        """Batch: for each query the ``k`` best (solver key, score), best first (``work_scores`` if precomputed)."""
        out: list[list[tuple[str, float]]] = []
        ids = self.expertise.solver_ids
        step = 64
        for start in range(0, len(queries), step):
            ws = None if work_scores is None else work_scores[start : start + step]
            for row in self.scores(queries[start : start + step], ws):
                kk = min(k, len(row))
                top = np.argpartition(-row, kk - 1)[:kk] if kk else np.array([], dtype=int)
                top = top[np.argsort(-row[top], kind="stable")]
                out.append([(ids[i], float(row[i])) for i in top])
        return out


def challenge_text(challenge: Challenge) -> str:
    return "\n".join(p for p in (challenge.name, challenge.statement, " ".join(challenge.competences)) if p)


def rank_solvers(
    store: GraphStore,
    challenge_or_text: Challenge | str,
    k: int = 10,
    index: SolverIndex | None = None,
    labels: Sequence[NodeLabel] = SOLVER_LABELS,
    policy: ConflictPolicy | None = None,
    explain_works: int = 3,
) -> SolverRanking:
    """The ``k`` best solvers of ``labels`` for a challenge (conflicts removed and reported) or a text."""
    if k < 1:
        raise ValueError("k must be >= 1")
    index = index or cached_solver_index(store)
    challenge = challenge_or_text if isinstance(challenge_or_text, Challenge) else None
    query = challenge_text(challenge) if challenge else str(challenge_or_text)
    wanted = {NodeLabel(label).value for label in labels}
    ws = index.expertise.work_scores([query])
    scores = index.expertise.solver_scores([query], ws)[0] * index.bonus
    ids = index.expertise.solver_ids
    order = [i for i in np.argsort(-scores, kind="stable") if ids[i].split(":", 1)[0] in wanted]
    # Look at enough candidates that k remain after 回避 removals.
    pool = order[: max(3 * k, k + 20)]
    words = tokenize(query)  # once for every solver's evidence
    conflicts: dict[str, list[Conflict]] = {}
    if challenge is not None:
        conflicts = check_conflicts(store, challenge, [index.solvers[ids[i]].ref for i in pool], policy)
    ranking = SolverRanking(query=query)
    needs_industrialised = challenge is not None and any(
        r.kind == "lead_industrialised" for r in challenge.requirements
    )
    for i in pool:
        key = ids[i]
        if len(ranking.matches) >= k and key not in conflicts:
            continue
        info, rec = index.solvers[key], index.records.get(key)
        evidence = index.expertise.evidence(query, key, ws[0], explain_works, words=words)
        match = SolverMatch(
            solver=info.ref,
            name=info.name,
            score=float(scores[i]),
            affinity=float(scores[i] / index.bonus[i]),
            track_record_score=rec.score if rec else 0.0,
            works=[WorkEvidenceOut(work_id=e.work_id, title=e.title, score=e.score, year=e.year, kind=e.kind,
                                   matched_terms=list(e.terms)) for e in evidence],
            track_record=list(rec.reasons) if rec else [],
            requirements={"lead_industrialised": bool(rec and rec.industrialised)} if needs_industrialised else {},
            conflicts=conflicts.get(key, []),
        )
        if match.conflicts:
            ranking.removed.append(match)
        elif len(ranking.matches) < k:
            ranking.matches.append(match)
    return ranking



__all__ = [
    "SCORERS", "SolverIndex", "SolverMatch", "SolverRanking", "cached_solver_index", "expertise_index",
    "rank_solvers", "scorer_weights", "solver_builder", "works_from_graph",
]


_INDEX_CACHE: dict[tuple[int, str, str, str], tuple[tuple, SolverIndex]] = {}


def cached_solver_index(store: GraphStore, scorer: str = "combined",
                        settings: MatcherSettings | None = None) -> SolverIndex:
    """A solver index per (store, scorer), rebuilt only when the graph's node/edge counts change.

    Building reads every work and re-fits the channels, so a service should call this instead of
    :meth:`SolverIndex.build` per request; an edit that keeps all counts equal (a changed title) is
    picked up at the next count change — call ``SolverIndex.build`` directly when exactness matters."""
    fingerprint = (tuple(sorted(store.count_by_label().items())), tuple(sorted(store.count_relations().items())))
    key = (id(store), scorer, settings.embedder if settings else "", str(settings.cache_dir) if settings else "")
    hit = _INDEX_CACHE.get(key)
    if hit is None or hit[0] != fingerprint:
        _INDEX_CACHE[key] = (fingerprint, SolverIndex.build(store, scorer=scorer, settings=settings))
    return _INDEX_CACHE[key][1]
