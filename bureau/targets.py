"""The plan's quantitative targets against what the graph shows: by year, by county/district and by
responsible unit, with the gap left and the pace needed per remaining year.

Each metric is one small function registered under the key the policy parser gives a target
(``Target.metric``); it returns :class:`Fact` rows (year, region, value) and the arithmetic here is shared.
A metric the graph holds no data for says so (``no_data``) instead of reporting zero.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from graph.model import NodeLabel, Target, node_from_props
from graph.store import GraphStore

#: stock: how many exist at a year's end; cumulative: flows summed from the plan's baseline year;
#: per_year: what happens within one year (the target applies to every year); rate: a growth rate
MetricKind = Literal["stock", "cumulative", "per_year", "rate"]
UNKNOWN_REGION = "未注明"

#: how many of a metric's unit one of the target's unit is (targets say 亿元, deals are kept in 万元)
UNIT_FACTORS: dict[tuple[str, str], float] = {
    ("亿元", "万元"): 10000.0,
    ("元", "万元"): 0.0001,
}


@dataclass(frozen=True)
class Fact:
    """One counted thing: an enterprise recognised, a deal signed, a broker certified."""

    year: int | None
    region: str | None
    value: float = 1.0


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str
    kind: MetricKind
    collect: Callable[[GraphStore], list[Fact]] | None
    no_data: str = ""  # why the graph cannot answer this metric, shown instead of a number


METRICS: dict[str, Metric] = {}


def metric(key: str, label: str, unit: str, kind: MetricKind) -> Callable[[Callable[[GraphStore], list[Fact]]], Any]:
    """Register a metric function under ``key`` (the ``Target.metric`` the parser assigns)."""

    def register(fn: Callable[[GraphStore], list[Fact]]) -> Callable[[GraphStore], list[Fact]]:
        METRICS[key] = Metric(key, label, unit, kind, fn)
        return fn

    return register


def register_no_data(key: str, label: str, unit: str, kind: MetricKind, why: str) -> None:
    """A metric the model has no field for: reported honestly as "no data", never as 0."""
    METRICS[key] = Metric(key, label, unit, kind, None, why)


def _year(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, int):
        return value
    text = str(value)
    return int(text[:4]) if len(text) >= 4 and text[:4].isdigit() else None


def _facts(rows: list[dict[str, Any]]) -> list[Fact]:
    return [Fact(_year(r.get("year")), r.get("region") or None, float(r.get("value") or 0)) for r in rows]


# --- the metrics -------------------------------------------------------------------------------
# Region: the Region node an entity is LOCATED_IN, else its own region field.

@metric("high_tech_enterprises", "高新技术企业", "家", "stock")
def high_tech_enterprises(store: GraphStore) -> list[Fact]:
    return _facts(store.read(
        "MATCH (e:Enterprise) WHERE e.high_tech = true "
        "OPTIONAL MATCH (e)-[:LOCATED_IN]->(r:Region) WITH e, collect(r.name) AS rs "
        "RETURN e.high_tech_since AS year, coalesce(rs[0], e.region) AS region, 1 AS value"
    ))


@metric("tech_smes", "科技型中小企业", "家", "stock")
def tech_smes(store: GraphStore) -> list[Fact]:
    # The model keeps no recognition year for tech SMEs, so these facts carry no year.
    return _facts(store.read(
        "MATCH (e:Enterprise) WHERE e.tech_sme = true "
        "OPTIONAL MATCH (e)-[:LOCATED_IN]->(r:Region) WITH e, collect(r.name) AS rs "
        "RETURN null AS year, coalesce(rs[0], e.region) AS region, 1 AS value"
    ))


@metric("provincial_platforms", "省级以上创新平台", "家", "stock")
def provincial_platforms(store: GraphStore) -> list[Fact]:
    return _facts(store.read(
        "MATCH (p:Platform) WHERE p.level IN $levels "
        "OPTIONAL MATCH (p)-[:LOCATED_IN]->(r:Region) WITH p, collect(r.name) AS rs "
        "RETURN p.established_year AS year, coalesce(rs[0], p.region) AS region, 1 AS value",
        levels=["省级", "国家级"],
    ))


@metric("high_level_talents", "高层次创新人才", "名", "stock")
def high_level_talents(store: GraphStore) -> list[Fact]:
    return _facts(store.read(
        "MATCH (t:Talent) WHERE t.high_level = true "
        "OPTIONAL MATCH (t)-[:LOCATED_IN]->(r:Region) WITH t, collect(r.name) AS rs "
        "RETURN null AS year, coalesce(rs[0], t.region) AS region, 1 AS value"
    ))


@metric("academicians", "两院院士(柔性引进)", "名", "stock")
def academicians(store: GraphStore) -> list[Fact]:
    return _facts(store.read(
        "MATCH (t:Talent) WHERE t.academician = true "
        "OPTIONAL MATCH (t)-[:LOCATED_IN]->(r:Region) WITH t, collect(r.name) AS rs "
        "RETURN null AS year, coalesce(rs[0], t.region) AS region, 1 AS value"
    ))


@metric("major_projects", "重大科技专项", "项", "cumulative")
def major_projects(store: GraphStore) -> list[Fact]:
    return _facts(store.read(
        "MATCH (p:Project) OPTIONAL MATCH (p)-[:LOCATED_IN]->(r:Region) WITH p, collect(r.name) AS rs "
        "RETURN p.year AS year, coalesce(rs[0], p.region) AS region, 1 AS value"
    ))


@metric("core_technologies", "重大关键核心技术突破", "项", "cumulative")
def core_technologies(store: GraphStore) -> list[Fact]:
    return _facts(store.read(
        "MATCH (p:Project) WHERE p.core_technology = true "
        "OPTIONAL MATCH (p)-[:LOCATED_IN]->(r:Region) WITH p, collect(r.name) AS rs "
        "RETURN p.year AS year, coalesce(rs[0], p.region) AS region, 1 AS value"
    ))


_DEALS = (
    "MATCH (a:Achievement)-[d:TRANSFERRED_TO]->(e:Enterprise) "
    "OPTIONAL MATCH (e)-[:LOCATED_IN]->(r:Region) WITH a, d, e, collect(r.name) AS rs "
    "RETURN a.id AS achievement, coalesce(d.date, d.signed_on) AS date, "
    "coalesce(d.amount_wan, d.amount, 0) AS amount, coalesce(rs[0], e.region) AS region"
)


@metric("achievements_transferred", "落地转化科技成果", "项", "cumulative")
def achievements_transferred(store: GraphStore) -> list[Fact]:
    # An achievement licensed to three enterprises is one achievement transferred: count its first deal.
    first: dict[str, dict[str, Any]] = {}
    for row in store.read(_DEALS):
        current = first.get(row["achievement"])
        if current is None or str(row["date"] or "9999") < str(current["date"] or "9999"):
            first[row["achievement"]] = row
    return [Fact(_year(r["date"]), r["region"] or None, 1.0) for r in first.values()]


@metric("tech_contract_turnover", "技术合同成交额", "万元", "per_year")
def tech_contract_turnover(store: GraphStore) -> list[Fact]:
    return [Fact(_year(r["date"]), r["region"] or None, float(r["amount"] or 0)) for r in store.read(_DEALS)]


@metric("brokers_per_year", "技术经纪人培育(每年)", "名", "per_year")
def brokers_per_year(store: GraphStore) -> list[Fact]:
    return _facts(store.read(
        "MATCH (b:Broker) RETURN b.certified_year AS year, b.region AS region, 1 AS value"
    ))


register_no_data(
    "rd_growth", "研发投入年增长", "%", "rate",
    "图谱中没有研发投入数据，需接入统计部门的研发经费序列",
)
register_no_data(
    "high_level_teams", "高层次创新创业团队", "个", "stock",
    "图谱中没有创新创业团队的认定记录",
)


# --- the arithmetic ----------------------------------------------------------------------------

@dataclass
class TargetProgress:
    target_id: str
    name: str
    metric: str
    metric_label: str
    kind: str
    target_value: float  # in the metric's unit
    unit: str
    comparator: str
    deadline_year: int | None
    baseline_year: int | None
    as_of_year: int
    current: float | None  # None = no data
    by_year: dict[int, float] = field(default_factory=dict)
    by_region: dict[str, float] = field(default_factory=dict)
    undated: float = 0.0  # facts with no year: in ``current`` for stocks, not placed in ``by_year``
    gap: float | None = None
    remaining_years: int | None = None
    pace_needed: float | None = None  # per remaining year
    pace_so_far: float | None = None  # per elapsed year since the baseline
    expected_now: float | None = None  # where a straight line from baseline to target would be
    status: str = "no_data"  # achieved | on_track | behind | no_data | unknown_metric
    note: str = ""
    departments: list[str] = field(default_factory=list)

    @property
    def share(self) -> float | None:
        if self.current is None or not self.target_value:
            return None
        return self.current / self.target_value


def target_in_metric_unit(target: Target, unit: str) -> float:
    bare = target.unit.removeprefix("每年")
    return target.value * UNIT_FACTORS.get((bare, unit), 1.0)


def progress_for(
    target: Target, facts: list[Fact] | None, metric_def: Metric | None, as_of_year: int,
    departments: list[str] | None = None,
) -> TargetProgress:
    """The progress of one target given the metric's facts (pure arithmetic; ``facts`` None = no data)."""
    if metric_def is None:
        return TargetProgress(
            target.id, target.name, target.metric, target.metric, "", target.value, target.unit,
            target.comparator, target.deadline_year, target.baseline_year, as_of_year, None,
            status="unknown_metric", note="系统尚未登记该目标的统计口径",
            departments=departments or [],
        )
    goal = target_in_metric_unit(target, metric_def.unit)
    p = TargetProgress(
        target.id, target.name, target.metric, metric_def.label, metric_def.kind, goal, metric_def.unit,
        target.comparator, target.deadline_year, target.baseline_year, as_of_year, None,
        departments=departments or [],
    )
    if facts is None or metric_def.collect is None:
        p.note = metric_def.no_data or "无数据"
        return p
    baseline = target.baseline_year
    per_year: dict[int, float] = defaultdict(float)
    for f in facts:
        if f.year is None:
            p.undated += f.value
        elif f.year <= as_of_year:
            per_year[f.year] += f.value
    kind = metric_def.kind
    if kind == "stock":
        years = sorted(per_year)
        first = min([*years, baseline or as_of_year, as_of_year])
        running = 0.0
        for y in range(first, as_of_year + 1):
            running += per_year.get(y, 0.0)
            p.by_year[y] = running
        p.current = running + p.undated
        counted = [f for f in facts if f.year is None or f.year <= as_of_year]
    elif kind == "cumulative":
        start = baseline if baseline is not None else min(per_year, default=as_of_year)
        running = 0.0
        for y in range(start, as_of_year + 1):
            running += per_year.get(y, 0.0)
            p.by_year[y] = running
        p.current = running
        counted = [f for f in facts if f.year is not None and start <= f.year <= as_of_year]
    else:  # per_year: the target applies to each year; progress is this year's figure
        p.by_year = {y: per_year[y] for y in sorted(per_year)}
        p.current = per_year.get(as_of_year, 0.0)
        counted = [f for f in facts if f.year == as_of_year]
    for f in counted:
        key = f.region or UNKNOWN_REGION
        p.by_region[key] = p.by_region.get(key, 0.0) + f.value
    if p.undated and kind != "stock":
        p.note = f"另有 {p.undated:g} 条记录未注明年份，未计入"
    elif p.undated:
        p.note = f"其中 {p.undated:g} 条记录未注明年份：计入总数，但未分到年度"

    deadline = target.deadline_year or as_of_year
    p.remaining_years = max(deadline - as_of_year, 0)
    p.gap = goal - p.current if target.comparator != "<=" else p.current - goal
    p.gap = max(p.gap, 0.0) if target.comparator != "~" else p.gap
    met = p.current >= goal * (0.9 if target.comparator == "~" else 1.0)
    if target.comparator == "<=":
        met = p.current <= goal
    if kind == "per_year":
        p.pace_needed = goal  # the target itself is a yearly pace
        p.status = "achieved" if met else "behind"
        return p
    p.pace_needed = (max(p.gap, 0.0) / p.remaining_years) if p.remaining_years else max(p.gap, 0.0)
    if baseline is not None and as_of_year > baseline:
        at_baseline = p.by_year.get(baseline, 0.0) if kind == "stock" else 0.0
        p.pace_so_far = (p.current - at_baseline - (p.undated if kind == "stock" else 0.0)) / (as_of_year - baseline)
        span = max(deadline - baseline, 1)
        p.expected_now = goal * min(max((as_of_year - baseline) / span, 0.0), 1.0)
    if met:
        p.status = "achieved"
    elif p.expected_now is not None and p.current >= p.expected_now:
        p.status = "on_track"
    else:
        p.status = "behind"
    return p


def list_targets(store: GraphStore, policy_id: str | None = None) -> list[tuple[Target, list[str]]]:
    """Every Target (of one policy, or all) with the names of the departments responsible for it."""
    rows = store.read(
        "MATCH (p:Policy)-[:HAS_TARGET]->(t:Target) WHERE $pid IS NULL OR p.id = $pid "
        "OPTIONAL MATCH (d:Department)-[:RESPONSIBLE_FOR]->(t) "
        "WITH t, collect(d.name) AS depts RETURN properties(t) AS t, depts ORDER BY t.id",
        pid=policy_id,
    )
    out: list[tuple[Target, list[str]]] = []
    for r in rows:
        node = node_from_props(NodeLabel.TARGET, r["t"])
        assert isinstance(node, Target)
        out.append((node, sorted(d for d in r["depts"] if d)))
    return out


def target_progress(
    store: GraphStore, as_of_year: int | None = None, policy_id: str | None = None
) -> list[TargetProgress]:
    """Progress of every target in the graph, each metric's facts collected once."""
    as_of = as_of_year or date.today().year
    cache: dict[str, list[Fact] | None] = {}
    out = []
    for target, depts in list_targets(store, policy_id):
        metric_def = METRICS.get(target.metric)
        if metric_def is not None and target.metric not in cache:
            cache[target.metric] = metric_def.collect(store) if metric_def.collect else None
        out.append(progress_for(target, cache.get(target.metric), metric_def, as_of, depts))
    return out


def progress_over_years(
    store: GraphStore, years: list[int], policy_id: str | None = None
) -> dict[int, list[TargetProgress]]:
    """Every target's progress as it stood at the end of each of ``years`` (the facts read once)."""
    cache: dict[str, list[Fact] | None] = {}
    targets = list_targets(store, policy_id)
    out: dict[int, list[TargetProgress]] = {}
    for year in years:
        rows = []
        for target, depts in targets:
            metric_def = METRICS.get(target.metric)
            if metric_def is not None and target.metric not in cache:
                cache[target.metric] = metric_def.collect(store) if metric_def.collect else None
            rows.append(progress_for(target, cache.get(target.metric), metric_def, year, depts))
        out[year] = rows
    return out


def plan_years(progress: list[TargetProgress]) -> list[int]:
    """The plan's years: from the earliest baseline to the latest deadline of its targets."""
    starts = [p.baseline_year for p in progress if p.baseline_year]
    ends = [p.deadline_year for p in progress if p.deadline_year]
    if not starts or not ends:
        return []
    return list(range(min(starts), max(ends) + 1))


def progress_by_department(progress: list[TargetProgress]) -> dict[str, list[TargetProgress]]:
    """The same progress rows grouped under each responsible unit (a target can sit under several)."""
    grouped: dict[str, list[TargetProgress]] = defaultdict(list)
    for p in progress:
        for dept in p.departments or ["（未指定）"]:
            grouped[dept].append(p)
    return dict(sorted(grouped.items()))


def progress_by_region(progress: list[TargetProgress]) -> dict[str, dict[str, float]]:
    """region -> metric label -> value: each county's contribution to each target."""
    table: dict[str, dict[str, float]] = defaultdict(dict)
    for p in progress:
        for region, value in p.by_region.items():
            table[region][p.metric_label] = value
    return dict(sorted(table.items()))
