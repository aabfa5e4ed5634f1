"""Roles and confidentiality through the HTTP API: who may call what, who sees which need and how, and
that every view of a non-public need lands in the audit log. Every route of the app is enumerated."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from api_world import Api, serve_world

from api.app import iter_routes
from graph.model import NodeLabel

pytestmark = pytest.mark.all_backends

#: routes anyone may open: docs, static files, the login page (pages redirect to it), and the probes an
#: orchestrator and Prometheus call (docs/operations.md)
PUBLIC = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/login", "/static", "/healthz", "/readyz",
          "/metrics"}


@pytest.fixture(scope="module")
def api(_session_store, tmp_path_factory) -> Iterator[Api]:
    yield from serve_world(_session_store, tmp_path_factory.mktemp("svc"))


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x-unknown", path)


def test_every_protected_route_refuses_anonymous_callers(api):
    checked = 0
    for path, methods, _ in iter_routes(api.app):
        if path in PUBLIC or path.startswith("/static"):
            continue
        for method in sorted(methods - {"HEAD", "OPTIONS"}):
            resp = api.client.request(method, _concrete(path), follow_redirects=False)
            if path.startswith("/api"):
                assert resp.status_code == 401, f"{method} {path} answered {resp.status_code} without a key"
                assert resp.json()["error"] == "unauthenticated"
            else:
                # web pages send a stranger to the login page; forms refuse
                assert resp.status_code in (303, 401, 403, 422), f"{method} {path}: {resp.status_code}"
                if resp.status_code == 303:
                    assert resp.headers["location"].startswith("/login")
            checked += 1
    assert checked > 40


def test_unknown_or_malformed_key_is_refused(api):
    for key in ("tm_nope_nope", "garbage", "tm__x", api.world.keys["bureau"] + "x"):
        resp = api.client.get("/api/achievements", headers={"X-API-Key": key})
        assert resp.status_code == 401
        assert resp.json()["field"] == "X-API-Key"


def test_bearer_header_works_like_x_api_key(api):
    resp = api.client.get("/api/achievements", headers={"Authorization": f"Bearer {api.world.keys['broker']}"})
    assert resp.status_code == 200


#: for each role: (method, path) pairs it must be refused with 403
FORBIDDEN = {
    "nylon": [("GET", "/api/stats"), ("GET", "/api/audit"), ("GET", "/api/admin/users"),
              ("POST", "/api/challenges"), ("DELETE", "/api/achievements/ach-stab"), ("GET", "/api/merge-records")],
    "broker": [("GET", "/api/stats"), ("GET", "/api/audit"), ("GET", "/api/admin/users"),
               ("DELETE", "/api/enterprises/ent-nylon"), ("POST", "/api/challenges")],
    "bureau": [("GET", "/api/admin/users"), ("POST", "/api/admin/users/x/keys"), ("DELETE", "/api/admin/keys/x")],
    "admin": [("GET", "/api/needs"), ("GET", "/api/stats"), ("GET", "/api/audit"), ("GET", "/api/needs/need-pub"),
              ("POST", "/api/needs"), ("GET", "/api/achievements"), ("GET", "/api/enterprises")],
}


@pytest.mark.parametrize("who", sorted(FORBIDDEN))
def test_roles_are_refused_what_is_not_theirs(api, who):
    for method, path in FORBIDDEN[who]:
        resp = api.client.request(method, path, headers=api.world.headers(who), json={})
        assert resp.status_code == 403, f"{who} {method} {path}: {resp.status_code} {resp.text[:200]}"
        assert resp.json()["error"] == "forbidden"


def _listed(api, who: str) -> dict:
    body = api.client.get("/api/needs", headers=api.world.headers(who), params={"page_size": 200}).json()
    return body


def test_private_need_is_listed_desensitised_for_other_enterprises_and_unassigned_brokers(api):
    for who in ("nylon", "broker"):
        body = _listed(api, who)
        hidden = [n for n in body["items"] if n["desensitised"]]
        assert len(hidden) == 1, who
        (item,) = hidden
        assert set(item) == {"desensitised", "ref", "confidentiality", "status", "segments", "key_terms"}
        assert item["ref"].startswith("dn-") and "need-priv" not in str(body)
        assert "平顶山某高压开关" not in str(body) and "ent-hv" not in str(body)
        assert "高压电气设备" in item["segments"]
        assert "GIS" in item["key_terms"]
        assert api.client.get("/api/needs/need-priv", headers=api.world.headers(who)).status_code == 404


def test_private_need_is_readable_by_its_enterprise_and_the_bureau(api):
    for who in ("hv", "bureau"):
        body = api.client.get("/api/needs/need-priv", headers=api.world.headers(who)).json()
        assert body["desensitised"] is False
        assert body["name"] == "GIS产品绝缘故障频发"
        assert body["enterprise_name"] == "平顶山某高压开关有限公司"


def test_brokers_only_need_is_read_by_brokers_not_by_other_enterprises(api):
    broker = api.client.get("/api/needs/need-brk", headers=api.world.headers("broker")).json()
    assert broker["desensitised"] is False and broker["name"] == "尼龙66聚合釜结焦"
    assert api.client.get("/api/needs/need-brk", headers=api.world.headers("hv")).status_code == 404
    other = _listed(api, "hv")
    assert "尼龙66聚合釜结焦" not in str(other) and "need-brk" not in str(other)


def test_list_shows_no_private_text_to_others(api):
    body = _listed(api, "nylon")
    assert "GIS产品绝缘故障频发" not in str(body)
    assert "我司GIS产品" not in str(body), "no fragment of the private text, only public vocabulary terms"
    by_id = {n.get("id"): n for n in body["items"]}
    assert by_id["need-pub"]["name"] == "尼龙66切片黄变问题"


def test_name_search_does_not_confirm_hidden_needs(api):
    for q in ("GIS", "need-priv", "绝缘"):
        body = api.client.get("/api/needs", headers=api.world.headers("nylon"), params={"q": q}).json()
        assert body["items"] == [] and body["has_more"] is False, q


def test_has_more_is_counted_after_filtering(api):
    """Renaming one's own need to a probe and reading has_more must not tell whether a hidden need matches."""
    probe = api.client.get("/api/needs", headers=api.world.headers("nylon"),
                           params={"q": "GIS产品", "page_size": 1}).json()
    assert probe == {"items": [], "page": 1, "page_size": 1, "has_more": False}
    own = api.client.get("/api/needs", headers=api.world.headers("nylon"),
                         params={"q": "尼龙66", "page_size": 1}).json()
    assert len(own["items"]) == 1 and own["has_more"] is True  # need-pub and need-brk are nylon's own


def test_enterprise_filter_does_not_tie_hidden_needs_to_their_enterprise(api):
    for who in ("nylon", "broker"):
        body = api.client.get("/api/needs", headers=api.world.headers(who),
                              params={"enterprise_id": "ent-hv"}).json()
        assert body["items"] == [] and body["has_more"] is False, who


def test_every_full_view_of_a_non_public_need_is_audited_and_desensitised_rows_are_not(api):
    api.client.get("/api/needs/need-priv", headers=api.world.headers("hv"))
    api.client.get("/api/needs/need-pub", headers=api.world.headers("broker"))
    _listed(api, "broker")  # need-priv desensitised, need-brk in full
    events = api.client.get("/api/audit", headers=api.world.headers("bureau"),
                            params={"target_id": "need-priv"}).json()["items"]
    seen = {(e["user_id"], e["detail"]) for e in events if e["action"] == "view_need"}
    assert (api.world.users["hv"], "full") in seen
    assert not any(user == api.world.users["broker"] for user, _ in seen), "desensitised rows are not logged"
    brk = api.client.get("/api/audit", headers=api.world.headers("bureau"),
                         params={"target_id": "need-brk", "user_id": api.world.users["broker"]}).json()["items"]
    assert brk and brk[0]["action"] == "view_need" and brk[0]["detail"] == "full"
    public = api.client.get("/api/audit", headers=api.world.headers("bureau"),
                            params={"target_id": "need-pub", "action": "view_need"}).json()["items"]
    assert public == []


def test_one_read_of_a_non_public_need_is_one_audit_event(api):
    def views_by_hv() -> int:
        params = {"target_id": "need-priv", "action": "view_need", "page_size": 200}
        events = api.client.get("/api/audit", headers=api.world.headers("bureau"), params=params).json()["items"]
        return sum(e["user_id"] == api.world.users["hv"] for e in events)

    before = views_by_hv()
    assert api.client.get("/api/needs/need-priv", headers=api.world.headers("hv")).status_code == 200
    assert views_by_hv() == before + 1, "the need read and then shown is one view, recorded once"


def test_enterprise_may_not_post_for_another_enterprise(api):
    resp = api.client.post("/api/needs", headers=api.world.headers("nylon"),
                           json={"name": "冒名需求", "enterprise_id": "ent-hv"})
    assert resp.status_code == 403 and resp.json()["field"] == "enterprise_id"


def test_broker_posts_only_for_assigned_enterprises(api):
    ok = api.client.post("/api/needs", headers=api.world.headers("broker"),
                         json={"name": "尼龙回收料利用", "enterprise_id": "ent-nylon"})
    refused = api.client.post("/api/needs", headers=api.world.headers("broker"),
                              json={"name": "高压测试", "enterprise_id": "ent-hv"})
    assert ok.status_code == 201 and ok.json()["enterprise_id"] == "ent-nylon"
    assert refused.status_code == 403
    api.client.delete(f"/api/needs/{ok.json()['id']}", headers=api.world.headers("broker"))


def test_reveal_identity_opens_the_private_need_to_others_and_only_the_enterprise_gives_it(api):
    hv = api.world.headers("hv")
    assert api.client.patch("/api/needs/need-priv", headers=api.world.headers("broker"),
                            json={"reveal_identity": True}).status_code == 404  # it cannot even read it
    refused = api.client.patch("/api/needs/need-priv", headers=api.world.headers("bureau"),
                               json={"reveal_identity": True})
    assert refused.status_code == 403 and "企业本身" in refused.json()["detail"]
    assert api.client.patch("/api/needs/need-priv", headers=hv, json={"reveal_identity": True}).status_code == 200
    seen = api.client.get("/api/needs/need-priv", headers=api.world.headers("nylon")).json()
    assert seen["desensitised"] is False and seen["name"] == "GIS产品绝缘故障频发"
    api.client.patch("/api/needs/need-priv", headers=hv, json={"reveal_identity": False})


def test_only_the_enterprise_lowers_a_needs_confidentiality(api):
    # the assigned broker manages need-brk but may not open it to everyone; it may make it more private
    broker = api.world.headers("broker")
    lowered = api.client.patch("/api/needs/need-brk", headers=broker, json={"confidentiality": "public"})
    assert lowered.status_code == 403 and "降低保密级别" in lowered.json()["detail"]
    assert api.store.get_props(NodeLabel.NEED, "need-brk")["confidentiality"] == "brokers"
    for who in ("bureau",):
        resp = api.client.patch("/api/needs/need-priv", headers=api.world.headers(who),
                                json={"confidentiality": "public"})
        assert resp.status_code == 403, who
    raised = api.client.patch("/api/needs/need-brk", headers=broker, json={"confidentiality": "private"})
    assert raised.status_code == 200
    owner = api.client.patch("/api/needs/need-brk", headers=api.world.headers("nylon"),
                             json={"confidentiality": "brokers"})
    assert owner.status_code == 200 and owner.json()["confidentiality"] == "brokers"


def test_admin_issues_and_revokes_keys_and_keys_are_stored_hashed(api):
    admin = api.world.headers("admin")
    user = api.client.post("/api/admin/users", headers=admin,
                           json={"name": "new-bureau", "role": "bureau", "password": "long-enough-pw"}).json()
    issued = api.client.post(f"/api/admin/users/{user['id']}/keys", headers=admin).json()
    key = issued["api_key"]
    assert api.client.get("/api/stats", headers={"X-API-Key": key}).status_code == 200
    stored = api.store.get_props(NodeLabel.API_KEY, issued["key_id"])
    assert key not in str(stored) and stored["key_hash"].startswith("scrypt$")
    assert api.client.delete(f"/api/admin/keys/{issued['key_id']}", headers=admin).status_code == 204
    assert api.client.get("/api/stats", headers={"X-API-Key": key}).status_code == 401


def _allowed_roles(route) -> frozenset | None:
    """The roles a route's require_roles dependency admits (searched through sub-dependencies)."""
    stack = [route.dependant]
    while stack:
        dep = stack.pop()
        roles = getattr(dep.call, "roles", None)
        if roles is not None:
            return roles
        stack.extend(dep.dependencies)
    return None


def test_every_api_route_refuses_each_role_it_does_not_admit(api):
    from api.auth import Role

    checked = 0
    for route in (r for r in _api_routes(api.app)):
        allowed = _allowed_roles(route)
        assert allowed is not None, f"{route.path} declares no roles"
        for role in Role:
            if role in allowed:
                continue
            who = {"enterprise": "nylon"}.get(role.value, role.value)
            for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
                resp = api.client.request(method, _concrete(route.path), headers=api.world.headers(who), json={})
                assert resp.status_code == 403, f"{who} {method} {route.path}: {resp.status_code}"
                checked += 1
    assert checked > 50


def _api_routes(app):
    for route in app.routes:
        contexts = route.effective_route_contexts() if hasattr(route, "effective_route_contexts") else [route]
        for ctx in contexts:
            if ctx.path.startswith("/api") and hasattr(ctx, "dependant"):
                yield ctx


def test_enterprise_found_through_a_private_need_is_hidden_from_those_who_may_not_read_it(api):
    from api.auth import AccountService
    from api.gate import HIDDEN_ENTERPRISE, gate_for
    from matcher.results import Match, MatchResult, Question

    result = MatchResult(question=Question.ACHIEVEMENT_ENTERPRISE, query_id="ach-gis", query_label="Achievement",
                         query_name="GIS局部放电故障诊断系统", matches=[
                             Match(candidate_id="ent-hv", label="Enterprise", name="平顶山某高压开关有限公司",
                                   score=2.0, confidence=0.6, via=["need-priv"]),
                             Match(candidate_id="ent-nylon", label="Enterprise",
                                   name="中国平煤神马集团尼龙科技有限公司", score=1.0, confidence=0.4,
                                   via=["need-pub"]),
                         ])
    accounts = AccountService(api.store)
    broker = accounts.principal(accounts.get_user(api.world.users["broker"]))
    bureau = accounts.principal(accounts.get_user(api.world.users["bureau"]))

    class _Req:
        app = api.app

    seen = gate_for(_Req(), broker).enterprise_matches(result)
    assert [m.name for m in seen.matches] == [HIDDEN_ENTERPRISE, "中国平煤神马集团尼龙科技有限公司"]
    assert "ent-hv" not in seen.model_dump_json() and "高压开关" not in seen.model_dump_json()
    assert "need-priv" not in seen.model_dump_json()
    full = gate_for(_Req(), bureau).enterprise_matches(result)
    assert [m.candidate_id for m in full.matches] == ["ent-hv", "ent-nylon"]


def test_a_caller_over_its_rate_gets_429_with_retry_after_and_other_callers_do_not(api):
    from api.auth import RequestLimiter

    saved = api.app.state.request_limiter
    api.app.state.request_limiter = RequestLimiter(per_minute=3)
    try:
        for _ in range(3):
            assert api.client.get("/api/achievements", headers=api.world.headers("broker")).status_code == 200
        resp = api.client.get("/api/achievements", headers=api.world.headers("broker"))
        assert resp.status_code == 429
        body = resp.json()
        assert body["error"] == "too_many_requests" and body["field"] == "X-API-Key"
        assert "每分钟至多 3 次" in body["detail"]
        assert 1 <= int(resp.headers["Retry-After"]) <= 61
        assert api.client.get("/api/achievements", headers=api.world.headers("bureau")).status_code == 200
    finally:
        api.app.state.request_limiter = saved


def test_rate_limiter_counts_a_moving_minute_and_zero_means_no_limit(monkeypatch):
    from api import auth

    limiter = auth.RequestLimiter(per_minute=5)
    assert all(limiter.take("k") == 0 for _ in range(5))
    wait = limiter.take("k")
    assert 0 < wait <= 60
    assert limiter.take("other") == 0
    unlimited = auth.RequestLimiter(per_minute=0)
    assert all(unlimited.take("k") == 0 for _ in range(1000))
