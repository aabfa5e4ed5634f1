"""CSL retrieval: keywords → paper and title → abstract, per channel and fused, on the 2,000 CSL papers.

    python benchmarks/csl_retrieval.py [--no-dense] [--queries 500] [--task keywords|title]

A second, independent check of the channel and fusion choices made on the need → achievement dev set
(a choice that only helps on 20 needs would show here). Each query has exactly one relevant paper.
- keywords → paper: query = the paper's keywords joined; document = title + abstract.
- title → abstract: query = the title; document = the abstract only.
Queries: the first ``--queries`` papers after ``random.Random(7).shuffle``; the corpus is always all papers.
Prints a markdown table (nDCG@10, Recall@10, MRR).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("TECHMATCH_SHARED", ROOT.parent / "shared"))
CSL = SHARED / "data" / "csl" / "csl_joined_dev_test.jsonl"


def metrics(ranks: list[int | None]) -> dict[str, float]:
    """ranks: 0-based rank of the one relevant document (None = not retrieved)."""
    n = len(ranks)
    return {
        "ndcg@10": sum(1 / math.log2(r + 2) for r in ranks if r is not None and r < 10) / n,
        "recall@10": sum(1 for r in ranks if r is not None and r < 10) / n,
        "mrr": sum(1 / (r + 1) for r in ranks if r is not None) / n,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-dense", action="store_true")
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--task", choices=("keywords", "title"), help="only one of the two tasks (default: both)")
    args = ap.parse_args()
    from api.config import load_settings
    from matcher.embedders.registry import make_embedder, make_embedders
    from matcher.fusion import RankNormalFusion, RRFFusion, ZScoreFusion
    from matcher.index.builder import CorpusBuilder
    from matcher.index.channels import extra_channel_name, lexical_specs
    from matcher.index.corpus import Change
    from matcher.index.encoder_pool import pool_workers
    from matcher.tuning import CHANNEL_WEIGHTS

    papers = [json.loads(line) for line in CSL.open(encoding="utf-8") if line.strip()]
    order = list(range(len(papers)))
    random.Random(7).shuffle(order)
    sample = order[: args.queries]
    ids = [p["id"] for p in papers]
    tasks = {
        "keywords → paper": ([f"{p['title']}\n{p['abstract']}" for p in papers],
                             [" ".join(papers[i].get("keywords") or []) for i in sample]),
        "title → abstract": ([p["abstract"] for p in papers], [papers[i]["title"] for i in sample]),
    }
    if args.task:
        tasks = {name: t for name, t in tasks.items() if name.startswith(args.task)}
    settings = load_settings()
    emb = None if args.no_dense else make_embedder(settings.embedder)
    extra = [] if emb is None else [e for e in make_embedders(settings.extra_embedders) if e.name != emb.name]
    encoders = [] if emb is None else [("dense", emb), *((extra_channel_name(e), e) for e in extra)]
    # the engine's channels; passage rows kept in the data directory's vector store (a rerun encodes no passage)
    builder = CorpusBuilder(lexical_specs(), encoders, settings.data_dir / "index" / "vectors")
    print(f"CSL retrieval: {len(papers)} papers, {len(sample)} queries per task, "
          f"encoders: {', '.join(e.name for e in [emb, *extra] if e is not None) or 'none'}\n")
    print("| task | ranker | nDCG@10 | Recall@10 | MRR |")
    print("|---|---|---|---|---|")
    for task, (docs, queries) in tasks.items():
        index = builder.embed(builder.build([Change(i, d) for i, d in zip(ids, docs, strict=True)]),
                              workers=pool_workers(settings.embed_workers))
        assert index is not None
        position = {d: p for p, d in enumerate(index.doc_ids)}
        target = [position[ids[i]] for i in sample]
        per_query = index.channel_scores_many(queries)
        rankers = {f"{name} alone": (lambda s, n=name: s[n]) for name in index.channel_names}
        rankers["RRF (k=60)"] = lambda s: RRFFusion().combine(s).score
        rankers["z-score fusion"] = lambda s: ZScoreFusion(CHANNEL_WEIGHTS).combine(s).score
        rankers["rank-normal fusion"] = lambda s: RankNormalFusion(CHANNEL_WEIGHTS).combine(s).score
        for label, fn in rankers.items():
            ranks = []
            for scores, t in zip(per_query, target, strict=True):
                s = fn(scores)
                ranks.append(int((s > s[t]).sum()))
            m = metrics(ranks)
            print(f"| {task} | {label} | {m['ndcg@10']:.4f} | {m['recall@10']:.4f} | {m['mrr']:.4f} |")


if __name__ == "__main__":
    main()
