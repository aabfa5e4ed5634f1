"""Team assembly for challenges that need several competences (e.g. 材料 + 工艺 + 装备).

For each competence the best talents are found with the solver index (query: the competence plus the
challenge's name). Candidate teams take one talent per competence (a person may cover several) and
are scored by how well each competence is covered plus how well the members already work together:
co-invented achievements, COLLABORATED_WITH edges, shared platforms (MEMBER_OF) or projects
(WORKED_ON), and, more weakly, the same employer. The lead is the member with the best overall fit
to the challenge, preferring one with prior industrialisation when the challenge requires it.
Candidates with a conflict of interest are left out before teams are formed. When the competences are
covered by fewer people than the challenge's ``min_team_size``, the team is filled up with the best remaining
talents by overall fit (and the requirement is reported as unmet only if there are not enough).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel

from graph.model import Challenge, NodeLabel
from graph.store import GraphStore
from matcher.solvers.coi import Conflict, ConflictPolicy, check_conflicts
from matcher.solvers.ranking import SolverIndex, cached_solver_index, challenge_text
from matcher.solvers.refs import SolverRef

#: how much each kind of earlier tie counts towards cohesion (pairs linked / pairs possible)
LINK_WEIGHTS = {"co_inventor": 1.0, "collaborated": 1.0, "same_project": 0.8, "same_platform": 0.6,
                "same_employer": 0.4}

#: most candidate teams scored per challenge
MAX_COMBINATIONS = 20_000

_LINKS = (
    "MATCH (a:Talent)-[:INVENTED]->(x:Achievement)<-[:INVENTED]-(b:Talent) "
    "WHERE a.id IN $ids AND b.id IN $ids AND a.id < b.id "
    "RETURN a.id AS a, b.id AS b, 'co_inventor' AS kind, x.name AS via "
    "UNION MATCH (a:Talent)-[:COLLABORATED_WITH]-(b:Talent) WHERE a.id IN $ids AND b.id IN $ids AND a.id < b.id "
    "RETURN a.id AS a, b.id AS b, 'collaborated' AS kind, '' AS via "
    "UNION MATCH (a:Talent)-[:WORKED_ON]->(x:Project)<-[:WORKED_ON]-(b:Talent) "
    "WHERE a.id IN $ids AND b.id IN $ids AND a.id < b.id "
    "RETURN a.id AS a, b.id AS b, 'same_project' AS kind, x.name AS via "
    "UNION MATCH (a:Talent)-[:MEMBER_OF]->(x:Platform)<-[:MEMBER_OF]-(b:Talent) "
    "WHERE a.id IN $ids AND b.id IN $ids AND a.id < b.id "
    "RETURN a.id AS a, b.id AS b, 'same_platform' AS kind, x.name AS via "
    "UNION MATCH (a:Talent)-[:AFFILIATED_WITH]->(x)<-[:AFFILIATED_WITH]-(b:Talent) "
    "WHERE a.id IN $ids AND b.id IN $ids AND a.id < b.id "
    "RETURN a.id AS a, b.id AS b, 'same_employer' AS kind, x.name AS via"
)
_ENTERPRISE_MEMBERS = (
    "MATCH (t:Talent)-[:AFFILIATED_WITH]->(e:Enterprise) WHERE t.id IN $ids "
    "RETURN t.id AS id, e.id AS enterprise, e.name AS name, e.region AS region"
)
# The graph is the bureau's own: an enterprise with a recorded district/county counts as local.
_LOCAL_ENTERPRISES = (
    "MATCH (e:Enterprise) WHERE e.region IS NOT NULL AND e.region <> '' RETURN e.id AS id, e.name AS name"
)


class CompetenceCover(BaseModel):
    competence: str
    member: str  # talent id
    member_name: str
    affinity: float
    covered: bool
    evidence: list[str] = []  # titles of the works that show it


class TeamLink(BaseModel):
    a: str
    b: str
    kind: str
    via: str = ""


class TeamProposal(BaseModel):
    members: list[SolverRef]
    names: dict[str, str]
    lead: SolverRef
    covers: list[CompetenceCover]
    links: list[TeamLink]
    coverage: float  # share of competences covered
    cohesion: float  # in [0, 1]
    score: float
    requirements: dict[str, bool] = {}
    #: a local enterprise proposed to carry the result into production (local_partner requirement)
    partner: SolverRef | None = None
    partner_name: str = ""

    @property
    def covers_all(self) -> bool:
        return all(c.covered for c in self.covers)


def assemble_teams(
    store: GraphStore,
    challenge: Challenge,
    index: SolverIndex | None = None,
    n_teams: int = 3,
    pool_per_competence: int = 5,
    cohesion_weight: float = 0.3,
    covered_threshold: float = 0.5,
    policy: ConflictPolicy | None = None,
) -> tuple[list[TeamProposal], dict[str, list[Conflict]]]:
    """Up to ``n_teams`` teams (best first) covering ``challenge.competences``, and the 回避 removals."""
    index = index or cached_solver_index(store)
    competences = list(dict.fromkeys(c.strip() for c in challenge.competences if c.strip())) or [challenge.name]
    talent_pos = [i for i, k in enumerate(index.expertise.solver_ids) if k.startswith(f"{NodeLabel.TALENT.value}:")]
    if not talent_pos:
        return [], {}
    queries = [f"{c} {challenge.name}" for c in competences]
    ws = index.expertise.work_scores(queries)
    comp_scores = index.expertise.solver_scores(queries, ws)[:, talent_pos]
    overall = (index.scores([challenge_text(challenge)])[0])[talent_pos]
    keys = [index.expertise.solver_ids[i] for i in talent_pos]

    # Pools: the best talents per competence, with 回避 removals taken out first.
    wide = {keys[i] for row in comp_scores for i in np.argsort(-row)[: pool_per_competence * 3]}
    conflicts = check_conflicts(store, challenge, [SolverRef.from_key(k) for k in wide], policy)
    # One person per competence means pool ** competences combinations: keep that enumerable.
    while pool_per_competence > 1 and pool_per_competence ** len(competences) > MAX_COMBINATIONS:
        pool_per_competence -= 1
    pools: list[list[int]] = []
    for row in comp_scores:
        ranked = [i for i in np.argsort(-row, kind="stable") if keys[i] not in conflicts]
        pools.append(ranked[:pool_per_competence])

    pool_ids = sorted({SolverRef.from_key(keys[i]).id for pool in pools for i in pool})
    links: dict[frozenset[str], list[TeamLink]] = {}
    for r in store.read(_LINKS, ids=pool_ids):
        links.setdefault(frozenset((r["a"], r["b"])), []).append(
            TeamLink(a=r["a"], b=r["b"], kind=r["kind"], via=r["via"] or ""))
    enterprise_of = {r["id"]: r for r in store.read(_ENTERPRISE_MEMBERS, ids=pool_ids)}

    # Best work score (z) of each pooled talent per competence says whether it is really covered.
    def best_work(comp: int, i: int) -> tuple[float, list[str]]:
        ev = index.expertise.evidence(queries[comp], keys[i], ws[comp], 2)
        return (ev[0].score if ev else 0.0), [e.title for e in ev]

    cover_info = {(c, i): best_work(c, i) for c, pool in enumerate(pools) for i in pool}
    col_max = [max((comp_scores[c, i] for i in pool), default=1.0) or 1.0 for c, pool in enumerate(pools)]
    # people to add when the competences are covered by fewer than the challenge's minimum team size: the best
    # remaining talents by overall fit, among those already checked for conflicts
    min_size = challenge.min_team_size()
    fillers = sorted((i for i in range(len(keys)) if keys[i] in wide and keys[i] not in conflicts),
                     key=lambda i: (-overall[i], keys[i]))
    needs_industrial = any(r.kind == "lead_industrialised" for r in challenge.requirements)
    needs_local = next((r for r in challenge.requirements if r.kind == "local_partner"), None)
    partner, partner_name = (None, "")
    if needs_local is not None:
        partner, partner_name = _local_partner(store, challenge, index, policy)

    proposals: dict[frozenset[str], TeamProposal] = {}
    for combo in itertools.product(*pools):
        members = list(dict.fromkeys(combo))
        members += [i for i in fillers if i not in members][: max(0, min_size - len(members))]
        ids = [SolverRef.from_key(keys[i]).id for i in members]
        fit = float(np.mean([comp_scores[c, i] / col_max[c] for c, i in enumerate(combo)]))
        covered = [cover_info[(c, i)][0] >= covered_threshold for c, i in enumerate(combo)]
        pairs = list(itertools.combinations(ids, 2))
        team_links = [lk for a, b in pairs for lk in links.get(frozenset((a, b)), [])]
        if pairs:
            cohesion = sum(max((LINK_WEIGHTS[lk.kind] for lk in links.get(frozenset(p), [])), default=0.0)
                           for p in pairs) / len(pairs)
        else:
            cohesion = 0.5  # one person covering everything: nobody to coordinate, but no team either
        coverage = sum(covered) / len(covered)
        lead_i, industrial_ok = _pick_lead(index, keys, members, overall, needs_industrial)
        requirements: dict[str, bool] = {}
        if min_size > 1:
            requirements["min_team_size"] = len(members) >= min_size
        if needs_industrial:
            requirements["lead_industrialised"] = industrial_ok
        if needs_local is not None:
            local_member = any(i in enterprise_of and enterprise_of[i]["region"] for i in ids)
            requirements["local_partner"] = local_member or partner is not None
        unmet = sum(1 for ok in requirements.values() if not ok)
        # a challenge that names several competences wants several people: each doubled-up slot costs a little
        doubled = max(0, len(combo) - len(set(combo)))
        score = coverage + fit * 0.5 + cohesion_weight * cohesion - 0.25 * unmet - 0.1 * doubled
        key = frozenset(ids)
        if key in proposals and proposals[key].score >= score:
            continue
        proposals[key] = TeamProposal(
            members=[SolverRef.from_key(keys[i]) for i in members],
            names={SolverRef.from_key(keys[i]).id: index.solvers[keys[i]].name for i in members},
            lead=SolverRef.from_key(keys[lead_i]),
            covers=[
                CompetenceCover(competence=competences[c], member=SolverRef.from_key(keys[i]).id,
                                member_name=index.solvers[keys[i]].name, affinity=float(comp_scores[c, i]),
                                covered=covered[c], evidence=cover_info[(c, i)][1])
                for c, i in enumerate(combo)
            ],
            links=team_links,
            coverage=coverage,
            cohesion=cohesion,
            score=score,
            requirements=requirements,
            partner=None if any(i in enterprise_of for i in ids) else partner,
            partner_name="" if any(i in enterprise_of for i in ids) else partner_name,
        )
    ranked = sorted(proposals.values(), key=lambda t: (-t.score, sorted(m.id for m in t.members)))
    return ranked[:n_teams], conflicts


def _pick_lead(
    index: SolverIndex, keys: Sequence[str], members: Sequence[int], overall: np.ndarray, needs_industrial: bool
) -> tuple[int, bool]:
    """The member with the best overall fit; with the requirement, the best one that has industrialised."""
    by_fit = sorted(members, key=lambda i: -overall[i])
    if needs_industrial:
        for i in by_fit:
            rec = index.records.get(keys[i])
            if rec is not None and rec.industrialised:
                return i, True
        return by_fit[0], False
    return by_fit[0], True


def _local_partner(
    store: GraphStore, challenge: Challenge, index: SolverIndex, policy: ConflictPolicy | None
) -> tuple[SolverRef | None, str]:
    """The local enterprise whose works fit the challenge best and that has no conflict with its owner."""
    local = {r["id"]: r["name"] for r in store.read(_LOCAL_ENTERPRISES)}
    prefix = f"{NodeLabel.ENTERPRISE.value}:"
    keys = index.expertise.solver_ids
    scores = index.scores([challenge_text(challenge)])[0]
    ranked = [keys[i] for i in np.argsort(-scores, kind="stable")
              if keys[i].startswith(prefix) and keys[i][len(prefix):] in local and scores[i] > 0][:10]
    if not ranked:
        return None, ""
    conflicts = check_conflicts(store, challenge, [SolverRef.from_key(k) for k in ranked], policy)
    for key in ranked:
        if key not in conflicts:
            ref = SolverRef.from_key(key)
            return ref, local[ref.id]
    return None, ""
