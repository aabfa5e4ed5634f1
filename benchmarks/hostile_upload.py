"""Hostile uploads: what a file built to exhaust the service costs before it is refused.

    python benchmarks/hostile_upload.py [--rows 1000000]

Each file goes through ``POST /api/ingest`` of a real service (embedded graph, lexical engine) as the
bureau, with the service's default upload limits. Printed per file: its size, the answer, the wall time and
the peak memory growth of the process (``ru_maxrss`` before and after, so each row is measured in a fresh
subprocess). The trial that opened issue 11 measured 588 s and 3 GB for an .xlsx of a million rows.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
    'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships'
    '+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override '
    'PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
    'spreadsheetml.worksheet+xml"/></Types>'
)
_RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
         '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
         'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
_WB = ('<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
       '2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet '
       'name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>')
_WB_RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
            '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            'relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>')


def xlsx(rows: int, declared: bool, filled: bool) -> bytes:
    """A minimal workbook of ``rows`` rows (inline strings), with or without a dimension element."""
    parts = ['<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
             'spreadsheetml/2006/main">']
    if declared:
        parts.append(f'<dimension ref="A1:B{rows}"/>')
    parts.append('<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>成果名称</t></is></c>'
                 '<c r="B1" t="inlineStr"><is><t>成果简介</t></is></c></row>')
    for r in range(2, rows + 1):
        if filled:
            parts.append(f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>成果{r}</t></is></c></row>')
        else:
            parts.append(f'<row r="{r}"/>')
    parts.append("</sheetData></worksheet>")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", _CONTENT_TYPES)
        zf.writestr("_rels/.rels", _RELS)
        zf.writestr("xl/workbook.xml", _WB)
        zf.writestr("xl/_rels/workbook.xml.rels", _WB_RELS)
        zf.writestr("xl/worksheets/sheet1.xml", "".join(parts))
    return buf.getvalue()


def bomb() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", _CONTENT_TYPES)
        zf.writestr("xl/worksheets/sheet1.xml", b" " * (1024 * 1024 * 1024))
    return buf.getvalue()


def csv_rows(rows: int) -> bytes:
    return ("成果名称,成果简介\n" + "".join(f"成果{i},简介\n" for i in range(rows))).encode("utf-8")


def run_one(kind: str, rows: int) -> dict[str, object]:
    """Upload one file in this process (called in a subprocess per kind)."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.auth import AccountService, Role
    from api.config import load_settings
    from graph.server import EmbeddedGraphServer
    from graph.store import connect

    data = {"xlsx-declared": lambda: xlsx(rows, True, True), "xlsx-undeclared-empty": lambda: xlsx(rows, False, False),
            "xlsx-undeclared-filled": lambda: xlsx(rows, False, True), "zip-bomb": bomb,
            "csv": lambda: csv_rows(rows)}[kind]()
    name = "hostile.csv" if kind == "csv" else "hostile.xlsx"
    with tempfile.TemporaryDirectory() as tmp, EmbeddedGraphServer(Path(tmp) / "g", heap_mb=512) as info:
        store = connect(info.uri, info.user, info.password, info.database)
        store.setup_schema()
        accounts = AccountService(store)
        user = accounts.create_user("bureau", Role.BUREAU)
        key, _ = accounts.issue_key(user.id)
        app = create_app(load_settings(data_dir=Path(tmp) / "svc", session_secret="b", embedder="none",
                                  api_requests_per_minute=0), store=store)
        with TestClient(app) as client:
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            started = time.perf_counter()
            resp = client.post("/api/ingest", headers={"X-API-Key": key},
                               files={"file": (name, io.BytesIO(data), "application/octet-stream")})
            seconds = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        store.close()
    body = resp.json()
    return {"file": kind, "size_mb": round(len(data) / 1024**2, 2), "status": resp.status_code,
            "answer": (body.get("detail") or body.get("summary") or "")[:70], "seconds": round(seconds, 2),
            "peak_growth_mb": round((after - before) / 1024, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.rows), ensure_ascii=False))
        return
    kinds = ["xlsx-declared", "xlsx-undeclared-empty", "xlsx-undeclared-filled", "zip-bomb", "csv"]
    print(f"| file ({args.rows:,} rows) | size (MB) | status | answer | seconds | peak memory growth (MB) |")
    print("|---|---|---|---|---|---|")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for kind in kinds:
        out = subprocess.run([sys.executable, __file__, "--one", kind, "--rows", str(args.rows)], env=env,
                             capture_output=True, text=True, check=False)
        if out.returncode != 0:
            print(f"| {kind} | | failed | {out.stderr.strip().splitlines()[-1][:80]} | | |")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"| {r['file']} | {r['size_mb']} | {r['status']} | {r['answer']} | {r['seconds']} | "
              f"{r['peak_growth_mb']} |")


if __name__ == "__main__":
    main()
