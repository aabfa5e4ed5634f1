"""The bureau's cockpit (驾驶舱): the plan's targets with their progress and status year by year, by county
and by responsible unit; the activity over time (needs posted, matches reviewed, docking, deals); the chain
gap map and what one segment holds. Plain data for the pages (``api/routes/bureau_pages.py``), the charts and
the Excel report; nothing here renders.

Docking (对接) is a broker accepting a recommended match (the step where the enterprise and the achievement's
owner are introduced); a match reviewed is any verdict on one; a deal is a registered transfer
(``TRANSFERRED_TO`` with its date and amount).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from bureau.gapmap import GapMap, SegmentGap
from bureau.targets import (
    METRICS,
    UNKNOWN_REGION,
    TargetProgress,
    plan_years,
    progress_by_department,
    progress_over_years,
    target_progress,
)
from graph.model import NodeLabel
from graph.store import GraphStore
from graph.zh import COMPARATOR_ZH, TARGET_STATUS_ZH

#: the counties and districts of the city, in the order the bureau lists them; anything else is 市外/未注明
CITY_REGION = "reg-pds"
OUTSIDE = "市外或未注明"


@dataclass
class TargetRow:
    """One target on the cockpit: where it stands at the chosen year and how it stood each plan year."""

    progress: TargetProgress
    by_year: dict[int, TargetProgress]

    @property
    def wording(self) -> str:
        p = self.progress
        bare = p.unit
        return f"{p.target_value:g}{bare}{COMPARATOR_ZH.get(p.comparator, '')}"

    @property
    def status_zh(self) -> str:
        return TARGET_STATUS_ZH.get(self.progress.status, self.progress.status)

    @property
    def share(self) -> float | None:
        return self.progress.share

    @property
    def expected_share(self) -> float | None:
        p = self.progress
        if p.expected_now is None or not p.target_value:
            return None
        return p.expected_now / p.target_value

    @property
    def pace_text(self) -> str:
        """What it takes from here, in words."""
        p = self.progress
        if p.current is None:
            return "—"
        if p.status == "achieved":
            return "已达到目标"
        if p.kind == "per_year":
            return f"本年还差 {_num(p.gap)}{p.unit}"
        if not p.remaining_years:
            return f"规划期末仍差 {_num(p.gap)}{p.unit}"
        return f"每年需新增 {_num(p.pace_needed)}{p.unit}（剩 {p.remaining_years} 年）"


def _num(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if abs(value) >= 100 or value == int(value) else f"{value:,.1f}"


@dataclass
class PlanView:
    as_of: int
    years: list[int]
    rows: list[TargetRow]
    policy_name: str = ""
    doc_number: str = ""

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for row in self.rows:
            out[row.progress.status] += 1
        return dict(out)


def default_year(store: GraphStore, today: date | None = None) -> int:
    """This year, or the plan's last year when the plan has ended."""
    year = (today or date.today()).year
    rows = store.read("MATCH (t:Target) RETURN max(t.deadline_year) AS last")
    last = rows[0]["last"] if rows else None
    return min(year, int(last)) if last else year


def plan_view(store: GraphStore, as_of: int) -> PlanView:
    """The plan's targets at ``as_of`` and at the end of each plan year up to it."""
    now = target_progress(store, as_of)
    years = [y for y in plan_years(now) if y <= as_of]
    history = progress_over_years(store, years) if years else {}
    rows = []
    for i, p in enumerate(now):
        rows.append(TargetRow(progress=p, by_year={y: history[y][i] for y in years}))
    policy = store.read("MATCH (p:Policy) RETURN p.name AS name, p.doc_number AS doc ORDER BY p.issued_on DESC")
    first = policy[0] if policy else {}
    return PlanView(as_of=as_of, years=years, rows=rows, policy_name=first.get("name") or "",
                    doc_number=first.get("doc") or "")


def department_view(plan: PlanView) -> list[tuple[str, dict[str, int], list[TargetProgress]]]:
    """Each responsible unit with how many of its targets stand in each status, most targets first."""
    out = []
    for dept, rows in progress_by_department([r.progress for r in plan.rows]).items():
        counts: dict[str, int] = defaultdict(int)
        for p in rows:
            counts[p.status] += 1
        out.append((dept, dict(counts), rows))
    return sorted(out, key=lambda item: (-len(item[2]), item[0]))


# --- activity over time -------------------------------------------------------------------------

@dataclass
class Trend:
    periods: list[str]
    needs: list[int]
    reviewed: list[int]
    docked: list[int]
    deals: list[int]
    amount_wan: list[float]

    def series(self) -> list[tuple[str, list[float]]]:
        return [("发布需求", [float(v) for v in self.needs]), ("评价匹配", [float(v) for v in self.reviewed]),
                ("对接", [float(v) for v in self.docked]), ("成交", [float(v) for v in self.deals])]

    @property
    def empty(self) -> bool:
        return not any(self.needs + self.reviewed + self.docked + self.deals)


def _year_of(value: Any) -> int | None:
    text = str(value or "")
    return int(text[:4]) if len(text) >= 4 and text[:4].isdigit() else None


def activity_trend(store: GraphStore, first_year: int, last_year: int) -> Trend:
    """Needs posted, matches reviewed, docking (accepted matches) and deals per year, with the deals' amount."""
    years = list(range(first_year, last_year + 1))
    index: dict[int | None, int] = {y: i for i, y in enumerate(years)}
    needs, reviewed, docked, deals = ([0] * len(years) for _ in range(4))
    amount = [0.0] * len(years)
    for r in store.read("MATCH (n:Need) RETURN n.posted_on AS d"):
        if (i := index.get(_year_of(r["d"]))) is not None:
            needs[i] += 1
    for r in store.read("MATCH (f:Feedback) RETURN f.at AS d, f.verdict AS v"):
        if (i := index.get(_year_of(r["d"]))) is not None:
            reviewed[i] += 1
            docked[i] += r["v"] == "accept"
    for r in store.read("MATCH (:Achievement)-[d:TRANSFERRED_TO]->(:Enterprise) "
                        "RETURN coalesce(d.date, d.signed_on) AS d, coalesce(d.amount_wan, d.amount, 0) AS a"):
        if (i := index.get(_year_of(r["d"]))) is not None:
            deals[i] += 1
            amount[i] += float(r["a"] or 0)
    return Trend([str(y) for y in years], needs, reviewed, docked, deals, amount)


# --- counties -----------------------------------------------------------------------------------

#: the metrics a county table shows, in this order (the flows summed over the plan years)
COUNTY_METRICS = ("high_tech_enterprises", "provincial_platforms", "achievements_transferred",
                  "tech_contract_turnover", "major_projects")


@dataclass
class CountyTable:
    counties: list[str]
    metrics: list[tuple[str, str]]  # (key, label with unit)
    values: dict[str, dict[str, float]] = field(default_factory=dict)  # county -> metric key -> value

    def ranking(self, metric: str) -> list[tuple[str, float]]:
        return sorted(((c, self.values.get(c, {}).get(metric, 0.0)) for c in self.counties),
                      key=lambda cv: (-cv[1], cv[0]))


def county_table(store: GraphStore, as_of: int, since: int | None = None) -> CountyTable:
    """Each county's (district's) contribution to the plan's main metrics up to ``as_of``: stocks as they
    stand, flows summed from ``since`` (the plan's baseline)."""
    counties = [r["name"] for r in store.read(
        "MATCH (r:Region {parent_id: $city}) RETURN r.name AS name ORDER BY r.id", city=CITY_REGION)]
    known = set(counties)
    table = CountyTable(counties=[*counties, OUTSIDE], metrics=[])
    for key in COUNTY_METRICS:
        metric = METRICS.get(key)
        if metric is None or metric.collect is None:
            continue
        table.metrics.append((key, f"{metric.label}（{metric.unit}）"))
        for fact in metric.collect(store):
            if fact.year is not None and fact.year > as_of:
                continue
            if metric.kind != "stock" and (fact.year is None or (since is not None and fact.year < since)):
                continue
            county = _county(fact.region, known)
            slot = table.values.setdefault(county, {})
            slot[key] = slot.get(key, 0.0) + fact.value
    return table


def _county(region: str | None, known: set[str]) -> str:
    if not region or region == UNKNOWN_REGION:
        return OUTSIDE
    if region in known:
        return region
    # an enterprise's own region field may say 平顶山市新华区 or 新华: find the county it names
    return next((c for c in known if c in region or region in c), OUTSIDE)


# --- one segment --------------------------------------------------------------------------------

@dataclass
class SegmentDetail:
    gap: SegmentGap
    need_ids: list[str]  # every need in the segment, unmet ones first
    achievements: list[dict[str, Any]]
    talents: list[dict[str, Any]]
    platforms: list[dict[str, Any]]
    enterprises: list[dict[str, Any]]
    deals: list[dict[str, Any]]
    challenges: list[dict[str, Any]]


def segment_detail(store: GraphStore, gap_map: GapMap, segment_id: str) -> SegmentDetail:
    """What a segment holds: its needs (unmet first), its supply and deals, its challenges."""
    gap = gap_map.segment(segment_id)

    def members(label: NodeLabel, extra: str = "") -> list[dict[str, Any]]:
        lbl = NodeLabel(label).value
        return [r["p"] for r in store.read(
            f"MATCH (x:{lbl})-[:IN_SEGMENT]->(:ChainSegment {{id: $sid}}) {extra}RETURN properties(x) AS p "
            "ORDER BY x.name", sid=segment_id)]

    need_ids = [p["id"] for p in members(NodeLabel.NEED)]
    unmet = set(gap.unmet_need_ids)
    need_ids.sort(key=lambda i: (i not in unmet, i))
    achievements = store.read(
        "MATCH (a:Achievement)-[:IN_SEGMENT]->(:ChainSegment {id: $sid}) "
        "OPTIONAL MATCH (o)-[:OWNS]->(a) WHERE o:Institution OR o:Enterprise "
        "RETURN a.id AS id, a.name AS name, a.maturity AS maturity, collect(o.name) AS owners ORDER BY a.name",
        sid=segment_id)
    talents = store.read(
        "MATCH (t:Talent)-[:INVENTED]->(:Achievement)-[:IN_SEGMENT]->(:ChainSegment {id: $sid}) "
        "OPTIONAL MATCH (t)-[:AFFILIATED_WITH]->(o) "
        "RETURN DISTINCT t.id AS id, t.name AS name, t.title AS title, o.name AS org ORDER BY t.name",
        sid=segment_id)
    deals = store.read(
        "MATCH (a:Achievement)-[:IN_SEGMENT]->(:ChainSegment {id: $sid}) "
        "MATCH (a)-[d:TRANSFERRED_TO]->(e:Enterprise) "
        "RETURN a.id AS achievement_id, a.name AS achievement, e.name AS enterprise, "
        "coalesce(d.date, d.signed_on) AS date, coalesce(d.amount_wan, d.amount) AS amount_wan ORDER BY date DESC",
        sid=segment_id)
    return SegmentDetail(
        gap=gap, need_ids=need_ids, achievements=achievements, talents=talents,
        platforms=members(NodeLabel.PLATFORM), enterprises=members(NodeLabel.ENTERPRISE), deals=deals,
        challenges=members(NodeLabel.CHALLENGE))
