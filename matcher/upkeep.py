"""Index upkeep: the engine's indexes built once, persisted, kept current, swapped in for readers.

Readers (the three questions) take :attr:`IndexKeeper.snapshot` once per request: an immutable
:class:`Snapshot` of the three corpora (achievements, needs, enterprises) and the graph context. Writers
(edits, sync with the graph, the embedding job, compaction) hold the keeper's write lock, derive a new snapshot
from the current one and swap it in with one assignment: a query never waits for a write and never sees half
of one.

Persistence (``MatcherSettings.data_dir/index``, when enabled): every corpus is a generation of memory-mapped files
(:mod:`matcher.index.generation`) plus the edits since, the graph context a JSON file, dense rows a
content-addressed store (:mod:`matcher.index.vectors`). A restart maps them, serves at once, and compares the
graph's content hashes with the indexed ones in the background: only changed documents are re-indexed, only
new texts are embedded. Dense channels whose rows are missing are computed by a background job
(:mod:`matcher.index.job`); until then queries are answered by the channels that are ready, and every result
names them.

Several processes (``techmatch serve --workers N``) serve from one data directory. One of them, the holder of
``index/writer.lock``, writes generations, the context and dense rows; the others map what it wrote. Every
process indexes the edits it receives at once and tells the others through the change log
(:mod:`matcher.index.changelog`); each tails it, watches the manifests for new generations, and takes over the
writer's role when the writer goes away.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypedDict, Unpack

import numpy as np

from graph.model import Achievement, Enterprise, Need, NodeLabel
from graph.store import GraphStore
from matcher.documents import achievement_change, enterprise_change, need_change
from matcher.embedders.base import Embedder
from matcher.features.base import GraphContext, supply_info
from matcher.index.builder import CorpusBuilder
from matcher.index.changelog import ChangeLog, Entry, WriterLock
from matcher.index.channels import lexical_specs
from matcher.index.corpus import Change, CorpusIndex
from matcher.index.dense import DenseIndex
from matcher.index.encoder_pool import pool_workers
from matcher.index.files import private_dir, read_json, write_json
from matcher.index.generation import (
    LexicalSpec,
    add_dense_rows,
    load_generation,
    prune_generations,
    read_manifest,
    write_generation,
    write_manifest,
)
from matcher.index.job import JobProgress, embed_missing
from matcher.index.queries import QueryVectors, StorableQueries
from matcher.index.vectors import VectorStore
from matcher.settings import MatcherSettings

log = logging.getLogger(__name__)

CORPORA = ("achievements", "needs", "enterprises")
LABELS = {"achievements": NodeLabel.ACHIEVEMENT, "needs": NodeLabel.NEED, "enterprises": NodeLabel.ENTERPRISE}
#: corpora with dense channels (enterprise profiles are matched lexically)
DENSE_CORPORA = ("achievements", "needs")
#: a corpus whose edits since its generation pass this share of it (and at least COMPACT_MIN) is written anew
COMPACT_FRACTION = 0.05
COMPACT_MIN = 500
#: sync() re-reads the graph context of this many changed needs one by one; more, and it reloads it whole
SYNC_CONTEXT_ONE_BY_ONE = 200
#: how often a process looks at the change log and the manifests (seconds)
FOLLOW_INTERVAL = 0.5
#: how long a process that is not the writer waits for the writer's first generations (seconds)
FIRST_BUILD_WAIT = 3600.0


@dataclass(frozen=True)
class Snapshot:
    """Everything a query reads, as of one moment."""

    achievements: CorpusIndex
    needs: CorpusIndex
    enterprises: CorpusIndex
    ctx: GraphContext = field(default_factory=GraphContext)
    #: needs and enterprises indexed by this process (edits, or an engine without a graph); others are read
    #: from the graph when a question needs them
    need_nodes: Mapping[str, Need] = field(default_factory=dict)
    ent_nodes: Mapping[str, Enterprise] = field(default_factory=dict)

    def corpus(self, name: str) -> CorpusIndex:
        return getattr(self, name)

    def with_corpus(self, name: str, index: CorpusIndex) -> Snapshot:
        """This snapshot with corpus ``name`` (one of :data:`CORPORA`) answered by ``index``."""
        if name == "achievements":
            return replace(self, achievements=index)
        if name == "needs":
            return replace(self, needs=index)
        if name == "enterprises":
            return replace(self, enterprises=index)
        raise ValueError(f"no corpus {name!r}")


class SnapshotChanges(TypedDict, total=False):
    """The fields of a :class:`Snapshot` that one swap replaces."""

    achievements: CorpusIndex
    needs: CorpusIndex
    enterprises: CorpusIndex
    ctx: GraphContext
    need_nodes: Mapping[str, Need]
    ent_nodes: Mapping[str, Enterprise]


class IndexKeeper:
    """Builds, loads, persists and updates the engine's indexes; see the module docstring."""

    def __init__(
        self,
        store: GraphStore | None,
        settings: MatcherSettings,
        embedders: Sequence[tuple[str, Embedder]] = (),
        persist: bool = True,
        progress: Callable[[JobProgress], None] | None = None,
    ) -> None:
        """``embedders``: (channel name, encoder) of each dense channel, the primary first."""
        self.store = store
        self.settings = settings
        self.embedders = list(embedders)
        self.root: Path | None = Path(settings.data_dir) / "index" if persist else None
        self.vectors_root = Path(settings.data_dir) / "index" / "vectors"
        #: the channels of every corpus and their vector store (the solvers' works are indexed by the same code)
        self.builder = CorpusBuilder(lexical_specs(), self.embedders, self.vectors_root)
        self.specs: list[LexicalSpec] = self.builder.specs
        self.queries = self.builder.queries
        self.progress_callback = progress
        self.progress: dict[str, JobProgress] = {}
        self._write = threading.RLock()
        self._stop = threading.Event()
        self._job: threading.Thread | None = None
        if self.root is not None:  # posted needs' query vectors, computed by the embedding job, read by requests
            for name, emb in self.embedders:
                if isinstance(emb, StorableQueries):
                    self.queries[name].stored = self._store(emb.query_key, emb.dim)
        self._snap = Snapshot(self._empty("achievements"), self._empty("needs"), self._empty("enterprises"))
        self.writer = WriterLock(self.root) if self.root is not None else None
        self.log = ChangeLog(self.root) if self.root is not None else None
        self._manifests: dict[str, dict] = {}
        self._context_mtime = 0.0
        self._follower: threading.Thread | None = None
        #: called with the ids of verdicts other processes recorded
        self.on_feedback: Callable[[list[str]], None] | None = None

    # -- the snapshot ------------------------------------------------------------------------------
    @property
    def snapshot(self) -> Snapshot:
        return self._snap

    def _swap(self, **changes: Unpack[SnapshotChanges]) -> Snapshot:
        self._snap = replace(self._snap, **changes)
        return self._snap

    def _swap_corpus(self, corpus: str, index: CorpusIndex) -> Snapshot:
        self._snap = self._snap.with_corpus(corpus, index)
        return self._snap

    def _empty(self, corpus: str) -> CorpusIndex:
        return self.builder.empty(dense=corpus in DENSE_CORPORA)

    def channel_names(self, corpus: str = "achievements") -> list[str]:
        return self._snap.corpus(corpus).channel_names

    # -- building ----------------------------------------------------------------------------------
    def build(self, corpus: str, changes: Sequence[Change], vectors: Mapping[str, np.ndarray] | None = None,
              progress: Callable[[int], None] | None = None) -> CorpusIndex:
        """A fresh corpus index of ``changes`` (later repeats of an id win). Dense rows come from ``vectors`` (by
        channel name, aligned with the documents, full-vector channels only), the vector store, or stay missing
        for the embedding job."""
        return self.builder.build(changes, dense=corpus in DENSE_CORPORA, vectors=vectors, progress=progress)

    def _store(self, key: str, dim: int) -> VectorStore:
        vs = self.builder.store(key, dim)
        assert vs is not None  # the keeper's builder always has a vector store
        return vs

    def refresh(self) -> None:
        """Rebuild every index and the graph context from the graph (the source of truth); persisted when
        enabled. Dense rows come from the vector store or the embedding job."""
        if self.store is None:
            raise ValueError("no graph store to refresh from")
        t0 = time.perf_counter()
        props = {c: self.store.all_props(LABELS[c]) for c in CORPORA}
        ctx = GraphContext.load(self.store)
        with self._write:
            self._swap(
                achievements=self.build("achievements", [
                    achievement_change(Achievement.from_props(p), p.get("content_hash") or "")
                    for p in props["achievements"]]),
                needs=self.build("needs", [
                    need_change(Need.from_props(p), p.get("content_hash") or "") for p in props["needs"]]),
                enterprises=self.build("enterprises", [
                    enterprise_change(Enterprise.from_props(p), p.get("content_hash") or "")
                    for p in props["enterprises"]]),
                ctx=ctx, need_nodes={}, ent_nodes={},
            )
            log.info("indexes built from the graph in %.1fs", time.perf_counter() - t0)
            self.persist_all()

    # -- persistence -------------------------------------------------------------------------------
    def load(self) -> bool:
        """The persisted indexes (memory-mapped) and graph context, when every corpus has a generation that
        fits the configured channels; False (nothing changed) otherwise."""
        if self.root is None:
            return False
        loaded: dict[str, CorpusIndex] = {}
        manifests: dict[str, dict] = {}
        for corpus in CORPORA:
            manifest = read_manifest(self.root, corpus)
            if manifest is None:
                return False
            index = self._load_corpus(corpus, manifest)
            if index is None:
                return False
            loaded[corpus], manifests[corpus] = index, manifest
        ctx = self._read_context()
        if ctx is None:
            return False
        with self._write:
            self._swap(ctx=ctx, achievements=loaded["achievements"], needs=loaded["needs"],
                       enterprises=loaded["enterprises"])
            self._manifests = manifests
        return True

    def _load_corpus(self, corpus: str, manifest: dict) -> CorpusIndex | None:
        assert self.root is not None
        dense = self.builder.dense_channels() if corpus in DENSE_CORPORA else ()
        index = load_generation(self.root, corpus, manifest["generation"], self.specs, dense)
        return None if index is None else self.builder.fill_from_store(index)

    def _read_context(self) -> GraphContext | None:
        assert self.root is not None
        path = self.root / "context.json"
        try:
            mtime = path.stat().st_mtime
            ctx = GraphContext.from_dict(read_json(path))
        except (FileNotFoundError, ValueError):
            return None
        self._context_mtime = mtime
        return ctx

    @property
    def is_writer(self) -> bool:
        return self.writer is not None and self.writer.held

    def persist(self, corpus: str) -> None:
        """Write the corpus (compacted) as a new generation and make it current; older generations go."""
        if self.root is None or not self.is_writer:
            return
        with self._write:
            index = self._snap.corpus(corpus).compacted()
            private_dir(self.root)
            name = write_generation(self.root, corpus, index, self.specs)
            self._publish(corpus, name)
            # serve from the files just written: memory-mapped, shared with the other processes, off the heap
            mapped = self._load_corpus(corpus, self._manifests[corpus])
            self._swap_corpus(corpus, mapped if mapped is not None else index.with_generation(name))

    def _publish(self, corpus: str, generation: str) -> None:
        """Make a generation current: the manifest names it and the change-log position it includes."""
        assert self.root is not None and self.log is not None
        manifest = {"generation": generation, "log_epoch": self.log.epoch, "log_offset": self.log.offset,
                    "revision": time.time_ns()}
        old = self._manifests.get(corpus, {}).get("generation")
        write_manifest(self.root, corpus, manifest)
        self._manifests[corpus] = manifest
        # the previous generation stays until the next one: processes that still map it keep a whole file set
        prune_generations(self.root, corpus, keep=[generation, old] if old else [generation])

    def persist_context(self) -> None:
        if self.root is not None and self.is_writer:
            private_dir(self.root)
            write_json(self.root / "context.json", self._snap.ctx.to_dict())
            self._context_mtime = (self.root / "context.json").stat().st_mtime

    def persist_all(self) -> None:
        for corpus in CORPORA:
            self.persist(corpus)
        self.persist_context()

    def _maybe_compact(self, corpus: str) -> None:
        index = self._snap.corpus(corpus)
        edits = index.docs.n_rows - index.docs.n_base
        if edits and edits > max(COMPACT_MIN, COMPACT_FRACTION * len(index)):
            if self.is_writer:
                self.persist(corpus)
            else:
                with self._write:
                    self._swap_corpus(corpus, self._snap.corpus(corpus).compacted())

    # -- edits -------------------------------------------------------------------------------------
    def apply(self, corpus: str, changes: Sequence[Change], removed: Sequence[str] = (),
              rows: Mapping[str, np.ndarray] | None = None) -> None:
        """Index new or edited documents and drop removed ones (a new snapshot; unchanged texts skipped)."""
        with self._write:
            current = self._snap.corpus(corpus)
            updated = current.with_changes(changes, removed, rows)
            if updated is not current:
                self._swap_corpus(corpus, updated)
        self._maybe_compact(corpus)

    def tell(self, kind: str, ids: Sequence[str], op: str = "upsert") -> None:
        """Tell the other processes serving from these indexes that these nodes changed."""
        if self.log is not None and ids:
            self.log.append([Entry(kind, i, op) for i in ids])

    def index_achievements(self, achievements: Iterable[Achievement], rebuild: bool = False,
                           vectors: Mapping[str, np.ndarray] | None = None) -> None:
        achs = list(achievements)
        props = [a.to_props() for a in achs]  # once per node: its content hash and its supply attributes
        changes = [achievement_change(a, p.get("content_hash") or "") for a, p in zip(achs, props, strict=True)]
        with self._write:
            if rebuild:
                self._swap(achievements=self.build("achievements", changes, vectors))
            else:
                self.apply("achievements", changes)
            ctx = self._snap.ctx.evolve("supply", "names", "labels")
            for a, p in zip(achs, props, strict=True):
                info = supply_info({"id": a.id, **p} | {
                    "coop": [m.value for m in a.cooperation_modes], "price": a.price_wan,
                    "maturity": a.maturity.value if a.maturity else None,
                })
                old = ctx.supply.get(a.id)
                if old is not None:  # keep the graph-derived relations of an edited achievement
                    info.owners, info.inventors, info.segments = old.owners, old.inventors, old.segments
                ctx.supply[a.id] = info
                ctx.names[a.id], ctx.labels[a.id] = a.name, NodeLabel.ACHIEVEMENT.value
            self._swap(ctx=ctx)

    def index_needs(self, needs: Iterable[Need], rebuild: bool = False, reload_context: bool = False) -> None:
        needs = list(needs)
        changes = [need_change(n) for n in needs]
        with self._write:
            if rebuild:
                self._swap(needs=self.build("needs", changes), need_nodes={})
            else:
                self.apply("needs", changes)
            ctx = self._snap.ctx.evolve("names", "labels", "need_enterprise", "enterprise_needs", "need_segments")
            nodes = dict(self._snap.need_nodes)
            for n in needs:
                nodes[n.id] = n
                ctx.names[n.id], ctx.labels[n.id] = n.name, NodeLabel.NEED.value
                if n.enterprise_id:
                    ctx.need_enterprise[n.id] = n.enterprise_id
                    ctx.enterprise_needs[n.enterprise_id].add(n.id)
                if reload_context and self.store is not None:
                    ctx.load_need(self.store, n.id)
            self._swap(ctx=ctx, need_nodes=nodes)

    def index_enterprises(self, enterprises: Iterable[Enterprise], rebuild: bool = False) -> None:
        ents = list(enterprises)
        changes = [enterprise_change(e) for e in ents]
        with self._write:
            if rebuild:
                self._swap(enterprises=self.build("enterprises", changes), ent_nodes={e.id: e for e in ents})
            else:
                self.apply("enterprises", changes)
                self._swap(ent_nodes={**self._snap.ent_nodes, **{e.id: e for e in ents}})

    def remove(self, corpus: str, ids: Sequence[str]) -> None:
        with self._write:
            self.apply(corpus, [], ids)
            if corpus == "achievements":
                ctx = self._snap.ctx.evolve("supply")
                for i in ids:
                    ctx.supply.pop(i, None)
                self._swap(ctx=ctx)
            elif corpus == "needs":  # a withdrawn need no longer leads to its enterprise in reverse matches
                ctx = self._snap.ctx.evolve("need_enterprise", "enterprise_needs")
                for i in ids:
                    enterprise = ctx.need_enterprise.pop(i, None)
                    if enterprise and enterprise in ctx.enterprise_needs:
                        ctx.enterprise_needs[enterprise].discard(i)
                self._swap(ctx=ctx)

    def achievement_hashes(self) -> dict[str, str]:
        """Content hash of every indexed achievement (what :meth:`sync` compares with the graph)."""
        docs = self._snap.corpus("achievements").docs
        return {i: docs.sources[pos] for i, pos in docs.position.items()}

    def sync(self) -> dict[str, int]:
        """Bring the indexes up to date with the graph without a rebuild: re-index only documents whose content
        hash changed since they were indexed, drop deleted ones. For writes that bypassed the engine (bulk
        loads, other services) and for a restart on persisted indexes."""
        if self.store is None:
            return {}
        counts = {}
        for corpus in CORPORA:
            label = LABELS[corpus].value
            rows = self.store.read(f"MATCH (n:{label}) RETURN n.id AS id, n.content_hash AS h")
            present = {r["id"]: r["h"] or "" for r in rows}
            docs = self._snap.corpus(corpus).docs
            changed = [i for i, h in present.items() if docs.source(i) != h]
            gone = [i for i in docs.position if i not in present]
            if changed:
                props = self.store.read(f"MATCH (n:{label}) WHERE n.id IN $ids RETURN properties(n) AS p",
                                        ids=changed)
                if corpus == "achievements":
                    self.index_achievements([Achievement.from_props(r["p"]) for r in props])
                elif corpus == "needs":
                    needs = [Need.from_props(r["p"]) for r in props]
                    many = len(changed) > SYNC_CONTEXT_ONE_BY_ONE
                    self.index_needs(needs, reload_context=not many)
                    if many:
                        self.reload_context()
                else:
                    self.index_enterprises([Enterprise.from_props(r["p"]) for r in props])
            if gone:
                self.remove(corpus, gone)
            self.tell(corpus, changed)
            self.tell(corpus, gone, op="remove")
            counts[LABELS[corpus].value] = len(changed) + len(gone)
        if any(counts.values()):
            self.persist_context()
        return counts

    def sync_ids(self, corpus: str, ids: Sequence[str]) -> None:
        """Re-read these documents from the graph and index them (or drop those the graph no longer has)."""
        if self.store is None or not ids:
            return
        label = LABELS[corpus].value
        props = {r["p"]["id"]: r["p"] for r in self.store.read(
            f"MATCH (n:{label}) WHERE n.id IN $ids RETURN properties(n) AS p", ids=list(ids))}
        docs = self._snap.corpus(corpus).docs
        changed = [p for i, p in props.items() if docs.source(i) != (p.get("content_hash") or "")]
        if corpus == "achievements" and changed:
            self.index_achievements([Achievement.from_props(p) for p in changed])
        elif corpus == "needs" and changed:
            self.index_needs([Need.from_props(p) for p in changed], reload_context=True)
        elif corpus == "enterprises" and changed:
            self.index_enterprises([Enterprise.from_props(p) for p in changed])
        gone = [i for i in ids if i not in props and i in docs]
        if gone:
            self.remove(corpus, gone)

    def reload_context(self) -> None:
        """The graph context read anew from the graph (relations change without touching documents' texts)."""
        if self.store is None:
            return
        ctx = GraphContext.load(self.store)
        with self._write:
            # documents indexed without a graph record keep what index_* put in
            for aid, info in self._snap.ctx.supply.items():
                ctx.supply.setdefault(aid, info)
            self._swap(ctx=ctx)
        self.persist_context()

    # -- dense rows --------------------------------------------------------------------------------
    def dense_missing(self) -> list[tuple[str, DenseIndex]]:
        snap = self._snap
        return [(c, ch) for c in DENSE_CORPORA for ch in snap.corpus(c).dense if not ch.ready]

    def embed(self, stop: threading.Event | None = None) -> bool:
        """Compute the missing dense rows of every corpus (in the calling thread) and make those channels
        ready; True when nothing is missing any more."""
        stop = stop or self._stop
        for corpus in DENSE_CORPORA:
            done_keys = set()
            for ch in self._snap.corpus(corpus).dense:
                key = ch.encoding.key
                if ch.ready or key in done_keys:
                    continue
                done_keys.add(key)
                if not self._embed_key(corpus, ch, stop):
                    return False
        if not self.embed_need_queries(stop):
            return False
        return not self.dense_missing()

    def need_queries_missing(self) -> list[tuple[str, Embedder, VectorStore]]:
        """(channel, encoder, store) of each achievements channel lacking the query vector of a posted need."""
        digests = self._snap.needs.docs.digests
        out = []
        for name, emb in self.embedders:
            stored = self.queries[name].stored
            if stored is not None and digests and stored.missing(digests):
                out.append((name, emb, stored))
        return out

    def embed_need_queries(self, stop: threading.Event | None = None) -> bool:
        """Compute the query vectors of posted needs that lack them (a need's page then encodes nothing on the
        request path); True when done, False when stopped first."""
        stop = stop or self._stop
        for _name, emb, stored in self.need_queries_missing():
            docs = self._snap.needs.docs
            what = f"needs/{stored.key}"

            def report(p: JobProgress, what: str = what) -> None:
                self.progress[what] = p
                log.info("%s", p.line())
                if self.progress_callback is not None:
                    self.progress_callback(p)

            texts = docs.texts
            if not embed_missing(stored, QueryVectors(emb, stored.key), docs.digests, texts.__getitem__,
                                 stop, report, what, workers=pool_workers(self.settings.embed_workers)):
                return False
        return True

    def _embed_key(self, corpus: str, ch: DenseIndex, stop: threading.Event) -> bool:
        vs = self._store(ch.encoding.key, ch.encoding.dim)
        what = f"{corpus}/{ch.encoding.key}"

        def report(p: JobProgress) -> None:
            self.progress[what] = p
            log.info("%s", p.line())
            if self.progress_callback is not None:
                self.progress_callback(p)

        docs = self._snap.corpus(corpus).docs
        if not embed_missing(vs, ch.encoding, docs.digests, lambda i: docs.texts[i], stop, report, what,
                             workers=pool_workers(self.settings.embed_workers)):
            return False
        with self._write:  # documents indexed while the job ran: their rows too, then swap in
            index = self._snap.corpus(corpus)
            digests = index.docs.digests
            missing = vs.missing(digests)
            if missing:
                vs.put([digests[i] for i in missing], ch.encoding.encode([index.docs.texts[i] for i in missing]))
            rows = vs.get(digests) if digests else np.zeros((0, ch.encoding.dim), np.float32)
            ready = index.with_dense_rows({ch.encoding.key: rows})
            self._swap_corpus(corpus, ready)
            if (self.root is not None and self.is_writer and index.generation is not None
                    and index.docs.n_rows == index.docs.n_base):
                block = next((c.rows for c in ready.dense if c.encoding.key == ch.encoding.key), None)
                add_dense_rows(self.root, corpus, index.generation, ch.encoding.key, rows,
                               block.coarse if block is not None else None)
                self._publish(corpus, index.generation)
        return True

    def start_embedding(self) -> None:
        """Run :meth:`embed` on a background thread (once at a time; only the writer when persisted: the
        others load the rows it adds to the generations)."""
        if not (self.dense_missing() or self.need_queries_missing()) or (self._job is not None
                                                                           and self._job.is_alive()):
            return
        if self.root is not None and not self.is_writer:
            return
        self._job = threading.Thread(target=self._embed_quietly, name="embedding-job", daemon=True)
        self._job.start()

    def _embed_quietly(self) -> None:
        try:
            self.embed(self._stop)
        except Exception:  # a failed job leaves the lexical channels serving; the next start resumes it
            log.exception("embedding job failed")

    def wait_dense(self, timeout: float | None = None) -> bool:
        """Wait for the dense rows (the embedding job here, or the writer's rows in another process); True when
        every dense channel is ready."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.dense_missing():
            if deadline is not None and time.monotonic() > deadline:
                return False
            if self._stop.wait(0.1):
                return False
        return True

    # -- opening, and following the other processes -------------------------------------------------
    def open(self, background: Callable[[], None] | None = None) -> bool:
        """Load or build the indexes. The writer (first process, or the only one) starts a new change-log epoch,
        loads its generations or builds them from the graph; another process waits for the writer's
        generations and loads them. Then a thread follows the change log and the manifests; ``background``
        (sync with the graph, context, dense rows) runs on it first. True when persisted indexes were loaded."""
        if self.root is None:
            self.refresh()
            if background is not None:
                background()
            return False
        assert self.writer is not None and self.log is not None
        if self.writer.try_acquire():
            self.log.new_epoch()
            loaded = self.load()
            if not loaded:
                self.refresh()
        else:
            deadline = time.monotonic() + FIRST_BUILD_WAIT
            while not self.load():
                if self.writer.try_acquire():  # the writer went away before building: build here
                    self.log.new_epoch()
                    self.refresh()
                    break
                if time.monotonic() > deadline or self._stop.wait(1.0):
                    raise TimeoutError("no index generations appeared in time (is the writer building?)")
            loaded = True
            self._replay_since_manifests()
        self._follower = threading.Thread(target=self._follow, args=(background,), name="index-follower",
                                          daemon=True)
        self._follower.start()
        return loaded

    def _replay_since_manifests(self) -> None:
        """Apply the change-log lines written after the loaded generations."""
        assert self.log is not None
        self.log.epoch = self.log.current_epoch()
        starts = [m.get("log_offset", 0) for m in self._manifests.values() if m.get("log_epoch") == self.log.epoch]
        start = min(starts) if len(starts) == len(self._manifests) else 0
        entries, self.log.offset = self.log.read_range(start, None)
        self._apply_entries(entries, skip_own=False)

    def _apply_entries(self, entries: Sequence[Entry], skip_own: bool = True) -> None:
        me = self.log.origin if self.log is not None else ""
        by_kind: dict[str, list[str]] = {}
        for e in entries:
            if skip_own and e.origin == me:
                continue
            by_kind.setdefault(e.kind, []).append(e.id)
        for kind, ids in by_kind.items():
            ids = list(dict.fromkeys(ids))
            if kind in CORPORA:
                self.sync_ids(kind, ids)
            elif kind == "feedback" and self.on_feedback is not None:
                self.on_feedback(ids)

    def _follow(self, background: Callable[[], None] | None) -> None:
        if background is not None:
            try:
                background()
            except Exception:
                log.exception("background index work failed; the indexes loaded are served")
        while not self._stop.wait(FOLLOW_INTERVAL):
            try:
                self.follow_once()
            except Exception:  # never let the follower die: the next round retries
                log.exception("following the change log failed")

    def follow_once(self) -> None:
        """One round: new change-log lines, new generations or dense rows, a new context; take over as writer
        when the writer is gone."""
        assert self.root is not None and self.log is not None and self.writer is not None
        entries, switched = self.log.read_new()
        if switched:  # a new writer started: it syncs with the graph; load what it publishes
            self._manifests = {}
        if not self.is_writer:
            for corpus in CORPORA:
                manifest = read_manifest(self.root, corpus)
                if manifest is not None and manifest != self._manifests.get(corpus):
                    index = self._load_corpus(corpus, manifest)
                    if index is not None:
                        with self._write:
                            self._swap_corpus(corpus, index)
                            self._manifests[corpus] = manifest
                        if manifest.get("log_epoch") == self.log.epoch:
                            replay, _ = self.log.read_range(manifest.get("log_offset", 0), self.log.offset)
                            self._apply_entries([e for e in replay if e.kind == corpus], skip_own=False)
            path = self.root / "context.json"
            if path.exists() and path.stat().st_mtime != self._context_mtime:
                ctx = self._read_context()
                if ctx is not None:
                    with self._write:
                        self._swap(ctx=ctx)
        self._apply_entries(entries)
        if not self.is_writer and self.writer.try_acquire():
            log.info("this process now writes the indexes")
            self.start_embedding()

    def request_stop(self) -> None:
        """Ask the embedding job (a running :meth:`embed` included) and the follower to stop at their next chunk
        boundary, without waiting for them (:meth:`close` waits)."""
        self._stop.set()

    def close(self) -> None:
        """Stop background work at its next chunk boundary and give up the writer's role."""
        self._stop.set()
        for thread in (self._job, self._follower):
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=30)
        if self.writer is not None:
            self.writer.release()


def _lexical_text(c: Change) -> str:
    from matcher.index.corpus import lexical_text

    return lexical_text(c.text, c.title)
