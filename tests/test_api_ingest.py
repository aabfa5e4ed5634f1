"""Uploading a file through the API: a load report back, bad rows named, limits and roles enforced."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_world import Api, build_world, make_api
from fastapi.testclient import TestClient

pytestmark = pytest.mark.all_backends

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


def _xlsx(*sheets: tuple[str, list[list]]) -> bytes:
    import io

    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for title, rows in sheets:
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_an_uploaded_workbook_finds_its_sheet_header_and_entity_or_is_told_them(api):
    h = api.world.headers("bureau")
    book = _xlsx(("填写说明", [["企业名称：必填"], ["规模：大型/中型/小型/微型"]]),
                 ("企业名录", [["2024年企业名录"], ["企业名称", "统一社会信用代码", "企业规模"],
                               ["平顶山市表格科技有限公司", "", "小型"]]))
    resp = api.client.post("/api/ingest", headers=h, files={"file": ("名录.xlsx", book, "application/octet-stream")})
    assert resp.status_code == 200, resp.text
    report = resp.json()
    assert (report["entity"], report["sheet"], report["header_row"]) == ("enterprise", "企业名录", 2)
    assert report["created"] == 1
    notes = " ".join(report["notes"])
    assert "跳过了说明页“填写说明”" in notes and "表头在第 2 行" in notes
    told = api.client.post("/api/ingest", headers=h, data={"sheet": "2", "header_row": "2"},
                           files={"file": ("名录.xlsx", book, "application/octet-stream")})
    assert told.status_code == 200 and told.json()["unchanged"] == 1
    wrong = api.client.post("/api/ingest", headers=h, data={"sheet": "数据"},
                            files={"file": ("名录.xlsx", book, "application/octet-stream")})
    assert wrong.status_code == 422 and wrong.json()["field"] == "sheet"
    assert "没有名为“数据”的工作表" in wrong.json()["detail"] and "/tmp" not in wrong.text
    assert str(api.app.state.settings.data_dir) not in wrong.text
