"""How long the bureau's views take on the demo graph (what a page or a command waits for).

    python benchmarks/bureau_views.py              # 5 repeats
    python benchmarks/bureau_views.py --repeats 3

Starts a throwaway embedded graph, loads the demo data and the plan, then times each view. Baseline: one
``count_by_label`` round trip over every label (the floor any graph-backed view pays). The matcher's verdict
row builds a lexical-only MatchEngine (no dense encoder) once and asks it about every need. Medians, in a
markdown table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.config import load_settings  # noqa: E402
from bureau.charts import render_chain_map_svg, render_segments_svg, render_targets_svg  # noqa: E402
from bureau.export import bureau_tables, export_report  # noqa: E402
from bureau.gapmap import build_gap_map, engine_need_is_unmet  # noqa: E402
from bureau.targets import target_progress  # noqa: E402
from bureau.topics import curate_topics  # noqa: E402
from graph.demo import load_demo  # noqa: E402
from graph.server import EmbeddedGraphServer  # noqa: E402
from graph.store import connect  # noqa: E402
from ingest.policy import load_policy  # noqa: E402

SHARED = Path(os.environ.get("TECHMATCH_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))


def median_s(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    settings = load_settings()
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedGraphServer(Path(tmp), database="bench", heap_mb=768)
        info = server.start()
        store = connect(info.uri, info.user, info.password, info.database)
        try:
            store.setup_schema()
            load_demo(store)
            load_policy(store, SHARED / "docs" / "policy-pingdingshan-2021-19.txt")
            counts = store.count_by_label()
            gap_map = build_gap_map(store)
            progress = target_progress(store, 2024)
            rows: list[tuple[str, float]] = [
                ("baseline: count_by_label", median_s(store.count_by_label, args.repeats)),
                ("target_progress (12 targets)", median_s(lambda: target_progress(store, 2024), args.repeats)),
                ("build_gap_map, graph verdict", median_s(lambda: build_gap_map(store), args.repeats)),
                ("curate_topics (+ lexical solver ranking)", median_s(lambda: curate_topics(store, gap_map,
                                                                                             data_dir=settings.data_dir),
                                                                     args.repeats)),
                ("render_chain_map_svg", median_s(lambda: render_chain_map_svg(gap_map), args.repeats)),
                ("render_targets_svg", median_s(lambda: render_targets_svg(progress), args.repeats)),
                ("render_segments_svg", median_s(lambda: render_segments_svg(gap_map), args.repeats)),
                ("export xlsx (no topics)", median_s(
                    lambda: export_report(bureau_tables(progress, gap_map), "xlsx", Path(tmp) / "r.xlsx"),
                    args.repeats)),
            ]
            from matcher.engine import MatchEngine

            start = time.perf_counter()
            engine = MatchEngine.from_store(store, settings, embedder=None)
            build_gap_map(store, engine_need_is_unmet(engine, k=1, explain=False))
            rows.append(("build_gap_map, matcher verdict (lexical engine, once)", time.perf_counter() - start))
        finally:
            store.close()
            server.stop()
    print(f"demo graph: {counts.get('Need', 0)} needs, {counts.get('ChainSegment', 0)} segments, "
          f"{sum(counts.values())} nodes; median of {args.repeats}\n")
    print("| view | seconds |\n|---|---|")
    for name, secs in rows:
        print(f"| {name} | {secs:.3f} |")


if __name__ == "__main__":
    main()
