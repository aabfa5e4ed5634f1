"""Track record: what a solver has already delivered, read from the graph, as a bounded score with reasons.

Counts, per solver: achievements transferred to enterprises (TRANSFERRED_TO deals, with amounts),
projects delivered (a Project with status 验收 they worked on or undertook), challenges solved before
(SOLVES), platform membership or hosting (national > provincial > municipal) and the year of the most
recent work. Each count is squashed (``1 - exp(-n / scale)``) so the first deal matters most and a
long list cannot drown the text affinity; the weighted mean is in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date

from pydantic import BaseModel, Field

from graph.model import PlatformLevel
from graph.store import GraphStore
from matcher.solvers.refs import SolverRef

PLATFORM_LEVEL_SCORE = {PlatformLevel.NATIONAL.value: 1.0, PlatformLevel.PROVINCIAL.value: 0.7,
                        PlatformLevel.MUNICIPAL.value: 0.4}


class TrackRecordWeights(BaseModel):
    transfers: float = 0.35
    delivered_projects: float = 0.2
    solved_challenges: float = 0.15
    platform: float = 0.15
    recency: float = 0.15
    recency_half_life_years: float = Field(default=5.0, gt=0)


class TrackRecord(BaseModel):
    solver: SolverRef
    transfers: int = 0
    transfer_amount_wan: float = 0.0
    transferred_titles: list[str] = []
    delivered_projects: int = 0
    solved_challenges: int = 0
    platforms: list[str] = []
    platform_score: float = 0.0
    latest_year: int | None = None
    score: float = 0.0
    reasons: list[str] = []

    @property
    def industrialised(self) -> bool:
        """Has carried at least one achievement into an enterprise (a 揭榜 lead requirement)."""
        return self.transfers > 0


def _squash(n: float, scale: float = 2.0) -> float:
    return 1.0 - math.exp(-max(0.0, n) / scale)


# One query per fact, each over all requested solvers at once; (label, id) pairs travel as parameters.
_TRANSFERS = (
    "UNWIND $refs AS r MATCH (s {id: r.id}) WHERE r.label IN labels(s) "
    "MATCH (s)-[:INVENTED|OWNS]->(a:Achievement)-[d:TRANSFERRED_TO]->(e:Enterprise) "
    "RETURN r.label AS label, r.id AS id, a.name AS title, coalesce(d.amount_wan, d.amount) AS amount, "
    "e.name AS enterprise"
)
_AFFILIATE_TRANSFERS = (
    "UNWIND $refs AS r MATCH (s {id: r.id}) WHERE r.label IN labels(s) "
    "MATCH (s)<-[:AFFILIATED_WITH]-(:Talent)-[:INVENTED]->(a:Achievement)-[d:TRANSFERRED_TO]->(e:Enterprise) "
    "RETURN DISTINCT r.label AS label, r.id AS id, a.name AS title, coalesce(d.amount_wan, d.amount) AS amount, "
    "e.name AS enterprise"
)
_PROJECTS = (
    "UNWIND $refs AS r MATCH (s {id: r.id}) WHERE r.label IN labels(s) "
    "MATCH (s)-[:WORKED_ON|UNDERTAKES]->(p:Project) "
    "RETURN r.label AS label, r.id AS id, p.status AS status, p.year AS year"
)
_WORK_YEARS = (
    "UNWIND $refs AS r MATCH (s {id: r.id}) WHERE r.label IN labels(s) "
    "MATCH (s)-[:INVENTED|OWNS]->(a:Achievement) RETURN r.label AS label, r.id AS id, a.posted_on AS posted"
)
_SOLVED = (
    "UNWIND $refs AS r MATCH (s {id: r.id}) WHERE r.label IN labels(s) "
    "MATCH (s)-[:SOLVES]->(c:Challenge) RETURN r.label AS label, r.id AS id, c.status AS status"
)
_PLATFORMS = (
    "UNWIND $refs AS r MATCH (s {id: r.id}) WHERE r.label IN labels(s) "
    "MATCH (s)-[:MEMBER_OF|HOSTS]->(p:Platform) RETURN r.label AS label, r.id AS id, p.name AS name, p.level AS level"
)


def track_records(
    store: GraphStore,
    solvers: Sequence[SolverRef],
    weights: TrackRecordWeights | None = None,
    reference_year: int | None = None,
) -> dict[str, TrackRecord]:
    """Track records keyed by solver key (``Label:id``), for every requested solver."""
    w = weights or TrackRecordWeights()
    year_now = reference_year or date.today().year
    records = {s.key: TrackRecord(solver=s) for s in solvers}
    if not records:
        return records
    refs = [{"label": s.label.value, "id": s.id} for s in dict.fromkeys(solvers)]

    def rec(row: dict) -> TrackRecord | None:
        return records.get(f"{row['label']}:{row['id']}")

    seen_deals: set[tuple[str, str, str]] = set()
    for row in [*store.read(_TRANSFERS, refs=refs), *store.read(_AFFILIATE_TRANSFERS, refs=refs)]:
        r = rec(row)
        deal = (f"{row['label']}:{row['id']}", str(row["title"]), str(row["enterprise"]))
        if r is None or deal in seen_deals:
            continue
        seen_deals.add(deal)
        r.transfers += 1
        r.transfer_amount_wan += float(row["amount"] or 0.0)
        if len(r.transferred_titles) < 3:
            r.transferred_titles.append(f"{row['title']} → {row['enterprise']}")
    for row in store.read(_PROJECTS, refs=refs):
        r = rec(row)
        if r is None:
            continue
        if row["status"] == "验收":
            r.delivered_projects += 1
        if row["year"] is not None:
            r.latest_year = max(r.latest_year or 0, int(row["year"]))
    for row in store.read(_WORK_YEARS, refs=refs):
        r = rec(row)
        posted = str(row["posted"] or "")[:4]
        if r is not None and posted.isdigit():
            r.latest_year = max(r.latest_year or 0, int(posted))
    for row in store.read(_SOLVED, refs=refs):
        r = rec(row)
        if r is not None and row["status"] in ("accepted", "in_progress", "awarded"):
            r.solved_challenges += 1
    for row in store.read(_PLATFORMS, refs=refs):
        r = rec(row)
        if r is None:
            continue
        r.platforms.append(f"{row['name']}（{row['level'] or '级别未知'}）")
        r.platform_score = max(r.platform_score, PLATFORM_LEVEL_SCORE.get(row["level"] or "", 0.3))

    total = w.transfers + w.delivered_projects + w.solved_challenges + w.platform + w.recency
    for r in records.values():
        recency = 0.0
        if r.latest_year:
            recency = 0.5 ** (max(0, year_now - r.latest_year) / w.recency_half_life_years)
        r.score = (
            w.transfers * _squash(r.transfers)
            + w.delivered_projects * _squash(r.delivered_projects)
            + w.solved_challenges * _squash(r.solved_challenges, 1.0)
            + w.platform * r.platform_score
            + w.recency * recency
        ) / (total or 1.0)
        if r.transfers:
            deals = "；".join(r.transferred_titles)
            r.reasons.append(f"成果转化{r.transfers}项（合计{r.transfer_amount_wan:g}万元）：{deals}")
        if r.delivered_projects:
            r.reasons.append(f"已验收项目{r.delivered_projects}项")
        if r.solved_challenges:
            r.reasons.append(f"曾揭榜{r.solved_challenges}项")
        if r.platforms:
            r.reasons.append("平台：" + "、".join(r.platforms[:3]))
        if r.latest_year:
            r.reasons.append(f"最近成果/项目年份{r.latest_year}")
    return records


