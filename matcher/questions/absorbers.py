"""Achievement → enterprises that could absorb it: through their needs' text, their own description, their chain
segments (same or downstream) and earlier relationships with the achievement's side.

Needs and enterprise profiles are few, so a score against *them* as background would mean little; instead
the evidence for a candidate is how the achievement stands in the whole achievement corpus for the
candidate's text (its fused score and background z-scores, as for need → achievements). Scores and
confidences are therefore on the same scale in both directions.

That standing is computed for every candidate text in one pass (:func:`standings`), not as one full query
per candidate: the candidates' dense rows are the needs' and enterprises' own stored rows (no encoding), scored
against the achievement corpus in one matrix product; the lexical channels score each text once; and only the
achievement's own rank is read from each candidate's scores (:func:`matcher.fusion.combine_at`).
:func:`standing` (one full query) is the old path, kept for comparison (``benchmarks/scale.py reverse``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from graph.exceptions import NotFoundError
from graph.model import Achievement, NodeLabel
from ingest.text import tokenize
from matcher.documents import need_min_maturity
from matcher.explain import chain_path, collaboration_paths, describe, terms_shared_with
from matcher.features.base import Demand
from matcher.index.dense import DenseIndex
from matcher.questions.common import Asker, channel_scores, graph_delta, graph_features, make_result
from matcher.questions.supply import find_need
from matcher.results import Match, MatchResult, Question
from matcher.scores import ConfidenceInputs, MatchFeatures
from matcher.tuning import GAP_WINDOW, REVERSE_POOL
from matcher.upkeep import Snapshot


def find_achievement(asker: Asker, snap: Snapshot, achievement_id: str) -> Achievement:
    if asker.store is not None:
        node = asker.store.get(Achievement, achievement_id)
        if node is not None:
            return node
    if achievement_id in snap.achievements:
        return Achievement(id=achievement_id, name=snap.achievements.title(achievement_id) or achievement_id,
                           description=snap.achievements.text(achievement_id))
    raise NotFoundError(NodeLabel.ACHIEVEMENT.value, achievement_id)


def standing(asker: Asker, snap: Snapshot, query_text: str, achievement_id: str) -> MatchFeatures | None:
    """How an achievement stands in the whole achievement corpus for a query text: its fused score and each
    channel's z and raw scores and share of the fused score (None: not indexed, or no text)."""
    index = snap.achievements
    pos = index.position(achievement_id)
    if pos is None or not query_text:
        return None
    fused, norm, raw, parts = index.query(query_text, asker.fusion_for)
    shares = {name: float(part[pos]) for name, part in parts.items()}
    return MatchFeatures(float(fused[pos]), asker.calibrator.supply_strength(norm),
                         channel_scores(norm, raw, pos, shares))


Item = tuple[str | None, str, str]  #: (need id or None, text, the enterprise it speaks for)


def _candidate_vectors(snap: Snapshot, items: list[Item], name: str) -> np.ndarray:
    """(dim, candidates): each candidate's stored passage row in the needs' or enterprises' corpus for the dense
    channel ``name`` (the same encoder as the achievements' rows), or its text encoded as a query when it has
    none."""
    target = snap.achievements.channel(name)
    if not isinstance(target, DenseIndex):
        raise ValueError(f"{name} is not a dense channel of the achievements")
    cols = []
    for need_id, text, ent in items:
        source = snap.needs if need_id else snap.enterprises
        doc = need_id or ent
        ch = source.channel(name)
        pos = source.docs.position.get(doc) if doc in source else None
        if (pos is not None and isinstance(ch, DenseIndex) and ch.rows is not None
                and ch.encoding.key == target.encoding.key and source.text(doc) == text):
            cols.append(ch.rows.take(np.array([pos]))[0])
        else:
            cols.append(target.queries.vector(text))
    return np.stack(cols, axis=1).astype(np.float32)


def standings(asker: Asker, snap: Snapshot, items: list[Item], achievement_id: str) -> list[MatchFeatures | None]:
    """:func:`standing` of one achievement for many candidate texts at once (the same features; see the
    module docstring): one matrix product per dense channel, one lexical scoring per text, and the
    achievement's rank read off each text's scores."""
    index = snap.achievements
    pos = index.position(achievement_id)
    if pos is None or not items:
        return [None for _ in items]
    from matcher.fusion import combine_at

    live = index.docs.live
    whole = len(live) == index.docs.n_rows
    dense: dict[str, np.ndarray] = {}
    for den in index.dense:
        if den.ready:
            assert den.rows is not None
            block = den.rows.dot(_candidate_vectors(snap, items, den.name))  # (rows, candidates)
            dense[den.name] = block if whole else block[live]
    out: list[MatchFeatures | None] = []
    for j, (_, text, _) in enumerate(items):
        if not text:
            out.append(None)
            continue
        raw = {}
        for lex in index.lexical:
            s = lex.scores(text)
            raw[lex.name] = s if whole else s[live]
        for name, block in dense.items():
            raw[name] = np.ascontiguousarray(block[:, j])
        fusion = asker.fusion_for(list(raw))
        at = combine_at(fusion, raw, pos)
        out.append(MatchFeatures(at.score, asker.calibrator.supply_strength(at.z),
                                 channel_scores(at.z, raw, pos, at.parts)))
    return out


def _evidence(asker: Asker, snap: Snapshot, text: str, ach_segs: set[str],
              pool: int) -> dict[str, list[tuple[str | None, str]]]:
    """Candidate enterprises with the texts that speak for them: the needs and enterprise profiles closest to
    the achievement, and the enterprises in its segment or just downstream of it."""
    ctx = snap.ctx
    evidence: dict[str, list[tuple[str | None, str]]] = {}  # enterprise -> [(need id or None, text)]
    if len(snap.needs):
        fused = snap.needs.query(text, asker.fusion_for).fused
        ids = snap.needs.doc_ids
        for i in np.argsort(-fused)[:pool]:
            need_id = ids[i]
            ent = ctx.need_enterprise.get(need_id)
            if ent:
                evidence.setdefault(ent, []).append((need_id, snap.needs.text(need_id)))
    if len(snap.enterprises):
        fused = snap.enterprises.query(text, asker.fusion_for).fused
        ids = snap.enterprises.doc_ids
        for i in np.argsort(-fused)[:pool]:
            evidence.setdefault(ids[i], []).append((None, snap.enterprises.text(ids[i])))
    for ent, segs in ctx.enterprise_segments.items():
        if ent not in evidence and (segs & ach_segs or any(
                d in segs for s in ach_segs for d in ctx.downstream.get(s, ()))):
            evidence[ent] = [(None, snap.enterprises.text(ent) or ctx.names.get(ent, ent))]
    return evidence


@dataclass
class _Ranked:
    """One candidate enterprise while the ranking is adjusted: its score, and what it is scored on."""

    score: float
    ent: str
    via_need: str | None
    demand: Demand
    features: MatchFeatures
    contributions: dict[str, float]


def match_achievement(asker: Asker, snap: Snapshot, achievement_id: str, k: int = 10,
                      include_weak: bool = False, one_pass: bool = True) -> MatchResult:
    """Enterprises that could absorb an achievement, best first. ``one_pass``: every candidate's evidence from
    :func:`standings` (default); False: one full query per candidate text (the old path, for benchmarks)."""
    ach = find_achievement(asker, snap, achievement_id)
    from matcher.documents import achievement_text

    text = achievement_text(ach)
    query_terms = tokenize(text)
    ctx = snap.ctx
    info = ctx.supply.get(ach.id)
    ach_segs = info.segments if info else set()
    evidence = _evidence(asker, snap, text, ach_segs, max(REVERSE_POOL, k))
    flat: list[Item] = [(need_id, cand_text, ent) for ent, items in evidence.items() for need_id, cand_text in items]
    if one_pass:
        found = standings(asker, snap, flat, ach.id)
    else:  # the old path: one full query of the achievement corpus per candidate text
        found = [standing(asker, snap, cand_text, ach.id) for _, cand_text, _ in flat]
    by_ent: dict[str, list[tuple[str | None, MatchFeatures]]] = {}
    for (need_id, _, ent), f in zip(flat, found, strict=True):
        if f is not None:
            by_ent.setdefault(ent, []).append((need_id, f))
    ranked: list[_Ranked] = []
    for ent in evidence:
        best_item: tuple[str | None, MatchFeatures] | None = None
        for need_id, f in by_ent.get(ent, []):
            if best_item is None or f.fused > best_item[1].fused:
                best_item = (need_id, f)
        if best_item is None:
            continue
        via_need, features = best_item
        try:
            need = find_need(asker, snap, via_need) if via_need else None
        except NotFoundError:
            need = None
        segs = set(ctx.enterprise_segments.get(ent, ()))
        for n in ctx.enterprise_needs.get(ent, ()):
            segs |= ctx.need_segments.get(n, set())
        demand = Demand(
            need_id=via_need, enterprise_ids=[ent], segments=segs, region=ctx.enterprise_region.get(ent),
            budget_wan=need.budget_wan if need else None,
            cooperation=frozenset(m.value for m in need.cooperation_modes) if need else frozenset(),
            min_maturity=need_min_maturity(need) if need else None,
        )
        contributions = {name: cs.share for name, cs in features.channels.items()}
        score = features.fused
        graph = {}
        for name, values in graph_features(asker.families, ctx, demand, [ach.id]).items():
            v = float(values[0])
            graph[name] = v
            delta = graph_delta(name, v)
            if delta:
                contributions[name] = delta
                score += delta
        ranked.append(_Ranked(score, ent, via_need, demand, features.with_graph(graph), contributions))
    if ranked:
        learned, verdict = asker.reranker.adjust_parts(Question.ACHIEVEMENT_ENTERPRISE.value, ach.id,
                                                       [r.ent for r in ranked], [r.features for r in ranked])
        for r, a, v in zip(ranked, learned, verdict, strict=True):
            if a:
                r.score += float(a)
                r.contributions["feedback"] = float(a)
            if v:
                r.score += float(v)
                r.contributions["verdict"] = float(v)
    ranked.sort(key=lambda r: -r.score)
    channels = snap.achievements.answering
    threshold = asker.gap_threshold_for(channels)
    matches = []
    best_conf = 0.0
    for rank, r in enumerate(ranked[:k], start=1):
        score, ent, via_need, demand, features, contributions = (
            r.score, r.ent, r.via_need, r.demand, r.features, r.contributions)
        own = contributions.get("verdict", 0.0)  # the pair's own verdict is no evidence of fit
        conf = asker.calibrator.confidence(ConfidenceInputs(
            fused=features.fused, supply=features.supply, bonus=float(score) - own - features.fused,
            channels=features.channel_names))
        if rank <= GAP_WINDOW:
            best_conf = max(best_conf, conf)
        if not include_weak and conf < threshold:
            continue
        source = snap.needs if via_need else snap.enterprises
        terms = terms_shared_with(source, via_need or ent, query_terms, idf_from=snap.achievements)
        relation, steps = chain_path(ctx, ach_segs, demand.segments)
        paths = collaboration_paths(ctx, ach.id, [ent])
        extra = f"其需求「{ctx.names.get(via_need, via_need)}」与成果相符" if via_need else ""
        matches.append(Match(
            candidate_id=ent, label=NodeLabel.ENTERPRISE.value, name=ctx.names.get(ent, ent),
            score=float(score), confidence=conf, rank=rank, features=features.as_dict(),
            contributions=contributions, via=[via_need] if via_need else [],
            explanation=describe(ctx, terms, relation, steps, paths, extra=extra),
        ))
    return make_result(asker, Question.ACHIEVEMENT_ENTERPRISE, ach.id, NodeLabel.ACHIEVEMENT, ach.name, query_terms,
                       matches, best_conf, sorted(ach_segs), channels)
