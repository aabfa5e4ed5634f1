"""What the 揭榜挂帅 application form offers: the institutions a broker may apply for, the talents who may lead
a team (with an affiliation), and the enterprises that may partner."""

from __future__ import annotations

from dataclasses import dataclass

from api.services.catalogue import NamedRef
from graph.model import NodeLabel
from graph.store import GraphStore

_INSTITUTIONS = f"MATCH (i:{NodeLabel.INSTITUTION.value}) RETURN i.id AS id, i.name AS name ORDER BY i.name"
_TALENTS = (f"MATCH (t:{NodeLabel.TALENT.value}) OPTIONAL MATCH (t)-[:AFFILIATED_WITH]->(o) "
            "RETURN t.id AS id, t.name AS name, collect(o.name)[0] AS org ORDER BY t.name")
_PARTNERS = (f"MATCH (e:{NodeLabel.ENTERPRISE.value}) WHERE e.region IS NOT NULL AND e.region <> '' "
             "RETURN e.id AS id, e.name AS name ORDER BY e.name")


@dataclass(frozen=True)
class TalentRef:
    id: str
    name: str
    org: str | None


def institutions(store: GraphStore) -> list[NamedRef]:
    return [NamedRef(r["id"], r["name"]) for r in store.read(_INSTITUTIONS)]


def talents(store: GraphStore) -> list[TalentRef]:
    """Every talent with the name of one organisation it is affiliated with (None when there is none)."""
    return [TalentRef(r["id"], r["name"], r["org"]) for r in store.read(_TALENTS)]


def partner_enterprises(store: GraphStore) -> list[NamedRef]:
    """Enterprises with a known region: the local partners an application may name."""
    return [NamedRef(r["id"], r["name"]) for r in store.read(_PARTNERS)]
