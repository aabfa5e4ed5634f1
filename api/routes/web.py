"""The Chinese web workspace: login, search, needs with their ranked matches, a match's graph drawn as
inline SVG, accept/reject, the enterprise page (post a need, watch its matches) and the bureau page.

Pages are rendered on the server with Jinja2 (autoescaped); forms carry a CSRF token tied to the session.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from api.access import Visibility, may_manage_need, may_see_matches, need_visibility
from api.auth import ROLE_NAMES_ZH, SESSION_COOKIE, SESSION_MAX_AGE_S, Principal, Role, principal_from_request
from api.deps import Page
from api.errors import ApiError
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
from api.routes.needs import NeedIn, create_need, load_need, read_need, read_needs, reindex_need, visible_needs
from api.routes.stats import collect_stats
from graph.model import Achievement, Challenge, Confidentiality, NodeLabel, RejectReason, Verdict
from matcher.results import Question

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(__import__("pathlib").Path(__file__).resolve().parents[1] / "templates"))

CONF_ZH = {Confidentiality.PUBLIC.value: "公开", Confidentiality.BROKERS.value: "仅经纪人可见",
           Confidentiality.PRIVATE.value: "保密"}
STATUS_ZH = {"open": "征集中", "matched": "已对接", "closed": "已关闭"}
#: fixed flash messages: a query parameter picks one, so no user text is ever reflected
FLASH = {"posted": "需求已发布。", "accepted": "已接受该匹配。", "rejected": "已拒绝该匹配。",
         "revealed": "已同意公开。", "bye": "已退出。"}


def _page_principal(request: Request) -> Principal | None:
    try:
        return principal_from_request(request)
    except ApiError:
        return None


def _login_redirect(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)


def _render(request: Request, name: str, me: Principal | None, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    cookie = request.cookies.get(SESSION_COOKIE, "")
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


def render_error(request: Request, status: int, detail: str) -> HTMLResponse:
    return _render(request, "error.html", _page_principal(request), status_code=status, status=status, detail=detail)


def _check_csrf(request: Request, token: str | None) -> None:
    if not request.app.state.signer.check_csrf(request.cookies.get(SESSION_COOKIE), token):
        raise ApiError(403, "表单已过期或来源不明，请刷新页面后重试", "csrf")


def _engine(request: Request) -> Any | None:
    return request.app.state.engine_provider()


# --- login ----------------------------------------------------------------------------------------

@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = Query("/", max_length=200)) -> HTMLResponse:
    return _render(request, "login.html", None, next=next)


@router.post("/login")
def login(request: Request, username: str = Form(..., max_length=64), password: str = Form(..., max_length=128),
          next: str = Query("/", max_length=200)) -> Response:
    throttle = request.app.state.login_throttle
    if throttle.blocked(username):
        return _render(request, "login.html", None, status_code=429, error="失败次数过多，请 15 分钟后再试",
                       next=next)
    user = request.app.state.accounts.login(username, password)
    if user is None:
        throttle.failed(username)
        return _render(request, "login.html", None, status_code=401, error="用户名或密码不正确", next=next)
    throttle.succeeded(username)
    # only local paths: an open redirect would let a link send users elsewhere after login
    target = next if next.startswith("/") and not next.startswith("//") else "/"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, request.app.state.signer.dumps(user.id), max_age=SESSION_MAX_AGE_S,
                        httponly=True, samesite="lax")
    return response


@router.post("/logout")
def logout(request: Request, csrf: str = Form("", max_length=100)) -> Response:
    _check_csrf(request, csrf)
    response = RedirectResponse("/login?msg=bye", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


# --- search and needs -----------------------------------------------------------------------------

@router.get("/", response_class=HTMLResponse)
def home(request: Request, q: str | None = Query(None, max_length=200)) -> Response:
    me = _page_principal(request)
    if me is None:
        return _login_redirect(request)
    if me.role == Role.ADMIN:
        return _render(request, "error.html", me, status=200, detail="管理员请使用 API 管理用户和密钥（/docs）。")
    store, audit = request.app.state.store, request.app.state.audit
    q = (q or "").strip() or None
    needs, _ = visible_needs(store, me, Page(1, 20), q=q)
    if q:
        needs = [n for n in needs if need_visibility(me, n) == Visibility.FULL]
    views = read_needs(store, audit, me, needs)
    achievements = [Achievement.from_props(p) for p in store.list_props(NodeLabel.ACHIEVEMENT, text=q, limit=20)] \
        if q else []
    text_matches = None
    engine = _engine(request)
    if q and engine is not None and len(q) >= 2:
        from api.routes.matching import match_text

        text_matches = match_text(engine, q, k=10).matches
    return _render(request, "home.html", me, q=q, needs=views, achievements=achievements, text_matches=text_matches)


@router.get("/needs", response_class=HTMLResponse)
def needs_page(request: Request) -> Response:
    me = _page_principal(request)
    if me is None:
        return _login_redirect(request)
    store, audit = request.app.state.store, request.app.state.audit
    if me.role == Role.ADMIN:
        raise ApiError(403, "管理员不查看需求")
    needs, _ = visible_needs(store, me, Page(1, 200))
    views = read_needs(store, audit, me, needs)
    # a broker works first on the enterprises assigned to it, an enterprise on its own needs
    mine = [v for v in views if v.can_manage]
    return _render(request, "needs.html", me, mine=mine if me.role != Role.BUREAU else [],
                   needs=[v for v in views if not v.can_manage or me.role == Role.BUREAU])


@router.get("/needs/{need_id}", response_class=HTMLResponse)
def need_page(request: Request, need_id: str, weak: bool = False) -> Response:
    me = _page_principal(request)
    if me is None:
        return _login_redirect(request)
    store, audit = request.app.state.store, request.app.state.audit
    need = load_need(store, need_id)
    view = read_need(store, audit, me, need)
    result, note = None, ""
    if may_see_matches(me, need):
        engine = _engine(request)
        if engine is None:
            note = "匹配引擎暂不可用。"
        else:
            result = need_matches(engine, need_id, include_weak=weak)
    can_reveal = (me.role == Role.ENTERPRISE and may_manage_need(me, need)
                  and need.confidentiality != Confidentiality.PUBLIC and not need.reveal_identity)
    return _render(request, "need.html", me, need=view, result=result, matcher_note=note, can_reveal=can_reveal,
                   verdicts=verdicts_for(store, need_id) if result else {}, weak=weak)


@router.post("/needs/{need_id}/reveal")
def reveal(request: Request, need_id: str, csrf: str = Form("", max_length=100)) -> Response:
    me = _page_principal(request)
    if me is None:
        return _login_redirect(request)
    _check_csrf(request, csrf)
    store = request.app.state.store
    need = load_need(store, need_id)
    if me.role != Role.ENTERPRISE or not may_manage_need(me, need):
        raise ApiError(403, "只有发布需求的企业可以同意公开")
    store.update_node(need.model_copy(update={"reveal_identity": True}))
    request.app.state.audit.record(me, "reveal", NodeLabel.NEED, need_id)
    return RedirectResponse(f"/needs/{quote(need_id)}?msg=revealed", status_code=303)


@router.get("/needs/{need_id}/matches/{candidate_id}", response_class=HTMLResponse)
def match_page(request: Request, need_id: str, candidate_id: str) -> Response:
    me = _page_principal(request)
    if me is None:
        return _login_redirect(request)
    store, audit = request.app.state.store, request.app.state.audit
    need = load_need(store, need_id)
    if not may_see_matches(me, need):
        raise ApiError(403, "你无权查看该需求的匹配")
    engine = _engine(request)
    if engine is None:
        raise ApiError(503, "匹配引擎暂不可用")
    view = read_need(store, audit, me, need)
    match = find_match(need_matches(engine, need_id, k=50, include_weak=True), candidate_id)
    if match is None:
        raise ApiError(404, "该成果不在此需求的推荐列表中")
    sub, highlight = match_subgraph(store, need_id, candidate_id)
    achievement = store.get_node(NodeLabel.ACHIEVEMENT, candidate_id)
    svg = render_subgraph(sub.nodes, sub.edges, highlight)
    return _render(request, "match.html", me, need=view, match=match, svg=svg,
                   achievement=achievement, can_judge=may_manage_need(me, need) or me.role == Role.BROKER,
                   reasons=list(REASON_ZH.items()), verdict=verdicts_for(store, need_id).get(candidate_id))


@router.post("/needs/{need_id}/matches/{candidate_id}/verdict")
def verdict(request: Request, need_id: str, candidate_id: str, verdict: Verdict = Form(...),
            reason: RejectReason | None = Form(None), comment: str = Form("", max_length=500),
            csrf: str = Form("", max_length=100)) -> Response:
    me = _page_principal(request)
    if me is None:
        return _login_redirect(request)
    _check_csrf(request, csrf)
    store = request.app.state.store
    need = load_need(store, need_id)
    if not (may_manage_need(me, need) or (me.role == Role.BROKER and may_see_matches(me, need))):
        raise ApiError(403, "你无权评价该需求的匹配")
    if verdict == Verdict.REJECT and reason is None:
        raise ApiError(422, "拒绝时请选择原因", "reason")
    if reason == RejectReason.OTHER and not comment.strip():
        raise ApiError(422, "选择“其他”时请填写说明", "comment")
    engine = _engine(request)
    if engine is None:
        raise ApiError(503, "匹配引擎暂不可用")
    if store.get_props(NodeLabel.ACHIEVEMENT, candidate_id) is None:
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
    store = request.app.state.store
    achievement = store.require_node(NodeLabel.ACHIEVEMENT, achievement_id)
    sub = store.neighbourhood(NodeLabel.ACHIEVEMENT, achievement_id, depth=1, limit=60)
    # needs in the drawing may be confidential: draw only the public ones by name
    nodes = [n for n in sub.nodes if n.label != NodeLabel.NEED.value or n.props.get("confidentiality") == "public"]
    result = None
    engine = _engine(request)
    if engine is not None and me.role in (Role.BROKER, Role.BUREAU):
        result = engine.match_achievement(achievement_id, k=10)
    return _render(request, "achievement.html", me, a=achievement,
                   svg=render_subgraph(nodes, sub.edges, [achievement_id]), result=result)


# --- enterprise and bureau ------------------------------------------------------------------------

@router.get("/enterprise", response_class=HTMLResponse)
def enterprise_page(request: Request, error: str | None = None) -> Response:
    me = _page_principal(request)
    if me is None:
        return _login_redirect(request)
    if me.role != Role.ENTERPRISE:
        raise ApiError(403, "该页面仅供企业用户使用")
    store, audit = request.app.state.store, request.app.state.audit
    ent = store.get_props(NodeLabel.ENTERPRISE, me.enterprise_id or "") or {}
    needs, _ = visible_needs(store, me, Page(1, 100), enterprise_id=me.enterprise_id)
    # the best match of each need, when the engine is ready (a page view never waits for an index build)
    engine = request.app.state.engine_if_built()
    best = {}
    if engine is not None:
        for need in needs:
            result = need_matches(engine, need.id, k=1)
            best[need.id] = result.matches[0] if result.matches else None
    return _render(request, "enterprise.html", me, enterprise_name=ent.get("name", "我的企业"), error=error,
                   needs=read_needs(store, audit, me, needs), best=best, engine_ready=engine is not None)


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
        return enterprise_page(request, error="预算须为不小于 0 的数字（万元），名称不能为空。")
    need = create_need(request.app.state.store, me, body)
    request.app.state.audit.record(me, "post_need", NodeLabel.NEED, need.id, need.confidentiality.value)
    reindex_need(request, need)
    return RedirectResponse(f"/needs/{quote(need.id)}?msg=posted", status_code=303)


def _chain_map_svg(request: Request) -> Markup | None:
    """The bureau's gap map drawn by bureau.charts; unmet = the engine finds no confident match when it is
    built, else the graph's record of solved needs."""
    from bureau.charts import render_chain_map_svg
    from bureau.gapmap import build_gap_map, engine_need_is_unmet

    store = request.app.state.store
    if store.read(f"MATCH (s:{NodeLabel.CHAIN_SEGMENT.value}) RETURN count(s) AS c")[0]["c"] == 0:
        return None
    engine = request.app.state.engine_if_built()
    gap_map = build_gap_map(store, engine_need_is_unmet(engine) if engine is not None else None)
    # matplotlib writes the SVG and escapes the names in it; it carries no script
    return Markup(render_chain_map_svg(gap_map))


@router.get("/bureau", response_class=HTMLResponse)
def bureau_page(request: Request) -> Response:
    me = _page_principal(request)
    if me is None:
        return _login_redirect(request)
    if me.role != Role.BUREAU:
        raise ApiError(403, "该页面仅供科技局使用")
    store = request.app.state.store
    stats = collect_stats(store)
    challenges = [Challenge.from_props(p) for p in store.list_props(NodeLabel.CHALLENGE, limit=50)]
    return _render(request, "bureau.html", me, chains=store.chain_topology(), stats=stats,
                   chain_map=_chain_map_svg(request),
                   seg_load={s.id: s for s in stats.segments}, challenges=challenges,
                   audit=request.app.state.audit.query(limit=30))


@router.get("/challenges/{challenge_id}", response_class=HTMLResponse)
def challenge_page(request: Request, challenge_id: str) -> Response:
    me = _page_principal(request)
    if me is None:
        return _login_redirect(request)
    if me.role != Role.BUREAU:
        raise ApiError(403, "该页面仅供科技局使用")
    from api.routes.matching import challenge_solvers

    challenge = request.app.state.store.require_node(NodeLabel.CHALLENGE, challenge_id)
    ranking = challenge_solvers(request, challenge_id, k=10, store=request.app.state.store, principal=me)
    return _render(request, "challenge.html", me, c=challenge, ranking=ranking)
