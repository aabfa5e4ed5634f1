"""Confidentiality as an attacker would test it: distinctive canary strings are planted in a private and a
brokers-only need (name, text, keywords, ids, enterprise), then every operation of the OpenAPI document and
every web page is called, with path parameters filled from the graph's real ids and query and body fields
filled with the canaries and probes, as every principal that may not read those needs: another enterprise,
an unassigned broker, the admin and nobody. No answer may carry a canary, the enterprise behind a hidden need,
a hash of its ids, or a path on the server; and no write may change the hidden needs.

The crawl is driven by ``app.openapi()`` and the app's page routes, so a new route is crawled without
editing this file. The only answers allowed to name the canary enterprises are the public enterprise
entity endpoints (an enterprise is public; the link to its hidden need is not), and a string the request
itself carried does not count as a leak when echoed.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from api_world import PASSWORD, build_world, csrf_of, make_api, rel, web_login
from fastapi.testclient import TestClient

from api.app import route_contexts
from api.auth import AccountService, Role
from graph.model import Confidentiality, Enterprise, Need, NodeLabel, RelType

pytestmark = pytest.mark.all_backends

TAG = secrets.token_hex(3).upper()  # fresh canaries every run: nothing can be hard-wired to pass


@dataclass
class Canary:
    need_id: str
    enterprise_id: str
    markers: list[str]  # name, text, keyword, customer, enterprise name: each must never leak
    readers: set[str]  # principals (besides the owner and the bureau) that may read this need in full

    def forbidden(self) -> list[str]:
        out = [self.need_id, self.enterprise_id, *self.markers]
        for ident in (self.need_id, self.enterprise_id):
            raw = ident.encode()
            for algo in ("md5", "sha1", "sha256", "sha512", "blake2b"):
                out.append(hashlib.new(algo, raw).hexdigest()[:10])
            out.append(base64.urlsafe_b64encode(raw).decode().rstrip("="))
        return out

    def enterprise_tokens(self) -> list[str]:
        return [self.enterprise_id, self.markers[-1]]


PRIVATE = Canary(need_id=f"need-CNRYP{TAG}", enterprise_id=f"ent-CNRYE{TAG}P",
                 markers=[f"PNAME{TAG}", f"PTEXT{TAG}", f"PKW{TAG}", f"PCUST{TAG}", f"PENT{TAG}开关"],
                 readers=set())
BROKERS = Canary(need_id=f"need-CNRYB{TAG}", enterprise_id=f"ent-CNRYE{TAG}B",
                 markers=[f"BNAME{TAG}", f"BTEXT{TAG}", f"BKW{TAG}", f"BCUST{TAG}", f"BENT{TAG}尼龙"],
                 readers={"broker"})
CANARIES = (PRIVATE, BROKERS)
#: operations that list or read public enterprise entities: they may name the canary enterprises
ENTERPRISE_ENTITY_OPS = {"list_enterprises", "get_enterprises"}
PRINCIPALS = ("anonymous", "nylon", "broker", "admin")  # admin last: its writes end other users' sessions


def _plant(store) -> None:
    p, b = PRIVATE, BROKERS
    nodes: list[Any] = [
        Enterprise(id=p.enterprise_id, name=p.markers[4] + "有限公司", region="平顶山"),
        Enterprise(id=b.enterprise_id, name=b.markers[4] + "科技有限公司", region="平顶山"),
        Need(id=p.need_id, name=f"{p.markers[0]} GIS绝缘子闪络", enterprise_id=p.enterprise_id,
             description=f"{p.markers[1]}：我司 GIS 产品绝缘故障，客户 {p.markers[3]} 投诉，寻求局部放电故障诊断。",
             keywords=[p.markers[2], "GIS"], confidentiality=Confidentiality.PRIVATE),
        Need(id=b.need_id, name=f"{b.markers[0]} 尼龙66热稳定剂", enterprise_id=b.enterprise_id,
             description=f"{b.markers[1]}：尼龙66切片黄变，客户 {b.markers[3]} 退货，寻求热稳定剂配方。",
             keywords=[b.markers[2], "尼龙66"], confidentiality=Confidentiality.BROKERS),
    ]
    L, R = NodeLabel, RelType
    rels = [
        rel(R.POSTED, L.ENTERPRISE, p.enterprise_id, L.NEED, p.need_id),
        rel(R.POSTED, L.ENTERPRISE, b.enterprise_id, L.NEED, b.need_id),
        rel(R.IN_SEGMENT, L.NEED, p.need_id, L.CHAIN_SEGMENT, "seg-hv"),
        rel(R.IN_SEGMENT, L.NEED, b.need_id, L.CHAIN_SEGMENT, "seg-poly"),
        # achievements drawn next to the hidden needs: the drawings and reverse matches must not tell.
        # The canary enterprises have no other public tie (profile text, segment, deal), so that any answer
        # naming them can only have learnt it through their hidden needs.
        rel(R.SOLVES, L.ACHIEVEMENT, "ach-gis", L.NEED, p.need_id),
        rel(R.SOLVES, L.ACHIEVEMENT, "ach-stab", L.NEED, b.need_id),
    ]
    store.write_batch(nodes, rels)


@dataclass
class Crawl:
    app: Any
    store: Any
    data_dir: str
    ids: dict[str, list[str]] = field(default_factory=dict)  # label -> ids in the graph
    requests: int = 0
    leaks: list[str] = field(default_factory=list)

    def forbidden_for(self, who: str) -> list[tuple[str, bool]]:
        """(string, is an enterprise identity) pairs ``who`` must never see."""
        out: list[tuple[str, bool]] = []
        for canary in CANARIES:
            if who in canary.readers:
                continue
            ents = set(canary.enterprise_tokens())
            out += [(s, s in ents) for s in canary.forbidden()]
        out += [(self.data_dir, False), (tempfile.gettempdir() + "/", False)]
        return out

    def check(self, who: str, label: str, sent: str, body: str, op_id: str = "") -> None:
        self.requests += 1
        for token, is_enterprise in self.forbidden_for(who):
            if token in body and token not in sent:
                if is_enterprise and op_id in ENTERPRISE_ENTITY_OPS:
                    continue
                self.leaks.append(f"{who} {label}: carries {token!r}")


@pytest.fixture(scope="module")
def crawl_world(_session_store, tmp_path_factory) -> Iterator[Crawl]:
    _session_store.clear()
    world = build_world(_session_store)
    _plant(_session_store)
    data_dir = tmp_path_factory.mktemp("crawl")
    app = make_api(_session_store, data_dir)
    crawl = Crawl(app=app, store=_session_store, data_dir=str(data_dir))
    for label in NodeLabel:
        crawl.ids[label.value] = [r["id"] for r in _session_store.read(
            f"MATCH (n:{label.value}) RETURN n.id AS id ORDER BY n.id")]
    # the crawling principals' own accounts are left alone (an admin revoking its own key would end its
    # crawl); every other account is fair game
    own = {world.users[w] for w in PRINCIPALS if w in world.users}
    crawl.ids["User"] = [u for u in crawl.ids["User"] if u not in own]
    crawl.ids["ApiKey"] = [r["id"] for r in _session_store.read(
        "MATCH (k:ApiKey) WHERE NOT k.user_id IN $own RETURN k.id AS id", own=sorted(own))]
    crawl.world = world  # type: ignore[attr-defined]
    with TestClient(app):
        app.state.engine_provider()  # build the (lexical) engine once, before the crawl
        yield crawl
    _session_store.clear()


def _snapshot(store) -> dict[str, dict[str, Any]]:
    out = {}
    for canary in CANARIES:
        props = store.get_props(NodeLabel.NEED, canary.need_id) or {}
        out[canary.need_id] = {k: props.get(k) for k in ("name", "description", "confidentiality",
                                                         "reveal_identity", "enterprise_id", "keywords")}
    return out


# --- filling requests -----------------------------------------------------------------------------

#: which labels' ids a path or body parameter takes, by name
PARAM_LABELS = {
    "need_id": ["Need"], "achievement_id": ["Achievement"], "enterprise_id": ["Enterprise"],
    "challenge_id": ["Challenge"], "user_id": ["User"], "key_id": ["ApiKey"], "candidate_id": ["Achievement"],
    "query_id": ["Need", "Achievement", "Enterprise"], "target_id": ["Need"],
}
SLUG_LABELS = {"achievements": "Achievement", "enterprises": "Enterprise", "institutions": "Institution",
               "talents": "Talent", "platforms": "Platform", "chains": "IndustryChain", "segments": "ChainSegment",
               "regions": "Region", "projects": "Project", "brokers": "Broker", "policies": "Policy",
               "targets": "Target", "tasks": "Task", "departments": "Department", "merge-records": "MergeRecord"}


def _probes() -> list[str]:
    """Query strings an attacker would try: prefixes of the canaries (never a whole marker, so an echo of the
    probe is not mistaken for a leak) and the ids."""
    out = []
    for canary in CANARIES:
        out += [m[: len(m) - 2] for m in canary.markers[:3]]
    return out


def _ids_for(crawl: Crawl, name: str, path: str) -> list[str]:
    if name == "node_id":
        slug = path.split("/")[2]
        return crawl.ids.get(SLUG_LABELS.get(slug, ""), [])[:12] or ["x-unknown"]
    labels = PARAM_LABELS.get(name)
    if labels is None:
        return [PRIVATE.need_id, BROKERS.need_id, "x-unknown"]
    ids: list[str] = []
    for label in labels:
        ids += crawl.ids.get(label, [])[:12]
    return ids or ["x-unknown"]


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if s.get("type") != "null"]
        return _resolve(spec, options[0]) if options else {"type": "null"}
    if "allOf" in schema:
        return _resolve(spec, schema["allOf"][0])
    return schema


def _value(spec: dict[str, Any], name: str, schema: dict[str, Any], canary: Canary) -> Any:
    schema = _resolve(spec, schema)
    if name in ("need_id", "query_id", "target_id"):
        return canary.need_id
    if name == "id":  # a new record's id: one of the attacker's own
        return f"probe-{secrets.token_hex(3)}"
    if name in ("enterprise_id", "owner_id"):
        return canary.enterprise_id
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "string":
        if schema.get("format") == "date":
            return "2026-01-01"
        if schema.get("format") == "date-time":
            return "2026-01-01T00:00:00Z"
        return "探针probe" if name not in ("password",) else "probe-password-1"
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "object":
        return {k: _value(spec, k, v, canary) for k, v in schema.get("properties", {}).items()}
    return None


def _upload(canary: Canary) -> dict[str, Any]:
    """A need file that tries to overwrite the hidden need and make it public."""
    text = ("id,需求名称,需求描述,企业名称,保密级别\n"
            f"{canary.need_id},改写的需求,改写,{canary.markers[4]}有限公司,公开\n")
    return {"files": {"file": ("needs.csv", io.BytesIO(text.encode("utf-8")), "text/csv")},
            "data": {"entity": "need"}}


def _api_requests(crawl: Crawl, spec: dict[str, Any]) -> Iterator[tuple[str, str, str, dict[str, Any], str]]:
    """(method, url, operation id, request kwargs, what was sent) for every operation and parameter fill."""
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            params = op.get("parameters", [])
            path_names = [p["name"] for p in params if p["in"] == "path"]
            query = {}
            for p in params:
                if p["in"] != "query":
                    continue
                if p["name"] in ("q", "text"):
                    query[p["name"]] = _probes()[0]
                elif p["name"] in PARAM_LABELS:
                    query[p["name"]] = PRIVATE.need_id if p["name"] != "enterprise_id" else PRIVATE.enterprise_id
            fills: list[dict[str, str]] = [{}]
            for name in path_names:
                fills = [{**f, name: v} for f in fills for v in _ids_for(crawl, name, path)]
            body_schema = op.get("requestBody", {}).get("content", {})
            for fill in fills:
                url = path
                for name, value in fill.items():
                    url = url.replace("{" + name + "}", value)
                for canary in CANARIES:
                    kwargs: dict[str, Any] = {}
                    if "multipart/form-data" in body_schema:
                        kwargs = _upload(canary)
                    elif "application/json" in body_schema:
                        kwargs = {"json": _value(spec, "", body_schema["application/json"]["schema"], canary)}
                    for qset in ({}, query):
                        sent = url + json.dumps(qset, ensure_ascii=False) + json.dumps(
                            kwargs.get("json", {}), ensure_ascii=False) + (
                            canary.need_id + canary.markers[4] if "files" in kwargs else "")
                        if "files" in kwargs:
                            kwargs = _upload(canary)  # a file handle is read once
                        yield method.upper(), url, op.get("operationId", ""), {**kwargs, "params": qset}, sent
                    if not body_schema:
                        break  # without a body the two canaries make the same requests


def _page_requests(crawl: Crawl, app: Any) -> Iterator[tuple[str, str, dict[str, Any], str]]:
    """(method, url, form fields or query, what was sent) for every page route (not in the OpenAPI doc)."""
    for route in route_contexts(app):
        if route.include_in_schema or route.path == "/logout":
            continue
        path_names = [p.name for p in route.dependant.path_params]
        fills: list[dict[str, str]] = [{}]
        for name in path_names:
            fills = [{**f, name: v} for f in fills for v in _ids_for(crawl, name, route.path)]
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            for fill in fills:
                url = route.path
                for name, value in fill.items():
                    url = url.replace("{" + name + "}", value)
                if method == "GET":
                    query = {p.name: _probes()[0] for p in route.dependant.query_params if p.name == "q"}
                    query |= {p.name: "1" for p in route.dependant.query_params if p.name == "weak"}
                    yield method, url, {"params": query}, url + json.dumps(query, ensure_ascii=False)
                else:
                    for canary in CANARIES:
                        form = {}
                        for p in route.dependant.body_params:
                            form[p.name] = {
                                "verdict": "accept", "reason": "other", "comment": "探针", "active": "false",
                                "confidentiality": "public", "role": "bureau", "budget_wan": "1",
                                "enterprise_id": canary.enterprise_id, "name": "探针probe",
                            }.get(p.name, "probe-password-1")
                        yield method, url, {"data": form}, url + json.dumps(form, ensure_ascii=False)


def _client(crawl: Crawl, who: str) -> tuple[TestClient, dict[str, str]]:
    if who == "anonymous":
        return TestClient(crawl.app), {}
    client, resp = web_login(crawl.app, who, PASSWORD, client_addr=f"10.7.0.{PRINCIPALS.index(who)}")
    assert resp.status_code == 303, f"{who} could not log in: {resp.text[:200]}"
    return client, crawl.world.headers(who)  # type: ignore[attr-defined]


def test_the_crawl_would_notice_a_leak(crawl_world):
    """The checker itself: a canary in an answer is reported, an echoed probe or an enterprise entity is not."""
    crawl = Crawl(app=crawl_world.app, store=crawl_world.store, data_dir=crawl_world.data_dir)
    crawl.check("nylon", "GET /x", "", f'{{"name": "{PRIVATE.markers[0]} 泄露"}}')
    reversible = hashlib.sha1(PRIVATE.enterprise_id.encode()).hexdigest()[:10]
    crawl.check("nylon", "GET /y", "", '{"ref": "hidden-' + reversible + '"}')
    crawl.check("nylon", "GET /z", PRIVATE.need_id, f"没有 id 为 {PRIVATE.need_id} 的需求")
    crawl.check("nylon", "GET /e", "", PRIVATE.markers[4], op_id="list_enterprises")
    crawl.check("broker", "GET /b", "", BROKERS.markers[1])
    crawl.check("anonymous", "GET /p", "", f"error at {crawl_world.data_dir}/uploads/x.csv")
    assert {leak.split(": carries")[0] for leak in crawl.leaks} == {"nylon GET /x", "nylon GET /y",
                                                                   "anonymous GET /p"}, crawl.leaks


def test_the_canaries_are_visible_to_those_who_may_read_them(crawl_world):
    """The other side: the crawl's principals are not blind; the owner's and the bureau's views carry them."""
    accounts = AccountService(crawl_world.store)
    owner = accounts.create_user(f"owner{TAG.lower()}", Role.ENTERPRISE, password=PASSWORD,
                                 enterprise_id=PRIVATE.enterprise_id)
    key, _ = accounts.issue_key(owner.id)
    client = TestClient(crawl_world.app)
    body = client.get(f"/api/needs/{PRIVATE.need_id}", headers={"X-API-Key": key}).text
    assert PRIVATE.markers[0] in body and PRIVATE.markers[1] in body
    broker_key = crawl_world.world.keys["broker"]
    brk = client.get(f"/api/needs/{BROKERS.need_id}", headers={"X-API-Key": broker_key}).text
    assert BROKERS.markers[0] in brk
    listed = client.get("/api/needs", headers={"X-API-Key": crawl_world.world.keys["nylon"]},
                        params={"page_size": 200}).json()
    assert sum(1 for n in listed["items"] if n["desensitised"]) == 3  # both canaries and the world's need-priv
    assert re.search(r"dn-[0-9a-f]{20}", json.dumps(listed))
    crawl_world.store.delete_node(NodeLabel.USER, owner.id)  # the crawl's admin is not to list this account


def test_no_principal_who_may_not_read_a_hidden_need_learns_anything_of_it_through_any_door(crawl_world):
    crawl = crawl_world
    before = _snapshot(crawl.store)
    spec = crawl.app.openapi()
    api_ops = sum(len(m) for m in spec["paths"].values())
    pages = [r for r in route_contexts(crawl.app) if not r.include_in_schema]
    for who in PRINCIPALS:
        client, headers = _client(crawl, who)
        for method, url, op_id, kwargs, sent in _api_requests(crawl, spec):
            resp = client.request(method, url, headers=headers, **kwargs)
            assert resp.status_code < 500, f"{who} {method} {url}: {resp.status_code} {resp.text[:300]}"
            crawl.check(who, f"{method} {url}", sent, resp.text + json.dumps(dict(resp.headers)), op_id)
        for method, url, kwargs, sent in _page_requests(crawl, crawl.app):
            if method != "GET" and who != "anonymous":
                token = csrf_of(client.get("/account").text) if "/login" not in url else ""
                kwargs = {"data": {**kwargs["data"], "csrf": token}}
            resp = client.request(method, url, headers={"accept": "text/html"}, follow_redirects=False, **kwargs)
            assert resp.status_code < 500, f"{who} page {method} {url}: {resp.status_code} {resp.text[:300]}"
            crawl.check(who, f"page {method} {url}", sent, resp.text + json.dumps(dict(resp.headers)))
    assert not crawl.leaks, "\n".join(sorted(set(crawl.leaks))[:40])
    assert _snapshot(crawl.store) == before, "a hidden need was changed by someone who may not change it"
    # the crawl really covered the service: every operation, every page, as every principal
    assert api_ops > 40 and len(pages) > 10
    assert crawl.requests > 40 * len(PRINCIPALS) * 2
