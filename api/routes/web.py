"""The Chinese web workspace: login, search, needs with their ranked matches, a match's graph drawn as
inline SVG, accept/reject, the enterprise page (post a need, watch its matches) and the account page. The
bureau's cockpit is ``api/routes/bureau_pages.py``, 揭榜挂帅 ``api/routes/challenge_pages.py``.

Pages are rendered on the server with Jinja2 (autoescaped); forms carry a CSRF token tied to the session
(the login form one tied to a pre-login cookie). What a page shows of needs goes through the caller's
:class:`~api.gate.NeedGate`, what it lets one do through the role table (:mod:`api.policy`). What every page
shares (rendering, the signed-in user, the CSRF check) is :mod:`api.pages`; posting and changing a need is
:mod:`api.services.needs`, as for the JSON routes.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError as PydanticValidationError

from api.auth import PRELOGIN_COOKIE, SESSION_COOKIE, Principal, Role, client_address
from api.docking import DockingService
from api.errors import ApiError
from api.gate import NeedGate, gate_for
from api.graph_svg import render_subgraph
from api.match_views import REASON_ZH, match_subgraph, need_matches, record_verdict, verdict_records
from api.pages import check_csrf, cookie_options, login_redirect, page_principal, render
from api.policy import Act, NeedView, Resource, Target, authorize, permits
from api.present import band
from api.services.catalogue import (
    achievements_by_id,
    names_by_id,
    regions,
    segment_chains,
    segments_with_chain_names,
)
from api.services.matching import match_text
from api.services.needs import NeedIn, after_need, change_need, create_need
from api.services.uploads import chain_placer, display_name
from graph.files import private_dir, write_private
from graph.model import (
    Achievement,
    Confidentiality,
    CooperationMode,
    NodeLabel,
    RejectReason,
    Verdict,
)
from matcher.results import Question

if TYPE_CHECKING:
    from matcher.engine import MatchEngine

router = APIRouter(include_in_schema=False)
PASSWORD_MIN = 8


def _engine(request: Request) -> MatchEngine | None:
    return request.app.state.engine_provider()


def _gate(request: Request, me: Principal) -> NeedGate:
    return gate_for(request, me)


# --- login ----------------------------------------------------------------------------------------

def _login_form(request: Request, next: str, status_code: int = 200, error: str | None = None) -> HTMLResponse:
    """The login form with a CSRF token bound to a fresh pre-login cookie (no cross-site login)."""
    nonce = secrets.token_urlsafe(24)
    response = render(request, "login.html", None, status_code=status_code, error=error, next=next,
                      login_csrf=request.app.state.signer.csrf_token("login:" + nonce))
    response.set_cookie(PRELOGIN_COOKIE, nonce, max_age=3600, **cookie_options(request))
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = Query("/", max_length=200)) -> HTMLResponse:
    return _login_form(request, next)


@router.post("/login")
def login(request: Request, username: str = Form(..., max_length=64), password: str = Form(..., max_length=128),
          csrf: str = Form("", max_length=100), next: str = Query("/", max_length=200)) -> Response:
    nonce = request.cookies.get(PRELOGIN_COOKIE, "")
    if not request.app.state.signer.check_csrf("login:" + nonce if nonce else None, csrf):
        return _login_form(request, next, 403, "登录表单已过期，请重新输入")
    client = client_address(request)
    guard = request.app.state.login_guard
    refusal = guard.admit(client, username)
    if refusal:
        return _login_form(request, next, 429, refusal)
    user = request.app.state.accounts.login(username, password)
    if user is None:
        guard.failed(client, username)
        return _login_form(request, next, 401, "用户名或密码不正确")
    guard.succeeded(client, username)
    # only local paths: an open redirect would let a link send users elsewhere after login
    target = next if next.startswith("/") and not next.startswith("//") else "/"
    response = RedirectResponse(target, status_code=303)
    token = request.app.state.sessions.open(user.id)
    response.set_cookie(SESSION_COOKIE, token, max_age=int(request.app.state.settings.session_hours * 3600),
                        **cookie_options(request))
    response.delete_cookie(PRELOGIN_COOKIE)
    return response


@router.post("/logout")
def logout(request: Request, csrf: str = Form("", max_length=100)) -> Response:
    check_csrf(request, csrf)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        request.app.state.sessions.close(token)  # the cookie stops working everywhere, not just here
    response = RedirectResponse("/login?msg=bye", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request) -> Response:
    me = page_principal(request)
    if me is None:
        return login_redirect(request)
    return render(request, "account.html", me)


@router.post("/account/password")
def change_password(request: Request, current: str = Form(..., max_length=128), new: str = Form(..., max_length=128),
                    csrf: str = Form("", max_length=100)) -> Response:
    me = page_principal(request)
    if me is None:
        return login_redirect(request)
    check_csrf(request, csrf)
    if len(new) < PASSWORD_MIN:
        return render(request, "account.html", me, status_code=422, error=f"新密码至少 {PASSWORD_MIN} 个字符")
    client = client_address(request)
    guard = request.app.state.login_guard
    refusal = guard.admit(client, me.name)
    if refusal:
        return render(request, "account.html", me, status_code=429, error=refusal)
    if request.app.state.accounts.login(me.name, current) is None:
        guard.failed(client, me.name)
        return render(request, "account.html", me, status_code=401, error="当前密码不正确")
    sessions = request.app.state.sessions
    request.app.state.accounts.set_password(me.user_id, new, sessions)  # every session of the user ends
    request.app.state.audit.record(me, "change_password", NodeLabel.USER, me.user_id)
    response = RedirectResponse("/?msg=password", status_code=303)
    response.set_cookie(SESSION_COOKIE, sessions.open(me.user_id),
                        max_age=int(request.app.state.settings.session_hours * 3600), **cookie_options(request))
    return response


# --- search and needs -----------------------------------------------------------------------------

@router.get("/", response_class=HTMLResponse)
def home(request: Request, q: str | None = Query(None, max_length=200)) -> Response:
    me = page_principal(request)
    if me is None:
        return login_redirect(request)
    if me.role == Role.ADMIN:
        return RedirectResponse("/admin", status_code=303)
    gate = _gate(request, me)
    q = (q or "").strip() or None
    needs, _ = gate.page(0, 20, text=q)  # a name search only finds needs the caller reads in full
    achievements = [Achievement.from_props(p) for p in
                    request.app.state.store.list_props(NodeLabel.ACHIEVEMENT, text=q, limit=20)] if q else []
    text_result = None
    engine = _engine(request)
    if q and engine is not None and len(q) >= 2:
        text_result = match_text(engine, q, k=10)
    return render(request, "home.html", me, q=q, needs=gate.views(needs), achievements=achievements,
                  text_result=text_result, band=band)


@router.get("/needs", response_class=HTMLResponse)
def needs_page(request: Request) -> Response:
    me = page_principal(request)
    if me is None:
        return login_redirect(request)
    authorize(me, Resource.NEED, Act.READ)
    gate = _gate(request, me)
    needs, _ = gate.page(0, 200)
    views = gate.views(needs)
    # a broker works first on the enterprises assigned to it, an enterprise on its own needs
    mine = [v for v in views if isinstance(v, NeedView) and v.can_manage]
    return render(request, "needs.html", me, mine=mine if me.role != Role.BUREAU else [],
                  needs=[v for v in views if not (isinstance(v, NeedView) and v.can_manage) or me.role == Role.BUREAU])


@router.get("/needs/{need_id}", response_class=HTMLResponse)
def need_page(request: Request, need_id: str, weak: bool = False) -> Response:
    me = page_principal(request)
    if me is None:
        return login_redirect(request)
    gate = _gate(request, me)
    need = gate.readable(need_id, with_context=True)
    view = gate.view(need)
    result, note = None, ""
    target = Target(enterprise_id=need.enterprise_id)
    records: dict[str, Any] = {}
    dockings: dict[str, Any] = {}
    if permits(me, Resource.NEED_MATCHES, Act.READ, Target(enterprise_id=need.enterprise_id, readable=True)):
        engine = _engine(request)
        if engine is None:
            note = "匹配引擎暂不可用。"
        else:
            result = need_matches(engine, need, include_weak=weak)
        records = verdict_records(gate.store, need_id)
        if permits(me, Resource.DOCKING, Act.READ, target):
            service = _dockings(request)
            dockings = {a: d for a in records if (d := service.open_for(need_id, a)) is not None}
    shown = {m.candidate_id for m in result.matches} if result else set()
    rejected = [fb for c, fb in records.items() if fb.verdict == Verdict.REJECT and c not in shown]
    accepted = [c for c, fb in records.items() if fb.verdict == Verdict.ACCEPT]
    cards = achievements_by_id(gate.store, [*shown, *records])
    can_reveal = (permits(me, Resource.NEED, Act.REVEAL_IDENTITY, target)
                  and need.confidentiality != Confidentiality.PUBLIC and not need.reveal_identity)
    can_escalate = (result is not None and result.is_gap and not accepted and need.escalated_on is None
                    and permits(me, Resource.NEED, Act.ESCALATE, target))
    return render(request, "need.html", me, need=view, result=result, matcher_note=note, can_reveal=can_reveal,
                  attachments=attachments_of(request, need_id),
                  records=records, rejected=rejected, accepted=accepted, cards=cards, dockings=dockings,
                  weak=weak, band=band, can_escalate=can_escalate, escalated_on=need.escalated_on,
                  can_judge=permits(me, Resource.VERDICT, Act.CREATE, target), reasons=list(REASON_ZH.items()))


@router.post("/needs/{need_id}/reveal")
def reveal(request: Request, need_id: str, csrf: str = Form("", max_length=100)) -> Response:
    me = page_principal(request)
    if me is None:
        return login_redirect(request)
    check_csrf(request, csrf)
    updated = change_need(_gate(request, me), need_id, {"reveal_identity": True})
    after_need(request.app.state, updated)
    request.app.state.audit.record(me, "reveal", NodeLabel.NEED, need_id)
    return RedirectResponse(f"/needs/{quote(need_id)}?msg=revealed", status_code=303)


@router.post("/needs/{need_id}/escalate")
def escalate(request: Request, need_id: str, csrf: str = Form("", max_length=100)) -> Response:
    """提交科技局: an unmet need goes on the bureau's list of needs without supply."""
    me = page_principal(request)
    if me is None:
        return login_redirect(request)
    check_csrf(request, csrf)
    gate = _gate(request, me)
    need = gate.readable(need_id, audit=None)
    authorize(me, Resource.NEED, Act.ESCALATE, Target(enterprise_id=need.enterprise_id))
    if need.escalated_on is None:
        gate.store.update_node(need.model_copy(update={"escalated_on": datetime.now(UTC).date()}))
        request.app.state.audit.record(me, "escalate_need", NodeLabel.NEED, need_id)
    return RedirectResponse(f"/needs/{quote(need_id)}?msg=escalated", status_code=303)


@router.get("/needs/{need_id}/matches/{candidate_id}", response_class=HTMLResponse)
def match_page(request: Request, need_id: str, candidate_id: str) -> Response:
    me = page_principal(request)
    if me is None:
        return login_redirect(request)
    gate = _gate(request, me)
    need = gate.readable(need_id)
    authorize(me, Resource.NEED_MATCHES, Act.READ, Target(enterprise_id=need.enterprise_id, readable=True))
    engine = _engine(request)
    if engine is None:
        raise ApiError(503, "匹配引擎暂不可用")
    achievement = gate.store.get_node(NodeLabel.ACHIEVEMENT, candidate_id)
    if not isinstance(achievement, Achievement):
        raise ApiError(404, "没有该成果")
    # the pair as the need's ranking sees it, also after a verdict moved it off the first page
    match = engine.match_pair(need_id, candidate_id)
    record = verdict_records(gate.store, need_id).get(candidate_id)
    if match is None and record is None:
        raise ApiError(404, "该成果不在此需求的候选之中")
    sub, highlight = match_subgraph(gate.store, need_id, candidate_id, match.explanation if match else None)
    sub = gate.subgraph(sub, [need_id, candidate_id])
    svg = render_subgraph(sub.nodes, sub.edges, highlight)
    target = Target(enterprise_id=need.enterprise_id)
    docking = _dockings(request).open_for(need_id, candidate_id) if permits(
        me, Resource.DOCKING, Act.READ, target) else None
    threshold = engine.gap_threshold
    return render(request, "match.html", me, need=gate.view(need), match=match, svg=svg, achievement=achievement,
                  can_judge=permits(me, Resource.VERDICT, Act.CREATE, target), record=record, docking=docking,
                  reasons=list(REASON_ZH.items()), band=band(match.confidence, threshold) if match else None)


@router.post("/needs/{need_id}/matches/{candidate_id}/verdict")
def verdict(request: Request, need_id: str, candidate_id: str, verdict: Verdict = Form(...),
            reason: str = Form("", max_length=40), comment: str = Form("", max_length=500),
            back: str = Form("", max_length=10), csrf: str = Form("", max_length=100)) -> Response:
    """Accept, reject (with a reason the user picked), or withdraw the standing verdict; accepting opens the
    docking. Back to the match page, which shows the verdict and how to change or undo it (or to the need's
    page when the verdict was given from there: ``back=need``)."""
    me = page_principal(request)
    if me is None:
        return login_redirect(request)
    check_csrf(request, csrf)
    gate = _gate(request, me)
    need = gate.readable(need_id, audit=None)
    authorize(me, Resource.VERDICT, Act.CREATE, Target(enterprise_id=need.enterprise_id))
    why: RejectReason | None = None
    if verdict == Verdict.REJECT:
        if reason not in {r.value for r in RejectReason}:
            raise ApiError(422, "拒绝时请选择原因", "reason")
        why = RejectReason(reason)
        if why == RejectReason.OTHER and not comment.strip():
            raise ApiError(422, "选择“其他”时请填写说明", "comment")
    engine = _engine(request)
    if engine is None:
        raise ApiError(503, "匹配引擎暂不可用")
    if gate.store.get_props(NodeLabel.ACHIEVEMENT, candidate_id) is None:
        raise ApiError(404, "没有该成果")
    record_verdict(engine, me, Question.NEED_ACHIEVEMENT, need_id, candidate_id, verdict, why, comment.strip())
    request.app.state.audit.record(me, "feedback", NodeLabel.NEED, need_id, f"{verdict.value} {candidate_id}")
    if verdict == Verdict.ACCEPT and permits(me, Resource.DOCKING, Act.CREATE,
                                             Target(enterprise_id=need.enterprise_id)):
        _dockings(request).open(me, need, candidate_id)
    msg = {Verdict.ACCEPT: "accepted", Verdict.REJECT: "rejected", Verdict.WITHDRAWN: "withdrawn"}[verdict]
    if back == "need":
        return RedirectResponse(f"/needs/{quote(need_id)}?msg={msg}", status_code=303)
    return RedirectResponse(f"/needs/{quote(need_id)}/matches/{quote(candidate_id)}?msg={msg}", status_code=303)


def _dockings(request: Request) -> DockingService:
    state = request.app.state
    return DockingService(state.store, state.audit, state.notifier, state.engine_if_built(),
                          getattr(state, "upkeep", None))


@router.get("/achievements/{achievement_id}", response_class=HTMLResponse)
def achievement_page(request: Request, achievement_id: str) -> Response:
    me = page_principal(request)
    if me is None:
        return login_redirect(request)
    authorize(me, Resource.ACHIEVEMENT, Act.READ)
    gate = _gate(request, me)
    achievement = gate.store.require_node(NodeLabel.ACHIEVEMENT, achievement_id)
    sub = gate.subgraph(gate.store.neighbourhood(NodeLabel.ACHIEVEMENT, achievement_id, depth=1, limit=60),
                        [achievement_id])
    result = None
    engine = _engine(request)
    if engine is not None and permits(me, Resource.ACHIEVEMENT_ENTERPRISES, Act.READ):
        result = gate.enterprise_matches(engine.match_achievement(achievement_id, k=10))
    return render(request, "achievement.html", me, a=achievement, band=band,
                  svg=render_subgraph(sub.nodes, sub.edges, [achievement_id]), result=result)


# --- enterprise (the bureau's pages: api/routes/bureau_pages.py, challenges: challenge_pages.py) ----

ATTACHMENT_TYPES = {".pdf", ".doc", ".docx", ".xls", ".xlsx", ".jpg", ".jpeg", ".png", ".txt"}
ATTACHMENT_MAX_MB = 10
ATTACHMENTS_PER_NEED = 5


@router.get("/enterprise", response_class=HTMLResponse)
def enterprise_page(request: Request) -> Response:
    me = page_principal(request)
    if me is None:
        return login_redirect(request)
    return _enterprise_page(request, me)


def _enterprise_page(request: Request, me: Principal, error: str | None = None, status_code: int = 200,
                     form: dict[str, Any] | None = None, suggested: dict[str, float] | None = None) -> Response:
    if me.role != Role.ENTERPRISE:
        raise ApiError(403, "该页面仅供企业用户使用")
    gate = _gate(request, me)
    ent = gate.store.get_props(NodeLabel.ENTERPRISE, me.enterprise_id or "") or {}
    needs, _ = gate.page(0, 100, mine=True)
    # each need's best match as last computed (a read, not a query per need)
    standing = request.app.state.upkeep.standing()
    best: dict[str, Any] = {}
    if standing is not None:
        for need_id, st in standing.read([n.id for n in needs]).items():
            if st.achievement_ids and st.confidences[0] >= st.threshold:
                best[need_id] = (st.achievement_ids[0], st.confidences[0], band(st.confidences[0], st.threshold))
    names = names_by_id(gate.store, NodeLabel.ACHIEVEMENT, [b[0] for b in best.values()])
    form = form or {}
    return render(request, "enterprise.html", me, status_code=status_code, enterprise_name=ent.get("name", "我的企业"),
                  error=error, needs=gate.views(needs), best=best, best_names=names,
                  engine_ready=standing is not None, form=form, suggested=suggested or {},
                  chosen=set(form.get("segment_ids", [])), segments=segments_with_chain_names(gate.store),
                  regions=regions(gate.store),
                  modes=[m.value for m in CooperationMode], attachment_types=sorted(ATTACHMENT_TYPES),
                  attachment_max_mb=ATTACHMENT_MAX_MB, default_region=ent.get("region") or "")


#: segments suggested at most (the enterprise confirms or corrects them)
SUGGESTIONS = 3


def _suggest_segments(request: Request, name: str, description: str) -> dict[str, float]:
    """Chain segments to suggest for a need text (segment id -> confidence): the classifier's placements, and
    when it is not sure enough to place the need by itself, the segments whose keywords the text uses (a
    person confirms a suggestion; an automatic placement has no one to check it)."""
    text = "\n".join(p for p in (name, description) if p)
    if not text.strip():
        return {}
    decision = chain_placer(request.app.state).decide(text)
    out = {p.segment_id: float(p.confidence) for p in decision.placements}
    chain_of = segment_chains(request.app.state.store)
    by_hits = sorted(decision.keyword_hits.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    for seg, _ in by_hits:
        if len(out) >= SUGGESTIONS:
            break
        if seg in chain_of and seg not in out:
            out[seg] = round(float(decision.chain_scores.get(chain_of[seg], 0.0)), 4)
    return out


@router.post("/enterprise/needs")
async def post_need_form(request: Request) -> Response:
    """Post a need from the form (or, with ``action=suggest``, show the form again with the chain segments the
    classifier suggests checked). A field in error keeps everything that was typed."""
    me = page_principal(request)
    if me is None:
        return login_redirect(request)
    form = await request.form()
    check_csrf(request, str(form.get("csrf", ""))[:100])
    if me.role != Role.ENTERPRISE:
        raise ApiError(403, "该页面仅供企业用户使用")
    fields = {k: str(form.get(k, "")).strip()[:5000] for k in (
        "name", "description", "confidentiality", "budget_wan", "deadline", "contact_name", "contact_phone",
        "region")}
    typed: dict[str, Any] = {**fields, "segment_ids": [str(v)[:128] for v in form.getlist("segment_ids")][:10],
                             "cooperation_modes": [str(v)[:10] for v in form.getlist("cooperation_modes")][:6]}
    if form.get("action") == "suggest":
        suggested = _suggest_segments(request, fields["name"], fields["description"])
        typed["segment_ids"] = sorted(set(typed["segment_ids"]) | set(suggested))
        return _enterprise_page(request, me, form=typed, suggested=suggested)
    problem = _need_form_problem(typed)
    files = [f for f in form.getlist("attachments") if getattr(f, "filename", "")]
    problem = problem or _attachments_problem(files)
    if problem:
        return _enterprise_page(request, me, error=problem, status_code=422, form=typed,
                                suggested=_suggest_segments(request, fields["name"], fields["description"]))
    try:
        body = NeedIn(
            name=fields["name"], description=fields["description"],
            confidentiality=Confidentiality(fields["confidentiality"] or "public"),
            budget_wan=float(fields["budget_wan"].removesuffix("万元").removesuffix("万")) if fields["budget_wan"]
            else None, deadline=fields["deadline"] or None, contact_name=fields["contact_name"],
            contact_phone=fields["contact_phone"], region=fields["region"] or None,
            segment_ids=typed["segment_ids"], cooperation_modes=typed["cooperation_modes"])
    except (ValueError, PydanticValidationError) as exc:
        return _enterprise_page(request, me, error=_form_error(exc), status_code=422, form=typed)
    need = create_need(request.app.state.store, me, body)
    await _save_attachments(request, need.id, files)
    request.app.state.audit.record(me, "post_need", NodeLabel.NEED, need.id, need.confidentiality.value)
    after_need(request.app.state, need, posted=True)
    return RedirectResponse(f"/needs/{quote(need.id)}?msg=posted", status_code=303)


def _need_form_problem(typed: dict[str, Any]) -> str | None:
    if not typed["name"]:
        return "请填写需求名称。"
    budget = typed["budget_wan"].removesuffix("万元").removesuffix("万").strip()
    if budget:
        try:
            value = float(budget)
        except ValueError:
            return f"预算「{typed['budget_wan']}」不是数字：请填写万元数，例如 50 或 12.5（可空）。"
        if value < 0 or value > 1e7:
            return "预算须为 0 到 1000 万万元之间的数字（万元）。"
    if typed["deadline"]:
        try:
            date.fromisoformat(typed["deadline"])
        except ValueError:
            return "期限须为日期，例如 2027-06-30。"
    if typed["contact_phone"] and not re.fullmatch(r"[0-9+\-() 转]{5,30}", typed["contact_phone"]):
        return "联系电话只能包含数字、+、-、括号和空格。"
    return None


def _form_error(exc: Exception) -> str:
    if isinstance(exc, PydanticValidationError):
        first = exc.errors()[0]
        where = {"segment_ids": "所属环节", "cooperation_modes": "合作方式", "name": "需求名称",
                 "description": "需求描述", "region": "所在县区"}.get(str(first["loc"][0]), str(first["loc"][0]))
        return f"{where}：填写有误，请检查。"
    return "填写有误，请检查。"


def _attachments_problem(files: list[Any]) -> str | None:
    if len(files) > ATTACHMENTS_PER_NEED:
        return f"附件最多 {ATTACHMENTS_PER_NEED} 个。"
    for f in files:
        suffix = Path(f.filename).suffix.lower()
        if suffix not in ATTACHMENT_TYPES:
            return f"附件「{Path(f.filename).name}」的类型不支持（可用：{'、'.join(sorted(ATTACHMENT_TYPES))}）。"
        if (f.size or 0) > ATTACHMENT_MAX_MB * 1024 * 1024:
            return f"附件「{Path(f.filename).name}」超过 {ATTACHMENT_MAX_MB} MB。"
    return None


def _attachment_dir(request: Request, need_id: str) -> Path:
    return request.app.state.settings.data_dir / "attachments" / need_id


async def _save_attachments(request: Request, need_id: str, files: list[Any]) -> None:
    if not files:
        return
    directory = private_dir(_attachment_dir(request, need_id))
    for f in files:
        name = display_name(f.filename)
        data = await f.read(ATTACHMENT_MAX_MB * 1024 * 1024 + 1)
        if len(data) > ATTACHMENT_MAX_MB * 1024 * 1024:
            continue  # checked above by the declared size; a lying client gets nothing stored
        write_private(directory / name, data)


def attachments_of(request: Request, need_id: str) -> list[str]:
    directory = _attachment_dir(request, need_id)
    return sorted(p.name for p in directory.iterdir() if p.is_file() and not p.name.startswith(".")) \
        if directory.is_dir() else []


@router.get("/needs/{need_id}/attachments/{name}")
def need_attachment(request: Request, need_id: str, name: str) -> Response:
    """An attachment of a need, for those who read the need in full (audited like a view)."""
    me = page_principal(request)
    if me is None:
        return login_redirect(request)
    _gate(request, me).readable(need_id)
    if name not in attachments_of(request, need_id):
        raise ApiError(404, "没有该附件")
    return FileResponse(_attachment_dir(request, need_id) / name, filename=name,
                        content_disposition_type="attachment")
