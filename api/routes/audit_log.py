"""The bureau reads the audit log: who viewed which non-public need, who changed what."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from api.audit import AuditEventOut
from api.auth import Principal, require_roles
from api.deps import Audit, PageOut, PageParams
from api.errors import ERROR_RESPONSES
from api.policy import Act, Resource, roles_for

router = APIRouter(prefix="/api/audit", tags=["bureau"], responses=ERROR_RESPONSES)


class AuditPage(PageOut):
    items: list[AuditEventOut]


@router.get("", response_model=AuditPage, summary="Query the audit log (bureau), newest first")
def query_audit(
    page: PageParams,
    target_id: str | None = Query(None, max_length=128, description="e.g. a need id"),
    user_id: str | None = Query(None, max_length=128),
    action: str | None = Query(None, max_length=40, description="view_need, post_need, feedback, ..."),
    *, audit: Audit,
    principal: Principal = Depends(require_roles(*roles_for(Resource.STATISTICS, Act.READ))),
) -> AuditPage:
    rows = audit.query(target_id, user_id, action, skip=page.skip, limit=page.page_size + 1)
    return AuditPage(items=rows[: page.page_size], page=page.page, page_size=page.page_size,
                     has_more=len(rows) > page.page_size)
