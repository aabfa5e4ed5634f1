"""Explanations of a match: the key terms both sides share, the chain path linking them, the graph path of an
earlier relationship (achievement → institution → earlier deal → enterprise), and one sentence a broker reads,
e.g. "同属尼龙66聚合环节; 共有关键词 热稳定剂/黄变; 发明人所在高校曾与该企业合作"."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from graph.model import NodeLabel, RelType
from matcher.features.base import GraphContext
from matcher.features.chain import chain_relation
from matcher.features.collaboration import earlier_links
from matcher.index.corpus import CorpusIndex
from matcher.index.lexical import LexicalIndex
from matcher.results import ExplainedPath, Explanation, PathStep

#: the lexical channel whose terms an explanation shows: whole words a reader can check, never n-gram fragments
TERMS_CHANNEL = "bm25_words"

_RELATION_WORDS = {
    "same_segment": "同属{a}环节",
    "upstream": "成果处于{a}环节, 为需求方所在的{b}环节供给",
    "downstream": "成果处于{b}环节, 位于需求方{a}环节的下游",
    "same_chain": "同属{chain}产业链({a} / {b})",
}


_WORD = re.compile(r"^[\w\u4e00-\u9fff.+#-]+$")


def readable_term(term: str) -> bool:
    """A whole term a broker reads as a word: no slashes or other punctuation glued to it (尼龙66/c), and not a
    lone Latin letter or two (b, mm) that a tokeniser cut from a formula."""
    if not _WORD.match(term):
        return False
    return not (term.isascii() and len(term) <= 2)


def terms_shared_with(index: CorpusIndex, doc_id: str, query_terms: Sequence[str], k: int = 5,
                      idf_from: CorpusIndex | None = None) -> list[str]:
    """The query's words that a document of ``index`` holds, read from the corpus's :data:`TERMS_CHANNEL` matrix
    (no text is analysed again), rarest first as ``idf_from`` (default: ``index``) counts them; none when the
    corpus has no such channel. What an achievement's match and a solver's work show as shared words."""
    if not isinstance(index.channel(TERMS_CHANNEL), LexicalIndex):
        return []
    present = index.terms_in(doc_id, query_terms, TERMS_CHANNEL)
    lexical = (idf_from or index).channel(TERMS_CHANNEL)
    idf = lexical.idf(list(present)) if isinstance(lexical, LexicalIndex) else {}
    return shared_terms(query_terms, present, idf, k)


def shared_terms(query_terms: Iterable[str], doc_terms: set[str], idf: Mapping[str, float], k: int = 5) -> list[str]:
    """Query words the document also uses, rarest (most telling) first; a term inside a longer shared term
    is left out (尼龙 when 尼龙66 is listed)."""
    seen: list[str] = []
    for term in dict.fromkeys(query_terms):
        if term in doc_terms and readable_term(term):
            seen.append(term)
    seen.sort(key=lambda t: -idf.get(t, 0.0))
    out: list[str] = []
    for term in seen:
        if any(term in longer for longer in out):
            continue
        out.append(term)
        if len(out) >= k:
            break
    return out


def _step(ctx: GraphContext, node_id: str, label: str | None = None) -> PathStep:
    return PathStep(id=node_id, label=label or ctx.labels.get(node_id, ""), name=ctx.names.get(node_id, node_id))


def chain_path(ctx: GraphContext, supply_segs: set[str], demand_segs: set[str]) -> tuple[str, list[PathStep]]:
    relation, seg_ids = chain_relation(ctx, supply_segs, demand_segs)
    return relation, [_step(ctx, s, NodeLabel.CHAIN_SEGMENT.value) for s in seg_ids]


def collaboration_paths(ctx: GraphContext, achievement_id: str, enterprise_ids: Iterable[str]) -> list[ExplainedPath]:
    """achievement -[OWNS|INVENTED]- org/talent (-[AFFILIATED_WITH]- org) -[COLLABORATED_WITH|deal]- enterprise."""
    paths: list[ExplainedPath] = []
    info = ctx.supply.get(achievement_id)
    if info is None:
        return paths
    for ent in enterprise_ids:
        for org in earlier_links(ctx, achievement_id, ent):
            nodes = [_step(ctx, achievement_id, NodeLabel.ACHIEVEMENT.value)]
            rels: list[str] = []
            if org in info.owners:
                rels.append(RelType.OWNS.value)
            elif org in info.inventors:
                rels.append(RelType.INVENTED.value)
            else:  # the institution of an inventor
                talent = next(t for t in info.inventors if org in ctx.affiliations.get(t, ()))
                nodes.append(_step(ctx, talent))
                rels += [RelType.INVENTED.value, RelType.AFFILIATED_WITH.value]
            nodes.append(_step(ctx, org))
            if ent in ctx.collaborators.get(org, ()):
                rels.append(RelType.COLLABORATED_WITH.value)
                nodes.append(_step(ctx, ent, NodeLabel.ENTERPRISE.value))
            else:  # an earlier deal: another achievement of the same org went to this enterprise
                deal = next(a for a in ctx.deals_into.get(ent, ()) if org in ctx.orgs_behind(a))
                nodes.append(_step(ctx, deal, NodeLabel.ACHIEVEMENT.value))
                nodes.append(_step(ctx, ent, NodeLabel.ENTERPRISE.value))
                rels += ["OWNS" if org in ctx.supply[deal].owners else "INVENTED", RelType.TRANSFERRED_TO.value]
            text = nodes[0].name
            for rel, node in zip(rels, nodes[1:], strict=False):
                text += f" -[{rel}]- {node.name}"
            paths.append(ExplainedPath(nodes=nodes, rel_types=rels, text=text))
    return paths


def describe(
    ctx: GraphContext,
    terms: list[str],
    relation: str,
    chain_steps: list[PathStep],
    paths: list[ExplainedPath],
    extra: str = "",
) -> Explanation:
    parts = []
    if relation and chain_steps:
        a = chain_steps[0].name
        b = chain_steps[-1].name
        seg = ctx.segments.get(chain_steps[0].id)
        chain = ctx.chain_names.get(seg.chain_id, seg.chain_id) if seg else ""
        parts.append(_RELATION_WORDS[relation].format(a=a, b=b, chain=chain))
    if terms:
        parts.append("共有关键词 " + "/".join(terms[:4]))
    for path in paths[:1]:
        deal = bool(path.rel_types) and path.rel_types[-1] == RelType.TRANSFERRED_TO.value
        org = path.nodes[-3] if deal else path.nodes[-2]
        via_inventor = RelType.AFFILIATED_WITH.value in path.rel_types
        who = "发明人所在机构" if via_inventor else {
            NodeLabel.INSTITUTION.value: "成果所属机构", NodeLabel.TALENT.value: "发明人"
        }.get(org.label, "成果方")
        parts.append(f"{who}{org.name}曾向该企业转让成果" if deal else f"{who}{org.name}曾与该企业合作")
    if extra:
        parts.append(extra)
    sentence = "；".join(parts) if parts else "文本内容相近"
    return Explanation(
        shared_terms=terms,
        chain_path=chain_steps,
        chain_relation=relation,
        graph_paths=paths,
        sentence=sentence,
    )
