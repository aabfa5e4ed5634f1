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

from graph.model import NodeLabel, PlatformLevel
from graph.store import GraphStore
from matcher.solvers.refs import SOLVER_LABELS, SolverRef

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


# One query per fact and solver label, each over all requested ids of that label at once. The label is put
# into the text from the closed enum (a labelled MATCH uses the id index; an unlabelled one scans).
_FACTS = {
    "transfers": (
        "MATCH (s)-[:INVENTED|OWNS]->(a:Achievement)-[d:TRANSFERRED_TO]->(e:Enterprise) "
        "RETURN sid AS id, a.name AS title, coalesce(d.amount_wan, d.amount) AS amount, e.name AS enterprise"
    ),
    "affiliate_transfers": (
        "MATCH (s)<-[:AFFILIATED_WITH]-(:Talent)-[:INVENTED]->(a:Achievement)-[d:TRANSFERRED_TO]->(e:Enterprise) "
        "RETURN DISTINCT sid AS id, a.name AS title, coalesce(d.amount_wan, d.amount) AS amount, "
        "e.name AS enterprise"
    ),
    "projects": "MATCH (s)-[:WORKED_ON|UNDERTAKES]->(p:Project) RETURN sid AS id, p.status AS status, p.year AS year",
    "work_years": "MATCH (s)-[:INVENTED|OWNS]->(a:Achievement) RETURN sid AS id, a.posted_on AS posted",
    "solved": "MATCH (s)-[:SOLVES]->(c:Challenge) RETURN sid AS id, c.status AS status",
    "platforms": "MATCH (s)-[:MEMBER_OF|HOSTS]->(p:Platform) RETURN sid AS id, p.name AS name, p.level AS level",
}
_QUERIES = {
    (label, fact): f"UNWIND $ids AS sid MATCH (s:{NodeLabel(label).value} {{id: sid}}) " + body
    for label in SOLVER_LABELS
    for fact, body in _FACTS.items()
}


def _fact_rows(store: GraphStore, fact: str, by_label: dict[NodeLabel, list[str]]) -> list[dict]:
    rows: list[dict] = []
    for label, ids in by_label.items():
        for row in store.read(_QUERIES[(label, fact)], ids=ids):
            rows.append({**row, "label": label.value})
    return rows


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
    by_label: dict[NodeLabel, list[str]] = {}
    for s in dict.fromkeys(solvers):
        if s.label in SOLVER_LABELS:
            by_label.setdefault(s.label, []).append(s.id)

    def rec(row: dict) -> TrackRecord | None:
        return records.get(f"{row['label']}:{row['id']}")

    seen_deals: set[tuple[str, str, str]] = set()
    for row in [*_fact_rows(store, "transfers", by_label), *_fact_rows(store, "affiliate_transfers", by_label)]:
        r = rec(row)
        deal = (f"{row['label']}:{row['id']}", str(row["title"]), str(row["enterprise"]))
        if r is None or deal in seen_deals:
            continue
        seen_deals.add(deal)
        r.transfers += 1
        r.transfer_amount_wan += float(row["amount"] or 0.0)
        if len(r.transferred_titles) < 3:
            r.transferred_titles.append(f"{row['title']} → {row['enterprise']}")
    for row in _fact_rows(store, "projects", by_label):
        r = rec(row)
        if r is None:
            continue
        if row["status"] == "验收":
            r.delivered_projects += 1
        if row["year"] is not None:
            r.latest_year = max(r.latest_year or 0, int(row["year"]))
    for row in _fact_rows(store, "work_years", by_label):
        r = rec(row)
        posted = str(row["posted"] or "")[:4]
        if r is not None and posted.isdigit():
            r.latest_year = max(r.latest_year or 0, int(posted))
    for row in _fact_rows(store, "solved", by_label):
        r = rec(row)
        if r is not None and row["status"] in ("accepted", "in_progress", "awarded"):
            r.solved_challenges += 1
    for row in _fact_rows(store, "platforms", by_label):
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


