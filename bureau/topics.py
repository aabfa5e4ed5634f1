"""Curating special projects: the unmet needs of each chain clustered into candidate topics the bureau can
turn into a 揭榜挂帅 challenge.

Needs are represented the way the matcher reads text (character n-grams plus jieba words, TF-IDF; or an
:class:`~matcher.embedders.base.Embedder`'s vectors), and grouped by agglomerative clustering with a cosine
distance threshold, so the number of topics follows the data. Each topic gets a draft title from its most
characteristic words, the needs and enterprises behind it, a budget estimate and candidate solvers.
:func:`publish_topic` writes the edited topic as a ``Challenge`` linked to its segment and department.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from statistics import median
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.cluster import AgglomerativeClustering
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize as l2_normalize

from bureau.gapmap import GapMap, NeedIsUnmet, build_gap_map
from bureau.stored_clusters import StoredClusters, clusters_path
from graph.exceptions import ValidationError
from graph.model import Challenge, ChallengeStatus, Department, Node, NodeLabel, Relation, RelType
from graph.store import GraphStore
from ingest.policy import department_id
from ingest.text import char_ngrams, tokenize
from matcher.index.words import StoredWords, words_root

#: texts -> one row per text (any scale; rows are L2-normalised before clustering)
NeedRepresentation = Callable[[Sequence[str]], np.ndarray]
#: topic statement -> candidate solvers, best first
SolverRanker = Callable[[str, int], list[dict[str, Any]]]

# Cosine distance under which groups of needs merge (average linkage). Lexical vectors of short texts are far apart:
# 0.93 keeps near-duplicates and same-problem needs together (GIS 局放 diagnosis + 盆式绝缘子 局放 in the demo) and
# different problems apart; see benchmarks/bureau_topics.py. Dense vectors need a much smaller threshold.
DEFAULT_DISTANCE = 0.93
BUREAU_DEPARTMENT = "市科技局"
# Key-term candidates that say how much or how long, not what (200mm, 一个月, 低于, 不足 ...).
_FILLER = re.compile(r"^(?:\d.*|[一二三四五六七八九十两几半]+[个月年天次倍]|低于|高于|不足|只能|内部|以上|以下|左右)$")


def _analyse(text: str) -> list[str]:
    # Words carry meaning, n-grams survive jieba splitting a technical term differently in two texts.
    return tokenize(text) + char_ngrams(text, (2, 3))


def tfidf_representation(texts: Sequence[str]) -> Any:
    """TF-IDF over jieba words and character 2-3-grams (the matcher's lexical view of a text), sparse: a dense
    copy of thousands of needs × their whole vocabulary would be gigabytes."""
    vectorizer = TfidfVectorizer(analyzer=_analyse, sublinear_tf=True)
    return vectorizer.fit_transform(list(texts))


def stored_words_representation(words: dict[str, Sequence[str]]) -> NeedRepresentation:
    """:func:`tfidf_representation` with each text's jieba words given (``words[text]``, kept on disk by
    :class:`~matcher.index.words.StoredWords`) instead of cut again: the same matrix."""

    def analyse(text: str) -> list[str]:
        return list(words[text]) + char_ngrams(text, (2, 3))

    return lambda texts: TfidfVectorizer(analyzer=analyse, sublinear_tf=True).fit_transform(list(texts))


def embedder_representation(embedder: Any) -> NeedRepresentation:
    """Use a matcher embedder (``embed_passages``) as the representation."""
    return lambda texts: np.asarray(embedder.embed_passages(list(texts)), dtype=np.float32)


def cluster_texts(
    texts: Sequence[str],
    distance_threshold: float = DEFAULT_DISTANCE,
    representation: NeedRepresentation = tfidf_representation,
) -> list[list[int]]:
    """Groups of indices into ``texts``, largest first; a lone text is its own group."""
    if not texts:
        return []
    if len(texts) == 1:
        return [[0]]
    rep = representation(texts)
    vectors = l2_normalize(rep.astype(np.float64) if sparse.issparse(rep) else np.asarray(rep, dtype=np.float64))
    # cosine distances from the (sparse) unit rows: the same average-linkage clustering as metric="cosine" on
    # the dense rows, in texts² memory instead of texts × vocabulary
    similarity = vectors @ vectors.T
    similarity = similarity.toarray() if sparse.issparse(similarity) else np.asarray(similarity)
    distances = np.clip(1.0 - similarity, 0.0, 2.0)
    np.fill_diagonal(distances, 0.0)
    labels = AgglomerativeClustering(
        n_clusters=None, distance_threshold=distance_threshold, metric="precomputed", linkage="average"
    ).fit_predict(distances)
    groups: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(int(label), []).append(i)
    return sorted(groups.values(), key=lambda g: (-len(g), g[0]))


@dataclass
class TopicCandidate:
    topic_id: str
    chain_id: str
    chain_name: str
    title: str
    keywords: list[str]
    need_ids: list[str]
    need_names: list[str]
    enterprise_ids: list[str]
    enterprise_names: list[str]
    segment_ids: list[str]  # most needs first
    budget_wan: float | None
    budget_note: str
    statement: str
    solvers: list[dict[str, Any]] = field(default_factory=list)
    solver_note: str = ""

    def as_row(self) -> dict[str, Any]:
        return {
            "topic_id": self.topic_id, "chain": self.chain_name, "title": self.title,
            "keywords": "、".join(self.keywords), "needs": len(self.need_ids),
            "need_names": "；".join(self.need_names), "enterprises": "、".join(self.enterprise_names),
            "segments": "、".join(self.segment_ids), "budget_wan": self.budget_wan, "budget_note": self.budget_note,
            "solvers": "、".join(str(s.get("name", s.get("id", ""))) for s in self.solvers),
            "solver_note": self.solver_note,
        }


def _title(keywords: list[str]) -> str:
    return ("、".join(keywords[:3]) + "关键技术攻关") if keywords else "待命名攻关专题"


def _budget(budgets: list[float | None]) -> tuple[float | None, str]:
    known = [b for b in budgets if b is not None]
    if not known:
        return None, "需求均未写明预算"
    missing = len(budgets) - len(known)
    if not missing:
        return round(sum(known), 2), f"{len(known)} 项需求的预算之和"
    # Needs without a budget are assumed to cost what the typical need in the topic states.
    estimate = sum(known) + missing * median(known)
    return round(estimate, 2), f"{len(known)} 项写明预算，另 {missing} 项按中位数 {median(known):g} 万元估算"


def default_solver_ranker(store: GraphStore, data_dir: Path, scorer: str = "lexical"
                          ) -> tuple[SolverRanker | None, str]:
    """Solvers from the challenge engineer's ``rank_solvers`` over the solvers' index kept in the data directory
    (rebuilt only when the works changed), each topic's ranking kept too and read while neither its statement nor
    any solver's works, name or track record changed (:class:`~matcher.solvers.stored_rankings.StoredRankings`);
    or none and why. The lexical scorer keeps topic curation quick; a published challenge is ranked again with
    the full one."""
    try:
        from matcher.solvers.stored_rankings import StoredRankings
    except ImportError:
        return None, "揭榜方推荐模块不可用"
    return StoredRankings(store, data_dir, scorer=scorer), ""


def curate_topics(
    store: GraphStore,
    gap_map: GapMap | None = None,
    need_is_unmet: NeedIsUnmet | None = None,
    chain_ids: Sequence[str] | None = None,
    distance_threshold: float = DEFAULT_DISTANCE,
    representation: NeedRepresentation | None = None,
    solver_ranker: SolverRanker | None = None,
    solvers_per_topic: int = 5,
    min_needs: int = 1,
    words: StoredWords | None = None,
    clusters: StoredClusters | None = None,
    data_dir: Path | None = None,
) -> list[TopicCandidate]:
    """Candidate special-project topics for each chain, from its unmet needs, largest topics first. The needs'
    words and key terms come from ``words`` (default: those kept in ``data_dir``, computed once per text);
    ``representation`` defaults to TF-IDF over those words and character n-grams, and then each chain's
    clustering is read from ``clusters`` (default: those kept in ``data_dir``) while its texts are the same;
    ``solver_ranker`` defaults to :func:`default_solver_ranker` over ``data_dir``."""
    gap_map = gap_map or build_gap_map(store, need_is_unmet, chain_ids)
    words = _kept_words(words, data_dir)
    solver_note = ""
    if solver_ranker is None:
        solver_ranker, solver_note = default_solver_ranker(store, _needed(data_dir))
    topics: list[TopicCandidate] = []
    for chain in gap_map.chains:
        if chain_ids is not None and chain.chain_id not in chain_ids:
            continue
        need_segment: dict[str, str] = {}
        for seg in chain.segments:
            for nid in seg.unmet_need_ids:
                need_segment.setdefault(nid, seg.segment_id)
        if not need_segment:
            continue
        by_id, need_terms, need_words = _need_rows(store, sorted(need_segment), words)
        ids = list(by_id)
        texts = [_text(by_id[i]) for i in ids]
        if representation is None:
            if clusters is None:
                clusters = StoredClusters(clusters_path(_needed(data_dir)))
            rep = stored_words_representation({_text(by_id[i]): need_words[i] for i in ids})
            groups = clusters.groups(texts, distance_threshold,
                                     lambda t: cluster_texts(t, distance_threshold, rep))  # noqa: B023 - called now
        else:
            groups = cluster_texts(texts, distance_threshold, representation)
        for group in groups:
            if len(group) < min_needs:
                continue
            members = [ids[i] for i in group]
            topic = _topic(chain.chain_id, chain.name, members, by_id, need_terms, need_segment, solver_note)
            if solver_ranker is not None:
                _add_solvers(topic, solver_ranker, solvers_per_topic)
            topics.append(topic)
    if clusters is not None:
        clusters.save(exactly=chain_ids is None)
    save = getattr(solver_ranker, "save", None)
    if callable(save):  # a ranker that keeps its rankings: once per view, those of topics gone dropped
        save(exactly=chain_ids is None and min_needs <= 1)
    topics.sort(key=lambda t: (-len(t.need_ids), t.chain_id, t.topic_id))
    return topics


def prepare_topics(store: GraphStore, data_dir: Path, need_is_unmet: NeedIsUnmet | None = None
                   ) -> list[TopicCandidate]:
    """The default topics view computed once (``techmatch bureau refresh``): every chain's clustering and every
    topic's solvers kept in ``data_dir``, so that the next view reads them."""
    return curate_topics(store, build_gap_map(store, need_is_unmet), data_dir=data_dir)


def _needed(data_dir: Path | None) -> Path:
    if data_dir is None:  # a caller's mistake, not a user's: the entry point passes its settings' data_dir
        raise TypeError("data_dir is needed where words, clusters or the solver ranker are not given")
    return data_dir


def _kept_words(words: StoredWords | None, data_dir: Path | None) -> StoredWords:
    return words if words is not None else StoredWords(words_root(_needed(data_dir)))


def _text(row: dict[str, Any]) -> str:
    return "\n".join(p for p in (row["name"], row["description"]) if p)


def _need_rows(store: GraphStore, need_ids: Sequence[str], words: StoredWords
               ) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]], dict[str, Sequence[str]]]:
    """The needs' rows (one per need: a need has one poster), each need's own key terms (general-Chinese
    IDF, so technical words beat filler) and its words (both computed once per text, :class:`StoredWords`)."""
    # one index lookup per id (UNWIND): with ``WHERE n.id IN $ids`` before the OPTIONAL MATCH, ArcadeDB spent
    # seconds per chain at 30,000 needs
    rows = store.read(
        "UNWIND $ids AS want MATCH (n:Need {id: want}) "
        "OPTIONAL MATCH (e:Enterprise)-[:POSTED]->(n) "
        "RETURN n.id AS id, n.name AS name, n.description AS description, n.budget_wan AS budget, "
        "coalesce(e.id, n.enterprise_id) AS eid, e.name AS ename ORDER BY n.id",
        ids=list(need_ids),
    )
    by_id = {r["id"]: r for r in rows}
    analysed = dict(zip(by_id, words.of([_text(r) for r in by_id.values()]), strict=True))
    terms = {i: [_as_written(w, _text(r)) for w in analysed[i].keywords[:8] if not _FILLER.match(w)]
             for i, r in by_id.items()}
    return by_id, terms, {i: a.words for i, a in analysed.items()}


def analyse_need_texts(store: GraphStore, words: StoredWords | None = None,
                       progress: Callable[[int, int], None] | None = None, chunk: int = 2000,
                       data_dir: Path | None = None) -> int:
    """Every need's words and key terms, computed now where not kept yet (``techmatch bureau refresh``), so that
    no topics view cuts a text; texts no longer in the graph are dropped. Written chunk by chunk: Ctrl-C keeps
    the chunks done. Returns how many needs. ``words``: those kept in ``data_dir`` unless given."""
    words = _kept_words(words, data_dir)
    texts = [_text(r) for r in store.read("MATCH (n:Need) RETURN n.name AS name, n.description AS description")]
    for start in range(0, len(texts), chunk):
        words.of(texts[start : start + chunk])
        if progress is not None:
            progress(min(start + chunk, len(texts)), len(texts))
    words.of(texts, exactly=True)
    return len(texts)


def _as_written(word: str, text: str) -> str:
    """The keyword as the need spells it (keywords are normalised: "svg" for the SVG a need names)."""
    if word.lower() == word.upper():  # nothing to fold (Chinese, digits): the spelling is the word's own
        return word
    found = re.search(re.escape(word), text, re.IGNORECASE)
    return found.group(0) if found else word


def _topic(chain_id: str, chain_name: str, members: list[str], by_id: dict[str, dict[str, Any]],
           need_terms: dict[str, list[str]], need_segment: dict[str, str], solver_note: str = "") -> TopicCandidate:
    """One topic from a group of needs: its title words are those most of its needs share."""
    votes: defaultdict[str, float] = defaultdict(float)
    for m in members:
        for rank, w in enumerate(need_terms[m]):
            votes[w] += 1.0 + 0.5 / (rank + 1)  # shared first, then how high the needs ranked it
    topic_keywords = [w for w, _ in sorted(votes.items(), key=lambda kv: (-kv[1], kv[0]))][:6]
    budget, budget_note = _budget([by_id[m]["budget"] for m in members])
    seg_counts = Counter(need_segment[m] for m in members)
    enterprises = {by_id[m]["eid"]: by_id[m]["ename"] or by_id[m]["eid"] for m in members if by_id[m]["eid"]}
    return TopicCandidate(
        topic_id="topic-" + hashlib.sha1("|".join(sorted(members)).encode()).hexdigest()[:10],
        chain_id=chain_id,
        chain_name=chain_name,
        title=_title(topic_keywords),
        keywords=topic_keywords,
        need_ids=members,
        need_names=[by_id[m]["name"] for m in members],
        enterprise_ids=sorted(enterprises),
        enterprise_names=[enterprises[e] for e in sorted(enterprises)],
        segment_ids=[s for s, _ in seg_counts.most_common()],
        budget_wan=budget,
        budget_note=budget_note,
        statement="；".join(by_id[m]["name"] for m in members),
        solver_note=solver_note,
    )


def _add_solvers(topic: TopicCandidate, solver_ranker: SolverRanker, k: int) -> None:
    # The enterprises that posted the needs are the demand side, not solvers of their own topic.
    ranked = solver_ranker(topic.statement, k + len(topic.enterprise_ids))
    own = {(NodeLabel.ENTERPRISE.value, e) for e in topic.enterprise_ids}
    topic.solvers = [r for r in ranked if (r.get("label"), r.get("id")) not in own][:k]


def topic_for_needs(store: GraphStore, need_ids: Sequence[str], data_dir: Path) -> TopicCandidate:
    """The topic of exactly these needs (of one chain: the first need's), as :func:`curate_topics` would
    describe it (their words kept in ``data_dir``): for a page that turns the topic it showed into a challenge,
    whatever the clustering says by then."""
    rows = store.read(
        "MATCH (n:Need)-[:IN_SEGMENT]->(s:ChainSegment)-[:PART_OF]->(c:IndustryChain) WHERE n.id IN $ids "
        "RETURN n.id AS id, s.id AS seg, c.id AS chain, c.name AS chain_name ORDER BY s.order, s.id",
        ids=list(need_ids))
    if not rows:
        raise ValidationError("这些需求不在任何产业链环节中", field="need_ids")
    first = next(r for n in need_ids for r in rows if r["id"] == n)
    need_segment: dict[str, str] = {}
    for r in rows:
        if r["chain"] == first["chain"]:
            need_segment.setdefault(r["id"], r["seg"])
    members = [n for n in dict.fromkeys(need_ids) if n in need_segment]
    by_id, need_terms, _ = _need_rows(store, members, _kept_words(None, data_dir))
    return _topic(first["chain"], first["chain_name"], members, by_id, need_terms, need_segment)


def publish_topic(
    store: GraphStore,
    topic: TopicCandidate,
    name: str | None = None,
    statement: str | None = None,
    status: ChallengeStatus = ChallengeStatus.DRAFT,
    budget_wan: float | None = None,
    deadline: date | None = None,
    competences: Sequence[str] | None = None,
    department: str = BUREAU_DEPARTMENT,
) -> Challenge:
    """Write an (edited) topic as a Challenge, IN_SEGMENT of its main segment and POSTED by the department,
    all in one transaction. Publishing the same topic again updates the same challenge."""
    if status not in (ChallengeStatus.DRAFT, ChallengeStatus.PUBLISHED):
        raise ValidationError(f"a curated topic is published as draft or published, not {status.value}", "status")
    if not topic.segment_ids:
        raise ValidationError(f"topic {topic.topic_id} has no chain segment", "segment_ids")
    if store.get_props(NodeLabel.CHAIN_SEGMENT, topic.segment_ids[0]) is None:  # check first: write all or nothing
        raise ValidationError(f"segment {topic.segment_ids[0]} is not in the graph", "segment_ids")
    dept_id = department_id(department)
    challenge = Challenge(
        id="chal-" + topic.topic_id.removeprefix("topic-"),
        owner_id=dept_id,
        source_need_ids=list(topic.need_ids),
        name=(name or topic.title).strip(),
        statement=(statement or topic.statement).strip(),
        segment_id=topic.segment_ids[0],
        budget_wan=budget_wan if budget_wan is not None else topic.budget_wan,
        deadline=deadline,
        status=status,
        competences=list(competences if competences is not None else topic.keywords),
    )
    dept = Department(id=dept_id, name=department)
    nodes: list[Node] = [dept, challenge]
    rels = [
        Relation(type=RelType.IN_SEGMENT, source_label=NodeLabel.CHALLENGE, source_id=challenge.id,
                 target_label=NodeLabel.CHAIN_SEGMENT, target_id=topic.segment_ids[0]),
        Relation(type=RelType.POSTED, source_label=NodeLabel.DEPARTMENT, source_id=dept.id,
                 target_label=NodeLabel.CHALLENGE, target_id=challenge.id),
    ]
    store.write_batch(nodes, rels)
    return challenge
