"""How much of a need the e5 query encoder reads: dev-set quality against query encoding time.

    python benchmarks/query_length.py [--cuts 256,192,160,128]

For each cut (characters of the need's text given to e5; the lexical channels and USE always read all of it):
nDCG@10 / Recall@10 / MRR of the engine's fusion over the four default channels on the shared dev needs, and
p50 / p95 of encoding the 20 dev needs' queries with e5 (what a cold request pays). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from need_achievement import load_dev_set  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cuts", default="256,192,160,128")
    args = ap.parse_args()
    from api.config import load_settings
    from matcher.embedders.e5_small import MAX_QUERY_CHARS, E5SmallEmbedder
    from matcher.engine import MatchEngine

    sr, qrels, achs, _, needs = load_dev_set()
    engine = MatchEngine(None, load_settings())
    engine.index_achievements(achs, rebuild=True)
    index = engine.achievements
    ids = index.doc_ids
    e5 = getattr(engine.embedder, "inner", engine.embedder)
    assert isinstance(e5, E5SmallEmbedder), "this benchmark is about the e5-small query encoder"
    print(f"e5 query length, dev set ({len(needs)} needs; channels {', '.join(engine.channel_names)}; "
          f"engine default {MAX_QUERY_CHARS} characters)\n")
    print("| e5 query characters | nDCG@10 | Recall@10 | MRR | e5 encoding p50 (ms) | e5 encoding p95 (ms) |")
    print("|---|---|---|---|---|---|")
    for cut in [int(c) for c in args.cuts.split(",")]:
        e5.max_query_chars = cut
        for ch in index.dense:  # query vectors of the previous cut forgotten
            ch.queries.clear()
        times = []
        for need in needs:
            t = time.perf_counter()
            e5.embed_queries([need.text])
            times.append(time.perf_counter() - t)
        run = {}
        for need in needs:
            fused = index.query(need.text, engine.fusion_for).fused
            order = np.argsort(-fused, kind="stable")[:100]
            run[need.id] = [(ids[i], float(fused[i])) for i in order]
        r = sr.score(run, qrels)
        print(f"| {cut} | {r['ndcg@10']:.4f} | {r['recall@10']:.4f} | {r['mrr']:.4f} | "
              f"{1000 * np.median(times):.0f} | {1000 * np.percentile(times, 95):.0f} |")


if __name__ == "__main__":
    main()
