"""The working day in the browser: the broker's work queue, the docking board and a docking's page, the inbox
and subscriptions, uploading files, and the bureau's list of needs submitted as unmet.

Everything a page lists is bounded by the caller's portfolio (the enterprises they act for) or paged; what
the matcher found is read from each need's standing matches (:mod:`matcher.standing`), never recomputed per
view. Rights come from the role table (:mod:`api.policy`), needs are shown through the caller's gate.
"""

from __future__ import annotations

import io
import json
import shutil
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from api.auth import Principal, Role
from api.docking import ABANDON_ZH, Contract, DockingService
from api.errors import ApiError
from api.gate import NeedGate, gate_for
from api.pages import check_csrf, login_redirect, page_principal, render
from api.policy import UPLOAD_RESOURCE, Act, Resource, Target, UploadRowPolicy, authorize, permits
from api.present import band
from api.services.catalogue import chains, names_by_id, regions, segments
from api.services.subscriptions import own_subscription, subscriptions_of
from api.services.uploads import display_name, run_upload, upload_jobs, worker_name
from api.services.workspace import QueueScope, escalated_needs, need_verdicts, queue_count, queue_needs
from graph.files import private_dir
from graph.model import (
    OPEN_DOCKING_STAGES,
    AbandonReason,
    ContactChannel,
    ContractType,
    Docking,
    DockingStage,
    Need,
    NeedStatus,
    NodeLabel,
    Subscription,
    UploadJob,
    Verdict,
)
from graph.store import GraphStore
from ingest.spreadsheet import append_row

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 20
NEW_NEED_DAYS = 14
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

CHANNEL_CHOICES = [(c.value, c.value) for c in ContactChannel]
ABANDON_CHOICES = [(r.value, ABANDON_ZH[r]) for r in AbandonReason]
CONTRACT_CHOICES = [(c.value, c.value) for c in ContractType]
STATUS_ZH = {NeedStatus.OPEN.value: "征集中", NeedStatus.MATCHED.value: "已对接", NeedStatus.CLOSED.value: "已关闭"}


def _me(request: Request) -> Principal | Response:
    me = page_principal(request)
    return me if me is not None else login_redirect(request)


def _acts_for(me: Principal) -> list[str]:
    if me.role == Role.ENTERPRISE and me.enterprise_id:
        return [me.enterprise_id]
    if me.role == Role.BROKER:
        return sorted(me.assigned)
    return []


def _names(store: GraphStore, ids: set[str]) -> dict[str, str]:
    return names_by_id(store, None, ids)


def _dockings(request: Request) -> DockingService:
    s = request.app.state
    return DockingService(s.store, s.audit, s.notifier, s.engine_if_built(), getattr(s, "upkeep", None))


# --- the broker's work queue ---------------------------------------------------------------------

def _queue_scope(me: Principal, chain: str | None, segment: str | None, county: str | None, status: str | None,
                 conf: str | None) -> QueueScope:
    return QueueScope(everything=me.role == Role.BUREAU, enterprises=_acts_for(me), chain=chain or None,
                      segment=segment or None, county=county or None, status=status or None, conf=conf or None)


def _filters(scope: QueueScope) -> dict[str, str | None]:
    """The filters as the page shows them (and puts them in its links)."""
    return {"chain": scope.chain, "segment": scope.segment, "county": scope.county, "status": scope.status,
            "conf": scope.conf}


def awaiting_review(request: Request, gate: NeedGate, needs: list[Need]) -> list[dict[str, Any]]:
    """Matches of these needs that reach the threshold and have no verdict yet, best first."""
    upkeep = request.app.state.upkeep
    standing = upkeep.standing()
    if standing is None or not needs:
        return []
    ids = [n.id for n in needs]
    standings = standing.read(ids)
    judged = need_verdicts(gate.store, ids)
    rows = []
    for need in needs:
        st = standings.get(need.id)
        if st is None:
            continue
        for ach, conf in zip(st.achievement_ids, st.confidences, strict=False):
            if conf < st.threshold or judged.get((need.id, ach)) in (Verdict.ACCEPT.value, Verdict.REJECT.value):
                continue
            rows.append({"need": need, "achievement_id": ach, "confidence": conf, "band": band(conf, st.threshold)})
    names = _names(gate.store, {r["achievement_id"] for r in rows})
    for r in rows:
        r["achievement_name"] = names.get(r["achievement_id"], r["achievement_id"])
    rows.sort(key=lambda r: -r["confidence"])
    return rows


@router.get("/queue", response_class=HTMLResponse)
def queue_page(request: Request, chain: str | None = Query(None, max_length=64),
               segment: str | None = Query(None, max_length=128), county: str | None = Query(None, max_length=40),
               status: str | None = Query(None, max_length=20), conf: str | None = Query(None, max_length=20),
               sort: str = Query("newest", max_length=20), page: int = Query(1, ge=1, le=10_000)) -> Response:
    me = _me(request)
    if isinstance(me, Response):
        return me
    authorize(me, Resource.NEED_MATCHES, Act.READ)
    if me.role not in (Role.BROKER, Role.BUREAU):
        raise ApiError(403, "工作台供技术经纪人和科技局使用")
    gate = gate_for(request, me)
    scope = _queue_scope(me, chain, segment, county, status, conf)
    filters = _filters(scope)
    store = gate.store
    needs = queue_needs(store, scope, skip=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE + 1)
    more = len(needs) > PAGE_SIZE
    needs = needs[:PAGE_SIZE]
    since = (datetime.now(UTC).date() - timedelta(days=NEW_NEED_DAYS)).isoformat()
    counts = {"needs": queue_count(store, scope), "new_needs": queue_count(store, scope, since=since)}
    awaiting = awaiting_review(request, gate, needs)
    if sort == "confidence":
        needs.sort(key=lambda n: -max((r["confidence"] for r in awaiting if r["need"].id == n.id), default=0))
    dockings = _dockings(request).board(me, stages=list(OPEN_DOCKING_STAGES), limit=50)
    counts["awaiting"] = len(awaiting)
    counts["dockings"] = len(dockings)
    views = {v.id: v for v in gate.views(needs) if not v.desensitised}
    names = _names(store, {d.need_id for d in dockings} | {d.achievement_id for d in dockings}
                   | {d.enterprise_id for d in dockings})
    query = {k: v for k, v in {**filters, "sort": sort}.items() if v}
    return render(request, "queue.html", me, needs=[views[n.id] for n in needs if n.id in views], awaiting=awaiting,
                  dockings=dockings, names=names, counts=counts, filters=filters, sort=sort, page=page, more=more,
                  chains=chains(store), segments=segments(store), regions=regions(store),
                  status_choices=STATUS_ZH, query=urlencode(query), export_query=urlencode({**query, "page": page}),
                  new_since=since)


@router.get("/queue/export.xlsx")
def queue_export(request: Request, chain: str | None = Query(None, max_length=64),
                 segment: str | None = Query(None, max_length=128), county: str | None = Query(None, max_length=40),
                 status: str | None = Query(None, max_length=20), conf: str | None = Query(None, max_length=20),
                 page: int = Query(1, ge=1, le=10_000), sort: str = Query("newest", max_length=20)) -> Response:
    """The shortlist on screen (matches awaiting review of the needs on this page) as an Excel file."""
    me = _me(request)
    if isinstance(me, Response):
        return me
    if me.role not in (Role.BROKER, Role.BUREAU):
        raise ApiError(403, "工作台供技术经纪人和科技局使用")
    from openpyxl import Workbook

    gate = gate_for(request, me)
    scope = _queue_scope(me, chain, segment, county, status, conf)
    needs = queue_needs(gate.store, scope, skip=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    gate.views(needs)  # the export shows them in full: audited like a page view
    names = _names(gate.store, {n.enterprise_id for n in needs if n.enterprise_id})
    wb = Workbook()
    ws = wb.active
    assert ws is not None  # a new workbook has its one sheet
    ws.title = "待评价的匹配"
    append_row(ws, ["需求", "企业", "成果", "匹配程度", "置信度", "需求链接"])
    for r in awaiting_review(request, gate, needs):
        need = r["need"]
        append_row(ws, [need.name, names.get(need.enterprise_id or "", ""), r["achievement_name"], r["band"].label,
                        round(r["confidence"], 3), f"/needs/{need.id}/matches/{r['achievement_id']}"])
    buf = io.BytesIO()
    wb.save(buf)
    request.app.state.audit.record(me, "export_queue", "", "", f"{ws.max_row - 1} rows")
    return Response(buf.getvalue(), media_type=XLSX,
                    headers={"Content-Disposition": "attachment; filename*=UTF-8''" + quote("待评价匹配.xlsx")})


# --- dockings -----------------------------------------------------------------------------------

@router.get("/dockings", response_class=HTMLResponse)
def docking_board(request: Request) -> Response:
    me = _me(request)
    if isinstance(me, Response):
        return me
    authorize(me, Resource.DOCKING, Act.READ)
    dockings = _dockings(request).board(me, limit=300)
    names = _names(request.app.state.store, {d.need_id for d in dockings} | {d.achievement_id for d in dockings}
                   | {d.enterprise_id for d in dockings})
    columns = [(stage, [d for d in dockings if d.stage == stage]) for stage in DockingStage]
    return render(request, "dockings.html", me, columns=columns, names=names)


def _docking_page(request: Request, me: Principal, docking: Docking, error: str | None = None,
                  form: dict[str, Any] | None = None, status_code: int = 200) -> HTMLResponse:
    service = _dockings(request)
    store = request.app.state.store
    names = _names(store, {docking.need_id, docking.achievement_id, docking.enterprise_id})
    return render(request, "docking.html", me, status_code=status_code, d=docking, events=service.events(docking),
                  names=names, stages=list(DockingStage), error=error, form=form or {},
                  can_update=permits(me, Resource.DOCKING, Act.UPDATE, Target(enterprise_id=docking.enterprise_id))
                  and docking.stage in OPEN_DOCKING_STAGES,
                  channels=CHANNEL_CHOICES, abandon_reasons=ABANDON_CHOICES, contract_types=CONTRACT_CHOICES,
                  today=datetime.now(UTC).date().isoformat())


@router.get("/dockings/{docking_id}", response_class=HTMLResponse)
def docking_page(request: Request, docking_id: str) -> Response:
    me = _me(request)
    if isinstance(me, Response):
        return me
    docking = _dockings(request).get(me, docking_id)
    request.app.state.audit.record(me, "view_docking", NodeLabel.DOCKING, docking_id)
    return _docking_page(request, me, docking)


@router.post("/dockings/{docking_id}/contact")
def docking_contact(request: Request, docking_id: str, who: str = Form("", max_length=100),
                    channel: str = Form("", max_length=20), note: str = Form("", max_length=2000),
                    csrf: str = Form("", max_length=100)) -> Response:
    me = _me(request)
    if isinstance(me, Response):
        return me
    check_csrf(request, csrf)
    service = _dockings(request)
    docking = service.get(me, docking_id)
    form = {"who": who, "channel": channel, "note": note}
    try:
        if channel not in {c.value for c in ContactChannel}:
            raise ApiError(422, "请选择联系方式", "channel")
        service.record_contact(me, docking, who, ContactChannel(channel), note)
    except ApiError as exc:
        if exc.status == 422:
            return _docking_page(request, me, docking, exc.detail, form, 422)
        raise
    return RedirectResponse(f"/dockings/{quote(docking_id)}?msg=docking", status_code=303)


@router.post("/dockings/{docking_id}/note")
def docking_note(request: Request, docking_id: str, note: str = Form("", max_length=2000),
                 advance: str = Form("", max_length=20), csrf: str = Form("", max_length=100)) -> Response:
    me = _me(request)
    if isinstance(me, Response):
        return me
    check_csrf(request, csrf)
    service = _dockings(request)
    docking = service.get(me, docking_id)
    try:
        if note.strip():
            docking = service.add_note(me, docking, note)
        if advance:
            docking = service.advance(me, docking, DockingStage(advance))
        elif not note.strip():
            raise ApiError(422, "请填写洽谈记录", "note")
    except ValueError:
        return _docking_page(request, me, docking, "无效的阶段", {"note": note}, 422)
    except ApiError as exc:
        if exc.status != 422:
            raise
        return _docking_page(request, me, docking, exc.detail, {"note": note}, 422)
    return RedirectResponse(f"/dockings/{quote(docking_id)}?msg=docking", status_code=303)


@router.post("/dockings/{docking_id}/abandon")
def docking_abandon(request: Request, docking_id: str, reason: str = Form("", max_length=20),
                    note: str = Form("", max_length=1000), csrf: str = Form("", max_length=100)) -> Response:
    me = _me(request)
    if isinstance(me, Response):
        return me
    check_csrf(request, csrf)
    service = _dockings(request)
    docking = service.get(me, docking_id)
    if reason not in {r.value for r in AbandonReason}:
        return _docking_page(request, me, docking, "请选择终止原因", {"abandon_note": note}, 422)
    try:
        service.abandon(me, docking, AbandonReason(reason), note)
    except ApiError as exc:
        if exc.status == 422:
            return _docking_page(request, me, docking, exc.detail, {"abandon_note": note}, 422)
        raise
    return RedirectResponse(f"/dockings/{quote(docking_id)}?msg=abandoned", status_code=303)


def _parse_money(text: str, label: str, required: bool) -> float | None:
    raw = text.strip().replace(",", "").replace("，", "").removesuffix("万元").removesuffix("万").strip()
    if not raw:
        if required:
            raise ApiError(422, f"请填写{label}（万元）", label)
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ApiError(422, f"{label}须为数字（万元），例如 120 或 12.5", label) from None
    if value < 0 or value != value or value > 1e8:
        raise ApiError(422, f"{label}须为不小于 0 的数字（万元）", label)
    return value


def _parse_day(text: str, label: str, required: bool) -> date | None:
    if not text.strip():
        if required:
            raise ApiError(422, f"请填写{label}", label)
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ApiError(422, f"{label}须为日期，例如 2026-11-30", label) from None


@router.post("/dockings/{docking_id}/sign")
def docking_sign(request: Request, docking_id: str, contract_type: str = Form("", max_length=20),
                 amount_wan: str = Form("", max_length=20), tech_amount_wan: str = Form("", max_length=20),
                 signed_on: str = Form("", max_length=20), contract_no: str = Form("", max_length=60),
                 registration_no: str = Form("", max_length=60), registered_on: str = Form("", max_length=20),
                 csrf: str = Form("", max_length=100)) -> Response:
    me = _me(request)
    if isinstance(me, Response):
        return me
    check_csrf(request, csrf)
    service = _dockings(request)
    docking = service.get(me, docking_id)
    form = {"contract_type": contract_type, "amount_wan": amount_wan, "tech_amount_wan": tech_amount_wan,
            "signed_on": signed_on, "contract_no": contract_no, "registration_no": registration_no,
            "registered_on": registered_on}
    try:
        if contract_type not in {c.value for c in ContractType}:
            raise ApiError(422, "请选择合同类型", "contract_type")
        contract = Contract(
            contract_type=ContractType(contract_type), amount_wan=_parse_money(amount_wan, "合同金额", True) or 0.0,
            tech_amount_wan=_parse_money(tech_amount_wan, "技术交易额", False),
            signed_on=_parse_day(signed_on, "签订日期", True) or datetime.now(UTC).date(),
            contract_no=contract_no, registration_no=registration_no,
            registered_on=_parse_day(registered_on, "登记日期", False))
        service.sign(me, docking, contract)
    except ApiError as exc:
        if exc.status == 422:
            return _docking_page(request, me, docking, exc.detail, form, 422)
        raise
    return RedirectResponse(f"/dockings/{quote(docking_id)}?msg=signed", status_code=303)


# --- inbox and subscriptions ---------------------------------------------------------------------

@router.get("/inbox", response_class=HTMLResponse)
def inbox_page(request: Request, unread: bool = False, page: int = Query(1, ge=1, le=10_000)) -> Response:
    me = _me(request)
    if isinstance(me, Response):
        return me
    authorize(me, Resource.INBOX, Act.READ)
    items = request.app.state.notifier.inbox(me, unread_only=unread, skip=(page - 1) * 50, limit=51)
    return render(request, "inbox.html", me, items=items[:50], more=len(items) > 50, page=page, only_unread=unread)


@router.post("/inbox/read")
def inbox_read(request: Request, note_id: str = Form("", max_length=64), csrf: str = Form("", max_length=100)
               ) -> Response:
    me = _me(request)
    if isinstance(me, Response):
        return me
    check_csrf(request, csrf)
    request.app.state.notifier.mark_read(me, [note_id] if note_id else None)
    return RedirectResponse("/inbox", status_code=303)


def _subscriptions(request: Request, me: Principal) -> list[Subscription]:
    return subscriptions_of(request.app.state.store, me.user_id)


@router.get("/subscriptions", response_class=HTMLResponse)
def subscriptions_page(request: Request) -> Response:
    me = _me(request)
    if isinstance(me, Response):
        return me
    authorize(me, Resource.INBOX, Act.CREATE)
    store = request.app.state.store
    subs = _subscriptions(request, me)
    names = _names(store, {s.segment_id for s in subs if s.segment_id})
    return render(request, "subscriptions.html", me, subs=subs, names=names, segments=segments(store))


@router.post("/subscriptions")
def subscribe(request: Request, kind: str = Form(..., max_length=10), query: str = Form("", max_length=200),
              segment_id: str = Form("", max_length=128), csrf: str = Form("", max_length=100)) -> Response:
    me = _me(request)
    if isinstance(me, Response):
        return me
    check_csrf(request, csrf)
    authorize(me, Resource.INBOX, Act.CREATE)
    store = request.app.state.store
    if kind == "search":
        if len(query.strip()) < 2:
            raise ApiError(422, "保存的搜索至少 2 个字", "query")
        sub = Subscription(id=f"sub-{uuid.uuid4().hex[:12]}", user_id=me.user_id, kind="search", query=query.strip(),
                           created_at=datetime.now(UTC))
    elif kind == "segment":
        if store.get_props(NodeLabel.CHAIN_SEGMENT, segment_id) is None:
            raise ApiError(422, "请选择产业链环节", "segment_id")
        sub = Subscription(id=f"sub-{uuid.uuid4().hex[:12]}", user_id=me.user_id, kind="segment",
                           segment_id=segment_id, created_at=datetime.now(UTC))
    else:
        raise ApiError(422, "未知的订阅类型", "kind")
    if len(_subscriptions(request, me)) >= 50:
        raise ApiError(422, "订阅已达 50 条上限，请先删除不用的订阅", "kind")
    store.create_node(sub)
    return RedirectResponse("/subscriptions?msg=saved", status_code=303)


@router.post("/subscriptions/{sub_id}/delete")
def unsubscribe(request: Request, sub_id: str, csrf: str = Form("", max_length=100)) -> Response:
    me = _me(request)
    if isinstance(me, Response):
        return me
    check_csrf(request, csrf)
    if own_subscription(request.app.state.store, me.user_id, sub_id) is None:
        raise ApiError(404, "没有该订阅")
    request.app.state.store.delete_node(NodeLabel.SUBSCRIPTION, sub_id)
    return RedirectResponse("/subscriptions?msg=removed", status_code=303)


# --- uploads in the browser -----------------------------------------------------------------------

UPLOAD_SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson", ".xlsx")


ENTITY_ZH = {"achievement": "科技成果", "need": "技术需求", "enterprise": "企业", "institution": "高校与科研机构",
             "talent": "人才", "platform": "创新平台"}


def _uploadable(me: Principal) -> list[tuple[str, str]]:
    policy = UploadRowPolicy(me)
    return [(e, ENTITY_ZH[e]) for e in UPLOAD_RESOURCE if policy.may_upload(e)]


def _jobs_of(request: Request, me: Principal) -> list[UploadJob]:
    return upload_jobs(request.app.state.store, me.user_id, everyone=me.role == Role.BUREAU)


@router.get("/upload", response_class=HTMLResponse)
def upload_page(request: Request) -> Response:
    me = _me(request)
    if isinstance(me, Response):
        return me
    authorize(me, Resource.UPLOAD, Act.CREATE)
    return render(request, "upload.html", me, entities=_uploadable(me), jobs=_jobs_of(request, me),
                  max_mb=request.app.state.settings.max_upload_mb, max_rows=request.app.state.settings.max_upload_rows)


@router.get("/upload/templates/{entity}.xlsx")
def upload_template(request: Request, entity: str) -> Response:
    """An Excel template with the Chinese headers the loader knows, the required ones first, and a sheet that
    explains each column (skipped by the loader: it is not the first sheet)."""
    me = _me(request)
    if isinstance(me, Response):
        return me
    authorize(me, Resource.UPLOAD, Act.CREATE)
    from openpyxl import Workbook
    from openpyxl.styles import Font

    from ingest.mapping import builtin_mappings

    mapping = builtin_mappings().get(entity)
    if mapping is None or entity not in UPLOAD_RESOURCE:
        raise ApiError(404, "没有该类数据的模板")
    fields = sorted(mapping.fields.values(), key=lambda f: not f.required)
    header = {f.name: next((a for a in f.aliases if not a.isascii()), f.name) for f in fields}  # the Chinese one
    wb = Workbook()
    ws = wb.active
    assert ws is not None  # a new workbook has its one sheet
    ws.title = "数据"
    append_row(ws, [header[f.name] for f in fields])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    notes = wb.create_sheet("填写说明")
    append_row(notes, ["列名", "是否必填", "说明", "也认的列名"])
    for f in fields:
        others = [a for a in f.aliases if a != header[f.name]][:5]
        append_row(notes, [header[f.name], "必填" if f.required else "", f.help or "", "、".join(others)])
    buf = io.BytesIO()
    wb.save(buf)
    label = dict(_uploadable(me)).get(entity, entity)
    return Response(buf.getvalue(), media_type=XLSX,
                    headers={"Content-Disposition": "attachment; filename*=UTF-8''" + quote(f"{label}模板.xlsx")})


@router.post("/upload")
def upload_file(request: Request, file: UploadFile = File(...), entity: str = Form("", max_length=20),
                csrf: str = Form("", max_length=100)) -> Response:
    """Keep the file, queue its load, and send the user to the job's page (it shows the progress)."""
    me = _me(request)
    if isinstance(me, Response):
        return me
    check_csrf(request, csrf)
    authorize(me, Resource.UPLOAD, Act.CREATE)
    settings = request.app.state.settings
    name = display_name(file.filename)
    suffix = Path(name).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise ApiError(415, f"{name}：只能上传 {'、'.join(UPLOAD_SUFFIXES)} 文件", "file")
    if entity and entity not in dict(_uploadable(me)):
        raise ApiError(403, "你无权上传这类数据", "entity")
    job = UploadJob(id=f"upl-{uuid.uuid4().hex[:12]}", user_id=me.user_id, file_name=name, entity=entity,
                    created_at=datetime.now(UTC), worker=worker_name())
    workdir = private_dir(settings.data_dir / "uploads" / job.id)
    target = workdir / f"upload{suffix}"
    limit = settings.max_upload_mb * 1024 * 1024
    with target.open("wb") as out:
        shutil.copyfileobj(file.file, out, length=1024 * 1024)
    size = target.stat().st_size
    if size == 0 or size > limit:
        shutil.rmtree(workdir, ignore_errors=True)
        raise ApiError(413 if size else 422, f"文件超过 {settings.max_upload_mb} MB 的上限" if size else "文件是空的",
                       "file")
    request.app.state.store.create_node(job)
    request.app.state.jobs.submit(f"upload {job.id}", lambda: run_upload(request.app.state, me, job.id, target))
    request.app.state.audit.record(me, "upload", NodeLabel.UPLOAD_JOB, job.id, name)
    return RedirectResponse(f"/upload/jobs/{job.id}", status_code=303)


def _job(request: Request, me: Principal, job_id: str) -> UploadJob:
    job = request.app.state.store.get_node(NodeLabel.UPLOAD_JOB, job_id)
    if not isinstance(job, UploadJob) or (job.user_id != me.user_id and me.role != Role.BUREAU):
        raise ApiError(404, "没有该上传任务")
    return job


@router.get("/upload/jobs/{job_id}", response_class=HTMLResponse)
def upload_job_page(request: Request, job_id: str) -> Response:
    me = _me(request)
    if isinstance(me, Response):
        return me
    job = _job(request, me, job_id)
    report = json.loads(job.report_json) if job.report_json else None
    return render(request, "upload_job.html", me, job=job, report=report,
                  running=job.status in ("queued", "running"))


@router.get("/upload/jobs/{job_id}/rejects")
def upload_rejects(request: Request, job_id: str) -> Response:
    me = _me(request)
    if isinstance(me, Response):
        return me
    job = _job(request, me, job_id)
    if not job.rejects_file:
        raise ApiError(404, "该上传没有被拒绝的行")
    path = request.app.state.settings.data_dir / "uploads" / job.id / Path(job.rejects_file).name
    if not path.is_file():
        raise ApiError(404, "拒绝文件已不在服务器上")
    download = f"{Path(job.file_name).stem}.被拒绝的行{path.suffix}"
    return FileResponse(path, filename=download)


# --- the bureau's list of needs submitted as unmet -------------------------------------------------

@router.get("/escalations", response_class=HTMLResponse)
def escalations_page(request: Request, page: int = Query(1, ge=1, le=10_000)) -> Response:
    me = _me(request)
    if isinstance(me, Response):
        return me
    authorize(me, Resource.STATISTICS, Act.READ)
    gate = gate_for(request, me)
    needs = escalated_needs(gate.store, skip=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE + 1)
    escalated = {n.id: n.escalated_on for n in needs}
    return render(request, "escalations.html", me, needs=gate.views(needs[:PAGE_SIZE]), escalated=escalated,
                  page=page, more=len(needs) > PAGE_SIZE)
