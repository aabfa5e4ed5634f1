"""Upload a file (CSV, TSV, JSON Lines or Excel) of achievements, needs, enterprises, talents, institutions
or platforms; the loader validates every row and the answer is its load report (rows rejected with the
reason, organisations merged). The upload is kept only while it is loaded, under the data directory.

Each row is held to the role table like the single-entity routes (:class:`api.policy.UploadRowPolicy`);
reading is bounded in rows, cells and time (:class:`ingest.readers.ReadLimits`)."""

from __future__ import annotations

import shutil
import tempfile
from enum import StrEnum
from pathlib import Path

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from pydantic import BaseModel

from api.auth import Principal, require_roles
from api.deps import Audit, Store
from api.errors import ERROR_RESPONSES, ApiError
from api.observability import INGEST_ROWS
from api.policy import UPLOAD_RESOURCE, Act, Resource, UploadRowPolicy, roles_for
from api.services.uploads import chain_placer, display_name
from graph.exceptions import ValidationError
from graph.files import private_dir
from ingest.classify import ChainPlacer
from ingest.loader import ingest_file
from ingest.mapping import ENTITY_TYPES, guess_entity
from ingest.readers import ReadLimits, open_table

router = APIRouter(prefix="/api/ingest", tags=["ingest"], responses=ERROR_RESPONSES)
SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson", ".xlsx")
# mypy reads an enum's members only from a literal list; these are the mappings ingest ships
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
    sheet: str | None = None
    header_row: int = 1
    merged_filled: list[str] = []
    merged_cells_filled: int = 0
    control_chars_removed: int = 0
    notes: list[str] = []


@router.post("", response_model=LoadReport, summary="Upload a file and load it (bureau, broker)")
def upload(
    request: Request,
    file: UploadFile = File(..., description="CSV/TSV/JSONL/XLSX, at most the server's max_upload_mb"),
    entity: EntityType | None = Form(None, description="what the rows are; guessed from the headers if empty"),
    sheet: str | None = Form(None, max_length=100, description="an .xlsx's sheet, by name or number from 1; "
                             "found if empty (instruction sheets such as 填写说明 skipped)"),
    header_row: int | None = Form(None, ge=1, le=1000, description="the row of an .xlsx sheet that holds the "
                                  "header; found if empty (title rows above it skipped)"),
    *, store: Store,
    audit: Audit,
    principal: Principal = Depends(require_roles(*roles_for(Resource.UPLOAD, Act.CREATE))),
) -> LoadReport:
    settings = request.app.state.settings
    name = display_name(file.filename)
    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIXES:
        raise ApiError(415, f"{name}: 只能上传 {'、'.join(SUFFIXES)} 文件", "file")
    policy = UploadRowPolicy(principal)
    if entity is not None and not policy.may_upload(entity.value):
        raise ApiError(403, f"你无权上传{UPLOAD_RESOURCE[entity.value].value}", "entity")
    limit = settings.max_upload_mb * 1024 * 1024
    limits = ReadLimits(max_rows=settings.max_upload_rows, max_seconds=settings.max_upload_seconds)
    workdir = Path(tempfile.mkdtemp(dir=private_dir(settings.data_dir / "uploads")))
    target = workdir / f"upload{suffix}"
    try:
        # keep only a safe stem: the client's file name must not choose where we write
        with target.open("wb") as out:
            shutil.copyfileobj(file.file, out, length=1024 * 1024)
        if target.stat().st_size > limit:
            raise ApiError(413, f"文件超过 {settings.max_upload_mb} MB 的上限", "file")
        if target.stat().st_size == 0:
            raise ApiError(422, "文件是空的", "file")
        chosen = entity.value if entity else None
        if chosen is None:
            # the same reading as the load's (sheet and header row found or given), so xlsx is guessed like csv
            chosen = guess_entity(target, open_table(target, limits=limits, sheet=sheet, header_row=header_row).headers)
            if not policy.may_upload(chosen):
                raise ApiError(403, f"你无权上传{UPLOAD_RESOURCE[chosen].value}", "entity")
        report = ingest_file(store, target, entity=chosen, rejects_dir=workdir,
                             placer=_placer(request), progress=False, limits=limits, row_policy=policy,
                             source_name=name, sheet=sheet, header_row=header_row)
    except UnicodeDecodeError as exc:
        raise ApiError(422, f"{name}: 无法识别文件编码（{exc.reason}）", "file") from exc
    except ValidationError as exc:
        # whole-file problems name the file by the client's name, never by where it sat on this server
        raise ApiError(422, str(exc).replace(str(target), name).replace(str(workdir), ""), exc.field or "file") from exc
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    audit.record(principal, "ingest", "", name, report.summary())
    if report.created or report.updated:
        request.app.state.upkeep.after_load()
    for outcome in ("created", "updated", "unchanged", "rejected"):
        INGEST_ROWS.labels(outcome).inc(getattr(report, outcome))
    data = report.as_dict()
    return LoadReport(
        **{k: data[k] for k in LoadReport.model_fields if k in data and k not in {"errors", "source", "summary"}},
        source=name,
        errors=data["errors"][:MAX_ERRORS_SHOWN],
        summary=report.summary(),
    )


def _placer(request: Request) -> ChainPlacer:
    return chain_placer(request.app.state)
