"""揭榜挂帅 at the bureau's desk without a graph: a competence is covered by whole words of a member's own works,
a team's fit is bounded and worded, the form says in Chinese which field is wrong, and the pictures escape
what they draw."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bureau import svg
from bureau.challenges import (
    BANDS,
    ChallengeForm,
    FormErrors,
    competence_share,
    parse_challenge_form,
    team_fit,
)


@dataclass
class Work:
    title: str
    text: str


ANODE = Work("人造石墨负极沥青包覆快充改性技术", "人造石墨负极沥青包覆快充改性技术，提高储能电池倍率性能和循环效率。")
GIS = Work("GIS盆式绝缘子表面电荷调控与沿面闪络抑制技术", "环保气体绝缘GIS盆式绝缘子表面电荷调控，抑制局部放电。")


def test_a_competence_is_covered_by_its_whole_words_never_by_fragments():
    assert competence_share("表面电荷", [GIS]) == (1.0, GIS.title, ["表面电荷"])
    share, title, words = competence_share("碳化硅器件", [ANODE, GIS])
    assert share == 0.0 and not words  # 碳化/化硅 fragments of other words count for nothing
    partial, _, found = competence_share("储能变流器", [ANODE])
    assert partial < 0.6 and set(found) <= {"储能", "变流器", "储能变流器"}


def test_a_teams_fit_is_bounded_and_worded_whatever_its_members():
    empty = team_fit(["碳化硅器件", "功率模块"], [("t1", "甲", [ANODE])], cohesion=0.5,
                     conditions={"联合本地企业实施": True})
    assert 0 <= empty.score <= 100 and empty.band == "契合度低" and empty.coverage == 0
    assert empty.competences[0].level == "未见相关成果" and empty.competences[0].member_name == ""
    full = team_fit(["表面电荷", "局部放电"], [("t1", "甲", [ANODE]), ("t2", "乙", [GIS])], cohesion=1.0,
                    conditions={})
    assert full.score == 100 and full.band == BANDS[0][1] and full.covered == 2
    assert all(c.member_name == "乙" and c.work_title == GIS.title for c in full.competences)
    assert "能力覆盖 70/70（2/2 项有成果支撑）" in full.summary and "榜单未设条件" in full.summary
    overflowing = team_fit(["表面电荷"], [("t2", "乙", [GIS])], cohesion=7.0, conditions={"x": True})
    assert overflowing.score == 100 and overflowing.cohesion == 1.0


class NoSegments:
    def get_props(self, label, node_id):
        return None


def test_the_challenge_form_names_every_wrong_field_in_chinese():
    form = ChallengeForm(name="", statement="", segment_id="seg-nope", budget_wan="很多", deadline="2026/13/01",
                         min_team_size="两人", milestones="样品 2026-02-30")
    with pytest.raises(FormErrors) as caught:
        parse_challenge_form(NoSegments(), form)
    errors = caught.value.errors
    assert set(errors) == {"name", "statement", "segment_id", "budget_wan", "deadline", "min_team_size", "milestones"}
    assert errors["budget_wan"] == "预算须为数字" and "年-月-日" in errors["deadline"]
    good = parse_challenge_form(NoSegments(), ChallengeForm(
        name="己二腈攻关", statement="建成千吨级中试装置", competences="己二腈、加氢催化，精馏", min_team_size="3",
        local_partner="联合本地企业", milestones="中试 2027-06-30\n验收"))
    assert good["competences"] == ["己二腈", "加氢催化", "精馏"]
    assert [(r.kind, r.value) for r in good["requirements"]] == [("local_partner", "联合本地企业"),
                                                                  ("min_team_size", "3")]
    assert [(m.name, str(m.due)) for m in good["milestones"]] == [("中试", "2027-06-30"), ("验收", "None")]


def test_the_pictures_escape_what_they_draw_and_scale_to_their_box():
    chart = svg.bar_chart([svg.Bar(label="<script>alert(1)</script>", share=2.0, text="a&b", status="behind",
                                   marker=0.5)], "标题<")
    assert "<script>" not in chart and "&lt;script&gt;" in chart and "a&amp;b" in chart
    assert chart.startswith('<svg class="chart" viewBox="0 0 420 ') and 'width="420.0"' in chart  # capped at full
    columns = svg.column_chart(["2021", "2022"], [("需求", [1, 3]), ("成交", [0, 2])], "趋势")
    assert columns.count("<rect") >= 6 and "2022" in columns


def test_a_challenges_team_coverage_is_drawn_for_files_too(tmp_path):
    from bureau import charts
    from bureau.challenges import Named, RecommendedTeam, TeamAdvice, TeamMember

    fit = team_fit(["表面电荷", "碳化硅器件"], [("t2", "乙", [GIS])], cohesion=0.5, conditions={})
    lead = TeamMember(id="t2", name="乙", role="牵头人")
    advice = TeamAdvice(challenge_id="c", competences=["表面电荷", "碳化硅器件"], conflicts=[], weak_fit=True,
                        teams=[RecommendedTeam(rank=1, lead=lead, members=[lead], fit=fit,
                                               partner=Named(id="e", name="某企业"))])
    path = charts.save_figure(charts.team_coverage_figure(advice), tmp_path / "teams.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
