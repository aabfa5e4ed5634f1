"""The industry-chain taxonomy: chains, their segments and the supply edges between segments.

The taxonomy is written by hand in ``graph/data/chains.yaml`` (see the header there). :func:`load_taxonomy`
reads and validates it into typed nodes (:class:`IndustryChain`, :class:`ChainSegment`) and relations
(``PART_OF`` segment→chain, ``UPSTREAM_OF`` segment→segment). Validation errors name the file and the
entry: a duplicate id, an edge naming an unknown segment, a cycle in ``UPSTREAM_OF``, a field the
domain model rejects.

Other layers use it for vocabulary: :func:`domain_terms` feeds the matcher's jieba dictionary and
:func:`segment_keywords` lets the ingest classifier map free text onto segments.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pydantic
import yaml

from graph.exceptions import ValidationError
from graph.model import ChainSegment, IndustryChain, NodeLabel, Relation, RelType

#: the taxonomy shipped with techmatch
DEFAULT_TAXONOMY_PATH = Path(__file__).resolve().parent / "data" / "chains.yaml"


@dataclass
class Taxonomy:
    """The validated industry-chain taxonomy."""

    chains: list[IndustryChain]
    segments: list[ChainSegment]
    relations: list[Relation]
    source: str = ""
    _by_id: dict[str, ChainSegment] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_id = {s.id: s for s in self.segments}

    # -- lookups ---------------------------------------------------------------------------------
    def segment(self, segment_id: str) -> ChainSegment:
        """The segment with this id; KeyError names the id when there is none."""
        try:
            return self._by_id[segment_id]
        except KeyError:
            raise KeyError(f"no chain segment {segment_id!r} in the taxonomy") from None

    def chain(self, chain_id: str) -> IndustryChain:
        for chain in self.chains:
            if chain.id == chain_id:
                return chain
        raise KeyError(f"no industry chain {chain_id!r} in the taxonomy")

    def segments_of(self, chain_id: str) -> list[ChainSegment]:
        """The segments of one chain, left to right."""
        return sorted((s for s in self.segments if s.chain_id == chain_id), key=lambda s: s.order)

    def upstream_edges(self) -> list[tuple[str, str]]:
        return [(r.source_id, r.target_id) for r in self.relations if r.type is RelType.UPSTREAM_OF]

    # -- vocabulary ------------------------------------------------------------------------------
    def domain_terms(self) -> list[str]:
        """Every chain/segment name, keyword and alias, deduplicated in first-seen order."""
        terms: list[str] = []
        for chain in self.chains:
            terms.append(chain.name)
            terms.extend(chain.keywords)
        for seg in self.segments:
            terms.append(seg.name)
            terms.extend(seg.keywords)
            terms.extend(seg.aliases)
        return _unique(t.strip() for t in terms if t and t.strip())

    def segment_keywords(self) -> dict[str, list[str]]:
        """segment id → its keywords, aliases and name (the name last, so keywords come first)."""
        return {s.id: _unique([*s.keywords, *s.aliases, s.name]) for s in self.segments}


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


# libyaml's C parser when PyYAML was built with it (about ten times faster than the pure-Python one)
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """Parse YAML text into plain data (safe loader; libyaml's when available)."""
    return yaml.load(text, Loader=_SafeLoader)  # noqa: S506 - a SafeLoader: plain data only


# ---------------------------------------------------------------------------------------------
# Loading and validation


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Read and validate a taxonomy file (default: the shipped ``chains.yaml``).

    Raises :class:`graph.exceptions.ValidationError` with ``where`` = ``file:entry`` on the first problem.
    """
    file = Path(path) if path is not None else DEFAULT_TAXONOMY_PATH
    try:
        raw = load_yaml(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValidationError(f"taxonomy file not found: {file}", where=str(file)) from None
    except yaml.YAMLError as exc:
        raise ValidationError(f"{file}: not valid YAML: {exc}", where=str(file)) from exc
    return taxonomy_from_dict(raw, source=str(file))


def taxonomy_from_dict(raw: Any, source: str = "<taxonomy>") -> Taxonomy:
    """Validate an already-parsed taxonomy document (the structure of ``chains.yaml``)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("chains"), list):
        raise ValidationError(f"{source}: expected a mapping with a 'chains' list", where=source)
    chains: list[IndustryChain] = []
    segments: list[ChainSegment] = []
    relations: list[Relation] = []
    seen: dict[str, str] = {}  # id -> where first defined, for duplicate messages

    for ci, chain_raw in enumerate(raw["chains"]):
        where = f"{source}:chains[{ci}]"
        if not isinstance(chain_raw, dict):
            raise ValidationError(f"{where}: expected a mapping, got {type(chain_raw).__name__}", where=where)
        chain_data = {k: v for k, v in chain_raw.items() if k != "segments"}
        chain = _validate(IndustryChain, chain_data, where)
        where = f"{source}:{chain.id}"
        _claim(seen, chain.id, where)
        chains.append(chain)
        seg_list = chain_raw.get("segments") or []
        if not isinstance(seg_list, list) or not seg_list:
            raise ValidationError(f"{where}: a chain needs a non-empty 'segments' list", where=where)
        for si, seg_raw in enumerate(seg_list):
            seg_where = f"{where}.segments[{si}]"
            if not isinstance(seg_raw, dict):
                raise ValidationError(f"{seg_where}: expected a mapping", where=seg_where)
            declared = seg_raw.get("chain_id")
            if declared is not None and declared != chain.id:
                raise ValidationError(
                    f"{seg_where}: chain_id {declared!r} contradicts its enclosing chain {chain.id!r}",
                    field="chain_id",
                    where=seg_where,
                )
            seg = _validate(ChainSegment, {**seg_raw, "chain_id": chain.id}, seg_where)
            _claim(seen, seg.id, f"{where}.{seg.id}")
            segments.append(seg)
            relations.append(
                Relation(
                    type=RelType.PART_OF,
                    source_label=NodeLabel.CHAIN_SEGMENT,
                    source_id=seg.id,
                    target_label=NodeLabel.INDUSTRY_CHAIN,
                    target_id=chain.id,
                )
            )

    segment_ids = {s.id for s in segments}
    edges: list[tuple[str, str]] = []
    edge_set: set[tuple[str, str]] = set()
    for ei, edge in enumerate(raw.get("upstream_of") or []):
        where = f"{source}:upstream_of[{ei}]"
        if not (isinstance(edge, (list, tuple)) and len(edge) == 2 and all(isinstance(x, str) for x in edge)):
            raise ValidationError(f"{where}: an edge is [from_segment, to_segment], got {edge!r}", where=where)
        a, b = edge
        for end in (a, b):
            if end not in segment_ids:
                raise ValidationError(f"{where}: unknown segment {end!r} in edge {a} -> {b}", where=where)
        if a == b:
            raise ValidationError(f"{where}: segment {a!r} cannot be upstream of itself", where=where)
        if (a, b) in edge_set:
            raise ValidationError(f"{where}: duplicate edge {a} -> {b}", where=where)
        edge_set.add((a, b))
        edges.append((a, b))

    cycle = find_cycle(edges)
    if cycle:
        raise ValidationError(
            f"{source}: upstream_of has a cycle: {' -> '.join(cycle)}", field="upstream_of", where=source
        )
    relations.extend(
        Relation(
            type=RelType.UPSTREAM_OF,
            source_label=NodeLabel.CHAIN_SEGMENT,
            source_id=a,
            target_label=NodeLabel.CHAIN_SEGMENT,
            target_id=b,
        )
        for a, b in edges
    )
    return Taxonomy(chains=chains, segments=segments, relations=relations, source=source)


def _validate(model: type[IndustryChain] | type[ChainSegment], data: dict[str, Any], where: str) -> Any:
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(x) for x in first["loc"])
        raise ValidationError(f"{where}: {loc}: {first['msg']}", field=loc or None, where=where) from exc


def _claim(seen: dict[str, str], node_id: str, where: str) -> None:
    if node_id in seen:
        raise ValidationError(f"{where}: duplicate id {node_id!r} (first defined at {seen[node_id]})", where=where)
    seen[node_id] = where


def find_cycle(edges: Iterable[tuple[str, str]]) -> list[str]:
    """A cycle in a directed edge list as [a, b, ..., a], or [] when there is none."""
    graph: dict[str, list[str]] = {}
    for a, b in edges:
        graph.setdefault(a, []).append(b)
        graph.setdefault(b, [])
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(graph, white)
    for start in graph:
        if colour[start] != white:
            continue
        # iterative DFS: the stack holds (node, iterator over its successors) and ``path`` mirrors it
        path = [start]
        stack = [iter(graph[start])]
        colour[start] = grey
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                colour[path.pop()] = black
                stack.pop()
            elif colour[nxt] == grey:
                return [*path[path.index(nxt) :], nxt]
            elif colour[nxt] == white:
                colour[nxt] = grey
                path.append(nxt)
                stack.append(iter(graph[nxt]))
    return []


# ---------------------------------------------------------------------------------------------
# The shipped taxonomy, for callers that only need vocabulary


@lru_cache(maxsize=1)
def default_taxonomy() -> Taxonomy:
    """The shipped taxonomy, loaded once per process."""
    return load_taxonomy()


def domain_terms(taxonomy: Taxonomy | None = None) -> list[str]:
    """All chain and segment names, keywords and aliases (for the jieba user dictionary)."""
    return (taxonomy or default_taxonomy()).domain_terms()


def segment_keywords(taxonomy: Taxonomy | None = None) -> dict[str, list[str]]:
    """segment id → keywords + aliases + name, for keyword classifiers."""
    return (taxonomy or default_taxonomy()).segment_keywords()
