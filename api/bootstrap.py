"""First start of a service: load the demo graph when the graph is empty, and create one account per role
(admin, bureau, broker, enterprise) with a fresh password and API key, printed once."""

from __future__ import annotations

import importlib.util
import logging
import secrets
from dataclasses import dataclass

from api.auth import AccountService, Role
from graph.model import SERVICE_LABELS, Broker, NodeLabel, Relation, RelType
from graph.store import GraphStore

log = logging.getLogger(__name__)
DEMO_BROKER_ID = "broker-demo"


@dataclass(frozen=True)
class DemoAccount:
    name: str
    role: Role
    password: str
    api_key: str


def load_demo_if_empty(store: GraphStore) -> str:
    """Fill an empty graph: the demo data set when it is built, else the chain taxonomy. Says what it did."""
    counts = store.count_by_label()
    if any(k not in SERVICE_LABELS for k in counts):
        return "graph already holds data; nothing loaded"
    if importlib.util.find_spec("graph.demo") is not None:
        from graph.demo import load_demo

        load_demo(store)
        return "demo data loaded"
    from ingest.loader import ensure_taxonomy

    return f"demo data not available; chain taxonomy loaded ({ensure_taxonomy(store)} segments)"


def bootstrap_accounts(store: GraphStore) -> list[DemoAccount]:
    """One account per role when there are no users yet; returns them with their clear secrets."""
    accounts = AccountService(store)
    if accounts.list_users():
        return []
    enterprises = store.list_props(NodeLabel.ENTERPRISE, limit=3)
    if store.get_props(NodeLabel.BROKER, DEMO_BROKER_ID) is None:
        broker = Broker(id=DEMO_BROKER_ID, name="演示经纪人", organisation="平顶山市技术转移中心", demo=True)
        store.upsert_nodes([broker])
    store.upsert_relations([
        Relation(type=RelType.ASSIGNED_TO, source_label=NodeLabel.BROKER, source_id=DEMO_BROKER_ID,
                 target_label=NodeLabel.ENTERPRISE, target_id=e["id"])
        for e in enterprises
    ])
    plan: list[tuple[str, Role, dict[str, str]]] = [
        ("admin", Role.ADMIN, {}),
        ("bureau", Role.BUREAU, {}),
        ("broker", Role.BROKER, {"broker_id": DEMO_BROKER_ID}),
    ]
    if enterprises:
        plan.append(("enterprise", Role.ENTERPRISE, {"enterprise_id": enterprises[0]["id"]}))
    out = []
    for name, role, kw in plan:
        password = secrets.token_urlsafe(9)
        user = accounts.create_user(name, role, password=password, **kw)
        key, _ = accounts.issue_key(user.id)
        out.append(DemoAccount(name=name, role=role, password=password, api_key=key))
    return out
