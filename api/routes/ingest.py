"""Upload a file (CSV, TSV, JSON Lines or Excel) of achievements, needs, enterprises, talents, institutions
or platforms; the loader validates every row and the answer is its load report (rows rejected with the
reason, organisations merged). The upload is kept only while it is loaded, under the data directory."""

from __future__ import annotations

import shutil
import tempfile
from enum import StrEnum
from pathlib import Path

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from pydantic import BaseModel

from api.audit import AuditLog
from api.auth import Principal, Role, require_roles
from api.deps import get_audit, get_store
from api.errors import ERROR_RESPONSES, ApiError
from graph.store import GraphStore
from ingest.classify import ChainPlacer, default_placer
from ingest.loader import ingest_file
from ingest.mapping import ENTITY_TYPES

router = APIRouter(prefix="/api/ingest", tags=["ingest"], responses=ERROR_RESPONSES)
SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson", ".xlsx")
EntityType = StrEnum("EntityType", {e.upper(): e for e in ENTITY_TYPES})  # type: ignore[misc]
MAX_ERRORS_SHOWN = 200


class LoadReport(BaseModel):
    """What the load did; ``errors`` name the row, the column and the reason."""

    source: str
    entity: str
    format: str
    rows_read: int
    created: int
    updated: int
    unchanged: int
    rejected: int
    merged: int
    empty_rows: int
    organisations_created: int
    placed: int
    seconds: float
    unknown_columns: list[str]
    errors: list[str]
    summary: str


@router.post("", response_model=LoadReport, summary="Upload a file and load it (bureau, broker)")
def upload(
    request: Request,
    file: UploadFile = File(..., description="CSV/TSV/JSONL/XLSX, at most the server's max_upload_mb"),
    entity: EntityType | None = Form(None, description="what the rows are; guessed from the headers if empty"),
    store: GraphStore = Depends(get_store),
    audit: AuditLog = Depends(get_audit),
    principal: Principal = Depends(require_roles(Role.BUREAU, Role.BROKER)),
) -> LoadReport:
    name = Path(file.filename or "upload").name
    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIXES:
        raise ApiError(415, f"{name!r}: only {', '.join(SUFFIXES)} files can be loaded", "file")
    limit = request.app.state.settings.max_upload_mb * 1024 * 1024
    uploads = request.app.state.settings.data_dir / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(dir=uploads))
    try:
        # keep only a safe stem: the client's file name must not choose where we write
        target = workdir / f"upload{suffix}"
        with target.open("wb") as out:
            shutil.copyfileobj(file.file, out, length=1024 * 1024)
        if target.stat().st_size > limit:
            raise ApiError(413, f"the file is over the limit of {limit} bytes", "file")
        if target.stat().st_size == 0:
            raise ApiError(422, "the file is empty", "file")
        report = ingest_file(store, target, entity=entity.value if entity else None, rejects_dir=workdir,
                             placer=_placer(request), progress=False)
    except UnicodeDecodeError as exc:
        raise ApiError(422, f"{name}: cannot decode the text ({exc.reason})", "file") from exc
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    audit.record(principal, "ingest", "", name, report.summary())
    data = report.as_dict()
    return LoadReport(
        **{k: data[k] for k in LoadReport.model_fields if k in data and k not in {"errors", "source", "summary"}},
        source=name,
        errors=data["errors"][:MAX_ERRORS_SHOWN],
        summary=report.summary().replace(str(target), name),
    )


def _placer(request: Request) -> ChainPlacer:
    """One chain placer per app: uploads are placed on chain segments like the ingest command's rows."""
    placer = getattr(request.app.state, "chain_placer", None)
    if placer is None:
        placer = request.app.state.chain_placer = default_placer(request.app.state.settings)
    return placer
