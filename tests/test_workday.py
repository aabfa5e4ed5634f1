"""The broker's and the enterprise's working day, through HTTP as the pages and the API are used: verdicts that
behave (once, then changed or undone, rejected ones listed), one confidence scale, the docking pipeline from an
accepted match to a signed contract that moves the plan's target, the work queue, the need form, notifications
and subscriptions, uploads in the browser and the bureau's list of unmet needs."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from api_world import Api, build_demo_world, csrf_of, serve_world, web_login

from graph.model import NodeLabel

pytestmark = pytest.mark.all_backends

HTML = {"accept": "text/html"}


@pytest.fixture(scope="module")
def api(_session_store, tmp_path_factory) -> Iterator[Api]:
    for api in serve_world(_session_store, tmp_path_factory.mktemp("day"), build_demo_world):
        api.app.state.engine_provider()
        api.app.state.jobs.wait_idle(300)  # standings of every need computed once, as a started service does
        yield api


def _login(api: Api, who: str):  # noqa: ANN202
    client, resp = web_login(api.app, who, client_addr=f"10.20.0.{sorted(api.world.keys).index(who)}")
    assert resp.status_code == 303, resp.text[:300]
    return client


def _verdict(client, need: str, ach: str, **form):  # noqa: ANN001, ANN003, ANN202
    token = csrf_of(client.get(f"/needs/{need}/matches/{ach}").text)
    return client.post(f"/needs/{need}/matches/{ach}/verdict", data={"csrf": token, **form}, follow_redirects=False)


def _top_match(client, need: str) -> tuple[str, str]:  # noqa: ANN001
    page = client.get(f"/needs/{need}").text
    ach = re.search(r'class="match" data-candidate="([^"]+)"', page).group(1)
    conf = re.search(r'置信度 (\d+%)</span>', page).group(1)
    return ach, conf


# --- verdicts and one confidence scale -------------------------------------------------------------

def test_the_same_pair_reads_the_same_on_the_need_page_the_match_page_and_the_api(api):
    broker = _login(api, "broker")
    ach, conf = _top_match(broker, "need-01")
    match_page = broker.get(f"/needs/need-01/matches/{ach}").text
    assert re.search(r'id="confidence">(\d+%)<', match_page).group(1) == conf
    assert re.search(r'id="band"[^>]*>(高度匹配|可能相关|仅供参考)<', match_page)
    body = api.client.get("/api/needs/need-01/matches", headers=api.world.headers("broker")).json()
    assert f"{body['matches'][0]['confidence'] * 100:.0f}%" == conf


def test_a_verdict_is_shown_as_a_verdict_and_can_be_changed_or_undone(api):
    broker = _login(api, "broker")
    ach, conf = _top_match(broker, "need-01")
    no_reason = _verdict(broker, "need-01", ach, verdict="reject", reason="", comment="")
    assert no_reason.status_code == 422, "the reason is the user's choice: nothing is preselected"
    accepted = _verdict(broker, "need-01", ach, verdict="accept")
    assert accepted.status_code == 303
    page = broker.get(accepted.headers["location"]).text
    assert "已接受" in page and "对接进行中" in page and 'id="undo"' in page and 'id="accept"' not in page
    assert re.search(r'id="confidence">(\d+%)<', page).group(1) == conf, "accepting does not inflate the number"
    rejected = _verdict(broker, "need-01", ach, verdict="reject", reason="too_expensive", comment="超出预算")
    assert rejected.status_code == 303, "rejecting lands on the match page, never on an error page"
    page = broker.get(rejected.headers["location"]).text
    assert rejected.headers["location"].endswith("msg=rejected") and "已拒绝" in page and "价格超出预算" in page
    need_page = broker.get("/needs/need-01").text
    rejected = need_page.split('id="rejected"')[1]
    assert f'data-candidate="{ach}"' in rejected and "超出预算" in rejected
    undone = _verdict(broker, "need-01", ach, verdict="withdrawn")
    assert undone.status_code == 303
    after = broker.get("/needs/need-01").text
    rejected_after = after.split('id="rejected"')[1] if 'id="rejected"' in after else ""
    assert f'data-candidate="{ach}"' not in rejected_after
    assert _top_match(broker, "need-01")[0] == ach, "an undone rejection gives the match its place back"


def test_search_says_plainly_when_nothing_fits_and_multi_word_names_are_found(api):
    nylon = _login(api, "nylon")
    nonsense = nylon.get("/", params={"q": "xyzabc 量子引力透镜"}).text
    assert 'id="nothing-fits"' in nonsense and "仅供参考" in nonsense
    words = nylon.get("/", params={"q": "尼龙66 黄变"}).text
    needs = words.split('id="need-results"')[1].split("</div>\n  <h2>")[0]
    assert "尼龙66切片长时熔体保持后黄变问题" in needs


# --- the docking pipeline -----------------------------------------------------------------------

def _open_docking(api: Api, client, need: str) -> tuple[str, str]:  # noqa: ANN001
    ach, _ = _top_match(client, need)
    _verdict(client, need, ach, verdict="accept")
    page = client.get(f"/needs/{need}/matches/{ach}").text
    return ach, re.search(r'href="/dockings/([^"]+)"', page).group(1)


def test_a_match_goes_from_acceptance_to_a_signed_contract_that_moves_the_target(api):
    from bureau.targets import tech_contract_turnover

    broker = _login(api, "broker")
    ach, docking = _open_docking(api, broker, "need-01")
    year = datetime.now(UTC).year
    before = sum(f.value for f in tech_contract_turnover(api.store) if f.year == year)
    page = broker.get(f"/dockings/{docking}").text
    token = csrf_of(page)
    missing = broker.post(f"/dockings/{docking}/contact", data={"csrf": token, "who": "", "channel": "电话"})
    assert missing.status_code == 422 and "请填写联系了谁" in missing.text
    contact = broker.post(f"/dockings/{docking}/contact", data={"csrf": token, "who": "郑州大学技术转移中心 张老师",
                                                                "channel": "电话", "note": "约定下周走访"},
                          follow_redirects=False)
    assert contact.status_code == 303
    note = broker.post(f"/dockings/{docking}/note", data={"csrf": token, "note": "走访实验室，对方报价 80 万",
                                                          "advance": "negotiating"}, follow_redirects=False)
    assert note.status_code == 303
    bad = broker.post(f"/dockings/{docking}/sign", data={"csrf": token, "contract_type": "技术许可",
                                                         "amount_wan": "八十", "signed_on": "2026-11-30",
                                                         "contract_no": "PDS-2026-001"})
    assert bad.status_code == 422 and "合同金额须为数字" in bad.text and 'value="PDS-2026-001"' in bad.text
    signed = broker.post(f"/dockings/{docking}/sign", data={
        "csrf": token, "contract_type": "技术许可", "amount_wan": "80", "tech_amount_wan": "75",
        "signed_on": datetime.now(UTC).date().isoformat(), "contract_no": "PDS-2026-001",
        "registration_no": "4104012026000123"}, follow_redirects=False)
    assert signed.status_code == 303
    page = broker.get(f"/dockings/{docking}").text
    assert "已签约" in page and "80 万元" in page and "PDS-2026-001" in page
    assert [e for e in ("联系 郑州大学技术转移中心 张老师", "走访实验室", "进入「洽谈中」") if e not in page] == []
    deal = api.store.read("MATCH (a:Achievement {id: $a})-[d:TRANSFERRED_TO]->(e:Enterprise {id: 'ent-pmsm-nylon'}) "
                          "RETURN d.amount_wan AS amount, d.contract_no AS no, d.docking_id AS docking", a=ach)
    assert deal == [{"amount": 80.0, "no": "PDS-2026-001", "docking": docking}]
    after = sum(f.value for f in tech_contract_turnover(api.store) if f.year == year)
    assert after == before + 80.0, "the bureau's 技术合同成交额 counts the signed contract"
    strong = api.store.read("MATCH (f:Feedback {query_id: 'need-01', candidate_id: $a}) WHERE f.strength > 1 "
                            "RETURN f.verdict AS v", a=ach)
    assert strong == [{"v": "accept"}], "a signed contract is the matcher's strongest positive"
    again = broker.post(f"/dockings/{docking}/note", data={"csrf": token, "note": "x"}, headers=HTML)
    assert again.status_code == 409


def test_an_abandoned_docking_says_why_and_teaches_only_when_the_match_was_wrong(api):
    nylon = _login(api, "nylon")
    page = nylon.get("/needs/need-01?weak=1").text
    candidates = re.findall(r'class="match" data-candidate="([^"]+)"', page)
    ach = candidates[-1]
    _verdict(nylon, "need-01", ach, verdict="accept")
    docking = re.search(r'href="/dockings/([^"]+)"', nylon.get(f"/needs/need-01/matches/{ach}").text).group(1)
    token = csrf_of(nylon.get(f"/dockings/{docking}").text)
    no_reason = nylon.post(f"/dockings/{docking}/abandon", data={"csrf": token, "reason": ""})
    assert no_reason.status_code == 422 and "请选择终止原因" in no_reason.text
    done = nylon.post(f"/dockings/{docking}/abandon", data={"csrf": token, "reason": "maturity",
                                                            "note": "仍在小试"}, follow_redirects=False)
    assert done.status_code == 303
    assert "已终止：成熟度不够" in nylon.get(f"/dockings/{docking}").text
    latest = api.store.read("MATCH (f:Feedback {query_id: 'need-01', candidate_id: $a}) RETURN f.verdict AS v "
                            "ORDER BY f.at DESC LIMIT 1", a=ach)
    assert latest == [{"v": "reject"}]


def test_dockings_are_for_the_needs_enterprise_its_brokers_and_the_bureau(api):
    broker = _login(api, "broker")
    _, docking = _open_docking(api, broker, "need-01")
    for who in ("switch",):
        assert _login(api, who).get(f"/dockings/{docking}", headers=HTML).status_code == 404
        assert api.client.get(f"/api/dockings/{docking}", headers=api.world.headers(who)).status_code == 404
    assert _login(api, "bureau").get(f"/dockings/{docking}").status_code == 200
    board = broker.get("/dockings").text
    assert docking in board and "尼龙66" in board
    listed = api.client.get("/api/dockings", headers=api.world.headers("switch")).json()
    assert docking not in str(listed)


def test_the_docking_api_walks_the_same_path(api):
    h = api.world.headers("bureau")
    ach = api.client.get("/api/needs/need-01/matches", headers=h).json()["matches"][0]["candidate_id"]
    opened = api.client.post("/api/dockings", headers=h, json={"need_id": "need-01", "achievement_id": ach})
    assert opened.status_code == 201, opened.text
    did = opened.json()["docking"]["id"]
    assert api.client.post(f"/api/dockings/{did}/contacts", headers=h,
                           json={"who": "王老师", "channel": "会谈"}).json()["docking"]["stage"] == "contacted"
    assert api.client.post(f"/api/dockings/{did}/stage", headers=h,
                           json={"stage": "signed"}).status_code == 422
    signed = api.client.post(f"/api/dockings/{did}/contract", headers=h, json={
        "contract_type": "技术转让", "amount_wan": 12.5, "signed_on": "2026-11-01", "contract_no": "API-1"})
    assert signed.status_code == 200 and signed.json()["docking"]["stage"] == "signed"
    assert [e["kind"] for e in signed.json()["events"]] == ["stage", "contact", "stage"]


# --- the work queue ------------------------------------------------------------------------------

def test_the_broker_queue_lists_its_enterprises_needs_and_matches_awaiting_review(api):
    broker = _login(api, "broker")
    page = broker.get("/queue").text
    assert 'id="awaiting"' in page and 'id="counts"' in page
    assert "尼龙66切片长时熔体保持后黄变问题" in page
    assert "126kV GIS" not in page, "only the enterprises the broker looks after"
    filtered = broker.get("/queue", params={"conf": "private"}).text
    assert "尼龙66切片长时熔体保持后黄变问题" not in filtered
    export = broker.get("/queue/export.xlsx")
    assert export.status_code == 200 and export.headers["content-type"].startswith("application/vnd.openxml")
    from openpyxl import load_workbook

    ws = load_workbook(io.BytesIO(export.content)).active
    assert [c.value for c in ws[1]][:4] == ["需求", "企业", "成果", "匹配程度"]
    assert _login(api, "nylon").get("/queue", headers=HTML).status_code == 403


# --- needs: the form, escalation ------------------------------------------------------------------

def test_the_need_form_suggests_segments_keeps_what_was_typed_and_posts_with_them(api):
    nylon = _login(api, "nylon")
    token = csrf_of(nylon.get("/enterprise").text)
    text = {"csrf": token, "name": "尼龙6切片端氨基含量波动",
            "description": "己内酰胺聚合后尼龙6切片端氨基含量波动，染色不匀。", "confidentiality": "public",
            "budget_wan": "", "deadline": "", "contact_name": "刘工", "contact_phone": "0375-1234567", "region": ""}
    suggested = nylon.post("/enterprise/needs", data={**text, "action": "suggest"})
    assert suggested.status_code == 200 and "（建议，" in suggested.text and 'value="刘工"' in suggested.text
    boxes = re.findall(r'name="segment_ids" value="([^"]+)" checked', suggested.text)
    assert boxes, "the classifier suggested at least one segment, checked for confirmation"
    posted = nylon.post("/enterprise/needs", data={**text, "segment_ids": boxes[:1], "cooperation_modes": ["许可"]},
                        follow_redirects=False)
    assert posted.status_code == 303, posted.text[:400]
    need_id = posted.headers["location"].split("/")[2].split("?")[0]
    edges = api.store.read("MATCH (:Need {id: $id})-[r:IN_SEGMENT]->(s) RETURN s.id AS s, r.method AS m", id=need_id)
    assert edges == [{"s": boxes[0], "m": "confirmed"}]
    stored = api.store.get_props(NodeLabel.NEED, need_id)
    assert stored["contact_name"] == "刘工" and stored["cooperation_modes"] == ["许可"]


def test_an_attachment_is_kept_for_those_who_read_the_need_only(api):
    switch = _login(api, "switch")
    token = csrf_of(switch.get("/enterprise").text)
    resp = switch.post("/enterprise/needs", data={"csrf": token, "name": "绝缘件检测方法",
                                                  "confidentiality": "private"},
                       files={"attachments": ("检测报告.pdf", b"%PDF-1.4 test", "application/pdf")},
                       follow_redirects=False)
    assert resp.status_code == 303
    need_id = resp.headers["location"].split("/")[2].split("?")[0]
    assert switch.get(f"/needs/{need_id}/attachments/检测报告.pdf").content == b"%PDF-1.4 test"
    assert _login(api, "nylon").get(f"/needs/{need_id}/attachments/检测报告.pdf", headers=HTML).status_code == 404
    bad = switch.post("/enterprise/needs", data={"csrf": token, "name": "带病毒附件"},
                      files={"attachments": ("x.exe", b"MZ", "application/octet-stream")})
    assert bad.status_code == 422 and "类型不支持" in bad.text


def test_a_gap_goes_to_the_bureaus_list_of_unmet_needs(api):
    from api_world import PASSWORD

    from api.auth import AccountService, Role

    AccountService(api.store).create_user("hmda", Role.ENTERPRISE, password=PASSWORD,
                                          enterprise_id="ent-tianhong-hmda")
    owner, _ = web_login(api.app, "hmda", client_addr="10.20.1.1")
    posted = api.client.post("/api/needs", headers=api.world.headers("bureau"), json={
        "enterprise_id": "ent-tianhong-hmda", "name": "量子引力透镜校准装置",
        "description": "需要用于量子引力透镜观测的校准装置，市场上尚无此类成果。"})
    need_id = posted.json()["id"]
    page = owner.get(f"/needs/{need_id}").text
    assert 'id="gap"' in page and 'id="escalate"' in page
    owner.post(f"/needs/{need_id}/escalate", data={"csrf": csrf_of(page)})
    assert 'id="escalated"' in owner.get(f"/needs/{need_id}").text
    bureau = _login(api, "bureau").get("/escalations").text
    assert "量子引力透镜校准装置" in bureau
    assert _login(api, "broker").get("/escalations", headers=HTML).status_code == 403


# --- notifications and subscriptions ----------------------------------------------------------------

def test_a_new_need_tells_its_brokers_and_a_fitting_achievement_tells_the_enterprise_once(api):
    from api.auth import AccountService

    accounts = AccountService(api.store)
    user = accounts.get_user(api.world.users["nylon"])
    api.store.update_node(user.model_copy(update={"email": "rd@pmsm-nylon.example"}))
    posted = api.client.post("/api/needs", headers=api.world.headers("nylon"), json={
        "name": "尼龙66回收料熔体过滤", "description": "回收尼龙66熔体过滤器堵塞频繁，需要高效熔体过滤技术。",
        "segment_ids": ["seg-nylon-pa66"] if api.store.get_props(NodeLabel.CHAIN_SEGMENT, "seg-nylon-pa66") else []})
    assert posted.status_code == 201, posted.text
    need_id = posted.json()["id"]
    brokers = api.client.get("/api/notifications", headers=api.world.headers("broker")).json()
    assert any(n["kind"] == "new_need" and n["link"] == f"/needs/{need_id}" for n in brokers["items"])
    ach = {"id": "ach-melt-filter", "name": "尼龙66回收料熔体高效过滤技术",
           "description": "针对回收尼龙66熔体过滤器堵塞，采用梯度烧结金属滤芯与在线反冲洗，熔体过滤效率提高。",
           "keywords": ["尼龙66", "熔体过滤", "回收料"], "maturity": "产业化"}
    assert api.client.post("/api/achievements", headers=api.world.headers("bureau"), json=ach).status_code == 201
    assert api.app.state.jobs.wait_idle(120)
    inbox = api.client.get("/api/notifications", headers=api.world.headers("nylon")).json()
    fits = [n for n in inbox["items"] if n["kind"] == "new_fit" and "ach-melt-filter" in n["link"]]
    assert len(fits) == 1 and need_id in fits[0]["link"]
    api.client.put("/api/achievements/ach-melt-filter", headers=api.world.headers("bureau"),
                   json={**ach, "description": ach["description"] + "已在三家企业应用。"})
    assert api.app.state.jobs.wait_idle(120)
    again = api.client.get("/api/notifications", headers=api.world.headers("nylon")).json()
    assert len([n for n in again["items"] if n["kind"] == "new_fit" and "ach-melt-filter" in n["link"]]) == 1
    queued = api.store.read("MATCH (m:OutboxMessage {to: 'rd@pmsm-nylon.example'}) RETURN m.status AS s")
    assert queued and all(r["s"] == "pending" for r in queued)
    page = _login(api, "nylon").get("/inbox").text
    assert "新成果可能满足需求" in page and 'id="unread"' in page


def test_the_outbox_is_delivered_by_an_adapter_and_failures_are_retried(api):
    from api.notifications import LoggingSender, deliver_outbox

    class Down:
        def send(self, message):  # noqa: ANN001, ANN202
            raise ConnectionError("smtp relay down")

    pending = api.store.read("MATCH (m:OutboxMessage) WHERE m.status = 'pending' RETURN count(m) AS c")[0]["c"]
    if not pending:
        pytest.skip("no message queued by the tests before")
    failed = deliver_outbox(api.store, Down())
    assert failed["failed"] == pending and failed["sent"] == 0
    sent = deliver_outbox(api.store, LoggingSender())
    assert sent["sent"] == pending
    assert api.store.read("MATCH (m:OutboxMessage) WHERE m.status <> 'sent' RETURN count(m) AS c")[0]["c"] == 0


def test_saved_searches_and_segment_subscriptions_announce_new_achievements(api):
    broker = api.world.headers("broker")
    assert api.client.post("/api/subscriptions", headers=broker, json={"kind": "search",
                                                                       "query": "石墨负极 包覆"}).status_code == 201
    seg = api.store.read("MATCH (s:ChainSegment) RETURN s.id AS id ORDER BY s.id LIMIT 1")[0]["id"]
    assert api.client.post("/api/subscriptions", headers=broker, json={"kind": "segment",
                                                                       "segment_id": seg}).status_code == 201
    assert api.client.post("/api/subscriptions", headers=broker, json={"kind": "segment",
                                                                       "segment_id": "seg-none"}).status_code == 422
    ach = {"id": "ach-graphite-coat", "name": "锂电池石墨负极沥青包覆改性技术",
           "description": "石墨负极材料沥青包覆改性，提高首次效率与循环寿命。", "keywords": ["石墨负极", "包覆"]}
    assert api.client.post("/api/achievements", headers=api.world.headers("bureau"), json=ach).status_code == 201
    api.store.write_batch([], [__import__("api_world").rel(
        __import__("graph.model", fromlist=["RelType"]).RelType.IN_SEGMENT, NodeLabel.ACHIEVEMENT,
        "ach-graphite-coat", NodeLabel.CHAIN_SEGMENT, seg)])
    api.app.state.upkeep.after_achievements([api.store.get_node(NodeLabel.ACHIEVEMENT, "ach-graphite-coat")])
    assert api.app.state.jobs.wait_idle(120)
    kinds = {n["kind"] for n in api.client.get("/api/notifications", headers=broker).json()["items"]
             if "ach-graphite-coat" in n["link"]}
    assert kinds == {"saved_search", "segment"}


def test_a_segment_subscription_never_announces_a_need_the_subscriber_may_not_read(api):
    from api.notifications import Notifier

    seg = api.store.read("MATCH (:Need {id: 'need-02'})-[:IN_SEGMENT]->(s) RETURN s.id AS id")[0]["id"]
    api.client.post("/api/subscriptions", headers=api.world.headers("nylon"), json={"kind": "segment",
                                                                                    "segment_id": seg})
    need = api.store.get_node(NodeLabel.NEED, "need-02")
    assert Notifier(api.store).new_need_in_segments(need, {seg}) == 0, "need-02 is private to the switch maker"


# --- uploads in the browser ------------------------------------------------------------------------

def test_a_browser_upload_runs_in_the_background_and_keeps_its_reject_file(api):
    broker = _login(api, "broker")
    page = broker.get("/upload").text
    assert "科技成果模板" in page and "企业模板" not in page, "a broker uploads what the role table lets it"
    template = broker.get("/upload/templates/achievement.xlsx")
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(template.content))
    assert "成果名称" in [c.value for c in wb.worksheets[0][1]] and wb.sheetnames[1] == "填写说明"
    csv = "成果名称,成果简介,成熟度\n上传的尼龙回收技术,回收尼龙再生造粒,产业化\n,没有名称的一行,中试\n"
    resp = broker.post("/upload", data={"csrf": csrf_of(page), "entity": "achievement"},
                       files={"file": ("成果.csv", io.BytesIO(csv.encode()), "text/csv")}, follow_redirects=False)
    assert resp.status_code == 303
    job_url = resp.headers["location"]
    assert api.app.state.jobs.wait_idle(120)
    job = broker.get(job_url).text
    assert "加载完成" in job and "被拒绝 1" in job and 'id="download-rejects"' in job
    rejects = broker.get(job_url + "/rejects")
    assert rejects.status_code == 200 and "没有名称的一行" in rejects.content.decode("utf-8-sig")
    assert _login(api, "nylon").get(job_url, headers=HTML).status_code == 404
    assert api.store.list_props(NodeLabel.ACHIEVEMENT, text="上传的尼龙回收技术")[0]["curator_id"] == "brk-01"
