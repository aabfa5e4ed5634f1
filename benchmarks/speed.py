"""Speed of one need → achievements query, end to end, at 3k / 30k / 300k achievements.

    python benchmarks/speed.py [--sizes 3000,30000,300000] [--queries 40]

Corpus: texts from the shared data (zhibei achievements, CSL and CSLDCP abstracts, NSFC titles); beyond the
~38k distinct texts, documents are built by pairing a text with another's title (deterministic, seed 7), so
every document is distinct and the analysers do their full work. Dense vectors: the real e5-small vectors of
the zhibei achievements (on-disk cache), reused cyclically with a small deterministic perturbation, because
encoding 300k passages takes hours on two cores; the matrix has the real size and the query path (query
encoding with e5, mat-vec, z-scores, fusion, graph features, explanations) is the real one.

Reports, per size: index build time, resident memory added by the index, p50/p95 latency of
``MatchEngine.match_need(need, k=10)`` cold (queries: real needs, the query-vector cache cleared before each, so
the query is encoded in the request) and warm (the same need again: its vector from the cache), and the medians
of the parts (query encoding, each channel, and the exact float32 mat-vec as the baseline for the float16 rows)
so one can see what dominates. Markdown table.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("TECHMATCH_SHARED", ROOT.parent / "shared"))


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def shared_texts() -> list[tuple[str, str]]:
    """(title, body) of every distinct text in the shared data."""
    out: list[tuple[str, str]] = []
    data = SHARED / "data"
    for line in (data / "zhibei" / "achievements_dedup.jsonl").open(encoding="utf-8"):
        r = json.loads(line)
        out.append((r.get("name") or "", r.get("description") or ""))
    for line in (data / "csl" / "csl_joined_dev_test.jsonl").open(encoding="utf-8"):
        r = json.loads(line)
        out.append((r.get("title") or "", r.get("abstract") or ""))
    for line in (data / "csldcp" / "csldcp_merged_unique.jsonl").open(encoding="utf-8"):
        r = json.loads(line)
        body = r.get("abstract") or ""
        out.append((body[:30], body))
    with (data / "nsfc" / "natural-2017-09-26.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            out.append((row.get("项目名称") or "", f"{row.get('项目名称', '')} {row.get('项目类别', '')}"))
    return [(t, b) for t, b in out if t or b]


def corpus(n: int, pool: list[tuple[str, str]]):  # noqa: ANN201
    from graph.model import Achievement

    rng = random.Random(7)
    docs = []
    for i in range(n):
        title, body = pool[i % len(pool)]
        if i >= len(pool):  # past the distinct texts: pair with another text's title
            other = pool[rng.randrange(len(pool))][0]
            title, body = f"{title} {other}", f"{body} {other}"
        docs.append(Achievement(id=f"doc-{i}", name=(title or body[:30] or "无题")[:200], description=body))
    return docs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="3000,30000,300000")
    ap.add_argument("--queries", type=int, default=40)
    ap.add_argument("--encode", action="store_true", help="encode the zhibei passages if not cached (slow)")
    args = ap.parse_args()

    from graph.settings import get_settings
    from ingest.zhibei import achievement_from_record, need_from_record
    from matcher.channels.dense import DenseChannel, Float32Rows, extra_channel_name
    from matcher.embedders.registry import make_embedder, make_embedders
    from matcher.engine import MatchEngine

    pool = shared_texts()
    emb = make_embedder("e5-small", get_settings().cache_dir)
    extra = make_embedders(get_settings().extra_embedders, get_settings().cache_dir)
    assert emb is not None
    zhibei = [achievement_from_record(json.loads(line)) for line in
              (SHARED / "data" / "zhibei" / "achievements_dedup.jsonl").open(encoding="utf-8")]
    from matcher.embedders.cached import CachedEmbedder, text_key

    texts = [a.text for a in zhibei]
    base_vecs: dict[str, np.ndarray] = {}
    vec_notes = []
    for encoder, channel in [(emb, "dense"), *((e, extra_channel_name(e)) for e in extra)]:
        cached = (encoder._lookup([text_key(encoder.name, "passage", t) for t in texts])
                  if isinstance(encoder, CachedEmbedder) else {})
        if len(cached) == len(texts) or args.encode:
            base_vecs[channel] = encoder.embed_passages(texts)
            vec_notes.append(f"real {encoder.name} vectors of the zhibei achievements, reused cyclically")
        else:  # the mat-vec costs the same whatever the values; only the query encoding must be real
            rng0 = np.random.default_rng(0)
            base_vecs[channel] = rng0.normal(size=(len(texts), encoder.dim)).astype(np.float32)
            vec_notes.append(f"random unit vectors for {encoder.name} (passages not cached yet; query encoding real)")
    vec_note = "; ".join(vec_notes)
    needs = []
    for line in (SHARED / "data" / "zhibei" / "requirements_dedup.jsonl").open(encoding="utf-8"):
        r = json.loads(line)
        if r.get("name") and r.get("description"):
            needs.append(need_from_record(r))
        if len(needs) >= args.queries:
            break

    rows = []
    for n in [int(s) for s in args.sizes.split(",")]:
        docs = corpus(n, pool)
        vecs = {}
        for channel, base in base_vecs.items():
            rng = np.random.default_rng(7)
            v = base[np.arange(n) % len(base)] + rng.normal(0, 0.01, (n, base.shape[1])).astype(np.float32)
            v /= np.linalg.norm(v, axis=1, keepdims=True)
            vecs[channel] = v.astype(np.float32)
        before = rss_mb()
        engine = MatchEngine(None, embedder=emb, extra_embedders=extra)
        t0 = time.perf_counter()
        engine.index_achievements(docs, rebuild=True, vectors=vecs)
        build_s = time.perf_counter() - t0
        mem = rss_mb() - before
        dense = engine.achievements.channel("dense")
        assert isinstance(dense, DenseChannel)
        exact = Float32Rows(emb.dim)  # same-process baseline for the mat-vec: exact float32 rows
        exact.reset(vecs["dense"], n)
        del vecs
        engine.match_need(needs[0], k=10)  # warm-up (model load)
        cold, warm, encode, f32 = [], [], [], []
        parts: dict[str, list[float]] = {c.name: [] for c in engine.achievements.channels}
        for need in needs:
            for ch in engine.achievements.channels:  # cold: the query is encoded in the request
                if isinstance(ch, DenseChannel):
                    ch.clear_query_cache()
            t = time.perf_counter()
            engine.match_need(need, k=10)
            cold.append(time.perf_counter() - t)
            t = time.perf_counter()
            engine.match_need(need, k=10)  # the same need viewed again: its query vector is cached
            warm.append(time.perf_counter() - t)
            t = time.perf_counter()
            qv = emb.embed_queries([need.text])[0]
            encode.append(time.perf_counter() - t)
            for ch in engine.achievements.channels:
                t = time.perf_counter()
                if ch is dense:
                    ch.scores_for_vector(qv)
                else:
                    ch.scores(need.text)
                parts[ch.name].append(time.perf_counter() - t)
            t = time.perf_counter()
            exact.dot(qv, len(dense.doc_ids))
            f32.append(time.perf_counter() - t)
            raw = engine.achievements.channel_scores(need.text)
            t = time.perf_counter()
            engine.achievements.fusion.combine(raw)
            parts.setdefault("fusion", []).append(time.perf_counter() - t)
        ms = lambda xs, q=50: 1000 * float(np.percentile(xs, q))  # noqa: E731
        rows.append((n, build_s, mem, ms(cold), ms(cold, 95), ms(warm), ms(warm, 95), ms(encode),
                     {k: ms(v) for k, v in parts.items()}, dense.rows.dtype_name, ms(f32)))
        print(f"done {n}: build {build_s:.1f}s cold p50 {ms(cold):.0f}ms p95 {ms(cold, 95):.0f}ms", file=sys.stderr)
        del engine, docs, exact

    load = os.getloadavg()
    print(f"One need → achievements, end to end (MatchEngine.match_need, k=10, with explanations); "
          f"{args.queries} real needs; {os.cpu_count()} CPUs, load average {load[0]:.1f} / {load[1]:.1f} (1 / 5 min) "
          f"at the end; document vectors: {vec_note}. Cold: query vector not cached (encoded in the request); "
          f"warm: the same need again (query vector from the LRU).\n")
    print("| achievements | index build (s) | index memory (MB) | cold p50 (ms) | cold p95 (ms) | warm p50 (ms) | "
          "warm p95 (ms) | e5 query encoding p50 (ms) | scoring, fusion p50 (ms) | dense rows | f32 mat-vec p50 (ms) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for n, build_s, mem, p50, p95, w50, w95, enc, parts, dtype, f32_ms in rows:
        part_text = ", ".join(f"{k} {v:.1f}" for k, v in parts.items())
        print(f"| {n:,} | {build_s:.1f} | {mem:.0f} | {p50:.0f} | {p95:.0f} | {w50:.0f} | {w95:.0f} | {enc:.0f} | "
              f"{part_text} | {dtype} | {f32_ms:.1f} |")

if __name__ == "__main__":
    main()
