"""What forms and lists look up: names by id, an id by its name, the industry chains, their segments, the
regions, and the achievements behind a list of matches."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from graph.model import Achievement, NodeLabel
from graph.store import GraphStore

_NAMES_ANY = "MATCH (x) WHERE x.id IN $ids RETURN x.id AS id, x.name AS name"
_CHAINS = f"MATCH (c:{NodeLabel.INDUSTRY_CHAIN.value}) RETURN c.id AS id, c.name AS name ORDER BY c.id"
_SEGMENTS = (f"MATCH (s:{NodeLabel.CHAIN_SEGMENT.value}) "
             "RETURN s.id AS id, s.name AS name, s.chain_id AS chain ORDER BY s.chain_id, s.order")
_SEGMENTS_NAMED = (f"MATCH (s:{NodeLabel.CHAIN_SEGMENT.value}) "
                   f"OPTIONAL MATCH (s)-[:PART_OF]->(c:{NodeLabel.INDUSTRY_CHAIN.value}) "
                   "RETURN s.id AS id, s.name AS name, c.name AS chain ORDER BY s.chain_id, s.order")
_SEGMENT_CHAINS = f"MATCH (s:{NodeLabel.CHAIN_SEGMENT.value}) RETURN s.id AS id, s.chain_id AS chain"
_REGIONS = f"MATCH (r:{NodeLabel.REGION.value}) RETURN r.name AS name ORDER BY r.name"


@dataclass(frozen=True)
class NamedRef:
    id: str
    name: str


@dataclass(frozen=True)
class SegmentRef:
    """A chain segment in a form; ``chain`` is the chain's id or its name, as the function that made it says."""

    id: str
    name: str
    chain: str | None


def _names_query(label: NodeLabel) -> str:
    return f"MATCH (x:{label.value}) WHERE x.id IN $ids RETURN x.id AS id, x.name AS name"


def names_by_id(store: GraphStore, label: NodeLabel | None, ids: Iterable[str]) -> dict[str, str]:
    """id -> name of the nodes of ``label`` (None: of any label) among ``ids``; unknown ids are left out."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    query = _NAMES_ANY if label is None else _names_query(label)
    return {r["id"]: r["name"] for r in store.read(query, ids=wanted)}


#: nodes whose name is not shown in the audit trail (keys, sessions, events, verdicts have no name of their own)
_NAMELESS = (NodeLabel.API_KEY, NodeLabel.SESSION, NodeLabel.AUDIT_EVENT, NodeLabel.FEEDBACK)


def display_names(store: GraphStore, ids_by_label: dict[str, set[str]]) -> dict[tuple[str, str], str]:
    """The name a person knows each (label, id) by (a user's full name, an application's team), read once per
    label; unknown labels and nameless nodes are left out."""
    out: dict[tuple[str, str], str] = {}
    for label, ids in ids_by_label.items():
        try:
            lbl = NodeLabel(label)
        except ValueError:
            continue
        if lbl in _NAMELESS:
            continue
        first = {NodeLabel.USER: "x.full_name", NodeLabel.APPLICATION: "x.team_name"}.get(lbl, "x.name")
        for r in store.read(f"MATCH (x:{lbl.value}) WHERE x.id IN $ids RETURN x.id AS id, {first} AS n, "
                            "x.name AS name", ids=sorted(ids)):
            out[(label, r["id"])] = r["n"] or r["name"] or ""
    return out


def id_by_name(store: GraphStore, label: NodeLabel, name: str) -> str | None:
    """The id of the one node of ``label`` called ``name``; None when there is none or more than one."""
    rows = store.read(f"MATCH (x:{label.value}) WHERE x.name = $name RETURN x.id AS id", name=name)
    return rows[0]["id"] if len(rows) == 1 else None


def chains(store: GraphStore) -> list[NamedRef]:
    return [NamedRef(r["id"], r["name"]) for r in store.read(_CHAINS)]


def segments(store: GraphStore) -> list[SegmentRef]:
    """Every chain segment in chain order; ``chain`` is the chain's id."""
    return [SegmentRef(r["id"], r["name"], r["chain"]) for r in store.read(_SEGMENTS)]


def segments_with_chain_names(store: GraphStore) -> list[SegmentRef]:
    """Every chain segment in chain order; ``chain`` is the chain's name (None when it hangs in no chain)."""
    return [SegmentRef(r["id"], r["name"], r["chain"]) for r in store.read(_SEGMENTS_NAMED)]


def segment_chains(store: GraphStore) -> dict[str, str]:
    """segment id -> its chain's id."""
    return {r["id"]: r["chain"] for r in store.read(_SEGMENT_CHAINS)}


def regions(store: GraphStore) -> list[str]:
    return [r["name"] for r in store.read(_REGIONS)]


def achievements_by_id(store: GraphStore, ids: list[str]) -> dict[str, Achievement]:
    """The achievements behind a list of matches (cooperation modes, owners, maturity for the cards)."""
    if not ids:
        return {}
    rows = store.read(f"MATCH (a:{NodeLabel.ACHIEVEMENT.value}) WHERE a.id IN $ids RETURN properties(a) AS p", ids=ids)
    return {a.id: a for a in (Achievement.from_props(r["p"]) for r in rows) if isinstance(a, Achievement)}
