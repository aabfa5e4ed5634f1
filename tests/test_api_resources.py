"""The API's resources and its answers to bad input: CRUD, paging limits, malformed and oversized bodies,
unknown ids and injection attempts all get a clear 4xx in the one error shape and change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest
from api_world import Api, serve_world

from api.app import iter_routes

pytestmark = pytest.mark.all_backends


@pytest.fixture(scope="module")
def api(_session_store, tmp_path_factory) -> Iterator[Api]:
    yield from serve_world(_session_store, tmp_path_factory.mktemp("svc"))


def _counts(api: Api) -> tuple[dict, dict]:
    from graph.model import SERVICE_LABELS

    # the knowledge graph itself; the service's bookkeeping (audit, sessions, notifications) may grow
    nodes = {k: v for k, v in api.store.count_by_label().items() if k not in SERVICE_LABELS}
    return nodes, api.store.count_relations()


def test_bureau_creates_reads_updates_and_deletes_an_achievement(api):
    h = api.world.headers("bureau")
    body = {"id": "ach-new", "name": "尼龙回收料增韧技术", "maturity": "中试", "keywords": ["尼龙", "回收"]}
    assert api.client.post("/api/achievements", headers=h, json=body).status_code == 201
    assert api.client.post("/api/achievements", headers=h, json=body).status_code == 409
    got = api.client.get("/api/achievements/ach-new", headers=h).json()
    assert got["name"] == "尼龙回收料增韧技术" and got["maturity"] == "中试"
    body["description"] = "改性后冲击强度提高"
    updated = api.client.put("/api/achievements/ach-new", headers=h, json=body).json()
    assert updated["description"] == "改性后冲击强度提高"
    wrong = api.client.put("/api/achievements/other-id", headers=h, json=body)
    assert wrong.status_code == 422 and wrong.json()["field"] == "id"
    assert api.client.delete("/api/achievements/ach-new", headers=h).status_code == 204
    assert api.client.get("/api/achievements/ach-new", headers=h).status_code == 404


def test_list_filters_and_pages(api):
    h = api.world.headers("broker")
    first = api.client.get("/api/achievements", headers=h, params={"page_size": 2}).json()
    second = api.client.get("/api/achievements", headers=h, params={"page_size": 2, "page": 2}).json()
    assert len(first["items"]) == 2 and first["has_more"] is True
    assert {a["id"] for a in first["items"]}.isdisjoint(a["id"] for a in second["items"])
    industrial = api.client.get("/api/achievements", headers=h, params={"maturity": "产业化"}).json()["items"]
    assert {a["id"] for a in industrial} == {"ach-gis", "ach-wheat"}
    named = api.client.get("/api/achievements", headers=h, params={"q": "尼龙66"}).json()["items"]
    assert [a["id"] for a in named] == ["ach-stab"]


@pytest.mark.parametrize("size", [0, 201, 1_000_000, -5])
def test_page_size_out_of_range_is_refused(api, size):
    resp = api.client.get("/api/achievements", headers=api.world.headers("bureau"), params={"page_size": size})
    assert resp.status_code == 422
    assert resp.json()["field"] == "page_size"


def test_malformed_json_is_a_400_and_wrong_types_a_422_naming_the_field(api):
    h = {**api.world.headers("bureau"), "content-type": "application/json"}
    bad = api.client.post("/api/needs", headers=h, content=b'{"name": "x", ')
    assert bad.status_code == 400 and bad.json()["error"] == "malformed_json"
    typed = api.client.post("/api/needs", headers=h, json={"name": "x", "enterprise_id": "ent-nylon",
                                                           "budget_wan": "lots"})
    assert typed.status_code == 422 and typed.json()["field"] == "budget_wan"
    extra = api.client.post("/api/needs", headers=h, json={"name": "x", "enterprise_id": "ent-nylon", "hack": 1})
    assert extra.status_code == 422 and extra.json()["field"] == "hack"
    enum = api.client.post("/api/needs", headers=h, json={"name": "x", "enterprise_id": "ent-nylon",
                                                          "confidentiality": "secret"})
    assert enum.status_code == 422 and enum.json()["field"] == "confidentiality"


def test_oversized_body_is_refused_with_413_and_nothing_written(api):
    before = _counts(api)
    huge = {"name": "x", "enterprise_id": "ent-nylon", "description": "长" * 900_000}
    resp = api.client.post("/api/needs", headers=api.world.headers("bureau"), json=huge)
    assert resp.status_code == 413 and resp.json()["error"] == "too_large"
    too_long = api.client.post("/api/needs", headers=api.world.headers("bureau"),
                               json={"name": "x", "enterprise_id": "ent-nylon", "description": "长" * 6000})
    assert too_long.status_code == 422 and too_long.json()["field"] == "description"
    assert _counts(api) == before


def test_unknown_ids_answer_404_on_every_get_route(api):
    h = api.world.headers("bureau")
    checked = 0
    for path, methods, _ in iter_routes(api.app):
        if "GET" in methods and path.startswith("/api") and "{" in path and "admin" not in path:
            resp = api.client.get(path.replace(path[path.index("{"):path.index("}") + 1], "no-such-id"), headers=h)
            assert resp.status_code == 404, f"{path}: {resp.status_code}"
            assert resp.json()["error"] == "not_found"
            checked += 1
    assert checked >= 15


INJECTIONS = [
    "x'}) DETACH DELETE n //",
    '" OR 1=1 MATCH (n) DETACH DELETE n //',
    "}) MATCH (n) SET n.name = 'pwned' RETURN n //",
    "<script>alert('x')</script>",
    "尼龙\u0000\u202e",
]


@pytest.mark.parametrize("text", INJECTIONS)
def test_injection_in_text_fields_is_stored_verbatim_or_refused_and_changes_nothing_else(api, text):
    h = api.world.headers("bureau")
    before = _counts(api)
    for params in ({"q": text}, {"region": text}):
        resp = api.client.get("/api/enterprises", headers=h, params=params)
        assert resp.status_code in (200, 422) and (resp.status_code == 422 or resp.json()["items"] == [])
    resp = api.client.get(f"/api/needs/{quote(text, safe='')}", headers=h)
    assert resp.status_code in (404, 422)
    posted = api.client.post("/api/needs", headers=h, json={"name": text, "description": text,
                                                            "enterprise_id": "ent-nylon", "keywords": [text]})
    if posted.status_code == 201:
        need_id = posted.json()["id"]
        assert api.client.get(f"/api/needs/{need_id}", headers=h).json()["name"] == text.strip()
        api.client.delete(f"/api/needs/{need_id}", headers=h)
    else:
        assert posted.status_code == 422
    assert _counts(api) == before
    assert api.client.get("/api/enterprises/ent-nylon", headers=h).json()["name"] == "中国平煤神马集团尼龙科技有限公司"


def test_ids_with_spaces_or_too_long_are_refused(api):
    h = api.world.headers("bureau")
    for bad in ("has space", "x" * 200, ""):
        resp = api.client.post("/api/enterprises", headers=h, json={"id": bad, "name": "某企业"})
        assert resp.status_code == 422 and resp.json()["field"] == "id"


def test_need_with_unknown_segment_is_refused_whole(api):
    before = _counts(api)
    resp = api.client.post("/api/needs", headers=api.world.headers("nylon"),
                           json={"name": "新需求", "segment_ids": ["seg-poly", "seg-missing"]})
    assert resp.status_code == 422 and resp.json()["field"] == "segment_ids.1"
    assert _counts(api) == before


def test_challenges_are_bureau_work_and_drafts_stay_hidden(api):
    bureau, broker = api.world.headers("bureau"), api.world.headers("broker")
    draft = {"id": "ch-1", "name": "尼龙66黄变攻关", "statement": "解决长时保温黄变", "segment_id": "seg-poly"}
    assert api.client.post("/api/challenges", headers=bureau, json=draft).status_code == 201
    assert api.client.get("/api/challenges/ch-1", headers=broker).status_code == 404
    assert api.client.get("/api/challenges", headers=broker).json()["items"] == []
    published = {**draft, "status": "published"}
    assert api.client.put("/api/challenges/ch-1", headers=bureau, json=published).status_code == 200
    assert [c["id"] for c in api.client.get("/api/challenges", headers=broker).json()["items"]] == ["ch-1"]
    bad_seg = {**draft, "id": "ch-2", "segment_id": "nope"}
    assert api.client.post("/api/challenges", headers=bureau, json=bad_seg).json()["field"] == "segment_id"
    assert api.client.delete("/api/challenges/ch-1", headers=bureau).status_code == 204


def test_stats_count_needs_and_segments(api):
    stats = api.client.get("/api/stats", headers=api.world.headers("bureau")).json()
    assert stats["nodes"]["Need"] >= 3 and "User" not in stats["nodes"]
    assert stats["needs_by_confidentiality"]["private"] >= 1
    assert {s["id"] for s in stats["segments"]} >= {"seg-poly", "seg-hv"}


def test_openapi_documents_auth_errors_and_limits(api):
    spec = api.client.get("/openapi.json").json()
    assert "X-API-Key" in spec["info"]["description"]
    get_need = spec["paths"]["/api/needs/{need_id}"]["get"]
    assert {"401", "403", "404", "422"} <= set(get_need["responses"])
    sizes = [p for p in spec["paths"]["/api/achievements"]["get"]["parameters"] if p["name"] == "page_size"]
    assert sizes[0]["schema"]["maximum"] == 200


def test_integers_the_graph_cannot_store_are_refused(api):
    resp = api.client.post("/api/enterprises", headers=api.world.headers("bureau"),
                           json={"id": "ent-big", "name": "大数企业", "high_tech_since": 2**63})
    assert resp.status_code == 422 and resp.json()["field"] == "high_tech_since"
    assert api.client.get("/api/enterprises/ent-big", headers=api.world.headers("bureau")).status_code == 404


def test_docs_page_lists_every_operation_and_needs_no_cdn(api):
    page = api.client.get("/docs").text
    spec = api.client.get("/openapi.json").json()
    for path in spec["paths"]:
        assert f"<code>{path}</code>" in page, path
    assert "cdn" not in page.lower() and "https://" not in page


def test_bureau_exports_an_excel_report(api):
    import io

    from openpyxl import load_workbook

    resp = api.client.get("/api/stats/report.xlsx", headers=api.world.headers("bureau"))
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("application/vnd.openxml")
    book = load_workbook(io.BytesIO(resp.content))
    assert "目标进度" in book.sheetnames and len(book.sheetnames) >= 3
    assert api.client.get("/api/stats/report.xlsx", headers=api.world.headers("broker")).status_code == 403


@pytest.mark.parametrize("slug", ["achievements", "enterprises", "institutions", "talents", "platforms", "projects"])
def test_injection_in_every_text_field_of_an_entity_is_stored_verbatim(api, slug):
    from api.routes.entities import RESOURCES
    from graph.model import NODE_TYPES

    cls = NODE_TYPES[RESOURCES[slug]]
    text = INJECTIONS[0] + INJECTIONS[3]
    body: dict = {"id": f"inj-{slug}"}
    for name, field in cls.model_fields.items():
        if name in ("id", "credit_code") or not field.is_required() and field.annotation not in (str, list[str]):
            continue
        if field.annotation is str:
            body[name] = text
        elif field.annotation == list[str]:
            body[name] = [text]
    h = api.world.headers("bureau")
    before = _counts(api)
    assert api.client.post(f"/api/{slug}", headers=h, json=body).status_code == 201
    got = api.client.get(f"/api/{slug}/inj-{slug}", headers=h).json()
    assert all(got[k] == v for k, v in body.items()), got
    assert api.client.delete(f"/api/{slug}/inj-{slug}", headers=h).status_code == 204
    assert _counts(api) == before
