"""The plan parser on the real Pingdingshan plan and on a differently laid-out variant, and its graph load."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph.exceptions import ValidationError
from graph.model import IndustryChain, NodeLabel
from ingest.policy import load_policy, parse_policy, split_units

pytestmark = pytest.mark.all_backends

VARIANT = """郑州市人民政府关于印发郑州市科技创新三年行动计划的通知
郑政〔2023〕7号
发布日期:2023-03-15

郑州市科技创新三年行动计划

一、主要目标
（一）总体目标。围绕第十四个五年规划，到2026年，全市高新技术企业达到3000家以上；科技型中小企业1.2万家左右；
新建省级以上研发平台八十个以上；技术合同成交额达到150亿元。

二、重点任务
1、壮大创新主体。实施高新技术企业倍增计划，支持宇通集团等龙头企业建设研发中心，\
围绕电子信息、新材料和智能装备等主导产业布局创新链。（责任单位：市科技局、市财政局）
2、培育技术转移人才。每年培训技术经纪人100名以上。（责任单位：市科技局、各县（市、区）政府）
3、加强宣传。营造创新氛围。
"""


@pytest.fixture(scope="module")
def real_text(shared_dir: Path) -> str:
    return (shared_dir / "docs" / "policy-pingdingshan-2021-19.txt").read_text(encoding="utf-8")


def test_real_plan_yields_every_quantitative_target(real_text: str) -> None:
    parsed = parse_policy(real_text, "plan.txt")
    got = {(t.metric, t.value, t.unit, t.comparator) for t in parsed.targets}
    assert got == {
        ("rd_growth", 20, "%", ">="),
        ("high_tech_enterprises", 200, "家", ">="),
        ("tech_smes", 500, "家", ">="),
        ("provincial_platforms", 200, "家", ">="),
        ("high_level_talents", 500, "名", ">="),
        ("high_level_teams", 50, "个", ">="),
        ("academicians", 10, "名", "~"),
        ("major_projects", 100, "项", ">="),
        ("core_technologies", 100, "项", ">="),
        ("achievements_transferred", 500, "项", ">="),
        ("tech_contract_turnover", 20, "亿元", ">="),
        ("brokers_per_year", 50, "名", ">="),
    }
    assert {t.deadline_year for t in parsed.targets} == {2025}
    brokers = next(t for t in parsed.targets if t.metric == "brokers_per_year")
    assert brokers.per_year and brokers.task_number == 3
    assert not parsed.warnings


def test_real_plan_header_tasks_and_responsible_units(real_text: str) -> None:
    parsed = parse_policy(real_text, "plan.txt")
    assert parsed.name == "平顶山市创新人才价值实现基地建设实施方案"
    assert parsed.doc_number == "平政办〔2021〕19号"
    assert str(parsed.issued_on) == "2021-08-02"
    assert [t.number for t in parsed.tasks] == list(range(1, 15))
    assert parsed.tasks[0].name == "完善人才引育政策措施"
    assert parsed.tasks[0].section == "完善创新政策体系"
    assert parsed.tasks[8].responsible == ["市科技局", "宝丰县政府", "高新区管委会"]
    # the bracketed 、 inside a unit does not split it
    assert parsed.tasks[11].responsible == ["市委宣传部", "各县〔市、区〕政府〔管委会〕"]
    assert {"尼龙新材料", "高压电气", "生物医药"} <= set(parsed.chain_mentions)
    assert "中国平煤神马集团尼龙科技有限公司" in parsed.org_mentions
    assert parsed.region_mentions == ["宝丰县", "高新区"]


def test_variant_layout_full_width_marks_and_other_units() -> None:
    parsed = parse_policy(VARIANT, "variant.txt")
    assert parsed.doc_number == "郑政〔2023〕7号"
    assert parsed.name == "郑州市科技创新三年行动计划"
    got = {(t.metric, t.value, t.unit, t.comparator, t.deadline_year) for t in parsed.targets}
    assert got == {
        ("high_tech_enterprises", 3000, "家", ">=", 2026),
        ("tech_smes", 12000, "家", "~", 2026),
        ("provincial_platforms", 80, "个", ">=", 2026),
        ("tech_contract_turnover", 150, "亿元", ">=", 2026),
        ("brokers_per_year", 100, "名", ">=", 2026),
    }
    assert [t.number for t in parsed.tasks] == [1, 2, 3]
    assert parsed.tasks[1].responsible == ["市科技局", "各县（市、区）政府"]
    assert parsed.tasks[2].responsible == []
    assert any("task 3 names no 责任单位" in w for w in parsed.warnings)
    assert "电子信息" in parsed.chain_mentions and "宇通集团" in parsed.org_mentions


def test_text_that_is_not_a_plan_is_refused_with_its_source() -> None:
    with pytest.raises(ValidationError) as err:
        parse_policy("今天天气很好。\n我们去公园。", "notes.txt")
    assert err.value.where == "notes.txt"


def test_split_units_respects_brackets() -> None:
    assert split_units("市科技局、各县〔市、区〕政府〔管委会〕，市财政局") == [
        "市科技局", "各县〔市、区〕政府〔管委会〕", "市财政局",
    ]


def test_load_policy_links_targets_tasks_departments_and_chains(store, real_text: str, tmp_path: Path) -> None:
    store.upsert_nodes([
        IndustryChain(id="nylon", name="尼龙新材料产业链", keywords=["尼龙", "聚酰胺"]),
        IndustryChain(id="coal", name="煤炭开采", keywords=[]),
    ])
    path = tmp_path / "plan.txt"
    path.write_text(real_text, encoding="gb18030")  # the parser reads what local sites publish
    report = load_policy(store, path)
    assert (report.targets, report.tasks) == (12, 14)
    assert report.chains_named == ["尼龙新材料产业链"]
    counts = store.count_by_label()
    assert counts[NodeLabel.TARGET] == 12 and counts[NodeLabel.TASK] == 14 and counts[NodeLabel.DEPARTMENT] == 16
    rows = store.read(
        "MATCH (d:Department)-[:RESPONSIBLE_FOR]->(t:Target {metric: $m}) RETURN d.name AS d ORDER BY d",
        m="high_tech_enterprises",
    )
    # the goals paragraph's target goes to the units of the tasks that speak of high-tech enterprises (task 4)
    assert [r["d"] for r in rows] == sorted(["市科技局", "市财政局", "市工业和信息化局"])
    named = store.read("MATCH (:Policy)-[:NAMES]->(c:IndustryChain) RETURN c.id AS id")
    assert [r["id"] for r in named] == ["nylon"]
    again = load_policy(store, path)
    assert again.created == 0 and store.count_by_label()[NodeLabel.TARGET] == 12
    task4 = store.read("MATCH (t:Task {number: $n}) RETURN t.prov_source AS s, t.prov_row AS r", n=4)[0]
    assert task4["s"] == str(path) and real_text.splitlines()[task4["r"] - 1].lstrip().startswith("4.")


def test_load_policy_reports_a_missing_file(store, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="not found"):
        load_policy(store, tmp_path / "nope.txt")
    assert store.count_by_label() == {}


def test_a_target_no_task_speaks_of_goes_to_the_plans_lead_unit(real_text: str) -> None:
    from ingest.policy import _responsible_for_target

    parsed = parse_policy(real_text, "plan.txt")
    turnover = next(t for t in parsed.targets if t.metric == "tech_contract_turnover")
    assert _responsible_for_target(parsed, turnover) == ["市科技局"]


def test_named_organisations_link_by_exact_alias_before_containment(store, real_text: str, tmp_path: Path) -> None:
    from graph.model import Department, Enterprise
    from ingest.policy import department_id

    store.upsert_nodes([
        Enterprise(id="parent", name="中国平煤神马控股集团有限公司", aliases=["中国平煤神马集团"]),
        Enterprise(id="nylon", name="中国平煤神马集团尼龙科技有限公司"),
        Enterprise(id="wugang", name="舞阳钢铁有限责任公司", aliases=["舞钢公司"]),
        Department(id=department_id("市科技局"), name="市科技局", demo=True),
    ])
    path = tmp_path / "plan.txt"
    path.write_text(real_text, encoding="utf-8")
    report = load_policy(store, path)
    assert sorted(report.orgs_named) == ["中国平煤神马集团尼龙科技有限公司", "舞阳钢铁有限责任公司"]
    assert store.get_props(NodeLabel.DEPARTMENT, department_id("市科技局"))["demo"] is True  # linked, not rewritten
    tasks = store.read("MATCH (t:Task)-[:NAMES]->(e:Enterprise {id: $id}) RETURN t.number AS n", id="nylon")
    assert [r["n"] for r in tasks] == [4]


@pytest.mark.parametrize(
    ("text", "value"),
    [("200", 200), ("1.5万", 15000), ("二百", 200), ("一千五百", 1500), ("十", 10), ("两千", 2000), ("万", 10000)],
)
def test_numbers_in_arabic_and_chinese_numerals(text: str, value: float) -> None:
    from ingest.policy import parse_number

    assert parse_number(text) == value


def test_re_reading_an_edited_plan_replaces_its_targets_and_tasks(store, tmp_path: Path) -> None:
    path = tmp_path / "variant.txt"
    path.write_text(VARIANT, encoding="utf-8")
    first = load_policy(store, path)
    assert (first.targets, first.tasks) == (5, 3)
    edited = VARIANT.replace("；科技型中小企业1.2万家左右", "").replace("3、加强宣传。营造创新氛围。\n", "")
    path.write_text(edited, encoding="utf-8")
    again = load_policy(store, path)
    assert (again.targets, again.tasks) == (4, 2)
    counts = store.count_by_label()
    assert counts[NodeLabel.TARGET] == 4 and counts[NodeLabel.TASK] == 2
    assert any("no longer has were removed" in w for w in again.warnings)
