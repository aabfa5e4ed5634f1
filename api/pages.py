"""What every server-rendered page shares: the Jinja2 templates, who is signed in, the redirect to the login
form, the CSRF check of a form, the fixed flash messages and the error page.

The page routers (``api/routes/web.py``, ``bureau_pages.py``, ``challenge_pages.py``, ``workspace.py``,
``admin_pages.py``, ``docs.py``) all render through :func:`render`; they import it from here, never from one
another (``tests/test_architecture.py`` checks that no route module imports another).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from api.auth import ROLE_NAMES_ZH, SESSION_COOKIE, Principal, principal_from_request
from api.errors import ApiError
from api.match_views import REASON_ZH, VERDICT_ZH
from api.present import FILTERS
from graph.model import LABEL_ZH
from graph.zh import CONFIDENTIALITY_ZH, NEED_STATUS_ZH, zh

templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))
templates.env.filters.update(FILTERS)
templates.env.globals.update(zh=zh, label_zh=LABEL_ZH)

CONF_ZH = CONFIDENTIALITY_ZH  # the Chinese names of internal values live in graph.zh
STATUS_ZH = NEED_STATUS_ZH
#: fixed flash messages: a query parameter picks one, so no user text is ever reflected
FLASH = {"posted": "需求已发布。", "accepted": "已接受该匹配，对接已开始。", "rejected": "已拒绝该匹配。",
         "withdrawn": "已撤销评价。", "revealed": "已同意公开。", "bye": "已退出。",
         "password": "密码已修改，其他设备上的登录已失效。", "escalated": "已提交科技局，列入未满足需求清单。",
         "docking": "对接记录已保存。", "signed": "合同已登记，计入技术合同成交额。", "abandoned": "对接已终止。",
         "saved": "已保存。", "removed": "已删除。"}
#: the flash messages of the bureau's pages and the challenges' (picked the same way; nothing is reflected)
BUREAU_FLASH = {
    "drafted": "已根据候选专题生成榜单草稿，请补充指标与验收要求后发布。",
    "created": "榜单草稿已保存。", "saved": "榜单已修改。", "status": "榜单状态已更新。",
    "applied": "揭榜申报已提交，科技局评审后会在此页显示结果。", "reviewed": "评审意见已保存。",
    "awarded": "已确定揭榜方。",
}
#: the error page's heading: what happened, in words (the status code itself is for machines)
ERROR_TITLES = {400: "请求有误", 401: "请先登录", 403: "无权访问", 404: "没有找到", 405: "不支持该操作",
                409: "与当前状态冲突", 413: "内容过大", 422: "填写有误", 429: "操作过于频繁", 500: "服务出错",
                503: "服务暂不可用"}


def page_principal(request: Request) -> Principal | None:
    """The signed-in user, or None (a page then sends to the login form); a throttled caller still gets 429."""
    try:
        return principal_from_request(request)
    except ApiError as exc:
        if exc.status == 429:
            raise
        return None


def login_redirect(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)


def cookie_options(request: Request) -> dict[str, Any]:
    return {"httponly": True, "samesite": "lax", "secure": request.app.state.settings.cookie_secure}


def render(request: Request, name: str, me: Principal | None, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    """A template with what every page shows: the user and role, the form token, the flash message, the Chinese
    names of internal values and the unread notifications."""
    cookie = request.cookies.get(SESSION_COOKIE, "") if me else ""
    base = {
        "me": me,
        "role_zh": ROLE_NAMES_ZH.get(me.role, "") if me else "",
        "csrf": request.app.state.signer.csrf_token(cookie) if cookie else "",
        "flash": FLASH.get(request.query_params.get("msg", "")),
        "conf_zh": CONF_ZH,
        "status_zh": STATUS_ZH,
        "verdict_zh": VERDICT_ZH,
        "reason_zh": REASON_ZH,
        "unread": request.app.state.notifier.unread(me) if me else 0,
    }
    return templates.TemplateResponse(request, name, {**base, **ctx}, status_code=status_code)


def bureau_render(request: Request, name: str, me: Principal, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    """:func:`render` with the flash messages of the bureau's and the challenges' pages too."""
    msg = request.query_params.get("msg", "")
    return render(request, name, me, status_code=status_code, flash=BUREAU_FLASH.get(msg) or FLASH.get(msg), **ctx)


def render_error(request: Request, status: int, detail: str) -> HTMLResponse:
    """The error page a browser gets (the app's handlers call it for requests that want HTML)."""
    try:
        me = page_principal(request)
    except ApiError:
        me = None
    return render(request, "error.html", me, status_code=status, status=status, detail=detail,
                  title=ERROR_TITLES.get(status, "出错了"))


def check_csrf(request: Request, token: str | None) -> None:
    """Refuse a form whose token is not the one tied to this session (a form posted from another site)."""
    if not request.app.state.signer.check_csrf(request.cookies.get(SESSION_COOKIE), token):
        raise ApiError(403, "表单已过期或来源不明，请刷新页面后重试", "csrf")
