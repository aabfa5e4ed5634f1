"""Admins manage users and their API keys. Keys are shown in clear exactly once, when issued."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Principal, Role, require_roles
from api.deps import Accounts, Audit, Sessions
from api.errors import ERROR_RESPONSES
from api.policy import Act, Resource, roles_for
from graph.model import NodeLabel, User

router = APIRouter(prefix="/api/admin", tags=["admin"], responses=ERROR_RESPONSES)
ADMIN = require_roles(*roles_for(Resource.ACCOUNTS, Act.UPDATE))


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$", description="login name")
    role: Role
    password: str | None = Field(None, min_length=8, max_length=128, description="for the web login")
    full_name: str = Field("", max_length=100)
    enterprise_id: str | None = Field(None, max_length=128, description="required for role enterprise")
    broker_id: str | None = Field(None, max_length=128, description="required for role broker")


class UserOut(BaseModel):
    id: str
    name: str
    full_name: str
    role: str
    enterprise_id: str | None
    broker_id: str | None
    active: bool
    has_password: bool


class KeyOut(BaseModel):
    key_id: str
    user_id: str
    api_key: str = Field(description="the key in clear; shown only now, store it safely")
    created_at: datetime | None


class KeyInfo(BaseModel):
    id: str
    created_at: str | None = None
    revoked: bool | None = None


class ActiveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    active: bool


class PasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str = Field(min_length=8, max_length=128)


def user_out(user: User) -> UserOut:
    return UserOut(id=user.id, name=user.name, full_name=user.full_name, role=user.role,
                   enterprise_id=user.enterprise_id, broker_id=user.broker_id, active=user.active,
                   has_password=bool(user.password_hash))


@router.get("/users", response_model=list[UserOut], summary="List users")
def list_users(
    accounts: Accounts, principal: Principal = Depends(ADMIN)
) -> list[UserOut]:
    return [user_out(u) for u in accounts.list_users()]


@router.post("/users", response_model=UserOut, status_code=201, summary="Create a user")
def create_user(body: UserIn, accounts: Accounts, audit: Audit,
                principal: Principal = Depends(ADMIN)) -> UserOut:
    user = accounts.create_user(body.name, body.role, body.password, body.enterprise_id, body.broker_id,
                                body.full_name)
    audit.record(principal, "create_user", NodeLabel.USER, user.id, body.role.value)
    return user_out(user)


@router.put("/users/{user_id}/active", response_model=UserOut, summary="Enable or disable a user")
def set_active(user_id: str, body: ActiveIn, accounts: Accounts,
               sessions: Sessions, audit: Audit,
               principal: Principal = Depends(ADMIN)) -> UserOut:
    user = accounts.set_active(user_id, body.active)
    if not body.active:
        sessions.close_all(user_id)  # a disabled account is logged out everywhere at once
    audit.record(principal, "set_active", NodeLabel.USER, user_id, str(body.active))
    return user_out(user)


@router.put("/users/{user_id}/password", response_model=UserOut, summary="Set a user's password (ends their sessions)")
def set_password(user_id: str, body: PasswordIn, accounts: Accounts,
                 sessions: Sessions, audit: Audit,
                 principal: Principal = Depends(ADMIN)) -> UserOut:
    user = accounts.set_password(user_id, body.password, sessions)
    audit.record(principal, "set_password", NodeLabel.USER, user_id)
    return user_out(user)


@router.post("/users/{user_id}/keys", response_model=KeyOut, status_code=201, summary="Issue an API key")
def issue_key(user_id: str, accounts: Accounts, audit: Audit,
              principal: Principal = Depends(ADMIN)) -> KeyOut:
    clear, record = accounts.issue_key(user_id)
    audit.record(principal, "issue_key", NodeLabel.API_KEY, record.id, user_id)
    return KeyOut(key_id=record.id, user_id=user_id, api_key=clear, created_at=record.created_at)


@router.get("/users/{user_id}/keys", response_model=list[KeyInfo], summary="List a user's keys (no secrets)")
def list_keys(user_id: str, accounts: Accounts,
              principal: Principal = Depends(ADMIN)) -> list[KeyInfo]:
    accounts.store.require_node(NodeLabel.USER, user_id)
    return [KeyInfo(id=str(k["id"]), created_at=k.get("created_at"), revoked=k.get("revoked"))
            for k in accounts.list_keys(user_id)]


@router.delete("/keys/{key_id}", status_code=204, summary="Revoke an API key")
def revoke_key(key_id: str, accounts: Accounts, audit: Audit,
               principal: Principal = Depends(ADMIN)) -> None:
    accounts.revoke_key(key_id)
    audit.record(principal, "revoke_key", NodeLabel.API_KEY, key_id)
