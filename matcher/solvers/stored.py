"""The solvers' index kept on disk as a generation of the engine's index stack, and rebuilt only when what it was
built from changes: a view that ranks solvers (candidate topics, the bureau's report) maps it instead of
analysing every work's text again.

    data_dir/index/solvers/<scorer>/
        manifest.json            {"format", "generation", "fingerprint"}: replaced atomically
        g-<time>/                one generation of the works corpus (:mod:`matcher.index.generation`: documents,
                                 lexical matrices, dense rows, memory-mapped) plus works.json: each work's
                                 credited solvers, year and kind

Freshness: the *fingerprint* is a digest of the inputs, read from the graph on every use: each owned
achievement's and project's ``content_hash`` (every node write sets it: a changed title or text changes it)
with the solvers credited for it, every talent's affiliations, the channels' configuration (analyser, weighting,
jieba and its vocabulary, the dense encoder's row key) and the aggregation. That read is small (no texts); a
stored generation with another fingerprint is rebuilt from the works read in full, its dense rows taken from the
vector store the engine's corpora share (only new texts are encoded). The solvers' names and track records are
read at every use (:meth:`SolverIndex.over`): deals and projects change them without touching any work.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from pathlib import Path

from graph.model import NodeLabel
from graph.store import GraphStore
from matcher.embedders.base import Embedder
from matcher.index.files import read_json, write_json
from matcher.index.generation import (
    load_generation,
    prune_generations,
    read_manifest,
    write_generation,
    write_manifest,
)
from matcher.settings import MatcherSettings
from matcher.solvers.expertise import Aggregation, ExpertiseIndex, Work, make_aggregation
from matcher.solvers.ranking import DEFAULT_AGGREGATION, SolverIndex, expertise_index, works_from_graph
from matcher.solvers.refs import SOLVER_LABELS

#: bump when the layout of a generation or what the fingerprint covers changes
FORMAT = 2
_INPUTS = (
    "MATCH (s)-[:INVENTED|OWNS]->(a:Achievement) "
    "RETURN 'A:' + a.id AS id, a.content_hash AS h, labels(s)[0] + ':' + s.id AS o",
    "MATCH (s)-[:WORKED_ON|UNDERTAKES]->(p:Project) "
    "RETURN 'P:' + p.id AS id, p.content_hash AS h, labels(s)[0] + ':' + s.id AS o",
    "MATCH (t:Talent)-[:AFFILIATED_WITH]->(o) RETURN 'T:' + t.id AS id, '' AS h, labels(o)[0] + ':' + o.id AS o",
)
# A fitted expertise index per (directory, scorer), reused while the fingerprint holds: a service asks per request.
_LOADED: dict[tuple[str, str, str], tuple[str, ExpertiseIndex]] = {}
_LOCK = threading.Lock()


def clear_loaded() -> None:
    """Forget the fitted indexes this process holds: the next :func:`stored_solver_index` reads its directory
    again, as a fresh process would (a benchmark timing a first view)."""
    with _LOCK:
        _LOADED.clear()


def solvers_root(data_dir: Path) -> Path:
    return Path(data_dir) / "index" / "solvers"


def fingerprint(store: GraphStore, index: ExpertiseIndex, labels: Sequence[NodeLabel] = SOLVER_LABELS) -> str:
    """The digest of everything a stored expertise index depends on (see the module docstring)."""
    rows: list[tuple[str, str, str]] = []
    for query in _INPUTS:
        for r in store.read(query):
            if r["h"] is None:  # a node written without its content hash: fall back to reading the works
                return _works_digest(store, index, labels)
            rows.append((str(r["id"]), str(r["h"]), str(r["o"])))
    h = hashlib.sha1(_config(index, labels).encode("utf-8"))
    for row in sorted(rows):
        h.update("\x1f".join(row).encode("utf-8") + b"\x1e")
    return h.hexdigest()


def _config(index: ExpertiseIndex, labels: Sequence[NodeLabel]) -> str:
    """What shapes the stored index besides the works: aggregation, labels, each channel's weight and signature
    (a lexical channel's analyser and weighting, a dense channel's row encoding)."""
    signatures = {s.name: s.signature for s in index.builder.specs}
    signatures.update({ch.name: ch.encoding.key for ch in index.builder.dense_channels()})
    parts = [f"format {FORMAT}", _config_key(index.aggregation, labels)]
    parts += [f"{name}|{weight}|{signatures[name]}" for name, weight in sorted(index.weights.items())]
    return "\n".join(parts)


def _works_digest(store: GraphStore, index: ExpertiseIndex, labels: Sequence[NodeLabel]) -> str:
    h = hashlib.sha1(("works\n" + _config(index, labels)).encode("utf-8"))
    for w in works_from_graph(store, labels):
        h.update(json.dumps(_work_row(w), ensure_ascii=False).encode("utf-8") + b"\x1e")
    return h.hexdigest()


def _work_row(w: Work) -> list:
    return [w.id, w.text, list(w.owners), w.year, w.kind, w.title]


def _work_meta(w: Work) -> list:
    """What works.json keeps of a work (its text and title are the generation's documents)."""
    return [w.id, list(w.owners), w.year, w.kind]


def stored_solver_index(
    store: GraphStore,
    scorer: str,
    root: Path,
    aggregation: Aggregation | str = DEFAULT_AGGREGATION,
    track_weight: float = 0.2,
    labels: Sequence[NodeLabel] = SOLVER_LABELS,
    settings: MatcherSettings | None = None,
    encoder: Embedder | None = None,
) -> SolverIndex:
    """The solver index of ``scorer`` (as :meth:`SolverIndex.build` would make it from the graph now) kept under
    ``root`` (:func:`solvers_root` of the data directory): the stored generation when its fingerprint is the
    graph's, else built, stored and the older generations removed. ``settings`` name the dense encoder and the
    data directory whose vector store keeps its rows; ``encoder``: an engine's encoder to share."""
    root = Path(root)
    agg = make_aggregation(aggregation) if isinstance(aggregation, str) else aggregation
    fresh = expertise_index(scorer, agg, settings, encoder)
    key = (str(root), scorer, _config(fresh, labels))
    with _LOCK:
        hit = _LOADED.get(key)
        fp = fingerprint(store, fresh, labels)
        if hit is not None and hit[0] == fp:
            expertise = hit[1]
        else:  # a new object: a reader may still hold the previous one
            expertise = fresh
            if not _load(root, scorer, fp, expertise):
                expertise.fit(works_from_graph(store, labels))
                _save(root, scorer, fp, expertise)
            _LOADED[key] = (fp, expertise)
    index = SolverIndex.over(store, expertise, track_weight)
    index.source = fp
    return index


def _config_key(agg: Aggregation, labels: Sequence[NodeLabel]) -> str:
    return f"{agg.name}|{sorted(vars(agg).items())}|{sorted(NodeLabel(x).value for x in labels)}"


def _save(root: Path, scorer: str, fp: str, expertise: ExpertiseIndex) -> None:
    corpus = expertise.corpus.compacted()
    name = write_generation(root, scorer, corpus, expertise.builder.specs)
    # before the manifest names the generation: a reader never finds one without its works
    write_json(root / scorer / name / "works.json", [_work_meta(w) for w in expertise.works])
    write_manifest(root, scorer, {"generation": name, "fingerprint": fp, "solvers_format": FORMAT})
    prune_generations(root, scorer, keep=[name])


def _load(root: Path, scorer: str, fp: str, expertise: ExpertiseIndex) -> bool:
    """Give ``expertise`` the stored generation made with fingerprint ``fp``; False when there is none, or it
    cannot be read or lacks dense rows (then it is rebuilt)."""
    manifest = read_manifest(root, scorer)
    if manifest is None or manifest.get("solvers_format") != FORMAT or manifest.get("fingerprint") != fp:
        return False
    name = str(manifest.get("generation"))
    corpus = load_generation(root, scorer, name, expertise.builder.specs, expertise.builder.dense_channels())
    if corpus is None:
        return False
    try:
        meta = read_json(root / scorer / name / "works.json")
        works = [Work(id=r[0], text=corpus.text(r[0]), owners=tuple(r[1]), year=r[2], kind=r[3],
                      title=corpus.title(r[0])) for r in meta]
        expertise.adopt(works, corpus)
    except (OSError, ValueError, KeyError, IndexError, TypeError, json.JSONDecodeError):
        return False
    return all(ch.ready for ch in expertise.corpus.dense)


__all__ = ["FORMAT", "clear_loaded", "fingerprint", "solvers_root", "stored_solver_index"]
