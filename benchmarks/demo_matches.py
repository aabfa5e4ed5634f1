"""Does the match engine find, in the demo graph, the achievements each demo need was written for?

    python benchmarks/demo_matches.py                # lexical-only baseline and the default engine (e5-small + USE)
    python benchmarks/demo_matches.py --only-lexical

A sanity check of the demo data and the engine together, not a quality benchmark (the demo is small and written by
hand; the real evaluation is the zhibei qrels). Labels: ``evaluation.demo_labels.INTENDED_MATCHES`` (32 needs) and
``evaluation.demo_labels.GAP_NEEDS`` (6 needs with no good supply). Prints a markdown table: hit@1, hit@3 and MRR
over the intended needs (weak matches included), the share of gap needs the engine reports as gaps, and the share of
intended needs it wrongly reports as gaps. The baseline row is the same engine without dense embeddings, in this
process.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.config import ApiSettings, load_settings  # noqa: E402
from evaluation.demo_labels import GAP_NEEDS, INTENDED_MATCHES  # noqa: E402
from graph.demo import load_demo  # noqa: E402
from graph.server import EmbeddedGraphServer  # noqa: E402
from graph.store import GraphStore, connect  # noqa: E402
from matcher.engine import MatchEngine  # noqa: E402


def evaluate(store: GraphStore, settings: ApiSettings, embedder: str) -> dict[str, float]:
    start = time.perf_counter()
    engine = MatchEngine.from_store(store, settings=settings.model_copy(update={"embedder": embedder}))
    hits1 = hits3 = rr = 0.0
    false_gaps = 0
    for need, wanted in INTENDED_MATCHES.items():
        ranked = [m.candidate_id for m in engine.match_need(need, k=20, include_weak=True).matches]
        rank = next((i for i, c in enumerate(ranked, start=1) if c in wanted), None)
        hits1 += rank == 1
        hits3 += rank is not None and rank <= 3
        rr += 1 / rank if rank else 0.0
        false_gaps += engine.match_need(need, k=5).is_gap
    gaps = sum(engine.match_need(need, k=5).is_gap for need in GAP_NEEDS)
    known = all(engine.match_need(need, k=5).gap_known for need in GAP_NEEDS)
    engine.close()  # releases the index writer: the next configuration computes its own dense rows
    n = len(INTENDED_MATCHES)
    return {
        "hit@1": hits1 / n, "hit@3": hits3 / n, "MRR": rr / n,
        "gaps found": gaps / len(GAP_NEEDS) if known else float("nan"), "false gaps": false_gaps / n,
        "seconds": time.perf_counter() - start,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only-lexical", action="store_true", help="skip the dense encoder")
    args = parser.parse_args()
    configs = [("baseline: lexical channels + graph features", "none")]
    if not args.only_lexical:
        configs.append(("default engine (e5-small + USE multilingual)", "e5-small"))
    with tempfile.TemporaryDirectory(prefix="tm-bench-match-") as tmp:
        settings = load_settings(data_dir=Path(tmp))
        server = EmbeddedGraphServer(Path(tmp) / "graph", database="bench", heap_mb=768)
        info = server.start()
        try:
            store = connect(info.uri, info.user, info.password, info.database)
            store.setup_schema()
            load_demo(store)
            rows = [(name, evaluate(store, settings, spec)) for name, spec in configs]
            store.close()
        finally:
            server.stop()
    cols = ["hit@1", "hit@3", "MRR", "gaps found", "false gaps", "seconds"]
    print(f"demo: {len(INTENDED_MATCHES)} needs with intended achievements, {len(GAP_NEEDS)} gap needs\n")
    print("| configuration | " + " | ".join(cols) + " |")
    print("|---|" + "---:|" * len(cols))
    for name, m in rows:
        print(f"| {name} | " + " | ".join(f"{m[c]:.2f}" for c in cols) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
