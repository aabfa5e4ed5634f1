"""The audit log: an append-only trail of AuditEvent nodes in the graph, queryable by the bureau.

Every view of a non-public need (in full or desensitised) and every change of access (keys, reveals,
verdicts) is recorded. There is deliberately no update or delete here.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from api.auth import Principal
from graph.model import AuditEvent, NodeLabel
from graph.store import GraphStore

_LBL = NodeLabel.AUDIT_EVENT.value
# One constant query per filter combination: filter values are parameters, a null parameter means "any".
_QUERY = (
    f"MATCH (a:{_LBL}) "
    "WHERE ($target_id IS NULL OR a.target_id = $target_id) AND ($user_id IS NULL OR a.user_id = $user_id) "
    "AND ($action IS NULL OR a.action = $action) "
    "RETURN properties(a) AS p ORDER BY a.at DESC, a.id SKIP $skip LIMIT $limit"
)


class AuditEventOut(BaseModel):
    id: str
    at: datetime
    user_id: str
    role: str
    action: str
    target_label: str
    target_id: str
    detail: str


class AuditLog:
    """Append and query audit events."""

    def __init__(self, store: GraphStore) -> None:
        self.store = store

    def record(
        self, principal: Principal | None, action: str, label: NodeLabel | str = "", target_id: str = "",
        detail: str = "",
    ) -> AuditEvent:
        event = AuditEvent(
            id=f"aud-{uuid.uuid4().hex}",
            at=datetime.now(UTC),
            user_id=principal.user_id if principal else "anonymous",
            role=principal.role.value if principal else "",
            action=action,
            target_label=str(label),
            target_id=target_id,
            detail=detail[:500],
        )
        self.store.create_node(event)
        return event

    def record_many(self, principal: Principal | None, action: str, label: NodeLabel | str,
                    targets: list[tuple[str, str]]) -> None:
        """One event per (target id, detail), written in a single transaction."""
        if not targets:
            return
        now = datetime.now(UTC)
        self.store.upsert_nodes([
            AuditEvent(id=f"aud-{uuid.uuid4().hex}", at=now, user_id=principal.user_id if principal else "anonymous",
                       role=principal.role.value if principal else "", action=action, target_label=str(label),
                       target_id=target_id, detail=detail[:500])
            for target_id, detail in targets
        ])

    def query(
        self, target_id: str | None = None, user_id: str | None = None, action: str | None = None,
        skip: int = 0, limit: int = 50,
    ) -> list[AuditEventOut]:
        rows: list[dict[str, Any]] = self.store.read(
            _QUERY, target_id=target_id, user_id=user_id, action=action, skip=int(skip), limit=int(limit)
        )
        return [AuditEventOut.model_validate(AuditEvent.from_props(r["p"]).model_dump()) for r in rows]
