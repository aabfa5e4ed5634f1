"""Judging pools for the need → achievement task: candidates, split and assessor packets for the 400 pool needs.

    TECHMATCH_DATA_DIR=<stable dir> python eval/judging/pool.py --out /path/outside/the/repo [--skip-pipeline]

Reads the shared data (``<shared>/data/zhibei/achievements_dedup.jsonl``, ``requirements_dedup.jsonl``,
``<shared>/eval/judging_pool_need_ids.txt``; ``--shared`` or ``TECHMATCH_SHARED``, default ``../shared`` beside
the repository). Texts of the shared data never go into the repository: everything that carries text (packets)
or ranker information (runs, provenance) is written under ``--out``. Only ``split.tsv`` (ids) is written here.

Rankers (each the repository's own channel, built exactly as ``benchmarks/need_achievement.py`` builds them, over
all 2,810 achievements; the query is the need's ``text``, name + description):

- ``bm25_words``    word BM25 alone (``matcher.index.channels``)
- ``char_ngram``    character 2-3-gram TF-IDF cosine alone (``matcher.index.channels``)
- ``dense_e5``      multilingual-e5-small cosine alone (the ``dense`` channel)
- ``dense_use``     USE multilingual v3 cosine alone (``dense_use_m3``)
- ``rrf3``          reciprocal-rank fusion (k = 60) of bm25_words, char_ngram and dense_e5
- ``pipeline``      the full techmatch pipeline: ``techmatch rank needs`` (throwaway graph, four channels,
                    rank-normal fusion, graph features, calibrated confidence)

Pool of a need = union of each ranker's top ``--depth`` (10). A lexical ranker whose score is 0 has no evidence
(no shared term / n-gram): such documents are not pooled (they would be the corpus's first ids, by tie order).

Outputs under ``--out``:

- ``runs/<ranker>.tsv``   top 100 of each ranker (need, achievement, rank, score): for later pool-depth checks
- ``provenance.tsv``      one line per pooled (need, achievement): which rankers put it in their top depth and the
                          rank it has in every ranker's top 100 (blank = deeper): never shown to assessors
- ``pools.tsv``           need_id, achievement_id (pooled pairs, no ranker information)
- ``packets/NNN_<need>.md`` and ``packets/NNN_<need>.template.tsv`` for the first ``--packets`` needs of the judging
  order: the need, then its candidates in a seeded random order, no ranker information
- ``stats.json``          pool sizes, overlaps, timings

``--top-up`` (a later round, README section 7): pools made by the rankers of the current code, and packets only
for the pooled pairs ``qrels.tsv`` does not grade yet (needs with none are skipped); ``provenance.tsv`` and
``stats.json`` then also count the new pairs per ranker.

The split (see README): the 400 ids in file order, shuffled by ``random.Random(17)``; the first 200 are the judging
target; ``random.Random(1717).sample(target, 80)`` is the report part, the other 120 the tune part; the last 200
were reserve, judged later and joined the tune part (README, section 5).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

HERE = Path(__file__).resolve().parent
SPLIT_SEED = 17
PART_SEED = 1717
TARGET = 200
N_REPORT = 80
RUN_DEPTH = 100
RRF_K = 60.0
RANKERS = ["bm25_words", "char_ngram", "dense_e5", "dense_use", "rrf3", "pipeline"]
#: channel name in the engine → ranker name here
CHANNEL_RANKER = {"bm25_words": "bm25_words", "char_ngram": "char_ngram", "dense": "dense_e5",
                  "dense_use_m3": "dense_use"}
#: rankers that give 0 to a document with no evidence at all
LEXICAL = {"bm25_words", "char_ngram"}
SNIPPET = 400


def log(msg: str) -> None:
    print(f"[pool {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


#: what positions after the target are: "reserve" until they were judged (2026-12-01), "tune" since
RESERVE_PART = "tune"


def judging_order(pool_ids: list[str]) -> list[str]:
    order = list(pool_ids)
    random.Random(SPLIT_SEED).shuffle(order)
    return order


def split(pool_ids: list[str]) -> list[tuple[str, str, int]]:
    """(need_id, part, position) for all pool ids, in judging order; part is tune / report (the reserve after the
    target was judged later and is tune too; ``reserve_part`` names what it was before)."""
    order = judging_order(pool_ids)
    target = order[:TARGET]
    report = set(random.Random(PART_SEED).sample(target, N_REPORT))
    out = []
    for pos, nid in enumerate(order, start=1):
        part = RESERVE_PART if pos > TARGET else ("report" if nid in report else "tune")
        out.append((nid, part, pos))
    return out


def load(shared: Path) -> tuple[list, list[dict], list[str], dict[str, dict]]:
    from ingest.zhibei import achievement_from_record, clean_record

    ach_records = [json.loads(line) for line in (shared / "data/zhibei/achievements_dedup.jsonl").open(
        encoding="utf-8") if line.strip()]
    achs = [achievement_from_record(clean_record(r)) for r in ach_records]
    pool_ids = [x.strip() for x in (shared / "eval/judging_pool_need_ids.txt").open(encoding="utf-8") if x.strip()]
    wanted = set(pool_ids)
    needs = {}
    for line in (shared / "data/zhibei/requirements_dedup.jsonl").open(encoding="utf-8"):
        if line.strip():
            r = json.loads(line)
            if r["id"] in wanted:
                needs[r["id"]] = r
    missing = [i for i in pool_ids if i not in needs]
    if missing:
        raise SystemExit(f"pool ids not in the needs file: {missing[:5]}")
    return achs, ach_records, pool_ids, needs


def top(ids: list[str], s: np.ndarray, k: int, positive_only: bool) -> list[tuple[str, float]]:
    order = np.argsort(-s, kind="stable")[:k]
    return [(ids[i], float(s[i])) for i in order if not positive_only or s[i] > 0]


def channel_runs(achs: list, needs: dict[str, dict], pool_ids: list[str]) -> dict[str, dict[str, list]]:
    """Top RUN_DEPTH of each single channel and of RRF over the three simple ones, per need."""
    from api.config import load_settings
    from ingest.zhibei import clean_record, need_from_record
    from matcher.engine import MatchEngine
    from matcher.fusion import RRFFusion

    engine = MatchEngine(None, load_settings(), embedder="settings", extra_embedders="settings")
    t0 = time.perf_counter()
    engine.index_achievements(achs, rebuild=True)  # dense vectors from the cache under data_dir/cache
    log(f"index built in {time.perf_counter() - t0:.0f}s; channels {engine.channel_names}")
    index = engine.achievements
    ids = index.doc_ids
    rrf = RRFFusion(RRF_K)
    runs: dict[str, dict[str, list]] = {r: {} for r in RANKERS if r != "pipeline"}
    t0 = time.perf_counter()
    for n, nid in enumerate(pool_ids, start=1):
        need = need_from_record(clean_record(needs[nid]))
        scores = index.channel_scores(need.text)
        for ch, ranker in CHANNEL_RANKER.items():
            runs[ranker][nid] = top(ids, scores[ch], RUN_DEPTH, ranker in LEXICAL)
        fused = rrf.combine({c: scores[c] for c in ("bm25_words", "char_ngram", "dense")}).score
        runs["rrf3"][nid] = top(ids, fused, RUN_DEPTH, False)
        if n % 50 == 0:
            log(f"channels: {n}/{len(pool_ids)} needs, {time.perf_counter() - t0:.0f}s")
    return runs


def pipeline_run(shared: Path, needs: dict[str, dict], pool_ids: list[str], out: Path) -> dict[str, list]:
    needs_file = out / "pool_needs.jsonl"
    with needs_file.open("w", encoding="utf-8") as fh:
        for nid in pool_ids:
            fh.write(json.dumps(needs[nid], ensure_ascii=False) + "\n")
    run_file = out / "runs" / "pipeline.raw.tsv"
    cmd = [sys.executable, "-m", "cli", "rank", "needs", "--achievements",
           str(shared / "data/zhibei/achievements_dedup.jsonl"), "--needs", str(needs_file),
           "--top", str(RUN_DEPTH), "--output", str(run_file)]
    subprocess.run(cmd, check=True, cwd=ROOT)
    run: dict[str, list] = defaultdict(list)
    for line in run_file.open(encoding="utf-8"):
        q, d, r, s = line.rstrip("\n").split("\t")
        run[q].append((int(r), d, float(s)))
    return {q: [(d, s) for _, d, s in sorted(v)] for q, v in run.items()}


def write_run(path: Path, run: dict[str, list]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for q, items in run.items():
            for rank, (d, s) in enumerate(items, start=1):
                fh.write(f"{q}\t{d}\t{rank}\t{s:.6g}\n")


def read_run(path: Path) -> dict[str, list]:
    run: dict[str, list] = defaultdict(list)
    for line in path.open(encoding="utf-8"):
        q, d, r, s = line.rstrip("\n").split("\t")
        run[q].append((d, float(s)))
    return run


def clip(text: str, n: int = SNIPPET) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= n else text[:n] + "…"


def packet(pos: int, need: dict, cands: list[str], ach: dict[str, dict]) -> str:
    lines = [f"# {pos:03d} {need['id']} — {need.get('name') or '(无名称)'}", "",
             "## 技术需求 (need)", "", f"**名称**: {need.get('name') or '(空)'}", "",
             f"**描述**: {' '.join(str(need.get('description') or '(空)').split())}", ""]
    extra = [f"{k}: {need[k]}" for k in ("sector_gbt4754", "cooperation") if need.get(k)]
    if extra:
        lines += ["; ".join(extra), ""]
    lines += [f"## 候选成果 (candidates: {len(cands)}, order is random)", "",
              "Grade each: 2 = addresses the need directly; 1 = same specific technical area, could help or be "
              "adapted; 0 = not relevant (rubric: eval/judging/README.md in the repository).", ""]
    for i, aid in enumerate(cands, start=1):
        a = ach[aid]
        lines += [f"### C{i:02d} {aid} — {a.get('name') or '(无名称)'}", ""]
        meta = [f"{k}: {a[k]}" for k in ("industry", "maturity", "ip_type") if a.get(k)]
        if meta:
            lines += ["; ".join(meta), ""]
        lines += [f"描述: {clip(a.get('description')) or '(空)'}", ""]
        if str(a.get("application_scope") or "").strip():
            lines += [f"应用范围: {clip(a.get('application_scope'), 200)}", ""]
    lines += ["---", f"Write one line per candidate to `judged/{pos:03d}_{need['id']}.tsv`: "
              "`need_id<TAB>achievement_id<TAB>grade` (start from the .template.tsv beside this file).", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", type=Path,
                    default=Path(os.environ.get("TECHMATCH_SHARED", ROOT.parent / "shared")))
    ap.add_argument("--out", type=Path, required=True, help="working folder outside the repository")
    ap.add_argument("--depth", type=int, default=10, help="top-k of each ranker pooled (default 10)")
    ap.add_argument("--packets", type=int, default=TARGET, help="packets for the first N needs of the order")
    ap.add_argument("--reuse-runs", action="store_true", help="read runs/*.tsv from --out instead of ranking")
    ap.add_argument("--skip-pipeline", action="store_true")
    ap.add_argument("--top-up", action="store_true",
                    help="packets only for pooled pairs qrels.tsv does not grade yet, for every pool need")
    args = ap.parse_args()
    out: Path = args.out.resolve()
    if out == ROOT or ROOT in out.parents:
        raise SystemExit("--out must be outside the repository (packets carry the shared texts)")
    (out / "runs").mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}

    t_all = time.perf_counter()
    achs, ach_records, pool_ids, needs = load(args.shared)
    ach = {r["id"]: r for r in ach_records}
    log(f"{len(achs)} achievements, {len(pool_ids)} pool needs")

    rankers = [r for r in RANKERS if not (args.skip_pipeline and r == "pipeline")]
    if args.reuse_runs:
        runs = {r: read_run(out / "runs" / f"{r}.tsv") for r in rankers}
        if (out / "stats.json").exists():  # keep the timings of the run that ranked
            timings.update(json.loads((out / "stats.json").read_text(encoding="utf-8")).get("timings", {}))
    else:
        t0 = time.perf_counter()
        runs = channel_runs(achs, needs, pool_ids)
        timings["channels_s"] = time.perf_counter() - t0
        if not args.skip_pipeline:
            t0 = time.perf_counter()
            runs["pipeline"] = pipeline_run(args.shared, needs, pool_ids, out)
            timings["pipeline_s"] = time.perf_counter() - t0
        for r in rankers:
            write_run(out / "runs" / f"{r}.tsv", runs[r])

    # pools and provenance
    rank_of = {r: {q: {d: i for i, (d, _) in enumerate(items, start=1)} for q, items in runs[r].items()}
               for r in rankers}
    pools: dict[str, list[str]] = {}
    with (out / "provenance.tsv").open("w", encoding="utf-8") as prov:
        prov.write("need_id\tachievement_id\tpooled_by\t" + "\t".join(f"rank_{r}" for r in rankers) + "\n")
        for q in pool_ids:
            members: dict[str, None] = {}
            for r in rankers:
                for d, _ in runs[r].get(q, [])[: args.depth]:
                    members.setdefault(d, None)
            pools[q] = sorted(members)
            for d in pools[q]:
                ranks = [rank_of[r].get(q, {}).get(d) for r in rankers]
                by = ",".join(f"{r}:{k}" for r, k in zip(rankers, ranks, strict=True) if k and k <= args.depth)
                prov.write(f"{q}\t{d}\t{by}\t" + "\t".join("" if k is None else str(k) for k in ranks) + "\n")
    with (out / "pools.tsv").open("w", encoding="utf-8") as fh:
        for q in pool_ids:
            for d in pools[q]:
                fh.write(f"{q}\t{d}\n")

    # statistics
    sizes = [len(pools[q]) for q in pool_ids]
    tops = {r: {q: {d for d, _ in runs[r].get(q, [])[: args.depth]} for q in pool_ids} for r in rankers}
    overlap = {a: {b: round(float(np.mean([len(tops[a][q] & tops[b][q]) for q in pool_ids])), 2) for b in rankers}
               for a in rankers}
    unique = {r: round(float(np.mean([len(tops[r][q] - set().union(*(tops[o][q] for o in rankers if o != r)))
                                       for q in pool_ids])), 2) for r in rankers}
    short = {r: sum(1 for q in pool_ids if len(tops[r][q]) < args.depth) for r in rankers}
    timings.setdefault("total_s", time.perf_counter() - t_all)
    stats = {"needs": len(pool_ids), "pairs": sum(sizes), "depth": args.depth, "rankers": rankers,
             "pool_size": {"mean": round(float(np.mean(sizes)), 2), "min": min(sizes), "max": max(sizes),
                           "median": float(np.median(sizes))},
             "mean_overlap_at_depth": overlap, "mean_unique_at_depth": unique,
             "needs_with_fewer_than_depth": short, "timings": {k: round(v, 1) for k, v in timings.items()}}
    order = split(pool_ids)
    judged: set[tuple[str, str]] = set()
    if args.top_up:
        judged = {(q, d) for q, d, *_ in (line.rstrip("\n").split("\t") for line in
                                          (HERE / "qrels.tsv").open(encoding="utf-8")) if q}
        new = {q: [d for d in pools[q] if (q, d) not in judged] for q in pool_ids}
        stats["top_up"] = {
            "new_pairs": sum(len(v) for v in new.values()),
            "needs_with_new_pairs": sum(1 for v in new.values() if v),
            "new_pairs_in_top_depth_per_ranker": {
                r: sum(1 for q in pool_ids for d in tops[r][q] if (q, d) not in judged) for r in rankers},
        }
        pools = new
    target = [nid for nid, part, _ in order if part != "reserve"]
    tsz = [len(pools[q]) for q in target]
    stats["target_pool_size"] = {"mean": round(float(np.mean(tsz)), 2), "min": min(tsz), "max": max(tsz),
                                 "pairs": sum(tsz)}
    (out / "stats.json").write_text(json.dumps(stats, indent=1, ensure_ascii=False), encoding="utf-8")

    # split (ids only: the one file written into the repository; a top-up round leaves it as it is)
    if not args.top_up:
        with (HERE / "split.tsv").open("w", encoding="utf-8") as fh:
            fh.write("need_id\tpart\tposition\n")
            for nid, part, pos in order:
                fh.write(f"{nid}\t{part}\t{pos}\n")

    # packets
    pdir = out / "packets"
    pdir.mkdir(exist_ok=True)
    (out / "judged").mkdir(exist_ok=True)
    written = 0
    for nid, _, pos in (order if args.top_up else order[: args.packets]):
        cands = list(pools[nid])
        if not cands:
            continue
        written += 1
        random.Random(f"packet-{nid}").shuffle(cands)
        stem = f"{pos:03d}_{nid}"
        (pdir / f"{stem}.md").write_text(packet(pos, needs[nid], cands, ach), encoding="utf-8")
        (pdir / f"{stem}.template.tsv").write_text("".join(f"{nid}\t{d}\t\n" for d in cands), encoding="utf-8")
    log(f"done: {sum(sizes)} pairs, pool size mean {np.mean(sizes):.1f} (min {min(sizes)}, max {max(sizes)}); "
        f"{written} packets in {pdir}")
    print(json.dumps(stats, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
