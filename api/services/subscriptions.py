"""Saved searches and segment subscriptions: each user's own."""

from __future__ import annotations

from graph.model import NodeLabel, Subscription
from graph.store import GraphStore

_OF_USER = (f"MATCH (s:{NodeLabel.SUBSCRIPTION.value} {{user_id: $uid}}) RETURN properties(s) AS p "
            "ORDER BY s.created_at DESC")


def subscriptions_of(store: GraphStore, user_id: str) -> list[Subscription]:
    """The user's subscriptions, newest first."""
    rows = store.read(_OF_USER, uid=user_id)
    return [s for s in (Subscription.from_props(r["p"]) for r in rows) if isinstance(s, Subscription)]


def own_subscription(store: GraphStore, user_id: str, subscription_id: str) -> Subscription | None:
    """The subscription, when it is the user's; None otherwise (someone else's is as good as missing)."""
    node = store.get_node(NodeLabel.SUBSCRIPTION, subscription_id)
    return node if isinstance(node, Subscription) and node.user_id == user_id else None
