"""Uploading a file through the API: a load report back, bad rows named, limits and roles enforced."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_world import Api, build_world, make_api
from fastapi.testclient import TestClient

CSV = (
    "企业名称,统一社会信用代码,企业规模\n"
    "平顶山市新材料科技有限公司,,小型\n"
    "平顶山市坏代码有限公司,NOT-A-CODE,中型\n"
).encode()


@pytest.fixture()
def api(store, tmp_path) -> Iterator[Api]:
    world = build_world(store)
    app = make_api(store, tmp_path, engine=None)
    with TestClient(app) as client:
        yield Api(client, world, store, app)


def test_upload_returns_a_load_report_naming_the_bad_row(api):
    resp = api.client.post("/api/ingest", headers=api.world.headers("bureau"),
                           files={"file": ("企业.csv", CSV, "text/csv")}, data={"entity": "enterprise"})
    assert resp.status_code == 200, resp.text
    report = resp.json()
    assert report["rows_read"] == 2 and report["created"] == 1 and report["rejected"] == 1
    assert any("credit_code" in e or "信用代码" in e for e in report["errors"])
    names = [e["name"] for e in api.client.get("/api/enterprises", headers=api.world.headers("bureau"),
                                                params={"q": "新材料"}).json()["items"]]
    assert names == ["平顶山市新材料科技有限公司"]
    assert "/tmp" not in report["summary"] and str(api.app.state.settings.data_dir) not in report["summary"]


def test_upload_refuses_other_types_empty_files_and_enterprise_callers(api):
    h = api.world.headers("bureau")
    exe = api.client.post("/api/ingest", headers=h, files={"file": ("x.exe", b"MZ", "application/octet-stream")})
    assert exe.status_code == 415 and exe.json()["field"] == "file"
    empty = api.client.post("/api/ingest", headers=h, files={"file": ("e.csv", b"", "text/csv")})
    assert empty.status_code == 422
    wrong_entity = api.client.post("/api/ingest", headers=h, files={"file": ("a.csv", CSV, "text/csv")},
                                   data={"entity": "spaceship"})
    assert wrong_entity.status_code == 422 and wrong_entity.json()["field"] == "entity"
    refused = api.client.post("/api/ingest", headers=api.world.headers("nylon"),
                              files={"file": ("a.csv", CSV, "text/csv")})
    assert refused.status_code == 403


def test_upload_over_the_limit_is_refused_before_loading(api):
    api.app.state.settings.max_upload_mb = 1  # the middleware read the limit at start-up; the route checks too
    big = b"\xe4\xbc\x81\xe4\xb8\x9a\xe5\x90\x8d\xe7\xa7\xb0\n" + b"a" * (21 * 1024 * 1024)
    resp = api.client.post("/api/ingest", headers=api.world.headers("bureau"),
                           files={"file": ("big.csv", big, "text/csv")})
    assert resp.status_code == 413
    assert api.store.count_by_label().get("Enterprise") == 2
