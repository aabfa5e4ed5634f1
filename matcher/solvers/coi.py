"""Conflicts of interest (回避): explicit rules that remove a candidate solver or reviewer, each with a reason.

Every rule is a small class with one method, ``find(store, owner, candidates)``, which asks the graph
for the facts behind that rule in one parameterised query and returns the conflicted candidates with a
human-readable reason. :class:`ConflictPolicy` says which rules apply and the collaboration window.
The rules:

- ``same_organisation`` — the candidate is the owner, or works for the owner (AFFILIATED_WITH);
- ``co_inventor`` — the candidate co-invented or co-owns an achievement with the owner or its people;
- ``recent_collaboration`` — a COLLABORATED_WITH edge with the owner (or its people) whose ``year``
  is within ``window_years`` of the reference year (an edge without a year counts as recent);
- ``financial_tie`` — the candidate holds shares in (SHAREHOLDER_OF) or is employed by (EMPLOYED_BY) the owner.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from graph.exceptions import NotFoundError, ValidationError
from graph.model import Challenge, NodeLabel
from graph.store import GraphStore
from matcher.settings import MatcherSettings
from matcher.solvers.refs import SolverRef, solver_key


class Conflict(BaseModel):
    """One reason a candidate may not solve or review a challenge."""

    model_config = ConfigDict(frozen=True)
    rule: str
    candidate: SolverRef
    reason: str
    via: str = ""  # the node that carries the conflict (an achievement, an organisation ...)


class OwnerRef(BaseModel):
    model_config = ConfigDict(frozen=True)
    label: str
    id: str
    name: str = ""


@runtime_checkable
class ConflictRule(Protocol):
    name: str

    def find(self, store: GraphStore, owner: OwnerRef, candidates: Sequence[SolverRef]) -> list[Conflict]:
        """The conflicts this rule finds among ``candidates`` for a challenge owned by ``owner``."""


_OWNER = "(o {id: $owner})"


def _read_for_owner(store: GraphStore, who: OwnerRef, cypher: str, /, **params: object) -> list[dict]:
    """Run a rule's query with the owner's label in its pattern (from the enum), so the id index is used."""
    labelled = cypher.replace(_OWNER, f"(o:{NodeLabel(who.label).value} {{id: $owner}})")
    return store.read(labelled, **params)


def _ids(candidates: Sequence[SolverRef], label: NodeLabel) -> list[str]:
    return [c.id for c in candidates if c.label == label]


class SameOrganisationRule:
    name = "same_organisation"

    def find(self, store: GraphStore, owner: OwnerRef, candidates: Sequence[SolverRef]) -> list[Conflict]:
        out = [
            Conflict(rule=self.name, candidate=c, reason=f"候选方即榜单发布方「{owner.name or owner.id}」",
                     via=owner.id)
            for c in candidates
            if c.label.value == owner.label and c.id == owner.id
        ]
        rows = _read_for_owner(store, owner,
            "MATCH (t:Talent)-[:AFFILIATED_WITH]->(o {id: $owner}) "
            "WHERE $owner_label IN labels(o) AND t.id IN $ids RETURN t.id AS id, o.name AS org",
            owner=owner.id, owner_label=owner.label, ids=_ids(candidates, NodeLabel.TALENT),
        )
        for r in rows:
            out.append(Conflict(rule=self.name, candidate=SolverRef(label=NodeLabel.TALENT, id=r["id"]),
                                reason=f"与发榜方同单位（任职于「{r['org']}」）", via=owner.id))
        return out


class CoInventorRule:
    name = "co_inventor"

    def find(self, store: GraphStore, owner: OwnerRef, candidates: Sequence[SolverRef]) -> list[Conflict]:
        talents = _ids(candidates, NodeLabel.TALENT)
        orgs = [c.id for c in candidates if c.label in (NodeLabel.INSTITUTION, NodeLabel.ENTERPRISE)]
        out: list[Conflict] = []
        # The owner's side of an achievement: it owns or invented it, or another of its people invented it.
        owner_side = (
            "EXISTS { MATCH (o)-[:OWNS|INVENTED]->(a) } "
            "OR EXISTS { MATCH (o)<-[:AFFILIATED_WITH]-(p:Talent)-[:INVENTED]->(a) WHERE p.id <> c.id } "
        )
        rows = _read_for_owner(store, owner,
            "MATCH (o {id: $owner}) WHERE $owner_label IN labels(o) "
            "MATCH (c:Talent)-[:INVENTED|OWNS]->(a:Achievement) WHERE c.id IN $ids AND (" + owner_side + ") "
            "RETURN DISTINCT c.id AS id, a.id AS ach, a.name AS name",
            owner=owner.id, owner_label=owner.label, ids=talents,
        )
        for r in rows:
            out.append(Conflict(rule=self.name, candidate=SolverRef(label=NodeLabel.TALENT, id=r["id"]),
                                reason=f"与发榜方共同完成/共有成果「{r['name']}」", via=r["ach"]))
        rows = _read_for_owner(store, owner,
            "MATCH (o {id: $owner}) WHERE $owner_label IN labels(o) "
            "MATCH (c)-[:OWNS]->(a:Achievement) WHERE c.id IN $ids AND (c:Institution OR c:Enterprise) "
            "AND NOT (c.id = o.id AND labels(c)[0] = labels(o)[0]) AND (" + owner_side + ") "
            "RETURN DISTINCT c.id AS id, labels(c)[0] AS label, a.id AS ach, a.name AS name",
            owner=owner.id, owner_label=owner.label, ids=orgs,
        )
        for r in rows:
            out.append(Conflict(rule=self.name, candidate=SolverRef(label=NodeLabel(r["label"]), id=r["id"]),
                                reason=f"与发榜方共有成果「{r['name']}」", via=r["ach"]))
        return out


class RecentCollaborationRule:
    name = "recent_collaboration"

    def __init__(self, window_years: int = 3, reference_year: int | None = None) -> None:
        if window_years < 0:
            raise ValidationError("the collaboration window must be >= 0 years", field="window_years")
        self.window_years = window_years
        self.reference_year = reference_year

    def find(self, store: GraphStore, owner: OwnerRef, candidates: Sequence[SolverRef]) -> list[Conflict]:
        ref_year = self.reference_year or date.today().year
        rows = _read_for_owner(store, owner,
            "MATCH (o {id: $owner}) WHERE $owner_label IN labels(o) "
            "OPTIONAL MATCH (o)<-[:AFFILIATED_WITH]-(p:Talent) "
            # o is a grouping key of its own first: Neo4j 5 refuses [o] + collect(p) in one aggregation
            "WITH o, collect(p) AS people WITH [o] + people AS side UNWIND side AS s "
            "MATCH (s)-[e:COLLABORATED_WITH]-(c) WHERE c.id IN $ids "
            "RETURN DISTINCT c.id AS id, labels(c)[0] AS label, e.year AS year, s.name AS partner",
            owner=owner.id, owner_label=owner.label, ids=[c.id for c in candidates],
        )
        wanted = {c.key for c in candidates}
        out: list[Conflict] = []
        for r in rows:
            ref = SolverRef(label=NodeLabel(r["label"]), id=r["id"])
            if ref.key not in wanted:
                continue
            year = r["year"]
            try:
                year = int(year) if year is not None else None
            except (TypeError, ValueError):
                year = None
            # No year recorded: we cannot show it is old, so it counts (回避 errs on the safe side).
            if year is not None and ref_year - year > self.window_years:
                continue
            when = f"{year}年" if year is not None else "（年份未记录）"
            out.append(Conflict(rule=self.name, candidate=ref,
                                reason=f"近{self.window_years}年内与「{r['partner']}」有合作{when}",
                                via=str(year or "")))
        return out


class FinancialTieRule:
    name = "financial_tie"

    def find(self, store: GraphStore, owner: OwnerRef, candidates: Sequence[SolverRef]) -> list[Conflict]:
        rows = _read_for_owner(store, owner,
            "MATCH (c)-[e:SHAREHOLDER_OF|EMPLOYED_BY]->(o {id: $owner}) "
            "WHERE $owner_label IN labels(o) AND c.id IN $ids "
            "RETURN DISTINCT c.id AS id, labels(c)[0] AS label, type(e) AS kind, o.name AS org",
            owner=owner.id, owner_label=owner.label, ids=[c.id for c in candidates],
        )
        wanted = {c.key for c in candidates}
        out: list[Conflict] = []
        for r in rows:
            ref = SolverRef(label=NodeLabel(r["label"]), id=r["id"])
            if ref.key in wanted:
                what = "持有发榜方股份" if r["kind"] == "SHAREHOLDER_OF" else "在发榜方兼职/受雇"
                out.append(Conflict(rule=self.name, candidate=ref, reason=f"{what}（「{r['org']}」）", via=owner.id))
        return out


RULES: dict[str, type] = {
    SameOrganisationRule.name: SameOrganisationRule,
    CoInventorRule.name: CoInventorRule,
    RecentCollaborationRule.name: RecentCollaborationRule,
    FinancialTieRule.name: FinancialTieRule,
}


class ConflictPolicy(BaseModel):
    """Which 回避 rules apply, and how far back a collaboration still counts."""

    rules: list[str] = Field(default_factory=lambda: list(RULES))
    window_years: int = Field(default=3, ge=0)
    reference_year: int | None = None  # None = this year

    @classmethod
    def from_settings(cls, settings: MatcherSettings) -> ConflictPolicy:
        """The policy configured by ``TECHMATCH_COI_RULES`` and ``TECHMATCH_COI_WINDOW_YEARS``."""
        return cls(rules=settings.coi_rule_names, window_years=settings.coi_window_years)

    def build(self) -> list[ConflictRule]:
        unknown = [r for r in self.rules if r not in RULES]
        if unknown:
            raise ValidationError(f"unknown conflict rule(s) {unknown}; known: {sorted(RULES)}", field="rules")
        built: list[ConflictRule] = []
        for name in self.rules:
            if name == RecentCollaborationRule.name:
                built.append(RecentCollaborationRule(self.window_years, self.reference_year))
            else:
                built.append(RULES[name]())
        return built


def challenge_owner(store: GraphStore, challenge: Challenge) -> OwnerRef | None:
    """The owner of a challenge as a graph node; None when the challenge names no owner."""
    if not challenge.owner_id:
        return None
    label = store.find_label(challenge.owner_id)
    if label is None:
        raise NotFoundError("owner of challenge " + challenge.id, challenge.owner_id)
    props = store.get_props(NodeLabel(label), challenge.owner_id) or {}
    return OwnerRef(label=label, id=challenge.owner_id, name=str(props.get("name", "")))


def check_conflicts(
    store: GraphStore,
    challenge: Challenge,
    candidates: Iterable[SolverRef],
    policy: ConflictPolicy | None = None,
) -> dict[str, list[Conflict]]:
    """Conflicts per candidate key (``Label:id``); candidates absent from the result are clear. Without a
    ``policy``, every rule with the default window (the configured one comes from
    :meth:`ConflictPolicy.from_settings`)."""
    owner = challenge_owner(store, challenge)
    cands = list(dict.fromkeys(candidates))
    found: dict[str, list[Conflict]] = {}
    if owner is None or not cands:
        return found
    for rule in (policy or ConflictPolicy()).build():
        for conflict in rule.find(store, owner, cands):
            found.setdefault(solver_key(conflict.candidate.label, conflict.candidate.id), []).append(conflict)
    return found
