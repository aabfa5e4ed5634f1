"""Ingest throughput (rows/s) on real zhibei rows, against the real embedded graph server.

Loads the first N zhibei achievements (default 600) into an empty graph, three times each, and reports the
median rows/s of:
- ``store.upsert_nodes`` of already-built nodes (baseline: the graph write alone),
- the full loader without chain placement (read, validate, keywords, extraction, resolution, batch write),
- the full loader with keyword-only placement,
- the full loader with the trained placer (model trained once beforehand, not timed),
plus a reload of the same file (every row unchanged).

Run: ``python benchmarks/ingest_throughput.py [N]`` (prints a markdown table; about 2-3 minutes).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from graph.server import EmbeddedGraphServer  # noqa: E402
from graph.store import GraphStore, connect  # noqa: E402
from ingest.classify import ChainPlacer, IndustryModel, shared_dir, zhibei_examples  # noqa: E402
from ingest.loader import Loader, ensure_taxonomy  # noqa: E402
from ingest.zhibei import achievement_from_record  # noqa: E402

REPEATS = 3


def timed(store: GraphStore, work: Callable[[], object]) -> float:
    store.clear()
    ensure_taxonomy(store)
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 600
    source = shared_dir() / "data" / "zhibei" / "achievements_dedup.jsonl"
    lines = source.read_text(encoding="utf-8").splitlines()[:n]
    texts, fine, _ = zhibei_examples()
    model = IndustryModel.train(texts, fine)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "achievements.jsonl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        nodes = [achievement_from_record(json.loads(x)) for x in lines]
        server = EmbeddedGraphServer(Path(tmp) / "graph", database="bench", heap_mb=768)
        info = server.start()
        store = connect(info.uri, info.user, info.password, info.database)
        try:
            store.setup_schema()
            configs: list[tuple[str, Callable[[], object]]] = [
                ("store.upsert_nodes only (baseline)", lambda: store.upsert_nodes(nodes, batch_size=500)),
                ("loader, no placement", lambda: Loader(store, progress=False, rejects_dir=tmp).load(path)),
                ("loader, keyword placement",
                 lambda: Loader(store, placer=ChainPlacer(model=None), progress=False, rejects_dir=tmp).load(path)),
                ("loader, model + keyword placement",
                 lambda: Loader(store, placer=ChainPlacer(model=model), progress=False, rejects_dir=tmp).load(path)),
            ]
            results = []
            for name, work in configs:
                runs = [timed(store, work) for _ in range(REPEATS)]
                results.append((name, statistics.median(runs)))
            # a reload: the graph already holds the file
            loader_work = configs[3][1]
            reload_runs = []
            for _ in range(REPEATS):
                started = time.perf_counter()
                report = loader_work()
                reload_runs.append(time.perf_counter() - started)
            unchanged = getattr(report, "unchanged", 0)
            results.append((f"reload of the same file ({unchanged} unchanged)", statistics.median(reload_runs)))
        finally:
            store.close()
            server.stop()
    print(f"## Ingest throughput ({n} zhibei achievements, median of {REPEATS})\n")
    print("| configuration | seconds | rows/s |")
    print("|---|---|---|")
    for name, seconds in results:
        print(f"| {name} | {seconds:.2f} | {n / seconds:.0f} |")


if __name__ == "__main__":
    main()
