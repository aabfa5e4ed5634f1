"""The web workspace through HTTP as a browser would use it: login, pages per role, forms with CSRF,
confidential needs desensitised on pages, user text escaped, errors as Chinese pages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_world import PASSWORD, Api, csrf_of, serve_world, web_login
from fastapi.testclient import TestClient

pytestmark = pytest.mark.all_backends

HTML = {"accept": "text/html"}


@pytest.fixture(scope="module")
def api(_session_store, tmp_path_factory) -> Iterator[Api]:
    yield from serve_world(_session_store, tmp_path_factory.mktemp("svc"))


def login(api: Api, who: str) -> TestClient:
    client, resp = web_login(api.app, who)
    assert resp.status_code == 303, resp.text
    return client


def test_wrong_password_shows_an_error_and_sets_no_session(api):
    client, resp = web_login(api.app, "nylon", "wrong-password", client_addr="10.0.0.1")
    assert resp.status_code == 401 and "用户名或密码不正确" in resp.text
    assert "tm_session" not in client.cookies
    assert client.get("/", follow_redirects=False).headers["location"].startswith("/login")


def test_login_without_the_forms_token_is_refused(api):
    client = TestClient(api.app)
    resp = client.post("/login", data={"username": "nylon", "password": PASSWORD})
    assert resp.status_code == 403 and "登录表单已过期" in resp.text and "tm_session" not in client.cookies


def test_login_redirects_only_to_local_paths(api):
    _, resp = web_login(api.app, "nylon", next="//evil.example/x")
    assert resp.headers["location"] == "/"


def test_search_page_finds_needs_and_achievements(api):
    page = login(api, "broker").get("/", params={"q": "尼龙66"}).text
    assert "尼龙66切片黄变问题" in page and "尼龙66耐黄变热稳定剂" in page


def test_private_need_is_listed_desensitised_for_others_and_shown_in_full_to_its_enterprise(api):
    nylon = login(api, "nylon")
    listed = nylon.get("/needs").text
    assert "【脱敏需求】" in listed and "GIS产品绝缘故障频发" not in listed and "平顶山某高压开关" not in listed
    page = nylon.get("/needs/need-priv", headers=HTML)
    assert page.status_code == 404 and "GIS产品" not in page.text and "没有该需求" in page.text
    own = login(api, "hv").get("/needs/need-priv").text
    assert "GIS产品绝缘故障频发" in own and "同意公开" in own


def test_html_in_need_text_is_escaped_on_pages(api):
    evil = "<script>alert('x')</script><img src=x onerror=alert(1)>"
    need = api.client.post("/api/needs", headers=api.world.headers("nylon"),
                           json={"name": evil, "description": evil}).json()
    for page in (login(api, "nylon").get(f"/needs/{need['id']}").text, login(api, "broker").get("/needs").text):
        assert "<script>alert" not in page and "<img src=x" not in page
        assert "&lt;script&gt;" in page
    api.client.delete(f"/api/needs/{need['id']}", headers=api.world.headers("nylon"))


def test_enterprise_posts_a_need_through_the_form_only_with_a_csrf_token(api):
    client = login(api, "hv")
    form = {"name": "开关柜温升监测", "description": "需要无线测温方案", "confidentiality": "private",
            "budget_wan": "30"}
    refused = client.post("/enterprise/needs", data=form, headers=HTML, follow_redirects=False)
    assert refused.status_code == 403 and "表单已过期" in refused.text
    token = csrf_of(client.get("/enterprise").text)
    posted = client.post("/enterprise/needs", data={**form, "csrf": token}, follow_redirects=False)
    assert posted.status_code == 303
    page = client.get(posted.headers["location"]).text
    assert "开关柜温升监测" in page and "需求已发布" in page
    bad = client.post("/enterprise/needs", data={**form, "budget_wan": "很多", "csrf": token})
    assert bad.status_code == 422 and "预算「很多」不是数字" in bad.text
    # what was typed is kept: nobody types a need twice because of one bad field
    assert 'value="开关柜温升监测"' in bad.text and "需要无线测温方案" in bad.text and 'value="很多"' in bad.text
    need_id = posted.headers["location"].split("/")[2].split("?")[0]
    api.client.delete(f"/api/needs/{need_id}", headers=api.world.headers("hv"))


def test_bureau_page_is_for_the_bureau_only(api):
    page = login(api, "bureau").get("/bureau").text
    assert "科技局驾驶舱" in page and "尼龙新材料" in page and "审计日志" in page
    assert 'id="gap-map"' in page and 'href="/bureau/segments/seg-poly"' in page
    denied = login(api, "broker").get("/bureau", headers=HTML)
    assert denied.status_code == 403 and "你无权查看统计、报表与审计日志" in denied.text
    enterprise_only = login(api, "broker").get("/enterprise", headers=HTML)
    assert enterprise_only.status_code == 403


def test_reveal_form_opens_the_need_and_is_audited(api):
    hv = login(api, "hv")
    token = csrf_of(hv.get("/needs/need-priv").text)
    assert hv.post("/needs/need-priv/reveal", data={"csrf": token}, follow_redirects=False).status_code == 303
    assert "GIS产品绝缘故障频发" in login(api, "nylon").get("/needs/need-priv").text
    events = api.client.get("/api/audit", headers=api.world.headers("bureau"),
                            params={"target_id": "need-priv", "action": "reveal"}).json()["items"]
    assert len(events) == 1 and events[0]["user_id"] == api.world.users["hv"]
    api.client.patch("/api/needs/need-priv", headers=api.world.headers("hv"), json={"reveal_identity": False})


def test_achievement_page_draws_its_neighbourhood_as_inline_svg(api):
    page = login(api, "broker").get("/achievements/ach-stab").text
    assert "<svg" in page and "郑州大学" in page and "王磊" in page


def test_pages_use_no_external_assets(api):
    page = login(api, "bureau").get("/").text
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "") and "https://" not in page
    assert api.client.get("/static/app.css").status_code == 200


def test_logout_needs_the_token_and_ends_the_session_on_the_server(api):
    client = login(api, "broker")
    old_cookie = client.cookies["tm_session"]
    assert client.post("/logout", data={"csrf": "nope"}, headers=HTML).status_code == 403
    token = csrf_of(client.get("/").text)
    assert client.post("/logout", data={"csrf": token}, follow_redirects=False).status_code == 303
    assert client.get("/", follow_redirects=False).status_code == 303
    replay = TestClient(api.app, cookies={"tm_session": old_cookie})
    assert replay.get("/", follow_redirects=False).status_code == 303, "the old cookie must not work after logout"
    assert replay.get("/api/needs/need-pub").status_code == 401


def test_graph_drawing_leaves_out_bookkeeping_nodes_and_escapes_names():
    from api.graph_svg import render_subgraph
    from graph.store import GraphEdge, GraphNode

    nodes = [GraphNode("a", "Achievement", "<b>成果</b>", {}), GraphNode("f", "Feedback", "fb-secret", {}),
             GraphNode("i", "Institution", "郑州大学", {})]
    svg = str(render_subgraph(nodes, [GraphEdge("f", "a", "ABOUT"), GraphEdge("i", "a", "OWNS")], ["a"]))
    assert "fb-secret" not in svg and "<b>" not in svg and "&lt;b&gt;" in svg and "郑州大学" in svg


def test_repeated_wrong_passwords_lock_the_account_for_that_client_only(api):
    for _ in range(5):
        _, resp = web_login(api.app, "admin", "guess-guess", client_addr="10.9.9.9")
        assert resp.status_code == 401
    _, locked = web_login(api.app, "admin", PASSWORD, client_addr="10.9.9.9")
    assert locked.status_code == 429 and "密码错误次数过多" in locked.text
    # the same attacker cannot lock the admin out elsewhere, and may still try other accounts
    _, elsewhere = web_login(api.app, "admin", PASSWORD, client_addr="10.1.1.1")
    assert elsewhere.status_code == 303
    _, other = web_login(api.app, "bureau", PASSWORD, client_addr="10.9.9.9")
    assert other.status_code == 303


def test_the_session_cookie_reads_the_api_but_changes_need_a_key(api):
    client = login(api, "nylon")
    assert client.get("/api/needs/need-pub").status_code == 200
    resp = client.post("/api/needs", json={"name": "跨站伪造的需求"})
    assert resp.status_code == 401
    assert client.delete("/api/needs/need-pub").status_code == 401


def test_login_returns_to_the_page_asked_for(api):
    client = TestClient(api.app)
    first = client.get("/needs/need-pub", follow_redirects=False)
    assert first.headers["location"] == "/login?next=/needs/need-pub"
    form = client.get(first.headers["location"]).text
    assert 'action="/login?next=/needs/need-pub"' in form or 'action="/login?next=%2Fneeds%2Fneed-pub"' in form
    done = client.post("/login?next=/needs/need-pub", data={"username": "nylon", "password": PASSWORD,
                                                            "csrf": csrf_of(form)}, follow_redirects=False)
    assert done.headers["location"] == "/needs/need-pub"
