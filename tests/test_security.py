"""One test per finding of the hostile-user trial (issue 11) that the canary crawl does not already prove
by itself: writes held to the role table (single routes and upload rows alike), authentication under abuse,
HTTP hardening, secrets and files at rest, hostile files and formula cells."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import zipfile
from collections.abc import Iterator

import pytest
from api_world import PASSWORD, Api, build_world, csrf_of, make_api, rel, web_login
from fastapi.testclient import TestClient

from api.policy import ROLE_TABLE, role_table_markdown
from graph.model import Achievement, NodeLabel, RelType

HTML = {"accept": "text/html"}


@pytest.fixture(scope="module")
def api(_session_store, tmp_path_factory) -> Iterator[Api]:
    _session_store.clear()
    world = build_world(_session_store)
    L, R = NodeLabel, RelType
    _session_store.write_batch([
        Achievement(id="ach-mine", name="经纪人录入的成果", description="尼龙回收", curator_id="broker-li"),
    ], [
        # the achievement drawn on hv's match page sits next to nylon's brokers-only need
        rel(R.SOLVES, L.ACHIEVEMENT, "ach-gis", L.NEED, "need-brk"),
    ])
    app = make_api(_session_store, tmp_path_factory.mktemp("sec"))
    with TestClient(app) as client:
        yield Api(client, world, _session_store, app)
    _session_store.clear()


# --- visibility findings ------------------------------------------------------------------------

def test_match_drawing_leaves_out_another_enterprises_hidden_need(api):
    client, _ = web_login(api.app, "hv")
    page = client.get("/needs/need-priv/matches/ach-gis")
    assert page.status_code == 200, page.text[:300]
    assert "<svg" in page.text and "GIS局部放电故障诊断系统" in page.text
    assert "尼龙66聚合釜结焦" not in page.text and "need-brk" not in page.text
    # nylon's own broker reads need-brk, so the same achievement page draws it for the broker
    broker, _ = web_login(api.app, "broker")
    assert "尼龙66聚合釜结焦"[:6] in broker.get("/achievements/ach-gis").text


def test_desensitised_terms_never_carry_a_product_model_or_customer_from_the_text(api):
    h = api.world.headers("hv")
    posted = api.client.post("/api/needs", headers=h, json={
        "name": "XK-7700型开关柜绝缘件开裂", "confidentiality": "private",
        "description": "客户华北电网反映我司XK-7700型GIS绝缘件开裂，需要环氧浇注工艺改进。"})
    assert posted.status_code == 201, posted.text
    seen = api.client.get("/api/needs", headers=api.world.headers("nylon"), params={"page_size": 200}).json()
    hidden = [n for n in seen["items"] if n["desensitised"]]
    text = str(hidden)
    assert "XK-7700" not in text and "华北电网" not in text and "环氧浇注工艺改进" not in text
    assert any("GIS" in n["key_terms"] for n in hidden)
    api.client.delete(f"/api/needs/{posted.json()['id']}", headers=h)


# --- writes under the role table ------------------------------------------------------------------

def test_broker_changes_only_achievements_it_entered(api):
    h = api.world.headers("broker")
    other = api.client.get("/api/achievements/ach-stab", headers=h).json()
    assert api.client.put("/api/achievements/ach-stab", headers=h, json={**other, "name": "改名"}).status_code == 403
    assert api.client.delete("/api/achievements/ach-stab", headers=h).status_code == 403
    mine = api.client.get("/api/achievements/ach-mine", headers=h).json()
    assert api.client.put("/api/achievements/ach-mine", headers=h, json={**mine, "name": "新名"}).status_code == 200
    created = api.client.post("/api/achievements", headers=h, json={"id": "ach-new-b", "name": "新成果",
                                                                    "curator_id": "someone-else"})
    assert created.status_code == 201 and created.json()["curator_id"] == "broker-li"
    assert api.client.delete("/api/achievements/ach-new-b", headers=h).status_code == 204


def test_verdicts_on_an_achievements_enterprises_only_for_those_one_acts_for(api):
    h = api.world.headers("broker")
    body = {"question": "achievement_enterprise", "query_id": "ach-gis", "verdict": "accept"}
    engine_needed = api.client.post("/api/feedback", headers=h, json={**body, "candidate_id": "ent-hv"})
    assert engine_needed.status_code == 403
    ok = api.client.post("/api/feedback", headers=h, json={**body, "candidate_id": "ent-nylon"})
    assert ok.status_code == 201, ok.text
    listed = api.client.get("/api/feedback", headers=api.world.headers("broker"),
                            params={"query_id": "ach-gis", "question": "achievement_enterprise"}).json()
    assert {f["candidate_id"] for f in listed} == {"ent-nylon"}


def test_keywords_are_bounded(api):
    resp = api.client.post("/api/needs", headers=api.world.headers("nylon"),
                           json={"name": "关键词过长", "keywords": ["长" * 41]})
    assert resp.status_code == 422 and resp.json()["field"].startswith("keywords")


def _csv(text: str) -> dict:
    return {"file": ("needs.csv", io.BytesIO(text.encode("utf-8")), "text/csv")}


def test_upload_rows_are_held_to_the_same_rules_as_the_routes(api):
    broker = api.world.headers("broker")
    before = api.store.get_props(NodeLabel.NEED, "need-priv")
    rows = ("id,需求名称,需求描述,企业名称,保密级别\n"
            "need-priv,改写的需求,改写,平顶山某高压开关有限公司,公开\n"  # overwrite hv's private need
            "need-x1,冒名需求,冒名,平顶山某高压开关有限公司,公开\n"  # post for an enterprise it does not serve
            "need-x2,新公司的需求,新,某新注册公司有限公司,公开\n"  # create an enterprise on the way
            "need-ok,尼龙回收料利用,回收,中国平煤神马集团尼龙科技有限公司,公开\n")  # its own enterprise: fine
    resp = api.client.post("/api/ingest", headers=broker, files=_csv(rows), data={"entity": "need"})
    assert resp.status_code == 200, resp.text
    report = resp.json()
    assert report["rejected"] == 3 and report["created"] == 1, report
    assert api.store.get_props(NodeLabel.NEED, "need-priv") == before
    assert api.store.get_props(NodeLabel.NEED, "need-x1") is None
    assert api.store.get_props(NodeLabel.NEED, "need-ok")["enterprise_id"] == "ent-nylon"
    assert not api.store.list_props(NodeLabel.ENTERPRISE, text="某新注册公司")
    profile = api.client.post("/api/ingest", headers=broker, data={"entity": "enterprise"}, files={
        "file": ("e.csv", io.BytesIO("企业名称,企业简介\n平顶山某高压开关有限公司,改写\n".encode()), "text/csv")})
    assert profile.status_code == 403
    guessed = api.client.post("/api/ingest", headers=broker, files={
        "file": ("e.csv", io.BytesIO("企业名称,统一社会信用代码,企业规模\n某公司,,小型\n".encode()), "text/csv")})
    assert guessed.status_code == 403
    # even the bureau may not make a private need public through a file: only its enterprise may
    bureau = api.client.post("/api/ingest", headers=api.world.headers("bureau"), data={"entity": "need"},
                             files=_csv("id,需求名称,需求描述,企业名称,保密级别\n"
                                        "need-priv,GIS产品绝缘故障频发,同上,平顶山某高压开关有限公司,公开\n"))
    assert bureau.json()["rejected"] == 1 and "降低保密级别" in bureau.json()["errors"][0]
    assert api.store.get_props(NodeLabel.NEED, "need-priv")["confidentiality"] == "private"
    api.store.delete_node(NodeLabel.NEED, "need-ok")


def test_uploaded_records_name_the_file_not_the_servers_path(api):
    rows = "成果名称,成果简介\n上传的成果,一种尼龙改性方法\n"
    resp = api.client.post("/api/ingest", headers=api.world.headers("broker"), data={"entity": "achievement"},
                           files={"file": ("../../etc/成果.csv", io.BytesIO(rows.encode()), "text/csv")})
    assert resp.status_code == 200, resp.text
    stored = api.store.list_props(NodeLabel.ACHIEVEMENT, text="上传的成果")[0]
    assert stored["prov_source"] == "成果.csv" and stored["curator_id"] == "broker-li"
    broken = api.client.post("/api/ingest", headers=api.world.headers("bureau"),
                             files={"file": ("坏.xlsx", io.BytesIO(b"not a zip"), "application/octet-stream")})
    assert broken.status_code == 422 and "坏.xlsx" in broken.json()["detail"]
    assert str(api.app.state.settings.data_dir) not in broken.text and "/tmp" not in broken.text


def test_an_upload_over_the_row_limit_gets_a_clear_error_and_nothing_is_written(api):
    from openpyxl import Workbook

    api.app.state.settings.max_upload_rows = 50
    try:
        wb = Workbook()
        ws = wb.active
        ws.append(["成果名称", "成果简介"])
        for i in range(80):
            ws.append([f"批量成果{i}", "简介"])
        buf = io.BytesIO()
        wb.save(buf)
        resp = api.client.post("/api/ingest", headers=api.world.headers("bureau"),
                               files={"file": ("big.xlsx", io.BytesIO(buf.getvalue()), "application/octet-stream")})
        assert resp.status_code == 422 and "50" in resp.json()["detail"] and "上限" in resp.json()["detail"]
        assert not api.store.list_props(NodeLabel.ACHIEVEMENT, text="批量成果")
    finally:
        api.app.state.settings.max_upload_rows = 100_000


def test_a_zip_bomb_is_refused_before_it_is_unpacked(tmp_path):
    from graph.exceptions import ValidationError
    from ingest.readers import ReadLimits, open_table

    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xl/worksheets/sheet1.xml", b"<" + b" " * (8 * 1024 * 1024))
    with pytest.raises(ValidationError, match="解压后"):
        open_table(path, limits=ReadLimits(max_unpacked_bytes=1024 * 1024))


# --- authentication under abuse -------------------------------------------------------------------

def test_known_and_unknown_user_names_cost_the_same_one_scrypt(api, monkeypatch):
    calls = []
    real = hashlib.scrypt
    monkeypatch.setattr(hashlib, "scrypt", lambda *a, **k: calls.append(1) or real(*a, **k))
    accounts = api.app.state.accounts
    accounts.login("nobody-at-all", "whatever-pw")  # warms the dummy hash once per process
    calls.clear()
    assert accounts.login("nobody-at-all", "whatever-pw") is None
    unknown = len(calls)
    calls.clear()
    assert accounts.login("nylon", "wrong-password") is None
    assert unknown == len(calls) == 1


def test_a_login_flood_from_one_client_is_cut_off_before_any_password_is_checked(api):
    for i in range(20):
        web_login(api.app, f"nobody{i}", "x", client_addr="10.66.0.1")
    _, resp = web_login(api.app, "nylon", PASSWORD, client_addr="10.66.0.1")
    assert resp.status_code == 429 and "过于频繁" in resp.text
    _, other = web_login(api.app, "nylon", PASSWORD, client_addr="10.66.0.2")
    assert other.status_code == 303


def test_a_password_change_ends_every_other_session(api):
    first, _ = web_login(api.app, "hv", client_addr="10.5.0.1")
    second, _ = web_login(api.app, "hv", client_addr="10.5.0.2")
    token = csrf_of(second.get("/account").text)
    changed = second.post("/account/password", data={"current": PASSWORD, "new": "another-pass-9", "csrf": token},
                          follow_redirects=False)
    assert changed.status_code == 303
    assert first.get("/", follow_redirects=False).status_code == 303, "the other device is logged out"
    assert second.get("/", follow_redirects=False).status_code == 200, "the device that changed it stays in"
    api.app.state.accounts.set_password(api.world.users["hv"], PASSWORD)


def test_a_cross_site_login_or_form_post_is_refused(api):
    client = TestClient(api.app)
    token = csrf_of(client.get("/login").text)
    resp = client.post("/login", data={"username": "nylon", "password": PASSWORD, "csrf": token},
                       headers={"origin": "http://evil.example", **HTML})
    assert resp.status_code == 403 and "tm_session" not in client.cookies
    same = client.post("/login", data={"username": "nylon", "password": PASSWORD, "csrf": token},
                       headers={"origin": "http://testserver"}, follow_redirects=False)
    assert same.status_code == 303


def test_session_callers_share_the_rate_limit_of_key_callers(api):
    from api.auth import RequestLimiter

    client, _ = web_login(api.app, "nylon", client_addr="10.8.0.1")
    saved = api.app.state.request_limiter
    api.app.state.request_limiter = RequestLimiter(per_minute=2)
    try:
        assert client.get("/api/needs/need-pub").status_code == 200
        assert client.get("/").status_code == 200
        assert client.get("/api/needs/need-pub").status_code == 429
    finally:
        api.app.state.request_limiter = saved


def test_every_answer_carries_the_security_headers_and_nothing_personal_is_cached(api):
    page = web_login(api.app, "nylon")[0].get("/")
    for resp in (page, api.client.get("/api/needs", headers=api.world.headers("nylon")), api.client.get("/login")):
        assert "frame-ancestors 'none'" in resp.headers["content-security-policy"]
        assert "script-src 'self'" in resp.headers["content-security-policy"]
        assert resp.headers["x-frame-options"] == "DENY" and resp.headers["x-content-type-options"] == "nosniff"
        assert resp.headers["cache-control"] == "no-store"
    assert api.client.get("/static/app.css").headers.get("cache-control") != "no-store"


def test_cookies_are_secure_and_hsts_is_sent_when_served_over_https(_session_store, tmp_path):
    from api.app import create_app
    from api.config import ApiSettings

    app = create_app(ApiSettings(data_dir=tmp_path, session_secret="s", embedder="none", cookie_secure=True),
                     store=_session_store)
    with TestClient(app, base_url="https://testserver") as client:
        form = client.get("/login")
        assert "strict-transport-security" in form.headers
        assert "secure" in form.headers["set-cookie"].lower() and "httponly" in form.headers["set-cookie"].lower()


# --- files at rest and written for people --------------------------------------------------------

def test_service_secret_is_generated_once_owner_only_and_shared_by_workers(tmp_path):
    from api.app import service_secret
    from api.config import ApiSettings

    settings = ApiSettings(data_dir=tmp_path / "d")
    first = service_secret(settings)
    assert service_secret(settings) == first and len(first) >= 32
    path = tmp_path / "d" / "session-secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_formula_like_text_stays_text_in_every_spreadsheet_written(tmp_path):
    from openpyxl import load_workbook

    from bureau.export import write_csv, write_xlsx

    evil = '=HYPERLINK("http://evil.example","点此")'
    tables = {"需求": [{"名称": evil, "说明": "+cmd|' /C calc'!A0", "数": -3}]}
    ws = load_workbook(write_xlsx(tables, tmp_path / "r.xlsx")).active
    assert ws["A2"].value == evil and ws["A2"].data_type == "s" and ws["A2"].quotePrefix
    assert ws["C2"].value == -3
    (csv_path,) = write_csv(tables, tmp_path / "csv")
    text = csv_path.read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK" in text and "'+cmd" in text


def test_report_xlsx_from_the_service_keeps_a_formula_need_name_as_text(api):
    from openpyxl import load_workbook

    posted = api.client.post("/api/needs", headers=api.world.headers("nylon"),
                             json={"name": "=1+2 公式需求", "segment_ids": ["seg-poly"]})
    assert posted.status_code == 201
    resp = api.client.get("/api/stats/report.xlsx", headers=api.world.headers("bureau"))
    wb = load_workbook(io.BytesIO(resp.content))
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row
             if isinstance(c.value, str) and c.value.startswith("=")]
    assert all(c.data_type == "s" for c in cells)
    api.client.delete(f"/api/needs/{posted.json()['id']}", headers=api.world.headers("nylon"))


def test_the_graph_server_keeps_its_password_off_the_command_line_and_its_files_private(graph_server):
    cmdline = open(f"/proc/{graph_server.pid}/cmdline", "rb").read().decode(errors="replace")
    assert graph_server.password not in cmdline and "rootPasswordPath" in cmdline
    data_dir = graph_server.log_file.parents[1]
    loose = []
    for dirpath, _, files in os.walk(data_dir):
        for name in [dirpath, *(os.path.join(dirpath, f) for f in files)]:
            if stat.S_IMODE(os.lstat(name).st_mode) & 0o077:
                loose.append(name)
    assert not loose, loose[:5]


def test_the_role_table_in_the_docs_is_the_one_enforced():
    doc = (__import__("pathlib").Path(__file__).resolve().parents[1] / "docs" / "security.md").read_text("utf-8")
    assert role_table_markdown() in doc
    assert len(ROLE_TABLE) > 25
