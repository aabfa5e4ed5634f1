"""The solvers' index kept on disk, like the achievement indexes, and rebuilt only when what it was built from
changes: a view that ranks solvers (candidate topics, the bureau's report) reads it instead of analysing every
work's text again.

    data_dir/index/solvers/<scorer>/
        manifest.json            {"format", "generation", "fingerprint"}: replaced atomically
        g-<time>/                one generation, never changed once written
            works.json           the works in index order (id, text, credited solvers, year, kind, title)
            <channel>/           a lexical channel's raw counts: terms.json, data / indices / indptr .npy

Freshness: the *fingerprint* is a digest of the inputs, read from the graph on every use: each owned
achievement's and project's ``content_hash`` (every node write sets it: a changed title or text changes it)
with the solvers credited for it, every talent's affiliations, the channels' configuration (analyser, weighting,
jieba and its vocabulary) and the aggregation. That read is small (no texts); a stored generation with another
fingerprint is rebuilt from the works read in full. The solvers' names and track records are read at every use
(:meth:`SolverIndex.over`): deals and projects change them without touching any work. Dense channels are not
stored: they are fitted on the stored works at load time (their encoder keeps its vectors on disk).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from pathlib import Path

from scipy import sparse

from graph.model import NodeLabel
from graph.store import GraphStore
from matcher.channels.sparse_index import SparseChannel
from matcher.index.files import load_array, private_dir, read_json, save_array, write_json
from matcher.index.generation import new_generation_name, prune_generations
from matcher.settings import MatcherSettings
from matcher.solvers.expertise import Aggregation, ExpertiseIndex, Work, make_aggregation
from matcher.solvers.ranking import DEFAULT_AGGREGATION, SolverIndex, build_channels, works_from_graph
from matcher.solvers.refs import SOLVER_LABELS

#: bump when the layout of a generation or what the fingerprint covers changes
FORMAT = 1
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


def _channel_signature(channel: object) -> str:
    from matcher.index.channels import vocabulary_digest

    if isinstance(channel, SparseChannel):
        weighting = channel.index.weighting
        return (f"{type(channel).__name__}|n={getattr(channel, 'n', '')}|{type(weighting).__name__}"
                f"|{sorted(vars(weighting).items())}|{vocabulary_digest()}")
    return type(channel).__name__


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
    parts = [f"format {FORMAT}", _config_key(index.aggregation, labels)]
    parts += [f"{wc.weight}|{_channel_signature(wc.channel)}" for wc in index.channels]
    return "\n".join(parts)


def _works_digest(store: GraphStore, index: ExpertiseIndex, labels: Sequence[NodeLabel]) -> str:
    h = hashlib.sha1(("works\n" + _config(index, labels)).encode("utf-8"))
    for w in works_from_graph(store, labels):
        h.update(json.dumps(_work_row(w), ensure_ascii=False).encode("utf-8") + b"\x1e")
    return h.hexdigest()


def _work_row(w: Work) -> list:
    return [w.id, w.text, list(w.owners), w.year, w.kind, w.title]


def stored_solver_index(
    store: GraphStore,
    scorer: str,
    root: Path,
    aggregation: Aggregation | str = DEFAULT_AGGREGATION,
    track_weight: float = 0.2,
    labels: Sequence[NodeLabel] = SOLVER_LABELS,
    settings: MatcherSettings | None = None,
) -> SolverIndex:
    """The solver index of ``scorer`` (as :meth:`SolverIndex.build` would make it from the graph now) kept under
    ``root`` (:func:`solvers_root` of the data directory): the stored generation when its fingerprint is the
    graph's, else built, stored and the older generations removed. ``settings`` name the dense encoder."""
    root = Path(root)
    agg = make_aggregation(aggregation) if isinstance(aggregation, str) else aggregation
    key = (str(root), scorer, _config_key(agg, labels))
    with _LOCK:
        hit = _LOADED.get(key)
        fp = fingerprint(store, hit[1] if hit else ExpertiseIndex(build_channels(scorer, settings=settings), agg),
                         labels)
        if hit is not None and hit[0] == fp:
            expertise = hit[1]
        else:  # a new object: a reader may still hold the previous one
            expertise = ExpertiseIndex(build_channels(scorer, settings=settings), agg)
            if not _load(root, scorer, fp, expertise):
                expertise.fit(works_from_graph(store, labels))
                _save(root, scorer, fp, expertise)
            _LOADED[key] = (fp, expertise)
    index = SolverIndex.over(store, expertise, track_weight)
    index.source = fp
    return index


def _config_key(agg: Aggregation, labels: Sequence[NodeLabel]) -> str:
    return f"{agg.name}|{sorted(vars(agg).items())}|{sorted(NodeLabel(x).value for x in labels)}"


def _channel_dir(gen: Path, position: int, channel: object) -> Path:
    return gen / f"{position}-{getattr(channel, 'name', type(channel).__name__)}"


def _save(root: Path, scorer: str, fp: str, expertise: ExpertiseIndex) -> None:
    cdir = private_dir(root / scorer)
    name = new_generation_name()
    gen = private_dir(cdir / f".{name}.tmp")
    write_json(gen / "works.json", [_work_row(w) for w in expertise.works])
    for i, wc in enumerate(expertise.channels):
        if not isinstance(wc.channel, SparseChannel):
            continue
        ids, terms, counts = wc.channel.index.counts()
        d = private_dir(_channel_dir(gen, i, wc.channel))
        write_json(d / "terms.json", terms)
        for part in ("data", "indices", "indptr"):
            save_array(d / f"{part}.npy", getattr(counts, part))
    gen.rename(cdir / name)
    write_json(cdir / "manifest.json", {"format": FORMAT, "generation": name, "fingerprint": fp})
    prune_generations(root, scorer, keep=[name])


def _load(root: Path, scorer: str, fp: str, expertise: ExpertiseIndex) -> bool:
    """Fit ``expertise`` from the stored generation made with fingerprint ``fp``; False when there is none
    (or it cannot be read: then it is rebuilt)."""
    try:
        manifest = read_json(root / scorer / "manifest.json")
    except (FileNotFoundError, json.JSONDecodeError):
        return False
    if manifest.get("format") != FORMAT or manifest.get("fingerprint") != fp:
        return False
    gen = root / scorer / str(manifest.get("generation"))
    try:
        works = [Work(id=r[0], text=r[1], owners=tuple(r[2]), year=r[3], kind=r[4], title=r[5])
                 for r in read_json(gen / "works.json")]
        expertise.adopt(works)
        ids = [w.id for w in expertise.works]
        texts = [w.text for w in expertise.works]
        for i, wc in enumerate(expertise.channels):
            if not isinstance(wc.channel, SparseChannel):
                wc.channel.fit(ids, texts)
                continue
            d = _channel_dir(gen, i, wc.channel)
            terms = read_json(d / "terms.json")
            parts = {p: load_array(d / f"{p}.npy", mmap=False) for p in ("data", "indices", "indptr")}
            counts = sparse.csr_matrix((parts["data"], parts["indices"], parts["indptr"]),
                                       shape=(len(ids), len(terms)))
            wc.channel.index.load_counts(ids, terms, counts)
    except (OSError, ValueError, KeyError, IndexError, TypeError, json.JSONDecodeError):
        return False
    return True


__all__ = ["FORMAT", "clear_loaded", "fingerprint", "solvers_root", "stored_solver_index"]
