"""Where data leaves the service: the :mod:`api.policy` applied to one caller's reads.

Every route and page that can surface a need, or link an enterprise to a need, takes a :class:`NeedGate`
(``Annotated[NeedGate, Depends(need_gate)]``) and gets needs, lists, drawings and match results through it:

- one need: :meth:`NeedGate.readable` (404, as if it did not exist, unless the caller may read it in full);
- lists: :meth:`NeedGate.page` filters in the query, so counts and ``has_more`` are computed after filtering,
  and a name search or an enterprise filter only ever matches needs the caller reads in full;
- views: :meth:`NeedGate.views` (full or :class:`~api.policy.DesensitisedNeedView`);
- drawings: :meth:`NeedGate.subgraph` keeps only what the caller may see, and only what stays connected to
  the drawing's anchors;
- matches: :meth:`NeedGate.enterprise_matches` hides an enterprise surfaced through a need the caller may
  not read (fresh random handle, no name, only public terms).

Every full view of a non-public need is audited; desensitised list rows are not logged one by one.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Annotated, Any

from fastapi import Depends, Request

from api.audit import AuditLog
from api.auth import Principal, Role, current_principal
from api.errors import ApiError
from api.policy import (
    FULL_VIEW_CONDITION,
    AnyNeedView,
    DesensitisedNeedView,
    NeedView,
    Visibility,
    Vocabulary,
    desensitised_terms,
    need_key_terms,
    need_visibility,
    opaque_need_ref,
    random_ref,
    shipped_vocabulary,
    visibility_params,
)
from graph.model import ChallengeStatus, Confidentiality, Need, NeedStatus, NodeLabel
from graph.store import GraphNode, GraphStore, Subgraph
from matcher.results import Explanation, Match, MatchResult

HIDDEN_ENTERPRISE = "（未公开的企业）"
NOT_FOUND_ZH = "没有该需求，或你无权查看"

_NEED = NodeLabel.NEED.value
_LIST = (
    f"MATCH (n:{_NEED}) "
    "WHERE ($enterprise_id IS NULL OR n.enterprise_id = $enterprise_id) "
    "AND ($status IS NULL OR n.status = $status) "
    "AND ($mine IS NULL OR n.enterprise_id IN $mine) "
    "AND ($text IS NULL OR n.id = $text OR size([t IN $terms WHERE n.name CONTAINS t]) = size($terms)) "
    f"AND (NOT $full_only OR {FULL_VIEW_CONDITION}) "
    "RETURN properties(n) AS p ORDER BY n.id SKIP $skip LIMIT $limit"
)
_SEGMENTS_OF = (
    f"MATCH (n:{_NEED})-[:IN_SEGMENT]->(s:{NodeLabel.CHAIN_SEGMENT.value}) WHERE n.id IN $ids "
    "RETURN n.id AS need, s.name AS name ORDER BY s.order"
)
_NAMES_OF = f"MATCH (e:{NodeLabel.ENTERPRISE.value}) WHERE e.id IN $ids RETURN e.id AS id, e.name AS name"
#: one need with what its view shows beside it, in one round trip (a need's page is the service's commonest read)
_NEED_IN_CONTEXT = (
    f"MATCH (n:{_NEED} {{id: $id}}) "
    f"OPTIONAL MATCH (n)-[:IN_SEGMENT]->(s:{NodeLabel.CHAIN_SEGMENT.value}) "
    "WITH n, collect(s {.name, .order}) AS segments "
    f"OPTIONAL MATCH (e:{NodeLabel.ENTERPRISE.value} {{id: n.enterprise_id}}) "
    "RETURN properties(n) AS p, segments, e.name AS enterprise_name"
)
_VOCABULARY = (
    "MATCH (s) WHERE s:ChainSegment OR s:IndustryChain "
    "RETURN s.name AS name, s.keywords AS keywords, s.aliases AS aliases"
)
#: node labels a drawing may show; needs and challenges only when the caller may see them
DRAWABLE = {NodeLabel.ACHIEVEMENT.value, NodeLabel.TALENT.value, NodeLabel.INSTITUTION.value,
            NodeLabel.ENTERPRISE.value, NodeLabel.CHAIN_SEGMENT.value, NodeLabel.INDUSTRY_CHAIN.value,
            NodeLabel.PLATFORM.value, NodeLabel.PROJECT.value, NodeLabel.REGION.value, NodeLabel.NEED.value,
            NodeLabel.CHALLENGE.value}
VOCABULARY_TTL_S = 300.0


class VocabularySource:
    """The public vocabulary: the shipped taxonomy plus the chain segments in the graph, re-read every few
    minutes (the bureau may add keywords to a segment)."""

    def __init__(self, store: GraphStore) -> None:
        self.store = store
        self._cached: tuple[float, Vocabulary] | None = None
        self._lock = threading.Lock()

    def get(self) -> Vocabulary:
        now = time.monotonic()
        with self._lock:
            if self._cached and now - self._cached[0] < VOCABULARY_TTL_S:
                return self._cached[1]
        terms = set(shipped_vocabulary().terms)
        for row in self.store.read(_VOCABULARY):
            terms.add(str(row["name"] or ""))
            terms.update(str(t) for t in (row.get("keywords") or []))
            terms.update(str(t) for t in (row.get("aliases") or []))
        vocabulary = Vocabulary(terms)
        with self._lock:
            self._cached = (now, vocabulary)
        return vocabulary


class NeedGate:
    """The visibility policy applied for one caller; see the module docstring."""

    def __init__(self, store: GraphStore, audit: AuditLog, viewer: Principal, secret: bytes,
                 vocabulary: Vocabulary | Callable[[], Vocabulary]) -> None:
        self.store, self.audit, self.viewer = store, audit, viewer
        self.secret = secret
        self._vocabulary = vocabulary
        #: what :meth:`load` read beside each need (its segments and enterprise's name), for this request's
        #: view of that very need object; a changed need is a new object and is read afresh
        self._context: dict[str, tuple[Need, list[str], str | None]] = {}
        #: needs whose full view this request has already recorded (a page reads a need, then shows it: one event)
        self._viewed: set[str] = set()

    @property
    def vocabulary(self) -> Vocabulary:
        """The public vocabulary (read from its source on first use)."""
        if not isinstance(self._vocabulary, Vocabulary):
            self._vocabulary = self._vocabulary()
        return self._vocabulary

    # -- decisions -------------------------------------------------------------------------------
    def visibility(self, need: Need | dict[str, Any]) -> Visibility:
        return need_visibility(self.viewer, need)

    def may_read(self, need: Need) -> bool:
        return self.visibility(need) == Visibility.FULL

    # -- one need --------------------------------------------------------------------------------
    def load(self, need_id: str, with_context: bool = False) -> Need | None:
        """The need; ``with_context``: with what its view shows beside it, in the same round trip (for a
        :meth:`view` of it in this request)."""
        if not with_context:
            return self.store.get(Need, need_id)
        rows = self.store.read(_NEED_IN_CONTEXT, id=need_id)
        if not rows:
            return None
        node = Need.from_props(rows[0]["p"])
        segments = sorted((s for s in rows[0]["segments"] if s and s.get("name") is not None),
                          key=lambda s: (s.get("order") is None, s.get("order") or 0))
        self._context[need_id] = (node, [s["name"] for s in segments], rows[0]["enterprise_name"])
        return node

    def readable(self, need_id: str, audit: str | None = "view_need", with_context: bool = False) -> Need:
        """The need, when the caller may read it in full (the view audited as ``audit``); else the same 404
        as for a need that does not exist, so that ids cannot be probed. ``with_context``: as :meth:`load`."""
        need = self.load(need_id, with_context)
        if need is None or not self.may_read(need):
            raise ApiError(404, NOT_FOUND_ZH, "need_id")
        if audit and need.confidentiality != Confidentiality.PUBLIC:
            self.audit.record(self.viewer, audit, NodeLabel.NEED, need.id, "full")
            if audit == "view_need":
                self._viewed.add(need.id)
        return need

    # -- views -----------------------------------------------------------------------------------
    def views(self, needs: Sequence[Need]) -> list[AnyNeedView]:
        """The caller's views of ``needs`` (hidden ones left out); full views of non-public needs audited."""
        shown = [(n, self.visibility(n)) for n in needs]
        shown = [(n, v) for n, v in shown if v != Visibility.HIDDEN]
        segments: dict[str, list[str]] = {}
        names: dict[str, str] = {}
        for need, _ in shown:
            known = self._context.get(need.id)
            if known is not None and known[0] is need:
                segments[need.id] = known[1]
                if need.enterprise_id and known[2] is not None:
                    names[need.enterprise_id] = known[2]
        ids = [n.id for n, _ in shown if n.id not in segments]
        if ids:
            segments.update({i: [] for i in ids})
            for row in self.store.read(_SEGMENTS_OF, ids=ids):
                segments[row["need"]].append(row["name"])
        ent_ids = sorted({n.enterprise_id for n, _ in shown if n.enterprise_id and n.id in ids})
        if ent_ids:
            names.update({r["id"]: r["name"] for r in self.store.read(_NAMES_OF, ids=ent_ids)})
        out: list[AnyNeedView] = []
        audited: list[tuple[str, str]] = []
        for need, visibility in shown:
            ent_name = names.get(need.enterprise_id or "")
            if visibility == Visibility.DESENSITISED:
                out.append(DesensitisedNeedView(
                    ref=opaque_need_ref(self.secret, need.id), confidentiality=need.confidentiality,
                    status=need.status, segments=segments[need.id],
                    key_terms=desensitised_terms(need, ent_name, self.vocabulary),
                ))
                continue
            if need.confidentiality != Confidentiality.PUBLIC:
                if need.id not in self._viewed:
                    audited.append((need.id, "full"))
                    self._viewed.add(need.id)
            out.append(NeedView(
                id=need.id, name=need.name, description=need.description, enterprise_id=need.enterprise_id,
                enterprise_name=ent_name, confidentiality=need.confidentiality, status=need.status,
                segments=segments[need.id], key_terms=need_key_terms(need, ent_name, self.vocabulary),
                budget_wan=need.budget_wan, deadline=need.deadline, posted_on=need.posted_on,
                cooperation_modes=need.cooperation_modes, min_maturity=need.min_maturity, sector=need.sector,
                reveal_identity=need.reveal_identity, can_manage=self.may_manage(need),
                contact_name=need.contact_name, contact_phone=need.contact_phone, region=need.region,
                escalated_on=need.escalated_on,
            ))
        self.audit.record_many(self.viewer, "view_need", NodeLabel.NEED, audited)
        return out

    def view(self, need: Need) -> NeedView:
        """The full view of a need the caller reads in full (callers check with :meth:`readable` first)."""
        (only,) = self.views([need])
        if not isinstance(only, NeedView):
            raise ApiError(404, NOT_FOUND_ZH, "need_id")
        return only

    def may_manage(self, need: Need) -> bool:
        return self.viewer.role == Role.BUREAU or self.viewer.may_act_for(need.enterprise_id)

    # -- lists -----------------------------------------------------------------------------------
    def page(self, skip: int, limit: int, enterprise_id: str | None = None, status: NeedStatus | None = None,
             text: str | None = None, mine: bool = False) -> tuple[list[Need], bool]:
        """One page of the needs the caller may see, and whether there is more. Filtering happens in the
        query: a name search or an enterprise filter only ever matches needs the caller reads in full, so
        neither the items nor ``has_more`` tell anything about the others."""
        if self.viewer.role == Role.ADMIN:
            return [], False
        mine_ids: list[str] | None = None
        if mine and self.viewer.role != Role.BUREAU:
            mine_ids = sorted({self.viewer.enterprise_id} if self.viewer.role == Role.ENTERPRISE and
                              self.viewer.enterprise_id else self.viewer.assigned)
        rows = self.store.read(
            _LIST, enterprise_id=enterprise_id, status=status.value if status else None, mine=mine_ids,
            text=text or None, terms=(text or "").split() or [""], full_only=bool(text or enterprise_id),
            skip=max(0, int(skip)),
            limit=int(limit) + 1, **visibility_params(self.viewer),
        )
        needs = [Need.from_props(r["p"]) for r in rows]
        return needs[:limit], len(needs) > limit

    # -- drawings --------------------------------------------------------------------------------
    def subgraph(self, sub: Subgraph, anchors: Iterable[str]) -> Subgraph:
        """The drawing without what the caller may not see, and without what is left hanging: a node that
        was linked to the anchors only through a removed one goes too (an enterprise next to a hidden need
        would otherwise say whose need it is)."""
        def shown(node: GraphNode) -> bool:
            if node.label not in DRAWABLE:
                return False
            if node.label == _NEED:
                return self.visibility(node.props) == Visibility.FULL
            if node.label == NodeLabel.CHALLENGE.value:
                return self.viewer.role == Role.BUREAU or node.props.get("status") != ChallengeStatus.DRAFT.value
            return True

        nodes = {n.id: n for n in sub.nodes if shown(n)}
        edges = [e for e in sub.edges if e.source in nodes and e.target in nodes]
        adjacent: dict[str, set[str]] = {i: set() for i in nodes}
        for e in edges:
            adjacent[e.source].add(e.target)
            adjacent[e.target].add(e.source)
        reached = {a for a in anchors if a in nodes}
        queue = deque(reached)
        while queue:
            for nxt in adjacent[queue.popleft()] - reached:
                reached.add(nxt)
                queue.append(nxt)
        self.audit.record_many(self.viewer, "view_need", NodeLabel.NEED, [
            (i, "full (drawing)") for i in sorted(reached)
            if nodes[i].label == _NEED and nodes[i].props.get("confidentiality") != Confidentiality.PUBLIC.value])
        return Subgraph(nodes=[n for i, n in nodes.items() if i in reached],
                        edges=[e for e in edges if e.source in reached and e.target in reached])

    # -- match results ---------------------------------------------------------------------------
    def hidden_needs(self, need_ids: Iterable[str]) -> set[str]:
        """Of ``need_ids``, those the caller may not read in full (unknown ids count as hidden)."""
        ids = sorted(set(need_ids))
        if not ids:
            return set()
        rows = self.store.read(f"MATCH (n:{_NEED}) WHERE n.id IN $ids RETURN properties(n) AS p", ids=ids)
        readable = {r["p"]["id"] for r in rows if self.visibility(r["p"]) == Visibility.FULL}
        return set(ids) - readable

    def enterprise_matches(self, result: MatchResult) -> MatchResult:
        """Enterprise candidates surfaced through needs the caller may not read, desensitised; the rest as is
        (a non-public need named in a shown explanation is a full view, and audited)."""
        via = {v for m in result.matches for v in m.via}
        hidden = self.hidden_needs(via)
        out, shown = [], set()
        for m in result.matches:
            if hidden.intersection(m.via) and not self.viewer.may_act_for(m.candidate_id):
                out.append(self.hidden_candidate(m))
            else:
                out.append(m)
                shown.update(m.via)
        if shown:
            rows = self.store.read(f"MATCH (n:{_NEED}) WHERE n.id IN $ids AND n.confidentiality <> 'public' "
                                   "RETURN n.id AS id", ids=sorted(shown))
            self.audit.record_many(self.viewer, "view_need", NodeLabel.NEED,
                                   [(r["id"], "full (match)") for r in rows])
        return result.model_copy(update={"matches": out})

    def hidden_candidate(self, match: Match) -> Match:
        """The match with no trace of its enterprise: a fresh random handle, chain segments, public terms."""
        terms = self.vocabulary.keep(match.explanation.shared_terms)
        steps = match.explanation.chain_path
        parts = ["同属" + "、".join(s.name for s in steps)] if steps else []
        if terms:
            parts.append("共有关键词 " + "/".join(terms[:4]))
        parts.append("该企业的需求未公开")
        return Match(
            candidate_id=random_ref(), label=match.label, name=HIDDEN_ENTERPRISE, score=match.score,
            confidence=match.confidence, rank=match.rank,
            explanation=Explanation(shared_terms=terms, chain_path=steps,
                                    chain_relation=match.explanation.chain_relation, sentence="；".join(parts)),
        )


def gate_for(request: Request, viewer: Principal) -> NeedGate:
    """The gate of ``viewer`` on this app (web pages call it with the session's principal)."""
    state = request.app.state
    return NeedGate(state.store, state.audit, viewer, state.disclosure_secret, state.vocabulary.get)


async def need_gate(request: Request, principal: Annotated[Principal, Depends(current_principal)]) -> NeedGate:
    """Dependency: the caller's gate (401 without credentials). On the event loop: building it reads nothing
    (the vocabulary is read when the gate first needs it, in the route)."""
    return gate_for(request, principal)


Gate = Annotated[NeedGate, Depends(need_gate)]
