"""The bureau's cockpit and 揭榜挂帅 on the demo graph, through the pages and the API: the plan's targets by
year, county and unit, the gap map and a segment's page, a topic turned into a draft that discloses no hidden
need, the lifecycle of a challenge (applications under the role table, bounded team fit, review, award), and
that no page or report the bureau reads shows an internal value or an id where a name exists."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import pytest
from api_world import Api, build_demo_world, csrf_of, serve_world, web_login
from openpyxl import load_workbook

from graph.model import NodeLabel
from graph.zh import internal_values

pytestmark = pytest.mark.all_backends

HTML = {"accept": "text/html"}
#: an id as the graph writes them (seg-, need-, user- ...), anywhere a person reads text
ID = re.compile(r"(?<![A-Za-z0-9_-])(?:seg|user|need|ent|chal|tal|inst|ach|brk|plat|dept|proj|reg|app|fb|policy|topic|"
                r"chain|aud|dn|hidden)-[0-9a-z]")
ENUM = re.compile(r"(?<![A-Za-z_])(" + "|".join(sorted(map(re.escape, internal_values()), key=len, reverse=True))
                  + r")(?![A-Za-z_])")


@pytest.fixture(scope="module")
def api(_session_store, tmp_path_factory) -> Iterator[Api]:
    yield from serve_world(_session_store, tmp_path_factory.mktemp("svc"), build=build_demo_world)


def page_client(api: Api, who: str):
    client, resp = web_login(api.app, who, client_addr=f"10.3.0.{abs(hash(who)) % 200}")
    assert resp.status_code == 303
    return client


def readable(html: str) -> str:
    """What a person reads on a page: the text, and the titles, labels and placeholders of its elements."""
    attrs = " ".join(re.findall(r'(?:title|aria-label|placeholder|alt)="([^"]*)"', html))
    text = re.sub(r"<[^>]+>", " ", html)
    return re.sub(r"\s+", " ", f"{text} {attrs}")


def internal_leftovers(text: str) -> list[str]:
    return sorted({m.group(0) for m in ID.finditer(text)} | {m.group(1) for m in ENUM.finditer(text)})


def test_the_scanner_would_notice_an_internal_value_or_an_id():
    page = '<td>applications_open</td><p title="upstream">x</p> Talent user-191e0f4ebba4 view_need need-14 seg-bio-api'
    assert internal_leftovers(readable(page)) == ["Talent", "applications_open", "need-1", "seg-b", "upstream",
                                                  "user-1", "view_need"]
    assert internal_leftovers("126kV GIS C4F7N 盆式绝缘子 techmatch API Excel 2025-09-08") == []


def test_the_cockpit_shows_the_plans_targets_by_year_county_and_unit_in_pictures(api):
    page = page_client(api, "bureau").get("/bureau?year=2024").text
    assert "平顶山市创新人才价值实现基地建设实施方案" in page and "统计截至 2024 年底" in page
    # the twelve targets, each with its status in words, a bar chart and the status of every plan year
    assert page.count('class="target-row"') == 12
    assert "高新技术企业" in page and "技术合同成交额" in page and "滞后" in page and "无数据" in page
    grid = page.split('id="status-grid"', 1)[1].split("</table>", 1)[0]
    assert all(f"<th>{y}</th>" in grid for y in (2021, 2022, 2023, 2024)) and "<th>2025</th>" not in grid
    assert page.count('<svg class="chart"') >= 5  # targets, units, counties, activity, deals
    # counties are ranked by name, units carry their targets, activity runs year by year
    assert "平顶山高新区" in page and "市科技局" in page and "市财政局" in page
    assert "发布需求" in page and "对接" in page and "成交" in page
    # the gap map: every segment a link to its page
    assert 'href="/bureau/segments/seg-hv-power-electronics"' in page


def test_a_segment_opens_its_unmet_needs_supply_deals_and_candidate_projects(api):
    client = page_client(api, "bureau")
    page = client.get("/bureau/segments/seg-carbon-needle-coke").text
    assert "碳基新材料 · 针状焦" in page
    assert "针状焦线膨胀系数偏高" in page  # its need, in full for the bureau
    assert "煤系针状焦原料预处理与延迟焦化成套工艺" in page  # supply
    assert "平顶山瑞丰针状焦材料有限公司" in page and "600" in page  # the 2021 deal
    assert "生成揭榜挂帅草稿" in page
    assert client.get("/bureau/segments/seg-nope", headers=HTML).status_code == 404


def test_a_topic_becomes_a_draft_whose_notice_discloses_no_hidden_need(api):
    client = page_client(api, "bureau")
    seg = client.get("/bureau/segments/seg-hv-power-electronics").text
    assert "碳化硅功率模块封装与驱动技术" in seg  # the brokers-only need-04, which the bureau reads in full
    form = seg.split('action="/bureau/topics/draft"', 1)[1].split("</form>", 1)[0]
    need_ids = re.findall(r'name="need_ids" value="([^"]+)"', form)
    assert need_ids == ["need-04"]
    made = client.post("/bureau/topics/draft", data={"csrf": csrf_of(seg), "need_ids": need_ids},
                       follow_redirects=False)
    assert made.status_code == 303 and made.headers["location"].endswith("/edit?msg=drafted")
    challenge_id = made.headers["location"].split("/")[3]
    draft = api.store.get_props(NodeLabel.CHALLENGE, challenge_id)
    assert draft["status"] == "draft" and draft["source_need_ids"] == ["need-04"]
    assert "碳化硅功率模块封装与驱动技术" not in draft["statement"] + draft["name"]
    assert "另有 1 项未公开的企业需求" in draft["statement"]
    bureau_key = api.world.headers("bureau")
    for status in ("published", "applications_open"):
        assert api.client.post(f"/api/challenges/{challenge_id}/status", headers=bureau_key,
                               json={"status": status}).status_code == 200
    for who in ("nylon", "broker"):
        notice = page_client(api, who).get(f"/challenges/{challenge_id}").text
        for secret in ("碳化硅功率模块封装与驱动技术", "平顶山开源电力电子有限公司", "need-04"):
            assert secret not in notice, (who, secret)
        as_api = api.client.get(f"/api/challenges/{challenge_id}", headers=api.world.headers(who)).json()
        # a brokers-only need's id is for those who read it in full (every broker), not for other enterprises
        assert as_api["source_need_ids"] == (["need-04"] if who == "broker" else [])
    assert api.client.get(f"/api/challenges/{challenge_id}", headers=bureau_key).json()["source_need_ids"] == [
        "need-04"]


def test_the_audit_log_names_people_actions_and_things(api):
    client = page_client(api, "bureau")
    client.get("/needs/need-02")  # a full view of a private need: audited
    page = client.get("/bureau/audit").text
    log = page.split('id="audit"', 1)[1].split("</table>", 1)[0]
    assert "查看需求全文" in log and "126kV GIS盆式绝缘子沿面闪络与局部放电故障" in log and "全文" in log
    assert "科技局" in log
    text = readable(log)
    assert not internal_leftovers(text) and "view_need" not in text and " full" not in text


def test_applications_follow_the_role_table(api):
    bureau, nylon, broker = (api.world.headers(w) for w in ("bureau", "nylon", "broker"))
    open_challenge = "chal-06"  # 揭榜 open in the demo
    body = {"applicant": "Institution:inst-pds-agri", "lead_id": "tal-38", "members": ["刘春生"],
            "plan": "两年完成组合配制"}
    # an enterprise applies for itself only; a broker for a university's team; the bureau does not apply
    assert api.client.post(f"/api/challenges/{open_challenge}/applications", headers=nylon,
                           json=body).status_code == 403
    assert api.client.post(f"/api/challenges/{open_challenge}/applications", headers=bureau,
                           json=body).status_code == 403
    mine = api.client.post(f"/api/challenges/{open_challenge}/applications", headers=broker, json=body)
    assert mine.status_code == 201 and mine.json()["status_zh"] == "已提交" and mine.json()["member_ids"] == ["tal-37"]
    own = {**body, "applicant": "Enterprise:ent-pmsm-nylon", "members": []}
    assert api.client.post(f"/api/challenges/{open_challenge}/applications", headers=nylon,
                           json=own).status_code == 201
    # each sees its own; the bureau sees both, with its review fields
    listed = {w: api.client.get(f"/api/challenges/{open_challenge}/applications", headers=h).json()
              for w, h in (("nylon", nylon), ("broker", broker), ("bureau", bureau))}
    assert [a["applicant_id"] for a in listed["nylon"]] == ["ent-pmsm-nylon"]
    assert [a["applicant_id"] for a in listed["broker"]] == ["inst-pds-agri"]
    assert len(listed["bureau"]) == 2
    # a draft takes no applications and is not even there for others
    assert api.client.post("/api/challenges/chal-04/applications", headers=broker, json=body).status_code == 404


def test_a_challenge_goes_from_draft_to_award_through_the_api(api):
    bureau, broker = api.world.headers("bureau"), api.world.headers("broker")
    draft = {"id": "chal-api-1", "name": "GIS局部放电在线诊断", "statement": "研制GIS局部放电在线诊断系统",
             "segment_id": "seg-hv-insulation", "competences": ["局部放电", "表面电荷"], "deadline": "2027-12-31"}
    assert api.client.post("/api/challenges", headers=bureau, json=draft).status_code == 201
    skip = api.client.post("/api/challenges/chal-api-1/status", headers=bureau, json={"status": "accepted"})
    assert skip.status_code == 409 and "不能“通过验收”" in skip.json()["detail"] and "发布榜单" in skip.json()["detail"]
    for status in ("published", "applications_open"):
        moved = api.client.post("/api/challenges/chal-api-1/status", headers=bureau, json={"status": status})
        assert moved.status_code == 200 and moved.json()["status"] == status
    teams = api.client.get("/api/challenges/chal-api-1/teams", headers=bureau).json()
    assert teams["teams"] and all(0 <= t["fit"]["score"] <= 100 and t["fit"]["band"] for t in teams["teams"])
    best = teams["teams"][0]
    assert best["lead"]["name"] and not best["lead"]["id"].startswith("Talent:")
    assert api.client.get("/api/challenges/chal-api-1/teams", headers=broker).status_code == 403
    applied = api.client.post("/api/challenges/chal-api-1/applications", headers=broker, json={
        "applicant": "Institution:inst-xjtu", "lead_id": "tal-11", "members": ["tal-12"]}).json()
    reviewed = api.client.post(f"/api/challenges/chal-api-1/applications/{applied['id']}/review", headers=bureau,
                               json={"score": 86, "decision": "shortlisted", "comment": "方案可行"})
    assert reviewed.status_code == 200 and reviewed.json()["status_zh"] == "评审通过"
    awarded = api.client.post("/api/challenges/chal-api-1/award", headers=bureau,
                              json={"application_id": applied["id"]})
    assert awarded.status_code == 200 and awarded.json()["status"] == "awarded"
    solvers = {r["id"] for r in api.store.read(
        "MATCH (t:Talent)-[:SOLVES]->(:Challenge {id: 'chal-api-1'}) RETURN t.id AS id")}
    assert solvers == {"tal-11", "tal-12"}
    again = api.client.post("/api/challenges/chal-api-1/award", headers=bureau, json={"application_id": applied["id"]})
    assert again.status_code == 409 and "已确定揭榜方" in again.json()["detail"]


def test_the_silicon_carbide_challenge_warns_that_even_the_best_team_is_far(api):
    advice = api.client.get("/api/challenges/chal-04/teams", headers=api.world.headers("bureau")).json()
    assert advice["weak_fit"] and "碳化硅器件" in advice["warning"] and "差距较大" in advice["warning"]
    assert advice["teams"][0]["fit"]["score"] < 35 and advice["teams"][0]["fit"]["band"] == "契合度低"
    well = api.client.get("/api/challenges/chal-03/teams", headers=api.world.headers("bureau")).json()
    assert not well["weak_fit"] and well["teams"][0]["fit"]["score"] >= 75
    # evidence is whole words of the competence found in a member's own work, never n-gram fragments
    for c in well["teams"][0]["fit"]["competences"]:
        assert c["work_title"] and all(t in c["competence"] and len(t) >= 2 for t in c["terms"])


def test_conflicts_of_interest_are_shown_with_their_reasons(api):
    page = page_client(api, "bureau").get("/bureau/challenges/chal-02").text
    removed = page.split('id="removed"', 1)[1].split("</ul>", 1)[0]
    assert "钱卫国" in removed and "与发榜方同单位" in removed
    team = page.split('class="card team"', 1)[1]
    assert "/100" in team and "牵头人" in team and "环氧绝缘材料" in team


def _bureau_pages(api: Api) -> list[str]:
    challenges = [r["id"] for r in api.store.read("MATCH (c:Challenge) RETURN c.id AS id ORDER BY c.id")]
    segments = [r["id"] for r in api.store.read(
        "MATCH (s:ChainSegment) WHERE COUNT { (:Need)-[:IN_SEGMENT]->(s) } > 0 RETURN s.id AS id ORDER BY s.id")]
    drafts = [r["id"] for r in api.store.read("MATCH (c:Challenge {status: 'draft'}) RETURN c.id AS id")]
    return ["/", "/needs", "/needs/need-02", "/needs/need-01/matches/ach-01", "/achievements/ach-01", "/account",
            "/bureau", "/bureau?year=2022", "/bureau/audit", "/challenges", "/bureau/challenges/new",
            *(f"/bureau/segments/{s}" for s in segments[:12]), *(f"/challenges/{c}" for c in challenges),
            *(f"/bureau/challenges/{c}" for c in challenges), *(f"/bureau/challenges/{c}/edit" for c in drafts)]


def test_no_page_the_bureau_reads_shows_an_internal_value_or_an_id(api):
    client = page_client(api, "bureau")
    found = {}
    for url in _bureau_pages(api):
        resp = client.get(url, headers=HTML)
        assert resp.status_code == 200, url
        leftovers = internal_leftovers(readable(resp.text))
        if leftovers:
            found[url] = leftovers
    assert not found, found


def test_the_demo_report_has_no_empty_sheet_and_no_internal_value(api):
    resp = api.client.get("/api/stats/report.xlsx", headers=api.world.headers("bureau"))
    assert resp.status_code == 200
    wb = load_workbook(io.BytesIO(resp.content))
    assert wb.sheetnames == ["目标进度", "目标分年度", "目标分县区", "目标分责任单位", "产业链缺口", "卡脖子候选",
                             "候选专题", "动态趋势", "揭榜挂帅"]
    for ws in wb:
        rows = list(ws.values)
        assert len(rows) >= 2 and rows[1][0] != "本期无记录", f"sheet {ws.title} is empty"
        cells = " ".join(str(v) for row in rows for v in row if isinstance(v, str))
        assert not internal_leftovers(cells), (ws.title, internal_leftovers(cells))
        assert not re.search(r"(?<![A-Za-z])(>=|<=|no data|stated|median)(?![A-Za-z])", cells), ws.title
    progress = {r[0]: r for r in list(wb["目标进度"].values)[1:]}
    assert len(progress) == 12
