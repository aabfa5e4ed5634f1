"""The Chinese web workspace: login, search, needs with their ranked matches, a match's graph drawn as
inline SVG, accept/reject, the enterprise page (post a need, watch its matches) and the account page. The
bureau's cockpit is ``api/routes/bureau_pages.py``, 揭榜挂帅 ``api/routes/challenge_pages.py``.

Pages are rendered on the server with Jinja2 (autoescaped); forms carry a CSRF token tied to the session
(the login form one tied to a pre-login cookie). What a page shows of needs goes through the caller's
:class:`~api.gate.NeedGate`, what it lets one do through the role table (:mod:`api.policy`).
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from api.auth import (
    PRELOGIN_COOKIE,
    ROLE_NAMES_ZH,
    SESSION_COOKIE,
    Principal,
    Role,
    client_address,
    principal_from_request,
)
from api.errors import ApiError
from api.gate import NeedGate, gate_for
from api.graph_svg import render_subgraph
from api.match_views import (
    REASON_ZH,
    VERDICT_ZH,
    find_match,
    match_subgraph,
    need_matches,
    record_verdict,
    verdicts_for,
)
from api.policy import Act, NeedView, Resource, Target, authorize, permits
from api.routes.needs import NeedIn, change_need, create_need, reindex_need
from graph.model import LABEL_ZH, Achievement, Confidentiality, NodeLabel, RejectReason, Verdict
from graph.zh import CONFIDENTIALITY_ZH, NEED_STATUS_ZH, zh
from matcher.results import Question

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(__import__("pathlib").Path(__file__).resolve().parents[1] / "templates"))
templates.env.globals.update(zh=zh, label_zh=LABEL_ZH)

CONF_ZH = CONFIDENTIALITY_ZH  # the Chinese names of internal values live in graph.zh
STATUS_ZH = NEED_STATUS_ZH
#: fixed flash messages: a query parameter picks one, so no user text is ever reflected
FLASH = {"posted": "需求已发布。", "accepted": "已接受该匹配。", "rejected": "已拒绝该匹配。",
         "revealed": "已同意公开。", "bye": "已退出。", "password": "密码已修改，其他设备上的登录已失效。"}
PASSWORD_MIN = 8


def _page_principal(request: Request) -> Principal | None:
    try:
        return principal_from_request(request)
    except ApiError as exc:
        if exc.status == 429:
            raise
        return None


def _login_redirect(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)


def _cookie_options(request: Request) -> dict[str, Any]:
    return {"httponly": True, "samesite": "lax", "secure": request.app.state.settings.cookie_secure}


def _render(request: Request, name: str, me: Principal | None, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    cookie = request.cookies.get(SESSION_COOKIE, "") if me else ""
    base = {
        "me": me,
        "role_zh": ROLE_NAMES_ZH.get(me.role, "") if me else "",
        "csrf": request.app.state.signer.csrf_token(cookie) if cookie else "",
        "flash": FLASH.get(request.query_params.get("msg", "")),
        "conf_zh": CONF_ZH,
        "status_zh": STATUS_ZH,
        "verdict_zh": VERDICT_ZH,
    }
    return templates.TemplateResponse(request, name, {**base, **ctx}, status_code=status_code)


#: the error page's heading: what happened, in words (the status code itself is for machines)
ERROR_TITLES = {400: "请求有误", 401: "请先登录", 403: "无权访问", 404: "没有找到", 405: "不支持该操作",
                409: "与当前状态冲突", 413: "内容过大", 422: "填写有误", 429: "操作过于频繁", 500: "服务出错",
                503: "服务暂不可用"}


def render_error(request: Request, status: int, detail: str) -> HTMLResponse:
    try:
        me = _page_principal(request)
    except ApiError:
        me = None
    return _render(request, "error.html", me, status_code=status, status=status, detail=detail,
                   title=ERROR_TITLES.get(status, "出错了"))


def _check_csrf(request: Request, token: str | None) -> None:
    if not request.app.state.signer.check_csrf(request.cookies.get(SESSION_COOKIE), token):
        raise ApiError(403, "表单已过期或来源不明，请刷新页面后重试", "csrf")


def _engine(request: Request) -> Any | None:
    return request.app.state.engine_provider()


def _gate(request: Request, me: Principal) -> NeedGate:
    return gate_for(request, me)


# --- login ----------------------------------------------------------------------------------------

def _login_form(request: Request, next: str, status_code: int = 200, error: str | None = None) -> HTMLResponse:
    """The login form with a CSRF token bound to a fresh pre-login cookie (no cross-site login)."""
    nonce = secrets.token_urlsafe(24)
    response = _render(request, "login.html", None, status_code=status_code, error=error, next=next,
                       login_csrf=request.app.state.signer.csrf_token("login:" + nonce))
    response.set_cookie(PRELOGIN_COOKIE, nonce, max_age=3600, **_cookie_options(request))
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
                        **_cookie_options(request))
    response.delete_cookie(PRELOGIN_COOKIE)
    return response


@router.post("/logout")
def logout(request: Request, csrf: str = Form("", max_length=100)) -> Response:
    _check_csrf(request, csrf)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        request.app.state.sessions.close(token)  # the cookie stops working everywhere, not just here
    response = RedirectResponse("/login?msg=bye", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request) -> Response:
    me = _page_principal(request)
    if me is None:
        return _login_redirect(request)
    return _render(request, "account.html", me)


@router.post("/account/password")
def change_password(request: Request, current: str = Form(..., max_length=128), new: str = Form(..., max_length=128),
                    csrf: str = Form("", max_length=100)) -> Response:
    me = _page_principal(request)
    if me is None:
        return _login_redirect(request)
    _check_csrf(request, csrf)
    if len(new) < PASSWORD_MIN:
        return _render(request, "account.html", me, status_code=422, error=f"新密码至少 {PASSWORD_MIN} 个字符")
    client = client_address(request)
    guard = request.app.state.login_guard
    refusal = guard.admit(client, me.name)
    if refusal:
        return _render(request, "account.html", me, status_code=429, error=refusal)
    if request.app.state.accounts.login(me.name, current) is None:
        guard.failed(client, me.name)
        return _render(request, "account.html", me, status_code=401, error="当前密码不正确")
    sessions = request.app.state.sessions
    request.app.state.accounts.set_password(me.user_id, new, sessions)  # every session of the user ends
    request.app.state.audit.record(me, "change_password", NodeLabel.USER, me.user_id)
    response = RedirectResponse("/?msg=password", status_code=303)
    response.set_cookie(SESSION_COOKIE, sessions.open(me.user_id),
                        max_age=int(request.app.state.settings.session_hours * 3600), **_cookie_options(request))
    return response


# --- search and needs -----------------------------------------------------------------------------

@router.get("/", response_class=HTMLResponse)
def home(request: Request, q: str | None = Query(None, max_length=200)) -> Response:
    me = _page_principal(request)
    if me is None:
        return _login_redirect(request)
    if me.role == Role.ADMIN:
        return RedirectResponse("/admin", status_code=303)
    gate = _gate(request, me)
    q = (q or "").strip() or None
    needs, _ = gate.page(0, 20, text=q)  # a name search only finds needs the caller reads in full
    achievements = [Achievement.from_props(p) for p in
                    request.app.state.store.list_props(NodeLabel.ACHIEVEMENT, text=q, limit=20)] if q else []
    text_matches = None
    engine = _engine(request)
    if q and engine is not None and len(q) >= 2:
        from api.routes.matching import match_text

        text_matches = match_text(engine, q, k=10).matches
    return _render(request, "home.html", me, q=q, needs=gate.views(needs), achievements=achievements,
                   text_matches=text_matches)


@router.get("/needs", response_class=HTMLResponse)
def needs_page(request: Request) -> Response:
    me = _page_principal(request)
    if me is None:
        return _login_redirect(request)
    authorize(me, Resource.NEED, Act.READ)
    gate = _gate(request, me)
    needs, _ = gate.page(0, 200)
    views = gate.views(needs)
    # a broker works first on the enterprises assigned to it, an enterprise on its own needs
    mine = [v for v in views if isinstance(v, NeedView) and v.can_manage]
    return _render(request, "needs.html", me, mine=mine if me.role != Role.BUREAU else [],
                   needs=[v for v in views if not (isinstance(v, NeedView) and v.can_manage) or me.role == Role.BUREAU])


@router.get("/needs/{need_id}", response_class=HTMLResponse)
def need_page(request: Request, need_id: str, weak: bool = False) -> Response:
    me = _page_principal(request)
    if me is None:
        return _login_redirect(request)
    gate = _gate(request, me)
    need = gate.readable(need_id)
    view = gate.view(need)
    result, note = None, ""
    if permits(me, Resource.NEED_MATCHES, Act.READ, Target(enterprise_id=need.enterprise_id, readable=True)):
        engine = _engine(request)
        if engine is None:
            note = "匹配引擎暂不可用。"
        else:
            result = need_matches(engine, need_id, include_weak=weak)
    target = Target(enterprise_id=need.enterprise_id)
    can_reveal = (permits(me, Resource.NEED, Act.REVEAL_IDENTITY, target)
                  and need.confidentiality != Confidentiality.PUBLIC and not need.reveal_identity)
    return _render(request, "need.html", me, need=view, result=result, matcher_note=note, can_reveal=can_reveal,
                   verdicts=verdicts_for(gate.store, need_id) if result else {}, weak=weak)


@router.post("/needs/{need_id}/reveal")
def reveal(request: Request, need_id: str, csrf: str = Form("", max_length=100)) -> Response:
    me = _page_principal(request)
    if me is None:
        return _login_redirect(request)
    _check_csrf(request, csrf)
    updated = change_need(_gate(request, me), need_id, {"reveal_identity": True})
    reindex_need(request, updated)
    request.app.state.audit.record(me, "reveal", NodeLabel.NEED, need_id)
    return RedirectResponse(f"/needs/{quote(need_id)}?msg=revealed", status_code=303)


@router.get("/needs/{need_id}/matches/{candidate_id}", response_class=HTMLResponse)
def match_page(request: Request, need_id: str, candidate_id: str) -> Response:
    me = _page_principal(request)
    if me is None:
        return _login_redirect(request)
    gate = _gate(request, me)
    need = gate.readable(need_id)
    authorize(me, Resource.NEED_MATCHES, Act.READ, Target(enterprise_id=need.enterprise_id, readable=True))
    engine = _engine(request)
    if engine is None:
        raise ApiError(503, "匹配引擎暂不可用")
    match = find_match(need_matches(engine, need_id, k=50, include_weak=True), candidate_id)
    if match is None:
        raise ApiError(404, "该成果不在此需求的推荐列表中")
    sub, highlight = match_subgraph(gate.store, need_id, candidate_id)
    sub = gate.subgraph(sub, [need_id, candidate_id])
    achievement = gate.store.get_node(NodeLabel.ACHIEVEMENT, candidate_id)
    svg = render_subgraph(sub.nodes, sub.edges, highlight)
    can_judge = permits(me, Resource.VERDICT, Act.CREATE, Target(enterprise_id=need.enterprise_id))
    return _render(request, "match.html", me, need=gate.view(need), match=match, svg=svg,
                   achievement=achievement, can_judge=can_judge,
                   reasons=list(REASON_ZH.items()), verdict=verdicts_for(gate.store, need_id).get(candidate_id))


@router.post("/needs/{need_id}/matches/{candidate_id}/verdict")
def verdict(request: Request, need_id: str, candidate_id: str, verdict: Verdict = Form(...),
            reason: RejectReason | None = Form(None), comment: str = Form("", max_length=500),
            csrf: str = Form("", max_length=100)) -> Response:
    me = _page_principal(request)
    if me is None:
        return _login_redirect(request)
    _check_csrf(request, csrf)
    gate = _gate(request, me)
    need = gate.readable(need_id, audit=None)
    authorize(me, Resource.VERDICT, Act.CREATE, Target(enterprise_id=need.enterprise_id))
    if verdict == Verdict.REJECT and reason is None:
        raise ApiError(422, "拒绝时请选择原因", "reason")
    if reason == RejectReason.OTHER and not comment.strip():
        raise ApiError(422, "选择“其他”时请填写说明", "comment")
    engine = _engine(request)
    if engine is None:
        raise ApiError(503, "匹配引擎暂不可用")
    if gate.store.get_props(NodeLabel.ACHIEVEMENT, candidate_id) is None:
        raise ApiError(404, "没有该成果")
    record_verdict(engine, me, Question.NEED_ACHIEVEMENT, need_id, candidate_id, verdict,
                   reason if verdict == Verdict.REJECT else None, comment.strip())
    request.app.state.audit.record(me, "feedback", NodeLabel.NEED, need_id, f"{verdict.value} {candidate_id}")
    msg = "accepted" if verdict == Verdict.ACCEPT else "rejected"
    return RedirectResponse(f"/needs/{quote(need_id)}/matches/{quote(candidate_id)}?msg={msg}", status_code=303)


@router.get("/achievements/{achievement_id}", response_class=HTMLResponse)
def achievement_page(request: Request, achievement_id: str) -> Response:
    me = _page_principal(request)
    if me is None:
        return _login_redirect(request)
    authorize(me, Resource.ACHIEVEMENT, Act.READ)
    gate = _gate(request, me)
    achievement = gate.store.require_node(NodeLabel.ACHIEVEMENT, achievement_id)
    sub = gate.subgraph(gate.store.neighbourhood(NodeLabel.ACHIEVEMENT, achievement_id, depth=1, limit=60),
                        [achievement_id])
    result = None
    engine = _engine(request)
    if engine is not None and permits(me, Resource.ACHIEVEMENT_ENTERPRISES, Act.READ):
        result = gate.enterprise_matches(engine.match_achievement(achievement_id, k=10))
    return _render(request, "achievement.html", me, a=achievement,
                   svg=render_subgraph(sub.nodes, sub.edges, [achievement_id]), result=result)


# --- enterprise (the bureau's pages: api/routes/bureau_pages.py, challenges: challenge_pages.py) ----

@router.get("/enterprise", response_class=HTMLResponse)
def enterprise_page(request: Request) -> Response:
    me = _page_principal(request)
    if me is None:
        return _login_redirect(request)
    return _enterprise_page(request, me)


def _enterprise_page(request: Request, me: Principal, error: str | None = None, status_code: int = 200) -> Response:
    if me.role != Role.ENTERPRISE:
        raise ApiError(403, "该页面仅供企业用户使用")
    gate = _gate(request, me)
    ent = gate.store.get_props(NodeLabel.ENTERPRISE, me.enterprise_id or "") or {}
    needs, _ = gate.page(0, 100, mine=True)
    # the best match of each need, when the engine is ready (a page view never waits for an index build)
    engine = request.app.state.engine_if_built()
    best = {}
    if engine is not None:
        for need in needs:
            result = need_matches(engine, need.id, k=1)
            best[need.id] = result.matches[0] if result.matches else None
    return _render(request, "enterprise.html", me, status_code=status_code, enterprise_name=ent.get("name", "我的企业"),
                   error=error, needs=gate.views(needs), best=best, engine_ready=engine is not None)


@router.post("/enterprise/needs")
def post_need_form(request: Request, name: str = Form(..., max_length=200),
                   description: str = Form("", max_length=5000),
                   confidentiality: Confidentiality = Form(Confidentiality.PUBLIC),
                   budget_wan: str = Form("", max_length=12), csrf: str = Form("", max_length=100)) -> Response:
    me = _page_principal(request)
    if me is None:
        return _login_redirect(request)
    _check_csrf(request, csrf)
    if me.role != Role.ENTERPRISE:
        raise ApiError(403, "该页面仅供企业用户使用")
    try:
        budget = float(budget_wan) if budget_wan.strip() else None
        body = NeedIn(name=name, description=description, confidentiality=confidentiality, budget_wan=budget)
    except ValueError:
        return _enterprise_page(request, me, error="预算须为不小于 0 的数字（万元），名称不能为空。", status_code=422)
    need = create_need(request.app.state.store, me, body)
    request.app.state.audit.record(me, "post_need", NodeLabel.NEED, need.id, need.confidentiality.value)
    reindex_need(request, need)
    return RedirectResponse(f"/needs/{quote(need.id)}?msg=posted", status_code=303)
