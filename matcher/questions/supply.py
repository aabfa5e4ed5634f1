"""Need → achievements and enterprise → achievements: the supply side ranked for a demand text.

Pipeline: every answering channel scores every achievement; the fusion ranks; the best :data:`POOL` get graph
features (cold-start weights) and the feedback re-ranker's adjustment; the calibrated confidence of the first
:data:`GAP_WINDOW` decides whether the demand is a gap; the first ``k`` are explained.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from graph.exceptions import NotFoundError, ValidationError
from graph.model import Enterprise, Need, NodeLabel
from ingest.text import tokenize
from matcher.documents import need_min_maturity
from matcher.explain import chain_path, collaboration_paths, describe, terms_shared_with
from matcher.features.base import Demand
from matcher.index.corpus import QueryScores
from matcher.questions.common import Asker, Scored, graph_deltas, graph_features, make_result
from matcher.results import Explanation, Match, MatchResult, PathStep, Question
from matcher.scores import ChannelScore, ConfidenceInputs, MatchFeatures
from matcher.tuning import GAP_WINDOW, POOL
from matcher.upkeep import Snapshot

#: the lexical channel whose words explain a match (shared terms, ranked by its IDF)


def find_need(asker: Asker, snap: Snapshot, need: str | Need) -> Need:
    if isinstance(need, Need):
        return need
    if need in snap.need_nodes:
        return snap.need_nodes[need]
    if asker.store is not None:
        node = asker.store.get(Need, need)
        if node is not None:
            return node
    raise NotFoundError(NodeLabel.NEED.value, need)


_NEEDS_BY_ID = f"UNWIND $ids AS want MATCH (n:{NodeLabel.NEED.value} {{id: want}}) RETURN properties(n) AS p"


def find_needs(asker: Asker, snap: Snapshot, need_ids: Sequence[str]) -> dict[str, Need]:
    """The needs found of ``need_ids``: from the snapshot, the rest in one graph read (not one read each)."""
    found = {i: snap.need_nodes[i] for i in need_ids if i in snap.need_nodes}
    rest = sorted({i for i in need_ids if i not in found})
    if rest and asker.store is not None:
        for row in asker.store.read(_NEEDS_BY_ID, ids=rest):
            node = Need.from_props(row["p"])
            found[node.id] = node
    return found


def find_enterprise(asker: Asker, snap: Snapshot, enterprise_id: str) -> Enterprise:
    if enterprise_id in snap.ent_nodes:
        return snap.ent_nodes[enterprise_id]
    if asker.store is not None:
        node = asker.store.get(Enterprise, enterprise_id)
        if node is not None:
            return node
    raise NotFoundError(NodeLabel.ENTERPRISE.value, enterprise_id)


def demand_for_need(snap: Snapshot, need: Need) -> Demand:
    ctx = snap.ctx
    ent = need.enterprise_id or ctx.need_enterprise.get(need.id)
    return Demand(
        need_id=need.id,
        enterprise_ids=[ent] if ent else [],
        segments=set(ctx.need_segments.get(need.id, ())),
        region=ctx.enterprise_region.get(ent) if ent else None,
        budget_wan=need.budget_wan,
        cooperation=frozenset(m.value for m in need.cooperation_modes),
        min_maturity=need_min_maturity(need),
    )


def rank_supply(asker: Asker, snap: Snapshot, text: str, demand: Demand, question: Question,
                query_id: str | None, k: int) -> Scored:
    """Score achievements for a demand text: fused channels, graph features, feedback; best first."""
    index = snap.achievements
    if not len(index):
        return Scored([], np.zeros(0, np.float32), [], [], channels=index.answering)
    index.prefetch(text)  # dense query encodings start on their workers while the lexical channels score
    return rank_scores(asker, snap, index.query(text, asker.fusion_for), text, demand, question, query_id, k)


def rank_scores(asker: Asker, snap: Snapshot, scores: QueryScores, text: str, demand: Demand, question: Question,
                query_id: str | None, k: int, described: int | None = None) -> Scored:
    """:func:`rank_supply` from the channels' scores of the text. ``described``: build the features and
    contributions of only the first so many candidates of the final order (what a stored standing reads; the
    order and scores are the same); None: of every candidate in the pool."""
    fused, norm, raw, parts = scores
    pool = min(len(fused), max(POOL, 3 * k))
    top = np.argpartition(-fused, pool - 1)[:pool] if pool < len(fused) else np.arange(len(fused))
    doc_ids = snap.achievements.doc_ids
    ids = [doc_ids[i] for i in top]
    graph = graph_features(asker.families, snap.ctx, demand, ids)
    score = fused[top].astype(np.float32).copy()
    deltas: dict[str, np.ndarray] = {}
    for name, values in graph.items():
        delta = graph_deltas(name, values)
        deltas[name] = delta
        # one feature after the other, each added in float32 as a lone candidate's score adds it
        nonzero = delta != 0.0
        score[nonzero] += delta[nonzero].astype(np.float32)
    supply = asker.calibrator.supply_strength(norm)  # how well the best supply anywhere answers the query

    # the pool's values as Python floats once per channel (the same numbers): indexing numpy arrays one
    # candidate at a time cost more than the rest of a lexical match
    fused_at = fused[top].tolist()
    channel_at = {name: (raw[name][top].tolist(), zs[top].tolist(), parts[name][top].tolist())
                  for name, zs in norm.items()}
    graph_at = {name: np.asarray(v).tolist() for name, v in graph.items()}

    def features_of(j: int) -> MatchFeatures:
        channels = {name: ChannelScore(raw=r[j], z=z[j], share=sh[j]) for name, (r, z, sh) in channel_at.items()}
        return MatchFeatures(fused_at[j], supply, channels, {name: v[j] for name, v in graph_at.items()})

    def contributions_of(j: int, features: MatchFeatures) -> dict[str, float]:
        c = {name: cs.share for name, cs in features.channels.items()}
        for name, delta in deltas.items():
            if delta[j]:
                c[name] = float(delta[j])
        return c

    everything = described is None or asker.reranker.trained  # a trained re-ranker reads every candidate's features
    features: list[MatchFeatures] = [features_of(j) for j in range(len(ids))] if everything else []
    learned, verdict = asker.reranker.adjust_parts(question.value, query_id, ids, features)
    score = score + learned + verdict
    order = np.argsort(-score, kind="stable")
    shown = order if described is None else order[:described]
    kept = [features[j] if everything else features_of(j) for j in shown]
    contributions = []
    for j, f in zip(shown, kept, strict=True):
        c = contributions_of(j, f)
        if learned[j]:
            c["feedback"] = float(learned[j])
        if verdict[j]:
            # the pair's own verdict moves it in the list; it is shown as a verdict, not as confidence
            c["verdict"] = float(verdict[j])
        contributions.append(c)
    return Scored(
        ids=[ids[j] for j in order],
        score=score[order],
        features=kept,
        contributions=contributions,
        query_terms=tokenize(text),
        channels=list(raw),
    )


def explain_supply(snap: Snapshot, achievement_id: str, query_terms: list[str], demand: Demand) -> Explanation:
    terms = terms_shared_with(snap.achievements, achievement_id, query_terms)
    info = snap.ctx.supply.get(achievement_id)
    relation, steps = chain_path(snap.ctx, info.segments if info else set(), demand.segments)
    paths = collaboration_paths(snap.ctx, achievement_id, demand.enterprise_ids)
    return describe(snap.ctx, terms, relation, steps, paths)


def supply_matches(asker: Asker, snap: Snapshot, scored: Scored, demand: Demand, k: int, include_weak: bool,
                   explain: bool) -> tuple[list[Match], float]:
    window = max(k, GAP_WINDOW)
    # the pair's own verdict moves it in the list but is no evidence of fit: left out of the confidence
    shown = [float(s) - c.get("verdict", 0.0)
             for s, c in zip(scored.score[:window], scored.contributions[:window], strict=True)]
    rows = [ConfidenceInputs(fused=f.fused, supply=f.supply, bonus=v - f.fused, channels=f.channel_names)
            for f, v in zip(scored.features[:window], shown, strict=True)]
    conf = asker.calibrator.confidences(rows)
    # an achievement short of the maturity the need states is no supply, whatever the fused score's scale: the gap
    # verdict does not read it and it is listed only with the weak matches (with its penalty)
    meets = [f.as_dict().get("maturity_short", 0.0) < 1.0 for f in scored.features[:window]]
    best = max((float(c) for c, ok in zip(conf[:GAP_WINDOW], meets, strict=False) if ok), default=0.0)
    threshold = asker.gap_threshold_for(scored.channels)
    matches = []
    for rank, (cid, s, c) in enumerate(zip(scored.ids[:k], scored.score[:k], conf, strict=False), start=1):
        if not include_weak and (c < threshold or not meets[rank - 1]):
            continue
        m = Match(
            candidate_id=cid,
            label=NodeLabel.ACHIEVEMENT.value,
            name=snap.achievements.title(cid) or snap.ctx.names.get(cid, cid),
            score=float(s),
            confidence=float(c),
            rank=rank,
            features=scored.features[rank - 1].as_dict(),
            contributions=scored.contributions[rank - 1],
        )
        if explain:
            m.explanation = explain_supply(snap, cid, scored.query_terms, demand)
            m.behind = [
                PathStep(id=oid, label=snap.ctx.labels.get(oid, ""), name=name)
                for oid, name in snap.ctx.orgs_behind(cid).items()
            ]
        matches.append(m)
    return matches, best


def match_need(asker: Asker, snap: Snapshot, need: str | Need, k: int = 10, include_weak: bool = False,
               explain: bool = True) -> MatchResult:
    need = find_need(asker, snap, need)
    if k < 1:
        raise ValidationError("k must be at least 1", field="k")
    demand = demand_for_need(snap, need)
    scored = rank_supply(asker, snap, need.text, demand, Question.NEED_ACHIEVEMENT, need.id, k)
    matches, best = supply_matches(asker, snap, scored, demand, k, include_weak, explain)
    return make_result(asker, Question.NEED_ACHIEVEMENT, need.id, NodeLabel.NEED, need.name, scored.query_terms,
                       matches, best, sorted(demand.segments), scored.channels)


def match_needs(asker: Asker, snap: Snapshot, needs: Sequence[str | Need], k: int = 10,
                include_weak: bool = False) -> dict[str, MatchResult]:
    """:func:`match_need` without explanations for many needs at once (a batch refresh of standings): the needs
    read in one graph query, each dense channel's query vectors read or encoded together (each the vector a lone
    match uses: :meth:`~matcher.index.queries.QueryEncoder.vectors`), features built only for the candidates a
    result shows. The results are those of :func:`match_need` (``explain=False``), by need id; needs not found
    are left out."""
    if k < 1:
        raise ValidationError("k must be at least 1", field="k")
    nodes = find_needs(asker, snap, [n for n in needs if isinstance(n, str)])
    found = [n if isinstance(n, Need) else nodes[n] for n in needs if isinstance(n, Need) or n in nodes]
    index = snap.achievements
    scores = index.query_many([n.text for n in found], asker.fusion_for) if len(index) else [None] * len(found)
    out: dict[str, MatchResult] = {}
    for need, qs in zip(found, scores, strict=True):
        demand = demand_for_need(snap, need)
        if qs is None:
            scored = Scored([], np.zeros(0, np.float32), [], [], channels=index.answering)
        else:
            scored = rank_scores(asker, snap, qs, need.text, demand, Question.NEED_ACHIEVEMENT, need.id, k,
                                 described=max(k, GAP_WINDOW))
        matches, best = supply_matches(asker, snap, scored, demand, k, include_weak, explain=False)
        out[need.id] = make_result(asker, Question.NEED_ACHIEVEMENT, need.id, NodeLabel.NEED, need.name,
                                   scored.query_terms, matches, best, sorted(demand.segments), scored.channels)
    return out


def match_pair(asker: Asker, snap: Snapshot, need: str | Need, achievement_id: str) -> Match | None:
    """One need–achievement pair as the need's ranking sees it (rank, confidence, explanation), also when a
    verdict moved it off the first page; None when it is not among the candidates scored at all."""
    need = find_need(asker, snap, need)
    demand = demand_for_need(snap, need)
    scored = rank_supply(asker, snap, need.text, demand, Question.NEED_ACHIEVEMENT, need.id, POOL)
    if achievement_id not in scored.ids:
        return None
    matches, _ = supply_matches(asker, snap, scored, demand, len(scored.ids), include_weak=True, explain=False)
    match = next(m for m in matches if m.candidate_id == achievement_id)
    match.explanation = explain_supply(snap, achievement_id, scored.query_terms, demand)
    match.behind = [PathStep(id=oid, label=snap.ctx.labels.get(oid, ""), name=name)
                    for oid, name in snap.ctx.orgs_behind(achievement_id).items()]
    return match


def match_enterprise(asker: Asker, snap: Snapshot, enterprise_id: str, k: int = 10,
                     include_weak: bool = False) -> MatchResult:
    from matcher.documents import enterprise_text

    ent = find_enterprise(asker, snap, enterprise_id)
    ctx = snap.ctx
    needs: list[Need] = []
    for need_id in sorted(ctx.enterprise_needs.get(ent.id, ())):
        try:
            needs.append(find_need(asker, snap, need_id))
        except NotFoundError:
            continue
    text = "\n".join([enterprise_text(ent), *(n.text for n in needs)])
    segs = set(ctx.enterprise_segments.get(ent.id, ()))
    for n in needs:
        segs |= ctx.need_segments.get(n.id, set())
    budgets = [n.budget_wan for n in needs if n.budget_wan is not None]
    demand = Demand(
        enterprise_ids=[ent.id], segments=segs, region=ctx.enterprise_region.get(ent.id),
        budget_wan=max(budgets) if budgets else None,
        cooperation=frozenset(m.value for n in needs for m in n.cooperation_modes),
    )
    scored = rank_supply(asker, snap, text, demand, Question.ENTERPRISE_ACHIEVEMENT, ent.id, k)
    matches, best = supply_matches(asker, snap, scored, demand, k, include_weak, True)
    return make_result(asker, Question.ENTERPRISE_ACHIEVEMENT, ent.id, NodeLabel.ENTERPRISE, ent.name,
                       scored.query_terms, matches, best, sorted(segs), scored.channels)
