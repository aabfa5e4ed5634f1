"""Dependencies the routes share: the store, the engine, the audit log and page parameters, each also as a
typed ``Annotated`` alias (``store: Store``) so that a route's signature says what it gets.

Those that only read the app's state are ``async``: FastAPI runs a plain ``def`` dependency on its thread pool,
and each such hand-over (a queue, a thread woken, the interpreter lock passed back and forth) cost a plain read
more than the dependency itself (``benchmarks/README.md``, *The service under load*). What may block (a graph
read, the engine's first build) stays a plain ``def``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Query, Request
from pydantic import BaseModel

from api.audit import AuditLog
from api.auth import AccountService, SessionStore
from api.config import ApiSettings
from api.errors import ApiError
from graph.model import Node
from graph.store import GraphStore

if TYPE_CHECKING:
    from matcher.engine import MatchEngine


async def get_store(request: Request) -> GraphStore:
    return request.app.state.store


async def get_settings_dep(request: Request) -> ApiSettings:
    return request.app.state.settings


async def get_audit(request: Request) -> AuditLog:
    return request.app.state.audit


async def get_accounts(request: Request) -> AccountService:
    return request.app.state.accounts


async def get_sessions(request: Request) -> SessionStore:
    return request.app.state.sessions


def get_engine(request: Request) -> MatchEngine:
    """The match engine, built on first use; 503 when the matcher cannot run here."""
    state = request.app.state
    engine = state.engine_provider()
    if engine is None:
        why = state.engine_error() if hasattr(state, "engine_error") else None
        raise ApiError(503, why or "匹配引擎在此服务器上不可用", error="matcher_unavailable")
    return engine


@dataclass(frozen=True)
class Page:
    page: int
    page_size: int

    @property
    def skip(self) -> int:
        return (self.page - 1) * self.page_size


MAX_PAGE_SIZE = 200


async def page_params(
    request: Request,
    page: int = Query(1, ge=1, le=1_000_000, description="1-based page number"),
    page_size: int = Query(
        20, ge=1, le=MAX_PAGE_SIZE, description="items per page; at most the server's max_page_size (200)"
    ),
) -> Page:
    limit = request.app.state.settings.max_page_size
    if page_size > limit:
        raise ApiError(422, f"page_size {page_size} 超过上限 {limit}", "page_size")
    return Page(page=page, page_size=page_size)


Store = Annotated[GraphStore, Depends(get_store)]
AppSettings = Annotated[ApiSettings, Depends(get_settings_dep)]
Audit = Annotated[AuditLog, Depends(get_audit)]
Accounts = Annotated[AccountService, Depends(get_accounts)]
Sessions = Annotated[SessionStore, Depends(get_sessions)]
#: a string: the matcher is imported where the engine is built, not by every module that names its type
Engine = Annotated["MatchEngine", Depends(get_engine)]
PageParams = Annotated[Page, Depends(page_params)]


class PageOut(BaseModel):
    page: int
    page_size: int
    has_more: bool


_INT64 = (-(2**63), 2**63 - 1)


def ensure_storable(node: Node) -> None:
    """Refuse values the graph cannot store (Bolt integers are 64-bit) with a 422 naming the field."""
    for name, value in node.to_props().items():
        values = value if isinstance(value, list) else [value]
        for v in values:
            if isinstance(v, int) and not isinstance(v, bool) and not _INT64[0] <= v <= _INT64[1]:
                raise ApiError(422, f"{name}: {v} 超出 64 位整数的范围", name)
            if isinstance(v, float) and v != v:  # NaN compares unequal to itself
                raise ApiError(422, f"{name}: 须为数字", name)
