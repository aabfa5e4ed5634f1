"""Target arithmetic on a graph built for it: stocks, cumulative flows, yearly targets, units, no-data."""

from __future__ import annotations

import pytest

from bureau.targets import METRICS, progress_by_department, progress_by_region, target_progress
from graph.model import (
    Achievement,
    Broker,
    Department,
    Enterprise,
    Platform,
    PlatformLevel,
    Policy,
    Project,
    Region,
    Relation,
    RelType,
    Target,
)
from graph.model import NodeLabel as L

pytestmark = pytest.mark.all_backends


def _rel(t: RelType, a: L, ai: str, b: L, bi: str, **props) -> Relation:
    return Relation(type=t, source_label=a, source_id=ai, target_label=b, target_id=bi, props=props)


@pytest.fixture()
def plan_graph(store):
    targets = [
        Target(id="t-ht", name="高新技术企业200家以上", metric="high_tech_enterprises", value=10, unit="家",
               deadline_year=2025, baseline_year=2021),
        Target(id="t-plat", name="省级以上创新平台", metric="provincial_platforms", value=4, unit="家",
               deadline_year=2025, baseline_year=2021),
        Target(id="t-proj", name="重大科技专项", metric="major_projects", value=8, unit="项",
               deadline_year=2025, baseline_year=2021),
        Target(id="t-ach", name="科技成果", metric="achievements_transferred", value=2, unit="项",
               deadline_year=2025, baseline_year=2021),
        Target(id="t-turn", name="技术合同成交额", metric="tech_contract_turnover", value=0.01, unit="亿元",
               deadline_year=2025, baseline_year=2021),
        Target(id="t-brk", name="技术经纪人", metric="brokers_per_year", value=2, unit="每年名",
               deadline_year=2025, baseline_year=2021),
        Target(id="t-rd", name="研发投入", metric="rd_growth", value=20, unit="%", deadline_year=2025,
               baseline_year=2021),
    ]
    nodes = [
        Policy(id="p1", name="方案"),
        Department(id="d-sci", name="市科技局"),
        Department(id="d-fin", name="市财政局"),
        Region(id="r-bf", name="宝丰县"),
        Region(id="r-xc", name="新华区"),
        *targets,
        # 2 high-tech before the plan, 1 in 2022, 1 in 2023, 1 with no year, 1 recognised after as-of, 1 not high-tech
        Enterprise(id="e1", name="甲", high_tech=True, high_tech_since=2019),
        Enterprise(id="e2", name="乙", high_tech=True, high_tech_since=2020, region="新华区"),
        Enterprise(id="e3", name="丙", high_tech=True, high_tech_since=2022),
        Enterprise(id="e4", name="丁", high_tech=True, high_tech_since=2023),
        Enterprise(id="e5", name="戊", high_tech=True),
        Enterprise(id="e6", name="己", high_tech=True, high_tech_since=2025),
        Enterprise(id="e7", name="庚"),
        Platform(id="pl1", name="省实验室", level=PlatformLevel.PROVINCIAL, established_year=2022),
        Platform(id="pl2", name="国家中心", level=PlatformLevel.NATIONAL, established_year=2018),
        Platform(id="pl3", name="市中心", level=PlatformLevel.MUNICIPAL, established_year=2022),
        Project(id="pj1", name="专项1", year=2020),  # before the plan: not counted
        Project(id="pj2", name="专项2", year=2022, region="宝丰县"),
        Project(id="pj3", name="专项3", year=2023, region="宝丰县"),
        Achievement(id="a1", name="成果1"),
        Achievement(id="a2", name="成果2"),
        Broker(id="b1", name="经纪人1", certified_year=2023),
        Broker(id="b2", name="经纪人2", certified_year=2023),
        Broker(id="b3", name="经纪人3", certified_year=2022),
    ]
    rels = [
        *(_rel(RelType.HAS_TARGET, L.POLICY, "p1", L.TARGET, t.id) for t in targets),
        _rel(RelType.RESPONSIBLE_FOR, L.DEPARTMENT, "d-sci", L.TARGET, "t-ht"),
        _rel(RelType.RESPONSIBLE_FOR, L.DEPARTMENT, "d-fin", L.TARGET, "t-ht"),
        _rel(RelType.RESPONSIBLE_FOR, L.DEPARTMENT, "d-sci", L.TARGET, "t-turn"),
        _rel(RelType.LOCATED_IN, L.ENTERPRISE, "e1", L.REGION, "r-bf"),
        _rel(RelType.LOCATED_IN, L.ENTERPRISE, "e3", L.REGION, "r-bf"),
        # a1 licensed twice (counts once, in its first year), a2 once; amounts in 万元
        _rel(RelType.TRANSFERRED_TO, L.ACHIEVEMENT, "a1", L.ENTERPRISE, "e1", date="2022-05-01", amount_wan=30),
        _rel(RelType.TRANSFERRED_TO, L.ACHIEVEMENT, "a1", L.ENTERPRISE, "e3", date="2023-03-01", amount_wan=50),
        _rel(RelType.TRANSFERRED_TO, L.ACHIEVEMENT, "a2", L.ENTERPRISE, "e2", date="2023-07-09", amount_wan=20),
    ]
    report = store.write_batch(nodes, rels)
    assert not report.missing_endpoints
    return store


def _by_id(store, as_of=2023):
    return {p.target_id: p for p in target_progress(store, as_of_year=as_of)}


def test_stock_counts_recognised_enterprises_up_to_the_year_with_gap_and_pace(plan_graph) -> None:
    ht = _by_id(plan_graph)["t-ht"]
    # 2019, 2020, 2022, 2023 dated + 1 undated; 2025 is after as-of
    assert ht.current == 5
    assert ht.by_year[2021] == 2 and ht.by_year[2022] == 3 and ht.by_year[2023] == 4
    assert ht.gap == 5 and ht.remaining_years == 2 and ht.pace_needed == 2.5
    assert ht.pace_so_far == pytest.approx((4 - 2) / 2)
    assert ht.expected_now == pytest.approx(10 * 2 / 4)
    assert ht.status == "on_track"
    assert ht.by_region == {"宝丰县": 2, "新华区": 1, "未注明": 2}
    assert ht.departments == sorted(["市科技局", "市财政局"])


def test_platform_levels_and_cumulative_projects_from_the_baseline(plan_graph) -> None:
    got = _by_id(plan_graph)
    assert got["t-plat"].current == 2  # provincial 2022 + national 2018; municipal excluded
    proj = got["t-proj"]
    assert proj.current == 2 and proj.by_year == {2021: 0, 2022: 1, 2023: 2}  # 2020 is before the plan
    assert proj.gap == 6 and proj.pace_needed == 3 and proj.status == "behind"
    assert proj.by_region == {"宝丰县": 2}


def test_deals_count_each_achievement_once_and_turnover_converts_yi_to_wan(plan_graph) -> None:
    got = _by_id(plan_graph)
    ach = got["t-ach"]
    assert ach.current == 2 and ach.status == "achieved" and ach.gap == 0
    assert ach.by_year[2022] == 1 and ach.by_year[2023] == 2
    turn = got["t-turn"]
    assert turn.target_value == 100.0  # 0.01 亿元 = 100 万元
    assert turn.unit == "万元" and turn.current == 70 and turn.by_year == {2022: 30, 2023: 70}
    assert turn.gap == 30 and turn.status == "behind"


def test_yearly_target_is_checked_each_year(plan_graph) -> None:
    assert _by_id(plan_graph, 2023)["t-brk"].status == "achieved"
    brk = _by_id(plan_graph, 2022)["t-brk"]
    assert brk.current == 1 and brk.gap == 1 and brk.status == "behind"


def test_metric_without_data_says_so_instead_of_zero(plan_graph) -> None:
    rd = _by_id(plan_graph)["t-rd"]
    assert rd.current is None and rd.status == "no_data" and "研发投入" in rd.note


def test_groupings_by_department_and_region(plan_graph) -> None:
    progress = target_progress(plan_graph, as_of_year=2023)
    by_dept = progress_by_department(progress)
    assert [p.target_id for p in by_dept["市财政局"]] == ["t-ht"]
    assert sorted(p.target_id for p in by_dept["市科技局"]) == ["t-ht", "t-turn"]
    assert progress_by_region(progress)["宝丰县"]["重大科技专项"] == 2


def test_every_parser_metric_key_is_registered() -> None:
    from ingest.policy import METRIC_RULES

    assert {key for _, key in METRIC_RULES} <= set(METRICS)
