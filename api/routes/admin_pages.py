"""The admin's pages: users and their API keys, in the browser (the same rules as ``/api/admin``).

An account is bound to its enterprise or broker by that one's full name (the page shows names, never ids);
the admin sees the names of the enterprises and brokers its accounts are bound to and nothing else of them."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.auth import ROLE_NAMES_ZH, Principal, Role
from api.errors import ApiError
from api.pages import check_csrf, login_redirect, page_principal, render
from api.policy import Act, Resource, authorize
from api.services.catalogue import id_by_name, names_by_id
from graph.model import NodeLabel

router = APIRouter(include_in_schema=False)
ADMIN_FLASH = {"created": "用户已创建。", "revoked": "密钥已吊销。", "active": "账号状态已更新。",
               "password": "密码已设置，该用户的登录已全部失效。"}


def _admin(request: Request) -> Principal | Response:
    me = page_principal(request)
    if me is None:
        return login_redirect(request)
    authorize(me, Resource.ACCOUNTS, Act.READ)
    return me


def _page(request: Request, me: Principal, status_code: int = 200, error: str | None = None,
          new_key: tuple[str, str] | None = None) -> HTMLResponse:
    accounts = request.app.state.accounts
    users = sorted(accounts.list_users(), key=lambda u: (u.role, u.name))
    keys = {u.id: accounts.list_keys(u.id) for u in users}
    bound = _bound_names(request, users)
    new_key_owner = next((u.name for u in users if new_key and u.id == new_key[0]), "")
    return render(request, "admin.html", me, status_code=status_code, users=users, keys=keys, error=error,
                  new_key=new_key, new_key_owner=new_key_owner, bound=bound,
                  roles=[(r.value, ROLE_NAMES_ZH[r]) for r in Role], role_names=ROLE_NAMES_ZH,
                  admin_flash=ADMIN_FLASH.get(request.query_params.get("done", "")))


def _bound_names(request: Request, users: list) -> dict[str, str]:
    """user id -> the name of the enterprise or broker the account acts for."""
    store = request.app.state.store
    out: dict[str, str] = {}
    for label, attr in ((NodeLabel.ENTERPRISE, "enterprise_id"), (NodeLabel.BROKER, "broker_id")):
        ids = sorted({getattr(u, attr) for u in users if getattr(u, attr)})
        if not ids:
            continue
        names = names_by_id(store, label, ids)
        for u in users:
            if getattr(u, attr):
                out[u.id] = names.get(getattr(u, attr), "（已不在系统中）")
    return out


def _id_by_name(request: Request, label: NodeLabel, name: str) -> str | None:
    return id_by_name(request.app.state.store, label, name)


@router.get("/admin", response_class=HTMLResponse)
def admin_page(request: Request) -> Response:
    me = _admin(request)
    return me if isinstance(me, Response) else _page(request, me)


@router.post("/admin/users")
def create_user(request: Request, name: str = Form(..., max_length=64), role: Role = Form(...),
                password: str = Form("", max_length=128), full_name: str = Form("", max_length=100),
                enterprise_name: str = Form("", max_length=200), broker_name: str = Form("", max_length=100),
                csrf: str = Form("", max_length=100)) -> Response:
    me = _admin(request)
    if isinstance(me, Response):
        return me
    check_csrf(request, csrf)
    if password and len(password) < 8:
        return _page(request, me, 422, "密码至少 8 个字符")
    enterprise_id = broker_id = None
    if role == Role.ENTERPRISE:
        enterprise_id = _id_by_name(request, NodeLabel.ENTERPRISE, enterprise_name.strip())
        if enterprise_id is None:
            return _page(request, me, 422, "企业用户须填写所属企业的全称，且与系统中登记的企业名称一致")
    if role == Role.BROKER:
        broker_id = _id_by_name(request, NodeLabel.BROKER, broker_name.strip())
        if broker_id is None:
            return _page(request, me, 422, "经纪人用户须填写系统中登记的技术经纪人姓名")
    try:
        user = request.app.state.accounts.create_user(name.strip(), role, password or None, enterprise_id, broker_id,
                                                      full_name.strip())
    except ApiError as exc:
        return _page(request, me, exc.status, exc.detail)
    request.app.state.audit.record(me, "create_user", NodeLabel.USER, user.id, role.value)
    return RedirectResponse("/admin?done=created", status_code=303)


@router.post("/admin/users/{user_id}/keys", response_class=HTMLResponse)
def issue_key(request: Request, user_id: str, csrf: str = Form("", max_length=100)) -> Response:
    me = _admin(request)
    if isinstance(me, Response):
        return me
    check_csrf(request, csrf)
    clear, record = request.app.state.accounts.issue_key(user_id)
    request.app.state.audit.record(me, "issue_key", NodeLabel.API_KEY, record.id, user_id)
    # the key in clear is shown on this answer only (not after a redirect, not stored)
    return _page(request, me, new_key=(user_id, clear))


@router.post("/admin/keys/{key_id}/revoke")
def revoke_key(request: Request, key_id: str, csrf: str = Form("", max_length=100)) -> Response:
    me = _admin(request)
    if isinstance(me, Response):
        return me
    check_csrf(request, csrf)
    request.app.state.accounts.revoke_key(key_id)
    request.app.state.audit.record(me, "revoke_key", NodeLabel.API_KEY, key_id)
    return RedirectResponse("/admin?done=revoked", status_code=303)


@router.post("/admin/users/{user_id}/active")
def set_active(request: Request, user_id: str, active: bool = Form(...), csrf: str = Form("", max_length=100)
               ) -> Response:
    me = _admin(request)
    if isinstance(me, Response):
        return me
    check_csrf(request, csrf)
    if user_id == me.user_id and not active:
        return _page(request, me, 422, "不能停用自己的账号")
    request.app.state.accounts.set_active(user_id, active)
    if not active:
        request.app.state.sessions.close_all(user_id)
    request.app.state.audit.record(me, "set_active", NodeLabel.USER, user_id, str(active))
    return RedirectResponse("/admin?done=active", status_code=303)


@router.post("/admin/users/{user_id}/password")
def set_password(request: Request, user_id: str, password: str = Form(..., max_length=128),
                 csrf: str = Form("", max_length=100)) -> Response:
    me = _admin(request)
    if isinstance(me, Response):
        return me
    check_csrf(request, csrf)
    if len(password) < 8:
        return _page(request, me, 422, "密码至少 8 个字符")
    request.app.state.accounts.set_password(user_id, password, request.app.state.sessions)
    request.app.state.audit.record(me, "set_password", NodeLabel.USER, user_id)
    return RedirectResponse("/admin?done=password", status_code=303)
