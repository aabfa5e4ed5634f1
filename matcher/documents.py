"""What the text channels read of each kind of node, and the index change it makes."""

from __future__ import annotations

from graph.model import MATURITY_ORDER, Achievement, Enterprise, Maturity, Need
from ingest.text import required_maturity
from matcher.index.corpus import Change


def achievement_text(a: Achievement) -> str:
    """What the text channels read of an achievement: name, description, application scope, keywords."""
    parts = [a.text]
    if a.keywords:
        parts.append(" ".join(a.keywords))
    return "\n".join(p for p in parts if p)


def enterprise_text(e: Enterprise) -> str:
    return "\n".join(p for p in (e.name, e.description, " ".join(e.products)) if p)


def need_min_maturity(need: Need) -> int | None:
    """The least maturity a need accepts, as a ``MATURITY_ORDER`` rank: its field, else what its text states."""
    stated = need.min_maturity or required_maturity(need.text)
    return MATURITY_ORDER[Maturity(stated)] if stated else None


def _source(node: Achievement | Need | Enterprise, source: str | None) -> str:
    """The graph's content hash of the node (given when read from the graph, else computed)."""
    return source if source is not None else str(node.to_props().get("content_hash") or "")


def achievement_change(a: Achievement, source: str | None = None) -> Change:
    """The lexical channels read the name once more before the text (``lexical_text``); dense ones the text."""
    return Change(a.id, achievement_text(a), a.name, _source(a, source))


def need_change(n: Need, source: str | None = None) -> Change:
    return Change(n.id, n.text, n.name, _source(n, source))


def enterprise_change(e: Enterprise, source: str | None = None) -> Change:
    return Change(e.id, enterprise_text(e), "", _source(e, source))
